/**
 * A job's state in the words of `job show`, `job result`, `job cancel` and `job reclaim`: what a job past its deadline
 * needs, why a job has no receipt to fetch, and why a cancel or a reclaim was refused, each with the command to run
 * instead. Pure: the caller reads the job and the chain's time.
 */
import type { JobOverview } from "../../sdk/client";
import { utcText } from "../../sdk/errors";
import type { JobRecord } from "../../sdk/job-market";
import { CliError } from "../output";

/** The statuses of a job that ended without a receipt that stands (its fee and datatoken went back). */
const ENDED: Record<string, string> = {
  Cancelled: "was cancelled",
  Reclaimed: "was reclaimed after its deadline",
  Failed: "failed",
  Slashed: "had its receipt proved wrong (its worker was slashed)",
};

/** The statuses of a job that has its receipt. */
const HAS_RECEIPT = new Set(["Submitted", "Challenged", "Settled"]);

/** A job's deadline in words: "2026-12-06T01:33:16Z (UTC, chain time)". */
function deadlineText(job: JobRecord): string {
  return `${utcText(job.deadline)} (UTC, chain time)`;
}

/**
 * What to do about a job whose deadline passed without a receipt (`now`: the chain's time, in seconds), or undefined:
 * an open job is cancelled by its requester, a claimed one reclaimed (by anyone).
 */
export function pastDeadline(job: JobRecord, now: bigint): string | undefined {
  if (now <= job.deadline) return undefined;
  if (job.status === "Open")
    return `its deadline passed and no worker claimed it: cancel it (posthuman job cancel ${job.id}) to get the fee and the datatoken back`;
  if (job.status === "Claimed")
    return (
      `its deadline passed without a receipt: reclaim it (posthuman job reclaim ${job.id}) to get the fee and the ` +
      "datatoken back, with the claimant's collateral"
    );
  return undefined;
}

/** How a job ended without a receipt: "failed (INPUT_MISSING: the input never came)". */
function endedText(o: Pick<JobOverview, "job" | "failure" | "worker">): string {
  const said = ENDED[o.job.status] ?? `is ${o.job.status.toLowerCase()}`;
  if (o.job.status !== "Failed") return said;
  const name = o.failure?.name ?? "reason unknown";
  const message = (o.worker?.error as { message?: string } | null | undefined)?.message;
  return `${said} (${name}${message && message !== name ? `: ${message}` : ""})`;
}

/** Why `job result` has nothing to fetch: the job is not done yet, or ended without a receipt. */
export function noReceipt(o: Pick<JobOverview, "job" | "failure" | "worker">, now: bigint): CliError {
  const { job } = o;
  const from = { code: "NO_RECEIPT", data: { jobId: job.id, status: job.status } };
  if (ENDED[job.status])
    return new CliError(
      `Job ${job.id} ${endedText(o)}: it ended without a receipt, so it has no result (its fee and datatoken went back to the requester).`,
      "request a new job to run its input",
      1,
      from,
    );
  const state =
    job.status === "Open"
      ? "open: no worker has claimed it yet"
      : job.status === "Claimed"
        ? "claimed by a worker, which has not delivered yet"
        : job.status.toLowerCase();
  return new CliError(
    `Job ${job.id} has no receipt yet: it is ${state}.`,
    pastDeadline(job, now) ?? `follow it: posthuman job show ${job.id} (its deadline is ${deadlineText(job)})`,
    1,
    from,
  );
}

/**
 * Why the chain refused to cancel (`action` "cancel") or reclaim a job, in its state's words with the command to run
 * instead; undefined where the chain's own reason says it best (not the requester; a claimed job before its deadline,
 * which its worker may still deliver).
 */
export function refusal(
  action: "cancel" | "reclaim",
  o: Pick<JobOverview, "job" | "failure" | "worker">,
  now: bigint,
): CliError | undefined {
  const { job } = o;
  const from = { code: "REVERTED", data: { jobId: job.id, status: job.status } };
  if (ENDED[job.status])
    return new CliError(
      `Job ${job.id} ${endedText(o)}: it has ended (its fee and datatoken went back to the requester), so there is nothing to ${action}.`,
      `see it with: posthuman job show ${job.id}`,
      1,
      from,
    );
  if (HAS_RECEIPT.has(job.status))
    return new CliError(
      `Job ${job.id} has its worker's receipt (${job.status.toLowerCase()}): it can no longer be ${action === "cancel" ? "cancelled" : "reclaimed"}.`,
      `fetch its result: posthuman job result ${job.id}`,
      1,
      from,
    );
  if (action === "cancel" && job.status === "Claimed")
    return new CliError(
      `Job ${job.id} is claimed by a worker: a claimed job cannot be cancelled.`,
      now > job.deadline
        ? (pastDeadline(job, now) as string)
        : `wait for its receipt (posthuman job show ${job.id}), or reclaim it after its deadline, ${deadlineText(job)}, ` +
            `if the worker does not deliver: posthuman job reclaim ${job.id}`,
      1,
      from,
    );
  if (action === "reclaim" && job.status === "Open" && now <= job.deadline)
    return new CliError(
      `Job ${job.id} is open (no worker has claimed it): it can be reclaimed only after its deadline, ${deadlineText(job)}.`,
      `cancel it instead (its requester may, at any time before a worker claims it): posthuman job cancel ${job.id}`,
      1,
      from,
    );
  return undefined;
}
