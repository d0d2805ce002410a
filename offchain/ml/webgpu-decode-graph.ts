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
 */

export const WEBGPU_DECODE_GRAPH_VERSION = "posthuman-gpt2-decode-webgpu-1";

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
const MS = "com.microsoft";

/** Builds the WebGPU decoding graph from a serving export (bytes of onnx/model.onnx). */
export function buildWebgpuDecodeGraph(servingOnnx: Uint8Array, c: Gpt2Config): Uint8Array {
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
  const zero = g.floatInit("const_zero", new Float32Array([0]), []);
  const neg = g.floatInit("const_mask_value", new Float32Array([-1e9]), []);
  const flat = g.int64Init("const_flat_shape", [-1, d]);
  const rows = g.int64Init("const_rows_shape", [1, -1, 3 * d]);
  const split = g.int64Init("const_qkv_split", [d, d, d]);
  const bias = attentionBias(g, {
    zero,
    neg,
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
    const [ctx] = ms(
      "MultiHeadAttention",
      [q, k, v, "", "", bias, `past_key_values.${i}.key`, `past_key_values.${i}.value`],
      [intAttr("num_heads", H)],
      [`${p}_attn`, `present.${i}.key`, `present.${i}.value`],
    );
    const proj = g.op("MatMul", [ctx, W(`${p}.attn.c_proj.weight`)]);
    const [m, , , x2] = skipNorm(proj, x, `${p}.ln_2`, `${p}.attn.c_proj.bias`, true);
    const [act] = ms(gelu, [g.op("MatMul", [m, W(`${p}.mlp.c_fc.weight`)]), W(`${p}.mlp.c_fc.bias`)], [], [`${p}_act`]);
    const mlp = g.op("MatMul", [act, W(`${p}.mlp.c_proj.weight`)]);
    const last = i === c.n_layer - 1;
    const [a2, , , x3] = skipNorm(mlp, x2, last ? "ln_f" : `h.${i + 1}.ln_1`, `${p}.mlp.c_proj.bias`, !last);
    a = a2;
    x = x3;
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

  const hd = d / H;
  const inputs = [
    valueInfo("input_ids", I64, [1, "sequence_length"]),
    valueInfo("attention_mask", I64, [1, "total_sequence_length"]),
    valueInfo("position_ids", I64, [1, "sequence_length"]),
  ];
  const outputs = [valueInfo("logits", F, [1, c.vocab_size]), valueInfo("next_token", I64, [1])];
  for (let i = 0; i < c.n_layer; i++) {
    for (const kv of ["key", "value"]) {
      inputs.push(valueInfo(`past_key_values.${i}.${kv}`, F, [1, H, "past_sequence_length", hd]));
      outputs.push(valueInfo(`present.${i}.${kv}`, F, [1, H, "total_sequence_length", hd]));
    }
  }
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: "posthuman-ml",
    producerVersion: WEBGPU_DECODE_GRAPH_VERSION,
    opsetImport: [
      { domain: "", version: 17 },
      { domain: MS, version: 1 },
    ],
    graph: { name: "gpt2_decode_webgpu", node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** The WebGPU decoding graph next to the serving export (written once per export). */
export function webgpuDecodeGraphFile(servingDir: string, c: Gpt2Config): string {
  return derivedGraphFile(path.join(servingDir, "onnx", `${WEBGPU_DECODE_GRAPH_VERSION}.onnx`), () =>
    buildWebgpuDecodeGraph(fs.readFileSync(path.join(servingDir, "onnx", "model.onnx")), c),
  );
}
