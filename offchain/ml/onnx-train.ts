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

export const TRAIN_GRAPH_VERSION = "posthuman-gpt2-train-1";

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
  const c = spec.config;
  const B = spec.batch;
  const T = spec.ctx;
  const N = B * T;
  const d = c.n_embd;
  const H = c.n_head;
  const hd = d / H;
  const eps = c.layer_norm_epsilon;
  const g = new GraphBuilder();
  const op = g.op.bind(g);
  const W = (name: string): string => `w.${name}`;
  const cf = (name: string, v: number): string => g.floatInit(name, new Float32Array([v]), []);
  const ci = (name: string, v: number[]): string => g.int64Init(name, v);

  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
  const maskT = g.floatInit("const_causal_mask", mask, [T, T]);
  const positions = g.int64Init(
    "const_positions",
    Array.from({ length: N }, (_, i) => i % T),
    [N],
  );
  const scale = cf("const_scale", 1 / Math.sqrt(hd));
  const half = cf("const_half", 0.5);
  const one = cf("const_one", 1);
  const invN = cf("const_inv_n", 1 / N);
  const headsShape = ci("const_heads_shape", [B, T, H, hd]);
  const flatShape = ci("const_flat_shape", [N, d]);
  const bt = ci("const_btd", [B, T, d]);
  const ax0 = ci("const_axes_0", [0]);
  const axLast = ci("const_axes_last", [-1]);
  const split3 = ci("const_split3", [d, d, d]);

  const sum0 = (x: string): string => op("ReduceSum", [x, ax0], [intAttr("keepdims", 0)]);
  const meanLast = (x: string): string => op("ReduceMean", [x], [intsAttr("axes", [-1]), intAttr("keepdims", 1)]);
  const toHeads = (x: string): string =>
    op("Transpose", [op("Reshape", [x, headsShape])], [intsAttr("perm", [0, 2, 1, 3])]);
  const fromHeads = (x: string): string =>
    op("Reshape", [op("Transpose", [x], [intsAttr("perm", [0, 2, 1, 3])]), flatShape]);
  const swapLast = (x: string): string => op("Transpose", [x], [intsAttr("perm", [0, 1, 3, 2])]);
  const linear = (x: string, prefix: string): string => op("Gemm", [x, W(prefix + ".weight"), W(prefix + ".bias")]);
  /** LayerNormalization with its saved mean and inverse std; returns y, rstd and x̂. */
  const layerNorm = (x: string, prefix: string): { y: string; rstd: string; xhat: string } => {
    const [y, mean, rstd] = g.node(
      "LayerNormalization",
      [x, W(prefix + ".weight"), W(prefix + ".bias")],
      [intAttr("axis", -1), floatAttr("epsilon", eps)],
      undefined,
      3,
    );
    return { y, rstd, xhat: spec.backward ? op("Mul", [op("Sub", [x, mean]), rstd]) : "" };
  };
  const erf = c.activation_function === "gelu";
  const geluC = cf("const_gelu_c", Math.sqrt(2 / Math.PI));
  const geluA = cf("const_gelu_a", 0.044715);
  const gelu3A = cf("const_gelu_3a", 3 * 0.044715);
  const invSqrt2 = cf("const_inv_sqrt2", Math.SQRT1_2);
  const invSqrt2Pi = cf("const_inv_sqrt_2pi", 1 / Math.sqrt(2 * Math.PI));
  const negHalf = cf("const_neg_half", -0.5);
  const gelu = (x: string): string => {
    if (erf) return op("Mul", [op("Mul", [x, half]), op("Add", [one, op("Erf", [op("Mul", [x, invSqrt2])])])]);
    const x3 = op("Mul", [op("Mul", [x, x]), x]);
    const th = op("Tanh", [op("Mul", [op("Add", [x, op("Mul", [x3, geluA])]), geluC])]);
    return op("Mul", [op("Mul", [x, half]), op("Add", [one, th])]);
  };
  /** dGELU/dx at x (recomputed from the pre-activation). */
  const geluGrad = (x: string): string => {
    if (erf) {
      const cdf = op("Mul", [half, op("Add", [one, op("Erf", [op("Mul", [x, invSqrt2])])])]);
      const pdf = op("Mul", [op("Exp", [op("Mul", [op("Mul", [x, x]), negHalf])]), invSqrt2Pi]);
      return op("Add", [cdf, op("Mul", [x, pdf])]);
    }
    const x2 = op("Mul", [x, x]);
    const th = op("Tanh", [op("Mul", [op("Add", [x, op("Mul", [op("Mul", [x2, x]), geluA])]), geluC])]);
    const du = op("Mul", [op("Add", [one, op("Mul", [x2, gelu3A])]), geluC]);
    const left = op("Mul", [half, op("Add", [one, th])]);
    const right = op("Mul", [op("Mul", [op("Mul", [x, half]), op("Sub", [one, op("Mul", [th, th])])]), du]);
    return op("Add", [left, right]);
  };

  // ---- forward ----
  const x0 = op("Add", [op("Gather", [W("wte.weight"), "input_ids"]), op("Gather", [W("wpe.weight"), positions])]);
  let x = x0;
  const saved: LayerSaved[] = [];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}`;
    const ln1 = layerNorm(x, `${p}.ln_1`);
    const qkv = linear(ln1.y, `${p}.attn.c_attn`);
    const [q, k, v] = g.node("Split", [qkv, split3], [intAttr("axis", 1)], `${p}_qkv`, 3);
    const qh = toHeads(q);
    const kh = toHeads(k);
    const vh = toHeads(v);
    const scores = op("Add", [op("Mul", [op("MatMul", [qh, swapLast(kh)]), scale]), maskT]);
    const probs = op("Softmax", [scores], [intAttr("axis", -1)]);
    const ctx2d = fromHeads(op("MatMul", [probs, vh]));
    const x1 = op("Add", [x, linear(ctx2d, `${p}.attn.c_proj`)]);
    const ln2 = layerNorm(x1, `${p}.ln_2`);
    const hpre = linear(ln2.y, `${p}.mlp.c_fc`);
    const act = gelu(hpre);
    const x2 = op("Add", [x1, linear(act, `${p}.mlp.c_proj`)]);
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
  const lnf = layerNorm(x, "ln_f");
  const logits = op("Gemm", [lnf.y, W("wte.weight")], [intAttr("transB", 1)]);
  const lse = op("ReduceLogSumExp", [logits], [intsAttr("axes", [1]), intAttr("keepdims", 1)]);
  const picked = op("GatherElements", [logits, "targets"], [intAttr("axis", 1)]);
  const nll = op("Sub", [lse, picked]);
  op("ReduceSum", [nll], [intAttr("keepdims", 0)], "nll_sum");
  op("Mul", ["nll_sum", invN], [], "loss");

  const outputs: onnx.IValueInfoProto[] = [valueInfo("loss", F, []), valueInfo("nll_sum", F, [])];
  if (spec.backward) {
    const grads = new Map<string, string>();
    const setGrad = (name: string, value: string): void => void grads.set(name, value);
    /** LayerNorm backward: dx, and the parameter gradients. */
    const lnBack = (dy: string, xhat: string, rstd: string, prefix: string): string => {
      const dxhat = op("Mul", [dy, W(prefix + ".weight")]);
      const m1 = meanLast(dxhat);
      const m2 = meanLast(op("Mul", [dxhat, xhat]));
      setGrad(prefix + ".weight", sum0(op("Mul", [dy, xhat])));
      setGrad(prefix + ".bias", sum0(dy));
      return op("Mul", [op("Sub", [op("Sub", [dxhat, m1]), op("Mul", [xhat, m2])]), rstd]);
    };
    /** Linear backward (y = x·W + b): gradients of W and b, returns dx. */
    const linBack = (dy: string, xin: string, prefix: string): string => {
      setGrad(prefix + ".weight", op("Gemm", [xin, dy], [intAttr("transA", 1)]));
      setGrad(prefix + ".bias", sum0(dy));
      return op("Gemm", [dy, W(prefix + ".weight")], [intAttr("transB", 1)]);
    };

    // Fused softmax-cross-entropy: dlogits = (softmax − onehot) / N.
    const sm = op("Softmax", [logits], [intAttr("axis", 1)]);
    const smPicked = op("GatherElements", [sm, "targets"], [intAttr("axis", 1)]);
    const onehotFix = op("ScatterElements", [sm, "targets", op("Sub", [smPicked, one])], [intAttr("axis", 1)]);
    const dlogits = op("Mul", [onehotFix, invN]);
    // Tied head: logits = h·wteᵀ.
    const dwteHead = op("Gemm", [dlogits, lnf.y], [intAttr("transA", 1)]);
    let dx = lnBack(op("MatMul", [dlogits, W("wte.weight")]), lnf.xhat, lnf.rstd, "ln_f");
    for (let i = c.n_layer - 1; i >= 0; i--) {
      const p = `h.${i}`;
      const s = saved[i];
      // x2 = x1 + mlp(ln_2(x1))
      const dact = linBack(dx, s.act, `${p}.mlp.c_proj`);
      const dhpre = op("Mul", [dact, geluGrad(s.hpre)]);
      const dm = linBack(dhpre, s.m, `${p}.mlp.c_fc`);
      const dx1 = op("Add", [dx, lnBack(dm, s.m_xhat, s.m_rstd, `${p}.ln_2`)]);
      // x1 = x + attn(ln_1(x))
      const dctx = toHeads(linBack(dx1, s.ctx2d, `${p}.attn.c_proj`));
      const dprobs = op("MatMul", [dctx, swapLast(s.vh)]);
      const dvh = op("MatMul", [swapLast(s.probs), dctx]);
      const inner = op("ReduceSum", [op("Mul", [dprobs, s.probs]), axLast], [intAttr("keepdims", 1)]);
      const dscores = op("Mul", [op("Mul", [s.probs, op("Sub", [dprobs, inner])]), scale]);
      const dqh = op("MatMul", [dscores, s.kh]);
      const dkh = op("MatMul", [swapLast(dscores), s.qh]);
      const dqkv = op("Concat", [fromHeads(dqh), fromHeads(dkh), fromHeads(dvh)], [intAttr("axis", 1)]);
      const da = linBack(dqkv, s.a, `${p}.attn.c_attn`);
      dx = op("Add", [dx1, lnBack(da, s.a_xhat, s.a_rstd, `${p}.ln_1`)]);
    }
    // Embeddings: the token rows scatter-add into the head's gradient; positions sum over the batch.
    const ids2 = op("Unsqueeze", ["input_ids", ci("const_axes_1", [1])]);
    setGrad(
      "wte.weight",
      op(
        "ScatterND",
        [dwteHead, ids2, dx],
        [{ name: "reduction", type: onnx.AttributeProto.AttributeType.STRING, s: enc("add") }],
      ),
    );
    const dpos = sum0(op("Reshape", [dx, bt]));
    setGrad(
      "wpe.weight",
      c.n_positions > T ? op("Pad", [dpos, ci("const_wpe_pads", [0, 0, c.n_positions - T, 0])]) : dpos,
    );
    const sq: string[] = [];
    for (const [name] of tensorSpecs(c)) {
      const gname = grads.get(name);
      if (!gname) throw new Error(`training graph: no gradient for ${name}`);
      op("Identity", [gname], [], `g.${name}`);
      sq.push(op("ReduceSumSquare", [gname], [intAttr("keepdims", 0)]));
    }
    op("Sum", sq, [], "grad_sumsq");
    for (const [name, shape] of tensorSpecs(c)) outputs.push(valueInfo(`g.${name}`, F, shape));
    outputs.push(valueInfo("grad_sumsq", F, []));
  }

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

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
