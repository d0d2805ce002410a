/**
 * Verification of a receipt by re-execution: re-runs the job with the builtin runtime on the same model weights,
 * input, params and seed, and compares the output hash (and, for training, the child's weights root) with the
 * receipt. Whoever verifies needs the served model's folder (the publisher has it; a child model is rebuilt by
 * verifying the training job that produced it) and the job's input (the requester has it).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BuiltinExecutor, weightsRoot } from "../ml";
import { jobSeed, prepareJobDir } from "../worker/pipeline";
import { KIND_NAMES } from "../worker/jobs";
import { sha256Hex } from "../worker/auth";
import type { OnChainReceipt, PostHuman } from "./client";

export interface Verdict {
  jobId: bigint;
  verified: boolean;
  checks: { name: string; expected: string; actual: string; ok: boolean }[];
  /** For a training job: the re-built child model folder (kept, so that jobs on the child can be verified). */
  childDir?: string;
}

export async function verifyJob(
  client: PostHuman,
  jobId: bigint,
  o: { input: Uint8Array; modelDir: string; workDir?: string; childOut?: string },
): Promise<Verdict> {
  const receipt: OnChainReceipt | undefined = await client.receipt(jobId);
  if (!receipt) throw new Error(`Job ${jobId} has no receipt to verify yet.`);
  const req = await client.requestOf(jobId);
  const checks: Verdict["checks"] = [];
  const check = (name: string, expected: string, actual: string) =>
    checks.push({ name, expected, actual, ok: expected.toLowerCase() === actual.toLowerCase() });

  check("input hash", req.inputHash, sha256Hex(o.input));
  check("served weights root", receipt.servedWeightsRoot, await weightsRoot(o.modelDir));
  check("seed", receipt.seed.toString(), String(jobSeed(jobId, req.inputHash)));

  const jobDir = fs.mkdtempSync(path.join(o.workDir ?? os.tmpdir(), `ph-verify-${jobId}-`));
  const kind = KIND_NAMES[Number(req.kind)];
  prepareJobDir(jobDir, {
    kind,
    params: req.params,
    seed: Number(receipt.seed),
    modelDir: path.resolve(o.modelDir),
    input: o.input,
  });
  const result = await new BuiltinExecutor().run({ kind, jobDir });
  check("runtime id", receipt.runtimeId, result.runtimeId);
  check("output hash", receipt.outputHash, result.outputHash);
  let childDir: string | undefined;
  if (kind === "train" && result.child) {
    check("child weights root", receipt.childWeightsRoot, result.child.weightsRoot);
    childDir = result.child.dir;
    if (o.childOut) {
      fs.rmSync(o.childOut, { recursive: true, force: true });
      fs.cpSync(result.child.dir, o.childOut, { recursive: true });
      childDir = o.childOut;
    }
  }
  return { jobId, verified: checks.every((c) => c.ok), checks, childDir };
}
