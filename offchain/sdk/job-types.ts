/**
 * The vocabulary of a job request as the SDK's core speaks it: default fee and time to deliver, the longest time a
 * job may be given, and what requesting, following and reading jobs return. Browser-safe.
 */
import { ethers } from "ethers";
import {
  paramOutOfRange,
  RATE_SCALE,
  TEMPERATURE_SCALE,
  type JobKindName,
  type JobParams,
  type JobStatusName,
} from "../protocol/params";
import { MAX_DECAY_PRODUCT, MAX_LR, RUNTIME_BOUNDS, trainBoundsProblem } from "../ml/train-bounds";
import { SdkError } from "./errors";
import type { Sent } from "./base";
import type { JobRecord, OnChainReceipt } from "./job-market";
import type { ModelRecord } from "./registry";
import type { JobStatusView } from "./worker-api";

/** Fee escrowed for the worker when none is given: 1 base token. */
export const DEFAULT_JOB_FEE = ethers.parseEther("1");
/** Time a worker has to deliver a receipt when none is given: the job's deadline is this far after the request. */
export const DEFAULT_JOB_TTL_SEC = 15 * 60;
/**
 * The longest time a job may be given to deliver: 7 days. The chain takes any deadline, but if the worker that claimed
 * the job stops, the fee stays escrowed until the deadline (a job is reclaimed only after it): a longer TTL is refused.
 */
export const MAX_JOB_TTL_SEC = 7 * 24 * 60 * 60;

export interface RequestedJob extends Sent {
  jobId: bigint;
  modelId: bigint;
  kind: JobKindName;
  /** 0x sha256 of the input bytes: the on-chain commitment. */
  inputHash: string;
  fee: bigint;
  deadline: bigint;
  /** Approvals sent before the request (datatoken, base token). */
  approvals: string[];
  uploaded: boolean;
  /** The claimant's signed acknowledgement of the input, when it gave one: keep it for `disputeFailure`. */
  inputAck?: string;
}

/** What `followJob` reports while a job runs. */
export interface FollowProgress {
  status: JobStatusName;
  /** The worker's own state (seen, claimed, input_ready, running, output_stored, …), when it answers. */
  state?: string;
  /** The worker's progress; `note` says what a waiting job waits for (its input, the model's weights, the queue). */
  progress?: JobStatusView["progress"];
  /** Why the worker will not run the job (state `skipped`), or why it failed it. */
  error?: JobStatusView["error"];
  /** Set while the claimant's API has not answered for WORKER_DOWN_MS: since when, and what the requester can do. */
  workerDown?: string;
}

export interface JobOverview {
  job: JobRecord;
  receipt?: OnChainReceipt;
  /** The worker's view (state, progress, failure), when it answers. */
  worker?: Record<string, unknown>;
  /** Without a view: whether the worker answered that it has not seen the job (yet), or did not answer at all. */
  workerSilence?: "unknown-job" | "no-answer";
  /** JobFailed's reason code and name, for a failed job. */
  failure?: { reason: number; name: string };
}

export interface ModelMetrics {
  model: ModelRecord;
  evaluations: { jobId: bigint; benchmarkId: string; loss: bigint; tokens: bigint; worker: string }[];
  finetunes: { jobId: bigint; childModelId: bigint; valLossBefore: bigint; valLossAfter: bigint }[];
  inferences: { jobId: bigint; outputHash: string }[];
}

/** "A Train job", "An Infer job". */
const aJob = (kind: JobKindName) => `${kind === "Train" ? "A" : "An"} ${kind} job`;

/** Refuses (SdkError PARAMS_INVALID) params the job's encoding cannot carry, before anything is asked or paid. */
export function checkJobParams(params: JobParams): void {
  const bad = paramOutOfRange(params);
  if (!bad) {
    checkRuntimeBounds(params);
    return checkTrainBounds(params);
  }
  throw new SdkError(
    "PARAMS_INVALID",
    `${aJob(params.kind)}'s ${bad.param} of ${bad.value} cannot be requested: it must be from 0 to ${bad.max}. ` +
      "No job was requested and nothing was paid.",
    `pass a ${bad.param} of ${bad.max} or less`,
    { data: { param: bad.param, value: bad.value, max: bad.max } },
  );
}

/** Refuses (SdkError PARAMS_INVALID) params every worker's runtime refuses whatever the model (RUNTIME_BOUNDS). */
function checkRuntimeBounds(params: JobParams): void {
  const b = RUNTIME_BOUNDS;
  const p = params.params as unknown as Record<string, number>;
  const rules: Record<string, (n: number) => string | undefined> = {
    batchSize: (n) => (n >= 1 && n <= b.maxBatch ? undefined : `from 1 to ${b.maxBatch}`),
    steps: (n) => (n <= b.maxSteps ? undefined : `at most ${b.maxSteps}`),
    contextLength: (n) => (n === 0 || n >= b.minContext ? undefined : `at least ${b.minContext} (or 0: the model's)`),
    maxTokens: (n) => (params.kind !== "Infer" || n >= 1 ? undefined : "at least 1"),
    temperature: (n) => (n <= b.maxTemperature ? undefined : `at most ${b.maxTemperature}`),
  };
  for (const [param, why] of Object.entries(rules)) {
    if (p[param] === undefined) continue;
    const value = param === "temperature" ? Number(p[param]) / Number(TEMPERATURE_SCALE) : Number(p[param]);
    const must = why(value);
    if (!must) continue;
    throw new SdkError(
      "PARAMS_INVALID",
      `${aJob(params.kind)}'s ${param} of ${value} is one no worker runs: it must be ${must}. No job was requested ` +
        "and nothing was paid.",
      `pass a ${param} ${must}`,
      { data: { param, value, must } },
    );
  }
}

/** Refuses (SdkError PARAMS_INVALID) a training's learning rate and weight decay that no worker runs (train-bounds). */
function checkTrainBounds(params: JobParams): void {
  if (params.kind !== "Train") return;
  const rate = (x: bigint) => Number(x) / Number(RATE_SCALE);
  const why = trainBoundsProblem(rate(params.params.learningRate), rate(params.params.weightDecay));
  if (!why) return;
  const lr = rate(params.params.learningRate);
  const lrWrong = !(lr > 0 && lr <= MAX_LR);
  throw new SdkError(
    "PARAMS_INVALID",
    `A Train job cannot be requested with these params: ${why}${lr > 0 ? " (a run would diverge)" : ""}. No job was ` +
      "requested and nothing was paid.",
    lrWrong
      ? `pass a learning rate above 0 and at most ${MAX_LR}`
      : `lower the learning rate or the weight decay: their product must stay under ${MAX_DECAY_PRODUCT}`,
    { data: { param: lrWrong ? "learningRate" : "weightDecay", why } },
  );
}

/** Refuses (SdkError PARAMS_INVALID) a time to deliver that is not whole seconds from 1 to MAX_JOB_TTL_SEC. */
export function checkJobTtl(ttlSec: number): void {
  if (Number.isInteger(ttlSec) && ttlSec >= 1 && ttlSec <= MAX_JOB_TTL_SEC) return;
  throw new SdkError(
    "PARAMS_INVALID",
    `A job's time to deliver (ttlSec) is ${ttlSec} s: it must be a whole number of seconds from 1 to ` +
      `${MAX_JOB_TTL_SEC} (7 days). No job was requested and nothing was paid.`,
    "ask for 7 days or less: if the worker that claims the job stops, its fee stays escrowed until the deadline " +
      "(a job is reclaimed only after it)",
    { data: { param: "ttlSec", ttlSec, max: MAX_JOB_TTL_SEC } },
  );
}
