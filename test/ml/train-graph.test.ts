import { expect } from "chai";
import * as path from "path";
import { Gpt2Config, initWeights, PRESETS, saveCheckpoint, Weights } from "../../offchain/ml";
import { crossEntropy, forward, paramsFromWeights } from "../../offchain/ml/gpt2-tf";
import { disposeServed, loadServed, onnxLogits } from "../../offchain/ml/serve";
import { ensureWasmBackend, tf } from "../../offchain/ml/tf-backend";
import { OrtTrainer } from "../../offchain/ml/train-ort";
import { referenceLogits, tmpDir } from "./helpers";

/** Weights with the init's symmetry broken (biases and layer norms away from 0 and 1). */
function perturbed(c: Gpt2Config, seed: string): Weights {
  const w = initWeights(c, seed);
  for (const [name, t] of w)
    if (name.includes("ln_") || name.endsWith(".bias"))
      for (let i = 0; i < t.length; i++) t[i] += 0.1 * Math.cos(3 * i + name.length);
  return w;
}

/** Mean float64 cross-entropy of rows of logits against targets. */
function meanCe(rows: ArrayLike<number>[], targets: number[]): number {
  let sum = 0;
  rows.forEach((row, i) => {
    let max = -Infinity;
    for (let v = 0; v < row.length; v++) max = Math.max(max, row[v]);
    let z = 0;
    for (let v = 0; v < row.length; v++) z += Math.exp(row[v] - max);
    sum += max + Math.log(z) - row[targets[i]];
  });
  return sum / rows.length;
}

describe("ml/train-graph: the onnxruntime training step (forward, hand-written backward)", function () {
  before(async function () {
    await ensureWasmBackend();
  });

  after(async function () {
    await disposeServed();
  });

  it("its loss equals an independent float64 GPT-2 forward and the ONNX serving export (within 1e-4)", async function () {
    const c: Gpt2Config = { ...PRESETS.tiny, n_positions: 16 };
    const w = perturbed(c, "train-graph-forward");
    const windows = [
      [464, 46371, 28356, 319, 262, 7840, 13, 50256, 11, 2],
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    ];
    const ctx = windows[0].length - 1;
    const x = Int32Array.from(windows.flatMap((win) => win.slice(0, ctx)));
    const y = Int32Array.from(windows.flatMap((win) => win.slice(1)));
    const trainer = await OrtTrainer.create(c, w, windows.length, ctx, 2);
    const graphLoss = (await trainer.nllSum(x, y)) / x.length;
    const { loss: stepLoss } = await trainer.step(x, y);
    await trainer.release();
    const refRows = windows.flatMap((win) => referenceLogits(c, w, win.slice(0, ctx)));
    const ref = meanCe(refRows, Array.from(y));
    expect(Math.abs(graphLoss - ref), `graph ${graphLoss} reference ${ref}`).to.be.lessThan(1e-4);
    expect(Math.abs(stepLoss - ref)).to.be.lessThan(1e-4);

    const dir = path.join(tmpDir("tg"), "m");
    saveCheckpoint(dir, c, w);
    const served = await loadServed(dir, { cacheDir: tmpDir("tg-cache") });
    const lg = await onnxLogits(
      served,
      windows.map((win) => win.slice(0, ctx)),
    );
    const onnxRows = Array.from({ length: x.length }, (_, i) => lg.subarray(i * c.vocab_size, (i + 1) * c.vocab_size));
    const viaExport = meanCe(onnxRows, Array.from(y));
    expect(Math.abs(graphLoss - viaExport), `graph ${graphLoss} export ${viaExport}`).to.be.lessThan(1e-4);
  });

  it("every gradient agrees with finite differences and with the TensorFlow.js custom gradients", async function () {
    const c: Gpt2Config = { ...PRESETS.tiny, vocab_size: 61, n_embd: 16, n_head: 2, n_layer: 2, n_positions: 8 };
    const w = perturbed(c, "gradcheck");
    // Context 6 < n_positions 8: the position gradient is padded back to the table's 8 rows.
    const x = Int32Array.from([1, 5, 7, 2, 9, 60, 4, 4, 4, 8, 0, 1]);
    const y = Int32Array.from([5, 7, 2, 9, 60, 3, 4, 4, 8, 0, 1, 2]);
    const trainer = await OrtTrainer.create(c, w, 2, 6, 2);
    const step = await trainer.step(x, y);
    const grads = new Map([...step.grads].map(([k, g]) => [k, g.slice()]));
    let sumsq = 0;
    for (const g of grads.values()) for (const v of g) sumsq += v * v;
    expect(Math.abs(step.sumsq - sumsq)).to.be.lessThan(1e-4 * sumsq);

    const vars = paramsFromWeights(c, w, true) as Map<string, tf.Variable>;
    const ids = tf.tensor2d(Array.from(x), [2, 6], "int32");
    const yt = tf.tensor1d(Array.from(y), "int32");
    const tfGrads = tf.variableGrads(() => crossEntropy(forward(c, vars, ids), yt) as tf.Scalar, [...vars.values()]);
    let checked = 0;
    for (const [name, v] of vars) {
      const ours = grads.get(name) as Float32Array;
      const theirs = tfGrads.grads[v.name].dataSync();
      let maxAbs = 0;
      let maxDiff = 0;
      for (let i = 0; i < ours.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(theirs[i]));
        maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
      }
      expect(maxDiff, `${name} vs tfjs`).to.be.at.most(1e-4 * maxAbs + 1e-7);

      // Finite differences along a random direction (the weights are the trainer's own buffers).
      const t = w.get(name) as Float32Array;
      const orig = t.slice();
      const dirv = Float32Array.from(t, (_, i) => Math.sin(7.3 * i + checked) + Math.cos(1.7 * i));
      let analytic = 0;
      for (let i = 0; i < t.length; i++) analytic += ours[i] * dirv[i];
      const eps = 1e-2;
      for (let i = 0; i < t.length; i++) t[i] = orig[i] + eps * dirv[i];
      const lp = (await trainer.nllSum(x, y)) / x.length;
      for (let i = 0; i < t.length; i++) t[i] = orig[i] - eps * dirv[i];
      const lm = (await trainer.nllSum(x, y)) / x.length;
      t.set(orig);
      const numeric = (lp - lm) / (2 * eps);
      expect(Math.abs(numeric - analytic), `${name}: numeric ${numeric} analytic ${analytic}`).to.be.lessThan(
        0.03 * Math.abs(analytic) + 2e-3,
      );
      checked++;
    }
    expect(checked).to.equal(2 + 12 * 2 + 2);
    for (const v of vars.values()) v.dispose();
    await trainer.release();
  });
});
