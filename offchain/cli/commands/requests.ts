/**
 * What train, infer and eval share: their job options, requesting a job, following it to its receipt with a
 * progress bar, fetching and checking its result, and the JSON every job command prints.
 */
import type { Command } from "commander";
import type { JobParams } from "../../protocol/params";
import { MAX_JOB_TTL_SEC, type PostHuman, type RequestedJob } from "../../sdk/client";
import type { OnChainReceipt } from "../../sdk/job-market";
import { frozenLineageWarning, modelSettlement } from "../../sdk/settlement";
import { amount, connect, int, sdk } from "../context";
import { CliError, type Output } from "../output";
import { progressReporter, tokens } from "../render";
import { JobsInFlight, stopOnCtrlC } from "./in-flight";
import type { Wiring } from "./shared";

/** --ttl: whole seconds from 60 to MAX_JOB_TTL_SEC (7 days). */
export function ttlSeconds(raw: string): number {
  return int(raw, "--ttl", 60, {
    value: MAX_JOB_TTL_SEC,
    words: `${MAX_JOB_TTL_SEC} seconds (7 days), the longest a job may wait for its receipt`,
    why: "if the worker that claims the job stops, its fee stays escrowed until the deadline (posthuman job reclaim works only after it)",
  });
}

export interface JobOptions {
  fee: string;
  ttl: string;
  wait: boolean;
  /** Stored with the request (JobRequested's inputURI): a finetune's card for its child, an evaluation's benchmark. */
  inputURI?: string;
}

export interface JobRun {
  job: RequestedJob;
  receipt?: OnChainReceipt;
  resultVerified?: boolean;
  result?: Record<string, unknown>;
}

/** The options every job command takes. */
export function withJobOptions(c: Command): Command {
  return c
    .option("--fee <ocean>", "fee escrowed for the worker, paid when the job settles", "1")
    .option("--ttl <seconds>", `time the worker has to deliver a receipt (60 to ${MAX_JOB_TTL_SEC})`, "900")
    .option("--no-wait", "print the job id once requested and return (follow it with `job show <job> --follow`)");
}

/**
 * A failed job's reason, said once: "job 7 failed (DATASET_EMPTY): the file is empty". The worker's message may
 * carry the code again, once per layer that wrapped it ("DATASET_EMPTY: DATASET_EMPTY: the file is empty").
 */
export function failureOnce(message: string): string {
  const m = /^Job (\d+) failed: ([A-Z][A-Z0-9_]*)(?: \(([\s\S]*)\))?\.?$/.exec(message);
  if (!m) return message;
  let detail = (m[3] ?? "").trim();
  for (;;) {
    const again = /^([A-Z][A-Z0-9_]*): /.exec(detail);
    if (!again) break;
    detail = detail.slice(again[0].length);
  }
  return `job ${m[1]} failed (${m[2]})${detail ? `: ${detail}` : ""}`;
}

/** A job command's connection: the SDK, the command's output, and the jobs it requested (what Ctrl-C names). */
export interface JobSession {
  client: PostHuman;
  out: Output;
  jobs: JobsInFlight;
}

/**
 * Runs a job command's body connected: the SDK's steps said on stderr ("Requesting the job…", a worker's note), and
 * Ctrl-C saying which jobs go on, and how to see them, before it exits 130.
 */
export async function withJobSession<T>(
  w: Wiring,
  cmd: Command,
  out: Output,
  body: (s: JobSession) => Promise<T>,
): Promise<T> {
  const jobs = new JobsInFlight();
  const unwatch = stopOnCtrlC(jobs, out);
  try {
    const client = await connect(w.context(cmd), true, out.info);
    return await body({ client, out, jobs });
  } finally {
    unwatch();
  }
}

/** Follows a requested job to its receipt with a progress bar, then fetches and checks its result. */
export async function finishJob(s: JobSession, job: RequestedJob): Promise<JobRun> {
  const { client, out } = s;
  const progress = progressReporter(out.info, job.jobId);
  let receipt: OnChainReceipt;
  try {
    receipt = await sdk(client.followJob(job.jobId, { onProgress: (p) => progress.update(p) }));
  } catch (e) {
    if (e instanceof CliError) {
      const disputed = await disputeIfAcknowledged(client, out, job);
      throw new CliError(failureOnce(e.message) + disputed, e.hint, e.exitCode, e);
    }
    throw e;
  } finally {
    progress.done();
  }
  s.jobs.finished(job.jobId);
  const res = await sdk(client.fetchResult(job.jobId));
  out.info(`job ${job.jobId}: receipt in tx ${receipt.txHash}; result matches its output hash: ${res.verified}`);
  return {
    job,
    receipt,
    resultVerified: res.verified,
    result: JSON.parse(res.bytes.toString("utf8")) as Record<string, unknown>,
  };
}

/**
 * A job failed for a reason blaming an input its claimant had acknowledged (the worker's signed "input received"
 * came back with the upload): disputes the failure at once, which slashes the claimant's collateral to the requester.
 * Says what happened, or nothing when there is nothing to dispute.
 */
async function disputeIfAcknowledged(client: PostHuman, out: Output, job: RequestedJob): Promise<string> {
  if (!job.inputAck) return "";
  try {
    const r = await client.disputeFailure(job.jobId, job.inputAck);
    out.info(`job ${job.jobId}: disputed (tx ${r.txHash})`);
    return (
      ` The worker had acknowledged your input, then failed the job as ${r.reason}: disputed, its collateral of ` +
      `${tokens(r.slashed)} OCEAN came to you.`
    );
  } catch {
    return ""; // not a failure that blames the input (or already disputed): nothing to add
  }
}

/** Said once the request is on chain and its input uploaded (after the SDK's "Job N requested. Uploading…"). */
export function describeRequest(job: RequestedJob): string {
  return `job ${job.jobId}: input uploaded; its request (tx ${job.txHash}) escrowed 1 datatoken of model ${job.modelId} and ${tokens(job.fee)} OCEAN (the datatoken is ordered on Ocean when the job settles)`;
}

export function notWaiting(job: RequestedJob): string {
  return `job ${job.jobId} requested; follow it with: posthuman job show ${job.jobId} --follow (its result: posthuman job result ${job.jobId})`;
}

export function jobJson(r: JobRun) {
  return {
    jobId: r.job.jobId,
    kind: r.job.kind,
    modelId: r.job.modelId,
    requestTx: r.job.txHash,
    inputHash: r.job.inputHash,
    fee: r.job.fee,
    deadline: r.job.deadline,
    receipt: r.receipt,
    resultVerified: r.resultVerified,
    result: r.result,
  };
}

/** Requests one job (ordering a datatoken, escrowing the fee, uploading the input). */
export async function requestJob(
  s: JobSession,
  modelId: bigint,
  params: JobParams,
  input: Buffer,
  o: JobOptions,
  inputName?: string,
): Promise<RequestedJob> {
  // A model trained from one frozen since stands and takes jobs, but its requester is told (sdk/settlement.ts).
  const lineage = frozenLineageWarning(await sdk(modelSettlement(s.client, modelId)));
  if (lineage) s.out.info(`warning: ${lineage}`);
  const job = await sdk(
    s.client.requestJob(modelId, params, input, {
      fee: amount(o.fee, "--fee"),
      ttlSec: ttlSeconds(o.ttl),
      inputName,
      inputURI: o.inputURI,
      onSending: () => s.jobs.requesting(),
      onRequested: (jobId) => s.jobs.heard(jobId),
    }),
  );
  s.jobs.requested(job);
  s.out.info(describeRequest(job));
  return job;
}

/** Connects, requests one job and follows it to its result (unless --no-wait). `inputName`: how the user gave it. */
export async function requestAndFinish(
  w: Wiring,
  cmd: Command,
  out: Output,
  modelId: bigint,
  params: JobParams,
  input: Buffer,
  o: JobOptions,
  inputName?: string,
): Promise<JobRun> {
  return withJobSession(w, cmd, out, async (s) => {
    const job = await requestJob(s, modelId, params, input, o, inputName);
    return o.wait ? await finishJob(s, job) : { job };
  });
}
