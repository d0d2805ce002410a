/**
 * Errors as a person reads them: what happened, and what to do about it. Every failure shown by the pages goes
 * through `explain`, which knows the wallet's refusals, the contracts' custom errors, an unreachable chain or worker,
 * and the marketplace's own checks (UserError).
 */
import { ethers } from "ethers";
import {
  DatatokenMarket__factory,
  ERC20Template__factory,
  JobMarket__factory,
  ModelRegistry__factory,
  RoyaltyVault__factory,
} from "../../../typechain-types";
import { SdkError, WorkerApiError } from "../../sdk/browser";
import { clock, STATUS_LABEL, tokens } from "./format";

export { WorkerApiError };

/** A fix the page can offer as a button (switch network) or a link (buy tokens). */
export type Fix = { label: string; href: string } | { label: string; run: () => Promise<void> | void };

export class UserError extends Error {
  constructor(
    readonly title: string,
    readonly fix?: string,
    readonly action?: Fix,
    /** What lies behind it (the error that came first), shown smaller. */
    readonly detail?: string,
  ) {
    super(title);
    this.name = "UserError";
  }
}

export interface Explained {
  title: string;
  detail?: string;
  fix?: string;
  action?: Fix;
}

const interfaces = [
  ModelRegistry__factory.createInterface(),
  JobMarket__factory.createInterface(),
  DatatokenMarket__factory.createInterface(),
  RoyaltyVault__factory.createInterface(),
  ERC20Template__factory.createInterface(),
];

/** The custom error in revert data, decoded with the ABIs of the contracts the page talks to. */
export function decodeRevert(data: string | undefined | null): ethers.ErrorDescription | undefined {
  if (!data || data === "0x") return undefined;
  for (const i of interfaces) {
    try {
      const d = i.parseError(data);
      if (d) return d;
    } catch {
      /* not this contract's error */
    }
  }
  return undefined;
}

const REVERT_TEXT: Record<string, (args: ethers.Result) => Explained> = {
  RoyaltyVaultNothingToClaim: () => ({
    title: "There is nothing to claim yet.",
    fix: "Revenue arrives when someone buys this model's datatokens or runs a job on it.",
  }),
  RoyaltyVaultFrozen: (a) => ({
    title: `Model ${a[0]} is frozen: its training was proved wrong, so its vault pays nothing.`,
  }),
  DatatokenMarketInsufficientListing: (a) => ({
    title: `The listing has only ${ethers.formatEther(a[1] as bigint)} datatokens left.`,
    fix: "Ask for that much or less.",
  }),
  DatatokenMarketModelFrozen: (a) => ({ title: `Model ${a[0]} is frozen: its datatokens can no longer be bought.` }),
  DatatokenMarketCostAboveMax: () => ({
    title: "The price changed while you were buying.",
    fix: "Reload the page and try again.",
  }),
  DatatokenMarketNotSeller: (a) => ({ title: `Listing ${a[0]} is not yours: only its seller can cancel it.` }),
  DatatokenMarketUnknownListing: (a) => ({ title: `There is no listing ${a[0]}.`, fix: "Reload the page." }),
  JobMarketChallengeWindowClosed: (a) => ({
    title: `The challenge window of job ${a[0]} is closed: it closed at ${clock(a[1] as bigint)}.`,
    fix: "A receipt can be challenged only for a short time after it is submitted. Nothing was paid and no bond was taken.",
  }),
  JobMarketUnexpectedStatus: (a) => ({
    title: `Job ${a[0]} is “${STATUS_LABEL[Number(a[1])] ?? a[1]}” now, so this can no longer be done.`,
    fix: "Reload the page to see where the job stands. Nothing was paid.",
  }),
  JobMarketModelFrozen: (a) => ({ title: `Model ${a[0]} is frozen and takes no new jobs.` }),
  JobMarketDeadlineNotReached: (a) => ({
    title: `Job ${a[0]}'s deadline is ${clock(a[1] as bigint)}: until then its worker may still deliver.`,
    fix: "Reclaim it after the deadline.",
  }),
  ModelRegistryZeroWeightsRoot: () => ({ title: "The model's weights root is missing." }),
  ModelRegistryWeightsRootTaken: (a) => ({
    title: `These weights are model ${a[1]} already: a weights root belongs to one model.`,
    fix: `If model ${a[1]} is yours, publish the same folder again with the account that published it: the page then uploads its files to model ${a[1]}. Otherwise these weights are someone else's model: publish your own.`,
    action: { label: `Open model ${a[1]}`, href: `#/model/${a[1]}` },
  }),
  ModelRegistryInvalidPrice: () => ({ title: "The price must be more than 0." }),
  ERC20InsufficientBalance: () => ({
    title: "Not enough tokens for this transaction.",
    fix: "Buy more, or ask for less.",
  }),
};

function revertOf(e: unknown): ethers.ErrorDescription | undefined {
  const x = e as { data?: string; revert?: { name: string }; info?: { error?: { data?: string } } };
  return decodeRevert(x.data) ?? decodeRevert(x.info?.error?.data);
}

/** "get 3 more OCEAN" → "Get 3 more OCEAN." */
function sentence(hint: string | undefined): string | undefined {
  if (!hint) return undefined;
  const s = hint.charAt(0).toUpperCase() + hint.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** The SDK's errors in the page's words: its message, its hint as the fix, and a link where the page has one. */
function explainSdk(e: SdkError): Explained {
  const cause = e.cause;
  if (e.code === "WORKER_UNREACHABLE" || e.code === "WORKER_REFUSED") {
    if (cause instanceof WorkerApiError) return explain(cause);
  }
  if (e.code === "REVERTED" && cause !== undefined) {
    const x = explain(cause);
    if (x.title.length <= 300) return x;
  }
  const modelId = e.data.modelId as bigint | undefined;
  if (e.code === "NOT_ENOUGH_DATATOKENS" && modelId !== undefined && "onExchange" in e.data) {
    return {
      title: e.message,
      fix: e.data.onExchange
        ? "Buy one on the exchange in “Buy datatokens” on this page, then run the job again."
        : "Buy one from a holder's listing in “Buy datatokens” on this page, then run the job again.",
      action: { label: "Go to “Buy datatokens”", href: `#/model/${modelId}/buy` },
    };
  }
  if (e.code === "NO_EXCHANGE") return { title: e.message, fix: "Buy from a holder's listing instead (below)." };
  // A publish whose upload failed after the registration: the model is on chain, and publishing again resumes it.
  if (e.data.registered === true && modelId !== undefined)
    return {
      title: withoutPaths(e.message),
      fix: sentence(e.hint),
      action: { label: `Open model ${modelId}`, href: `#/model/${modelId}` },
    };
  const { workerCode, minFee, minTtlSec } = e.data;
  if (e.code === "WORKER_DECLINES" && workerCode === "UNDERPRICED" && typeof minFee === "bigint") {
    return {
      title: e.message,
      fix: `Set the fee to at least ${tokens(minFee)} OCEAN, then request the job again. Nothing was paid.`,
    };
  }
  if (e.code === "WORKER_DECLINES" && typeof minTtlSec === "number" && /DEADLINE/.test(String(workerCode))) {
    const minutes = Math.ceil(minTtlSec / 60);
    return {
      title: e.message,
      fix: `Set “Time to deliver” to at least ${minutes} minute${minutes === 1 ? "" : "s"}, then request the job again. Nothing was paid.`,
    };
  }
  return { title: e.message, fix: sentence(e.hint) };
}

export function explain(e: unknown): Explained {
  if (e instanceof UserError)
    return { title: e.title, ...(e.detail ? { detail: e.detail } : {}), fix: e.fix, action: e.action };
  if (e instanceof SdkError) return explainSdk(e);
  if (e instanceof WorkerApiError) {
    if (e.code === "UNREACHABLE") {
      return {
        title: "The worker does not answer.",
        detail: e.message,
        fix: "Nothing was paid. Start a worker (`npm start` runs one with the marketplace), then try again.",
      };
    }
    return {
      title: `The worker refused: ${withoutPaths(e.message)}`,
      detail: e.code,
      fix: MODEL_FOLDER_CODES.has(e.code)
        ? "Choose every file `posthuman model create` (or your export) wrote in the model's folder, unchanged."
        : undefined,
    };
  }
  const rejected =
    ethers.isError(e, "ACTION_REJECTED") ||
    (e as { code?: unknown }).code === 4001 ||
    (e as { error?: { code?: unknown } }).error?.code === 4001;
  if (rejected) {
    return {
      title: "You rejected the request in your wallet.",
      fix: "Nothing was sent and nothing was paid. Press the button again and approve it when you are ready.",
    };
  }
  if (ethers.isError(e, "INSUFFICIENT_FUNDS")) {
    return {
      title: "Your account has not enough of the chain's coin to pay for gas.",
      fix: "Fund the account with the network's gas token (on the local chain every dev account has 10000 ETH).",
    };
  }
  const revert = revertOf(e);
  if (revert) {
    const known = REVERT_TEXT[revert.name];
    if (known) return known(revert.args);
    return {
      title: `The contract refused the transaction: ${revert.name}.`,
      detail: `${revert.name}(${revert.args.map(String).join(", ")})`,
    };
  }
  if (ethers.isError(e, "CALL_EXCEPTION")) {
    return { title: "The contract refused the transaction.", detail: e.shortMessage };
  }
  if (
    ethers.isError(e, "NETWORK_ERROR") ||
    ethers.isError(e, "SERVER_ERROR") ||
    ethers.isError(e, "TIMEOUT") ||
    fetchFailed(e)
  ) {
    return {
      title: "The chain does not answer.",
      detail: (e as { shortMessage?: string }).shortMessage ?? (e as Error).message,
      fix: "Start the local marketplace with `npm start`, or check your network connection.",
    };
  }
  const msg = (e as Error)?.message ?? String(e);
  return { title: msg.length > 300 ? `${msg.slice(0, 300)}…` : msg };
}

/**
 * A browser's failed fetch (the node refused the connection, or the network is down) as ethers passes it on from a
 * JSON-RPC call: a TypeError ("Failed to fetch" in Chromium, "NetworkError…" in Firefox, "Load failed" in Safari).
 * The worker's calls never reach here so: the SDK words them (WorkerApiError UNREACHABLE).
 */
function fetchFailed(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++)
    if (x instanceof TypeError && /failed to fetch|networkerror|load failed/i.test(x.message)) return true;
  return false;
}

/** The worker's codes for a model folder it cannot load: the person chose the wrong files, or damaged ones. */
const MODEL_FOLDER_CODES = new Set(["MODEL_INVALID", "MODEL_UNLOADABLE", "CONFIG_INVALID", "MODEL_TOO_LARGE"]);

/**
 * A worker's message without the paths of its own disk (`/srv/…/uploads/ph-upload-x/config.json` → `config.json`):
 * they name nothing the person chose, and tell the operator's file system layout.
 */
export function withoutPaths(message: string): string {
  return message.replace(/(?<=^|[\s("'`=])(?:[A-Za-z]:)?(?:[\\/][^\s\\/:"'`]+)+[\\/]([^\s\\/:"'`]+)/g, "$1");
}

/**
 * An error once a job request's transaction was sent: something may have been paid, so it is never said as "nothing
 * was paid" nor as a plain "the chain does not answer", which invites paying twice. With the job's id (the request was
 * mined): the job, what became of its input, and a link to its page, where the input can be uploaded again. Without
 * it: the transaction, and a link to the account's jobs. A rejection in the wallet or a revert sent nothing that paid:
 * unchanged.
 */
export function afterSending(e: unknown, o: { jobId?: bigint; txHash?: string }): unknown {
  const x = explain(e);
  const code = e instanceof SdkError ? e.code : undefined;
  if (o.jobId !== undefined) {
    const link = { label: `Open job ${o.jobId}`, href: `#/job/${o.jobId}` };
    if (code === "INPUT_NOT_DELIVERED")
      return new UserError(
        x.title,
        `Open job ${o.jobId} and upload the input again there while the worker waits for it (do not request the job again: it is paid for). If it never arrives, the worker fails the job (INPUT_MISSING) and the fee and the datatoken come back to you.`,
        link,
      );
    if (code && code !== "WORKER_UNREACHABLE") return new UserError(x.title, x.fix, link, x.detail);
    return new UserError(
      `Job ${o.jobId} was requested and paid for (its fee and datatoken are escrowed), but its input was not sent.`,
      `Check job ${o.jobId} before trying again: its page says where it stands and lets you upload the input again while the worker waits for it.`,
      link,
      [x.title, x.detail].filter(Boolean).join(" "),
    );
  }
  const rejected =
    ethers.isError(e, "ACTION_REJECTED") ||
    (e as { code?: unknown }).code === 4001 ||
    (e as { error?: { code?: unknown } }).error?.code === 4001;
  if (rejected || code === "REVERTED" || ethers.isError(e, "CALL_EXCEPTION") || e instanceof UserError) return e;
  return new UserError(
    o.txHash
      ? `Your job request was sent (transaction ${o.txHash}), but the chain stopped answering before it was confirmed.`
      : "Your job request was on its way to the chain when the chain stopped answering: it may have been sent.",
    "It may be on chain and paid for: check “Your jobs” on the receipts page before trying again, so as not to pay twice.",
    { label: "Check your jobs", href: "#/receipts" },
    [x.title, x.detail].filter(Boolean).join(" "),
  );
}

/**
 * The banner while the worker is down. Unlike a form's error (where it is true before paying) it never says "nothing
 * was paid": a job requested already keeps its fee and datatoken in escrow.
 */
export function workerDownError(e: unknown): UserError {
  const x = explain(e);
  return new UserError(
    x.title,
    "Jobs requested already keep their fee and datatoken in escrow: they go on when the worker is back, or can be " +
      "reclaimed after their deadline (their pages say so). Start a worker (`npm start` runs one with the " +
      "marketplace); requests and publishing wait until then.",
    undefined,
    x.detail,
  );
}
