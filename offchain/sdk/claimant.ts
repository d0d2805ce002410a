/**
 * Who may claim a job, as a requester's client sees it. Which worker API takes a job's input: the one the claimant
 * registered on chain with its stake (JobMarket `endpointOf`), so that a requester's client reaches another operator's
 * worker; until the job is claimed (waiting up to `waitMs`, or until the configured worker says it waits for the
 * input to weigh the job), or when the claimant registered none, the configured worker. And whether any worker may take an independent evaluation at all. Browser-safe.
 */
import { ethers } from "ethers";
import type { JobMarket, ModelRegistry } from "../../typechain-types";
import { modelMakers } from "../protocol/contracts";
import { SdkError } from "./errors";
import { WorkerApi } from "./worker-api";
import type { JobMarketClient } from "./job-market";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function claimantApi(
  market: JobMarket,
  configured: WorkerApi,
  jobId: bigint,
  waitMs = 30_000,
): Promise<WorkerApi> {
  const end = Date.now() + waitMs;
  for (;;) {
    const job = await market.getJob(jobId);
    if (job.worker !== ethers.ZeroAddress) return apiOf(market, configured, job.worker);
    // The configured worker waits for the input to weigh the job (its price or its time depends on it): it is the
    // claimant to be, if any.
    const seen = await configured.jobStatus(jobId).catch(() => undefined);
    if (Date.now() > end || seen?.progress?.waitsFor === "input") return configured;
    await sleep(250);
  }
}

/**
 * The API that `worker` registered on chain (where a job it claimed is followed, and its result fetched), or
 * `configured` when it is that one, registered none, or is no one (a job not claimed yet).
 */
export async function apiOf(market: JobMarket, configured: WorkerApi, worker: string): Promise<WorkerApi> {
  if (worker === ethers.ZeroAddress) return configured;
  const url = (await market.endpointOf(worker).catch(() => "")).replace(/\/+$/, "");
  return !url || url === configured.baseUrl ? configured : new WorkerApi(url, configured.domain);
}

/** `apiOf`, looked up again only when the worker asked about changes (a follow, a page, asks at every poll). */
export function apiLookup(market: JobMarket, configured: WorkerApi): (worker: string) => Promise<WorkerApi> {
  let known: { worker: string; api: Promise<WorkerApi> } | undefined;
  return (worker) => {
    if (known?.worker !== worker) known = { worker, api: apiOf(market, configured, worker) };
    return known.api;
  };
}

/** The APIs other than `configured` that workers have registered on chain and not cleared (at most `max`). */
export async function otherWorkerApis(jobs: JobMarketClient, configured: WorkerApi, max = 8): Promise<WorkerApi[]> {
  const market = jobs.contract;
  const events = await jobs.logs((a, b) => market.queryFilter(market.filters.WorkerEndpointSet(), a, b));
  const urls = new Set<string>();
  for (const worker of new Set(events.map((e) => e.args.worker.toLowerCase()))) {
    if (urls.size >= max) break;
    const url = (await market.endpointOf(worker).catch(() => "")).replace(/\/+$/, "");
    if (url && url !== configured.baseUrl) urls.add(url);
  }
  return [...urls].map((url) => new WorkerApi(url, configured.domain));
}

/**
 * Before paying `fee` for an independent evaluation (EvaluateParams.independent) of `modelId`: refuses when no worker
 * known here may take it, i.e. every worker with an endpoint registered now, and the configured one, owns the model or
 * trained it (the chain refuses their claims), or has too little stake to claim the job. The job would otherwise stay
 * open until cancelled.
 */
export async function requireIndependentWorker(
  jobs: JobMarketClient,
  registry: ModelRegistry,
  modelId: bigint,
  fee: bigint,
  configuredWorker: string | undefined,
): Promise<void> {
  const market = jobs.contract;
  const { owner, trainer } = await modelMakers(registry, market, modelId);
  const makers = new Set([owner, trainer]);
  const known = new Set<string>(configuredWorker ? [configuredWorker.toLowerCase()] : []);
  const endpoints = await jobs.logs((a, b) => market.queryFilter(market.filters.WorkerEndpointSet(), a, b));
  for (const e of endpoints) known.add(e.args.worker.toLowerCase());
  const [minStake, collateral] = [(await market.config()).minWorkerStake, await market.collateralFor(fee)];
  const able = async (w: string) => {
    if (w !== configuredWorker?.toLowerCase() && !(await market.endpointOf(w))) return false; // endpoint cleared
    const s = await market.stakeOf(w);
    return s.free + s.locked >= minStake && s.free >= collateral;
  };
  for (const w of known) if (!makers.has(w) && (await able(w))) return;
  throw new SdkError(
    "NO_INDEPENDENT_WORKER",
    `Nothing was paid: no worker on this chain may take an independent evaluation of model ${modelId}: every one ` +
      `known (${[...known].join(", ") || "none"}) owns the model or trained it, or has too little stake to claim it.`,
    "request an evaluation that is not independent, or wait until another operator's worker registers its endpoint",
    { data: { modelId, workers: [...known] } },
  );
}
