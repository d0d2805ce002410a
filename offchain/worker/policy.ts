/**
 * Admission control: what a job will cost this worker, and whether to take it. A job's run time is estimated from
 * its parameters and the model's size (work = parameters × tokens processed) over the worker's own measured
 * throughput (work per second, per job kind and model size, persisted in SQLite and seeded by a conservative
 * default); the worker claims a job only when its price meets the operator's policy and the job, queued behind the
 * work already claimed on the configured run slots, finishes before its deadline.
 */
import type { WorkerDb } from "./db";
import { amountText, decodeJobParams } from "../protocol/params";
import { EXECUTOR_KINDS, type ExecutorKind } from "../protocol/job-spec";

/** The operator's policy (config `policy.*` and `admission.*`; docs/operator.md, "Admission and pricing"). */
export interface OperatorPolicy {
  /** Smallest fee taken per kind, in base-token wei. */
  minFee: Record<ExecutorKind, bigint>;
  /** Base-token wei asked per estimated second of compute, on top of the minimum. */
  feePerComputeSecond: bigint;
  /** Base-token wei the callback fee must hold per unit of a callback's gas limit (the worker pays that gas). */
  callbackGasPrice: bigint;
  /** Jobs run at once. */
  runSlots: number;
  /** How long a claimed job waits for its input before it is failed as INPUT_MISSING (the requester's fault). */
  inputWaitMs: number;
  /** Estimates are multiplied by this before they are compared with a deadline. */
  safetyFactor: number;
  /** Prompts an inference job is assumed to hold before its input is seen. */
  assumedPrompts: number;
  /** Tokens an evaluation input is assumed to hold before it is seen (its params' maxTokens caps it). */
  assumedEvalTokens: number;
}

export const DEFAULT_POLICY: OperatorPolicy = {
  minFee: { train: 0n, infer: 0n, evaluate: 0n },
  feePerComputeSecond: 0n,
  callbackGasPrice: 0n,
  runSlots: 1,
  inputWaitMs: 120_000,
  safetyFactor: 2,
  assumedPrompts: 16,
  assumedEvalTokens: 65_536,
};

/**
 * Default throughput in work units (model parameters × tokens) per second, before anything was measured here
 * (`posthuman worker --calibrate <model>` measures it; every finished run refines it). Conservative figures for a
 * small CPU: on the 2-core development machine the builtin runtime trains GPT-2 small at 96 tokens/s (1.2e10 units/s)
 * and the tiny model at 720 (2.4e9), generates at 51 and 2,600 tokens/s (6.4e9 and 8.7e9) and evaluates at 570 and
 * 5,800 (7.1e10 and 1.9e10): the defaults are 2–12× below those. Training counts steps × batch × context tokens;
 * inference, per prompt, its tokens and the generated ones (the KV cache makes each generated token one token's
 * pass); evaluation, the scored tokens.
 */
export const DEFAULT_THROUGHPUT: Record<ExecutorKind, number> = { train: 1e9, infer: 1e9, evaluate: 5e9 };
/** Tokens a prompt is assumed to hold before the input is seen. */
export const ASSUMED_PROMPT_TOKENS = 64;
/** Start-up of a run (process, model load), seconds, added to every estimate. */
export const RUN_OVERHEAD_SEC = 5;

export interface JobShape {
  kind: ExecutorKind;
  /** The on-chain params bytes. */
  params: string;
  /** The model's parameter count and context (config.json). */
  modelParams: number;
  nPositions: number;
  /** An inference input's prompt count, once the input is known. */
  prompts?: number;
  /** The input's size in bytes, once known (an evaluation scores at most one token a byte). */
  inputBytes?: number;
}

/** Work units of a job: parameters × tokens processed. */
export function jobWork(j: JobShape, policy: Pick<OperatorPolicy, "assumedPrompts" | "assumedEvalTokens">): number {
  const p = decodeJobParams(EXECUTOR_KINDS.indexOf(j.kind), j.params);
  let tokens: number;
  if (p.kind === "Train") {
    const ctx = Math.min(p.params.contextLength || j.nPositions, j.nPositions);
    tokens = p.params.steps * p.params.batchSize * ctx;
  } else if (p.kind === "Infer") {
    // Each prompt: one pass over its tokens, then one token's pass per generated token; never past the context.
    // Once the input is known a prompt holds at most a token per byte.
    const prompts = j.prompts ?? policy.assumedPrompts;
    const promptTokens =
      j.prompts && j.inputBytes !== undefined ? Math.ceil(j.inputBytes / j.prompts) : ASSUMED_PROMPT_TOKENS;
    tokens = prompts * Math.min(j.nPositions, promptTokens + p.params.maxTokens);
  } else {
    const input = j.inputBytes ?? policy.assumedEvalTokens;
    tokens = p.params.maxTokens ? Math.min(p.params.maxTokens, input) : input;
  }
  return j.modelParams * Math.max(1, tokens);
}

/** A model-size bucket: the parameter count's power of two (throughput is measured per bucket). */
export const sizeBucket = (modelParams: number) => Math.max(0, Math.round(Math.log2(Math.max(1, modelParams))));

export const THROUGHPUT_MIGRATIONS = [
  `CREATE TABLE throughput (
     kind TEXT NOT NULL, size_bucket INTEGER NOT NULL, work_per_sec REAL NOT NULL, runs INTEGER NOT NULL,
     PRIMARY KEY (kind, size_bucket)
   ) STRICT;`,
  // Inference work was counted as a pass over the whole context per generated token: rates measured in those units
  // would now estimate far too short. They are measured again.
  `DELETE FROM throughput WHERE kind = 'infer';`,
];

export interface Throughput {
  /** Work units per second for a kind and model size: measured, else the default. */
  rate(kind: ExecutorKind, modelParams: number): number;
  /** Records a finished run: `work` units in `runMs` (a moving average, persisted). */
  record(kind: ExecutorKind, modelParams: number, work: number, runMs: number): void;
  /** Estimated seconds of a job. */
  estimateSec(j: JobShape, policy: Pick<OperatorPolicy, "assumedPrompts" | "assumedEvalTokens">): number;
}

export function createThroughput(db: WorkerDb): Throughput {
  db.migrate("throughput", THROUGHPUT_MIGRATIONS);
  const get = db.prepare("SELECT work_per_sec, runs FROM throughput WHERE kind = ? AND size_bucket = ?");
  const put = db.prepare(
    `INSERT INTO throughput (kind, size_bucket, work_per_sec, runs) VALUES (?, ?, ?, 1)
     ON CONFLICT(kind, size_bucket) DO UPDATE SET work_per_sec = excluded.work_per_sec, runs = runs + 1`,
  );
  const rate = (kind: ExecutorKind, modelParams: number): number =>
    get.get<{ work_per_sec: number }>(kind, sizeBucket(modelParams))?.work_per_sec ?? DEFAULT_THROUGHPUT[kind];
  return {
    rate,
    record(kind, modelParams, work, runMs) {
      const sec = Math.max(runMs / 1000 - RUN_OVERHEAD_SEC / 2, 0.05);
      const measured = work / sec;
      const row = get.get<{ work_per_sec: number; runs: number }>(kind, sizeBucket(modelParams));
      // The first measurement replaces the default; later ones move the average by a third.
      const next = row ? row.work_per_sec + (measured - row.work_per_sec) / 3 : measured;
      put.run(kind, sizeBucket(modelParams), next);
    },
    estimateSec(j, policy) {
      return RUN_OVERHEAD_SEC + jobWork(j, policy) / rate(j.kind, j.modelParams);
    },
  };
}

/** The smallest fee the policy accepts for a job of `estimateSec` seconds. */
export function priceFloor(policy: OperatorPolicy, kind: ExecutorKind, estimateSec: number): bigint {
  return policy.minFee[kind] + policy.feePerComputeSecond * BigInt(Math.ceil(estimateSec));
}

export type Admission =
  | { take: true; estimateSec: number; finishesBy: number }
  | {
      take: false;
      final: boolean;
      code: "UNDERPRICED" | "CALLBACK_UNDERPRICED" | "WOULD_MISS_DEADLINE" | "TOO_LONG";
      reason: string;
      /** Not final: what the job waits for (its input, to be weighed again; the queue, to drain). */
      waitsFor?: "input" | "queue";
    };

/** A refusal for good (`firm`: the estimate holds), or a wait for the input to weigh the job again. */
function refusal(code: "UNDERPRICED" | "WOULD_MISS_DEADLINE" | "TOO_LONG", why: string, firm: boolean): Admission {
  if (firm) return { take: false, final: true, code, reason: why };
  const reason = `its input, to weigh it again (with a large input assumed, ${why})`;
  return { take: false, final: false, code, reason, waitsFor: "input" };
}

/**
 * Whether to claim a job now. `queuedSec` is the estimated work already claimed (its remaining seconds, summed);
 * with `runSlots` slots it starts after about queuedSec / runSlots. A fee under the price, or a job that cannot
 * finish by its deadline even with nothing queued, is refused for good when `estimateFirm` (its work does not depend
 * on an input still to come: a Train job, or one whose input is here): waiting would only keep the requester from
 * cancelling it. An estimate made without the input assumes a large one: then the job waits for its input to be
 * weighed again (as a quote weighed it), unless its fee would not pay for even the smallest input. A job that would
 * finish too late only behind the queue waits for the queue to drain. A job whose run (× the safety factor) is longer
 * than a run may take here (`maxRunSec`, the job timeout) is refused as TOO_LONG: it would be killed unfinished, and
 * would hold a run slot that long meanwhile.
 */
export function admit(o: {
  policy: OperatorPolicy;
  kind: ExecutorKind;
  fee: bigint;
  callback?: { gasLimit: bigint; fee: bigint };
  estimateSec: number;
  queuedSec: number;
  nowSec: number;
  deadline: number;
  marginSec: number;
  estimateFirm?: boolean;
  /** The longest a run may take here (the job timeout), in seconds; default: no limit. */
  maxRunSec?: number;
}): Admission {
  const { policy } = o;
  const floor = priceFloor(policy, o.kind, o.estimateSec);
  if (o.fee < floor) {
    const why =
      `fee ${amountText(o.fee)} OCEAN is under this worker's price of ${amountText(floor)} OCEAN for ` +
      `${o.kind === "train" ? "a" : "an"} ${o.kind} job of about ${Math.ceil(o.estimateSec)} s`;
    // Priced for a large input assumed, with a fee that the smallest input would meet: the input itself may be small
    // enough for the fee (a quote priced it so).
    return refusal("UNDERPRICED", why, o.estimateFirm === true || o.fee < priceFloor(policy, o.kind, RUN_OVERHEAD_SEC));
  }
  if (o.callback && o.callback.gasLimit > 0n) {
    const needed = o.callback.gasLimit * policy.callbackGasPrice;
    if (o.callback.fee < needed) {
      return {
        take: false,
        final: true,
        code: "CALLBACK_UNDERPRICED",
        reason: `callback fee ${o.callback.fee} wei does not pay for ${o.callback.gasLimit} gas at ${policy.callbackGasPrice} wei a gas (${needed} wei)`,
      };
    }
  }
  const longest = o.estimateSec * policy.safetyFactor;
  if (o.maxRunSec !== undefined && longest > o.maxRunSec) {
    const why =
      `it would run about ${Math.ceil(longest)} s here (${Math.ceil(o.estimateSec)} s × ${policy.safetyFactor}), ` +
      `longer than the ${o.maxRunSec} s this worker gives a run: ask for less work (fewer steps, a smaller input)`;
    return refusal("TOO_LONG", why, o.estimateFirm === true);
  }
  const runs = longest + o.marginSec;
  const left = Math.floor(o.deadline - o.nowSec);
  // Said as what the job waits for when it is not final (the worker's note: "waiting for …").
  if (o.nowSec + runs > o.deadline) {
    const why =
      `it needs about ${Math.ceil(runs)} s here (run ${Math.ceil(o.estimateSec)} s × ${policy.safetyFactor}, and ` +
      `${o.marginSec} s to submit) even with nothing queued, and its deadline is ${left} s away`;
    return refusal("WOULD_MISS_DEADLINE", why, o.estimateFirm === true);
  }
  const startsIn = o.queuedSec / Math.max(1, policy.runSlots);
  const finishesBy = o.nowSec + startsIn + runs;
  if (finishesBy > o.deadline) {
    return {
      take: false,
      final: false,
      code: "WOULD_MISS_DEADLINE",
      waitsFor: "queue",
      reason:
        `the queue to drain: behind its ${Math.ceil(startsIn)} s of work the job would finish ` +
        `${Math.ceil(finishesBy - o.deadline)} s after its deadline (run ${Math.ceil(o.estimateSec)} s × ${policy.safetyFactor})`,
    };
  }
  return { take: true, estimateSec: o.estimateSec, finishesBy };
}
