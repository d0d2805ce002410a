/**
 * Following a job from the SDK's core: everything known about it, and waiting for its receipt with the worker's
 * progress, or the reason it ended without one. Browser-safe.
 */
import { JobStatus } from "../protocol/params";
import { sha256Hex } from "../protocol/auth";
import { failReasonName } from "../protocol/job-spec";
import { nodeLostReason } from "../protocol/node-lost";
import type { FollowProgress, JobOverview, PostHumanCore } from "./core";
import { apiLookup, apiOf, otherWorkerApis } from "./claimant";
import { SdkError } from "./errors";
import type { JobRecord, OnChainReceipt } from "./job-market";
import { WorkerApiError, type JobStatusView, type WorkerApi } from "./worker-api";

/**
 * How long `followJob` keeps asking a chain node that stopped answering (one restarting) before it gives up, asking
 * again after 0.25 s, then twice as long each time up to 4 s.
 */
export const CHAIN_RECONNECT_MS = 30_000;
/** How long a claimant's API may not answer before a follow's progress says so (its `workerDown`). */
export const WORKER_DOWN_MS = 10_000;
/** How far this machine's clock may be ahead of the chain's: a follow never ends a job's lease early by it. */
const CLOCK_ERROR_SEC = 30;

/**
 * The follow of job `jobId` ends: the chain has not answered for `ms`, for `reason`; `seen`: the job's status at the
 * last answer. The job itself is untouched.
 */
function chainLost(jobId: bigint, ms: number, reason: string, seen: string | undefined, cause: unknown): SdkError {
  return new SdkError(
    "CHAIN_UNREACHABLE",
    `Lost the connection to the chain while following job ${jobId} (no answer for ${Math.max(1, Math.round(ms / 1000))} s: ` +
      `${reason}). The job is safe: it stays on chain as it was (${seen ? `last seen ${seen}; ` : ""}its fee escrowed), ` +
      "nothing is lost.",
    "once the chain's node answers again, follow the job again: its status and its receipt are on chain",
    { data: { jobId }, cause },
  );
}

function failHint(name: string, modelId: bigint): string {
  if (name === "MODEL_UNAVAILABLE")
    return `the worker has not got model ${modelId}'s weights: its publisher must upload the model folder to the worker`;
  if (name.startsWith("DATASET_") || name.startsWith("PROMPT") || name === "PARAMS_INVALID")
    return "fix the input or the params and request again (the fee was refunded and your datatoken returned)";
  if (name === "INPUT_MISSING") return "the input never reached the worker: request again and upload the input";
  return "the fee was refunded and your datatoken returned; the worker's operator has the details in its logs";
}

/** Everything known about a job: the chain's record, its receipt, the worker's view, a failure's reason. */
export async function jobOverview(ph: PostHumanCore, jobId: bigint): Promise<JobOverview> {
  const job = await ph.jobs.get(jobId);
  const out: JobOverview = { job, receipt: await ph.jobs.receipt(jobId) };
  try {
    // The claimant's view (registered on chain), else the configured worker's.
    const api = await apiOf(ph.jobs.contract, ph.worker, job.worker);
    out.worker = (await api.jobStatus(jobId)) as unknown as Record<string, unknown>;
  } catch (e) {
    out.worker = undefined;
    out.workerSilence = e instanceof WorkerApiError && e.code === "UNKNOWN_JOB" ? "unknown-job" : "no-answer";
  }
  if (job.status === "Failed") {
    const market = ph.jobs.contract;
    const [log] = await ph.jobs.logs((a, b) => market.queryFilter(market.filters.JobFailed(jobId), a, b));
    const reason = log ? Number(log.args.reason) : 0;
    out.failure = { reason, name: failReasonName(reason) ?? `reason ${reason}` };
  }
  return out;
}

/** Downloads a job's result (requester only) from its claimant's API, checked against the receipt's output hash. */
export async function fetchResult(
  ph: PostHumanCore,
  jobId: bigint,
): Promise<{ bytes: Uint8Array; verified: boolean; receipt: OnChainReceipt }> {
  const receipt = await ph.jobs.receipt(jobId);
  if (!receipt)
    throw new SdkError("NO_RECEIPT", `Job ${jobId} has no receipt yet.`, "follow the job until it has one", {
      data: { jobId },
    });
  // The claimant's API holds it (another operator's worker, maybe).
  const api = await apiOf(ph.jobs.contract, ph.worker, (await ph.jobs.get(jobId)).worker);
  let bytes: Uint8Array;
  try {
    bytes = await api.result(ph.signer, jobId);
  } catch (e) {
    if (!(e instanceof WorkerApiError)) throw e;
    if (e.code === "NOT_REQUESTER")
      throw new SdkError(
        "NOT_REQUESTER",
        `Only job ${jobId}'s requester may read its result.`,
        "sign as the requester",
      );
    if (e.code === "UNREACHABLE")
      throw new SdkError(
        "WORKER_UNREACHABLE",
        `The worker that ran job ${jobId} does not answer at ${api.baseUrl}, where its result is. The job has its receipt.`,
        "fetch the result again once that worker answers",
        { cause: e, data: { jobId, workerUrl: api.baseUrl } },
      );
    throw new SdkError("WORKER_REFUSED", `The worker refused: ${e.message} (${e.code}).`, undefined, {
      cause: e,
      data: { code: e.code, status: e.status },
    });
  }
  return { bytes, verified: sha256Hex(bytes) === receipt.outputHash.toLowerCase(), receipt };
}

/**
 * Follows a job until it has a receipt, reporting the worker's progress; resolves with the receipt. Rejects with
 * an SdkError saying why and what to do when the job ends without one (failed, cancelled, reclaimed, slashed), when
 * its deadline passes unclaimed, or when it is open and no worker will take it (JOB_NOT_TAKEN: the configured worker
 * skipped it for good, and so did every other worker registered on chain). A chain node that stops answering is asked
 * again for `reconnectMs` (default CHAIN_RECONNECT_MS) before the follow ends with CHAIN_UNREACHABLE (the job
 * untouched, `data.jobId`).
 */
export async function followJob(
  ph: PostHumanCore,
  jobId: bigint,
  o: {
    onProgress?: (p: FollowProgress) => void;
    timeoutMs?: number;
    pollMs?: number;
    reconnectMs?: number;
    /** How long the claimant's API may not answer before the progress says so (default WORKER_DOWN_MS). */
    workerDownMs?: number;
  } = {},
): Promise<OnChainReceipt> {
  const end = Date.now() + (o.timeoutMs ?? 30 * 60_000);
  const reconnectMs = o.reconnectMs ?? CHAIN_RECONNECT_MS;
  const takers = new Takers(ph, jobId);
  let lost: { since: number; tries: number } | undefined;
  let seen: string | undefined;
  /** Since when the claimant's API has not answered (a claimed job only). */
  let downSince: number | undefined;
  const apiFor = apiLookup(ph.jobs.contract, ph.worker);
  for (;;) {
    let job: JobRecord;
    try {
      job = await ph.jobs.get(jobId);
      seen = job.status;
      const status = JobStatus[job.status];
      if (status === JobStatus.Submitted || status === JobStatus.Challenged || status === JobStatus.Settled) {
        const r = await ph.jobs.receipt(jobId);
        if (r) return r;
      }
      await refuseEnded(ph, jobId, job);
      lost = undefined;
    } catch (e) {
      // The node lost (the protocol's list, the one the worker retries on): ask again, for a while. An SdkError is
      // this follow's own verdict on the job (refuseEnded), whose words may quote the worker's ("fetch failed").
      const reason = e instanceof SdkError ? undefined : nodeLostReason(e);
      if (reason === undefined) throw e;
      const now = Date.now();
      lost ??= { since: now, tries: 0 };
      const left = lost.since + reconnectMs - now;
      if (left <= 0) throw chainLost(jobId, now - lost.since, reason, seen, e);
      await sleep(Math.min(250 * 2 ** lost.tries++, 4_000, left));
      continue;
    }
    // The worker's view (the claimant's, once claimed): its progress, and for a job still open whether it will run
    // it at all.
    const open = JobStatus[job.status] === JobStatus.Open;
    const api = await apiFor(job.worker);
    let view: JobStatusView | undefined;
    let unanswered = false;
    if (o.onProgress || open)
      view = await api.jobStatus(jobId).catch((e: unknown) => {
        unanswered = e instanceof WorkerApiError && e.code === "UNREACHABLE";
        return undefined;
      });
    downSince = unanswered && job.status === "Claimed" ? (downSince ?? Date.now()) : undefined;
    o.onProgress?.({
      status: job.status,
      state: view?.state,
      progress: view && (view.progress ?? null),
      error: view && (view.error ?? null),
      workerDown:
        downSince !== undefined && Date.now() - downSince >= (o.workerDownMs ?? WORKER_DOWN_MS)
          ? workerDown(api.baseUrl, Date.now() - downSince, job.deadline)
          : undefined,
    });
    if (open && view?.state === "skipped") await takers.refuseIfNone(view);
    if (Date.now() > end)
      throw new SdkError("JOB_TIMEOUT", `Job ${jobId} has no receipt yet; it is ${job.status}.`, "look again later", {
        data: { jobId },
      });
    await sleep(o.pollMs ?? 500);
  }
}

/** What a follow says of a claimant whose API has not answered for `ms`: the job waits for it until its deadline. */
function workerDown(url: string, ms: number, deadline: bigint): string {
  const at = new Date(Number(deadline) * 1000).toISOString().replace(/\.\d{3}Z$/, " UTC");
  return (
    `its worker at ${url} has not answered for ${Math.round(ms / 1000)} s; the job is claimed by it until its ` +
    `deadline (${at}, chain time): if no receipt comes by then, reclaim it (fee and datatoken back, the worker's ` +
    "collateral slashed)"
  );
}

/**
 * Whether a job still open may yet be taken, once the configured worker skipped it (a worker's skip is final for that
 * worker): by another worker registered on chain that has not skipped it too. One that does not answer, or has not
 * seen the job yet, may still take it.
 */
class Takers {
  private others?: WorkerApi[];
  /** Workers that skipped the job, and why (in their words). */
  private readonly skipped = new Map<string, string>();
  constructor(
    private readonly ph: PostHumanCore,
    private readonly jobId: bigint,
  ) {}

  async refuseIfNone(configured: JobStatusView): Promise<void> {
    const { ph, jobId } = this;
    this.others ??= await otherWorkerApis(ph.jobs, ph.worker).catch(() => undefined);
    if (!this.others) return; // the chain's list of workers unread: ask again next time
    for (const api of this.others) {
      if (this.skipped.has(api.baseUrl)) continue;
      const view = await api.jobStatus(jobId).catch(() => undefined);
      if (view?.state !== "skipped") return;
      this.skipped.set(api.baseUrl, why(view));
    }
    // Claimed meanwhile, by a worker not asked (only the first few registered are)?
    const job = await ph.jobs.get(jobId);
    if (job.status !== "Open") return;
    const code = configured.error?.code;
    const n = this.others.length;
    const nor = n ? `, nor will the ${n === 1 ? "other worker" : `${n} other workers`} registered on chain asked` : "";
    // The worker holds the model's folder but no runtime loads it: nothing the requester chose, nor can change.
    if (code === "MODEL_INVALID")
      throw new SdkError(
        "JOB_NOT_TAKEN",
        `No worker will take job ${jobId}: model ${job.modelId}'s folder is broken on the worker at ` +
          `${ph.worker.baseUrl}, which holds it but cannot load it (${why(configured)})${nor}. Nothing was paid to ` +
          "the worker: it never claimed the job, which stays open, its fee and datatoken escrowed, until you cancel " +
          "it (both come back to you).",
        `cancel the job to get the fee and the datatoken back; that worker will run no job on model ${job.modelId}`,
        { data: { jobId, modelId: job.modelId, workerCode: code, others: Object.fromEntries(this.skipped) } },
      );
    throw new SdkError(
      "JOB_NOT_TAKEN",
      `No worker will take job ${jobId}: the worker at ${ph.worker.baseUrl} will not run it (${why(configured)})${nor}. ` +
        "The job stays open, its fee and datatoken escrowed, until you cancel it (or, after its deadline, reclaim it).",
      `cancel the job to get the fee and the datatoken back, then request again${retryWith(code)}`,
      { data: { jobId, workerCode: code, others: Object.fromEntries(this.skipped) } },
    );
  }
}

function why(view: JobStatusView): string {
  const e = view.error;
  if (!e) return "skipped";
  return e.message && e.message !== e.code ? `${e.code}: ${e.message}` : e.code;
}

/** What a new request needs for the worker's reason to skip a job. */
function retryWith(code: string | undefined): string {
  if (code === "UNDERPRICED") return " with a higher fee (the worker's quote names the least it takes)";
  if (code === "WOULD_MISS_DEADLINE" || code === "DEADLINE_TOO_CLOSE") return " with a longer time to deliver";
  if (code === "PARAMS_INVALID") return " with params the model takes";
  if (code === "TOO_LONG") return " with less work (fewer steps, a smaller input)";
  return "";
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Throws the SdkError of a job that ended, or passed its deadline, without a receipt. */
async function refuseEnded(ph: PostHumanCore, jobId: bigint, job: JobRecord): Promise<void> {
  const status = JobStatus[job.status];
  if (status === JobStatus.Slashed)
    throw new SdkError(
      "JOB_ENDED",
      `Job ${jobId}'s receipt was proved wrong: the worker was slashed, the fee and the datatoken refunded.`,
    );
  if (status === JobStatus.Failed) {
    const { failure, worker } = await jobOverview(ph, jobId);
    const name = failure?.name ?? "unknown";
    const message = (worker?.error as { message?: string } | null | undefined)?.message;
    throw new SdkError(
      "JOB_ENDED",
      `Job ${jobId} failed: ${name}${message ? ` (${message})` : ""}.`,
      failHint(name, job.modelId),
      {
        data: { jobId, reason: name },
      },
    );
  }
  if (status === JobStatus.Cancelled || status === JobStatus.Reclaimed)
    throw new SdkError(
      "JOB_ENDED",
      `Job ${jobId} was ${job.status.toLowerCase()}: its fee and its datatoken went back to the requester.`,
    );
  // The deadline is in the chain's time: the latest block's, or this machine's clock less a margin for its error (a
  // chain that mines only on demand may have had no block for a while).
  const latest = (await ph.provider.getBlock("latest"))?.timestamp ?? 0;
  const now = BigInt(Math.max(latest, Math.floor(Date.now() / 1000) - CLOCK_ERROR_SEC));
  if (now > job.deadline)
    throw new SdkError(
      "JOB_TIMEOUT",
      `Job ${jobId} passed its deadline without a receipt (${job.status === "Open" ? "no worker claimed it" : "its worker did not deliver"}).`,
      "reclaim it: the fee and the datatoken come back, and the claimant's collateral is slashed",
      { data: { jobId, reclaimable: true } },
    );
}
