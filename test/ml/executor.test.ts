import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { createModel, sha256Hex0x, weightsRoot, configHash, Progress } from "../../offchain/ml";
import {
  builtinProcessExecutor,
  builtinRuntimeId,
  BuiltinExecutor,
  ExternalExecutor,
  JobKind,
  memoryLimitEnforced,
} from "../../offchain/ml/executor";
import type { MlError } from "../../offchain/ml/errors";
import { disposeServed } from "../../offchain/ml/serve";
import { CORPUS, expectMlError, FIXTURES, tmpDir } from "./helpers";

interface JobSpec {
  kind: JobKind;
  params: Record<string, unknown>;
  seed: number | string;
  inputs: Record<string, string | Buffer>;
  modelDir?: string;
}

/** Lays out a job folder: job.json, inputs/, model/ (a copy of the model), outputs/. */
function makeJob(model: string, spec: JobSpec): string {
  const dir = tmpDir(`job-${spec.kind}`);
  fs.mkdirSync(path.join(dir, "inputs"));
  fs.mkdirSync(path.join(dir, "outputs"));
  fs.cpSync(model, path.join(dir, "model"), { recursive: true });
  for (const [name, content] of Object.entries(spec.inputs)) fs.writeFileSync(path.join(dir, "inputs", name), content);
  fs.writeFileSync(
    path.join(dir, "job.json"),
    JSON.stringify({
      kind: spec.kind,
      params: spec.params,
      seed: spec.seed,
      modelDir: spec.modelDir,
      inputs: Object.keys(spec.inputs),
    }),
  );
  return dir;
}

describe("ml/executor: builtin (in process and as a child process) and external", function () {
  let model: string;
  let cacheDir: string;
  const corpus = fs.readFileSync(CORPUS);
  const trainSpec: JobSpec = {
    kind: "train",
    params: { steps: 3, lr: 3e-3, batchSize: 4, contextLength: 32 },
    seed: 21,
    inputs: { "data.txt": corpus },
  };
  const inferSpec: JobSpec = {
    kind: "infer",
    params: { maxNewTokens: 8, temperature: 0.8, topK: 20 },
    seed: 4,
    inputs: { "prompts.jsonl": '{"prompt": "The keeper"}\n{"prompt": "Bells 🔔 in fog"}\n' },
  };
  const evalSpec: JobSpec = {
    kind: "evaluate",
    params: { contextLength: 32 },
    seed: 0,
    inputs: { "eval.txt": corpus },
  };

  before(async function () {
    model = (await createModel(path.join(tmpDir("exec"), "model"), { preset: "tiny", seed: 77 })).dir;
    cacheDir = tmpDir("exec-cache");
  });

  after(async function () {
    await disposeServed();
  });

  it("builtin train: canonical result.json, child checkpoint, and a re-run reproduces it byte for byte", async function () {
    const exec = new BuiltinExecutor({ cacheDir });
    const progress: Progress[] = [];
    const a = makeJob(model, trainSpec);
    const ra = await exec.run({ kind: "train", jobDir: a, onProgress: (p) => progress.push(p) });
    const text = fs.readFileSync(ra.resultPath, "utf8");
    expect(ra.outputHash).to.equal(sha256Hex0x(text));
    const result = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(result)).to.deep.equal([...Object.keys(result)].sort());
    expect(result).to.include({ kind: "train", runtimeId: exec.runtimeId, stepsDone: 3, seed: 21 });
    expect(text).to.not.match(/elapsed|timestamp|tokensPerSec/i);
    expect(ra.child?.weightsRoot).to.equal(await weightsRoot(path.join(a, "outputs", "model")));
    expect(ra.child?.configHash).to.equal(await configHash(model));
    expect(ra.metrics.valLossAfter).to.be.lessThan(ra.metrics.valLossBefore as number);
    expect(ra.runtimeId).to.match(/^0x[0-9a-f]{64}$/);
    expect(progress.filter((p) => p.phase === "train")).to.have.length(3);
    const b = makeJob(model, trainSpec);
    const rb = await exec.run({ kind: "train", jobDir: b });
    expect(fs.readFileSync(rb.resultPath, "utf8")).to.equal(text);
    expect(rb.child?.weightsRoot).to.equal(ra.child?.weightsRoot);
  });

  it("builtin infer and evaluate: deterministic results; the child process executor gives the same bytes and runtime id", async function () {
    const exec = new BuiltinExecutor({ cacheDir });
    const child = builtinProcessExecutor({ cacheDir, timeoutSec: 300 });
    expect(child.runtimeId).to.equal(exec.runtimeId);
    expect(child.runtimeId).to.equal(builtinRuntimeId({}));
    const i1 = await exec.run({ kind: "infer", jobDir: makeJob(model, inferSpec) });
    const i2 = await exec.run({ kind: "infer", jobDir: makeJob(model, inferSpec) });
    expect(i2.outputHash).to.equal(i1.outputHash);
    const inf = JSON.parse(fs.readFileSync(i1.resultPath, "utf8")) as {
      generations: Array<{ prompt: string; tokens: number[] }>;
    };
    expect(inf.generations.map((g) => g.prompt)).to.deep.equal(["The keeper", "Bells 🔔 in fog"]);
    expect(i1.metrics.generatedTokens).to.equal(16);
    const progress: Progress[] = [];
    const i3 = await child.run({
      kind: "infer",
      jobDir: makeJob(model, inferSpec),
      onProgress: (p) => progress.push(p),
    });
    expect(i3.outputHash).to.equal(i1.outputHash);
    expect(progress.map((p) => p.phase)).to.include("generate");

    const e1 = await exec.run({ kind: "evaluate", jobDir: makeJob(model, evalSpec) });
    const e3 = await child.run({ kind: "evaluate", jobDir: makeJob(model, evalSpec) });
    expect(e3.outputHash).to.equal(e1.outputHash);
    expect(e1.metrics.tokenCount).to.equal(1136);
    expect(e1.metrics.perplexity).to.be.closeTo(Math.exp(e1.metrics.evalLoss as number), 1e-9);
  });

  it("training in a child process reproduces the in-process weights root and result", async function () {
    const inProc = await new BuiltinExecutor({ cacheDir }).run({ kind: "train", jobDir: makeJob(model, trainSpec) });
    const inChild = await builtinProcessExecutor({ cacheDir }).run({
      kind: "train",
      jobDir: makeJob(model, trainSpec),
    });
    expect(inChild.child?.weightsRoot).to.equal(inProc.child?.weightsRoot);
    expect(inChild.outputHash).to.equal(inProc.outputHash);
  });

  it("input errors are typed with stable codes, in process and through the child process (no crash)", async function () {
    const exec = new BuiltinExecutor({ cacheDir, datasetLimits: { maxBytes: 100_000 } });
    const bad = Buffer.from([0x41, 0xff, 0x42]);
    await expectMlError(
      () => exec.run({ kind: "train", jobDir: makeJob(model, { ...trainSpec, inputs: { "data.txt": bad } }) }),
      "DATASET_INVALID_UTF8",
      "data.txt",
    );
    await expectMlError(
      () => exec.run({ kind: "evaluate", jobDir: makeJob(model, { ...evalSpec, inputs: { "e.txt": "too short" } }) }),
      "DATASET_TOO_SHORT",
    );
    await expectMlError(
      () =>
        exec.run({ kind: "infer", jobDir: makeJob(model, { ...inferSpec, inputs: { "p.txt": "word ".repeat(100) } }) }),
      "PROMPT_TOO_LONG",
    );
    await expectMlError(
      () =>
        exec.run({ kind: "infer", jobDir: makeJob(model, { ...inferSpec, params: { maxNewTokens: 4, beams: 3 } }) }),
      "PARAMS_INVALID",
      "beams",
    );
    await expectMlError(
      () => exec.run({ kind: "train", jobDir: makeJob(model, { ...trainSpec, params: { lr: 1e-3, batchSize: 2 } }) }),
      "PARAMS_INVALID",
      "steps or epochs",
    );
    await expectMlError(
      () =>
        exec
          .run({ kind: "evaluate", jobDir: makeJob(model, evalSpec) })
          .then(() => exec.run({ kind: "train", jobDir: makeJob(model, evalSpec) })),
      "JOB_INVALID",
    );
    const tooBig = new BuiltinExecutor({
      cacheDir,
      modelLimits: { maxParams: 1_000_000, maxContext: 2048, maxVocab: 65536 },
    });
    await expectMlError(() => tooBig.run({ kind: "evaluate", jobDir: makeJob(model, evalSpec) }), "MODEL_TOO_LARGE");
    await expectMlError(
      () =>
        new BuiltinExecutor({ device: "cuda", cacheDir }).run({ kind: "evaluate", jobDir: makeJob(model, evalSpec) }),
      "DEVICE_UNAVAILABLE",
    );

    const job = makeJob(model, { ...trainSpec, inputs: { "data.txt": bad } });
    const e = await expectMlError(
      () => builtinProcessExecutor({ cacheDir }).run({ kind: "train", jobDir: job }),
      "DATASET_INVALID_UTF8",
      "data.txt",
    );
    expect(e.message.match(/DATASET_INVALID_UTF8/g), "the code once, not once per process").to.have.length(1);
    const err = JSON.parse(fs.readFileSync(path.join(job, "outputs", "error.json"), "utf8")) as { code: string };
    expect(err.code).to.equal("DATASET_INVALID_UTF8");
  });

  describe("external executor (compute-to-data program)", function () {
    const program = path.join(FIXTURES, "external-trainer.js");
    const ext = new ExternalExecutor({
      id: "external:test-trainer",
      command: process.execPath,
      args: [program],
      version: "1.0",
      timeoutSec: 60,
    });

    it("train: runs the program, relays progress, validates the child checkpoint and hashes a canonical result", async function () {
      const progress: Progress[] = [];
      const job = makeJob(model, { ...trainSpec, params: { steps: 4 }, seed: 3 });
      const r = await ext.run({ kind: "train", jobDir: job, onProgress: (p) => progress.push(p) });
      expect(progress.map((p) => p.step)).to.deep.equal([1, 2, 3, 4]);
      expect(r.child?.weightsRoot).to.equal(await weightsRoot(path.join(job, "outputs", "model")));
      expect(r.child?.weightsRoot).to.not.equal(await weightsRoot(model));
      expect(r.child?.configHash).to.equal(await configHash(model));
      expect(r.metrics).to.deep.equal({
        trainLossBefore: 3,
        trainLossAfter: 2.6,
        valLossBefore: 3.2,
        valLossAfter: 3.1,
      });
      expect(r.runtimeId).to.equal(ext.runtimeId).and.to.not.equal(builtinRuntimeId());
      const text = fs.readFileSync(r.resultPath, "utf8");
      expect(r.outputHash).to.equal(sha256Hex0x(text));
      const result = JSON.parse(text) as Record<string, unknown>;
      expect(result).to.include({ runtimeId: ext.runtimeId, framework: "external-test-trainer" });
      const again = await ext.run({
        kind: "train",
        jobDir: makeJob(model, { ...trainSpec, params: { steps: 4 }, seed: 3 }),
      });
      expect(again.outputHash).to.equal(r.outputHash);
    });

    it("evaluate and infer results come back with their metrics", async function () {
      const e = await ext.run({ kind: "evaluate", jobDir: makeJob(model, evalSpec) });
      expect(e.metrics.tokenCount).to.be.greaterThan(500);
      const i = await ext.run({
        kind: "infer",
        jobDir: makeJob(model, { ...inferSpec, inputs: { "p.txt": "abc\nxyz\n" } }),
      });
      const res = JSON.parse(fs.readFileSync(i.resultPath, "utf8")) as { generations: Array<{ text: string }> };
      expect(res.generations.map((g) => g.text)).to.deep.equal(["cba", "zyx"]);
    });

    it("maps the program's error.json to the typed error; a crash, a missing result, a timeout and an abort are reported, not thrown through", async function () {
      await expectMlError(
        () => ext.run({ kind: "train", jobDir: makeJob(model, { ...trainSpec, params: { fail: "dataset" } }) }),
        "DATASET_INVALID_UTF8",
        "external check",
      );
      await expectMlError(
        () => ext.run({ kind: "train", jobDir: makeJob(model, { ...trainSpec, params: { fail: "crash" } }) }),
        "EXECUTOR_FAILED",
        "out of memory",
      );
      await expectMlError(
        () => ext.run({ kind: "train", jobDir: makeJob(model, { ...trainSpec, params: { fail: "noresult" } }) }),
        "EXECUTOR_FAILED",
        "result.json",
      );
      // Its child is validated (in a child process of its own, off this event loop) and refused with the loader's words.
      await expectMlError(
        () => ext.run({ kind: "train", jobDir: makeJob(model, { ...trainSpec, params: { fail: "badchild" } }) }),
        "EXECUTOR_FAILED",
        "wrote no valid outputs/model/",
        "config.json's eos_token_id is 7",
      );
      const quick = new ExternalExecutor({ command: process.execPath, args: [program], timeoutSec: 1 });
      await expectMlError(
        () => quick.run({ kind: "train", jobDir: makeJob(model, { ...trainSpec, params: { fail: "hang" } }) }),
        "EXECUTOR_FAILED",
        "killed",
      );
      const ctl = new AbortController();
      const started = Date.now();
      const p = ext.run({
        kind: "train",
        jobDir: makeJob(model, { ...trainSpec, params: { fail: "hang" } }),
        signal: ctl.signal,
        onProgress: () => ctl.abort(),
      });
      await expectMlError(() => p, "ABORTED");
      expect(Date.now() - started).to.be.lessThan(10_000);
      const missing = new ExternalExecutor({ command: path.join(FIXTURES, "does-not-exist") });
      await expectMlError(
        () => missing.run({ kind: "evaluate", jobDir: makeJob(model, evalSpec) }),
        "EXECUTOR_FAILED",
        "could not start",
      );
    });

    it("kills a program whose processes hold more memory than the limit, its descendants included (MEMORY_LIMIT)", async function () {
      expect(memoryLimitEnforced(), "this test needs Linux /proc").to.equal(true);
      const capped = new ExternalExecutor({
        command: process.execPath,
        args: [program],
        maxMemoryBytes: 200 * 2 ** 20,
      });
      for (const fail of ["hog", "hog-child"]) {
        const started = Date.now();
        const jobDir = makeJob(model, { ...trainSpec, params: { fail, mib: 400 } });
        const err = (await expectMlError(
          () => capped.run({ kind: "train", jobDir }),
          "MEMORY_LIMIT",
          "over its limit",
        )) as MlError;
        expect(err.details.peakRssBytes).to.be.greaterThan(200 * 2 ** 20);
        expect(Date.now() - started).to.be.lessThan(15_000);
      }
      // Under the limit, the same program runs to its result.
      const r = await capped.run({ kind: "evaluate", jobDir: makeJob(model, evalSpec) });
      expect(r.metrics.tokenCount).to.be.greaterThan(500);
    });

    it("the builtin child process executor enforces the limit too: a real job fails under 64 MiB and runs under 2 GiB", async function () {
      const tight = builtinProcessExecutor({ cacheDir, maxMemoryBytes: 64 * 2 ** 20 });
      await expectMlError(() => tight.run({ kind: "infer", jobDir: makeJob(model, inferSpec) }), "MEMORY_LIMIT");
      const roomy = builtinProcessExecutor({ cacheDir, maxMemoryBytes: 2 * 2 ** 30 });
      const r = await roomy.run({ kind: "infer", jobDir: makeJob(model, inferSpec) });
      expect(r.runtimeId).to.equal(tight.runtimeId).and.to.equal(builtinRuntimeId());
    });
  });
});
