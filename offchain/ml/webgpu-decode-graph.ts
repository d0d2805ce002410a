import * as fs from "fs";
import * as path from "path";
import { onnx } from "onnx-proto";
import { Gpt2Config } from "./config";
import { attentionBias, derivedGraphFile, floatAttr, GraphBuilder, intAttr, valueInfo } from "./onnx-export";

/**
 * The decoding graph for WebGPU: the same model, inputs and outputs as the CPU's decoding graph
 * (decode-graph.ts: `logits` [1, vocab] of the last position, `next_token`, the KV cache), written with
 * fewer, larger kernels. A decoding step on onnxruntime's WebGPU provider is bound by the work the CPU does
 * per node (recording and submitting each kernel), not by the GPU, so each block here is
 *   SkipLayerNormalization (the residual add, the previous projection's bias and the norm in one),
 *   Gemm (c_attn with its bias), Split, MultiHeadAttention (heads, cache append, scores, mask, softmax,
 *   context), MatMul (c_proj), SkipLayerNormalization, MatMul + FastGelu/BiasGelu (c_fc with its bias),
 *   MatMul (the MLP's projection)
 * where the serving graph has about 25 nodes a block. The weights are the serving export's initializers,
 * taken by name. The numbers are not the CPU graph's bit for bit (fused kernels add in another order);
 * test/ml checks they agree within 1e-4 on the CPU provider and give the same tokens on WebGPU.
 *
 * The same blocks without the cache, at any batch, with the head on every position (`mode: "forward"`,
 * output `logits` [batch·seq, vocab]) are the forward of the fused loss graph (webgpu-eval.ts).
 */

export const WEBGPU_DECODE_GRAPH_VERSION = "posthuman-gpt2-decode-webgpu-1";
export const FUSED_FORWARD_GRAPH_VERSION = "posthuman-gpt2-forward-fused-1";

/** "decode": batch 1, the KV cache in and out, the head on the last position; "forward": no cache, every position. */
export type FusedGraphMode = "decode" | "forward";

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
const MS = "com.microsoft";

/** Builds the WebGPU decoding graph from a serving export (bytes of onnx/model.onnx). */
export const buildWebgpuDecodeGraph = (servingOnnx: Uint8Array, c: Gpt2Config): Uint8Array =>
  buildFusedGraph(servingOnnx, c, "decode");

/**
 * Builds the fused graph of a serving export (bytes of onnx/model.onnx) in either mode. `attention: "gqa"` writes
 * each block's attention as GroupQueryAttention (as many key/value heads as heads: the same attention, causal by
 * definition) instead of MultiHeadAttention with the mask as a bias: the bias's nodes go (in a decoding step, about
 * 10 small nodes and 2 uploads fewer), windows without padding only. The GPU check profiles it beside the default.
 */
export function buildFusedGraph(
  servingOnnx: Uint8Array,
  c: Gpt2Config,
  mode: FusedGraphMode,
  attention: "mha" | "gqa" = "mha",
): Uint8Array {
  const decode = mode === "decode";
  const serving = onnx.ModelProto.decode(servingOnnx);
  const weights = new Map((serving.graph?.initializer ?? []).map((t) => [t.name ?? "", t]));
  const g = new GraphBuilder();
  const W = (name: string): string => {
    const t = weights.get(`transformer.${name}`);
    if (!t) throw new Error(`the serving export has no initializer transformer.${name}`);
    g.initializers.push(t);
    return t.name ?? "";
  };
  const ms = (op: string, inputs: string[], attrs: onnx.IAttributeProto[], outputs: string[]): string[] => {
    g.nodes.push({
      opType: op,
      domain: MS,
      input: inputs,
      output: outputs,
      name: `n${g.nodes.length}_${op}`,
      attribute: attrs,
    });
    return outputs;
  };
  const d = c.n_embd;
  const H = c.n_head;
  const eps = floatAttr("epsilon", c.layer_norm_epsilon);
  // The mask's values, for MultiHeadAttention's bias (GroupQueryAttention masks by itself).
  const mask =
    attention === "gqa"
      ? null
      : {
          zero: g.floatInit("const_zero", new Float32Array([0]), []),
          neg: g.floatInit("const_mask_value", new Float32Array([-1e9]), []),
        };
  const flat = g.int64Init("const_flat_shape", [-1, d]);
  // [batch, seq, 3·d] for the Split: batch 1 when decoding, else read off input_ids.
  const rows = decode
    ? g.int64Init("const_rows_shape", [1, -1, 3 * d])
    : g.op("Concat", [g.op("Shape", ["input_ids"]), g.int64Init("const_qkv_width", [3 * d])], [intAttr("axis", 0)]);
  const split = g.int64Init("const_qkv_split", [d, d, d]);
  const gqa = mask ? null : gqaLengths(g);
  const bias = !mask
    ? ""
    : attentionBias(g, {
        ...mask,
        idx1: g.int64Init("const_index_1", [1], []),
        i64zero: g.int64Init("const_i64_zero", [0], []),
        i64one: g.int64Init("const_i64_one", [1], []),
        axes1: g.int64Init("const_axes_1", [1]),
        axes12: g.int64Init("const_axes_1_2", [1, 2]),
      });

  const wte = W("wte.weight");
  const tok = g.op("Gather", [wte, "input_ids"], [intAttr("axis", 0)]);
  const pos = g.op("Gather", [W("wpe.weight"), "position_ids"], [intAttr("axis", 0)]);
  // norm(input + skip + bias) and, when asked, the sum itself (the new residual stream).
  const skipNorm = (input: string, skip: string, ln: string, addBias: string | null, keepSum: boolean): string[] => {
    const ins = [input, skip, W(`${ln}.weight`), W(`${ln}.bias`), ...(addBias ? [W(addBias)] : [])];
    const n = g.nodes.length;
    return ms("SkipLayerNormalization", ins, [eps], [`sln${n}_out`, "", "", keepSum ? `sln${n}_sum` : ""]);
  };
  const first = skipNorm(tok, pos, "h.0.ln_1", null, true);
  let a = first[0];
  let x = first[3];
  const gelu = c.activation_function === "gelu" ? "BiasGelu" : "FastGelu";
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}`;
    const qkv2d = g.op("Gemm", [g.op("Reshape", [a, flat]), W(`${p}.attn.c_attn.weight`), W(`${p}.attn.c_attn.bias`)]);
    const [q, k, v] = g.node("Split", [g.op("Reshape", [qkv2d, rows]), split], [intAttr("axis", 2)], `${p}_qkv`, 3);
    const cache = decode ? [`past_key_values.${i}.key`, `past_key_values.${i}.value`] : [];
    const outs = [`${p}_attn`, ...(decode ? [`present.${i}.key`, `present.${i}.value`] : [])];
    const [ctx] = gqa
      ? ms(
          "GroupQueryAttention",
          [q, k, v, ...(decode ? cache : ["", ""]), gqa.seqlens, gqa.total],
          [intAttr("num_heads", H), intAttr("kv_num_heads", H)],
          outs,
        )
      : ms("MultiHeadAttention", [q, k, v, "", "", bias, ...cache], [intAttr("num_heads", H)], outs);
    const proj = g.op("MatMul", [ctx, W(`${p}.attn.c_proj.weight`)]);
    const [m, , , x2] = skipNorm(proj, x, `${p}.ln_2`, `${p}.attn.c_proj.bias`, true);
    const [act] = ms(gelu, [g.op("MatMul", [m, W(`${p}.mlp.c_fc.weight`)]), W(`${p}.mlp.c_fc.bias`)], [], [`${p}_act`]);
    const mlp = g.op("MatMul", [act, W(`${p}.mlp.c_proj.weight`)]);
    const last = i === c.n_layer - 1;
    const [a2, , , x3] = skipNorm(mlp, x2, last ? "ln_f" : `h.${i + 1}.ln_1`, `${p}.mlp.c_proj.bias`, !last);
    a = a2;
    x = x3;
  }
  const hd = d / H;
  const inputs = ["input_ids", "attention_mask", "position_ids"];
  if (!decode) {
    // The tied head on every position (the loss graph reads its input and replaces it).
    g.op("Gemm", [g.op("Reshape", [a, flat]), wte], [intAttr("transB", 1)], "logits");
    return encode(g, FUSED_FORWARD_GRAPH_VERSION, "gpt2_forward_fused", {
      inputs: inputs.map((n) =>
        valueInfo(n, I64, ["batch_size", n === "attention_mask" ? "total_sequence_length" : "sequence_length"]),
      ),
      outputs: [valueInfo("logits", F, ["positions", c.vocab_size])],
    });
  }
  // The head on the last position only, and the greedy choice (the first index of the maximum).
  const lastRow = g.op("Slice", [
    g.op("Reshape", [a, flat]),
    g.int64Init("last_start", [-1]),
    g.int64Init("last_end", [2 ** 53]),
    g.int64Init("axis0", [0]),
  ]);
  g.op("Gemm", [lastRow, wte], [intAttr("transB", 1)], "logits");
  g.op(
    "ArgMax",
    ["logits"],
    [intAttr("axis", 1), intAttr("keepdims", 0), intAttr("select_last_index", 0)],
    "next_token",
  );

  const io = {
    inputs: inputs.map((n) =>
      valueInfo(n, I64, [1, n === "attention_mask" ? "total_sequence_length" : "sequence_length"]),
    ),
    outputs: [valueInfo("logits", F, [1, c.vocab_size]), valueInfo("next_token", I64, [1])],
  };
  for (let i = 0; i < c.n_layer; i++) {
    for (const kv of ["key", "value"]) {
      io.inputs.push(valueInfo(`past_key_values.${i}.${kv}`, F, [1, H, "past_sequence_length", hd]));
      io.outputs.push(valueInfo(`present.${i}.${kv}`, F, [1, H, "total_sequence_length", hd]));
    }
  }
  return encode(g, WEBGPU_DECODE_GRAPH_VERSION, "gpt2_decode_webgpu", io);
}

/** GroupQueryAttention's lengths from attention_mask: each row's tokens less one, and the total (int32). */
function gqaLengths(g: GraphBuilder): { seqlens: string; total: string } {
  const int32 = intAttr("to", onnx.TensorProto.DataType.INT32);
  const rowSum = g.op("ReduceSum", ["attention_mask", g.int64Init("const_gqa_axes", [1])], [intAttr("keepdims", 0)]);
  const lens = g.op("Sub", [rowSum, g.int64Init("const_gqa_one", [1], [])]);
  const total = g.op(
    "Gather",
    [g.op("Shape", ["attention_mask"]), g.int64Init("const_gqa_index", [1], [])],
    [intAttr("axis", 0)],
  );
  return { seqlens: g.op("Cast", [lens], [int32]), total: g.op("Cast", [total], [int32]) };
}

function encode(
  g: GraphBuilder,
  version: string,
  name: string,
  io: { inputs: onnx.IValueInfoProto[]; outputs: onnx.IValueInfoProto[] },
): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: "posthuman-ml",
    producerVersion: version,
    opsetImport: [
      { domain: "", version: 17 },
      { domain: MS, version: 1 },
    ],
    graph: { name, node: g.nodes, initializer: g.initializers, input: io.inputs, output: io.outputs },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** The WebGPU decoding graph next to the serving export (written once per export). */
export function webgpuDecodeGraphFile(servingDir: string, c: Gpt2Config): string {
  return derivedGraphFile(path.join(servingDir, "onnx", `${WEBGPU_DECODE_GRAPH_VERSION}.onnx`), () =>
    buildWebgpuDecodeGraph(fs.readFileSync(path.join(servingDir, "onnx", "model.onnx")), c),
  );
}
