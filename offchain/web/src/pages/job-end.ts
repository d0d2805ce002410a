/**
 * A job that ended without a result (cancelled, failed, reclaimed, slashed), as its page tells it: only the steps
 * that happened (a cancelled job was never claimed; an input the worker says never came was never received), and
 * what now, by why it ended — the input never sent, the input refused, the worker's fault, the deadline missed — with
 * what went back to the requester (the fee, the datatoken, a penalty or the claimant's collateral), from the chain's
 * own events. The wording is pure (tested in Node); `readEnding` reads the chain.
 */
import { ethers } from "ethers";
import { JobStatus } from "../../../protocol/params";
import { failReasonName } from "../../../protocol/job-spec";
import { REQUESTER_FAULT_REASONS } from "../../../protocol/input-ack";
import { amountShort as tokens } from "../../../protocol/params";
import type { Market, JobInfo } from "../chain";
import { ackOf, browserStorage } from "../acks";

/** Why and how a job ended without a result, as the chain (and this browser's kept acknowledgement) tell it. */
export interface Ending {
  /** JobStatus: Cancelled, Failed, Reclaimed or Slashed. */
  status: number;
  /** A worker had claimed it. */
  claimed: boolean;
  /** The failure's reason code (Failed, Slashed). */
  reason?: number;
  /** The claimant signed that it received the input (an acknowledgement is kept in this browser). */
  inputAcked: boolean;
  fee: bigint;
  /** What the job market sent back to the requester in base token when it ended (fee, and a failure's penalty). */
  refund?: bigint;
  /** The claimant's collateral paid to the requester: a reclaim after a claim, or a dispute. */
  slashed?: bigint;
}

export type StepState = "done" | "skipped";

const name = (reason: number | undefined) =>
  reason === undefined ? "an unknown reason" : (failReasonName(reason) ?? `reason ${reason}`);
/** The failure blames the input the worker received (not INPUT_MISSING: that one says it never came). */
const inputRefused = (reason: number | undefined) =>
  reason !== undefined && reason !== 1 && REQUESTER_FAULT_REASONS.includes(reason);

/** The progress list of an ended job: each step that happened, each that did not, and how it ended. */
export function endedSteps(e: Ending): [string, StepState][] {
  const steps: [string, StepState][] = [["Requested on chain, fee escrowed", "done"]];
  if (e.status === JobStatus.Cancelled) {
    steps.push(["Claimed by a worker", "skipped"], ["Cancelled before any worker claimed it", "done"]);
    return steps;
  }
  steps.push(["Claimed by a worker", e.claimed ? "done" : "skipped"]);
  if (inputRefused(e.reason)) steps.push([`Input received, and refused by the worker (${name(e.reason)})`, "done"]);
  else
    steps.push([
      "Input received and checked against your commitment",
      e.inputAcked && e.reason !== 1 ? "done" : "skipped",
    ]);
  if (e.status === JobStatus.Reclaimed)
    steps.push(["Deadline passed without a receipt: reclaimed, the fee and the datatoken refunded", "done"]);
  else steps.push([`Failed by the worker: ${name(e.reason)}, the fee and the datatoken refunded`, "done"]);
  if (e.status === JobStatus.Slashed)
    steps.push(["Failure disputed: the worker's collateral went to the requester", "done"]);
  return steps;
}

/** What now, for the person reading it (`you`: the requester). */
export function endedAdvice(e: Ending, you: boolean): string {
  const to = you ? "you" : "its requester";
  const side = you ? "your" : "the requester's";
  const back = `the fee (${tokens(e.fee)} OCEAN) and the datatoken went back to ${to}`;
  const penalty = e.refund !== undefined && e.refund > e.fee ? e.refund - e.fee : 0n;
  switch (e.status) {
    case JobStatus.Cancelled:
      return `The job was cancelled before any worker claimed it: ${back}; only the gas of the request was spent.`;
    case JobStatus.Reclaimed:
      return (
        `Its deadline passed without a receipt, so it was reclaimed: ${back}` +
        (e.slashed ? `, with the claimant's collateral of ${tokens(e.slashed)} OCEAN as its penalty` : "") +
        `. Nothing to fix on ${side} side: request the job again (with more time to deliver, or once the worker is back).`
      );
    case JobStatus.Slashed:
      return (
        `The worker failed the job blaming the input (${name(e.reason)}) though it had acknowledged receiving it: the ` +
        `failure was disputed, ${back}, and the worker's collateral${e.slashed ? ` of ${tokens(e.slashed)} OCEAN` : ""} too.`
      );
  }
  if (e.reason === 1)
    return (
      `The worker says the input never reached it (INPUT_MISSING): ${back}. Request the job again and keep the page ` +
      "open until the input is uploaded (or, while the worker waits for it, upload it again from the job's page)."
    );
  if (inputRefused(e.reason))
    return `The worker refused the input (${name(e.reason)}): ${back}. Fix the input and request a new job.`;
  return (
    `The worker failed the job (${name(e.reason)}), through no fault of the input: ${back}` +
    (penalty > 0n ? `, with ${tokens(penalty)} OCEAN of the worker's collateral as its penalty` : "") +
    `. Nothing to fix on ${side} side: request the job again.`
  );
}

/** The ending of `job` (Cancelled, Failed, Reclaimed or Slashed), read from the job market's events. */
export async function readEnding(market: Market, job: JobInfo): Promise<Ending> {
  const jm = market.ph.jobMarket;
  const storage = browserStorage();
  const inputAcked = storage ? ackOf(storage, jm.target as string, job.id) !== undefined : false;
  const base = { status: job.status, fee: job.fee, inputAcked };
  if (job.status === JobStatus.Cancelled) return { ...base, claimed: false };
  if (job.status === JobStatus.Reclaimed) {
    const [r] = await market.logs((a, b) => jm.queryFilter(jm.filters.JobReclaimed(job.id), a, b));
    const worker = r?.args.worker ?? job.worker;
    return { ...base, claimed: worker !== ethers.ZeroAddress, refund: r?.args.refund, slashed: r?.args.slashed };
  }
  const [[reason], [failed], disputed] = await Promise.all([
    jm.failureOf(job.id),
    market.logs((a, b) => jm.queryFilter(jm.filters.JobFailed(job.id), a, b)),
    job.status === JobStatus.Slashed
      ? market.logs((a, b) => jm.queryFilter(jm.filters.FailureDisputed(job.id), a, b))
      : Promise.resolve([]),
  ]);
  return {
    ...base,
    claimed: true,
    reason: Number(reason),
    refund: failed?.args.refund,
    slashed: disputed[0]?.args.slashed,
  };
}
