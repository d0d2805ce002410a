import {
  LogitsProcessor,
  LogitsProcessorList,
  random,
  softmax,
  TemperatureLogitsWarper,
  Tensor,
  topk,
} from "@huggingface/transformers";
import * as ort from "onnxruntime-node";
import { Gpt2Config } from "./config";

/**
 * The generation loop, driving the exported ONNX model's onnxruntime session directly with its KV cache
 * (one `session.run` per token, present → past without going through transformers.js' generate).
 * Token choice is transformers.js' own, step for step: the same logits processors in the same order
 * (temperature warper, then ours), greedy = the first index of the maximum (its GreedySampler), sampling =
 * its MultinomialSampler (`topk` over k = top_k or the vocabulary, `softmax`, a weighted draw from
 * `random.random()`), so that a seed gives the tokens transformers.js' `generate` gave.
 */

export interface DecodeSettings {
  maxNewTokens: number;
  sample: boolean;
  temperature: number;
  topK: number;
  /** Processors run after the temperature warper (top-k/top-p filtering). */
  processors: LogitsProcessor[];
  /**
   * The session keeps its cache on the device (WebGPU `gpu-buffer` outputs): every run fetches all outputs, since
   * onnxruntime-node 1.30 matches preferred output locations to a fetch list by position, not by name (a subset
   * came back with the cache on the CPU and the token id "on the GPU"). The [1, vocab] logits come back too: the
   * binding cannot read a GPU buffer back (getData() aborts the process), so sampling needs them on the CPU.
   */
  onDevice?: boolean;
}

/** Index of the first maximum (transformers.js' `max`). */
function argmax(row: Float32Array): number {
  let best = row[0];
  let idx = 0;
  for (let i = 1; i < row.length; i++) {
    if (row[i] > best) {
      best = row[i];
      idx = i;
    }
  }
  return idx;
}

/** transformers.js' weighted draw (`_weightedIndex` on the process-wide generator). */
function weightedIndex(weights: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < weights.length; ++i) sum += weights[i];
  let x = random.random() * sum;
  for (let i = 0; i < weights.length; ++i) {
    x -= weights[i];
    if (x < 0) return i;
  }
  return weights.length - 1;
}

export type Session = ort.InferenceSession;

/**
 * Generates up to `maxNewTokens` tokens after `prompt` (batch 1). Returns the new tokens, EOS included when
 * it came (the caller strips it). The caller seeds `random` for sampling.
 *
 * On the decoding graph (decode-graph.ts: outputs `next_token` and a [1, vocab] `logits`) a greedy step
 * fetches the token id and the cache only; on the serving graph (WebGPU, CUDA) every step reads the logits.
 * The attention mask is a view of one buffer of ones; the cache is fed back as the tensors the run returned.
 */
export async function decode(session: Session, c: Gpt2Config, prompt: number[], s: DecodeSettings): Promise<number[]> {
  const H = c.n_head;
  const hd = c.n_embd / H;
  const V = c.vocab_size;
  const all: bigint[] = prompt.map((x) => BigInt(x));
  const out: number[] = [];
  const processors = new LogitsProcessorList();
  if (s.sample && s.temperature !== 1) processors.push(new TemperatureLogitsWarper(s.temperature));
  for (const p of s.processors) processors.push(p);
  const past: Record<string, ort.Tensor> = {};
  const presentNames: string[] = [];
  const empty = new Float32Array(0);
  for (let i = 0; i < c.n_layer; i++) {
    for (const kv of ["key", "value"]) {
      past[`past_key_values.${i}.${kv}`] = new ort.Tensor("float32", empty, [1, H, 0, hd]);
      presentNames.push(`present.${i}.${kv}`);
    }
  }
  const decodeGraph = session.outputNames.includes("next_token");
  const greedyInGraph = decodeGraph && !s.sample && processors.length === 0;
  const fetches = decodeGraph && !s.onDevice ? [greedyInGraph ? "next_token" : "logits", ...presentNames] : undefined;
  const ones = new BigInt64Array(prompt.length + s.maxNewTokens).fill(1n);
  let ids = BigInt64Array.from(all);
  try {
    for (let step = 0; step < s.maxNewTokens; step++) {
      const total = all.length;
      const pos = BigInt64Array.from(ids, (_, j) => BigInt(total - ids.length + j));
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor("int64", ids, [1, ids.length]),
        attention_mask: new ort.Tensor("int64", ones.subarray(0, total), [1, total]),
        position_ids: new ort.Tensor("int64", pos, [1, ids.length]),
        ...past,
      };
      const r = fetches ? await session.run(feeds, fetches) : await session.run(feeds);
      let next: number;
      if (greedyInGraph) next = Number((r.next_token.data as BigInt64Array)[0]);
      else {
        const logitsData = r.logits.data as Float32Array;
        const last = logitsData.subarray(logitsData.length - V);
        if (!s.sample && processors.length === 0) next = argmax(last);
        else {
          const scores = processors([all], new Tensor("float32", last.slice(), [1, V])) as Tensor;
          const row = new Tensor("float32", scores.data as Float32Array, [V]);
          if (!s.sample) next = argmax(row.data as Float32Array);
          else {
            const [v, idx] = (await topk(row, s.topK > 0 ? Math.min(s.topK, V) : V)) as [Tensor, Tensor];
            const probs = softmax(v.data as Float32Array) as ArrayLike<number>;
            next = Number((idx.data as BigInt64Array)[weightedIndex(probs)]);
          }
        }
      }
      out.push(next);
      all.push(BigInt(next));
      // The cache moves on; the previous one is released (on WebGPU it lives in GPU buffers that only dispose frees).
      const old = Object.values(past);
      for (let i = 0; i < c.n_layer; i++) {
        past[`past_key_values.${i}.key`] = r[`present.${i}.key`];
        past[`past_key_values.${i}.value`] = r[`present.${i}.value`];
      }
      releaseDeviceTensors(old);
      if (next === c.eos_token_id) break;
      ids = BigInt64Array.of(BigInt(next));
    }
  } finally {
    releaseDeviceTensors(Object.values(past));
  }
  return out;
}

/** Frees tensors held on the device (onnxruntime's WebGPU outputs kept as `gpu-buffer`); others are left to GC. */
function releaseDeviceTensors(tensors: ort.Tensor[]): void {
  for (const t of tensors) if (t.location === "gpu-buffer") t.dispose();
}
