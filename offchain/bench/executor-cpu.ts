/**
 * The PyTorch executor on the CPU, beside the builtin runtime and the raw PyTorch reference in the ML bench (issue
 * 13: "on the CPU, the PyTorch executor's figures beside the builtin runtime's"): the same config, batch, context,
 * evaluation stride and generation length, through job.json as a worker runs it (offchain/ml/torch-bench.ts), with
 * torch on the same thread count. Its tokens/s are its own loop's (model load and start-up excluded, as the raw
 * reference's are); `<what> vs raw PyTorch` (device cpu) is the executor ÷ the reference measured in the same run.
 */
import type { benchTorchExecutor as BenchTorchExecutor } from "../ml/torch-bench";
import type { JobKind } from "../ml/executor";
import type { BenchFigure } from "./figures";

interface Plan {
  train: { batchSize: number; contextLength: number; steps: number };
  gen: { prompts: number; maxNewTokens: number };
  evalCtx: number;
  evalStride: number;
}

/** The figures of one config; `raw` holds the reference's tokens/s per figure name (train, evaluation, generation). */
export async function executorCpuFigures(
  config: "tiny" | "small",
  plan: Plan,
  raw: Record<string, number | undefined>,
  o: { label: string; threads: number; python: string; base: Record<string, unknown> },
): Promise<BenchFigure[]> {
  const windows = 8;
  // Loaded here, not at the top: the bench's parent process keeps the runtime out (its phases run in children).
  const { benchTorchExecutor } = await import("../ml/torch-bench");
  type Shape = Omit<Parameters<typeof BenchTorchExecutor>[0], "config" | "kind">;
  const runs: Array<[string, JobKind, Shape]> = [
    ["train", "train", { ...plan.train }],
    ["evaluation", "evaluate", { contextLength: plan.evalCtx, stride: plan.evalStride, windows }],
    // Batch 1, as the builtin and the reference generate (one prompt at a time).
    ["generation", "infer", { prompts: 1, maxNewTokens: plan.gen.maxNewTokens }],
  ];
  const figures: BenchFigure[] = [];
  for (const [what, kind, shape] of runs) {
    let r;
    try {
      r = await benchTorchExecutor({
        ...shape,
        config,
        kind,
        device: "cpu",
        threads: o.threads,
        python: o.python,
      });
    } catch (e) {
      console.warn(`  (PyTorch executor ${what}, ${config}, skipped: ${(e as Error).message.slice(0, 300)})`);
      continue;
    }
    const p = { ...o.base, device: "cpu", threads: o.threads, engine: "pytorch-executor", runtime: r.runtime };
    figures.push({
      name: `${what} tokens/s, PyTorch executor (CPU), ${o.label}`,
      value: r.tokensPerSec,
      unit: "tokens/s",
      params: { ...p, wallSec: r.wallSec },
    });
    const ref = raw[what];
    if (ref) {
      figures.push({
        name: `${what} vs raw PyTorch`,
        value: r.tokensPerSec / ref,
        unit: "ratio",
        params: { ...p, executor: r.tokensPerSec, pytorch: ref },
      });
    }
  }
  return figures;
}
