/**
 * A job's state in the words of `job show`, `job result`, `job cancel`, `job reclaim`, `job verify` and `job
 * resolve`: what a job past its deadline needs, why a job has no receipt to fetch, why a cancel or a reclaim was
 * refused, a worker's word that lags the chain, what a verdict calls for, and a re-run that failed, each with the
 * command to run instead. Pure: the caller reads the job and the chain's time.
 */
import { isMlError } from "../../ml/errors";
import type { JobOverview } from "../../sdk/client";
import { utcText } from "../../sdk/errors";
import type { JobRecord } from "../../sdk/job-market";
import type { Verdict } from "../../sdk/verify";
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
    pastDeadline(job, now) ?? `follow it: posthuman job show ${job.id} --follow (its deadline is ${deadlineText(job)})`,
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
  action: "cancel" | "reclaim" | "settle",
  o: Pick<JobOverview, "job" | "failure" | "worker">,
  now: bigint,
): CliError | undefined {
  const { job } = o;
  const from = { code: "REVERTED", data: { jobId: job.id, status: job.status } };
  if (action === "settle") return settleRefusal(o, now, from);
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

/** Why the chain refused to settle a job: it has no receipt, or it ended; undefined where the chain's reason says it best. */
function settleRefusal(
  o: Pick<JobOverview, "job" | "failure" | "worker">,
  now: bigint,
  from: { code: string; data: Record<string, unknown> },
): CliError | undefined {
  const { job } = o;
  if (job.status === "Settled")
    return new CliError(`Job ${job.id} is settled already: its worker was paid.`, "nothing to do", 1, from);
  if (ENDED[job.status])
    return new CliError(
      `Job ${job.id} ${endedText(o)}: it has ended, so there is nothing to settle.`,
      `see it with: posthuman job show ${job.id}`,
      1,
      from,
    );
  if (job.status === "Open" || job.status === "Claimed")
    return new CliError(
      `Job ${job.id} has no receipt yet (${job.status.toLowerCase()}): there is nothing to settle.`,
      pastDeadline(job, now) ?? `follow it: posthuman job show ${job.id} --follow`,
      1,
      from,
    );
  return undefined;
}

/** How far along a job is, by its on-chain status: the worker's states map onto these (it does not follow challenges). */
const CHAIN_STEP: Record<string, number> = {
  Open: 1,
  Claimed: 2,
  Submitted: 3,
  Challenged: 4,
  Settled: 5,
  Cancelled: 5,
  Failed: 5,
  Reclaimed: 5,
  Slashed: 5,
};
const WORKER_STEP: Record<string, number> = {
  seen: 1,
  claimed: 2,
  input_ready: 2,
  running: 2,
  output_stored: 2,
  submitted: 3,
  settled: 5,
  cancelled: 5,
  failed: 5,
  reclaimed: 5,
  slashed: 5,
};

/**
 * When the worker's word lags the chain ("submitted" while the chain says Challenged or Settled), the words that say
 * so: "the chain has moved on: Challenged"; else undefined.
 */
export function workerLag(workerState: unknown, chainStatus: string): string | undefined {
  const worker = WORKER_STEP[String(workerState)];
  const chain = CHAIN_STEP[chainStatus];
  if (worker === undefined || chain === undefined || chain <= worker) return undefined;
  return `the chain has moved on: ${chainStatus}`;
}

/** `job resolve`'s decision: upheld (true) or dismissed; both flags or neither are refused. */
export function decision(o: { upheld?: boolean; dismissed?: boolean }): boolean {
  if (o.upheld && o.dismissed)
    throw new CliError(
      "--upheld and --dismissed conflict: a challenge is either upheld (the receipt is wrong) or dismissed (it stands)",
      "pass one of them: --upheld or --dismissed",
      1,
      { code: "CONFLICTING_OPTIONS", data: { options: ["--upheld", "--dismissed"] } },
    );
  if (!o.upheld && !o.dismissed)
    throw new CliError("no decision given", "add --upheld (the receipt is wrong) or --dismissed (it stands)", 1, {
      code: "NO_DECISION",
    });
  return Boolean(o.upheld);
}

/**
 * What a verdict that does not verify calls for: challenging the job whose receipt did not verify (a training job
 * that rebuilt the model, or this one); but a re-run with another runtime than the receipt's says nothing about it.
 */
export function verdictNext(v: Pick<Verdict, "jobId" | "checks" | "rebuilt">): string {
  const wrong = v.rebuilt.find((r) => !r.verified);
  if (wrong)
    return (
      `the receipt of training job ${wrong.jobId}, which made the model, does not verify: challenge that one ` +
      `within its window: posthuman job challenge ${wrong.jobId}`
    );
  const runtime = v.checks.find((c) => c.name === "runtime id" && !c.ok);
  if (runtime)
    return (
      `this machine re-ran it with runtime ${runtime.actual}, not the receipt's ${runtime.expected}: the output ` +
      "cannot be compared, so this says nothing about the receipt; verify where that runtime runs before challenging"
    );
  return `challenge it within its window: posthuman job challenge ${v.jobId}`;
}

/**
 * A re-run of `job verify` that failed in the model runtime (its code said once, the user's file named), as an error
 * that says it is no verdict on the receipt; undefined for any other error.
 */
export function reRunFailed(e: unknown, jobId: bigint): CliError | undefined {
  if (!isMlError(e)) return undefined;
  const detail = typeof e.details?.detail === "string" ? e.details.detail : e.message.replace(/^[A-Z0-9_]+: /, "");
  // A training job re-run to rebuild the model names itself.
  const of = typeof e.details?.jobId === "bigint" ? e.details.jobId : jobId;
  return new CliError(
    `The re-run of job ${of} failed (${e.code}): ${detail}`,
    "the input and the model folder are the job's (their hashes match the chain), so this is no verdict on the " +
      "receipt: do not challenge on it; check this machine's runtime (POSTHUMAN_DEBUG=1 shows the whole error)",
    1,
    { code: e.code, data: { ...e.details, jobId: of } },
  );
}

/** `job verify`'s words for the SDK's "leave the input out" / "leave the folder out": the options to leave out. */
export function verifyHint(e: unknown): unknown {
  if (!(e instanceof CliError) || (e.code !== "INPUT_MISSING" && e.code !== "MODEL_FOLDER_MISSING")) return e;
  const hint = e.hint
    ?.replace("leave the input out", "leave out --input")
    .replace("leave the folder out", "leave out --model");
  return new CliError(e.message, hint, e.exitCode, e);
}
