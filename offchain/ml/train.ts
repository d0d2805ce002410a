import * as path from "path";
import { configHashOf, DEFAULT_MODEL_LIMITS, DEFAULT_THREADS, forwardFlops, Gpt2Config, ModelLimits } from "./config";
import { loadCheckpoint, readTokenizerJson, saveCheckpoint, tensorSpecs, Weights, weightsRoot } from "./checkpoint";
import { Dataset, DEFAULT_DATASET_LIMITS, DatasetLimits, readDataset, requireTokens, tokenizeDataset } from "./data";
import { MlError, throwIfAborted } from "./errors";
import { ProgressFn } from "./progress";
import { Rng } from "./rng";
import { OrtTrainer } from "./train-ort";
import { normalizeDevice, requireDevice, type Device } from "./device";
import { Gpt2Tokenizer } from "./tokenizer";
import { RUNTIME_BOUNDS, trainBoundsProblem } from "./train-bounds";

export interface TrainParams {
  /** Optimizer steps; or give `epochs` (passes over the training windows). */
  steps?: number;
  epochs?: number;
  lr: number;
  batchSize: number;
  /** Tokens a window; defaults to the model's n_positions. */
  contextLength?: number;
  /** Linear warmup steps (default: 10% of the steps). Then cosine decay to 10% of lr. */
  warmupSteps?: number;
  /** Decoupled (AdamW) weight decay on matrices and embeddings; default 0.01. */
  weightDecay?: number;
  /** Fraction of the token stream (its tail) kept for validation; default 0.1. */
  validationFraction?: number;
  /** Wall-clock budget; training stops at the first step boundary past it (see docs: not deterministic). */
  timeBudgetSec?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Global gradient-norm clip; default 1.0, 0 disables. */
  gradClip?: number;
  /** Windows used for the before/after losses (train and validation); default 16. */
  evalWindows?: number;
}

export interface TrainOptions extends TrainParams {
  modelDir: string;
  outDir: string;
  /** Dataset files (text or JSONL), concatenated in order. */
  datasets: string[];
  seed: number | string;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  datasetLimits?: DatasetLimits;
  modelLimits?: ModelLimits;
  /** onnxruntime intra-op threads (default DEFAULT_THREADS); results are reproducible for a fixed count. */
  threads?: number;
  /**
   * "webgpu" (or "gpu") runs the same step graph on onnxruntime's bundled WebGPU provider; otherwise its CPU
   * kernels. The WebGPU path has not yet run on a GPU (docs/ml.md, "WebGPU").
   */
  device?: Device | "gpu";
}

export interface TrainResult {
  outDir: string;
  weightsRoot: string;
  configHash: string;
  parentWeightsRoot: string;
  stepsPlanned: number;
  stepsDone: number;
  stoppedBy: "steps" | "time";
  lossCurve: number[];
  lrCurve: number[];
  trainLossBefore: number;
  trainLossAfter: number;
  valLossBefore: number;
  valLossAfter: number;
  trainTokens: number;
  valTokens: number;
  tokensPerStep: number;
  datasetSha256: string[];
  /** Wall-clock figures: not part of any hash. */
  timing: { elapsedSec: number; tokensPerSec: number; flopsPerStep: number };
}

export interface ResolvedTrainParams {
  steps: number;
  lr: number;
  batchSize: number;
  contextLength: number;
  warmupSteps: number;
  weightDecay: number;
  validationFraction: number;
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number;
  evalWindows: number;
  timeBudgetSec: number | null;
}

function num(v: unknown, name: string, ok: (x: number) => boolean): number {
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) {
    throw new MlError("PARAMS_INVALID", `train parameter ${name} is invalid: ${JSON.stringify(v)}`);
  }
  return v;
}

const isInt = (x: number): boolean => Number.isSafeInteger(x);

/** Validates the parameters and fills in the defaults (steps come later when `epochs` is given). */
export function resolveTrainParams(p: TrainParams, c: Gpt2Config, windowsPerEpoch?: number): ResolvedTrainParams {
  const { maxBatch, minContext, maxSteps } = RUNTIME_BOUNDS;
  const batchSize = num(p.batchSize, "batchSize", (x) => isInt(x) && x >= 1 && x <= maxBatch);
  const contextLength = num(
    p.contextLength ?? c.n_positions,
    "contextLength",
    (x) => isInt(x) && x >= minContext && x <= c.n_positions,
  );
  let steps: number;
  if (p.steps !== undefined) steps = num(p.steps, "steps", (x) => isInt(x) && x >= 0 && x <= maxSteps);
  else if (p.epochs !== undefined) {
    const epochs = num(p.epochs, "epochs", (x) => x > 0 && x <= 10_000);
    steps = Math.ceil((epochs * (windowsPerEpoch ?? 1)) / batchSize);
  } else throw new MlError("PARAMS_INVALID", "train needs steps or epochs");
  const warmupSteps = num(p.warmupSteps ?? Math.floor(steps / 10), "warmupSteps", (x) => isInt(x) && x >= 0);
  const lr = num(p.lr, "lr", (x) => x > 0 && x < 10);
  const weightDecay = num(p.weightDecay ?? 0.01, "weightDecay", (x) => x >= 0 && x < 10);
  const bounds = trainBoundsProblem(lr, weightDecay);
  if (bounds) throw new MlError("PARAMS_INVALID", `train parameters: ${bounds}`);
  return {
    steps,
    lr,
    batchSize,
    contextLength,
    warmupSteps,
    weightDecay,
    validationFraction: num(p.validationFraction ?? 0.1, "validationFraction", (x) => x > 0 && x < 1),
    beta1: num(p.beta1 ?? 0.9, "beta1", (x) => x >= 0 && x < 1),
    beta2: num(p.beta2 ?? 0.999, "beta2", (x) => x >= 0 && x < 1),
    eps: num(p.eps ?? 1e-8, "eps", (x) => x > 0),
    gradClip: num(p.gradClip ?? 1.0, "gradClip", (x) => x >= 0),
    evalWindows: num(p.evalWindows ?? 16, "evalWindows", (x) => isInt(x) && x >= 1),
    timeBudgetSec: p.timeBudgetSec === undefined ? null : num(p.timeBudgetSec, "timeBudgetSec", (x) => x > 0),
  };
}

/** Learning rate at step s (0-based): linear warmup, then cosine decay to 10% of lr at the last step. */
export function lrAt(s: number, r: ResolvedTrainParams): number {
  if (r.warmupSteps > 0 && s < r.warmupSteps) return (r.lr * (s + 1)) / r.warmupSteps;
  const decaySteps = Math.max(1, r.steps - r.warmupSteps);
  const progress = Math.min(1, (s - r.warmupSteps) / decaySteps);
  return r.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/**
 * One AdamW step (decoupled weight decay on tensors of rank ≥ 2), tensor by tensor in model order, on the
 * float32 weights and moments in place (the training graph reads the same buffers at the next step).
 * Deterministic: a fixed order of IEEE operations.
 */
function adamwStep(
  c: Gpt2Config,
  grads: Map<string, Float32Array>,
  weights: Weights,
  m: Map<string, Float32Array>,
  v: Map<string, Float32Array>,
  o: { lr: number; step: number; factor: number; beta1: number; beta2: number; eps: number; weightDecay: number },
): void {
  const bc1 = 1 - Math.pow(o.beta1, o.step);
  const bc2 = 1 - Math.pow(o.beta2, o.step);
  const b1 = o.beta1;
  const b2 = o.beta2;
  for (const [name, shape] of tensorSpecs(c)) {
    const g = grads.get(name) as Float32Array;
    const w = weights.get(name) as Float32Array;
    const mm = m.get(name) as Float32Array;
    const vv = v.get(name) as Float32Array;
    const decay = shape.length >= 2 ? 1 - o.lr * o.weightDecay : 1;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i] * o.factor;
      const mi = (mm[i] = b1 * mm[i] + (1 - b1) * gi);
      const vi = (vv[i] = b2 * vv[i] + (1 - b2) * gi * gi);
      w[i] = w[i] * decay - (o.lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + o.eps);
    }
  }
}

/** Window starts with stride `ctx` over [0, len): each window holds ctx + 1 tokens. */
export function windowStarts(len: number, ctx: number): number[] {
  const out: number[] = [];
  for (let s = 0; s + ctx + 1 <= len; s += ctx) out.push(s);
  return out;
}

/** Mean next-token loss over windows (no gradient). */
async function meanLoss(
  trainer: OrtTrainer,
  tokens: number[],
  starts: number[],
  ctx: number,
  batch: number,
): Promise<number> {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < starts.length; i += batch) {
    const group = starts.slice(i, i + batch);
    const { x, y } = makeBatch(tokens, group, ctx);
    sum += await trainer.nllSum(x, y);
    count += group.length * ctx;
  }
  return sum / count;
}

function makeBatch(tokens: number[], starts: number[], ctx: number): { x: Int32Array; y: Int32Array } {
  const x = new Int32Array(starts.length * ctx);
  const y = new Int32Array(starts.length * ctx);
  starts.forEach((s, b) => {
    for (let t = 0; t < ctx; t++) {
      x[b * ctx + t] = tokens[s + t];
      y[b * ctx + t] = tokens[s + t + 1];
    }
  });
  return { x, y };
}

export interface PreparedData {
  datasets: Dataset[];
  tokens: number[];
  trainTokens: number[];
  valTokens: number[];
}

/** Reads, tokenizes and splits the datasets; a stream too short for one train and one validation window is refused. */
export function prepareTrainData(
  files: string[],
  tok: Gpt2Tokenizer,
  ctx: number,
  validationFraction: number,
  limits: DatasetLimits,
): PreparedData {
  if (files.length === 0) throw new MlError("DATASET_NOT_FOUND", "train needs at least one dataset file");
  const datasets = files.map((f) => readDataset(f, limits));
  const tokens: number[] = [];
  for (const ds of datasets) for (const id of tokenizeDataset(ds, tok)) tokens.push(id);
  const window = ctx + 1;
  const valLen = Math.max(window, Math.ceil(tokens.length * validationFraction));
  const label: Dataset = datasets.length === 1 ? datasets[0] : { ...datasets[0], file: files.join(", ") };
  requireTokens(
    label,
    tokens.length,
    valLen + window,
    `training with context ${ctx} and validation fraction ${validationFraction}`,
  );
  const trainLen = tokens.length - valLen;
  return { datasets, tokens, trainTokens: tokens.slice(0, trainLen), valTokens: tokens.slice(trainLen) };
}

/** Finetunes (or trains) a checkpoint folder into a new one. Deterministic for the same inputs and seed. */
export async function trainModel(opts: TrainOptions): Promise<TrainResult> {
  const onProgress = opts.onProgress ?? (() => undefined);
  onProgress({ step: 0, totalSteps: 0, phase: "load" });
  const ck = loadCheckpoint(opts.modelDir, { limits: opts.modelLimits ?? DEFAULT_MODEL_LIMITS });
  const c = ck.config;
  const parentRoot = await weightsRoot(opts.modelDir);
  const pre = resolveTrainParams({ ...opts, steps: opts.steps ?? 0 }, c);
  onProgress({ step: 0, totalSteps: 0, phase: "tokenize" });
  const data = prepareTrainData(
    opts.datasets,
    ck.tokenizer,
    pre.contextLength,
    pre.validationFraction,
    opts.datasetLimits ?? DEFAULT_DATASET_LIMITS,
  );
  const ctx = pre.contextLength;
  const trainStarts = windowStarts(data.trainTokens.length, ctx);
  const r = resolveTrainParams(opts, c, trainStarts.length);
  const valStarts = windowStarts(data.valTokens.length, ctx).slice(0, r.evalWindows);
  const trainEvalStarts = trainStarts.slice(0, r.evalWindows);
  throwIfAborted(opts.signal);

  const threads = opts.threads ?? DEFAULT_THREADS;
  if (!Number.isSafeInteger(threads) || threads < 1 || threads > 256)
    throw new MlError("PARAMS_INVALID", `threads must be a positive integer, got ${threads}`);
  // The weights and AdamW moments are float32 buffers in JS: the training graph reads the weights in
  // place (no copy per step), and AdamW updates them between steps in a fixed order.
  const weights = ck.weights;
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, w] of weights) {
    m.set(name, new Float32Array(w.length));
    v.set(name, new Float32Array(w.length));
  }
  const provider = normalizeDevice(opts.device) === "webgpu" ? "webgpu" : "cpu";
  if (provider === "webgpu") requireDevice("webgpu");
  const trainer = await OrtTrainer.create(c, weights, r.batchSize, ctx, threads, provider);
  const started = Date.now();
  try {
    onProgress({ step: 0, totalSteps: r.steps, phase: "validate" });
    const valLossBefore = await meanLoss(trainer, data.valTokens, valStarts, ctx, r.batchSize);
    const trainLossBefore = await meanLoss(trainer, data.trainTokens, trainEvalStarts, ctx, r.batchSize);

    const lossCurve: number[] = [];
    const lrCurve: number[] = [];
    let order: number[] = [];
    let epoch = 0;
    let cursor = 0;
    const nextStarts = (): number[] => {
      const out: number[] = [];
      while (out.length < r.batchSize) {
        if (cursor >= order.length) {
          order = new Rng(opts.seed, `epoch:${epoch}`).shuffle(trainStarts.slice());
          epoch++;
          cursor = 0;
        }
        out.push(order[cursor++]);
      }
      return out;
    };
    const tokensPerStep = r.batchSize * ctx;
    const trainStart = Date.now();
    let stoppedBy: "steps" | "time" = "steps";
    for (let step = 0; step < r.steps; step++) {
      throwIfAborted(opts.signal);
      if (r.timeBudgetSec !== null && (Date.now() - started) / 1000 >= r.timeBudgetSec) {
        stoppedBy = "time";
        break;
      }
      const lr = lrAt(step, r);
      const { x, y } = makeBatch(data.trainTokens, nextStarts(), ctx);
      const { loss, sumsq, grads } = await trainer.step(x, y);
      const factor = r.gradClip > 0 ? Math.min(1, r.gradClip / (Math.sqrt(sumsq) + 1e-6)) : 1;
      adamwStep(c, grads, weights, m, v, { ...r, lr, step: step + 1, factor });
      if (!Number.isFinite(loss))
        throw new MlError("PARAMS_INVALID", `training diverged at step ${step + 1} (loss ${loss}); lower lr`);
      lossCurve.push(loss);
      lrCurve.push(lr);
      const elapsed = (Date.now() - trainStart) / 1000;
      const done = step + 1;
      const tps = (done * tokensPerStep) / Math.max(elapsed, 1e-9);
      let eta = ((r.steps - done) * elapsed) / done;
      if (r.timeBudgetSec !== null) eta = Math.min(eta, Math.max(0, r.timeBudgetSec - (Date.now() - started) / 1000));
      onProgress({ step: done, totalSteps: r.steps, loss, tokensPerSec: tps, etaSec: eta, phase: "train" });
      // Let the event loop breathe (progress delivery, abort signals) between steps.
      await new Promise<void>((res) => setImmediate(res));
    }
    const trainElapsed = (Date.now() - trainStart) / 1000;
    onProgress({ step: lossCurve.length, totalSteps: r.steps, phase: "validate" });
    const valLossAfter = await meanLoss(trainer, data.valTokens, valStarts, ctx, r.batchSize);
    const trainLossAfter = await meanLoss(trainer, data.trainTokens, trainEvalStarts, ctx, r.batchSize);
    await trainer.release();
    onProgress({ step: lossCurve.length, totalSteps: r.steps, phase: "save" });
    const outDir = path.resolve(opts.outDir);
    saveCheckpoint(outDir, c, weights, {
      // The parent's tokenizer: the chain gives a child its parent's tokenizer hash, and config.json's end of text
      // must stay the tokenizer's.
      tokenizerJson: readTokenizerJson(opts.modelDir),
      provenance: {
        createdBy: "posthuman-ml",
        parentWeightsRoot: parentRoot,
        datasets: data.datasets.map((d) => d.sha256),
        seed: String(opts.seed),
        steps: lossCurve.length,
      },
    });
    const root = await weightsRoot(outDir);
    onProgress({ step: lossCurve.length, totalSteps: r.steps, phase: "done" });
    return {
      outDir,
      weightsRoot: root,
      configHash: configHashOf(c),
      parentWeightsRoot: parentRoot,
      stepsPlanned: r.steps,
      stepsDone: lossCurve.length,
      stoppedBy,
      lossCurve,
      lrCurve,
      trainLossBefore,
      trainLossAfter,
      valLossBefore,
      valLossAfter,
      trainTokens: data.trainTokens.length,
      valTokens: data.valTokens.length,
      tokensPerStep,
      datasetSha256: data.datasets.map((d) => d.sha256),
      timing: {
        elapsedSec: trainElapsed,
        tokensPerSec: lossCurve.length > 0 ? (lossCurve.length * tokensPerStep) / Math.max(trainElapsed, 1e-9) : 0,
        flopsPerStep: 3 * forwardFlops(c, tokensPerStep, ctx),
      },
    };
  } finally {
    await trainer.release();
  }
}
