import * as fs from "fs";
import * as path from "path";
import { onnx } from "onnx-proto";
import { derivedGraphFile } from "./onnx-export";
import { pruneGraph } from "./webgpu-loss-graph";

/**
 * The decoding graph for the CPU: the serving export (onnx-export.ts) with its head on the last position
 * only and the greedy choice made in the graph, for batch 1.
 *
 *   logits     [1, vocab]  h[last] · wteᵀ (the serving graph computes every position's logits)
 *   next_token [1]         ArgMax(logits), the first index of the maximum (ties to the lower id, as
 *                          transformers.js' greedy sampler and decode.ts' argmax choose)
 *   present.*             the KV cache, as in the serving graph
 *
 * A greedy step fetches next_token and the cache only: no [vocab] row is copied out of onnxruntime.
 * Sampling fetches logits. "Last position" is the last row of the flattened [batch·seq, d] states, so
 * the graph is for batch 1 (decode.ts runs one prompt at a time).
 */

export const DECODE_GRAPH_VERSION = "posthuman-gpt2-decode-1";

const I64 = onnx.TensorProto.DataType.INT64;
const F = onnx.TensorProto.DataType.FLOAT;
const A = onnx.AttributeProto.AttributeType;

function i64(name: string, values: number[]): onnx.ITensorProto {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return { name, dataType: I64, dims: [values.length], rawData: bytes };
}

function tensorInfo(name: string, elemType: number, dims: Array<string | number>): onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** Rewrites a serving export (bytes of onnx/model.onnx) into the decoding graph. */
export function buildDecodeGraph(servingOnnx: Uint8Array, vocab: number): Uint8Array {
  const model = onnx.ModelProto.decode(servingOnnx);
  const g = model.graph;
  if (!g || !g.node || !g.initializer) throw new Error("not an ONNX model with a graph");
  const head = g.node.filter((n) => n.opType === "Gemm");
  const out = g.node.filter((n) => n.output?.includes("logits"));
  if (head.length !== 1 || !head[0].input || head[0].input.length < 2 || out.length !== 1) {
    throw new Error(`expected one Gemm (the tied head) and one logits node in the serving graph`);
  }
  // The head reads the last row of the flattened states; its [1, vocab] output is the logits output.
  g.initializer.push(i64("decode_last_start", [-1]), i64("decode_last_end", [2 ** 53]), i64("decode_axis0", [0]));
  const last = "decode_last_state";
  g.node.splice(g.node.indexOf(head[0]), 0, {
    opType: "Slice",
    input: [head[0].input[0], "decode_last_start", "decode_last_end", "decode_axis0"],
    output: [last],
    name: "decode_last_Slice",
  });
  head[0].input[0] = last;
  out[0].opType = "Identity";
  out[0].input = [head[0].output?.[0] ?? ""];
  out[0].attribute = [];
  g.node.push({
    opType: "ArgMax",
    input: ["logits"],
    output: ["next_token"],
    name: "decode_next_ArgMax",
    attribute: [
      { name: "axis", type: A.INT, i: 1 },
      { name: "keepdims", type: A.INT, i: 0 },
      { name: "select_last_index", type: A.INT, i: 0 },
    ],
  });
  const presents = (g.output ?? []).filter((o) => o.name?.startsWith("present."));
  g.output = [tensorInfo("logits", F, [1, vocab]), tensorInfo("next_token", I64, [1]), ...presents];
  pruneGraph(g);
  g.name = "gpt2_decode";
  model.producerVersion = DECODE_GRAPH_VERSION;
  return onnx.ModelProto.encode(model).finish();
}

/** The decoding graph next to the serving export (written once per export). */
export function decodeGraphFile(servingDir: string, vocab: number): string {
  return derivedGraphFile(path.join(servingDir, "onnx", `${DECODE_GRAPH_VERSION}.onnx`), () =>
    buildDecodeGraph(fs.readFileSync(path.join(servingDir, "onnx", "model.onnx")), vocab),
  );
}
