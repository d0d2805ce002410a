import { onnx } from "onnx-proto";

/**
 * The evaluation graph for a GPU: the serving export (onnx-export.ts) with its KV cache removed and
 * its head replaced by the per-token loss, so that only [batch, seq] losses leave the device
 * instead of [batch, seq, vocab] logits (823 MB at 8×512 for GPT-2 small).
 *
 *   nll[b, t] = logsumexp_v(h[b, t] · wte[v]) − h[b, t] · wte[labels[b, t]]
 *
 * The log-sum-exp runs over chunks of the vocabulary (a Gemm per chunk, then its row max and
 * Σ exp(x − max)), combined as max + log Σ_c s_c · exp(m_c − max). Only core ops are used
 * (Gemm, ReduceMax, ReduceSum, Exp, Log, Gather, Concat): SoftmaxCrossEntropyLoss is not on
 * onnxruntime's WebGPU provider and a full-width LogSoftmax there is slow.
 */

export const LOSS_GRAPH_VERSION = "posthuman-gpt2-loss-2";

/** How each vocabulary chunk's logits are computed. */
export type LossHeadOp = "matmul" | "gemm";

const I64 = onnx.TensorProto.DataType.INT64;
const F = onnx.TensorProto.DataType.FLOAT;
const A = onnx.AttributeProto.AttributeType;

function i64(name: string, values: number[], dims: number[] = [values.length]): onnx.ITensorProto {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return { name, dataType: I64, dims, rawData: bytes };
}

function tensorInfo(name: string, elemType: number, dims: string[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimParam: d })) } } } };
}

/** Column ranges [start, end) of the vocabulary, each at most `chunk` wide. */
export function vocabChunks(vocab: number, chunk: number): Array<[number, number]> {
  if (!Number.isSafeInteger(chunk) || chunk < 1)
    throw new Error(`vocabulary chunk must be a positive integer, got ${chunk}`);
  const out: Array<[number, number]> = [];
  for (let s = 0; s < vocab; s += chunk) out.push([s, Math.min(vocab, s + chunk)]);
  return out;
}

/**
 * Rewrites a forward graph (the serving export's onnx/model.onnx, or the fused forward of
 * webgpu-decode-graph.ts) into the loss graph:
 * inputs input_ids, attention_mask, position_ids, labels (int64 [batch, seq]); output nll (float [batch, seq]).
 * With `rows`, the head runs on the scored positions only: an extra input `rows` (int64 [n], indices
 * b·seq + t into the flattened positions) picks them, `labels` is [n] (the label of each picked row) and
 * `nll` is [n].
 */
export function buildLossGraph(
  forwardOnnx: Uint8Array,
  vocab: number,
  chunk: number,
  headOp: LossHeadOp = "matmul",
  rows = false,
): Uint8Array {
  const model = onnx.ModelProto.decode(forwardOnnx);
  const g = model.graph;
  if (!g || !g.node || !g.initializer) throw new Error("not an ONNX model with a graph");
  const nodes = g.node;
  // The tied head: the one Gemm with transB (the fused forward's other Gemms, c_attn, have none).
  const head = nodes.filter(
    (n) => n.opType === "Gemm" && n.attribute?.some((a) => a.name === "transB" && Number(a.i) === 1),
  );
  if (head.length !== 1 || !head[0].input || head[0].input.length < 2) {
    throw new Error(`expected one Gemm with transB (the tied head) in the forward graph, found ${head.length}`);
  }
  const wte = head[0].input[1];
  // The KV cache: Concat(past, new) becomes the new keys/values alone.
  for (const n of nodes) {
    if (n.opType === "Concat" && n.input && n.input[0]?.startsWith("past_key_values.")) {
      n.opType = "Identity";
      n.input = [n.input[1]];
      n.attribute = [];
    }
  }
  let k = 0;
  const add = (op: string, inputs: string[], attrs: onnx.IAttributeProto[] = []): string => {
    const out = `loss_${op.toLowerCase()}_${k}`;
    nodes.push({ opType: op, input: inputs, output: [out], name: `loss${k++}_${op}`, attribute: attrs });
    return out;
  };
  const inits = g.initializer;
  inits.push(i64("loss_axis1", [1]), i64("loss_flat", [-1]));
  // The hidden states [positions, d] the head reads: all of them, or the rows scored.
  const flat = rows
    ? add("Gather", [head[0].input[0], "rows"], [{ name: "axis", type: A.INT, i: 0 }])
    : head[0].input[0];
  const keep = { name: "keepdims", type: A.INT, i: 1 };
  const ms: string[] = [];
  const ss: string[] = [];
  vocabChunks(vocab, chunk).forEach(([s, e], c) => {
    inits.push(i64(`loss_chunk${c}_start`, [s]), i64(`loss_chunk${c}_end`, [e]));
    const w = add("Slice", [wte, `loss_chunk${c}_start`, `loss_chunk${c}_end`, "loss_axis0"]);
    // MatMul on the chunk transposed once (constant-folded at load), or Gemm(transB) on it as is.
    const logits =
      headOp === "matmul"
        ? add("MatMul", [flat, add("Transpose", [w], [{ name: "perm", type: A.INTS, ints: [1, 0] }])])
        : add("Gemm", [flat, w], [{ name: "transB", type: A.INT, i: 1 }]);
    const m = add("ReduceMax", [logits], [{ name: "axes", type: A.INTS, ints: [1] }, keep]);
    ms.push(m);
    ss.push(add("ReduceSum", [add("Exp", [add("Sub", [logits, m])]), "loss_axis1"], [keep]));
  });
  inits.push(i64("loss_axis0", [0]));
  const mAll = ms.length > 1 ? add("Concat", ms, [{ name: "axis", type: A.INT, i: 1 }]) : ms[0];
  const sAll = ss.length > 1 ? add("Concat", ss, [{ name: "axis", type: A.INT, i: 1 }]) : ss[0];
  const max = add("ReduceMax", [mAll], [{ name: "axes", type: A.INTS, ints: [1] }, keep]);
  const z = add("ReduceSum", [add("Mul", [sAll, add("Exp", [add("Sub", [mAll, max])])]), "loss_axis1"], [keep]);
  const lse = add("Add", [max, add("Log", [z])]);
  const target = add("Gather", [wte, add("Reshape", ["labels", "loss_flat"])], [{ name: "axis", type: A.INT, i: 0 }]);
  const tlogit = add("ReduceSum", [add("Mul", [flat, target]), "loss_axis1"], [keep]);
  const nll = add("Sub", [lse, tlogit]);
  nodes.push({
    opType: "Reshape",
    input: [nll, add("Shape", ["labels"])],
    output: ["nll"],
    name: `loss${k++}_Reshape`,
    attribute: [],
  });

  g.input = (g.input ?? []).filter((i) => !i.name?.startsWith("past_key_values."));
  if (rows) {
    g.input.push(tensorInfo("rows", I64, ["rows"]), tensorInfo("labels", I64, ["rows"]));
    g.output = [tensorInfo("nll", F, ["rows"])];
  } else {
    g.input.push(tensorInfo("labels", I64, ["batch_size", "sequence_length"]));
    g.output = [tensorInfo("nll", F, ["batch_size", "sequence_length"])];
  }
  g.name = "gpt2_token_loss";
  pruneGraph(g);
  model.producerVersion = LOSS_GRAPH_VERSION;
  return onnx.ModelProto.encode(model).finish();
}

/** Drops nodes and initializers the outputs do not depend on (the old head and cache outputs). */
export function pruneGraph(g: onnx.IGraphProto): void {
  const nodes = g.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => producer.set(o, i)));
  const needed = new Set<string>();
  const live = new Set<number>();
  const stack = (g.output ?? []).map((o) => o.name ?? "");
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (needed.has(name)) continue;
    needed.add(name);
    const i = producer.get(name);
    if (i === undefined || live.has(i)) continue;
    live.add(i);
    for (const inp of nodes[i].input ?? []) if (inp) stack.push(inp);
  }
  g.node = nodes.filter((_, i) => live.has(i));
  g.initializer = (g.initializer ?? []).filter((t) => needed.has(t.name ?? ""));
}
