/**
 * The Node side of the GPU check (bundled by scripts/gpu-check.ts, run by run-on-host.sh):
 *   info                 adapter, driver and versions
 *   prepare DIR CONFIG   model folder from a seed (no hub), a dataset, the serving export and loss graph
 *   infer DIR CONFIG     builtin runtime on --device: evaluation (loss in the graph) and greedy generation
 *   profile DIR CONFIG   onnxruntime's profiler on --device: one batch of the evaluation loss graph and one
 *                        decoding step of the serving graph and of the fused WebGPU decoding graph (provider
 *                        of each node, time by operator and by GPU shader program)
 *   train DIR CONFIG     builtin trainer (the ONNX step graph on onnxruntime) on --device
 *   executor DIR CONFIG  the PyTorch executor through job.json (torch-bench.ts) on the prepared model: train bf16
 *                        8×1024, evaluation (fp32, 64 windows of 1024) and greedy generation at batch 1
 * Each prints one JSON line per figure. --device cpu runs the same code on the CPU (the local rehearsal).
 */
import * as fs from "fs";
import * as path from "path";
import * as ort from "onnxruntime-node";
import { decodeStepFeeds, profileGraph } from "../../offchain/bench/ort-profile";
import { createModel, readConfig } from "../../offchain/ml/checkpoint";
import { buildFusedGraph, webgpuDecodeGraphFile } from "../../offchain/ml/webgpu-decode-graph";
import { buildLossGraph } from "../../offchain/ml/webgpu-loss-graph";
import { evaluate } from "../../offchain/ml/evaluate";
import { decode } from "../../offchain/ml/decode";
import { disposeServed, generate, loadServed, prepareServingDir, sessionOf } from "../../offchain/ml/serve";
import { trainModel } from "../../offchain/ml/train";
import { requestWebgpuAdapter, webgpuStatus } from "../../offchain/ml/webgpu-device";
import {
  DEFAULT_VOCAB_CHUNK,
  disposeEvalSessions,
  evaluateInGraph,
  lossGraphFile,
} from "../../offchain/ml/webgpu-eval";
import { Rng } from "../../offchain/ml/rng";
import { benchTorchExecutor } from "../../offchain/ml/torch-bench";

export const CONFIGS: Record<string, { n_embd: number; n_layer: number; n_head: number; n_positions: number }> = {
  tiny: { n_embd: 64, n_layer: 2, n_head: 4, n_positions: 128 },
  small: { n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024 },
  medium: { n_embd: 1024, n_layer: 24, n_head: 16, n_positions: 1024 },
};
const LIMITS = { maxParams: 400_000_000, maxContext: 2048, maxVocab: 65_536 };
const SEED = 20261204;

const out = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** English-like text from a seeded generator: ~1.3 GPT-2 tokens a word. */
function corpus(words: number, seed: string): string {
  const vocab =
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they you were her she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three".split(
      " ",
    );
  const rng = new Rng(seed, "gpu-check corpus");
  const parts: string[] = [];
  for (let i = 0; i < words; i++) {
    parts.push(vocab[Math.floor(rng.next() * vocab.length)]);
    if (i % 17 === 16) parts.push(".\n");
  }
  return parts.join(" ");
}

interface Prepared {
  modelDir: string;
  evalData: string;
  warmData: string;
  trainData: string;
}

function paths(dir: string, config: string): Prepared {
  return {
    modelDir: path.join(dir, `model-${config}`),
    evalData: path.join(dir, `eval-${config}.txt`),
    warmData: path.join(dir, `warm-${config}.txt`),
    trainData: path.join(dir, `train-${config}.txt`),
  };
}

async function prepare(dir: string, config: string): Promise<void> {
  const t0 = Date.now();
  const p = paths(dir, config);
  const c = CONFIGS[config];
  const created = await createModel(p.modelDir, { preset: "small", config: c, seed: SEED, limits: LIMITS });
  const evalTokens = Number(arg("eval-tokens", config === "tiny" ? "3000" : "66000"));
  fs.writeFileSync(p.evalData, corpus(evalTokens, `eval-${config}`));
  fs.writeFileSync(p.warmData, corpus(Math.min(evalTokens, 2 * c.n_positions + 200), `warm-${config}`));
  fs.writeFileSync(p.trainData, corpus(config === "tiny" ? 6000 : 80000, `train-${config}`));
  const { dir: serving } = await prepareServingDir(p.modelDir, { limits: LIMITS });
  const full = readConfig(p.modelDir, LIMITS);
  for (const forward of ["serving", "fused"] as const) lossGraphFile(serving, full, { forward });
  if (config === "small" || config === "tiny") lossGraphFile(serving, full, { head: "gemm" });
  out({
    step: "prepare",
    config,
    params: created.params,
    weightsRoot: created.weightsRoot,
    sec: (Date.now() - t0) / 1000,
  });
}

async function infer(dir: string, config: string, device: "webgpu" | "cpu"): Promise<void> {
  const p = paths(dir, config);
  const c = CONFIGS[config];
  const ctx = Number(arg("ctx", String(c.n_positions)));
  const batch = Number(arg("batch", device === "webgpu" ? "8" : "1"));
  const common = { datasets: [p.evalData], contextLength: ctx, stride: ctx, modelLimits: LIMITS, limits: LIMITS };
  const run = (datasets: string[]) =>
    device === "webgpu"
      ? evaluate(p.modelDir, { ...common, datasets, device: "webgpu" })
      : evaluateInGraph(p.modelDir, { ...common, datasets, provider: "cpu", batchSize: batch });
  // small: the Gemm head too, for comparison (reported as webgpu-eval-gemm)
  if (config === "small" || config === "tiny") {
    try {
      const g = { ...common, datasets: [p.warmData], provider: device, batchSize: batch, headOp: "gemm" as const };
      await evaluateInGraph(p.modelDir, g);
      const r = await evaluateInGraph(p.modelDir, { ...g, datasets: [p.evalData] });
      out({ step: "webgpu-eval-gemm", config, device, tokens_per_s: r.tokenCount / r.timing.elapsedSec, loss: r.loss });
    } catch (e) {
      out({ step: "webgpu-eval-gemm", config, device, error: String((e as Error).stack ?? e).slice(0, 800) });
    }
    await disposeEvalSessions();
  }
  let servingLoss: number | undefined;
  try {
    let t = Date.now();
    const warm = await run([p.warmData]);
    const warmSec = (Date.now() - t) / 1000;
    t = Date.now();
    const r = await run([p.evalData]);
    servingLoss = r.loss;
    out({
      step: "webgpu-eval",
      config,
      device,
      tokens_per_s: r.tokenCount / r.timing.elapsedSec,
      tokens: r.tokenCount,
      sec: r.timing.elapsedSec,
      wallSec: (Date.now() - t) / 1000,
      loadAndWarmSec: warmSec,
      loss: r.loss,
      batch,
      ctx,
    });
    // A verifier re-runs a WebGPU receipt on a WebGPU host: the same evaluation again must give the same bits.
    const again = await run([p.warmData]);
    out({
      step: "webgpu-repeat",
      what: "evaluation",
      config,
      device,
      same: again.loss === warm.loss,
      a: warm.loss,
      b: again.loss,
    });
  } catch (e) {
    out({ step: "webgpu-eval", config, device, error: String((e as Error).stack ?? e).slice(0, 1500) });
  }
  await disposeEvalSessions();
  // The loss on the fused forward (MultiHeadAttention, SkipLayerNormalization, ...) at this batch and at batch 1
  // (onnxruntime's flash attention kernel is for batch 1), with its loss's distance from the serving graph's.
  for (const b of [...new Set([batch, 1])]) {
    try {
      const g = { ...common, provider: device, batchSize: b, forward: "fused" as const };
      await evaluateInGraph(p.modelDir, { ...g, datasets: [p.warmData] });
      const r = await evaluateInGraph(p.modelDir, g);
      const tokens_per_s = r.tokenCount / r.timing.elapsedSec;
      const lossDiff = servingLoss === undefined ? null : Math.abs(r.loss - servingLoss);
      out({ step: "webgpu-eval-fused", config, device, batch: b, tokens_per_s, loss: r.loss, lossDiff });
    } catch (e) {
      out({
        step: "webgpu-eval-fused",
        config,
        device,
        batch: b,
        error: String((e as Error).stack ?? e).slice(0, 800),
      });
    }
    await disposeEvalSessions();
  }
  try {
    const n = Number(arg("new-tokens", config === "tiny" ? "16" : "128"));
    const prompt = "The history of the marketplace begins with a simple question about who pays";
    let t = Date.now();
    await generate(p.modelDir, [prompt], { maxNewTokens: 4 }, { device, limits: LIMITS });
    const warmSec = (Date.now() - t) / 1000;
    t = Date.now();
    const g = await generate(p.modelDir, [prompt], { maxNewTokens: n }, { device, limits: LIMITS });
    const sec = (Date.now() - t) / 1000;
    out({
      step: "webgpu-generate",
      config,
      device,
      batch: 1,
      tokens_per_s: g.generatedTokens / sec,
      tokens: g.generatedTokens,
      finish: g.generations[0].finishReason,
      promptTokens: g.generations[0].promptTokens,
      sec,
      loadAndWarmSec: warmSec,
    });
    // Greedy again, shorter: the same tokens as the first run's prefix.
    const k = Math.min(n, 32);
    const again = await generate(p.modelDir, [prompt], { maxNewTokens: k }, { device, limits: LIMITS });
    const a = g.generations[0].tokens.slice(0, k);
    const b = again.generations[0].tokens.slice(0, k);
    out({ step: "webgpu-repeat", what: "generation", config, device, same: a.join() === b.join(), tokens: k });
  } catch (e) {
    out({ step: "webgpu-generate", config, device, error: String((e as Error).stack ?? e).slice(0, 1500) });
  }
  // The previous WebGPU path, for comparison: the serving graph in transformers.js' session (about 25 nodes a block
  // where the fused decoding graph has about 12), driven by the same decode loop.
  try {
    const n = Number(arg("new-tokens", config === "tiny" ? "16" : "128"));
    const served = await loadServed(p.modelDir, { device, limits: LIMITS });
    const ids = served.tokenizer.encode("The history of the marketplace begins with a simple question about who pays");
    const settings = { maxNewTokens: n, sample: false, temperature: 1, topK: 0, processors: [] };
    await decode(sessionOf(served), served.config, ids, { ...settings, maxNewTokens: 4 });
    const t = Date.now();
    const tokens = await decode(sessionOf(served), served.config, ids, settings);
    const sec = (Date.now() - t) / 1000;
    out({
      step: "webgpu-generate-serving",
      config,
      device,
      batch: 1,
      tokens_per_s: tokens.length / sec,
      tokens: tokens.length,
      sec,
    });
  } catch (e) {
    out({ step: "webgpu-generate-serving", config, device, error: String((e as Error).stack ?? e).slice(0, 1500) });
  }
  await disposeServed();
}

const ids = (b: number, t: number, f: (i: number, j: number) => number): ort.Tensor =>
  new ort.Tensor(
    "int64",
    BigInt64Array.from({ length: b * t }, (_, k) => BigInt(f(Math.floor(k / t), k % t))),
    [b, t],
  );

async function profile(dir: string, config: string, device: "webgpu" | "cpu"): Promise<void> {
  const p = paths(dir, config);
  const c = CONFIGS[config];
  const { dir: serving } = await prepareServingDir(p.modelDir, { limits: LIMITS });
  const b = Number(arg("batch", device === "webgpu" ? "8" : "1"));
  const t = Number(arg("ctx", String(c.n_positions)));
  const tok = (i: number, j: number): number => (7919 * (i * t + j) + 13) % 50257;
  const lossFeeds = {
    input_ids: ids(b, t, tok),
    attention_mask: ids(b, t, () => 1),
    position_ids: ids(b, t, (_, j) => j),
    labels: ids(b, t, (i, j) => tok(i, j + 1)),
  };
  const full = readConfig(p.modelDir, LIMITS);
  const servingBytes = fs.readFileSync(path.join(serving, "onnx", "model.onnx"));
  const graphs: Array<[string, string | Uint8Array, Record<string, ort.Tensor>]> = [
    ["loss", lossGraphFile(serving, full), lossFeeds],
    ["loss-fused", lossGraphFile(serving, full, { forward: "fused" }), lossFeeds],
    [
      "loss-fused-gqa",
      buildLossGraph(buildFusedGraph(servingBytes, full, "forward", "gqa"), full.vocab_size, DEFAULT_VOCAB_CHUNK),
      lossFeeds,
    ],
  ];
  // One decoding step at batch 1 after `past` tokens (the cache is uploaded here; generate keeps it on the GPU).
  const past = Math.min(128, c.n_positions - 1);
  const step = decodeStepFeeds(c, past);
  graphs.push(["decode", path.join(serving, "onnx", "model.onnx"), step]);
  graphs.push(["decode-webgpu", webgpuDecodeGraphFile(serving, full), step]);
  graphs.push(["decode-webgpu-gqa", buildFusedGraph(servingBytes, full, "decode", "gqa"), step]);
  for (const [graph, file, feeds] of graphs) {
    try {
      const s = await profileGraph(file, device, feeds, {
        runs: 3,
        keepTrace: path.join(dir, `profile-${graph}-${config}.json`),
      });
      const loss = graph.startsWith("loss");
      out({ step: "webgpu-profile", config, device, graph, batch: loss ? b : 1, tokens: loss ? b * t : 1, ...s });
    } catch (e) {
      out({ step: "webgpu-profile", config, device, graph, error: String((e as Error).stack ?? e).slice(0, 1500) });
    }
  }
}

async function train(dir: string, config: string, device: "webgpu" | "cpu"): Promise<void> {
  const p = paths(dir, config);
  const batchSize = Number(arg("batch", "8"));
  const ctx = Number(arg("ctx", config === "tiny" ? "64" : "512"));
  const steps = Number(arg("steps", "4"));
  const stamps: number[] = [];
  try {
    const r = await trainModel({
      modelDir: p.modelDir,
      outDir: path.join(dir, `trained-${config}`),
      datasets: [p.trainData],
      seed: 1,
      steps,
      lr: 1e-4,
      batchSize,
      contextLength: ctx,
      evalWindows: 1,
      warmupSteps: 1,
      modelLimits: LIMITS,
      device,
      onProgress: (q) => {
        if (q.phase === "train") stamps.push(Date.now());
      },
    });
    // Steady state: from the end of step 1 (shader compilation, first uploads) to the last step.
    const steady = stamps.length > 1 ? (stamps[stamps.length - 1] - stamps[0]) / 1000 / (stamps.length - 1) : NaN;
    out({
      step: "webgpu-train",
      config,
      device,
      tokens_per_s: (batchSize * ctx) / steady,
      secPerStep: steady,
      batch: batchSize,
      ctx,
      steps: r.stepsDone,
      lossFirst: r.lossCurve[0],
      lossLast: r.lossCurve[r.lossCurve.length - 1],
      engine: device === "webgpu" ? "onnxruntime-webgpu" : "onnxruntime-cpu",
    });
  } catch (e) {
    out({ step: "webgpu-train", config, device, error: String((e as Error).stack ?? e).slice(0, 1500) });
  }
}

async function executor(dir: string, config: string, device: "webgpu" | "cpu"): Promise<void> {
  const work = path.join(dir, `exec-${config}`);
  fs.mkdirSync(work, { recursive: true });
  if (!fs.existsSync(path.join(work, "model"))) fs.symlinkSync(paths(dir, config).modelDir, path.join(work, "model"));
  const quick = device === "cpu";
  const torchDevice = quick ? "cpu" : "cuda";
  const ctx = quick ? 64 : 1024;
  const runs: Array<[string, Parameters<typeof benchTorchExecutor>[0]]> = [
    ["executor-train", { kind: "train", batchSize: quick ? 1 : 8, contextLength: ctx, steps: quick ? 3 : 30, config }],
    ["executor-eval", { kind: "evaluate", contextLength: ctx, windows: quick ? 4 : 64, config }],
    ["executor-generate", { kind: "infer", prompts: 1, maxNewTokens: quick ? 16 : 128, config }],
  ];
  for (const [step, o] of runs) {
    try {
      const r = await benchTorchExecutor({ ...o, device: torchDevice, workDir: work });
      const tps = r.steadyTokensPerSec ?? r.tokensPerSec;
      out({
        step,
        config,
        device: torchDevice,
        tokens_per_s: tps,
        loopTokensPerSec: r.tokensPerSec,
        wallSec: r.wallSec,
        runtime: r.runtime,
        timing: r.timing,
      });
    } catch (e) {
      out({ step, config, device: torchDevice, error: String((e as Error).stack ?? e).slice(0, 1500) });
    }
  }
}

async function info(): Promise<void> {
  const st = webgpuStatus();
  out({ step: "info", node: process.version, vulkan: st });
  try {
    const a = await requestWebgpuAdapter();
    out({ step: "info", adapter: a.info });
  } catch (e) {
    out({ step: "info", adapter: null, error: String((e as Error).message ?? e) });
  }
}

async function main(): Promise<void> {
  const [cmd, dir, config] = process.argv
    .slice(2)
    .filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--"));
  const device = arg("device", "webgpu") === "cpu" ? "cpu" : "webgpu";
  if (cmd !== "info" && (!dir || !CONFIGS[config]))
    throw new Error(`usage: ${cmd} DIR tiny|small|medium [--device cpu]`);
  if (cmd === "info") await info();
  else if (cmd === "prepare") await prepare(dir, config);
  else if (cmd === "infer") await infer(dir, config, device);
  else if (cmd === "profile") await profile(dir, config, device);
  else if (cmd === "train") await train(dir, config, device);
  else if (cmd === "executor") await executor(dir, config, device);
  else throw new Error(`unknown command ${cmd}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    out({ step: process.argv[2], error: String((e as Error).stack ?? e).slice(0, 1500) });
    process.exit(1);
  },
);
