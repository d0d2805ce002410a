/**
 * Model-runtime benchmark: train, generation and evaluation tokens/s for the tiny config (2 layers,
 * width 64) and GPT-2 small (12 layers, width 768; a few steps), each with the FLOP/s it reaches as a
 * fraction of onnxruntime's matrix-multiply FLOP/s measured in the same run with the same 2 threads
 * (the tfjs-wasm peak is kept as a figure), the peak memory of each phase, and the same work done by a
 * PyTorch CPU reference (bench/torch-reference.py, /usr/bin/python3, 2 threads) with each ratio
 * ("train vs PyTorch CPU", "evaluation vs PyTorch CPU", "generation vs PyTorch CPU").
 *
 * Each phase runs in its own child process so that its peak RSS is its own.
 *   POSTHUMAN_BENCH=ml npm run bench          (writes bench/results/ml.json)
 *   BENCH_ML_SKIP_SMALL=1 POSTHUMAN_BENCH=ml npm run bench   (tiny only)
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type * as tfTypes from "@tensorflow/tfjs-core";
import type { onnx as onnxTypes } from "onnx-proto";
import type * as mlTypes from "../ml";
import { PRESETS } from "../ml/config";
import { printFigures, writeFigures, type BenchFigure } from "./figures";
import { executorCpuFigures } from "./executor-cpu";

export type { BenchFigure };

/** The model runtime, imported in each phase's child process. */
type MlModule = typeof mlTypes;
type ConfigName = "tiny" | "small";
type Task =
  | { phase: "matmul" }
  | { phase: "create"; config: ConfigName; dir: string }
  | { phase: "train"; config: ConfigName; dir: string }
  | { phase: "generate"; config: ConfigName; dir: string; cacheDir: string }
  | { phase: "evaluate"; config: ConfigName; dir: string; cacheDir: string };

interface PhaseResult {
  figures: Record<string, number>;
  params: Record<string, unknown>;
  peakRssBytes: number;
}

const ROOT = path.join(__dirname, "..", "..");
const CORPUS = path.join(ROOT, "test", "ml", "fixtures", "corpus.txt");

/** Settings of each config's runs. */
const PLAN = {
  tiny: {
    train: { batchSize: 8, contextLength: 64, steps: 12 },
    gen: { prompts: 4, maxNewTokens: 48 },
    evalCtx: 64,
    evalStride: 32,
  },
  small: {
    train: { batchSize: 4, contextLength: 128, steps: 3 },
    gen: { prompts: 1, maxNewTokens: 32 },
    evalCtx: 128,
    evalStride: 64,
  },
} as const;

const PROMPTS = [
  "The lighthouse keeper on the northern cape",
  "In spring the fog came in",
  "His daughter repaired clocks",
  "The engineers were polite",
];

const tokensFile = (modelDir: string): string => `${modelDir}-tokens.json`;

const MATMUL_SHAPES: Array<[number, number, number]> = [
  [512, 768, 768],
  [512, 768, 3072],
  [512, 64, 50257],
  [128, 768, 50257],
];

/** Runs one phase of the benchmark (in its child process) and reports its figures and peak memory. */
async function runPhase(task: Task): Promise<PhaseResult> {
  const ml = await import("../ml");
  if (task.phase === "matmul") return matmulPhase();
  if (task.phase === "create") return createPhase(ml, task);
  if (task.phase === "train") return trainPhase(ml, task);
  if (task.phase === "generate") return generatePhase(ml, task);
  return evaluatePhase(ml, task);
}

/** This process's peak resident memory in bytes. */
const peak = (): number => process.resourceUsage().maxRSS * 1024;

/** The peak matrix-multiply FLOP/s of tfjs-wasm and of onnxruntime (1 thread, and BENCH_THREADS), by shape too. */
async function matmulPhase(): Promise<PhaseResult> {
  const [tfBest, tfShape] = await tfjsMatmulPeak();
  // onnxruntime (the engine transformers.js runs), one MatMul node, 1 intra-op thread like serving.
  const [ortBest, ortShape] = await ortMatmulPeak(1);
  const [ort2Best, ort2Shape] = await ortMatmulPeak(BENCH_THREADS);
  return {
    figures: { tfjs: tfBest, ort: ortBest, ort2: ort2Best },
    params: { tfjsByShape: tfShape, ortByShape: ortShape, ort2ByShape: ort2Shape },
    peakRssBytes: peak(),
  };
}

/** tfjs-wasm's best matMul FLOP/s over MATMUL_SHAPES, and its FLOP/s by shape. */
async function tfjsMatmulPeak(): Promise<[number, Record<string, number>]> {
  const { ensureWasmBackend, tf } = await import("../ml/tf-backend");
  await ensureWasmBackend();
  let tfBest = 0;
  const tfShape: Record<string, number> = {};
  for (const [m, k, n] of MATMUL_SHAPES) {
    const a = tf.randomNormal([m, k]);
    const b = tf.randomNormal([k, n]);
    tf.matMul(a as tfTypes.Tensor2D, b as tfTypes.Tensor2D).dispose();
    const reps = 5;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) {
      const c = tf.matMul(a as tfTypes.Tensor2D, b as tfTypes.Tensor2D);
      c.dataSync();
      c.dispose();
    }
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    const gf = (reps * 2 * m * k * n) / sec;
    tfShape[`${m}x${k}x${n}`] = gf;
    tfBest = Math.max(tfBest, gf);
    a.dispose();
    b.dispose();
  }
  return [tfBest, tfShape];
}

/** onnxruntime's best MatMul FLOP/s over MATMUL_SHAPES with `threads` intra-op threads, and its FLOP/s by shape. */
async function ortMatmulPeak(threads: number): Promise<[number, Record<string, number>]> {
  const ort = await import("onnxruntime-node");
  const { onnx } = await import("onnx-proto");
  const F = onnx.TensorProto.DataType.FLOAT;
  const vi = (name: string, dims: string[]): onnxTypes.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => ({ dimParam: d })) } } },
  });
  const model = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      graph: {
        name: "mm",
        node: [{ opType: "MatMul", input: ["A", "B"], output: ["Y"] }],
        input: [vi("A", ["m", "k"]), vi("B", ["k", "n"])],
        output: [vi("Y", ["m", "n"])],
      },
    }),
  ).finish();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
  let best = 0;
  const byShape: Record<string, number> = {};
  for (const [m, k, n] of MATMUL_SHAPES) {
    const feeds = {
      A: new ort.Tensor(
        "float32",
        Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)),
        [m, k],
      ),
      B: new ort.Tensor(
        "float32",
        Float32Array.from({ length: k * n }, (_, i) => Math.cos(i)),
        [k, n],
      ),
    };
    await session.run(feeds);
    const reps = 5;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) await session.run(feeds);
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    const gf = (reps * 2 * m * k * n) / sec;
    byShape[`${m}x${k}x${n}`] = gf;
    best = Math.max(best, gf);
  }
  await session.release();
  return [best, byShape];
}

/** Creates the model of a config, and writes the corpus's and prompts' tokens for the PyTorch reference. */
async function createPhase(ml: MlModule, task: Extract<Task, { phase: "create" }>): Promise<PhaseResult> {
  const t0 = Date.now();
  const m = await ml.createModel(task.dir, { preset: task.config, seed: 1 });
  // The same tokens for the PyTorch reference (bench/torch-reference.py).
  const tok = ml.loadCheckpoint(task.dir).tokenizer;
  fs.writeFileSync(
    tokensFile(task.dir),
    JSON.stringify({
      tokens: tok.encode(fs.readFileSync(CORPUS, "utf8")),
      prompts: PROMPTS.map((p) => tok.encode(p)),
    }),
  );
  return {
    figures: { seconds: (Date.now() - t0) / 1000, params: m.params },
    params: { weightsRoot: m.weightsRoot },
    peakRssBytes: peak(),
  };
}

/** Trains a few steps; tokens/s and FLOP/s of the steady steps (from the end of step 1). */
async function trainPhase(ml: MlModule, task: Extract<Task, { phase: "train" }>): Promise<PhaseResult> {
  const plan = PLAN[task.config];
  const stamps: number[] = [];
  const r = await ml.trainModel({
    modelDir: task.dir,
    outDir: path.join(path.dirname(task.dir), `${task.config}-trained`),
    datasets: [CORPUS],
    seed: 1,
    lr: 1e-4,
    ...plan.train,
    warmupSteps: 0,
    evalWindows: 1,
    validationFraction: 0.2,
    threads: BENCH_THREADS,
    onProgress: (p) => {
      if (p.phase === "train") stamps.push(performance.now());
    },
  });
  // Steady state: from the end of step 1 to the end of the last step.
  const steady = (stamps[stamps.length - 1] - stamps[0]) / 1000 / (stamps.length - 1);
  const tokensPerStep = r.tokensPerStep;
  return {
    figures: {
      tokensPerSec: tokensPerStep / steady,
      flopsPerSec: r.timing.flopsPerStep / steady,
      secPerStep: steady,
    },
    params: {
      ...plan.train,
      flopsPerStep: r.timing.flopsPerStep,
      timedSteps: stamps.length - 1,
      lossFirst: r.lossCurve[0],
      lossLast: r.lossCurve[r.lossCurve.length - 1],
    },
    peakRssBytes: peak(),
  };
}

/** Greedy generation with the KV cache after a warm-up; tokens/s and FLOP/s. */
async function generatePhase(ml: MlModule, task: Extract<Task, { phase: "generate" }>): Promise<PhaseResult> {
  const plan = PLAN[task.config];
  const c = ml.PRESETS[task.config];
  const { forwardFlops } = await import("../ml/config");
  const opts = { cacheDir: task.cacheDir, threads: BENCH_THREADS };
  const prompts = PROMPTS.slice(0, plan.gen.prompts);
  await ml.generate(task.dir, prompts.slice(0, 1), { maxNewTokens: 2 }, opts);
  const t0 = performance.now();
  const g = await ml.generate(task.dir, prompts, { maxNewTokens: plan.gen.maxNewTokens }, opts);
  const sec = (performance.now() - t0) / 1000;
  // FLOPs of each generated token: one position through the model at its context length.
  let flops = 0;
  for (const gen of g.generations)
    for (let i = 0; i < gen.tokens.length + (gen.finishReason === "eos" ? 1 : 0); i++)
      flops +=
        forwardFlops(c, 1, gen.promptTokens + i + 1) - (2 * 2 * (gen.promptTokens + i + 1) * c.n_embd * c.n_layer) / 2;
  await ml.disposeServed();
  return {
    figures: { tokensPerSec: g.generatedTokens / sec, flopsPerSec: flops / sec },
    params: {
      prompts: prompts.length,
      maxNewTokens: plan.gen.maxNewTokens,
      generatedTokens: g.generatedTokens,
      greedy: true,
      kvCache: true,
      threads: BENCH_THREADS,
    },
    peakRssBytes: peak(),
  };
}

/** Evaluation over the corpus after a warm-up; scored and processed tokens/s, and FLOP/s. */
async function evaluatePhase(ml: MlModule, task: Extract<Task, { phase: "evaluate" }>): Promise<PhaseResult> {
  const plan = PLAN[task.config];
  const c = ml.PRESETS[task.config];
  const { forwardFlops } = await import("../ml/config");
  const opts = {
    cacheDir: task.cacheDir,
    threads: BENCH_THREADS,
    datasets: [CORPUS],
    contextLength: plan.evalCtx,
    stride: plan.evalStride,
  };
  await ml.evaluate(task.dir, opts);
  const t0 = performance.now();
  const e = await ml.evaluate(task.dir, opts);
  const sec = (performance.now() - t0) / 1000;
  await ml.disposeServed();
  return {
    figures: {
      tokensPerSec: e.tokenCount / sec,
      processedTokensPerSec: e.processedTokens / sec,
      flopsPerSec: forwardFlops(c, e.processedTokens, plan.evalCtx) / sec,
    },
    params: {
      contextLength: plan.evalCtx,
      stride: plan.evalStride,
      scoredTokens: e.tokenCount,
      processedTokens: e.processedTokens,
      threads: BENCH_THREADS,
    },
    peakRssBytes: peak(),
  };
}

/** The PyTorch CPU reference (bench/torch-reference.py) on the same model folder, tokens, batch and context. */
const PYTHON = process.env.BENCH_TORCH_PYTHON ?? "/usr/bin/python3";
export const BENCH_THREADS = 2;

interface TorchResult {
  tokensPerSec: number;
  peakRssBytes: number;
  torch: string;
  threads: number;
  [k: string]: unknown;
}

function runTorch(task: Record<string, unknown>): Promise<TorchResult | null> {
  return new Promise((resolve) => {
    const script = path.join(ROOT, "bench", "torch-reference.py");
    const proc = spawn(PYTHON, [script, JSON.stringify({ threads: BENCH_THREADS, ...task })], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    proc.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    const fail = (why: string): void => {
      console.warn(`  (PyTorch reference ${String(task.phase)} skipped: ${why})`);
      resolve(null);
    };
    proc.on("error", (e) => fail(`${PYTHON}: ${e.message}`));
    proc.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("TORCH_RESULT "));
      if (code !== 0 || !line) return fail(`exit ${code}: ${err.slice(-500)}`);
      resolve(JSON.parse(line.slice("TORCH_RESULT ".length)) as TorchResult);
    });
  });
}

function runChild(task: Task): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ["-r", require.resolve("ts-node/register/transpile-only"), __filename, "--child", JSON.stringify(task)],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    proc.on("error", reject);
    proc.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
      if (code !== 0 || !line)
        return reject(new Error(`bench phase ${JSON.stringify(task)} failed (exit ${code}): ${out.slice(-2000)}`));
      resolve(JSON.parse(line.slice("BENCH_RESULT ".length)) as PhaseResult);
    });
  });
}

export async function benchMl(opts: { skipSmall?: boolean } = {}): Promise<BenchFigure[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "posthuman-bench-ml-"));
  const machine = { cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, node: process.versions.node };
  const figures: BenchFigure[] = [];
  try {
    const mm = await runChild({ phase: "matmul" });
    const peaks = { tfjs: mm.figures.tfjs, ort: mm.figures.ort, ort2: mm.figures.ort2 };
    figures.push({
      name: "matmul peak, tfjs-wasm (1 thread)",
      value: peaks.tfjs / 1e9,
      unit: "GFLOP/s",
      params: { ...machine, byShape: mm.params.tfjsByShape },
    });
    figures.push({
      name: "matmul peak, onnxruntime CPU (1 thread)",
      value: peaks.ort / 1e9,
      unit: "GFLOP/s",
      params: { ...machine, byShape: mm.params.ortByShape },
    });
    figures.push({
      name: `matmul peak, onnxruntime CPU (${BENCH_THREADS} threads)`,
      value: peaks.ort2 / 1e9,
      unit: "GFLOP/s",
      params: { ...machine, byShape: mm.params.ort2ByShape },
    });
    const configs: ConfigName[] = opts.skipSmall ? ["tiny"] : ["tiny", "small"];
    for (const config of configs) {
      const dir = path.join(work, config);
      const cacheDir = path.join(work, "cache");
      const created = await runChild({ phase: "create", config, dir });
      const plan = PLAN[config];
      const label = config === "tiny" ? "tiny (2 layers, width 64)" : "GPT-2 small (12 layers, width 768)";
      const base = { config, parameters: created.figures.params };
      const tr = await runChild({ phase: "train", config, dir });
      const gen = await runChild({ phase: "generate", config, dir, cacheDir });
      const ev = await runChild({ phase: "evaluate", config, dir, cacheDir });
      const add = (
        what: string,
        r: PhaseResult,
        peak: number,
        engine: string,
        extra: Record<string, unknown> = {},
      ): void => {
        const p = { ...base, ...r.params, ...extra, engine };
        figures.push({
          name: `${what} tokens/s, ${label}`,
          value: r.figures.tokensPerSec,
          unit: "tokens/s",
          params: p,
        });
        figures.push({
          name: `${what} FLOP/s, ${label}`,
          value: r.figures.flopsPerSec / 1e9,
          unit: "GFLOP/s",
          params: p,
        });
        figures.push({
          name: `${what} FLOP/s as a fraction of ${engine} matmul peak, ${label}`,
          value: r.figures.flopsPerSec / peak,
          unit: "fraction",
          params: { ...p, matmulPeakGflops: peak / 1e9 },
        });
        figures.push({
          name: `${what} peak memory (RSS), ${label}`,
          value: r.peakRssBytes / 2 ** 20,
          unit: "MiB",
          params: p,
        });
      };
      add("train", tr, peaks.ort2, `onnxruntime, ${BENCH_THREADS} threads`, { secPerStep: tr.figures.secPerStep });
      add("generation", gen, peaks.ort2, `onnxruntime, ${BENCH_THREADS} threads`);
      add("evaluation", ev, peaks.ort2, `onnxruntime, ${BENCH_THREADS} threads`, {
        processedTokensPerSec: ev.figures.processedTokensPerSec,
      });

      // The PyTorch CPU reference, same model folder, tokens, batch, context and thread count; then the ratios.
      const ref = { modelDir: dir, tokensFile: tokensFile(dir) };
      const refs: Array<[string, PhaseResult, TorchResult | null]> = [
        ["train", tr, await runTorch({ ...ref, phase: "train", lr: 1e-4, ...plan.train })],
        [
          "evaluation",
          ev,
          await runTorch({ ...ref, phase: "evaluate", contextLength: plan.evalCtx, stride: plan.evalStride }),
        ],
        [
          "generation",
          gen,
          await runTorch({
            ...ref,
            phase: "generate",
            maxNewTokens: plan.gen.maxNewTokens,
            eosTokenId: PRESETS[config].eos_token_id,
            prompts: plan.gen.prompts,
          }),
        ],
      ];
      for (const [what, ours, torch] of refs) {
        if (!torch) continue;
        const p = { ...base, torch: torch.torch, threads: torch.threads, engine: "pytorch-cpu" };
        figures.push({
          name: `${what} tokens/s, PyTorch CPU reference, ${label}`,
          value: torch.tokensPerSec,
          unit: "tokens/s",
          params: { ...p, peakRssMiB: torch.peakRssBytes / 2 ** 20 },
        });
        figures.push({
          name: `${what} vs PyTorch CPU`,
          value: ours.figures.tokensPerSec / torch.tokensPerSec,
          unit: "ratio",
          params: { ...p, ours: ours.figures.tokensPerSec, pytorch: torch.tokensPerSec },
        });
      }
      const raw = Object.fromEntries(refs.map(([what, , torch]) => [what, torch?.tokensPerSec]));
      const opts = { label, threads: BENCH_THREADS, python: PYTHON, base };
      figures.push(...(await executorCpuFigures(config, plan, raw, opts)));
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return figures;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf("--child");
  if (i >= 0) {
    const r = await runPhase(JSON.parse(process.argv[i + 1]) as Task);
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  const figures = await benchMl({ skipSmall: process.env.BENCH_ML_SKIP_SMALL === "1" });
  printFigures("Model runtime (ml)", figures, "ml.json");
  console.log(`  → ${writeFigures("ml.json", figures)}`);
}

// `npm run bench` calls benchMl(); each measured phase runs this file again as a child process with --child.
if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
