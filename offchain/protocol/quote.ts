/**
 * A worker's quote for a job not yet requested (GET /models/:id/quote): what its claim would decide now, with the
 * least fee and lifetime it takes. Answered by the worker (worker/quote.ts), read by the SDK before paying.
 */
export interface JobQuote {
  /** True: the worker would claim the job now. */
  take: boolean;
  /** With take false: true when it would never claim it (the price, the params), false when it would wait. */
  final?: boolean;
  code?: string;
  reason?: string;
  /** The estimated run, in seconds (absent when the job is refused before it is estimated). */
  estimateSec?: number;
  /** The least fee the worker takes for the job, in base-token wei (decimal). */
  minFee?: string;
  /** The shortest lifetime, in seconds, that fits the job behind the worker's queue now. */
  minTtlSec?: number;
}

/**
 * Refusals for the worker's own state, whatever the job (worker/standing.ts, its disk): its stake, its endpoint on
 * chain, its disk. The reason is then a sentence about the worker, not what the job would wait for.
 */
export const WORKER_STATE_CODES = [
  "STAKE_BELOW_MINIMUM",
  "STAKE_TOO_SMALL",
  "STAKE_LOCKED",
  "ENDPOINT_NOT_REGISTERED",
  "DISK_FULL",
] as const;
export type WorkerStateCode = (typeof WORKER_STATE_CODES)[number];
