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
  MlError,
  builtinProcessExecutor,
  builtinSettingsOf,
  deviceStatus,
  weightsRoot,
  writeJobDir,
  isMlError,
  type Executor,
} from "../ml";
import type { Progress } from "../ml/progress";
import { TorchExecutor } from "../ml/torch-executor";
import { EXECUTOR_KIND_OF, jobFolder, jobSeed } from "../protocol/job-spec";
import { sha256Hex } from "../protocol/auth";
import type { PostHuman } from "./client";
import { SdkError } from "./errors";
import type { OnChainReceipt } from "./job-market";
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
  /**
   * The job's input; default: the copy in the store (by the on-chain input hash). One whose hash is not the job's
   * input hash is refused before anything runs (INPUT_MISSING, with `data.givenHash`).
   */
  input?: Uint8Array;
  /** What to call `input` in messages (a file's name); default "the input given". */
  inputName?: string;
  /**
   * The served model's folder; default: the store's copy (by weights root), else rebuilt when `rebuild`. A folder
   * whose weights root is neither the receipt's served root nor the job's model's is refused before anything runs
   * (MODEL_FOLDER_MISSING, with `data.folderRoot`): its re-run would say nothing about the receipt.
   */
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
  const kept = store?.input(req.inputHash);
  if (o.input) checkInput(jobId, req.inputHash, o.input, o.inputName, kept);
  const input = o.input ?? kept;
  if (!input)
    throw new SdkError(
      "INPUT_MISSING",
      `The input of job ${jobId} (sha256 ${req.inputHash}) is not on this machine.`,
      "give the job's input (VerifyOptions.input): its requester has it (the SDK keeps a copy of what it uploads)",
    );
  if (o.modelDir) await checkModelFolder(client, jobId, req.modelId, receipt, o.modelDir, store);

  const rebuilt: Verdict[] = [];
  let modelDir = o.modelDir ?? store?.model(receipt.servedWeightsRoot);
  if (!modelDir && o.rebuild !== false) {
    const model = await client.registry.get(req.modelId);
    if (model.jobId > 0n) {
      o.onStep?.(`model ${model.id} is not here: rebuilding it by verifying its training job ${model.jobId}`);
      const sub = await verifyJob(client, model.jobId, {
        ...o,
        input: undefined,
        inputName: undefined,
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
    const executor = o.executor ?? verifierExecutor(receipt.runtimeId, o.onStep);
    const result = await executor
      .run({ kind, jobDir, onProgress: progressLines(jobId, o.onStep) })
      .catch((e: unknown) => {
        throw reRunError(e, jobId, jobDir, o.input ? (o.inputName ?? "the input given") : "the job's input");
      });
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

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/**
 * Refuses an input that is not the job's (its hash is not the job's on-chain input hash): re-running it would only
 * show the verifier's own mistake as the worker's. `kept`: the store's copy of the job's input, if any.
 */
function checkInput(jobId: bigint, inputHash: string, input: Uint8Array, name = "the input given", kept?: Uint8Array) {
  const givenHash = sha256Hex(input);
  if (same(givenHash, inputHash)) return;
  const what = input.length === 0 ? `${name} is empty: it` : name;
  throw new SdkError(
    "INPUT_MISSING",
    `${what} is not job ${jobId}'s input (its sha256 is ${givenHash}; the job's input, on chain, has ${inputHash}). ` +
      "Nothing was re-run.",
    kept
      ? "leave the input out: the copy of the job's input kept on this machine is the right one"
      : "give the job's input (VerifyOptions.input): the very file its requester uploaded (its requester has it; " +
          "the SDK keeps a copy of what it uploads)",
    { data: { jobId, inputHash, givenHash, bytes: input.length } },
  );
}

/**
 * Refuses a model folder that is not the job's model (its weights root is neither the receipt's served root nor the
 * registry's root of the job's model): the re-run would show the verifier's folder, not the worker, as wrong. A folder
 * that is the registry's model while the receipt names another root is re-run: that mismatch is the worker's.
 */
async function checkModelFolder(
  client: PostHuman,
  jobId: bigint,
  modelId: bigint,
  receipt: OnChainReceipt,
  dir: string,
  store?: LocalStore,
): Promise<void> {
  let folderRoot: string;
  try {
    folderRoot = await weightsRoot(dir);
  } catch (e) {
    throw new SdkError(
      "MODEL_FOLDER_MISSING",
      `${dir} is not a model folder (${(e as Error).message}). Nothing was re-run.`,
      `give model ${modelId}'s folder (VerifyOptions.modelDir): a folder with config.json and model.safetensors`,
      { data: { jobId, modelId, folder: dir }, cause: e },
    );
  }
  if (same(folderRoot, receipt.servedWeightsRoot)) return;
  const model = await client.registry.get(modelId);
  if (same(folderRoot, model.weightsRoot)) return;
  const other = await client.registry.contract.modelOfWeightsRoot(folderRoot).catch(() => 0n);
  const whose = other > 0n ? `it holds model ${other}'s weights` : "no model on this chain has these weights";
  const kept = store?.model(receipt.servedWeightsRoot);
  const where = kept
    ? `leave the folder out: a copy of model ${modelId} is kept on this machine, in ${kept}`
    : model.jobId > 0n
      ? `leave the folder out to rebuild model ${modelId} by verifying its training job ${model.jobId}, or give its ` +
        "folder (VerifyOptions.modelDir)"
      : `give model ${modelId}'s folder (VerifyOptions.modelDir): weights never leave workers, so its publisher has it`;
  throw new SdkError(
    "MODEL_FOLDER_MISSING",
    `${dir} is not the folder of model ${modelId}, the model job ${jobId} ran on: ${whose} (weights root ` +
      `${folderRoot}; model ${modelId}'s is ${model.weightsRoot}). Nothing was re-run: the receipt is not in question.`,
    where,
    { data: { jobId, modelId, folder: dir, folderRoot, weightsRoot: model.weightsRoot, folderModelId: other } },
  );
}

/**
 * An error of the re-run as its reader should see it: a runtime's error with its code said once (each process that
 * passed it on may have prefixed it again) and the re-run's temporary folder named for what it holds.
 */
function reRunError(e: unknown, jobId: bigint, jobDir: string, inputName: string): unknown {
  if (!isMlError(e)) return e;
  const prefix = /^[A-Z][A-Z0-9_]*: /;
  let detail = e.message;
  while (prefix.test(detail)) detail = detail.replace(prefix, "");
  const inputFile = new RegExp(`${escapeRegExp(path.join(jobDir, "inputs") + path.sep)}[^\\s:,;)]+`, "g");
  const named = (t: string) => t.replace(inputFile, inputName).split(jobDir).join("the re-run's folder");
  const details: Record<string, unknown> = { ...(e.details ?? {}), jobId, detail: named(detail) };
  if (typeof details.file === "string") details.file = named(details.file);
  return new MlError(e.code, `the re-run of job ${jobId} failed: ${named(detail)}`, details);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

let localTorch: TorchExecutor | string | undefined;

/** A re-run's progress as a step line now and then (a phase's start, then every 5 s), so a long one is not silent. */
function progressLines(jobId: bigint, onStep?: (line: string) => void): ((p: Progress) => void) | undefined {
  if (!onStep) return undefined;
  let phase = "";
  let at = 0;
  return (p) => {
    if (p.phase === phase && Date.now() - at < 5_000) return;
    [phase, at] = [p.phase, Date.now()];
    const loss = p.loss === undefined ? "" : `, loss ${p.loss.toFixed(3)}`;
    onStep(`  job ${jobId}: ${p.phase} ${p.step}/${p.totalSteps}${loss}`);
  };
}

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
