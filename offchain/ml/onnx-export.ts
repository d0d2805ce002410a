import * as fs from "fs";
import * as path from "path";
import { onnx } from "onnx-proto";
import { Gpt2Config, innerSize } from "./config";
import { Checkpoint, loadCheckpoint, LoadOptions, readTokenizerJson, weightsRoot, writeJson } from "./checkpoint";
import { hfConfigJson } from "./config";
import { gpt2TokenizerConfig } from "./tokenizer";

/**
 * Exports a checkpoint to ONNX (opset 17) with a KV cache, in the layout transformers.js loads:
 *   inputs  input_ids, attention_mask, position_ids (int64), past_key_values.{i}.key/value
 *           [batch_size, n_head, past_sequence_length, head_dim]
 *   outputs logits [batch_size, sequence_length, vocab], present.{i}.key/value.
 * The bytes depend only on the weights and the config (no timestamps, fixed node order and names).
 */

export const ONNX_OPSET = 17;
export const ONNX_EXPORTER_VERSION = "posthuman-gpt2-onnx-1";

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;

export class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private n = 0;

  node(op: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], outName?: string, outputs = 1): string[] {
    const base = outName ?? `${op.toLowerCase()}_${this.n}`;
    this.n++;
    const outs = outputs === 1 ? [base] : Array.from({ length: outputs }, (_, i) => `${base}_${i}`);
    this.nodes.push({ opType: op, input: inputs, output: outs, name: `n${this.nodes.length}_${op}`, attribute: attrs });
    return outs;
  }

  op(op: string, inputs: string[], attrs: onnx.IAttributeProto[] = [], outName?: string): string {
    return this.node(op, inputs, attrs, outName)[0];
  }

  floatInit(name: string, data: Float32Array, dims: number[]): string {
    const bytes = new Uint8Array(data.byteLength);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
    this.initializers.push({ name, dataType: F, dims, rawData: bytes });
    return name;
  }

  int64Init(name: string, values: number[], dims: number[] = [values.length]): string {
    const bytes = new Uint8Array(values.length * 8);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dataType: I64, dims, rawData: bytes });
    return name;
  }
}

/**
 * The attention bias [batch, 1, seq, total] from `input_ids` and `attention_mask`: 0 where key j ≤ past + i and
 * attention_mask[j] = 1, else -1e9 (`k` names the scalar and axes initializers it uses).
 */
export function attentionBias(
  g: GraphBuilder,
  k: { zero: string; neg: string; idx1: string; i64zero: string; i64one: string; axes1: string; axes12: string },
): string {
  const total = g.op("Gather", [g.op("Shape", ["attention_mask"]), k.idx1], [intAttr("axis", 0)]);
  const seq = g.op("Gather", [g.op("Shape", ["input_ids"]), k.idx1], [intAttr("axis", 0)]);
  const past = g.op("Sub", [total, seq]);
  const kpos = g.op("Range", [k.i64zero, total, k.i64one]);
  const qpos = g.op("Unsqueeze", [g.op("Range", [past, total, k.i64one]), k.axes1]);
  const causalOk = g.op("Not", [g.op("Greater", [kpos, qpos])]);
  const padOk = g.op("Unsqueeze", [
    g.op("Cast", ["attention_mask"], [intAttr("to", onnx.TensorProto.DataType.BOOL)]),
    k.axes12,
  ]);
  return g.op("Where", [g.op("And", [causalOk, padOk]), k.zero, k.neg], [], "attention_bias");
}

/** Writes a graph derived from a serving export once (to a temporary name, then renamed) and returns its path. */
export function derivedGraphFile(file: string, build: () => Uint8Array): string {
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, build());
    fs.renameSync(tmp, file);
  }
  return file;
}

export const intAttr = (name: string, i: number): onnx.IAttributeProto => ({ name, type: A.INT, i });
export const intsAttr = (name: string, ints: number[]): onnx.IAttributeProto => ({ name, type: A.INTS, ints });
export const floatAttr = (name: string, f: number): onnx.IAttributeProto => ({ name, type: A.FLOAT, f });

export function valueInfo(name: string, elemType: number, dims: Array<number | string>): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function buildOnnxModel(ck: Pick<Checkpoint, "config" | "weights">): Uint8Array {
  const c: Gpt2Config = ck.config;
  const w = ck.weights;
  const d = c.n_embd;
  const H = c.n_head;
  const hd = d / H;
  const g = new GraphBuilder();
  const W = (name: string, dims: number[]): string =>
    g.floatInit(`transformer.${name}`, w.get(name) as Float32Array, dims);

  const wte = W("wte.weight", [c.vocab_size, d]);
  const wpe = W("wpe.weight", [c.n_positions, d]);
  const zero = g.floatInit("const_zero", new Float32Array([0]), []);
  const neg = g.floatInit("const_mask_value", new Float32Array([-1e9]), []);
  const scale = g.floatInit("const_attn_scale", new Float32Array([1 / Math.sqrt(hd)]), []);
  const half = g.floatInit("const_half", new Float32Array([0.5]), []);
  const one = g.floatInit("const_one", new Float32Array([1]), []);
  const erfGelu = c.activation_function === "gelu";
  const invSqrt2 = erfGelu ? g.floatInit("const_inv_sqrt2", new Float32Array([Math.SQRT1_2]), []) : "";
  const geluA = erfGelu ? "" : g.floatInit("const_gelu_a", new Float32Array([0.044715]), []);
  const geluC = erfGelu ? "" : g.floatInit("const_gelu_c", new Float32Array([Math.sqrt(2 / Math.PI)]), []);
  const three = erfGelu ? "" : g.floatInit("const_three", new Float32Array([3]), []);
  const headsShape = g.int64Init("const_heads_shape", [0, 0, H, hd]);
  const mergeShape = g.int64Init("const_merge_shape", [0, 0, d]);
  const flatShape = g.int64Init("const_flat_shape", [-1, d]);
  const splitSizes = g.int64Init("const_qkv_split", [d, d, d]);
  const axes1 = g.int64Init("const_axes_1", [1]);
  const axes12 = g.int64Init("const_axes_1_2", [1, 2]);
  const idx1 = g.int64Init("const_index_1", [1], []);
  const i64zero = g.int64Init("const_i64_zero", [0], []);
  const i64one = g.int64Init("const_i64_one", [1], []);

  // Embeddings.
  const tok = g.op("Gather", [wte, "input_ids"], [intAttr("axis", 0)]);
  const pos = g.op("Gather", [wpe, "position_ids"], [intAttr("axis", 0)]);
  let x = g.op("Add", [tok, pos]);

  const bias = attentionBias(g, { zero, neg, idx1, i64zero, i64one, axes1, axes12 });

  const ln = (input: string, prefix: string): string =>
    g.op(
      "LayerNormalization",
      [input, W(prefix + ".weight", [d]), W(prefix + ".bias", [d])],
      [intAttr("axis", -1), floatAttr("epsilon", c.layer_norm_epsilon)],
    );
  const linear = (input: string, prefix: string, inn: number, out: number): string =>
    g.op("Add", [g.op("MatMul", [input, W(prefix + ".weight", [inn, out])]), W(prefix + ".bias", [out])]);
  const toHeads = (t: string): string =>
    g.op("Transpose", [g.op("Reshape", [t, headsShape])], [intsAttr("perm", [0, 2, 1, 3])]);

  const f = innerSize(c);
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}`;
    const a = ln(x, `${p}.ln_1`);
    const qkv = linear(a, `${p}.attn.c_attn`, d, 3 * d);
    const [q, k, v] = g.node("Split", [qkv, splitSizes], [intAttr("axis", 2)], `${p}_qkv_split`, 3);
    const kAll = g.op("Concat", [`past_key_values.${i}.key`, toHeads(k)], [intAttr("axis", 2)], `present.${i}.key`);
    const vAll = g.op("Concat", [`past_key_values.${i}.value`, toHeads(v)], [intAttr("axis", 2)], `present.${i}.value`);
    const scores = g.op("Mul", [
      g.op("MatMul", [toHeads(q), g.op("Transpose", [kAll], [intsAttr("perm", [0, 1, 3, 2])])]),
      scale,
    ]);
    const probs = g.op("Softmax", [g.op("Add", [scores, bias])], [intAttr("axis", -1)]);
    const ctx = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [probs, vAll])], [intsAttr("perm", [0, 2, 1, 3])]),
      mergeShape,
    ]);
    x = g.op("Add", [x, linear(ctx, `${p}.attn.c_proj`, d, d)]);
    const m = ln(x, `${p}.ln_2`);
    const hpre = linear(m, `${p}.mlp.c_fc`, d, f);
    let act: string;
    if (erfGelu) {
      act = g.op("Mul", [g.op("Mul", [hpre, half]), g.op("Add", [one, g.op("Erf", [g.op("Mul", [hpre, invSqrt2])])])]);
    } else {
      const cube = g.op("Pow", [hpre, three]);
      const inner = g.op("Mul", [g.op("Add", [hpre, g.op("Mul", [cube, geluA])]), geluC]);
      act = g.op("Mul", [g.op("Mul", [hpre, half]), g.op("Add", [one, g.op("Tanh", [inner])])]);
    }
    x = g.op("Add", [x, linear(act, `${p}.mlp.c_proj`, f, d)]);
  }
  const hf = ln(x, "ln_f");
  // Tied head: logits = h · wteᵀ through Gemm(transB) on the shared embedding (no second copy).
  const flat = g.op("Reshape", [hf, flatShape]);
  const logits2d = g.op("Gemm", [flat, wte], [intAttr("transB", 1)]);
  const outShape = g.op(
    "Concat",
    [
      g.op("Slice", [g.op("Shape", ["input_ids"]), g.int64Init("const_s0", [0]), g.int64Init("const_s2", [2])]),
      g.int64Init("const_vocab", [c.vocab_size]),
    ],
    [intAttr("axis", 0)],
  );
  g.op("Reshape", [logits2d, outShape], [], "logits");

  const inputs: onnx.IValueInfoProto[] = [
    valueInfo("input_ids", I64, ["batch_size", "sequence_length"]),
    valueInfo("attention_mask", I64, ["batch_size", "total_sequence_length"]),
    valueInfo("position_ids", I64, ["batch_size", "sequence_length"]),
  ];
  const outputs: onnx.IValueInfoProto[] = [valueInfo("logits", F, ["batch_size", "sequence_length", c.vocab_size])];
  for (let i = 0; i < c.n_layer; i++) {
    for (const kv of ["key", "value"]) {
      inputs.push(valueInfo(`past_key_values.${i}.${kv}`, F, ["batch_size", H, "past_sequence_length", hd]));
      outputs.push(valueInfo(`present.${i}.${kv}`, F, ["batch_size", H, "total_sequence_length", hd]));
    }
  }
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: "posthuman-ml",
    producerVersion: ONNX_EXPORTER_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    graph: { name: "gpt2_with_past", node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export interface ExportResult {
  dir: string;
  onnxPath: string;
  weightsRoot: string;
  bytes: number;
}

/**
 * Writes a serving folder for transformers.js: config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json and onnx/model.onnx (written to a temporary name, then renamed).
 */
export async function exportOnnx(modelDir: string, outDir: string, opts: LoadOptions = {}): Promise<ExportResult> {
  const ck = loadCheckpoint(modelDir, opts);
  const root = await weightsRoot(modelDir);
  fs.mkdirSync(path.join(outDir, "onnx"), { recursive: true });
  writeJson(path.join(outDir, "config.json"), hfConfigJson(ck.config));
  writeJson(path.join(outDir, "generation_config.json"), {
    bos_token_id: ck.config.bos_token_id,
    eos_token_id: ck.config.eos_token_id,
  });
  fs.writeFileSync(path.join(outDir, "tokenizer.json"), JSON.stringify(readTokenizerJson(modelDir)));
  writeJson(path.join(outDir, "tokenizer_config.json"), gpt2TokenizerConfig(ck.config.n_positions));
  const bytes = buildOnnxModel(ck);
  const onnxPath = path.join(outDir, "onnx", "model.onnx");
  const tmp = `${onnxPath}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, onnxPath);
  writeJson(path.join(outDir, "posthuman-export.json"), {
    exporter: ONNX_EXPORTER_VERSION,
    opset: ONNX_OPSET,
    weightsRoot: root,
  });
  return { dir: outDir, onnxPath, weightsRoot: root, bytes: bytes.byteLength };
}
