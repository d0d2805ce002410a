import { Gpt2Config } from "./config";
import { tensorSpecs, Weights } from "./checkpoint";
import { tf } from "./tf-backend";
import { registerGradients } from "./tf-grads";

registerGradients();

/**
 * GPT-2 in TensorFlow.js, written for the wasm backend: the matrix products use explicit transposes
 * (matMul's transpose flags are ~10x slower on wasm), the embedding gather has a scatterND gradient
 * (the built-in one loops over the vocabulary) and the loss has a fused softmax-cross-entropy gradient.
 */

type T = tf.Tensor;
type GradFn = (dy: T, saved: T[]) => T | T[];
type CustomFn = Parameters<typeof tf.customGrad>[0];

/** Typed wrapper over tf.customGrad: `f(save, ...inputs)` returns the value and its gradient function. */
function custom<A extends T[]>(
  f: (save: tf.GradSaveFunc, ...inputs: A) => { value: T; gradFunc: GradFn },
): (...inputs: A) => T {
  const cg = tf.customGrad(((...args: Array<T | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const { value, gradFunc } = f(save, ...(args.slice(0, -1) as A));
    // Each gradient runs in its own scope, so its temporaries (explicit transposes and the packed
    // copies XNNPACK makes of them) are freed at once instead of at the end of the backward pass.
    return { value, gradFunc: (dy: T, saved: T[]) => tf.tidy(() => gradFunc(dy, saved)) };
  }) as CustomFn);
  return (...inputs: A) => cg(...inputs);
}

/** a[m,k] · b[k,n], gradient through explicit transposes. */
export const mm = custom((save: tf.GradSaveFunc, a: T, b: T) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: T, saved: T[]) => {
      const [sa, sb] = saved;
      return [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(sb) as tf.Tensor2D),
        tf.matMul(tf.transpose(sa) as tf.Tensor2D, dy as tf.Tensor2D),
      ];
    },
  };
});

/** a[b,m,k] · b[b,k,n], gradient through explicit transposes. */
export const bmm = custom((save: tf.GradSaveFunc, a: T, b: T) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy: T, saved: T[]) => {
      const [sa, sb] = saved;
      return [
        tf.matMul(dy as tf.Tensor3D, tf.transpose(sb, [0, 2, 1]) as tf.Tensor3D),
        tf.matMul(tf.transpose(sa, [0, 2, 1]) as tf.Tensor3D, dy as tf.Tensor3D),
      ];
    },
  };
});

/** Embedding lookup table[ids]; gradient by scatterND (sums repeated ids). ids: int32 [n]. */
export function embed(table: T, ids: T): T {
  const f = custom((save: tf.GradSaveFunc, tbl: T) => {
    save([ids]);
    return {
      value: tf.gather(tbl, ids),
      gradFunc: (dy: T) => tf.scatterND(tf.reshape(ids, [-1, 1]), dy, tbl.shape),
    };
  });
  return f(table);
}

/** Mean softmax cross-entropy of logits [n, V] against int32 targets [n]; fused gradient. */
export function crossEntropy(logits: T, targets: T): T {
  const [n, v] = logits.shape;
  const f = custom((save: tf.GradSaveFunc, lg: T) => {
    save([lg]);
    const lse = tf.logSumExp(lg, 1);
    const flatIdx = tf.add(tf.mul(tf.range(0, n, 1, "int32"), tf.scalar(v, "int32")), targets);
    const picked = tf.gather(tf.reshape(lg, [-1]), flatIdx);
    return {
      value: tf.mean(tf.sub(lse, picked)),
      gradFunc: (dy: T, saved: T[]) => {
        const p = tf.softmax(saved[0]);
        const onehot = tf.scatterND(tf.stack([tf.range(0, n, 1, "int32"), targets], 1), tf.ones([n]), [n, v]);
        return tf.mul(tf.sub(p, onehot), tf.div(dy, n));
      },
    };
  });
  return f(logits);
}

/** Per-token negative log-likelihood (no gradient), [n]. */
export function tokenNll(logits: T, targets: T): T {
  const [n, v] = logits.shape;
  const lse = tf.logSumExp(logits, 1);
  const flatIdx = tf.add(tf.mul(tf.range(0, n, 1, "int32"), tf.scalar(v, "int32")), targets);
  return tf.sub(lse, tf.gather(tf.reshape(logits, [-1]), flatIdx));
}

/** LayerNorm over the last axis of x [n, d], one custom op with its analytic gradient. */
export function layerNorm(x: T, g: T, b: T, eps: number): T {
  const f = custom((save: tf.GradSaveFunc, xi: T, gi: T, bi: T) => {
    const mean = tf.mean(xi, -1, true);
    const xc = tf.sub(xi, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, gi]);
    return {
      value: tf.add(tf.mul(xhat, gi), bi),
      gradFunc: (dy: T, saved: T[]) => {
        const [sxhat, srstd, sg] = saved;
        const dxhat = tf.mul(dy, sg);
        const m1 = tf.mean(dxhat, -1, true);
        const m2 = tf.mean(tf.mul(dxhat, sxhat), -1, true);
        const dx = tf.mul(tf.sub(tf.sub(dxhat, m1), tf.mul(sxhat, m2)), srstd);
        return [dx, tf.sum(tf.mul(dy, sxhat), 0), tf.sum(dy, 0)];
      },
    };
  });
  return f(x, g, b);
}

const GELU_C = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** GELU (tanh approximation for gelu_new / gelu_pytorch_tanh, erf for gelu), custom gradient. */
export function gelu(x: T, kind: Gpt2Config["activation_function"]): T {
  const f = custom((save: tf.GradSaveFunc, xi: T) => {
    save([xi]);
    let value: T;
    if (kind === "gelu") value = tf.mul(tf.mul(xi, 0.5), tf.add(1, tf.erf(tf.mul(xi, Math.SQRT1_2))));
    else
      value = tf.mul(
        tf.mul(xi, 0.5),
        tf.add(1, tf.tanh(tf.mul(tf.add(xi, tf.mul(tf.mul(tf.mul(xi, xi), xi), 0.044715)), GELU_C))),
      );
    return {
      value,
      gradFunc: (dy: T, saved: T[]) => {
        const xs = saved[0];
        let d: T;
        if (kind === "gelu") {
          const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(xs, Math.SQRT1_2))));
          const pdf = tf.mul(tf.exp(tf.mul(tf.mul(xs, xs), -0.5)), INV_SQRT_2PI);
          d = tf.add(cdf, tf.mul(xs, pdf));
        } else {
          const x2 = tf.mul(xs, xs);
          const th = tf.tanh(tf.mul(tf.add(xs, tf.mul(tf.mul(x2, xs), 0.044715)), GELU_C));
          const du = tf.mul(tf.add(1, tf.mul(x2, 3 * 0.044715)), GELU_C);
          d = tf.add(tf.mul(0.5, tf.add(1, th)), tf.mul(tf.mul(tf.mul(xs, 0.5), tf.sub(1, tf.mul(th, th))), du));
        }
        return tf.mul(dy, d);
      },
    };
  });
  return f(x);
}

/** softmax(scores · scale + mask) over the last axis; custom gradient. */
export function maskedSoftmax(scores: T, scale: number, mask: T): T {
  const f = custom((save: tf.GradSaveFunc, s: T) => {
    const y = tf.softmax(tf.add(tf.mul(s, scale), mask));
    save([y]);
    return {
      value: y,
      gradFunc: (dy: T, saved: T[]) => {
        const ys = saved[0];
        return tf.mul(tf.mul(ys, tf.sub(dy, tf.sum(tf.mul(dy, ys), -1, true))), scale);
      },
    };
  });
  return f(scores);
}

export type Params = Map<string, T>;

let variableUid = 0;

export function paramsFromWeights(c: Gpt2Config, w: Weights, trainable: boolean): Map<string, tf.Variable | T> {
  const out = new Map<string, tf.Variable | T>();
  const uid = ++variableUid;
  for (const [name, shape] of tensorSpecs(c)) {
    const t = tf.tensor(w.get(name) as Float32Array, shape, "float32");
    if (trainable) {
      out.set(name, tf.variable(t, true, `${name}#${uid}`));
      t.dispose();
    } else out.set(name, t);
  }
  return out;
}

export function weightsFromParams(c: Gpt2Config, p: Map<string, T>): Weights {
  const w: Weights = new Map();
  for (const [name] of tensorSpecs(c)) w.set(name, (p.get(name) as T).dataSync() as Float32Array);
  return w;
}

const maskCache = new Map<number, T>();
function causalMask(t: number): T {
  let m = maskCache.get(t);
  if (!m) {
    const data = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = -1e9;
    m = tf.keep(tf.tensor2d(data, [t, t]));
    maskCache.set(t, m);
  }
  return m;
}

/** Logits [b·t, V] for int32 ids [b, t]. */
export function forward(c: Gpt2Config, p: Map<string, T>, ids: T): T {
  const [b, t] = ids.shape;
  const d = c.n_embd;
  const h = c.n_head;
  const hd = d / h;
  const g = (name: string): T => p.get(name) as T;
  const flatIds = tf.reshape(ids, [-1]);
  const pos = tf.slice(g("wpe.weight"), [0, 0], [t, d]);
  let x = tf.add(tf.reshape(embed(g("wte.weight"), flatIds), [b, t, d]), pos);
  x = tf.reshape(x, [b * t, d]);
  const mask = causalMask(t);
  const scale = 1 / Math.sqrt(hd);
  const heads = (y: T): T => tf.reshape(tf.transpose(tf.reshape(y, [b, t, h, hd]), [0, 2, 1, 3]), [b * h, t, hd]);
  for (let i = 0; i < c.n_layer; i++) {
    const pre = `h.${i}.`;
    const a = layerNorm(x, g(pre + "ln_1.weight"), g(pre + "ln_1.bias"), c.layer_norm_epsilon);
    const qkv = tf.add(mm(a, g(pre + "attn.c_attn.weight")), g(pre + "attn.c_attn.bias"));
    const [q, k, v] = tf.split(qkv, 3, 1);
    const kt = tf.transpose(heads(k), [0, 2, 1]);
    const probs = maskedSoftmax(bmm(heads(q), kt), scale, mask);
    const ctx = bmm(probs, heads(v));
    const merged = tf.reshape(tf.transpose(tf.reshape(ctx, [b, h, t, hd]), [0, 2, 1, 3]), [b * t, d]);
    x = tf.add(x, tf.add(mm(merged, g(pre + "attn.c_proj.weight")), g(pre + "attn.c_proj.bias")));
    const m = layerNorm(x, g(pre + "ln_2.weight"), g(pre + "ln_2.bias"), c.layer_norm_epsilon);
    const f = gelu(tf.add(mm(m, g(pre + "mlp.c_fc.weight")), g(pre + "mlp.c_fc.bias")), c.activation_function);
    x = tf.add(x, tf.add(mm(f, g(pre + "mlp.c_proj.weight")), g(pre + "mlp.c_proj.bias")));
  }
  x = layerNorm(x, g("ln_f.weight"), g("ln_f.bias"), c.layer_norm_epsilon);
  return mm(x, tf.transpose(g("wte.weight")));
}

export { forwardFlops } from "./config";

/** Logits for ids [b][t] as a Float32Array [b, t, V] (no gradient). */
export function logitsOf(c: Gpt2Config, w: Weights, ids: number[][]): Float32Array {
  return tf.tidy(() => {
    const p = paramsFromWeights(c, w, false);
    const x = tf.tensor2d(ids, [ids.length, ids[0].length], "int32");
    const out = forward(c, p as Map<string, T>, x).dataSync() as Float32Array;
    return out;
  });
}
