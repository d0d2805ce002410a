import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
  canonicalTensors,
  checkTokenizerFits,
  checkpointSideFiles,
  configHash as configHashOfDir,
  readConfig,
  readTokenizerJson,
  weightsRootOfFile,
} from "./checkpoint";
import { runJobArgs } from "./external-executor";
import { Gpt2Config, innerSize, ModelLimits } from "./config";
import { DatasetLimits } from "./data";
import { loadEvalTokens, planWindows, resolveEvalParams } from "./evaluate";
import { MlError } from "./errors";
import {
  evalParamsSchema,
  ExecJob,
  ExecMetrics,
  ExecResult,
  Executor,
  ExternalExecutor,
  inferParamsSchema,
  inputDigests,
  JobFile,
  loadCheckpointConfigOnly,
  parseParams,
  openJob,
  readPrompts,
  RUNTIME_VERSION,
  seedU32,
  trainParamsSchema,
  writeResult,
} from "./executor";
import { canonicalJson, sha256Hex0x } from "./hash";
import { parseSafetensors } from "./safetensors";
import { checkGenerateParams, encodePrompts } from "./serve";
import { Gpt2Tokenizer, TokenizerJson } from "./tokenizer";
import { prepareTrainData, resolveTrainParams, windowStarts } from "./train";

/**
 * The PyTorch executor: the same jobs as the builtin runtime, computed by PyTorch (offchain/ml/pytorch/run.py).
 * This side does everything but the tensor work, with the builtin's own code: it validates the job, reads and
 * tokenizes the inputs, hands the token ids and a plan to Python, decodes the generated ids and writes result.json
 * in the builtin's layout. The child's weights root is this side's `weightsRoot` of the folder Python wrote.
 */

/** Changes whenever what run.py computes changes (a verifier must match it; how the plan hands it the model does not count). */
export const TORCH_EXECUTOR_VERSION = "posthuman-torch-1";

/** run.py beside this file (offchain/ml/pytorch/run.py), unless POSTHUMAN_TORCH_SCRIPT says where it is. */
export function torchScript(): string {
  return process.env.POSTHUMAN_TORCH_SCRIPT ?? path.join(__dirname, "pytorch", "run.py");
}

export interface TorchSettings {
  /** A probe already made (probeTorch) of the Python to use: skips probing again. */
  probe?: TorchProbe;
  /** The Python with torch and numpy; default $POSTHUMAN_TORCH_PYTHON, else the first of python3, /usr/bin/python3 that has torch. */
  python?: string;
  /** "auto" (default): CUDA when torch sees a GPU, else the CPU. */
  device?: "auto" | "cpu" | "cuda";
  /** Training precision on CUDA: bf16 autocast with float32 master weights (default), or fp32. The CPU trains in fp32. */
  precision?: "bf16" | "fp32";
  /** Evaluation and generation precision on CUDA (default fp32, the builtin's). */
  inferencePrecision?: "bf16" | "fp32";
  /** CPU threads of torch (default 1). */
  threads?: number;
  /** torch.use_deterministic_algorithms and a fixed cuBLAS workspace (default true). */
  deterministic?: boolean;
  /** Evaluation windows run together (default 8). */
  evalBatch?: number;
  /**
   * Processes to train with, data parallel (default 1): one per GPU on CUDA, gloo processes on the CPU.
   * Evaluation and generation use one.
   */
  gpus?: number;
  /** Steps between the host syncs that report progress (default: 25 on CUDA, 1 on the CPU). */
  progressEvery?: number;
  /**
   * Greedy tokens generated between two reads of them (default: 8 on CUDA, so the GPU runs ahead of Python; 1 on
   * the CPU). Tokens computed past an end of text are dropped: the output is the same whatever the value.
   */
  greedySync?: number;
  timeoutSec?: number;
  maxMemoryBytes?: number;
  modelLimits?: ModelLimits;
  datasetLimits?: DatasetLimits;
  maxPrompts?: number;
  /**
   * Run run.py in this process's group rather than a group of its own: for this executor run in a child process
   * (torchProcessExecutor), whose group the caller kills as a whole (time, memory, abort).
   */
  sameProcessGroup?: boolean;
}

export interface TorchProbe {
  python: string;
  pythonVersion: string;
  torch: string;
  numpy: string;
  cuda: string | null;
  cudnn: number | null;
  gpu: string | null;
  gpuCount: number;
  sdpa: boolean;
}

const INSTALL_HINT =
  "install PyTorch for it (Debian/Ubuntu: apt-get install python3-torch; elsewhere: pip install torch numpy), " +
  "or name a Python that has it with POSTHUMAN_TORCH_PYTHON (worker: executor.python)";

function probeOne(python: string): TorchProbe | string {
  const r = spawnSync(python, [torchScript(), "probe"], { encoding: "utf8", timeout: 120_000 });
  if (r.error)
    return `${python}: ${(r.error as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : r.error.message}`;
  if (r.status !== 0) {
    const why = /No module named '?(\w+)/.exec(r.stderr ?? "");
    return `${python}: ${why ? `has no ${why[1]}` : `probe failed (${(r.stderr ?? "").trim().split("\n").slice(-1)[0]})`}`;
  }
  try {
    const p = JSON.parse(r.stdout.trim().split("\n").slice(-1)[0]) as Omit<TorchProbe, "python" | "pythonVersion"> & {
      python: string;
    };
    return { ...p, pythonVersion: p.python, python };
  } catch {
    return `${python}: unreadable probe output ${JSON.stringify(r.stdout.slice(0, 200))}`;
  }
}

/** Finds a Python with torch, or throws naming every Python tried and how to install torch. */
export function probeTorch(python?: string): TorchProbe {
  const candidates = python
    ? [python]
    : process.env.POSTHUMAN_TORCH_PYTHON
      ? [process.env.POSTHUMAN_TORCH_PYTHON]
      : ["python3", "/usr/bin/python3"];
  const failures: string[] = [];
  for (const c of candidates) {
    const p = probeOne(c);
    if (typeof p !== "string") return p;
    failures.push(p);
  }
  throw new MlError(
    "DEVICE_UNAVAILABLE",
    `the PyTorch executor needs a Python with torch and numpy: ${failures.join("; ")}. ${INSTALL_HINT}`,
  );
}

export interface Resolved {
  device: "cpu" | "cuda";
  precision: "bf16" | "fp32";
  inferencePrecision: "bf16" | "fp32";
  threads: number;
  deterministic: boolean;
  evalBatch: number;
  gpus: number;
}

export function resolveSettings(s: TorchSettings, p: TorchProbe): Resolved {
  const want = s.device ?? "auto";
  if (want === "cuda" && p.gpuCount === 0)
    throw new MlError("DEVICE_UNAVAILABLE", `device cuda: torch ${p.torch} in ${p.python} sees no GPU`);
  const device = want === "cpu" || p.gpuCount === 0 ? "cpu" : "cuda";
  const gpus = s.gpus ?? 1;
  if (!Number.isSafeInteger(gpus) || gpus < 1) throw new MlError("PARAMS_INVALID", `gpus must be ≥ 1, got ${gpus}`);
  if (gpus > 1 && device === "cuda" && gpus > p.gpuCount)
    throw new MlError("DEVICE_UNAVAILABLE", `gpus ${gpus}: torch sees only ${p.gpuCount} GPU(s)`);
  const threads = s.threads ?? 1;
  if (!Number.isSafeInteger(threads) || threads < 1 || threads > 256)
    throw new MlError("PARAMS_INVALID", `threads must be a positive integer, got ${threads}`);
  return {
    device,
    precision: device === "cuda" ? (s.precision ?? "bf16") : "fp32",
    inferencePrecision: device === "cuda" ? (s.inferencePrecision ?? "fp32") : "fp32",
    threads,
    deterministic: s.deterministic ?? true,
    evalBatch: s.evalBatch ?? 8,
    gpus,
  };
}

/** The runtime id of the PyTorch executor: what a verifier must match (same torch, CUDA, GPU model, precision). */
export function torchRuntimeId(p: TorchProbe, r: Resolved): string {
  return sha256Hex0x(
    canonicalJson({
      executor: "pytorch",
      runtime: RUNTIME_VERSION,
      protocol: TORCH_EXECUTOR_VERSION,
      versions: {
        torch: p.torch,
        numpy: p.numpy,
        python: p.pythonVersion.split(".").slice(0, 2).join("."),
        cuda: r.device === "cuda" ? p.cuda : null,
        cudnn: r.device === "cuda" ? p.cudnn : null,
      },
      settings: { ...r, gpu: r.device === "cuda" ? p.gpu : null },
    }),
  );
}

/** Where run.py finds each weight in model.safetensors: dtype, shape and absolute byte range, by canonical name. */
type TensorTable = Record<string, { dtype: string; shape: number[]; begin: number; end: number }>;

/**
 * Reads a model folder once: config, tokenizer, weights root; the same refusals as the builtin's loadCheckpoint.
 * run.py gets the validated config and the tensor table in its plan and parses neither config.json nor the
 * safetensors header itself: a reader of its own could read what this one accepted otherwise (an `n_layer` of 1.0,
 * a null `eos_token_id`, offsets written 4096e0), or fail on it after the job was claimed.
 */
function inspectModel(dir: string, limits: ModelLimits): ModelInfo {
  loadCheckpointConfigOnly(dir, limits);
  const config = readConfig(dir, limits);
  const st = path.join(dir, "model.safetensors");
  if (!fs.existsSync(st)) throw new MlError("MODEL_INVALID", `${dir} has no model.safetensors`);
  const bytes = fs.readFileSync(st);
  const file = parseSafetensors(bytes, st);
  const root = weightsRootOfFile(file, config, st);
  const tensors: TensorTable = {};
  for (const [name, t] of canonicalTensors(file, config, st)) {
    if (!["F32", "F16", "BF16", "F64"].includes(t.dtype))
      throw new MlError("MODEL_INVALID", `${name} has dtype ${t.dtype}, expected a float type`);
    const begin = t.data.byteOffset - bytes.byteOffset;
    tensors[name] = { dtype: t.dtype, shape: t.shape, begin, end: begin + t.data.byteLength };
  }
  const tokenizerJson = readTokenizerJson(dir);
  const tokenizer = new Gpt2Tokenizer(tokenizerJson);
  checkTokenizerFits(config, tokenizer, dir);
  return { config, tokenizer, tokenizerJson, root, tensors };
}

interface ModelInfo {
  config: Gpt2Config;
  tokenizer: Gpt2Tokenizer;
  tokenizerJson: TokenizerJson;
  root: string;
  tensors: TensorTable;
}

function writeTokens(work: string, ids: number[]): void {
  fs.writeFileSync(path.join(work, "tokens.bin"), Buffer.from(Int32Array.from(ids).buffer));
}

type Finish = (raw: Record<string, unknown>, r: ExecResult) => { result: Record<string, unknown>; m: ExecMetrics };

interface PrepContext {
  jf: JobFile;
  files: Array<{ name: string; file: string }>;
  m: ModelInfo;
  base: Record<string, unknown>;
  work: string;
  plan: Record<string, unknown>;
  datasetLimits: DatasetLimits;
  maxPrompts: number;
}

/** Training: the builtin's parameter resolution and data preparation; Python gets the token stream and the plan. */
function prepareTrain({ jf, files, m, base, work, plan, datasetLimits }: PrepContext): Finish {
  const p = parseParams(trainParamsSchema, jf.params, "train");
  const pre = resolveTrainParams({ ...p, steps: p.steps ?? 0 }, m.config);
  const data = prepareTrainData(
    files.map((f) => f.file),
    m.tokenizer,
    pre.contextLength,
    pre.validationFraction,
    datasetLimits,
  );
  const r = resolveTrainParams(p, m.config, windowStarts(data.trainTokens.length, pre.contextLength).length);
  writeTokens(work, data.tokens);
  plan.train = { ...r, seed: String(jf.seed), trainTokens: data.trainTokens.length };
  plan.files = checkpointSideFiles(m.config, { tokenizerJson: m.tokenizerJson });
  plan.provenance = {
    createdBy: "posthuman-ml",
    parentWeightsRoot: m.root,
    datasets: data.datasets.map((d) => d.sha256),
    seed: String(jf.seed),
  };
  return (raw, res) => {
    const metrics: ExecMetrics = {
      trainLossBefore: figure(raw.trainLossBefore),
      trainLossAfter: figure(raw.trainLossAfter),
      valLossBefore: figure(raw.valLossBefore),
      valLossAfter: figure(raw.valLossAfter),
    };
    const result = {
      ...base,
      inputs: inputDigests(files),
      params: p,
      metrics,
      child: { weightsRoot: res.child?.weightsRoot, configHash: res.child?.configHash },
      lossCurve: raw.lossCurve,
      stepsPlanned: raw.stepsPlanned,
      stepsDone: raw.stepsDone,
      stoppedBy: raw.stoppedBy,
      trainTokens: data.trainTokens.length,
      valTokens: data.valTokens.length,
      tokensPerStep: r.batchSize * r.contextLength,
    };
    return { result, m: metrics };
  };
}

/** Inference: prompts encoded here, generated ids decoded here (the builtin's tokenizer both ways). */
function prepareInfer({ jf, files, m, base, plan, datasetLimits, maxPrompts }: PrepContext): Finish {
  const p = parseParams(inferParamsSchema, jf.params, "infer");
  const prompts = readPrompts(files, datasetLimits, maxPrompts);
  const g = checkGenerateParams(m.config, { ...p, seed: seedU32(jf.seed) });
  const ids = encodePrompts(m.tokenizer, m.config, prompts, g.maxNew);
  plan.infer = {
    prompts: ids,
    maxNewTokens: g.maxNew,
    temperature: g.temperature,
    topK: g.topK,
    topP: g.topP,
    seed: g.seed,
  };
  return (raw) => {
    const gens = raw.generations as Array<{ tokens: number[]; finishReason: string }>;
    const metrics: ExecMetrics = { generatedTokens: raw.generatedTokens as number };
    const generations = gens.map((x, i) => ({
      prompt: prompts[i],
      text: m.tokenizer.decode(x.tokens),
      tokens: x.tokens,
      finishReason: x.finishReason,
    }));
    return { result: { ...base, inputs: inputDigests(files), params: p, metrics, generations }, m: metrics };
  };
}

/** A figure Python wrote: null for one that overflowed (run.py finite_or_none), which is ∞, never 0. */
const figure = (x: unknown): number => (x === null ? Infinity : (x as number));

/** Evaluation: the builtin's window plan; Python sums the scored tokens' losses in float64. */
function prepareEvaluate({ jf, files, m, base, work, plan, datasetLimits }: PrepContext): Finish {
  const p = parseParams(evalParamsSchema, jf.params, "evaluate");
  const { ctx, stride } = resolveEvalParams(m.config, p);
  const { tokens } = loadEvalTokens(
    files.map((f) => f.file),
    m.tokenizer,
    ctx,
    datasetLimits,
  );
  const windows = planWindows(tokens.length, ctx, stride);
  writeTokens(work, tokens);
  plan.evaluate = { windows: windows.map((w) => [w.begin, w.end, w.trg]) };
  return (raw) => {
    const loss = figure(raw.sum) / (raw.count as number);
    const metrics: ExecMetrics = { evalLoss: loss, perplexity: Math.exp(loss), tokenCount: raw.count as number };
    const result = {
      ...base,
      inputs: inputDigests(files),
      params: { ...p, contextLength: ctx, stride },
      metrics,
      windows: windows.length,
    };
    return { result, m: metrics };
  };
}

export interface TorchExecResult extends ExecResult {
  /** Wall-clock figures from run.py (tokens/s of the loop itself): not part of any hash. */
  timing: Record<string, unknown>;
}

export class TorchExecutor implements Executor {
  readonly id = "pytorch";
  readonly runtimeId: string;
  readonly probe: TorchProbe;
  readonly resolved: Resolved;

  /** Probes the Python (a second or two): throws DEVICE_UNAVAILABLE naming what is missing. */
  constructor(private readonly settings: TorchSettings = {}) {
    this.probe = settings.probe ?? probeTorch(settings.python);
    this.resolved = resolveSettings(settings, this.probe);
    this.runtimeId = torchRuntimeId(this.probe, this.resolved);
  }

  /** What the runtime id is made of, for logs and for `job verify` when ids differ. */
  describe(): string {
    const p = this.probe;
    const r = this.resolved;
    const where = r.device === "cuda" ? `CUDA ${p.cuda}, cuDNN ${p.cudnn}, ${p.gpu}` : `CPU, ${r.threads} thread(s)`;
    return `pytorch: torch ${p.torch} (${p.python}), ${where}, ${r.precision} training${r.gpus > 1 ? ` on ${r.gpus} ${r.device === "cuda" ? "GPUs" : "processes"}` : ""}`;
  }

  async run(job: ExecJob): Promise<TorchExecResult> {
    const s = this.settings;
    const { jf, modelDir, files, modelLimits, datasetLimits } = openJob(job, s);
    const m = inspectModel(modelDir, modelLimits);
    const base = {
      kind: jf.kind,
      runtimeId: this.runtimeId,
      model: { weightsRoot: m.root, configHash: await configHashOfDir(modelDir) },
      seed: jf.seed,
    };
    const work = path.join(job.jobDir, ".torch");
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    const plan: Record<string, unknown> = {
      kind: jf.kind,
      modelDir,
      config: { ...m.config, n_inner: innerSize(m.config) },
      tensors: m.tensors,
      settings: { ...this.resolved, progressEvery: s.progressEvery, greedySync: s.greedySync },
    };
    try {
      const c: PrepContext = { jf, files, m, base, work, plan, datasetLimits, maxPrompts: s.maxPrompts ?? 1024 };
      const finish = jf.kind === "train" ? prepareTrain(c) : jf.kind === "infer" ? prepareInfer(c) : prepareEvaluate(c);
      fs.writeFileSync(path.join(work, "plan.json"), JSON.stringify(plan));
      const ext = this.process(jf.kind === "train");
      const r = await ext.run(job);
      const raw = JSON.parse(fs.readFileSync(r.resultPath, "utf8")) as Record<string, unknown>;
      const { result, m: metrics } = finish(raw, r);
      const written = writeResult(job.jobDir, result);
      let timing: Record<string, unknown> = {};
      try {
        timing = JSON.parse(fs.readFileSync(path.join(work, "timing.json"), "utf8")) as Record<string, unknown>;
      } catch {
        // no timing: nothing hashed depends on it
      }
      return { ...written, metrics, child: r.child, runtimeId: this.runtimeId, timing };
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }

  /** run.py as an external program (its own process group, killed on timeout, memory limit or abort). */
  private process(train: boolean): ExternalExecutor {
    const r = this.resolved;
    const s = this.settings;
    // Several GPUs: run.py starts the ranks itself (as torchrun --standalone would; Debian's torch 1.13 torchrun
    // fails on Python 3.11), each with RANK/WORLD_SIZE/MASTER_PORT set.
    const args = train && r.gpus > 1 ? [torchScript(), "--nproc", String(r.gpus)] : [torchScript()];
    return new ExternalExecutor({
      id: this.id,
      command: this.probe.python,
      args,
      env: {
        CUBLAS_WORKSPACE_CONFIG: ":4096:8",
        OMP_NUM_THREADS: String(r.threads),
        PYTHONUNBUFFERED: "1",
        PYTHONDONTWRITEBYTECODE: "1",
      },
      timeoutSec: s.timeoutSec,
      maxMemoryBytes: s.maxMemoryBytes,
      runtimeId: this.runtimeId,
      ownProcessGroup: !s.sameProcessGroup,
    });
  }
}

/**
 * The PyTorch executor in a child process (`node run-job.ts <jobDir>` with POSTHUMAN_ML_EXECUTOR=pytorch): reading,
 * validating and tokenizing the inputs, run.py and result.json all happen there, under the job's time and memory
 * limits and its abort, so that none of it holds the caller's event loop (a worker's API, chain watching and
 * deadlines: a 64 MiB dataset takes tens of seconds to tokenize). Probes the Python here, now (a host without torch
 * fails at start-up, naming what is missing), and hands the probe and settings to the child. Same runtime id and
 * result.json as TorchExecutor.
 */
export function torchProcessExecutor(settings: TorchSettings = {}): ExternalExecutor {
  const probe = settings.probe ?? probeTorch(settings.python);
  const runtimeId = torchRuntimeId(probe, resolveSettings(settings, probe));
  const { timeoutSec, maxMemoryBytes, ...rest } = settings;
  return new ExternalExecutor({
    id: "pytorch",
    command: process.execPath,
    args: runJobArgs(),
    env: { POSTHUMAN_ML_EXECUTOR: "pytorch", POSTHUMAN_TORCH_SETTINGS: encodeTorchSettings({ ...rest, probe }) },
    timeoutSec,
    maxMemoryBytes,
    runtimeId,
    childFromResult: true,
  });
}

/** Settings as JSON for a child process (limits may be Infinity, which JSON has not). */
export function encodeTorchSettings(s: TorchSettings): string {
  return JSON.stringify(s, (_k, v: unknown) => (v === Infinity ? "Infinity" : v));
}

/** The settings encodeTorchSettings wrote, for this executor in the child process (its kill is its group's). */
export function decodeTorchSettings(json: string): TorchSettings {
  const s = JSON.parse(json, (_k, v: unknown) => (v === "Infinity" ? Infinity : v)) as TorchSettings;
  return { ...s, sameProcessGroup: true };
}
