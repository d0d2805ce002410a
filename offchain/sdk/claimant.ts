/**
 * Which worker API takes a job's input: the one the claimant registered on chain with its stake (JobMarket
 * `endpointOf`), so that a requester's client reaches another operator's worker; until the job is claimed (waiting
 * up to `waitMs`), or when the claimant registered none, the configured worker. Browser-safe.
 */
import { ethers } from "ethers";
import type { JobMarket } from "../../typechain-types";
import { WorkerApi } from "./worker-api";

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
    if (job.worker !== ethers.ZeroAddress) {
      const url = await market.endpointOf(job.worker).catch(() => "");
      if (!url || url.replace(/\/+$/, "") === configured.baseUrl) return configured;
      return new WorkerApi(url, configured.domain);
    }
    if (Date.now() > end) return configured;
    await sleep(250);
  }
}
