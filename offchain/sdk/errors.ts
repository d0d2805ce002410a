/**
 * Errors of the SDK: each says what went wrong (`message`) and what is needed (`hint`, in words that assume no
 * particular front end), with a stable `code` and the facts behind it (`data`: model id, amounts…) that programs can
 * branch on. The CLI adds its own commands to the hint; the web app maps the code to a button or a link.
 */
import { ethers } from "ethers";
import { amountText, JobStatus } from "../protocol/params";
import { errorChain } from "../protocol/error-chain";

export type SdkErrorCode =
  | "READ_ONLY"
  | "WRONG_CHAIN"
  | "NO_CONTRACTS"
  | "UNKNOWN_MODEL"
  | "UNKNOWN_JOB"
  | "UNKNOWN_LISTING"
  | "MODEL_UNSETTLED"
  | "MODEL_FROZEN"
  | "STAKE_INSUFFICIENT"
  | "STAKE_BELOW_MINIMUM"
  | "NOTHING_TO_WITHDRAW"
  | "UNSTAKE_NOT_READY"
  | "UNSTAKE_WOULD_DELAY"
  | "MODEL_UNSERVABLE"
  | "NO_EXCHANGE"
  | "NOT_ENOUGH_DATATOKENS"
  | "NOT_ENOUGH_BASE"
  | "WORKER_UNREACHABLE"
  | "WORKER_REFUSED"
  | "JOB_ENDED"
  | "JOB_TIMEOUT"
  | "NO_RECEIPT"
  | "NOT_REQUESTER"
  | "INPUT_MISSING"
  | "INPUT_INVALID"
  | "INPUT_TOO_LARGE"
  | "INPUT_NOT_DELIVERED"
  | "JOB_NOT_TAKEN"
  | "WORKER_DECLINES"
  | "NO_INDEPENDENT_WORKER"
  | "PARAMS_INVALID"
  | "COST_ABOVE_MAX"
  | "MODEL_FOLDER_MISSING"
  | "NOT_DISPUTABLE"
  | "CHALLENGE_REFUSED"
  | "RESOLVE_REFUSED"
  | "BAD_INPUT_ACK"
  | "CHAIN_UNREACHABLE"
  | "REVERTED";

export class SdkError extends Error {
  constructor(
    readonly code: SdkErrorCode,
    message: string,
    /** What is needed next, in plain words (no front end's commands). */
    readonly hint?: string,
    o: { data?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = "SdkError";
    this.data = o.data ?? {};
  }

  /** The facts behind the error (e.g. `{ modelId, onExchange }`), for a front end to word or act on. */
  readonly data: Record<string, unknown>;
}

export { amountText };

/** A purchase whose price is above the buyer's maximum: refused before anything is sent. */
export function costAboveMax(cost: bigint, max: bigint, facts: Record<string, unknown>): SdkError {
  return new SdkError(
    "COST_ABOVE_MAX",
    `That costs ${amountText(cost)} OCEAN, above your maximum of ${amountText(max)}. Nothing was sent.`,
    "raise the maximum, or buy fewer",
    { data: { ...facts, cost, max } },
  );
}

export function isSdkError(e: unknown, code?: SdkErrorCode): e is SdkError {
  return e instanceof SdkError && (code === undefined || e.code === code);
}

/** Revert data carried by an ethers error, wherever ethers put it. */
function revertData(e: unknown): string | undefined {
  return errorChain(e)
    .map((x) => x.data)
    .find((d): d is string => typeof d === "string" && d.startsWith("0x") && d.length >= 10);
}

/**
 * Turns a reverted call or transaction into an SdkError naming the contract's custom error and its arguments
 * (e.g. `DatatokenMarketInsufficientListing(3, 1e18, 2e18)`), decoded with the interfaces given. Errors that are
 * not reverts are returned unchanged.
 */
export function explainRevert(e: unknown, interfaces: ethers.Interface[], what: string): unknown {
  if (e instanceof SdkError) return e;
  const data = revertData(e);
  if (data?.startsWith(ERROR_STRING)) {
    // require(…, "reason") in a contract that is not ours (Ocean's exchange): its reason, not ethers' whole error.
    const [reason] = ethers.AbiCoder.defaultAbiCoder().decode(["string"], ethers.dataSlice(data, 4)) as unknown as [
      string,
    ];
    return new SdkError("REVERTED", `${what} reverted: ${reason}`, undefined, { cause: e, data: { reason } });
  }
  if (!data) {
    const reason = (e as { reason?: string }).reason;
    return reason && (e as { code?: string }).code === "CALL_EXCEPTION"
      ? new SdkError("REVERTED", `${what} reverted: ${reason}`, undefined, { cause: e })
      : e;
  }
  for (const iface of interfaces) {
    const parsed = (() => {
      try {
        return iface.parseError(data);
      } catch {
        return null;
      }
    })();
    if (parsed) {
      // Times (unix seconds) are said as the date in UTC; `data.args` keeps them as the contract gave them.
      const times = TIME_ARGS[parsed.name] ?? [];
      const args = parsed.args
        .map((a: unknown, i: number) => (times.includes(i) ? utcText(a as bigint) : String(a)))
        .join(", ");
      return new SdkError(
        "REVERTED",
        `${what} reverted: ${parsed.name}(${args})`,
        hintForRevert(parsed.name, parsed.args),
        {
          cause: e,
          data: { error: parsed.name, args: parsed.args.map((a: unknown) => String(a)) },
        },
      );
    }
  }
  return new SdkError("REVERTED", `${what} reverted (data ${data.slice(0, 10)})`, undefined, { cause: e });
}

/** The selector of Error(string), what `require(cond, "reason")` reverts with. */
const ERROR_STRING = "0x08c379a0";

/** The arguments of the contracts' custom errors that are times (unix seconds, the chain's clock), by position. */
const TIME_ARGS: Record<string, number[]> = {
  JobMarketDeadlineNotReached: [1],
  JobMarketLeaseExpired: [1],
  JobMarketChallengeWindowOpen: [1],
  JobMarketChallengeWindowClosed: [1],
  JobMarketArbitrationPending: [1],
  JobMarketDisputeWindowOpen: [1],
  JobMarketDisputeWindowClosed: [1],
  JobMarketUnstakeNotReady: [1],
  JobMarketInvalidDeadline: [0, 1],
};

/** A time of the chain (unix seconds) as the date and time in UTC, ISO 8601: "2026-12-06T01:33:16Z". */
export function utcText(sec: bigint | number): string {
  return new Date(Number(sec) * 1000).toISOString().replace(/\.000Z$/, "Z");
}

/** A length of time in rough words, its two largest units: "45 s", "1 min 30 s", "3 h 20 min", "2 days 1 h". */
export function durationText(sec: number): string {
  const units: [number, string][] = [
    [86_400, " days"],
    [3_600, " h"],
    [60, " min"],
    [1, " s"],
  ];
  const i = Math.max(
    0,
    units.findIndex(([u]) => sec >= u),
  );
  const [big, bigName] = units[i];
  const [small, smallName] = units[Math.min(i + 1, units.length - 1)];
  const total = Math.round(sec / small) * small; // rounded to the smaller unit
  const a = Math.floor(total / big);
  const b = Math.round((total - a * big) / small);
  const first = `${a}${a === 1 && big === 86_400 ? " day" : bigName}`;
  return b && small !== big ? `${first} ${b}${smallName}` : first;
}

/**
 * When a time of the chain comes, from now by this machine's clock: "in about 3 h 20 min". A time the chain has not
 * reached (`ahead`) that this clock has passed is said as such: the chain's clock is behind (its next block).
 */
function fromNowText(sec: bigint, ahead: boolean): string {
  const diff = Number(sec) - Math.floor(Date.now() / 1000);
  if (diff > 0) return `in about ${durationText(diff)}`;
  if (ahead) return "past by this machine's clock, not yet by the chain's (its next block will be after it)";
  return diff === 0 ? "just now" : `about ${durationText(-diff)} ago`;
}

/** A time in an error's hint: the date in UTC, and how far it is. */
function when(sec: unknown, ahead: boolean): string {
  return `${utcText(sec as bigint)} (UTC, chain time), ${fromNowText(BigInt(sec as bigint), ahead)}`;
}

function hintForRevert(name: string, args: ethers.Result): string | undefined {
  if (name.endsWith("ModelFrozen")) return "the model was frozen after a successful challenge: use another model";
  if (name === "DatatokenMarketInsufficientListing") return "take less, or pick another listing of the model";
  if (name === "DatatokenMarketCostAboveMax")
    return `it costs ${ethers.formatEther(args[0] as bigint)}, above your maximum of ${ethers.formatEther(args[1] as bigint)}: raise the maximum, or buy fewer`;
  if (name === "DatatokenMarketNotSeller") return "only the listing's seller may do this";
  if (name === "RoyaltyVaultNothingToClaim") return "nothing is claimable yet: revenue must be distributed first";
  if (name === "JobMarketUnexpectedStatus") {
    const status = Object.entries(JobStatus).find(([, n]) => BigInt(n) === BigInt(args[1] as bigint))?.[0];
    return `job ${String(args[0])} is ${status ?? `in status ${String(args[1])}`}, which does not allow this`;
  }
  if (name === "JobMarketNotRequester") return "only the job's requester may do this";
  if (name === "JobMarketNotArbiter") return "only the market's arbiter decides challenges";
  if (name === "JobMarketChallengeWindowOpen")
    return `the window is open until ${when(args[1], true)}: try again after it`;
  if (name === "JobMarketChallengeWindowClosed")
    return `job ${String(args[0])}'s challenge window closed at ${when(args[1], false)}: the receipt can no longer be challenged`;
  if (name === "JobMarketDeadlineNotReached")
    return (
      `job ${String(args[0])}'s deadline is ${when(args[1], true)}: until then its worker may still deliver; ` +
      "after it anyone may reclaim the job (the fee and the datatoken go back to the requester)"
    );
  if (name === "JobMarketLeaseExpired")
    return `job ${String(args[0])}'s deadline passed at ${when(args[1], false)}: it can no longer be claimed or delivered, anyone may reclaim it`;
  if (name === "JobMarketArbitrationPending")
    return `the arbiter may decide job ${String(args[0])}'s challenge until ${when(args[1], true)}: after it anyone may settle the job`;
  if (name === "JobMarketDisputeWindowOpen")
    return `job ${String(args[0])}'s failure may be disputed until ${when(args[1], true)}: its claimant's collateral is released after it`;
  if (name === "JobMarketDisputeWindowClosed")
    return `job ${String(args[0])}'s failure could be disputed until ${when(args[1], false)}: it no longer can`;
  if (name === "JobMarketUnstakeNotReady") return `the stake can be withdrawn from ${when(args[1], true)}`;
  if (name === "JobMarketInvalidDeadline")
    return `the deadline ${utcText(args[0] as bigint)} is not after the chain's time ${utcText(args[1] as bigint)} (UTC): give the job a later deadline`;
  if (name === "ModelRegistryWeightsRootTaken")
    return `these weights are model ${String(args[1])} already: a weights root belongs to one model`;
  if (name === "JobMarketNotIndependent")
    return "the job asks for an independent evaluation: the model's owner and the worker that trained it may not claim it";
  if (name === "ModelRegistryWeightsRootNotCommitted")
    return BigInt(args[1] as bigint) === 0n
      ? "commit to the weights root first (commitWeightsRoot; the SDK's publish does it), then publish in a later block"
      : `the commitment is from block ${String(args[1])}: publish again in a later block`;
  return undefined;
}
