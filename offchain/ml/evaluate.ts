import { loadCheckpoint } from "./checkpoint";
import { DEFAULT_MODEL_LIMITS, Gpt2Config, ModelLimits } from "./config";
import { Dataset, DEFAULT_DATASET_LIMITS, DatasetLimits, readDataset, requireTokens, tokenizeDataset } from "./data";
import { MlError, throwIfAborted } from "./errors";
import { forward, paramsFromWeights, tokenNll } from "./gpt2-tf";
import { ProgressFn } from "./progress";
import { GenerateOptions, loadServed, onnxLogits } from "./serve";
import { ensureWasmBackend, tf } from "./tf-backend";
import { Gpt2Tokenizer } from "./tokenizer";
import { normalizeDevice } from "./device";
import { evaluateInGraph } from "./webgpu-eval";

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
  if (!Number.isSafeInteger(ctx) || ctx < 2 || ctx > c.n_positions) {
    throw new MlError("PARAMS_INVALID", `contextLength must be an integer in [2, ${c.n_positions}], got ${ctx}`);
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

/** Σ −log softmax(row)[target] in float64 over rows [from, to) of logits [t, V]. */
function nllSum(
  logits: Float32Array,
  vocab: number,
  tokens: number[],
  begin: number,
  from: number,
  to: number,
): number {
  let sum = 0;
  for (let pos = from; pos < to; pos++) {
    const off = pos * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) if (logits[off + v] > max) max = logits[off + v];
    let z = 0;
    for (let v = 0; v < vocab; v++) z += Math.exp(logits[off + v] - max);
    sum += max + Math.log(z) - logits[off + tokens[begin + pos + 1]];
  }
  return sum;
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

/** Loss, perplexity and token count of a model on datasets, from the ONNX path (transformers.js + onnxruntime). */
export async function evaluate(modelDir: string, opts: EvalOptions & GenerateOptions): Promise<EvalResult> {
  // On a GPU the loss is computed in the graph (webgpu-eval.ts): the logits never leave the device.
  if (normalizeDevice(opts.device) === "webgpu") return evaluateInGraph(modelDir, { ...opts, device: "webgpu" });
  const served = await loadServed(modelDir, { ...opts, limits: opts.modelLimits ?? opts.limits });
  const c = served.config;
  const { ctx, stride } = resolveEvalParams(c, opts);
  const { datasets, tokens } = loadEvalTokens(
    opts.datasets,
    served.tokenizer,
    ctx,
    opts.datasetLimits ?? DEFAULT_DATASET_LIMITS,
  );
  const windows = planWindows(tokens.length, ctx, stride);
  const started = Date.now();
  let sum = 0;
  let count = 0;
  for (let i = 0; i < windows.length; i++) {
    throwIfAborted(opts.signal);
    const w = windows[i];
    const len = w.end - w.begin;
    const logits = await onnxLogits(served, [tokens.slice(w.begin, w.end)]);
    sum += nllSum(logits, c.vocab_size, tokens, w.begin, len - w.trg, len);
    count += w.trg;
    opts.onProgress?.({ step: i + 1, totalSteps: windows.length, phase: "evaluate" });
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
