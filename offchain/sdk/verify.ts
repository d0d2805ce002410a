/**
 * Verification of a receipt by re-execution. The runtimes are deterministic (the builtin one for a fixed device and
 * thread count, PyTorch in its deterministic mode), so re-running a job with the runtime its receipt names, on the
 * same weights, input, params and seed, must give the same output hash (and, for training, the same child weights
 * root) as the receipt on chain.
 *
 * What a verifier needs:
 * - the job's input: the requester has it (the SDK keeps a copy of every input it uploads in its LocalStore);
 * - the served model's folder: weights never leave workers, so this is the publisher's copy of a root model, or a
 *   derived model rebuilt by verifying the training job that produced it, recursively. M1's folder and the datasets
 *   of the finetunes are enough to verify a whole lineage M1 → M2 → M3 and every job run on it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  builtinProcessExecutor,
  builtinSettingsOf,
  deviceStatus,
  weightsRoot,
  writeJobDir,
  type Executor,
} from "../ml";
import { TorchExecutor } from "../ml/torch-executor";
import { EXECUTOR_KIND_OF, jobFolder, jobSeed } from "../protocol/job-spec";
import { sha256Hex } from "../protocol/auth";
import type { PostHuman } from "./client";
import { SdkError } from "./errors";
import type { LocalStore } from "./store";

export interface Check {
  name: string;
  expected: string;
  actual: string;
  ok: boolean;
}

export interface Verdict {
  jobId: bigint;
  kind: "Train" | "Infer" | "Evaluate";
  modelId: bigint;
  verified: boolean;
  checks: Check[];
  /** Training jobs: the re-built child model's folder (kept in the store, so jobs on the child can be verified). */
  childDir?: string;
  /** Verifications run first to rebuild the served model from its ancestors (nearest last). */
  rebuilt: Verdict[];
  seconds: number;
}

export interface VerifyOptions {
  /** The job's input; default: the copy in the store (by the on-chain input hash). */
  input?: Uint8Array;
  /** The served model's folder; default: the store's copy (by weights root), else rebuilt when `rebuild`. */
  modelDir?: string;
  store?: LocalStore;
  /** Rebuild a derived model missing here by verifying its training job first (default true). */
  rebuild?: boolean;
  /**
   * Default: the runtime the receipt names, when this machine has it (the builtin runtime in a child process, or the
   * PyTorch executor); else the builtin, with a step saying what is missing (the runtime id check then fails).
   */
  executor?: Executor;
  /** Also copy a training job's re-built child here. */
  childOut?: string;
  workDir?: string;
  onStep?: (line: string) => void;
}

export async function verifyJob(client: PostHuman, jobId: bigint, o: VerifyOptions = {}): Promise<Verdict> {
  const started = Date.now();
  const store = o.store ?? client.store;
  const receipt = await client.jobs.receipt(jobId);
  const req = await client.jobs.requested(jobId);
  if (!receipt)
    throw new SdkError(
      "NO_RECEIPT",
      `Job ${jobId} has no receipt to verify yet.`,
      `follow it with: posthuman job show ${jobId}`,
    );
  const input = o.input ?? store?.input(req.inputHash);
  if (!input)
    throw new SdkError(
      "INPUT_MISSING",
      `The input of job ${jobId} (sha256 ${req.inputHash}) is not on this machine.`,
      "give the job's input (VerifyOptions.input): its requester has it (the SDK keeps a copy of what it uploads)",
    );

  const rebuilt: Verdict[] = [];
  let modelDir = o.modelDir ?? store?.model(receipt.servedWeightsRoot);
  if (!modelDir && o.rebuild !== false) {
    const model = await client.registry.get(req.modelId);
    if (model.jobId > 0n) {
      o.onStep?.(`model ${model.id} is not here: rebuilding it by verifying its training job ${model.jobId}`);
      const sub = await verifyJob(client, model.jobId, {
        ...o,
        input: undefined,
        modelDir: undefined,
        childOut: undefined,
        store,
      });
      rebuilt.push(...sub.rebuilt, { ...sub, rebuilt: [] });
      if (!sub.verified)
        return {
          jobId,
          kind: req.kind,
          modelId: req.modelId,
          verified: false,
          checks: [
            {
              name: `training job ${model.jobId} of model ${model.id}`,
              expected: "verified",
              actual: "mismatch",
              ok: false,
            },
          ],
          rebuilt,
          seconds: (Date.now() - started) / 1000,
        };
      modelDir = sub.childDir;
    }
  }
  if (!modelDir)
    throw new SdkError(
      "MODEL_FOLDER_MISSING",
      `The weights of model ${req.modelId} (root ${receipt.servedWeightsRoot}) are not on this machine.`,
      "give the model's folder (VerifyOptions.modelDir): weights never leave workers, so only the publisher (or whoever verified the training " +
        "job that made it) has them",
    );

  const checks: Check[] = [];
  const check = (name: string, expected: string, actual: string) =>
    checks.push({ name, expected, actual, ok: expected.toLowerCase() === actual.toLowerCase() });
  check("input hash", req.inputHash, sha256Hex(input));
  check("served weights root", receipt.servedWeightsRoot, await weightsRoot(modelDir));
  const seed = jobSeed(jobId, req.inputHash);
  check("seed", receipt.seed.toString(), String(seed));

  const kind = EXECUTOR_KIND_OF[req.kind];
  const jobDir = fs.mkdtempSync(path.join(o.workDir ?? os.tmpdir(), `ph-verify-${jobId}-`));
  try {
    writeJobDir(jobDir, jobFolder({ kind, params: req.params, seed, modelDir: path.resolve(modelDir), input }));
    o.onStep?.(`re-running job ${jobId} (${kind} on model ${req.modelId})`);
    const result = await (o.executor ?? verifierExecutor(receipt.runtimeId, o.onStep)).run({ kind, jobDir });
    check("runtime id", receipt.runtimeId, result.runtimeId);
    check("output hash", receipt.outputHash, result.outputHash);
    let childDir: string | undefined;
    if (kind === "train") {
      if (!result.child) throw new Error(`the re-run of training job ${jobId} made no child model`);
      check("child weights root", receipt.childWeightsRoot, result.child.weightsRoot);
      childDir = result.child.dir;
      if (store) childDir = store.modelPath(await store.saveModel(result.child.dir));
      if (o.childOut) {
        fs.rmSync(o.childOut, { recursive: true, force: true });
        fs.cpSync(result.child.dir, o.childOut, { recursive: true });
        if (!store) childDir = o.childOut;
      }
    }
    return {
      jobId,
      kind: req.kind,
      modelId: req.modelId,
      verified: checks.every((c) => c.ok),
      checks,
      childDir,
      rebuilt,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    fs.rmSync(jobDir, { recursive: true, force: true });
  }
}

let localTorch: TorchExecutor | string | undefined;

/**
 * The executor whose runtime id `runtimeId` is, among those this machine has: the builtin runtime with the device and
 * thread count the receipt's id names (a worker's `--device`, `--threads`), or the PyTorch executor. Else the builtin
 * on the CPU, saying what is missing.
 */
export function verifierExecutor(runtimeId: string, onStep?: (line: string) => void): Executor {
  const named = builtinSettingsOf(runtimeId);
  if (named) {
    const st = deviceStatus(named.device);
    if (st.available) return builtinProcessExecutor(named);
    onStep?.(
      `the receipt names the builtin runtime on ${named.device} (${named.threads} thread${named.threads === 1 ? "" : "s"}), which this machine cannot ` +
        `run: ${st.reason}. Re-running on the CPU: the runtime id and output hash will differ.`,
    );
    return builtinProcessExecutor({ device: "cpu", threads: named.threads });
  }
  const builtin = builtinProcessExecutor({ device: "cpu" });
  if (localTorch === undefined) {
    try {
      localTorch = new TorchExecutor();
    } catch (e) {
      localTorch = (e as Error).message;
    }
  }
  if (typeof localTorch !== "string" && localTorch.runtimeId.toLowerCase() === runtimeId.toLowerCase())
    return localTorch;
  const torch =
    typeof localTorch === "string"
      ? `no PyTorch executor (${localTorch})`
      : `the PyTorch executor ${localTorch.runtimeId} (${localTorch.describe()})`;
  onStep?.(
    `the receipt names runtime ${runtimeId}, which this machine does not have: it has the builtin runtime ` +
      `${builtin.runtimeId} (and the same on WebGPU, with other thread counts) and ${torch}. A PyTorch receipt ` +
      `reproduces only with the same torch, CUDA and cuDNN versions, GPU model and precision; a builtin one only ` +
      `with the same onnxruntime and transformers.js versions. Re-running with the builtin runtime: the runtime id ` +
      `and output hash will differ.`,
  );
  return builtin;
}
