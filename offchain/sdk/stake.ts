/**
 * A worker's stake on the job market, for its operator (`posthuman stake`): what backs its claims, adding to it, and
 * taking it out (requested, then withdrawn after the market's delay). Each write is refused before a transaction when
 * the market would revert it, saying why in its numbers. Browser-safe.
 */
import { chainNow, type Sent } from "./base";
import type { PostHumanCore } from "./core";
import { SdkError, amountText } from "./errors";

export interface StakeView {
  account: string;
  /** Stake that backs new claims. */
  free: bigint;
  /** Stake locked as the collateral of claimed jobs. */
  locked: bigint;
  /** Stake on its way out, withdrawable from `unstakeAvailableAt` (chain time, unix seconds; 0 when none). */
  unstaking: bigint;
  unstakeAvailableAt: number;
  /** Jobs whose collateral is locked. */
  activeClaims: number;
  /** The market's minimum stake for a worker to claim, and its unstake delay. */
  minWorkerStake: bigint;
  unstakeDelaySec: number;
  /** The worker API's URL registered on chain ("" when none). */
  endpoint: string;
}

/** The stake of `account` (default: the signer's). */
export async function stakeOf(ph: PostHumanCore, account?: string): Promise<StakeView> {
  const who = account ?? (await ph.address());
  const market = ph.jobs.contract;
  const [s, cfg, endpoint] = await Promise.all([market.stakeOf(who), market.config(), market.endpointOf(who)]);
  return {
    account: who,
    free: s.free,
    locked: s.locked,
    unstaking: s.unstaking,
    unstakeAvailableAt: Number(s.unstakeAvailableAt),
    activeClaims: Number(s.activeClaims),
    minWorkerStake: cfg.minWorkerStake,
    unstakeDelaySec: Number(cfg.unstakeDelay),
    endpoint,
  };
}

const ocean = (x: bigint) => `${amountText(x)} OCEAN`;
type Step = (line: string) => void;

/** Stakes `amount` more for the signer (its base token approved to the market first, when needed). */
export async function addStake(
  ph: PostHumanCore,
  amount: bigint,
  onStep: Step = () => undefined,
): Promise<{ approvals: string[] } & Sent> {
  if (amount <= 0n) throw new SdkError("PARAMS_INVALID", "Stake a positive amount.", "pass an amount above 0");
  const approvals = await ph.ensureBase(amount, ph.jobs.address, `stake ${ocean(amount)}`);
  onStep(`Staking ${ocean(amount)}…`);
  return { approvals, ...(await ph.jobs.stake(amount)) };
}

/**
 * Requests `amount` of the signer's free stake out. Refused before a transaction beyond the free stake, where it
 * would leave less than the market's minimum behind claims still open, or while stake already out is ready to be
 * withdrawn (the market restarts the wait of all that is on its way out with each request; said when it does).
 */
export async function requestUnstake(
  ph: PostHumanCore,
  amount: bigint,
  onStep: Step = () => undefined,
): Promise<{ availableAt: number; unstaking: bigint } & Sent> {
  if (amount <= 0n) throw new SdkError("PARAMS_INVALID", "Request a positive amount out.", "pass an amount above 0");
  const s = await stakeOf(ph);
  if (amount > s.free)
    throw new SdkError(
      "STAKE_INSUFFICIENT",
      `Only ${ocean(s.free)} of your stake is free to take out (${ocean(s.locked)} is locked as the collateral of ` +
        `${s.activeClaims} claimed job${s.activeClaims === 1 ? "" : "s"}); you asked for ${ocean(amount)}.`,
      s.activeClaims > 0
        ? "ask for at most the free stake, or wait for the claimed jobs to end"
        : "ask for at most the free stake",
      { data: { free: s.free, locked: s.locked, amount } },
    );
  // The market restarts the wait of what is already on its way out with each request: never for what is ready.
  if (s.unstaking > 0n && Number(await chainNow(ph.provider)) >= s.unstakeAvailableAt)
    throw new SdkError(
      "UNSTAKE_WOULD_DELAY",
      `${ocean(s.unstaking)} of your stake can be withdrawn now: requesting more out would make all of it wait the ` +
        `market's delay (${s.unstakeDelaySec} s) again.`,
      "withdraw it first, then request more out",
      { data: { unstaking: s.unstaking, availableAt: s.unstakeAvailableAt } },
    );
  if (s.activeClaims > 0 && s.free - amount + s.locked < s.minWorkerStake)
    throw new SdkError(
      "STAKE_BELOW_MINIMUM",
      `While ${s.activeClaims} claimed job${s.activeClaims === 1 ? "" : "s"} ${s.activeClaims === 1 ? "is" : "are"} ` +
        `open, your stake must stay at ${ocean(s.minWorkerStake)} at least: taking ${ocean(amount)} out would ` +
        `leave ${ocean(s.free - amount + s.locked)}.`,
      `take out at most ${ocean(s.free + s.locked - s.minWorkerStake)}, or wait for the claimed jobs to end`,
      { data: { free: s.free, locked: s.locked, minWorkerStake: s.minWorkerStake, amount } },
    );
  if (s.unstaking > 0n) onStep(`This restarts the wait of the ${ocean(s.unstaking)} already on its way out.`);
  const left = s.free - amount + s.locked;
  if (left < s.minWorkerStake)
    onStep(
      `Your stake will be ${ocean(left)}, under the market's minimum of ${ocean(s.minWorkerStake)}: a worker with this key claims no job until it is staked again.`,
    );
  onStep(`Requesting ${ocean(amount)} of stake out (withdrawable after ${s.unstakeDelaySec} s)…`);
  const sent = await ph.jobs.requestUnstake(amount);
  const after = await stakeOf(ph);
  return { ...sent, availableAt: after.unstakeAvailableAt, unstaking: after.unstaking };
}

/** Withdraws the signer's unstaked amount. Refused before a transaction when none is, or before its time. */
export async function withdrawStake(
  ph: PostHumanCore,
  onStep: Step = () => undefined,
): Promise<{ amount: bigint } & Sent> {
  const s = await stakeOf(ph);
  if (s.unstaking === 0n)
    throw new SdkError(
      "NOTHING_TO_WITHDRAW",
      "Nothing of your stake is on its way out.",
      "request some of it out first, and withdraw it after the market's delay",
    );
  const now = Number(await chainNow(ph.provider));
  if (now < s.unstakeAvailableAt)
    throw new SdkError(
      "UNSTAKE_NOT_READY",
      `${ocean(s.unstaking)} can be withdrawn from ${new Date(s.unstakeAvailableAt * 1000).toISOString()} (chain ` +
        `time), in ${s.unstakeAvailableAt - now} s.`,
      "withdraw then",
      { data: { unstaking: s.unstaking, availableAt: s.unstakeAvailableAt } },
    );
  onStep(`Withdrawing ${ocean(s.unstaking)}…`);
  return ph.jobs.withdrawStake();
}
