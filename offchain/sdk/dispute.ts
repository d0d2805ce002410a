/**
 * A requester's answer to a false failure: a claimant that acknowledged the input (its signed "input received", which
 * the worker's API returns on upload) and then failed the job for a reason blaming that input is slashed by
 * `JobMarket.disputeFailure` within the dispute window, its collateral paid to the requester.
 */
import { ethers } from "ethers";
import { failReasonName } from "../protocol/job-spec";
import { inputAckDomain, INPUT_ACK_TYPES } from "../protocol/input-ack";
import type { Sent } from "./base";
import type { PostHumanCore } from "./core";
import { SdkError } from "./errors";

/** Checks that the job's failure can be disputed with this acknowledgement, then disputes it. */
export async function disputeFailure(
  ph: PostHumanCore,
  jobId: bigint,
  inputAck: string,
): Promise<{ slashed: bigint; reason: string } & Sent> {
  const job = await ph.jobs.contract.getJob(jobId);
  const [reason, held] = await ph.jobs.contract.failureOf(jobId);
  if (!held)
    throw new SdkError(
      "NOT_DISPUTABLE",
      `Job ${jobId} has no failure to dispute: only a failure that blames the input holds the worker's collateral, ` +
        `and only for the dispute window after it.`,
    );
  const domain = inputAckDomain(ph.book.chainId, ph.jobs.address);
  const signer = ethers.verifyTypedData(domain, INPUT_ACK_TYPES, { jobId, inputHash: job.inputHash }, inputAck);
  if (signer.toLowerCase() !== job.worker.toLowerCase())
    throw new SdkError(
      "BAD_INPUT_ACK",
      `This acknowledgement of job ${jobId}'s input is signed by ${signer}, not by its claimant ${job.worker}.`,
    );
  const r = await ph.jobs.disputeFailure(jobId, inputAck);
  return { ...r, reason: failReasonName(reason) ?? String(reason) };
}
