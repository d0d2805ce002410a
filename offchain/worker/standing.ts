/**
 * The worker's standing on chain: whether it may take a job now. Its stake must reach the market's minimum and hold
 * the job's collateral free, and its API must be the endpoint registered with its stake (JobMarket.setEndpoint):
 * requesters upload inputs to that URL, so a claim made while it names another (or none) ends with the input
 * missing, the requester's fee and time lost. The endpoint is registered at start (replacing an earlier run's URL), or
 * later once it can be (a worker started unstaked, staked since), checked at most every CHECK_MS.
 */
import { ethers } from "ethers";
import type { JobMarket } from "../../typechain-types";
import { amountText } from "../protocol/params";
import type { WorkerStateCode } from "../protocol/quote";
import type { Log } from "./log";
import type { Sender } from "./sender";

/** How long a reading of the stake and endpoint stands (claims and quotes within it share it). */
export const CHECK_MS = 5_000;

export interface StandingProblem {
  code: Exclude<WorkerStateCode, "DISK_FULL">;
  reason: string;
  /** This job never can be claimed by this worker as staked now (its collateral is more than the whole stake). */
  final?: boolean;
}

export interface Standing {
  /** Why a job of `fee` cannot be claimed now, or undefined when it can. */
  problem(fee: bigint): Promise<StandingProblem | undefined>;
  /** Why no job can be claimed now (stake, endpoint), read without registering anything: /healthz, start-up. */
  status(): Promise<StandingProblem | undefined>;
  /** Registers the endpoint at start, replacing another URL (later, problem() registers it where the chain names none). */
  register(replace?: boolean): Promise<void>;
}

export function createStanding(o: {
  market: JobMarket;
  self: string;
  sender: Sender;
  log: Log;
  /** The API's public URL, once it listens. */
  url: () => string | undefined;
}): Standing {
  const { market, log } = o;
  let read: Promise<{ free: bigint; total: bigint; min: bigint; endpoint: string; at: number }> | undefined;
  let said = "";
  /** This run's URL was registered once: another one on chain since is another process's, not an earlier run's. */
  let owned = false;
  const once = (level: "info" | "warn", fields: object, msg: string) => {
    if (said !== msg) log[level](fields, msg);
    said = msg;
  };

  /**
   * Registers this API's URL over none, or over another URL left by an earlier run of this key; but not over one
   * registered after this run's own (`replace`: at start): two processes with one key would take turns replacing
   * each other's.
   */
  async function register(replace = false): Promise<void> {
    const url = o.url();
    if (!url) return;
    const onChain = await market.endpointOf(o.self);
    if (onChain === url) return void (owned = true);
    if (onChain && !replace && owned) {
      const msg = `the chain names ${onChain} as this worker's API, not ${url} (another process with this key registered it?): this worker claims no job until it is restarted, which registers its own (behind a proxy, give the worker its public URL: --public-url or POSTHUMAN_WORKER_PUBLIC_URL)`;
      return once("warn", { endpoint: url, registered: onChain }, msg);
    }
    const [stake, cfg] = await Promise.all([market.stakeOf(o.self), market.config()]);
    if (stake.free + stake.locked < cfg.minWorkerStake) {
      if (replace) return; // at start: the worker's start-up warning says its standing (the stake), once
      const msg = `the API endpoint is not registered on chain: the worker's stake is ${amountText(stake.free + stake.locked)}, below the market's minimum of ${amountText(cfg.minWorkerStake)}; it registers once staked (no restart needed)`;
      return once("warn", { endpoint: url, registered: onChain }, msg);
    }
    // A key of its own per attempt: the chain named another URL since any earlier registration of this one.
    const key = `endpoint:${ethers.id(`${url} ${Date.now()}`).slice(2, 18)}`;
    await o.sender.send({
      key,
      to: market.target as string,
      data: market.interface.encodeFunctionData("setEndpoint", [url]),
    });
    const now = await market.endpointOf(o.self);
    if (now !== url) throw new Error(`setEndpoint(${url}) was mined, yet the chain names ${JSON.stringify(now)}`);
    owned = true;
    once("info", { endpoint: url, replaced: onChain || null }, "API endpoint registered on chain");
    read = undefined;
  }

  async function readChain() {
    const [stake, cfg, endpoint] = await Promise.all([
      market.stakeOf(o.self),
      market.config(),
      market.endpointOf(o.self),
    ]);
    return { free: stake.free, total: stake.free + stake.locked, min: cfg.minWorkerStake, endpoint, at: Date.now() };
  }

  /** Why no job at all can be claimed: the stake under the minimum, or another endpoint (or none) on chain. */
  function general(s: Awaited<ReturnType<typeof readChain>>): StandingProblem | undefined {
    const url = o.url();
    if (s.total < s.min)
      return {
        code: "STAKE_BELOW_MINIMUM",
        reason: `this worker's stake (${amountText(s.total)}) is below the market's minimum of ${amountText(s.min)}: it claims no job until its operator stakes more`,
      };
    if (url && s.endpoint !== url)
      return {
        code: "ENDPOINT_NOT_REGISTERED",
        reason: `this worker's API (${url}) is not the endpoint registered on chain (${s.endpoint ? s.endpoint : "none"}): requesters could not reach it`,
      };
    return undefined;
  }

  /** The stake, the minimum and the endpoint, read at most every CHECK_MS (one read in flight); a registration that
   * may be due goes on in the background (a claim or a quote does not wait for its transaction to be mined). */
  let readAt = 0;
  let registering: Promise<void> | undefined;
  function fresh(registerToo = true) {
    if (read && Date.now() - readAt < CHECK_MS) return read;
    readAt = Date.now();
    if (registerToo)
      registering ??= register()
        .catch((e: Error) =>
          once("warn", { err: e.message }, `could not register the API endpoint on chain: ${e.message}`),
        )
        .finally(() => (registering = undefined));
    const reading = readChain();
    reading.catch(() => {
      if (read === reading) read = undefined; // read again next time
    });
    return (read = reading);
  }

  return {
    register,
    async status() {
      return general(await fresh(false)); // the same reading as claims share, registering nothing
    },
    async problem(fee) {
      const s = await fresh();
      const none = general(s);
      if (none) return none;
      const collateral = await market.collateralFor(fee);
      if (s.total < collateral)
        return {
          code: "STAKE_TOO_SMALL",
          final: true,
          reason: `the job's collateral of ${amountText(collateral)} is more than this worker's whole stake (${amountText(s.total)})`,
        };
      if (s.free < collateral)
        return {
          code: "STAKE_LOCKED",
          reason: `this worker's free stake (${amountText(s.free)}) is below the job's collateral of ${amountText(collateral)}: the rest is locked by its claims`,
        };
      return undefined;
    },
  };
}
