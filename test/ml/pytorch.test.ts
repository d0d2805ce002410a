import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { createModel, isMlError, Progress, weightsRoot } from "../../offchain/ml";
import { BuiltinExecutor, ExecResult, JobKind } from "../../offchain/ml/executor";
import { disposeServed } from "../../offchain/ml/serve";
import { TorchExecutor, torchRuntimeId } from "../../offchain/ml/torch-executor";
import { TORCH_PYTHON, torchProbe } from "./pytorch-support";
import { CORPUS, tmpDir, withEndOfText } from "./helpers";

interface JobSpec {
  kind: JobKind;
  params: Record<string, unknown>;
  seed: number | string;
  inputs: Record<string, string | Buffer>;
}

function makeJob(model: string, spec: JobSpec): string {
  const dir = tmpDir(`torch-${spec.kind}`);
  fs.mkdirSync(path.join(dir, "inputs"));
  fs.cpSync(model, path.join(dir, "model"), { recursive: true });
  for (const [name, content] of Object.entries(spec.inputs)) fs.writeFileSync(path.join(dir, "inputs", name), content);
  fs.writeFileSync(
    path.join(dir, "job.json"),
    JSON.stringify({ kind: spec.kind, params: spec.params, seed: spec.seed }),
  );
  return dir;
}

function resultOf(r: ExecResult): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(r.resultPath, "utf8")) as Record<string, unknown>;
}

async function errorOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (isMlError(e)) return e.message;
    throw e;
  }
  return "no error";
}

const corpus = fs.readFileSync(CORPUS);
const PROMPTS = '{"prompt": "The keeper"}\n{"prompt": "Bells 🔔 in fog"}\n{"prompt": ""}\n';
const trainSpec: JobSpec = {
  kind: "train",
  params: { steps: 6, lr: 3e-3, batchSize: 4, contextLength: 32, warmupSteps: 2, weightDecay: 0.1 },
  seed: 21,
  inputs: { "data.txt": corpus },
};
const evalSpec: JobSpec = {
  kind: "evaluate",
  params: { contextLength: 32, stride: 16 },
  seed: 0,
  inputs: { "eval.txt": corpus.subarray(0, 2500) },
};
const greedySpec: JobSpec = {
  kind: "infer",
  params: { maxNewTokens: 20 },
  seed: 4,
  inputs: { "prompts.jsonl": PROMPTS },
};
const sampledSpec: JobSpec = {
  kind: "infer",
  params: { maxNewTokens: 12, temperature: 0.8, topK: 40, topP: 0.95 },
  seed: "sampled",
  inputs: { "prompts.jsonl": PROMPTS },
};

describe("ml/pytorch: the PyTorch executor agrees with the builtin runtime (CPU)", function () {
  this.timeout(300_000);
  let torch: TorchExecutor;
  let builtin: BuiltinExecutor;
  let model: string;
  const trained: Record<"torch" | "builtin", ExecResult | undefined> = { torch: undefined, builtin: undefined };

  before(async function () {
    const probe = torchProbe();
    if (typeof probe === "string") {
      console.log(`    skipped: ${probe}`);
      this.skip();
    }
    torch = new TorchExecutor({ python: TORCH_PYTHON, probe });
    builtin = new BuiltinExecutor({ cacheDir: tmpDir("torch-cache") });
    model = (await createModel(path.join(tmpDir("torch-model"), "model"), { preset: "tiny", seed: 77 })).dir;
  });

  after(async () => {
    await disposeServed();
  });

  it("names its runtime: executor pytorch, torch version, device, precision, threads", function () {
    expect(torch.runtimeId).to.match(/^0x[0-9a-f]{64}$/);
    expect(torch.describe()).to.match(/^pytorch: torch \d+\.\d+.* CPU, 1 thread\(s\), fp32 training$/);
    expect(torchRuntimeId(torch.probe, { ...torch.resolved, threads: 2 })).to.not.equal(torch.runtimeId);
    expect(torchRuntimeId({ ...torch.probe, torch: "9.9.9" }, torch.resolved)).to.not.equal(torch.runtimeId);
  });

  it("trains like the builtin: same data, order and schedule; initial loss within 1e-4, the last within 2e-4", async function () {
    const progress: Progress[] = [];
    const t = await torch.run({
      kind: "train",
      jobDir: makeJob(model, trainSpec),
      onProgress: (p) => progress.push(p),
    });
    const b = await builtin.run({ kind: "train", jobDir: makeJob(model, trainSpec) });
    trained.torch = t;
    trained.builtin = b;
    const rt = resultOf(t);
    const rb = resultOf(b);
    expect(Object.keys(rt)).to.deep.equal(Object.keys(rb));
    for (const k of ["params", "inputs", "stepsPlanned", "stepsDone", "stoppedBy", "trainTokens", "valTokens", "model"])
      expect(rt[k], k).to.deep.equal(rb[k]);
    expect(rt.runtimeId).to.equal(torch.runtimeId);
    const ct = rt.lossCurve as number[];
    const cb = rb.lossCurve as number[];
    expect(ct).to.have.length(6);
    expect(Math.abs(ct[0] - cb[0])).to.be.below(1e-4);
    for (let i = 0; i < ct.length; i++) expect(Math.abs(ct[i] - cb[i]), `step ${i + 1}`).to.be.below(2e-4);
    for (const k of ["trainLossBefore", "valLossBefore"] as const)
      expect(Math.abs((t.metrics[k] as number) - (b.metrics[k] as number)), k).to.be.below(1e-4);
    for (const k of ["trainLossAfter", "valLossAfter"] as const)
      expect(Math.abs((t.metrics[k] as number) - (b.metrics[k] as number)), k).to.be.below(2e-4);
    expect(t.metrics.valLossAfter).to.be.below(t.metrics.valLossBefore as number);
    // The child folder: the same files, byte for byte except the weights; its root computed here.
    const dt = path.dirname(t.child?.dir as string);
    const db = path.dirname(b.child?.dir as string);
    const files = fs.readdirSync(path.join(db, "model")).sort();
    expect(fs.readdirSync(path.join(dt, "model")).sort()).to.deep.equal(files);
    for (const f of files.filter((x) => x !== "model.safetensors"))
      expect(fs.readFileSync(path.join(dt, "model", f), "utf8"), f).to.equal(
        fs.readFileSync(path.join(db, "model", f), "utf8"),
      );
    expect(t.child?.weightsRoot).to.equal(await weightsRoot(t.child?.dir as string));
    expect(t.child?.configHash).to.equal(b.child?.configHash);
    expect(progress.filter((p) => p.phase === "train").map((p) => p.step)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(progress.map((p) => p.phase)).to.include.members(["load", "validate", "save"]);
  });

  it("trains data parallel over 2 processes (gloo on the CPU, as torchrun on GPUs) to the same losses", async function () {
    if (!trained.torch) this.skip();
    const dp = new TorchExecutor({ python: TORCH_PYTHON, probe: torch.probe, gpus: 2 });
    expect(dp.describe()).to.match(/on 2 processes$/);
    const r = await dp.run({ kind: "train", jobDir: makeJob(model, trainSpec) });
    const one = resultOf(trained.torch).lossCurve as number[];
    const two = resultOf(r).lossCurve as number[];
    expect(two).to.have.length(one.length);
    for (let i = 0; i < one.length; i++) expect(Math.abs(two[i] - one[i]), `step ${i + 1}`).to.be.below(1e-5);
    expect(Math.abs((r.metrics.valLossAfter as number) - (trained.torch.metrics.valLossAfter as number))).to.be.below(
      1e-5,
    );
  });

  it("evaluates one model (the PyTorch-trained child) to the builtin's loss within 1e-5, deterministically", async function () {
    if (!trained.torch?.child) this.skip();
    const child = trained.torch.child.dir;
    const t = await torch.run({ kind: "evaluate", jobDir: makeJob(child, evalSpec) });
    const b = await builtin.run({ kind: "evaluate", jobDir: makeJob(child, evalSpec) });
    expect(Math.abs((t.metrics.evalLoss as number) - (b.metrics.evalLoss as number))).to.be.below(1e-5);
    expect(t.metrics.tokenCount).to.equal(b.metrics.tokenCount);
    const rt = resultOf(t);
    const rb = resultOf(b);
    expect(rt.windows).to.equal(rb.windows);
    expect(rt.params).to.deep.equal(rb.params);
    // The builtin-trained twin evaluates (in PyTorch) to nearly the same loss: the two children differ in the last bits.
    const twin = await torch.run({
      kind: "evaluate",
      jobDir: makeJob(trained.builtin?.child?.dir as string, evalSpec),
    });
    expect(Math.abs((twin.metrics.evalLoss as number) - (t.metrics.evalLoss as number))).to.be.below(1e-3);
  });

  it("generates what the builtin generates: greedy identical, seeded sampling identical (same Mersenne Twister)", async function () {
    if (!trained.torch?.child) this.skip();
    const child = trained.torch.child.dir;
    for (const spec of [greedySpec, sampledSpec]) {
      const t = resultOf(await torch.run({ kind: "infer", jobDir: makeJob(child, spec) }));
      const b = resultOf(await builtin.run({ kind: "infer", jobDir: makeJob(child, spec) }));
      expect(t.generations, JSON.stringify(spec.params)).to.deep.equal(b.generations);
      expect(t.metrics).to.deep.equal(b.metrics);
    }
    // Greedy tokens read back 8 at a time (the GPU's default): the same output, also when the end of text comes
    // inside a read. The fresh model's greedy text, with its fourth token made the end of text.
    const chunked = new TorchExecutor({ python: TORCH_PYTHON, probe: torch.probe, greedySync: 8 });
    const plain = resultOf(await builtin.run({ kind: "infer", jobDir: makeJob(model, greedySpec) }));
    const tokens = (plain.generations as Array<{ tokens: number[] }>)[0].tokens;
    const eos = tokens[3];
    expect(tokens.indexOf(eos), "a token not generated before the fourth").to.equal(3);
    const ends = withEndOfText(model, eos);
    for (const [dir, spec] of [
      [ends, greedySpec],
      [child, { ...greedySpec, params: { maxNewTokens: 13 } }],
    ] as const) {
      const t = resultOf(await chunked.run({ kind: "infer", jobDir: makeJob(dir, spec) }));
      const b = resultOf(await builtin.run({ kind: "infer", jobDir: makeJob(dir, spec) }));
      expect(t.generations, `greedySync 8, ${JSON.stringify(spec.params)}`).to.deep.equal(b.generations);
      if (dir === ends) expect((t.generations as Array<{ finishReason: string }>)[0].finishReason).to.equal("eos");
    }
  });

  it("refuses bad input with the builtin's errors (codes and messages)", async function () {
    const cases: Array<[string, JobSpec]> = [
      ["binary data", { ...trainSpec, inputs: { "d.txt": Buffer.from([0x41, 0, 0x42]) } }],
      ["too short", { ...trainSpec, inputs: { "d.txt": "a few words" } }],
      ["bad JSONL", { ...trainSpec, inputs: { "d.jsonl": '{"text": "x"}\nnot json\n' } }],
      ["missing lr", { ...trainSpec, params: { steps: 2, batchSize: 2 } }],
      ["context too long", { ...trainSpec, params: { steps: 2, lr: 1e-3, batchSize: 2, contextLength: 65 } }],
      ["unknown param", { ...evalSpec, params: { contextLength: 32, window: 3 } }],
      ["stride beyond context", { ...evalSpec, params: { contextLength: 16, stride: 17 } }],
      [
        "prompt too long",
        { ...greedySpec, params: { maxNewTokens: 60 }, inputs: { "p.txt": "one two three four five six seven\n" } },
      ],
      ["no prompts", { ...greedySpec, inputs: { "p.txt": "\n\n" } }],
      ["topP out of range", { ...sampledSpec, params: { maxNewTokens: 2, temperature: 1, topP: 0 } }],
    ];
    for (const [what, spec] of cases) {
      const et = await errorOf(() => torch.run({ kind: spec.kind, jobDir: makeJob(model, spec) }));
      const eb = await errorOf(() => builtin.run({ kind: spec.kind, jobDir: makeJob(model, spec) }));
      expect(eb, what).to.not.equal("no error");
      // Paths name each executor's own job folder: compare with them blanked.
      const blank = (s: string) => s.replace(/\/tmp\/[^\s,]+/g, "<path>");
      expect(blank(et), what).to.equal(blank(eb));
    }
    const noModel = makeJob(model, greedySpec);
    fs.rmSync(path.join(noModel, "model", "model.safetensors"));
    expect(await errorOf(() => torch.run({ kind: "infer", jobDir: noModel }))).to.match(/MODEL_INVALID/);
    // config.json's eos_token_id and the tokenizer's <|endoftext|> differ: both refuse, naming both ids.
    const eos7 = path.join(tmpDir("torch-eos7"), "model");
    fs.cpSync(model, eos7, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(eos7, "config.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(path.join(eos7, "config.json"), JSON.stringify({ ...cfg, eos_token_id: 7 }));
    for (const spec of [trainSpec, evalSpec, greedySpec]) {
      const et = await errorOf(() => torch.run({ kind: spec.kind, jobDir: makeJob(eos7, spec) }));
      const eb = await errorOf(() => builtin.run({ kind: spec.kind, jobDir: makeJob(eos7, spec) }));
      expect(et, spec.kind).to.match(/^MODEL_INVALID: .*eos_token_id is 7 .*<\|endoftext\|> token is id 50256/);
      expect(et.replace(/\/tmp\/[^\s:,]+/g, "<path>"), spec.kind).to.equal(eb.replace(/\/tmp\/[^\s:,]+/g, "<path>"));
    }
  });

  it("reads a folder in other spellings of the same JSON (2.0 layers, null fields, offsets as 4096e0) as the builtin does", async function () {
    const odd = path.join(tmpDir("torch-odd"), "model");
    fs.cpSync(model, odd, { recursive: true });
    const cfgFile = path.join(odd, "config.json");
    const cfg = JSON.parse(fs.readFileSync(cfgFile, "utf8")) as Record<string, unknown>;
    const text = JSON.stringify({ ...cfg, layer_norm_epsilon: null, eos_token_id: null });
    fs.writeFileSync(cfgFile, text.replace(`"n_layer":${String(cfg.n_layer)}`, `"n_layer":${String(cfg.n_layer)}.0`));
    const st = path.join(odd, "model.safetensors");
    const buf = fs.readFileSync(st);
    const n = Number(buf.readBigUInt64LE(0));
    const header = buf
      .subarray(8, 8 + n)
      .toString("utf8")
      .replace(/"data_offsets":\[(\d+),(\d+)\]/g, '"data_offsets":[$1e0,$2e0]');
    const head = Buffer.from(header);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(head.length));
    fs.writeFileSync(st, Buffer.concat([len, head, buf.subarray(8 + n)]));
    expect(header).to.match(/e0\]/);
    expect(await weightsRoot(odd)).to.equal(await weightsRoot(model)); // the same model, as the chain records it

    const t = await torch.run({ kind: "evaluate", jobDir: makeJob(odd, evalSpec) });
    const b = await builtin.run({ kind: "evaluate", jobDir: makeJob(odd, evalSpec) });
    expect(Math.abs((t.metrics.evalLoss as number) - (b.metrics.evalLoss as number))).to.be.below(1e-5);
    const gt = resultOf(await torch.run({ kind: "infer", jobDir: makeJob(odd, greedySpec) }));
    const gb = resultOf(await builtin.run({ kind: "infer", jobDir: makeJob(odd, greedySpec) }));
    expect(gt.generations).to.have.length(3).and.deep.equal(gb.generations); // stops where the builtin does (eos 50256)
  });
});
