import * as ort from "onnxruntime-node";
import { tensorSpecs, Weights } from "./checkpoint";
import { Gpt2Config, parameterCount } from "./config";
import { buildTrainGraph } from "./onnx-train";

/**
 * The training engine: GPT-2's step graph (offchain/ml/onnx-train.ts) on onnxruntime's CPU kernels.
 * Parameters are the caller's float32 buffers, wrapped once as input tensors (no copy in or out: AdamW
 * updates the same buffers in place between steps); gradients land in preallocated output buffers.
 */

export interface StepOutput {
  loss: number;
  /** Σ of all squared gradients (global-norm clipping). */
  sumsq: number;
  grads: Map<string, Float32Array>;
}

/** Where the step graph runs: onnxruntime's CPU kernels, or its bundled WebGPU provider. */
export type TrainProvider = "cpu" | "webgpu";

/**
 * Models up to this size train with onnxruntime's memory arena: each step reuses the memory the last one took
 * instead of handing it back to the system and faulting it in again (the tiny preset, batch 16: 13.7 CPU s a
 * run instead of 33.9, page faults a third of them; peak memory 1.3 GB instead of 0.7). Measured deterministic at the
 * tiny preset's size (3.3 M parameters: the arena-off weights root in every run and process, docs/ml.md); above this
 * bound the arena stays off, as GPT-2 small's weights root once differed between processes with it.
 */
export const ARENA_MAX_PARAMS = 8_000_000;

const sessionOptions = (
  c: Gpt2Config,
  threads: number,
  provider: TrainProvider,
): ort.InferenceSession.SessionOptions => ({
  executionProviders: provider === "webgpu" ? ["webgpu"] : ["cpu"],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "all",
  enableCpuMemArena: parameterCount(c) <= ARENA_MAX_PARAMS,
  logSeverityLevel: 3,
});

export class OrtTrainer {
  private readonly params: Record<string, ort.Tensor> = {};
  private readonly gradBufs = new Map<string, Float32Array>();
  private readonly fetches: Record<string, ort.Tensor | null> = {};
  private readonly forwardSessions = new Map<number, Promise<ort.InferenceSession>>();

  private constructor(
    private readonly c: Gpt2Config,
    private readonly ctx: number,
    private readonly threads: number,
    private readonly provider: TrainProvider,
    private readonly stepSession: ort.InferenceSession,
    weights: Weights,
  ) {
    // All gradients in one allocation, each at a 64-byte-aligned offset: vectorised reductions over them
    // (the clipping norm) then see the same alignment in every process, so they sum in the same order.
    const specs = tensorSpecs(c);
    const offsets: number[] = [];
    let total = 0;
    for (const [, shape] of specs) {
      offsets.push(total);
      total += Math.ceil(shape.reduce((a, b) => a * b, 1) / 16) * 16;
    }
    const all = new Float32Array(total);
    specs.forEach(([name, shape], i) => {
      this.params[`w.${name}`] = new ort.Tensor("float32", weights.get(name) as Float32Array, shape);
      const g = all.subarray(offsets[i], offsets[i] + shape.reduce((a, b) => a * b, 1));
      this.gradBufs.set(name, g);
      this.fetches[`g.${name}`] = new ort.Tensor("float32", g, shape);
    });
    this.fetches.loss = null;
    this.fetches.grad_sumsq = null;
  }

  /** A trainer for batches of `batch` windows of `ctx` tokens over these weights (updated in place by the caller). */
  static async create(
    c: Gpt2Config,
    weights: Weights,
    batch: number,
    ctx: number,
    threads: number,
    provider: TrainProvider = "cpu",
  ): Promise<OrtTrainer> {
    const model = buildTrainGraph({ config: c, batch, ctx, backward: true });
    const session = await ort.InferenceSession.create(model, sessionOptions(c, threads, provider));
    return new OrtTrainer(c, ctx, threads, provider, session, weights);
  }

  private static feeds(x: Int32Array, y: Int32Array): Record<string, ort.Tensor> {
    return {
      input_ids: new ort.Tensor(
        "int64",
        BigInt64Array.from(x, (v) => BigInt(v)),
        [x.length],
      ),
      targets: new ort.Tensor(
        "int64",
        BigInt64Array.from(y, (v) => BigInt(v)),
        [y.length, 1],
      ),
    };
  }

  /** Loss and gradients of one batch (x, y: [batch · ctx] token ids, windows row after row). */
  async step(x: Int32Array, y: Int32Array): Promise<StepOutput> {
    const out = await this.stepSession.run({ ...OrtTrainer.feeds(x, y), ...this.params }, this.fetches);
    // onnxruntime wrote the gradients into the preallocated buffers (the binding's returned copies are dropped).
    return {
      loss: (out.loss.data as Float32Array)[0],
      sumsq: (out.grad_sumsq.data as Float32Array)[0],
      grads: this.gradBufs,
    };
  }

  /** Σ next-token NLL over a batch of windows (forward only; one session per batch size). */
  async nllSum(x: Int32Array, y: Int32Array): Promise<number> {
    const batch = x.length / this.ctx;
    let s = this.forwardSessions.get(batch);
    if (!s) {
      const model = buildTrainGraph({ config: this.c, batch, ctx: this.ctx, backward: false });
      s = ort.InferenceSession.create(model, sessionOptions(this.c, this.threads, this.provider));
      this.forwardSessions.set(batch, s);
    }
    const out = await (await s).run({ ...OrtTrainer.feeds(x, y), ...this.params }, ["nll_sum"]);
    return (out.nll_sum.data as Float32Array)[0];
  }

  private released = false;

  /** Frees the sessions (idempotent). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.stepSession.release();
    for (const s of this.forwardSessions.values()) await (await s).release();
    this.forwardSessions.clear();
  }
}
