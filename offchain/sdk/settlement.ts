/**
 * Whether a derived model's creating training job can still undo it. A Train receipt creates the child model at once,
 * but for its challenge window anyone may challenge it, and if the arbiter upholds the challenge the child is frozen:
 * it takes no jobs and its datatokens can no longer be sold on the DatatokenMarket. Whoever buys such datatokens
 * before the receipt is settled bears that risk (the seller keeps what they paid). A model trained from such a child
 * before the freeze stays valid (the contracts freeze only the child), but its lineage includes a training proved
 * wrong: its settlement names its nearest frozen ancestor, and a purchase is refused unless the buyer accepts that
 * too. Browser-safe: the web app asks the same question before a purchase as the CLI does.
 */
import type { ethers } from "ethers";
import { chainNow } from "./base";
import type { JobMarketClient } from "./job-market";
import type { ModelRecord, ModelRegistryClient } from "./registry";
import { SdkError, utcText } from "./errors";
import type { ListingRecord } from "./datatoken-market";

/** A frozen model another descends from (its parent, or further up), and the job whose upheld challenge froze it. */
export interface FrozenAncestor {
  modelId: bigint;
  jobId: bigint;
}

/**
 * Where a model stands with respect to the job that created it; `frozenAncestor`, only when one of its ancestors is
 * frozen: the nearest such.
 */
export type ModelSettlement = { frozenAncestor?: FrozenAncestor } &
  /** A root model: no training receipt can freeze it. */
  (
    | { state: "root"; modelId: bigint }
    /** Its receipt settled, or its challenge window closed without a challenge (it stands). */
    | { state: "settled"; modelId: bigint; jobId: bigint }
    /** Its receipt can be challenged until `closesAt` (chain time, unix seconds). */
    | { state: "challengeable"; modelId: bigint; jobId: bigint; closesAt: bigint }
    /**
     * Its receipt is challenged and the arbiter has not decided: the arbiter may decide after `joinClosesAt` (the
     * requester's join period) and until someone settles the job, which anyone may do after `lapsesAt`.
     */
    | {
        state: "challenged";
        modelId: bigint;
        jobId: bigint;
        challenger: string;
        joinClosesAt: bigint;
        lapsesAt: bigint;
      }
    /** Frozen: a challenge of its receipt was upheld. */
    | { state: "frozen"; modelId: bigint; jobId: bigint }
  );

export type UnsettledModel = Extract<ModelSettlement, { state: "challengeable" | "challenged" }>;

/** What the check reads: the registry, the job market and the chain's clock (a PostHumanCore has all three). */
export interface SettlementSource {
  readonly registry: ModelRegistryClient;
  readonly jobs: JobMarketClient;
  readonly provider: ethers.Provider;
}

/** True while a challenge of the model's creating receipt may still freeze it. */
export function isUnsettled(s: ModelSettlement): s is UnsettledModel {
  return s.state === "challengeable" || s.state === "challenged";
}

/** Where each of `modelIds` stands (unknown ids throw UNKNOWN_MODEL), reading the market's windows and clock once. */
export async function modelSettlements(
  src: SettlementSource,
  modelIds: bigint[],
): Promise<Map<bigint, ModelSettlement>> {
  const unique = [...new Set(modelIds)];
  const models = await Promise.all(unique.map((id) => src.registry.get(id)));
  const needsJob = models.some((m) => m.jobId !== 0n && !m.frozen);
  // The latest block's time, not this machine's clock (chainNow): a clock ahead of the chain would call a receipt
  // settled while a challenge can still be mined; behind, the check errs on the buyer's side.
  const read = needsJob ? await Promise.all([src.jobs.config(), latestBlockTime(src.provider)]) : undefined;
  const all = await Promise.all(
    models.map((m) =>
      read
        ? settlementOf(src, m, { challenge: read[0].challengeWindow, arbitration: read[0].arbitrationWindow }, read[1])
        : settlementWithoutJob(m),
    ),
  );
  const ancestors = await frozenAncestors(src, models);
  return new Map(
    all.map((s) => {
      const a = ancestors.get(s.modelId);
      return [s.modelId, a ? { ...s, frozenAncestor: a } : s];
    }),
  );
}

/** The nearest frozen ancestor of `modelId` among `models` (the registry's whole list, say), or undefined. */
export function frozenAncestorIn(
  models: readonly Pick<ModelRecord, "id" | "parentId" | "frozen" | "jobId">[],
  modelId: bigint,
): FrozenAncestor | undefined {
  const byId = new Map(models.map((m) => [m.id, m]));
  for (let a = byId.get(byId.get(modelId)?.parentId ?? 0n); a; a = byId.get(a.parentId))
    if (a.frozen) return { modelId: a.id, jobId: a.jobId };
  return undefined;
}

/** Each model's nearest frozen ancestor (frozenAncestorIn), reading each missing ancestor from the registry once. */
async function frozenAncestors(
  src: SettlementSource,
  models: ModelRecord[],
): Promise<Map<bigint, FrozenAncestor | undefined>> {
  const known = new Map(models.map((m) => [m.id, m]));
  const missing = (from: ModelRecord[]) =>
    [...new Set(from.map((m) => m.parentId))].filter((id) => id !== 0n && !known.has(id));
  // A generation at a time up the lineages (at most the registry's maxDepth rounds).
  for (let ids = missing(models); ids.length > 0;) {
    const read = await Promise.all(ids.map((id) => src.registry.get(id)));
    for (const a of read) known.set(a.id, a);
    ids = missing(read);
  }
  const all = [...known.values()];
  return new Map(models.map((m) => [m.id, frozenAncestorIn(all, m.id)]));
}

/** Where one model stands with respect to the job that created it. */
export async function modelSettlement(src: SettlementSource, modelId: bigint): Promise<ModelSettlement> {
  return (await modelSettlements(src, [modelId])).get(modelId)!;
}

function settlementWithoutJob(m: ModelRecord): ModelSettlement {
  if (m.jobId === 0n) return { state: "root", modelId: m.id };
  return { state: "frozen", modelId: m.id, jobId: m.jobId };
}

async function settlementOf(
  src: SettlementSource,
  m: ModelRecord,
  windows: { challenge: bigint; arbitration: bigint },
  now: bigint,
): Promise<ModelSettlement> {
  if (m.jobId === 0n || m.frozen) return settlementWithoutJob(m);
  const j = await src.jobs.get(m.jobId);
  const base = { modelId: m.id, jobId: m.jobId };
  if (j.status === "Submitted") {
    const closesAt = j.submittedAt + windows.challenge;
    // The contract accepts a challenge while block.timestamp ≤ closesAt; the next block is at `now` or later.
    return now <= closesAt ? { state: "challengeable", ...base, closesAt } : { state: "settled", ...base };
  }
  if (j.status === "Challenged")
    return {
      state: "challenged",
      ...base,
      challenger: j.challenger,
      joinClosesAt: j.challengedAt + windows.challenge,
      lapsesAt: j.challengedAt + windows.arbitration,
    };
  if (j.status === "Slashed") return { state: "frozen", ...base };
  return { state: "settled", ...base };
}

/** A time of the chain in a sentence: its UTC date and how far it is from `now`. */
function at(sec: bigint, now: bigint): string {
  const d = Number(sec - now);
  const rough =
    d <= 0 ? "now" : d < 120 ? `${d} s` : d < 7200 ? `${Math.round(d / 60)} min` : `${Math.round(d / 360) / 10} h`;
  return `${utcText(sec)} (UTC, chain time${d > 0 ? `, in about ${rough}` : ""})`;
}

/**
 * The warning a buyer of an unsettled model's datatokens reads before paying: which job, until when it can be undone,
 * and what happens if it is. `now`: the chain's time (chainNow) for the "in about" part, this machine's clock by default.
 */
export function unsettledWarning(s: UnsettledModel, now = BigInt(Math.floor(Date.now() / 1000))): string {
  const m = `model ${s.modelId}`;
  const risk =
    `If a challenge is upheld, ${m} is frozen: it takes no jobs and its datatokens can no longer be sold on the ` +
    "market, and what you paid stays with the seller.";
  if (s.state === "challengeable")
    return (
      `Model ${s.modelId} was created by job ${s.jobId}, whose training receipt can still be challenged until ` +
      `${at(s.closesAt, now)}. ${risk}`
    );
  return (
    `Model ${s.modelId} was created by job ${s.jobId}, whose training receipt is challenged and not resolved yet: ` +
    `the arbiter may uphold the challenge until the job settles (anyone may settle it once the arbitration window ` +
    `closes, ${at(s.lapsesAt, now)}). ${risk}`
  );
}

/**
 * What a buyer (or a requester of a job) of a model descending from a frozen one reads: which ancestor, which job's
 * challenge was upheld, and that the model itself stands; undefined when no ancestor is frozen.
 */
export function frozenLineageWarning(s: ModelSettlement): string | undefined {
  const a = s.frozenAncestor;
  if (!a) return undefined;
  return (
    `Model ${s.modelId} descends from frozen model ${a.modelId}: the challenge of job ${a.jobId}, the training that ` +
    `created model ${a.modelId}, was upheld (that training was proved wrong). Model ${s.modelId} itself is not ` +
    "frozen: it takes jobs and its datatokens can be sold, but it was trained from a model proved wrong."
  );
}

/**
 * A short cell for a listing table: "root", "settled", "challengeable until …", "challenged", "frozen", followed by
 * "; descends from frozen model N" when an ancestor is frozen.
 */
export function settlementLabel(s: ModelSettlement): string {
  const own =
    s.state === "challengeable"
      ? `challengeable until ${utcText(s.closesAt)}`
      : s.state === "challenged"
        ? `challenged (job ${s.jobId})`
        : s.state;
  return s.frozenAncestor ? `${own}; descends from frozen model ${s.frozenAncestor.modelId}` : own;
}

/**
 * Refuses (MODEL_UNSETTLED, before anything is paid) to buy from a listing of a model whose creating training receipt
 * can still be challenged, or which descends from a frozen model, unless the buyer `accepted` that; returns the
 * warning they accepted, or undefined. A frozen model's listing is refused outright (MODEL_FROZEN).
 */
export async function refuseUnsettled(
  src: SettlementSource,
  l: Pick<ListingRecord, "id" | "modelId">,
  accepted: boolean,
): Promise<string | undefined> {
  const s = await modelSettlement(src, l.modelId);
  if (s.state === "frozen")
    throw new SdkError(
      "MODEL_FROZEN",
      `Model ${s.modelId} is frozen (the challenge of job ${s.jobId}, its training, was upheld): its datatokens can no ` +
        "longer be sold on the market. Nothing was paid.",
      undefined,
      { data: { listingId: l.id, ...s } },
    );
  const a = s.frozenAncestor;
  const lineage = frozenLineageWarning(s);
  const unsettled = isUnsettled(s) ? unsettledWarning(s, await chainNow(src.provider)) : undefined;
  if (!lineage && !unsettled) return undefined;
  const warning = [lineage, unsettled].filter((x) => x !== undefined).join(" ");
  if (accepted) return warning;
  const hint = [
    ...(isUnsettled(s) ? [`wait until job ${s.jobId} settles`] : []),
    ...(a ? [`look at job ${a.jobId}'s upheld challenge and model ${a.modelId}'s lineage`] : []),
  ].join(" and ");
  throw new SdkError("MODEL_UNSETTLED", `${warning} Nothing was paid.`, `${hint}, or buy accepting that`, {
    data: { listingId: l.id, ...s, ...(a ? { frozenAncestorId: a.modelId, upheldJobId: a.jobId } : {}) },
  });
}

async function latestBlockTime(provider: ethers.Provider): Promise<bigint> {
  return BigInt((await provider.getBlock("latest"))?.timestamp ?? 0);
}
