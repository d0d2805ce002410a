import * as fs from "fs";
import * as path from "path";
import * as ort from "onnxruntime-node";
import { checkEndOfText, readConfig } from "./checkpoint";
import { Gpt2Config } from "./config";
import { DEFAULT_DATASET_LIMITS } from "./data";
import { requireDevice } from "./device";
import { MlError, throwIfAborted } from "./errors";
import { EvalOptions, EvalResult, finishEval, loadEvalTokens, planWindows, resolveEvalParams } from "./evaluate";
import { cachedTokenizer, prepareServingDir, ServeOptions } from "./serve";
import { disposeOrtSessions, OrtProvider, ortSession } from "./ort-session";
import { derivedGraphFile } from "./onnx-export";
import { buildLossGraph, LOSS_GRAPH_VERSION, LossHeadOp } from "./webgpu-loss-graph";
import { buildFusedGraph, FUSED_FORWARD_GRAPH_VERSION } from "./webgpu-decode-graph";

/**
 * Evaluation on onnxruntime with the loss in the graph (webgpu-loss-graph.ts): windows of equal
 * length run in batches and only their per-token losses come back. `provider: "webgpu"` is the
 * `--device webgpu` path; "cpu" runs the very same graph on the CPU provider (CI has no GPU).
 */

export interface DeviceEvalOptions extends EvalOptions, ServeOptions {
  provider?: OrtProvider;
  /** Windows per forward pass (default 8 on WebGPU, 1 on the CPU). */
  batchSize?: number;
  /** Vocabulary columns per chunk of the loss head (default 8192). */
  vocabChunk?: number;
  /** How the head's chunks are computed (default MatMul on the transposed chunk). */
  headOp?: LossHeadOp;
  /** The forward under the loss (default the serving export's). */
  forward?: LossForward;
}

export const DEFAULT_VOCAB_CHUNK = 8192;

export { ortSession, ortSessionOptions } from "./ort-session";
export type { OrtProvider } from "./ort-session";

/** Releases the onnxruntime sessions of this process that ortSession opened (evaluation and decoding). */
export const disposeEvalSessions = disposeOrtSessions;

/** Which forward the loss graph is built on: the serving export's, or the fused one (webgpu-decode-graph.ts). */
export type LossForward = "serving" | "fused";

export interface LossGraphOptions {
  /** Vocabulary columns per chunk of the head (default DEFAULT_VOCAB_CHUNK). */
  chunk?: number;
  head?: LossHeadOp;
  /** The head on the scored rows only (an input `rows`). */
  rows?: boolean;
  forward?: LossForward;
}

/** The loss graph next to the serving export (written once per export, forward, chunk size, head op and rows). */
export function lossGraphFile(servingDir: string, c: Gpt2Config, o: LossGraphOptions = {}): string {
  const { chunk = DEFAULT_VOCAB_CHUNK, head = "matmul", rows = false, forward = "serving" } = o;
  const fused = forward === "fused" ? `-${FUSED_FORWARD_GRAPH_VERSION}` : "";
  const name = `loss-${LOSS_GRAPH_VERSION}${fused}-c${chunk}-${head}${rows ? "-rows" : ""}.onnx`;
  return derivedGraphFile(path.join(servingDir, "onnx", name), () => {
    const serving = fs.readFileSync(path.join(servingDir, "onnx", "model.onnx"));
    const graph = forward === "fused" ? buildFusedGraph(serving, c, "forward") : serving;
    return buildLossGraph(graph, c.vocab_size, chunk, head, rows);
  });
}

function int64(rows: number[][]): ort.Tensor {
  const b = rows.length;
  const t = rows[0].length;
  const data = new BigInt64Array(b * t);
  rows.forEach((r, i) => r.forEach((v, j) => (data[i * t + j] = BigInt(v))));
  return new ort.Tensor("int64", data, [b, t]);
}

/** Per-token losses [batch][seq] of windows of one length. */
export async function tokenLosses(
  session: ort.InferenceSession,
  inputs: number[][],
  labels: number[][],
): Promise<Float32Array> {
  const b = inputs.length;
  const t = inputs[0].length;
  const pos = Array.from({ length: b }, () => Array.from({ length: t }, (_, j) => j));
  const ones = Array.from({ length: b }, () => new Array<number>(t).fill(1));
  const out = await session.run({
    input_ids: int64(inputs),
    attention_mask: int64(ones),
    position_ids: int64(pos),
    labels: int64(labels),
  });
  return out.nll.data as Float32Array;
}

/** Sliding-window evaluation (same windows, tokens and result as evaluate()) with the loss computed in the graph. */
export async function evaluateInGraph(modelDir: string, opts: DeviceEvalOptions): Promise<EvalResult> {
  const provider = opts.provider ?? "webgpu";
  if (provider === "webgpu") requireDevice("webgpu");
  const limits = opts.modelLimits ?? opts.limits;
  const c = readConfig(modelDir, limits);
  const { ctx, stride } = resolveEvalParams(c, opts);
  const batch = opts.batchSize ?? (provider === "webgpu" ? 8 : 1);
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > 256)
    throw new MlError("PARAMS_INVALID", `batchSize must be an integer in [1, 256], got ${batch}`);
  const { dir } = await prepareServingDir(modelDir, { ...opts, limits });
  const tokenizer = await cachedTokenizer(dir);
  checkEndOfText(c, tokenizer, modelDir);
  const { datasets, tokens } = loadEvalTokens(
    opts.datasets,
    tokenizer,
    ctx,
    opts.datasetLimits ?? DEFAULT_DATASET_LIMITS,
  );
  const file = lossGraphFile(dir, c, { chunk: opts.vocabChunk, head: opts.headOp, forward: opts.forward });
  const session = await ortSession(file, provider, opts.threads ?? 1);
  const windows = planWindows(tokens.length, ctx, stride);
  const started = Date.now();
  let sum = 0;
  let count = 0;
  for (let i = 0; i < windows.length;) {
    throwIfAborted(opts.signal);
    const len = windows[i].end - windows[i].begin;
    const group = [];
    while (i < windows.length && group.length < batch && windows[i].end - windows[i].begin === len)
      group.push(windows[i++]);
    const nll = await tokenLosses(
      session,
      group.map((w) => tokens.slice(w.begin, w.end)),
      group.map((w) => tokens.slice(w.begin + 1, w.end + 1)),
    );
    group.forEach((w, r) => {
      for (let p = len - w.trg; p < len; p++) sum += nll[r * len + p];
      count += w.trg;
    });
    opts.onProgress?.({ step: i, totalSteps: windows.length, phase: "evaluate" });
  }
  return finishEval(sum, count, tokens.length, windows, ctx, stride, datasets, started);
}
