/**
 * Params a training run would diverge with are refused before any step (and before anything is paid: the SDK and
 * the worker's admission use the same bounds), and a model whose loss overflows is evaluated, not failed: a failure
 * would be the worker's fault on chain, a penalty a requester could farm (the security review's finding).
 */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { initWeights, PRESETS, resolveTrainParams, saveCheckpoint } from "../../offchain/ml";
import { builtinProcessExecutor } from "../../offchain/ml/executor";
import { TorchExecutor } from "../../offchain/ml/torch-executor";
import { TORCH_PYTHON, torchProbe } from "./pytorch-support";
import { MAX_FIXED_LOSS, toFixedLoss } from "../../offchain/protocol/params";
import { checkJobParams } from "../../offchain/sdk/job-types";
import { isSdkError } from "../../offchain/sdk/errors";
import { CORPUS, expectMlError, tmpDir } from "./helpers";

/** A job folder for `model` (copied) with `params` and the corpus as its one input. */
function job(model: string, kind: "train" | "evaluate", params: Record<string, unknown>): string {
  const dir = tmpDir(`diverge-${kind}`);
  fs.mkdirSync(path.join(dir, "inputs"));
  fs.mkdirSync(path.join(dir, "outputs"));
  fs.cpSync(model, path.join(dir, "model"), { recursive: true });
  fs.copyFileSync(CORPUS, path.join(dir, "inputs", "data.txt"));
  fs.writeFileSync(path.join(dir, "job.json"), JSON.stringify({ kind, params, seed: 3, inputs: ["data.txt"] }));
  return dir;
}

describe("ml: training params that diverge, and a loss that overflows", function () {
  this.timeout(180_000);
  const c = { ...PRESETS.tiny, n_positions: 32 };
  let model: string;
  let cacheDir: string;
  before(() => {
    model = path.join(tmpDir("diverge-model"), "m");
    saveCheckpoint(model, c, initWeights(c, "diverge"));
    cacheDir = tmpDir("diverge-cache");
  });

  it("refuses a learning rate above 1, or lr × weight decay of 0.5 or more, before any step", async () => {
    const base = { steps: 3, batchSize: 2, contextLength: 16 };
    expect(() => resolveTrainParams({ ...base, lr: 2 }, c)).to.throw(
      /the learning rate 2 must be above 0 and at most 1/,
    );
    expect(() => resolveTrainParams({ ...base, lr: 0.9, weightDecay: 0.9 }, c)).to.throw(
      /lr × weight decay = 0\.81 a step: it must stay under 0\.5/,
    );
    expect(resolveTrainParams({ ...base, lr: 1, weightDecay: 0.49 }, c)).to.include({ lr: 1, weightDecay: 0.49 });
    // The review's job: lr 9.99 and weight decay 9.99 multiplied every weight by −98.8 a step, NaN by step 10.
    const exec = builtinProcessExecutor({ cacheDir });
    await expectMlError(
      () => exec.run({ kind: "train", jobDir: job(model, "train", { ...base, lr: 9.99, weightDecay: 9.99 }) }),
      "PARAMS_INVALID",
      "at most 1",
    );
    // The SDK refuses it before a transaction, in the chain's units.
    const rate = (x: number) => BigInt(Math.round(x * 1e9));
    const params = { ...base, warmupSteps: 0, learningRate: rate(0.5), weightDecay: rate(2) };
    const err = (() => {
      try {
        checkJobParams({ kind: "Train", params });
      } catch (e) {
        return e;
      }
    })();
    expect(isSdkError(err, "PARAMS_INVALID"), String(err)).to.equal(true);
    expect((err as Error).message).to.equal(
      "A Train job cannot be requested with these params: the learning rate 0.5 and weight decay 2 shrink the " +
        "weights by lr × weight decay = 1 a step: it must stay under 0.5 (a run would diverge). No job was " +
        "requested and nothing was paid.",
    );
    expect(() => checkJobParams({ kind: "Train", params: { ...params, weightDecay: rate(0.01) } })).to.not.throw();
  });

  /** A model whose final layer norm's gain is `gain`: 1e30 makes every logit about 1e29, the loss too. */
  const hotModel = (gain: number) => {
    const w = initWeights(c, "hot");
    w.get([...w.keys()].find((n) => /ln_f.*weight/.test(n)) as string)!.fill(gain);
    const dir = path.join(tmpDir("diverge-hot"), "m");
    saveCheckpoint(dir, c, w);
    return dir;
  };

  it("evaluates a model whose loss overflows in the PyTorch executor too: null in its raw figures is ∞, never 0", async function () {
    const probe = torchProbe();
    if (typeof probe === "string") {
      console.log(`    skipped: ${probe}`);
      return this.skip();
    }
    // 1e38: the float32 sum of the losses overflows to inf in Python, which writes it as null.
    const dir = job(hotModel(1e38), "evaluate", { contextLength: 16 });
    const r = await new TorchExecutor({ python: TORCH_PYTHON, probe }).run({ kind: "evaluate", jobDir: dir });
    expect(toFixedLoss(r.metrics.evalLoss!)).to.equal(MAX_FIXED_LOSS);
    const result = JSON.parse(fs.readFileSync(path.join(dir, "outputs", "result.json"), "utf8")) as {
      metrics: { perplexity: number | null };
    };
    expect(result.metrics.perplexity).to.equal(null);
  });

  it("evaluates a model whose loss overflows: result.json says null, the receipt's loss saturates", async () => {
    // The final layer norm's gain at 1e30: every logit is about 1e29, the loss too, its perplexity e^1e29 = ∞.
    const hot = hotModel(1e30);
    const dir = job(hot, "evaluate", { contextLength: 16 });
    const r = await builtinProcessExecutor({ cacheDir }).run({ kind: "evaluate", jobDir: dir });
    const result = JSON.parse(fs.readFileSync(path.join(dir, "outputs", "result.json"), "utf8")) as {
      metrics: { evalLoss: number | null; perplexity: number | null };
    };
    expect(result.metrics.perplexity).to.equal(null);
    expect(r.metrics.evalLoss).to.be.greaterThan(1e20);
    expect(toFixedLoss(r.metrics.evalLoss!)).to.equal(MAX_FIXED_LOSS);
    expect(toFixedLoss(Infinity)).to.equal(MAX_FIXED_LOSS);
    expect(toFixedLoss(NaN)).to.equal(MAX_FIXED_LOSS);
    expect(toFixedLoss(2.5)).to.equal(2_500_000n);
  });
});
