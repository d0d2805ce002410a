/**
 * A quote before paying (GET /models/:id/quote): what this worker would decide for a job not yet requested, by the
 * steps its claim takes (the kind served, a folder its runtimes load, params the runtime takes for the model, a child
 * the registry takes, a claimant an independent evaluation allows, the price, the deadline behind its queue), with
 * nothing reserved. A requester that hears "no" pays nothing; one that hears "yes" may still meet a busier queue when
 * the request comes.
 */
import type { ExecutorKind } from "../protocol/job-spec";
import type { JobQuote } from "../protocol/quote";
import { folderProblem } from "./held-models";
import { depthProblem, estimateOf, independenceProblem, paramsProblem, type Ctx } from "./pipeline-steps";
import { admit, priceFloor } from "./policy";

/** A job as its requester means to request it: its kind, on-chain params (hex), fee, lifetime and input's size. */
export interface PlannedJob {
  kind: ExecutorKind;
  params: string;
  fee: bigint;
  /** Seconds from now to the deadline. */
  ttlSec: number;
  inputBytes?: number;
  /** An inference input's prompts (non-blank lines). */
  prompts?: number;
}

/**
 * Seconds a quote allows between the request and the claim (the request's block, the worker's ingestion; the SDK
 * sets the deadline after its approvals): the lifetime it weighs is this much shorter than the one asked, and the one
 * it names this much longer. With the claim's two margins (40 s), a job may have no less than 60 s: the CLI's least.
 */
export const QUOTE_SLACK_SEC = 20;

export async function quoteJob(c: Ctx, modelId: bigint, dir: string, j: PlannedJob): Promise<JobQuote> {
  if (!c.o.kinds.includes(j.kind)) {
    return { take: false, final: true, code: "KIND_NOT_SERVED", reason: `this worker does not run ${j.kind} jobs` };
  }
  const unfit = await folderProblem(dir);
  if (unfit)
    return { take: false, final: true, code: "MODEL_INVALID", reason: `no runtime loads its folder: ${unfit}` };
  const bad = paramsProblem(j.kind, j.params, dir);
  if (bad) return { take: false, final: true, code: "PARAMS_INVALID", reason: bad };
  const deep = j.kind === "train" ? await depthProblem(c, modelId) : undefined;
  if (deep) return { take: false, final: true, code: "NOT_SUBMITTABLE", reason: deep };
  const partial = await independenceProblem(c, j.kind, j.params, modelId);
  if (partial) return { take: false, final: true, code: "NOT_INDEPENDENT", reason: partial };
  const estimateSec = estimateOf(c, dir, j);
  const queuedSec = c.queuedSec();
  const runs = estimateSec * c.policy.safetyFactor + c.margin;
  const facts = {
    estimateSec: Math.ceil(estimateSec),
    minFee: priceFloor(c.policy, j.kind, estimateSec).toString(),
    // A claim needs two margins left (pipeline-steps' claim), and the run behind the queue one.
    minTtlSec: QUOTE_SLACK_SEC + Math.ceil(Math.max(2 * c.margin, queuedSec / Math.max(1, c.policy.runSlots) + runs)),
  };
  const nowSec = c.nowSec();
  const ttlSec = j.ttlSec - QUOTE_SLACK_SEC; // as the claim will find it
  if (ttlSec < 2 * c.margin) {
    const reason = `its deadline would be about ${Math.max(0, ttlSec)} s away when a claim comes; this worker claims only jobs ${2 * c.margin} s or more from theirs`;
    return { take: false, final: true, code: "DEADLINE_TOO_CLOSE", reason, ...facts };
  }
  const verdict = admit({
    policy: c.policy,
    kind: j.kind,
    fee: j.fee,
    estimateSec,
    queuedSec,
    nowSec,
    deadline: nowSec + ttlSec,
    marginSec: c.margin,
    maxRunSec: Math.floor(c.o.jobTimeoutMs / 1000),
    estimateFirm: j.kind === "train" || j.inputBytes !== undefined, // (as a claim's, once the input is here)
  });
  if (!verdict.take) return { take: false, final: verdict.final, code: verdict.code, reason: verdict.reason, ...facts };
  // Taken on its merits: not while the worker's own state keeps it from any job (its disk, its stake, its endpoint).
  if (c.o.disk && !c.o.disk.writable()) {
    const reason = "this worker's disk is full: it takes no job until its operator frees space";
    return { take: false, final: false, code: "DISK_FULL", reason, ...facts };
  }
  const standing = await c.o.standing?.(j.fee);
  if (standing)
    return { take: false, final: standing.final === true, code: standing.code, reason: standing.reason, ...facts };
  return { take: true, ...facts };
}
