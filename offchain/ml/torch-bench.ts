/**
 * Runs the PyTorch executor on a synthetic job of a given model config and reports its speed: for others to call
 * (npm run bench, the GPU check) and as a CLI:
 *
 *   node -r ts-node/register/transpile-only offchain/ml/torch-bench.ts --config small --kind train \
 *     --batch 8 --ctx 1024 --steps 30 [--precision bf16|fp32] [--device auto|cpu|cuda] [--python python3] [--work DIR]
 *   ... --kind evaluate --ctx 1024 --windows 64        (stride = ctx: every token scored once)
 *   ... --kind infer --prompts 4 --new 64
 *
 * Prints one JSON line: tokensPerSec is the executor's own loop (run.py's clock, model load excluded),
 * wallSec the whole job through job.json (Node + Python start-up, tokenization, load, save).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createModel } from "./checkpoint";
import { Gpt2Config, PRESETS } from "./config";
import { JobKind } from "./executor";
import { Rng } from "./rng";
import { TorchExecutor, TorchSettings } from "./torch-executor";

export const BENCH_CONFIGS: Record<string, Partial<Gpt2Config>> = {
  tiny: PRESETS.tiny,
  small: PRESETS.small,
  medium: { ...PRESETS.small, n_embd: 1024, n_layer: 24, n_head: 16 },
};

export interface TorchBenchOptions extends TorchSettings {
  config: keyof typeof BENCH_CONFIGS | Partial<Gpt2Config>;
  kind: JobKind;
  batchSize?: number;
  contextLength?: number;
  steps?: number;
  /** Evaluation: windows of contextLength tokens (default 32), `stride` apart (default contextLength: every token
   * scored once; half of it scores the second half of each window, as the ML bench's evaluation does). */
  windows?: number;
  stride?: number;
  /** Inference: prompts and tokens generated for each (default 4 × 64). */
  prompts?: number;
  maxNewTokens?: number;
  /** Where the model and job folders go (default a temporary folder, removed afterwards). */
  workDir?: string;
}

export interface TorchBenchResult {
  kind: JobKind;
  config: string;
  runtime: string;
  runtimeId: string;
  tokensPerSec: number;
  steadyTokensPerSec: number | null;
  wallSec: number;
  timing: Record<string, unknown>;
}

const WORDS =
  "the harbour town woke before sun fishermen carried nets down stone steps and gulls followed them in loose circles calling over water wind south west force four rain later good".split(
    " ",
  );

/** About `tokens` GPT-2 tokens of word salad, the same every time. */
function syntheticText(tokens: number): string {
  const rng = new Rng("torch-bench", "text");
  const out: string[] = [];
  for (let i = 0; i < tokens; i++) out.push(WORDS[rng.int(WORDS.length)]);
  return out.join(" ") + "\n";
}

export async function benchTorchExecutor(o: TorchBenchOptions): Promise<TorchBenchResult> {
  const cfg = typeof o.config === "string" ? BENCH_CONFIGS[o.config] : o.config;
  if (!cfg) throw new Error(`unknown config ${String(o.config)} (${Object.keys(BENCH_CONFIGS).join(", ")})`);
  const root = o.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "torch-bench-"));
  const limits = { maxParams: 2e9, maxContext: 1 << 16, maxVocab: 1 << 20 };
  try {
    const modelDir = path.join(root, "model");
    if (!fs.existsSync(path.join(modelDir, "model.safetensors")))
      await createModel(modelDir, { config: cfg, seed: 1, limits });
    const ctx = o.contextLength ?? cfg.n_positions ?? 1024;
    const job = path.join(root, `job-${o.kind}`);
    fs.rmSync(job, { recursive: true, force: true });
    fs.mkdirSync(path.join(job, "inputs"), { recursive: true });
    let params: Record<string, unknown>;
    if (o.kind === "train") {
      const batch = o.batchSize ?? 8;
      // 16 windows to cycle through, plus the validation tail.
      fs.writeFileSync(path.join(job, "inputs", "data.txt"), syntheticText(Math.ceil(18 * (ctx + 1))));
      params = { steps: o.steps ?? 30, lr: 1e-4, batchSize: batch, contextLength: ctx, validationFraction: 0.1 };
    } else if (o.kind === "evaluate") {
      fs.writeFileSync(path.join(job, "inputs", "eval.txt"), syntheticText((o.windows ?? 32) * ctx + 1));
      params = { contextLength: ctx, stride: o.stride ?? ctx };
    } else {
      const prompts = Array.from({ length: o.prompts ?? 4 }, (_, i) => JSON.stringify({ prompt: `Prompt ${i}: the` }));
      fs.writeFileSync(path.join(job, "inputs", "prompts.jsonl"), prompts.join("\n") + "\n");
      params = { maxNewTokens: o.maxNewTokens ?? 64 };
    }
    fs.writeFileSync(path.join(job, "job.json"), JSON.stringify({ kind: o.kind, params, seed: 1, modelDir }));
    const exec = new TorchExecutor({ ...o, modelLimits: limits });
    const t0 = Date.now();
    const r = await exec.run({ kind: o.kind, jobDir: job });
    const wallSec = (Date.now() - t0) / 1000;
    const steady = r.timing.steadyTokensPerSec;
    return {
      kind: o.kind,
      config: typeof o.config === "string" ? o.config : JSON.stringify(o.config),
      runtime: exec.describe(),
      runtimeId: exec.runtimeId,
      tokensPerSec: Number(r.timing.tokensPerSec ?? 0),
      steadyTokensPerSec: typeof steady === "number" ? steady : null,
      wallSec,
      timing: r.timing,
    };
  } finally {
    if (!o.workDir) fs.rmSync(root, { recursive: true, force: true });
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const num = (n: string): number | undefined => (arg(n) === undefined ? undefined : Number(arg(n)));
  benchTorchExecutor({
    config: arg("config") ?? "tiny",
    kind: (arg("kind") ?? "train") as JobKind,
    batchSize: num("batch"),
    contextLength: num("ctx"),
    steps: num("steps"),
    windows: num("windows"),
    prompts: num("prompts"),
    maxNewTokens: num("new"),
    precision: arg("precision") as TorchSettings["precision"],
    inferencePrecision: arg("inference-precision") as TorchSettings["inferencePrecision"],
    device: arg("device") as TorchSettings["device"],
    python: arg("python"),
    threads: num("threads"),
    gpus: num("gpus"),
    workDir: arg("work"),
  }).then(
    (r) => console.log(JSON.stringify(r)),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
