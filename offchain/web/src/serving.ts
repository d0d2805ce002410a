/**
 * Whether any worker known here serves a model: the page's own worker, then the others registered on chain. A model
 * registered but never uploaded (a publish cut short) is for sale like any other, yet takes no job: its model page
 * says so, and a purchase asks first (actions.ts).
 */
import { JobMarketClient, WorkerApiError, type WorkerApi } from "../../sdk/browser";
import { otherWorkerApis } from "../../sdk/claimant";
import type { Market } from "./chain";

/** Whether `api` serves the model: true, false (it answered that it does not), undefined (it did not answer). */
async function serves(api: WorkerApi, modelId: bigint): Promise<boolean | undefined> {
  try {
    await api.modelShape(modelId);
    return true;
  } catch (e) {
    return e instanceof WorkerApiError && e.code === "UNKNOWN_MODEL" ? false : undefined;
  }
}

/**
 * True when a worker serves the model, false when every worker known answered that it does not, undefined when
 * none could tell (the page's worker is down): nothing is said then.
 */
export async function modelServed(market: Market, worker: WorkerApi, modelId: bigint): Promise<boolean | undefined> {
  const mine = await serves(worker, modelId);
  if (mine) return true;
  const ctx = { runner: market.provider, provider: market.provider, book: market.cfg.book };
  const others = await otherWorkerApis(new JobMarketClient(ctx), worker).catch(() => []);
  const answers = await Promise.all(others.map((api) => serves(api, modelId)));
  if (answers.includes(true)) return true;
  return mine === false ? false : undefined;
}

/** What a buyer is told before buying datatokens of a model no worker serves. */
export function unservedWarning(modelId: bigint): string {
  return (
    `No worker serves model ${modelId} yet: buying its datatokens buys no job now (a job request would be refused ` +
    "before paying, and the datatokens stay yours). Its publisher can upload the model's files by publishing the " +
    "same folder again."
  );
}
