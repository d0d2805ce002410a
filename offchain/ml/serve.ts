import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AutoModelForCausalLM, env, LogitsProcessor, PreTrainedModel, random, Tensor } from "@huggingface/transformers";
import { checkEndOfText, readConfig, readTokenizerJson, weightsRoot } from "./checkpoint";
import { DEFAULT_MODEL_LIMITS, DEFAULT_THREADS, Gpt2Config, ModelLimits } from "./config";
import { Device, requireDevice } from "./device";
import { MlError, throwIfAborted } from "./errors";
import { sha256 } from "./hash";
import { decode, Session } from "./decode";
import { decodeGraphFile } from "./decode-graph";
import { webgpuDecodeGraphFile } from "./webgpu-decode-graph";
import { exportOnnx, ONNX_EXPORTER_VERSION } from "./onnx-export";
import { defaultCacheMaxBytes, markUsed, pruneServingCache } from "./serving-cache";
import { disposeOrtSessions, ortSession } from "./ort-session";
import { ProgressFn } from "./progress";
import { Gpt2Tokenizer } from "./tokenizer";
import { RUNTIME_BOUNDS } from "./train-bounds";
import { webgpuUnavailable } from "./webgpu-device";

/**
 * Serving: the checkpoint is exported once (deterministically) to ONNX with a KV cache, into a
 * content-addressed cache folder, and run by transformers.js on onnxruntime-node.
 */

export interface ServeOptions {
  device?: Device | "gpu";
  /** onnxruntime intra-op threads (default DEFAULT_THREADS = 2); results are reproducible for a fixed count. */
  threads?: number;
  /** Use (or write) the serving folder here instead of the cache. */
  servingDir?: string;
  /** Cache of exported serving folders; default $POSTHUMAN_ML_CACHE or <tmp>/posthuman-ml-cache. */
  cacheDir?: string;
  /** Bytes the cache may keep (least recently used exports go first); default $POSTHUMAN_ML_CACHE_MAX or 20 GiB. */
  cacheMaxBytes?: number;
  limits?: ModelLimits;
}

export interface ServedModel {
  model: PreTrainedModel;
  config: Gpt2Config;
  tokenizer: Gpt2Tokenizer;
  servingDir: string;
  weightsRoot: string;
  device: Device;
  threads: number;
}

export function defaultCacheDir(): string {
  return process.env.POSTHUMAN_ML_CACHE ?? path.join(os.tmpdir(), "posthuman-ml-cache");
}

/** Values computed from files, remembered per (path, size, mtime) of those files within this process. */
interface FileMemo {
  entries: Map<string, unknown>;
  /** Most entries kept (the oldest goes first). */
  max: number;
}
const hashMemo: FileMemo = { entries: new Map(), max: 1024 };
const tokenizerMemo: FileMemo = { entries: new Map(), max: 8 };

/** `compute()`, remembered while the files (those that exist) keep their size and mtime; not remembered if none exists. */
async function memoByFiles<T>(
  memo: FileMemo,
  what: string,
  files: string[],
  compute: () => T | Promise<T>,
): Promise<T> {
  const stamps: string[] = [];
  for (const f of files) {
    try {
      const st = fs.statSync(f);
      stamps.push(`${path.resolve(f)}|${st.size}|${st.mtimeMs}`);
    } catch {
      // absent: part of the key by its absence
    }
  }
  if (stamps.length === 0) return compute();
  const key = `${what}\n${stamps.join("\n")}`;
  if (memo.entries.has(key)) return memo.entries.get(key) as T;
  const value = await compute();
  if (memo.entries.size >= memo.max) memo.entries.delete(memo.entries.keys().next().value as string);
  memo.entries.set(key, value);
  return value;
}

/** weightsRoot of a folder (remembered per size and mtime of model.safetensors). */
const cachedWeightsRoot = (modelDir: string): Promise<string> =>
  memoByFiles(hashMemo, "weightsRoot", [path.join(modelDir, "model.safetensors")], () => weightsRoot(modelDir));

const tokenizerFiles = (dir: string): string[] =>
  ["tokenizer.json", "vocab.json", "merges.txt"].map((f) => path.join(dir, f));

/** sha256 of a folder's tokenizer (remembered per size and mtime of its tokenizer files). */
const cachedTokenizerHash = (modelDir: string): Promise<string> =>
  memoByFiles(hashMemo, "tokenizerHash", tokenizerFiles(modelDir), () =>
    sha256(JSON.stringify(readTokenizerJson(modelDir))).toString("hex"),
  );

/** The tokenizer of a folder, built once per process while its files stay the same. */
export const cachedTokenizer = (dir: string): Promise<Gpt2Tokenizer> =>
  memoByFiles(tokenizerMemo, "tokenizer", tokenizerFiles(dir), () => new Gpt2Tokenizer(readTokenizerJson(dir)));

/** Exports the model to a serving folder keyed by its weights root and tokenizer, unless already there. */
export async function prepareServingDir(
  modelDir: string,
  opts: ServeOptions = {},
): Promise<{ dir: string; weightsRoot: string }> {
  const root = await cachedWeightsRoot(modelDir);
  if (opts.servingDir) {
    const stamp = readStamp(opts.servingDir);
    if (stamp !== root) await exportOnnx(modelDir, opts.servingDir, { limits: opts.limits });
    return { dir: opts.servingDir, weightsRoot: root };
  }
  const tokHash = await cachedTokenizerHash(modelDir);
  const key = sha256(`${root}\n${tokHash}\n${ONNX_EXPORTER_VERSION}`).toString("hex").slice(0, 32);
  const cache = opts.cacheDir ?? defaultCacheDir();
  const dir = path.join(cache, `gpt2-onnx-${key}`);
  if (readStamp(dir) === root) {
    markUsed(dir);
    return { dir, weightsRoot: root };
  }
  fs.mkdirSync(cache, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(cache, `.export-${process.pid}-`));
  try {
    await exportOnnx(modelDir, tmp, { limits: opts.limits });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (readStamp(dir) !== root) throw e;
  }
  markUsed(dir);
  const maxBytes = opts.cacheMaxBytes ?? defaultCacheMaxBytes();
  try {
    pruneServingCache(cache, { maxBytes, keep: dir });
  } catch (e) {
    // The export is in place and usable: a cache that cannot be pruned must not fail the job that needs it.
    process.stderr.write(`warning: could not prune the serving cache ${cache}: ${(e as Error).message}\n`);
  }
  return { dir, weightsRoot: root };
}

function readStamp(dir: string): string | null {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(dir, "posthuman-export.json"), "utf8")) as {
      weightsRoot?: string;
      exporter?: string;
    };
    if (s.exporter !== ONNX_EXPORTER_VERSION || !fs.existsSync(path.join(dir, "onnx", "model.onnx"))) return null;
    return s.weightsRoot ?? null;
  } catch {
    return null;
  }
}

const servedCache = new Map<string, Promise<ServedModel>>();

/** Loads (once per process) a model for serving through transformers.js. */
export async function loadServed(modelDir: string, opts: ServeOptions = {}): Promise<ServedModel> {
  const config = readConfig(modelDir, opts.limits ?? DEFAULT_MODEL_LIMITS);
  const device = requireDevice(opts.device);
  const threads = checkThreads(opts.threads);
  const { dir, weightsRoot: root } = await prepareServingDir(modelDir, opts);
  const key = `${dir}|${device}|${threads}`;
  let p = servedCache.get(key);
  if (!p) {
    p = (async (): Promise<ServedModel> => {
      env.allowRemoteModels = false;
      env.allowLocalModels = true;
      env.localModelPath = path.dirname(path.resolve(dir)) + path.sep;
      let model: PreTrainedModel;
      try {
        model = await AutoModelForCausalLM.from_pretrained(path.basename(dir), {
          dtype: "fp32",
          device,
          local_files_only: true,
          session_options: {
            intraOpNumThreads: threads,
            interOpNumThreads: 1,
            executionMode: "sequential",
            graphOptimizationLevel: "all",
            logSeverityLevel: 3,
          },
        });
      } catch (e) {
        if (device === "webgpu") throw webgpuUnavailable("onnxruntime could not start its WebGPU provider", e);
        if (device === "cuda") {
          throw new MlError(
            "DEVICE_UNAVAILABLE",
            `onnxruntime could not start its CUDA provider: ${(e as Error).message}`,
            { device },
          );
        }
        throw e;
      }
      return {
        model,
        config,
        tokenizer: await cachedTokenizer(dir),
        servingDir: dir,
        weightsRoot: root,
        device,
        threads,
      };
    })();
    servedCache.set(key, p);
    p.catch(() => servedCache.delete(key));
  }
  return p;
}

/** Releases every model loaded for serving in this process, and the decoding and evaluation sessions. */
export async function disposeServed(): Promise<void> {
  await disposeOrtSessions();
  const all = [...servedCache.values()];
  servedCache.clear();
  for (const p of all) {
    try {
      await (await p).model.dispose();
    } catch {
      // already failed or disposed
    }
  }
}

export interface GenerateParams {
  maxNewTokens: number;
  /** 0 or absent: greedy. Otherwise sampling at this temperature, seeded by `seed`. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

export interface Generation {
  prompt: string;
  promptTokens: number;
  tokens: number[];
  text: string;
  finishReason: "eos" | "length";
}

export interface GenerateResult {
  generations: Generation[];
  generatedTokens: number;
  /** Wall-clock figures: not part of any hash. */
  timing: { elapsedSec: number; tokensPerSec: number };
}

/** Top-k then top-p filtering with Hugging Face's semantics (kept tokens: k largest, then the smallest prefix reaching p). */
export class TopKTopP extends LogitsProcessor {
  constructor(
    private readonly topK: number,
    private readonly topP: number,
  ) {
    super();
  }

  override _call(_inputIds: bigint[][], logits: Tensor): Tensor {
    const data = logits.data as Float32Array;
    const vocab = logits.dims[logits.dims.length - 1];
    for (let off = 0; off < data.length; off += vocab) {
      const row = data.subarray(off, off + vocab);
      const k = this.topK > 0 ? Math.min(this.topK, vocab) : vocab;
      const order = k < vocab ? topIndices(row, k) : Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
      let keep = k;
      if (this.topP < 1) {
        const max = row[order[0]];
        let z = 0;
        for (let i = 0; i < keep; i++) z += Math.exp(row[order[i]] - max);
        let cum = 0;
        let n = 0;
        while (n < keep) {
          cum += Math.exp(row[order[n]] - max) / z;
          n++;
          if (cum >= this.topP) break;
        }
        keep = Math.max(1, n);
      }
      const kept = new Set(order.slice(0, keep));
      for (let i = 0; i < vocab; i++) if (!kept.has(i)) row[i] = -Infinity;
    }
    return logits;
  }
}

/** Indices of the k largest values, largest first (ties: lower index first), in O(n log k). */
function topIndices(row: Float32Array, k: number): number[] {
  const heap: number[] = [];
  const worse = (a: number, b: number): boolean => row[a] < row[b] || (row[a] === row[b] && a > b);
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l], heap[m])) m = l;
      if (r < heap.length && worse(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let i = 0; i < row.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      let j = heap.length - 1;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (!worse(heap[j], heap[p])) break;
        [heap[j], heap[p]] = [heap[p], heap[j]];
        j = p;
      }
    } else if (worse(heap[0], i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => row[b] - row[a] || a - b);
}

function int(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new MlError("PARAMS_INVALID", `${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

export interface CheckedGenerateParams {
  maxNew: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  sample: boolean;
}

/** Validates generation parameters against the model and fills in the defaults (greedy, no top-k/top-p, seed 0). */
export function checkGenerateParams(c: Gpt2Config, params: GenerateParams): CheckedGenerateParams {
  const maxNew = int(params.maxNewTokens, "maxNewTokens", 1, c.n_positions);
  const temperature = params.temperature ?? 0;
  const most = RUNTIME_BOUNDS.maxTemperature;
  if (typeof temperature !== "number" || !(temperature >= 0) || temperature > most)
    throw new MlError("PARAMS_INVALID", `temperature must be in [0, ${most}], got ${temperature}`);
  const topK = params.topK === undefined ? 0 : int(params.topK, "topK", 0, c.vocab_size);
  const topP = params.topP ?? 1;
  if (typeof topP !== "number" || !(topP > 0 && topP <= 1))
    throw new MlError("PARAMS_INVALID", `topP must be in (0, 1], got ${topP}`);
  const seed = params.seed === undefined ? 0 : int(params.seed, "seed", 0, 2 ** 32 - 1);
  return { maxNew, temperature, topK, topP, seed, sample: temperature > 0 };
}

/** Token ids of each prompt (an empty one starts from <|endoftext|>), refusing prompts that leave no room. */
export function encodePrompts(tok: Gpt2Tokenizer, c: Gpt2Config, prompts: string[], maxNew: number): number[][] {
  return prompts.map((p, i) => {
    if (typeof p !== "string") throw new MlError("PROMPTS_INVALID", `prompt ${i} is not a string`);
    const ids = tok.encode(p);
    if (ids.length === 0) ids.push(c.bos_token_id);
    if (ids.length + maxNew > c.n_positions) {
      throw new MlError(
        "PROMPT_TOO_LONG",
        `prompt ${i} has ${ids.length} tokens; with maxNewTokens ${maxNew} that exceeds the model's context of ${c.n_positions}`,
        { prompt: i, tokens: ids.length, limit: c.n_positions - maxNew },
      );
    }
    return ids;
  });
}

let generationLock: Promise<void> = Promise.resolve();

/** Runs fn alone: transformers.js samples from one process-wide generator, seeded per prompt. */
async function exclusive<R>(fn: () => Promise<R>): Promise<R> {
  const prev = generationLock;
  let release: () => void = () => undefined;
  generationLock = new Promise<void>((r) => (release = r));
  await prev;
  try {
    return await fn();
  } finally {
    release();
  }
}

export interface GenerateOptions extends ServeOptions {
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/**
 * The session that generates for a model, on onnxruntime directly: on the CPU the decoding graph
 * (decode-graph.ts) with `threads` intra-op threads; on WebGPU the same model in fewer, fused kernels
 * (webgpu-decode-graph.ts) with the KV cache kept on the GPU; on CUDA the serving graph in transformers.js'
 * session (which keeps the cache on the device).
 */
export async function decodingSession(
  modelDir: string,
  opts: ServeOptions,
): Promise<{ session: Session; config: Gpt2Config; tokenizer: Gpt2Tokenizer; onDevice: boolean }> {
  const device = requireDevice(opts.device);
  if (device === "cuda") {
    const served = await loadServed(modelDir, opts);
    return { session: sessionOf(served), config: served.config, tokenizer: served.tokenizer, onDevice: false };
  }
  const config = readConfig(modelDir, opts.limits ?? DEFAULT_MODEL_LIMITS);
  const threads = checkThreads(opts.threads);
  const { dir } = await prepareServingDir(modelDir, opts);
  const session =
    device === "webgpu"
      ? await ortSession(webgpuDecodeGraphFile(dir, config), "webgpu", threads, deviceOutputs(config))
      : await ortSession(decodeGraphFile(dir, config.vocab_size), "cpu", threads);
  return { session, config, tokenizer: await cachedTokenizer(dir), onDevice: device === "webgpu" };
}

/** What a WebGPU decoding step leaves on the GPU: the KV cache. */
const deviceOutputs = (c: Gpt2Config): string[] =>
  Array.from({ length: c.n_layer }, (_, i) => [`present.${i}.key`, `present.${i}.value`]).flat();

/** The intra-op thread count (default DEFAULT_THREADS), checked. */
export function checkThreads(threads: number | undefined): number {
  const t = threads ?? DEFAULT_THREADS;
  if (!Number.isSafeInteger(t) || t < 1 || t > 256)
    throw new MlError("PARAMS_INVALID", `threads must be a positive integer, got ${t}`);
  return t;
}

/**
 * Generates continuations of each prompt (KV cache, onnxruntime driven directly by `decode`, token choice as
 * transformers.js' `model.generate` makes it):
 * greedy, or sampled with temperature / top-k / top-p from a seed (prompt i uses seed + i).
 * An empty prompt starts from <|endoftext|>. Stops at EOS or after maxNewTokens.
 */
export async function generate(
  modelDir: string,
  prompts: string[],
  params: GenerateParams,
  opts: GenerateOptions = {},
): Promise<GenerateResult> {
  const { session, config: c, tokenizer, onDevice } = await decodingSession(modelDir, opts);
  checkEndOfText(c, tokenizer, modelDir);
  const { maxNew, temperature, topK, topP, seed, sample } = checkGenerateParams(c, params);
  const encoded = encodePrompts(tokenizer, c, prompts, maxNew);
  return exclusive(async () => {
    const started = Date.now();
    const generations: Generation[] = [];
    let generated = 0;
    for (let i = 0; i < encoded.length; i++) {
      throwIfAborted(opts.signal);
      const ids = encoded[i];
      random.seed((seed + i) % 2 ** 32);
      let tokens = await decode(session, c, ids, {
        maxNewTokens: maxNew,
        sample,
        temperature: sample ? temperature : 1,
        topK: sample ? topK : 0,
        processors: sample && (topK > 0 || topP < 1) ? [new TopKTopP(topK, topP)] : [],
        onDevice,
      });
      let finishReason: Generation["finishReason"] = "length";
      const eos = tokens.indexOf(c.eos_token_id);
      if (eos >= 0) {
        tokens = tokens.slice(0, eos);
        finishReason = "eos";
      }
      generated += tokens.length + (finishReason === "eos" ? 1 : 0);
      generations.push({
        prompt: prompts[i],
        promptTokens: ids.length,
        tokens,
        text: tokenizer.decode(tokens),
        finishReason,
      });
      opts.onProgress?.({ step: i + 1, totalSteps: encoded.length, phase: "generate" });
    }
    const elapsed = (Date.now() - started) / 1000;
    return {
      generations,
      generatedTokens: generated,
      timing: { elapsedSec: elapsed, tokensPerSec: generated / Math.max(elapsed, 1e-9) },
    };
  });
}

/** The onnxruntime session transformers.js created for the served model (run directly by decode and evaluate). */
export function sessionOf(served: ServedModel): Session {
  return (served.model as unknown as { sessions: Record<string, Session> }).sessions.model;
}

/** Logits [batch, seq, vocab] of a full forward pass from the ONNX model (empty cache). */
export async function onnxLogits(served: ServedModel, ids: number[][]): Promise<Float32Array> {
  const b = ids.length;
  const t = ids[0].length;
  const flat = BigInt64Array.from(ids.flat().map((x) => BigInt(x)));
  const out = (await served.model.forward({
    input_ids: new Tensor("int64", flat, [b, t]),
    attention_mask: new Tensor("int64", new BigInt64Array(b * t).fill(1n), [b, t]),
  })) as { logits: Tensor };
  return out.logits.data as Float32Array;
}
