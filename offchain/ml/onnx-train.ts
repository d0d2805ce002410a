import { onnx } from "onnx-proto";
import { tensorSpecs } from "./checkpoint";
import { Gpt2Config } from "./config";
import { floatAttr, GraphBuilder, intAttr, intsAttr, ONNX_OPSET, valueInfo } from "./onnx-export";

/**
 * GPT-2's training step as one ONNX graph (opset 17, static shapes for one batch × context), run by
 * onnxruntime's multi-threaded CPU kernels:
 *   inputs  input_ids [N] and targets [N, 1] (int64, N = batch · context, windows row after row),
 *           one float input per parameter, named `w.<tensor name>` (the checkpoint's names and shapes);
 *   outputs loss (mean next-token cross-entropy, a scalar), nll_sum (its sum), and with `backward`
 *           `g.<tensor name>` for every parameter and grad_sumsq (Σ of all squared gradients, for clipping).
 * The backward pass is written out by hand: the analytic gradients of offchain/ml/gpt2-tf.ts (fused
 * softmax-cross-entropy, layer norm, GELU, masked softmax, the matmuls through transposed products, the
 * embedding gradient as a scatter-add, the tied head adding into the embedding's gradient).
 * Parameters are inputs, not initializers, so they stay in the caller's buffers between steps.
 */

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;

export const TRAIN_GRAPH_VERSION = "posthuman-gpt2-train-2";

export interface TrainGraphSpec {
  config: Gpt2Config;
  batch: number;
  ctx: number;
  backward: boolean;
}

interface LayerSaved {
  x: string;
  a: string;
  a_rstd: string;
  a_xhat: string;
  qh: string;
  kh: string;
  vh: string;
  probs: string;
  ctx2d: string;
  x1: string;
  m: string;
  m_rstd: string;
  m_xhat: string;
  hpre: string;
  act: string;
}

export function buildTrainGraph(spec: TrainGraphSpec): Uint8Array {
  const k = trainGraphKit(spec);
  const { c, g, N } = k;
  const { saved, lnf, logits } = forward(k);
  const outputs: onnx.IValueInfoProto[] = [valueInfo("loss", F, []), valueInfo("nll_sum", F, [])];
  if (spec.backward) outputs.push(...backward(k, saved, lnf, logits));

  const inputs: onnx.IValueInfoProto[] = [valueInfo("input_ids", I64, [N]), valueInfo("targets", I64, [N, 1])];
  for (const [name, shape] of tensorSpecs(c)) inputs.push(valueInfo(W(name), F, shape));
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: "posthuman-ml",
    producerVersion: TRAIN_GRAPH_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    graph: { name: "gpt2_train_step", node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** The graph being built, the step's shapes and the constants its nodes share. */
interface TrainGraphKit {
  spec: TrainGraphSpec;
  c: Gpt2Config;
  g: GraphBuilder;
  op: GraphBuilder["op"];
  T: number;
  N: number;
  eps: number;
  /** The activation is GELU with erf (`gelu`), not the tanh approximation. */
  erf: boolean;
  maskT: string;
  positions: string;
  scale: string;
  half: string;
  one: string;
  invN: string;
  headsShape: string;
  flatShape: string;
  bt: string;
  ax0: string;
  axLast: string;
  split3: string;
  geluC: string;
  geluA: string;
  gelu3A: string;
  invSqrt2: string;
  invSqrt2Pi: string;
  negHalf: string;
}

/** A layer norm's output, and the inverse std and x̂ its backward needs. */
interface LnOut {
  y: string;
  rstd: string;
  xhat: string;
}

/** The name of a parameter's graph input. */
const W = (name: string): string => `w.${name}`;

/** A scalar float initializer. */
function cf(g: GraphBuilder, name: string, v: number): string {
  return g.floatInit(name, new Float32Array([v]), []);
}

/** A new graph with the step's shapes and its constants (the causal mask, positions, scales, shapes and axes). */
function trainGraphKit(spec: TrainGraphSpec): TrainGraphKit {
  const c = spec.config;
  const B = spec.batch;
  const T = spec.ctx;
  const N = B * T;
  const d = c.n_embd;
  const H = c.n_head;
  const hd = d / H;
  const g = new GraphBuilder();
  const ci = (name: string, v: number[]): string => g.int64Init(name, v);

  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
  return {
    spec,
    c,
    g,
    op: g.op.bind(g),
    T,
    N,
    eps: c.layer_norm_epsilon,
    erf: c.activation_function === "gelu",
    // In this order: the initializers' order is part of the graph's bytes.
    maskT: g.floatInit("const_causal_mask", mask, [T, T]),
    positions: g.int64Init(
      "const_positions",
      Array.from({ length: N }, (_, i) => i % T),
      [N],
    ),
    scale: cf(g, "const_scale", 1 / Math.sqrt(hd)),
    half: cf(g, "const_half", 0.5),
    one: cf(g, "const_one", 1),
    invN: cf(g, "const_inv_n", 1 / N),
    headsShape: ci("const_heads_shape", [B, T, H, hd]),
    flatShape: ci("const_flat_shape", [N, d]),
    bt: ci("const_btd", [B, T, d]),
    ax0: ci("const_axes_0", [0]),
    axLast: ci("const_axes_last", [-1]),
    split3: ci("const_split3", [d, d, d]),
    geluC: cf(g, "const_gelu_c", Math.sqrt(2 / Math.PI)),
    geluA: cf(g, "const_gelu_a", 0.044715),
    gelu3A: cf(g, "const_gelu_3a", 3 * 0.044715),
    invSqrt2: cf(g, "const_inv_sqrt2", Math.SQRT1_2),
    invSqrt2Pi: cf(g, "const_inv_sqrt_2pi", 1 / Math.sqrt(2 * Math.PI)),
    negHalf: cf(g, "const_neg_half", -0.5),
  };
}

/** Σ over the first axis. */
function sum0(k: TrainGraphKit, x: string): string {
  return k.op("ReduceSum", [x, k.ax0], [intAttr("keepdims", 0)]);
}
/** Mean over the last axis, kept. */
function meanLast(k: TrainGraphKit, x: string): string {
  return k.op("ReduceMean", [x], [intsAttr("axes", [-1]), intAttr("keepdims", 1)]);
}
/** [N, d] → [B, H, T, hd]. */
function toHeads(k: TrainGraphKit, x: string): string {
  return k.op("Transpose", [k.op("Reshape", [x, k.headsShape])], [intsAttr("perm", [0, 2, 1, 3])]);
}
/** [B, H, T, hd] → [N, d]. */
function fromHeads(k: TrainGraphKit, x: string): string {
  return k.op("Reshape", [k.op("Transpose", [x], [intsAttr("perm", [0, 2, 1, 3])]), k.flatShape]);
}
/** Swaps the last two axes. */
function swapLast(k: TrainGraphKit, x: string): string {
  return k.op("Transpose", [x], [intsAttr("perm", [0, 1, 3, 2])]);
}
/** x·W + b with the parameters under `prefix`. */
function linear(k: TrainGraphKit, x: string, prefix: string): string {
  return k.op("Gemm", [x, W(prefix + ".weight"), W(prefix + ".bias")]);
}

/** LayerNormalization with its saved mean and inverse std; returns y, rstd and x̂. */
function layerNorm(k: TrainGraphKit, x: string, prefix: string): LnOut {
  const [y, mean, rstd] = k.g.node(
    "LayerNormalization",
    [x, W(prefix + ".weight"), W(prefix + ".bias")],
    [intAttr("axis", -1), floatAttr("epsilon", k.eps)],
    undefined,
    3,
  );
  return { y, rstd, xhat: k.spec.backward ? k.op("Mul", [k.op("Sub", [x, mean]), rstd]) : "" };
}

/** GELU of x (erf, or the tanh approximation of `gelu_new`). */
function gelu(k: TrainGraphKit, x: string): string {
  const { op, half, one } = k;
  if (k.erf) return op("Mul", [op("Mul", [x, half]), op("Add", [one, op("Erf", [op("Mul", [x, k.invSqrt2])])])]);
  const x3 = op("Mul", [op("Mul", [x, x]), x]);
  const th = op("Tanh", [op("Mul", [op("Add", [x, op("Mul", [x3, k.geluA])]), k.geluC])]);
  return op("Mul", [op("Mul", [x, half]), op("Add", [one, th])]);
}

/** dGELU/dx at x (recomputed from the pre-activation). */
function geluGrad(k: TrainGraphKit, x: string): string {
  const { op, half, one, geluA, geluC } = k;
  if (k.erf) {
    const cdf = op("Mul", [half, op("Add", [one, op("Erf", [op("Mul", [x, k.invSqrt2])])])]);
    const pdf = op("Mul", [op("Exp", [op("Mul", [op("Mul", [x, x]), k.negHalf])]), k.invSqrt2Pi]);
    return op("Add", [cdf, op("Mul", [x, pdf])]);
  }
  const x2 = op("Mul", [x, x]);
  const th = op("Tanh", [op("Mul", [op("Add", [x, op("Mul", [op("Mul", [x2, x]), geluA])]), geluC])]);
  const du = op("Mul", [op("Add", [one, op("Mul", [x2, k.gelu3A])]), geluC]);
  const left = op("Mul", [half, op("Add", [one, th])]);
  const right = op("Mul", [op("Mul", [op("Mul", [x, half]), op("Sub", [one, op("Mul", [th, th])])]), du]);
  return op("Add", [left, right]);
}

/** The forward pass through the loss (outputs loss and nll_sum); returns what the backward pass needs. */
function forward(k: TrainGraphKit): { saved: LayerSaved[]; lnf: LnOut; logits: string } {
  const { c, g, op } = k;
  const x0 = op("Add", [op("Gather", [W("wte.weight"), "input_ids"]), op("Gather", [W("wpe.weight"), k.positions])]);
  let x = x0;
  const saved: LayerSaved[] = [];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}`;
    const ln1 = layerNorm(k, x, `${p}.ln_1`);
    const qkv = linear(k, ln1.y, `${p}.attn.c_attn`);
    const [q, kk, v] = g.node("Split", [qkv, k.split3], [intAttr("axis", 1)], `${p}_qkv`, 3);
    const qh = toHeads(k, q);
    const kh = toHeads(k, kk);
    const vh = toHeads(k, v);
    const scores = op("Add", [op("Mul", [op("MatMul", [qh, swapLast(k, kh)]), k.scale]), k.maskT]);
    const probs = op("Softmax", [scores], [intAttr("axis", -1)]);
    const ctx2d = fromHeads(k, op("MatMul", [probs, vh]));
    const x1 = op("Add", [x, linear(k, ctx2d, `${p}.attn.c_proj`)]);
    const ln2 = layerNorm(k, x1, `${p}.ln_2`);
    const hpre = linear(k, ln2.y, `${p}.mlp.c_fc`);
    const act = gelu(k, hpre);
    const x2 = op("Add", [x1, linear(k, act, `${p}.mlp.c_proj`)]);
    saved.push({
      x,
      a: ln1.y,
      a_rstd: ln1.rstd,
      a_xhat: ln1.xhat,
      qh,
      kh,
      vh,
      probs,
      ctx2d,
      x1,
      m: ln2.y,
      m_rstd: ln2.rstd,
      m_xhat: ln2.xhat,
      hpre,
      act,
    });
    x = x2;
  }
  const lnf = layerNorm(k, x, "ln_f");
  const logits = op("Gemm", [lnf.y, W("wte.weight")], [intAttr("transB", 1)]);
  const lse = op("ReduceLogSumExp", [logits], [intsAttr("axes", [1]), intAttr("keepdims", 1)]);
  const picked = op("GatherElements", [logits, "targets"], [intAttr("axis", 1)]);
  const nll = op("Sub", [lse, picked]);
  op("ReduceSum", [nll], [intAttr("keepdims", 0)], "nll_sum");
  op("Mul", ["nll_sum", k.invN], [], "loss");
  return { saved, lnf, logits };
}

/**
 * The backward pass: every parameter's gradient as output `g.<name>`, and grad_sumsq; returns those outputs' value
 * infos.
 */
function backward(k: TrainGraphKit, saved: LayerSaved[], lnf: LnOut, logits: string): onnx.IValueInfoProto[] {
  const { c, op, one, T } = k;
  const grads = new Map<string, string>();
  const setGrad = (name: string, value: string): void => void grads.set(name, value);
  /** LayerNorm backward: dx, and the parameter gradients. */
  const lnBack = (dy: string, xhat: string, rstd: string, prefix: string): string => {
    const dxhat = op("Mul", [dy, W(prefix + ".weight")]);
    const m1 = meanLast(k, dxhat);
    const m2 = meanLast(k, op("Mul", [dxhat, xhat]));
    setGrad(prefix + ".weight", sum0(k, op("Mul", [dy, xhat])));
    setGrad(prefix + ".bias", sum0(k, dy));
    return op("Mul", [op("Sub", [op("Sub", [dxhat, m1]), op("Mul", [xhat, m2])]), rstd]);
  };
  /** Linear backward (y = x·W + b): gradients of W and b, returns dx. */
  const linBack = (dy: string, xin: string, prefix: string): string => {
    setGrad(prefix + ".weight", op("Gemm", [xin, dy], [intAttr("transA", 1)]));
    setGrad(prefix + ".bias", sum0(k, dy));
    return op("Gemm", [dy, W(prefix + ".weight")], [intAttr("transB", 1)]);
  };

  // Fused softmax-cross-entropy: dlogits = (softmax − onehot) / N, the 1/N applied as the alpha of the two
  // products that read it (no [N, vocab] scaling pass; exact when N is a power of two).
  const sm = op("Softmax", [logits], [intAttr("axis", 1)]);
  const smPicked = op("GatherElements", [sm, "targets"], [intAttr("axis", 1)]);
  const smMinusOnehot = op("ScatterElements", [sm, "targets", op("Sub", [smPicked, one])], [intAttr("axis", 1)]);
  const alpha = floatAttr("alpha", 1 / k.N);
  // Tied head: logits = h·wteᵀ.
  const dwteHead = op("Gemm", [smMinusOnehot, lnf.y], [intAttr("transA", 1), alpha]);
  const dlnf = op("Gemm", [smMinusOnehot, W("wte.weight")], [alpha]);
  let dx = lnBack(dlnf, lnf.xhat, lnf.rstd, "ln_f");
  for (let i = c.n_layer - 1; i >= 0; i--) {
    const p = `h.${i}`;
    const s = saved[i];
    // x2 = x1 + mlp(ln_2(x1))
    const dact = linBack(dx, s.act, `${p}.mlp.c_proj`);
    const dhpre = op("Mul", [dact, geluGrad(k, s.hpre)]);
    const dm = linBack(dhpre, s.m, `${p}.mlp.c_fc`);
    const dx1 = op("Add", [dx, lnBack(dm, s.m_xhat, s.m_rstd, `${p}.ln_2`)]);
    // x1 = x + attn(ln_1(x))
    const dctx = toHeads(k, linBack(dx1, s.ctx2d, `${p}.attn.c_proj`));
    const dprobs = op("MatMul", [dctx, swapLast(k, s.vh)]);
    const dvh = op("MatMul", [swapLast(k, s.probs), dctx]);
    const inner = op("ReduceSum", [op("Mul", [dprobs, s.probs]), k.axLast], [intAttr("keepdims", 1)]);
    const dscores = op("Mul", [op("Mul", [s.probs, op("Sub", [dprobs, inner])]), k.scale]);
    const dqh = op("MatMul", [dscores, s.kh]);
    const dkh = op("MatMul", [swapLast(k, dscores), s.qh]);
    const dqkv = op("Concat", [fromHeads(k, dqh), fromHeads(k, dkh), fromHeads(k, dvh)], [intAttr("axis", 1)]);
    const da = linBack(dqkv, s.a, `${p}.attn.c_attn`);
    dx = op("Add", [dx1, lnBack(da, s.a_xhat, s.a_rstd, `${p}.ln_1`)]);
  }
  // Embeddings: the token rows scatter-add into the head's gradient; positions sum over the batch.
  const ids2 = op("Unsqueeze", ["input_ids", k.g.int64Init("const_axes_1", [1])]);
  setGrad(
    "wte.weight",
    op(
      "ScatterND",
      [dwteHead, ids2, dx],
      [{ name: "reduction", type: onnx.AttributeProto.AttributeType.STRING, s: enc("add") }],
    ),
  );
  const dpos = sum0(k, op("Reshape", [dx, k.bt]));
  setGrad(
    "wpe.weight",
    c.n_positions > T ? op("Pad", [dpos, k.g.int64Init("const_wpe_pads", [0, 0, c.n_positions - T, 0])]) : dpos,
  );
  // Each gradient's producing node writes the output `g.<name>` itself (no Identity copy): with the caller's
  // preallocated output buffers, onnxruntime computes the gradients in place there.
  const rename = new Map<string, string>();
  for (const [name] of tensorSpecs(c)) {
    const gname = grads.get(name);
    if (!gname) throw new Error(`training graph: no gradient for ${name}`);
    rename.set(gname, `g.${name}`);
  }
  for (const n of k.g.nodes) {
    n.input = (n.input ?? []).map((i) => rename.get(i) ?? i);
    n.output = (n.output ?? []).map((o) => rename.get(o) ?? o);
  }
  const sq: string[] = [];
  for (const [name] of tensorSpecs(c)) sq.push(op("ReduceSumSquare", [`g.${name}`], [intAttr("keepdims", 0)]));
  // Left to right, as Sum adds on the CPU (same bits); Sum has no WebGPU kernel (its inputs would each be copied to
  // the CPU, a wait on the GPU apiece), Add has.
  let acc = sq[0];
  for (let i = 1; i < sq.length; i++) acc = op("Add", [acc, sq[i]], [], i === sq.length - 1 ? "grad_sumsq" : undefined);
  const outputs: onnx.IValueInfoProto[] = [];
  for (const [name, shape] of tensorSpecs(c)) outputs.push(valueInfo(`g.${name}`, F, shape));
  outputs.push(valueInfo("grad_sumsq", F, []));
  return outputs;
}

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
