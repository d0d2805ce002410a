import { checkEndOfText, loadCheckpoint, readConfig } from "./checkpoint";
import { DEFAULT_MODEL_LIMITS, Gpt2Config, ModelLimits } from "./config";
import { RUNTIME_BOUNDS } from "./train-bounds";
import { Dataset, DEFAULT_DATASET_LIMITS, DatasetLimits, readDataset, requireTokens, tokenizeDataset } from "./data";
import { MlError, throwIfAborted } from "./errors";
import { forward, paramsFromWeights, tokenNll } from "./gpt2-tf";
import { ProgressFn } from "./progress";
import * as ort from "onnxruntime-node";
import { cachedTokenizer, checkThreads, GenerateOptions, prepareServingDir } from "./serve";
import { ensureWasmBackend, tf } from "./tf-backend";
import { Gpt2Tokenizer } from "./tokenizer";
import { normalizeDevice, requireDevice } from "./device";
import { evaluateInGraph, lossGraphFile } from "./webgpu-eval";
import { ortSession } from "./ort-session";

/**
 * Evaluation with a sliding window (Hugging Face's perplexity recipe): windows of `contextLength`
 * tokens start every `stride` tokens; each scores only the targets the previous window did not, so
 * every token after the first is predicted once, with up to contextLength − stride tokens of context.
 */

export interface EvalParams {
  /** Window length; defaults to the model's n_positions. */
  contextLength?: number;
  /** Step between windows; defaults to half the window. */
  stride?: number;
}

export interface EvalWindow {
  begin: number;
  end: number;
  /** Labels scored in this window: the last `trg` (tokens end − trg + 1 … end). */
  trg: number;
}

export interface EvalResult {
  loss: number;
  perplexity: number;
  /** Tokens predicted and scored (dataset tokens − 1). */
  tokenCount: number;
  datasetTokens: number;
  windows: number;
  contextLength: number;
  stride: number;
  /** Tokens run through the model (windows overlap). */
  processedTokens: number;
  datasetSha256: string[];
  timing: { elapsedSec: number; tokensPerSec: number };
}

/**
 * Windows over the token stream: window inputs are tokens [begin, end) (at most ctx of them) and its
 * labels tokens begin+1 … end; it scores its last `trg` labels, those no earlier window scored.
 * Every token after the first is scored exactly once, whatever the stride.
 */
export function planWindows(n: number, ctx: number, stride: number): EvalWindow[] {
  const out: EvalWindow[] = [];
  let prevEnd = 0;
  for (let begin = 0; prevEnd < n - 1; begin += stride) {
    const end = Math.min(begin + ctx, n - 1);
    if (end > prevEnd) out.push({ begin, end, trg: end - prevEnd });
    prevEnd = end;
  }
  return out;
}

export interface EvalOptions extends EvalParams {
  datasets: string[];
  datasetLimits?: DatasetLimits;
  modelLimits?: ModelLimits;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

export function resolveEvalParams(c: Gpt2Config, p: EvalParams): { ctx: number; stride: number } {
  const ctx = p.contextLength ?? c.n_positions;
  const least = RUNTIME_BOUNDS.minContext;
  if (!Number.isSafeInteger(ctx) || ctx < least || ctx > c.n_positions) {
    throw new MlError("PARAMS_INVALID", `contextLength must be an integer in [${least}, ${c.n_positions}], got ${ctx}`);
  }
  const stride = p.stride ?? Math.max(1, Math.floor(ctx / 2));
  if (!Number.isSafeInteger(stride) || stride < 1 || stride > ctx) {
    throw new MlError("PARAMS_INVALID", `stride must be an integer in [1, ${ctx}], got ${stride}`);
  }
  return { ctx, stride };
}

export function loadEvalTokens(
  files: string[],
  tok: Gpt2Tokenizer,
  ctx: number,
  limits: DatasetLimits,
): { datasets: Dataset[]; tokens: number[] } {
  if (files.length === 0) throw new MlError("DATASET_NOT_FOUND", "evaluation needs at least one dataset file");
  const datasets = files.map((f) => readDataset(f, limits));
  const tokens: number[] = [];
  for (const ds of datasets) for (const id of tokenizeDataset(ds, tok)) tokens.push(id);
  const label = datasets.length === 1 ? datasets[0] : { ...datasets[0], file: files.join(", ") };
  requireTokens(label, tokens.length, ctx + 1, `evaluation with context ${ctx}`);
  return { datasets, tokens };
}

function finish(
  sum: number,
  count: number,
  n: number,
  windows: EvalWindow[],
  ctx: number,
  stride: number,
  datasets: Dataset[],
  started: number,
): EvalResult {
  const loss = sum / count;
  const elapsed = (Date.now() - started) / 1000;
  return {
    loss,
    perplexity: Math.exp(loss),
    tokenCount: count,
    datasetTokens: n,
    windows: windows.length,
    contextLength: ctx,
    stride,
    processedTokens: windows.reduce((a, w) => a + (w.end - w.begin), 0),
    datasetSha256: datasets.map((d) => d.sha256),
    timing: { elapsedSec: elapsed, tokensPerSec: count / Math.max(elapsed, 1e-9) },
  };
}

/** Windows evaluated in one onnxruntime run: at most this many, with at most EVAL_MAX_LOGITS scored rows × chunk. */
const EVAL_MAX_BATCH = 16;
const EVAL_MAX_LOGITS = 16 * 2 ** 20;
/** Vocabulary columns per chunk of the loss head (part of the computation: the runtime version fixes it). */
export const EVAL_VOCAB_CHUNK = 8192;

/**
 * Σ nll of a group of windows of `len` tokens each, in one run of the loss graph: the forward over every
 * position, the head on the scored positions only, and the per-token loss (webgpu-loss-graph.ts, `rows`).
 */
async function groupNll(session: ort.InferenceSession, tokens: number[], group: EvalWindow[], len: number) {
  const b = group.length;
  const n = group.reduce((a, w) => a + w.trg, 0);
  const ids = new BigInt64Array(b * len);
  const pos = new BigInt64Array(b * len);
  const rows = new BigInt64Array(n);
  const labels = new BigInt64Array(n);
  let r = 0;
  group.forEach((w, k) => {
    for (let t = 0; t < len; t++) {
      ids[k * len + t] = BigInt(tokens[w.begin + t]);
      pos[k * len + t] = BigInt(t);
    }
    for (let t = len - w.trg; t < len; t++, r++) {
      rows[r] = BigInt(k * len + t);
      labels[r] = BigInt(tokens[w.begin + t + 1]);
    }
  });
  const out = await session.run({
    input_ids: new ort.Tensor("int64", ids, [b, len]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(b * len).fill(1n), [b, len]),
    position_ids: new ort.Tensor("int64", pos, [b, len]),
    rows: new ort.Tensor("int64", rows, [n]),
    labels: new ort.Tensor("int64", labels, [n]),
  });
  const nll = out.nll.data as Float32Array;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += nll[i];
  return { sum, count: n };
}

/** Loss, perplexity and token count of a model on datasets, from the ONNX path (onnxruntime, the serving graph). */
export async function evaluate(modelDir: string, opts: EvalOptions & GenerateOptions): Promise<EvalResult> {
  // On a GPU the loss is computed in the graph (webgpu-eval.ts): the logits never leave the device.
  if (normalizeDevice(opts.device) === "webgpu") return evaluateInGraph(modelDir, { ...opts, device: "webgpu" });
  const device = requireDevice(opts.device) === "cuda" ? "cuda" : "cpu";
  const threads = checkThreads(opts.threads);
  const limits = opts.modelLimits ?? opts.limits;
  const c = readConfig(modelDir, limits);
  const { ctx, stride } = resolveEvalParams(c, opts);
  const { dir } = await prepareServingDir(modelDir, { ...opts, limits });
  const tokenizer = await cachedTokenizer(dir);
  checkEndOfText(c, tokenizer, modelDir);
  const { datasets, tokens } = loadEvalTokens(
    opts.datasets,
    tokenizer,
    ctx,
    opts.datasetLimits ?? DEFAULT_DATASET_LIMITS,
  );
  const session = await ortSession(lossGraphFile(dir, c, { chunk: EVAL_VOCAB_CHUNK, rows: true }), device, threads);
  const windows = planWindows(tokens.length, ctx, stride);
  const started = Date.now();
  let sum = 0;
  let count = 0;
  for (let i = 0; i < windows.length;) {
    throwIfAborted(opts.signal);
    // Windows of one length run as one batch (a fixed plan: the same job batches the same way).
    const len = windows[i].end - windows[i].begin;
    let j = i;
    let rows = 0;
    while (
      j < windows.length &&
      j - i < EVAL_MAX_BATCH &&
      windows[j].end - windows[j].begin === len &&
      (j === i || (rows + windows[j].trg) * EVAL_VOCAB_CHUNK <= EVAL_MAX_LOGITS)
    )
      rows += windows[j++].trg;
    const g = await groupNll(session, tokens, windows.slice(i, j), len);
    sum += g.sum;
    count += g.count;
    i = j;
    opts.onProgress?.({ step: i, totalSteps: windows.length, phase: "evaluate" });
  }
  return finish(sum, count, tokens.length, windows, ctx, stride, datasets, started);
}

/** The same evaluation in the training graph (TensorFlow.js), for parity checks. */
export async function evaluateTf(modelDir: string, opts: EvalOptions): Promise<EvalResult> {
  const ck = loadCheckpoint(modelDir, { limits: opts.modelLimits ?? DEFAULT_MODEL_LIMITS });
  const c = ck.config;
  const { ctx, stride } = resolveEvalParams(c, opts);
  const { datasets, tokens } = loadEvalTokens(
    opts.datasets,
    ck.tokenizer,
    ctx,
    opts.datasetLimits ?? DEFAULT_DATASET_LIMITS,
  );
  const windows = planWindows(tokens.length, ctx, stride);
  await ensureWasmBackend();
  const started = Date.now();
  const params = paramsFromWeights(c, ck.weights, false) as Map<string, tf.Tensor>;
  let sum = 0;
  let count = 0;
  try {
    for (const w of windows) {
      throwIfAborted(opts.signal);
      const len = w.end - w.begin;
      const nll = tf.tidy(() => {
        const x = tf.tensor2d([tokens.slice(w.begin, w.end)], [1, len], "int32");
        const y = tf.tensor1d(tokens.slice(w.begin + 1, w.end + 1), "int32");
        return tokenNll(forward(c, params, x), y).dataSync() as Float32Array;
      });
      for (let p = len - w.trg; p < len; p++) sum += nll[p];
      count += w.trg;
    }
  } finally {
    for (const t of params.values()) t.dispose();
  }
  return finish(sum, count, tokens.length, windows, ctx, stride, datasets, started);
}

export { finish as finishEval };
