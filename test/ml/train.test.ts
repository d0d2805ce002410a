import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import {
  createModel,
  Gpt2Config,
  initWeights,
  loadCheckpoint,
  PRESETS,
  Progress,
  weightsRoot,
} from "../../offchain/ml";
import { crossEntropy, forward, logitsOf, paramsFromWeights } from "../../offchain/ml/gpt2-tf";
import { ensureWasmBackend, tf } from "../../offchain/ml/tf-backend";
import { trainModel } from "../../offchain/ml/train";
import { CORPUS, expectMlError, referenceLogits, tmpDir, writeHfFolder } from "./helpers";

describe("ml/train: GPT-2 training (the ONNX step graph, held to the TensorFlow.js reference graph)", function () {
  before(async function () {
    await ensureWasmBackend();
  });

  it("the training graph reads a Hugging Face folder as GPT-2 does (Conv1D orientation, tied head): logits equal an independent reference", async function () {
    const c: Gpt2Config = { ...PRESETS.tiny, n_positions: 16 };
    const w = initWeights(c, "orientation");
    // Break the symmetry of the init so that a transposed or untied weight cannot go unnoticed.
    for (const [name, t] of w)
      if (name.endsWith(".bias") || name.includes("ln_"))
        for (let i = 0; i < t.length; i++) t[i] += 0.05 * Math.sin(i + name.length);
    const dir = path.join(tmpDir("ref"), "gpt2");
    writeHfFolder(dir, c, w, { style: "hub" });
    const ck = loadCheckpoint(dir);
    const ids = [464, 46371, 28356, 319, 262, 7840, 13];
    const ours = logitsOf(ck.config, ck.weights, [ids]);
    const ref = referenceLogits(c, w, ids);
    let maxDiff = 0;
    ref.forEach((row, t) =>
      row.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - ours[t * c.vocab_size + k])))),
    );
    expect(maxDiff).to.be.lessThan(1e-4);
  });

  it("custom gradients (matmul, embedding, layer norm, gelu, attention, loss) agree with finite differences", function () {
    const c: Gpt2Config = { ...PRESETS.tiny, vocab_size: 61, n_embd: 16, n_head: 2, n_layer: 2, n_positions: 8 };
    const w = initWeights(c, "gradcheck");
    for (const [name, t] of w)
      if (name.includes("ln_") || name.endsWith(".bias"))
        for (let i = 0; i < t.length; i++) t[i] += 0.1 * Math.cos(3 * i + name.length);
    const vars = paramsFromWeights(c, w, true) as Map<string, tf.Variable>;
    const ids = tf.tensor2d(
      [
        [1, 5, 7, 2, 9, 60, 3, 1],
        [4, 4, 4, 8, 0, 1, 2, 3],
      ],
      [2, 8],
      "int32",
    );
    const y = tf.tensor1d([5, 7, 2, 9, 60, 3, 1, 11, 4, 4, 8, 0, 1, 2, 3, 30], "int32");
    const lossFn = (): tf.Scalar => crossEntropy(forward(c, vars, ids), y) as tf.Scalar;
    const { grads } = tf.variableGrads(lossFn, [...vars.values()]);
    let checked = 0;
    for (const [name, v] of vars) {
      const dir = tf.tidy(() => tf.randomNormal(v.shape, 0, 1, "float32", 7 + checked));
      const analytic = tf.tidy(() => tf.sum(tf.mul(grads[v.name], dir)).dataSync()[0]);
      const eps = 1e-2;
      const orig = v.clone();
      v.assign(tf.tidy(() => tf.add(orig, tf.mul(dir, eps))));
      const lp = tf.tidy(() => lossFn().dataSync()[0]);
      v.assign(tf.tidy(() => tf.sub(orig, tf.mul(dir, eps))));
      const lm = tf.tidy(() => lossFn().dataSync()[0]);
      v.assign(orig);
      const numeric = (lp - lm) / (2 * eps);
      expect(Math.abs(numeric - analytic), `${name}: numeric ${numeric} analytic ${analytic}`).to.be.lessThan(
        0.03 * Math.abs(analytic) + 2e-3,
      );
      checked++;
      orig.dispose();
      dir.dispose();
    }
    expect(checked).to.equal(2 + 12 * 2 + 2);
    for (const v of vars.values()) v.dispose();
  });

  it("a finetune on a few KB of text lowers validation loss; training twice gives the same weights root", async function () {
    const base = await createModel(path.join(tmpDir("tr"), "m1"), { preset: "tiny", seed: 11 });
    const progress: Progress[] = [];
    const opts = {
      modelDir: base.dir,
      datasets: [CORPUS],
      seed: 5,
      steps: 12,
      lr: 3e-3,
      batchSize: 8,
      contextLength: 64,
      warmupSteps: 2,
    };
    const a = await trainModel({ ...opts, outDir: path.join(tmpDir("tr"), "m2"), onProgress: (p) => progress.push(p) });
    const b = await trainModel({ ...opts, outDir: path.join(tmpDir("tr"), "m2") });
    expect(a.stepsDone).to.equal(12);
    expect(a.lossCurve).to.have.length(12);
    expect(a.valLossAfter).to.be.lessThan(a.valLossBefore - 0.5);
    expect(a.trainLossAfter).to.be.lessThan(a.trainLossBefore - 0.5);
    expect(a.weightsRoot).to.equal(b.weightsRoot);
    expect(a.lossCurve).to.deep.equal(b.lossCurve);
    expect(a.weightsRoot).to.not.equal(base.weightsRoot);
    expect(a.parentWeightsRoot).to.equal(base.weightsRoot);
    expect(await weightsRoot(a.outDir)).to.equal(a.weightsRoot);
    expect(a.configHash).to.equal(base.configHash);
    const steps = progress.filter((p) => p.phase === "train");
    expect(steps.map((p) => p.step)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for (const p of steps) {
      expect(p.totalSteps).to.equal(12);
      expect(p.loss).to.be.a("number");
      expect(p.tokensPerSec).to.be.greaterThan(0);
      expect(p.etaSec).to.be.at.least(0);
    }
    expect(a.lrCurve[0]).to.be.closeTo(1.5e-3, 1e-12);
    expect(a.lrCurve[1]).to.be.closeTo(3e-3, 1e-12);
    expect(a.lrCurve[11]).to.be.closeTo(3e-4, 1e-4);
    expect(fs.existsSync(path.join(a.outDir, "tokenizer.json"))).to.equal(true);
  });

  it("epochs, a time budget and an abort signal bound the run", async function () {
    const base = await createModel(path.join(tmpDir("tb"), "m1"), { preset: "tiny", seed: 12 });
    const byEpoch = await trainModel({
      modelDir: base.dir,
      outDir: path.join(tmpDir("tb"), "e"),
      datasets: [CORPUS],
      seed: 1,
      epochs: 1,
      lr: 1e-3,
      batchSize: 8,
      contextLength: 32,
    });
    // 1023-token corpus: 0.9 · 1137 ≈ 1023 train tokens → 31 windows of 32 → ceil(31 / 8) = 4 steps.
    expect(byEpoch.stepsPlanned).to.equal(Math.ceil(Math.floor((byEpoch.trainTokens - 1) / 32) / 8));
    const timed = await trainModel({
      modelDir: base.dir,
      outDir: path.join(tmpDir("tb"), "t"),
      datasets: [CORPUS],
      seed: 1,
      steps: 1000,
      lr: 1e-3,
      batchSize: 8,
      contextLength: 32,
      timeBudgetSec: 1,
    });
    expect(timed.stoppedBy).to.equal("time");
    expect(timed.stepsDone).to.be.lessThan(1000);
    const ctl = new AbortController();
    ctl.abort();
    await expectMlError(
      () =>
        trainModel({
          modelDir: base.dir,
          outDir: path.join(tmpDir("tb"), "a"),
          datasets: [CORPUS],
          seed: 1,
          steps: 5,
          lr: 1e-3,
          batchSize: 2,
          signal: ctl.signal,
        }),
      "ABORTED",
    );
  });

  it("refuses a dataset shorter than a train and a validation window, and invalid parameters", async function () {
    const base = await createModel(path.join(tmpDir("ts"), "m1"), { preset: "tiny", seed: 13 });
    const short = path.join(tmpDir("ts"), "short.txt");
    fs.writeFileSync(short, "Only a few words here.");
    await expectMlError(
      () =>
        trainModel({
          modelDir: base.dir,
          outDir: path.join(tmpDir("ts"), "o"),
          datasets: [short],
          seed: 1,
          steps: 1,
          lr: 1e-3,
          batchSize: 1,
        }),
      "DATASET_TOO_SHORT",
      short,
      "at least 130",
    );
    await expectMlError(
      () =>
        trainModel({
          modelDir: base.dir,
          outDir: path.join(tmpDir("ts"), "o"),
          datasets: [CORPUS],
          seed: 1,
          steps: 1,
          lr: 1e-3,
          batchSize: 1,
          contextLength: 65,
        }),
      "PARAMS_INVALID",
      "contextLength",
    );
    await expectMlError(
      () =>
        trainModel({
          modelDir: base.dir,
          outDir: path.join(tmpDir("ts"), "o"),
          datasets: [CORPUS],
          seed: 1,
          steps: 1,
          lr: -1,
          batchSize: 1,
        }),
      "PARAMS_INVALID",
      "lr",
    );
  });
});
