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
