import http from "node:http";
import https from "node:https";
import { FetchRequest, JsonRpcProvider, Network, isError, toUtf8String, type FetchGetUrlFunc } from "ethers";
import { errorChain } from "../protocol/error-chain";
import { nodeLostReason } from "../protocol/node-lost";
import { redactUrl } from "./log";

export interface ProviderOptions {
  /** http(s) URL of the RPC node. */
  url: string;
  /**
   * The chain id the node must serve (from the address book). When given the provider never asks the node
   * (`staticNetwork`), so a node that is down at start-up gives errors the caller can retry, instead of ethers'
   * endless "failed to detect network" loop on the console; check it once with `assertChainId`.
   */
  chainId?: number;
  /** Per-request timeout (default 15 s): a node that accepts the connection and never answers must not hang the worker. */
  timeoutMs?: number;
  /** Requests issued in the same tick are batched, at most this many per batch (default 50; 1 disables batching). */
  batchMaxCount?: number;
}

/**
 * The worker's JSON-RPC provider. `cacheTimeout: -1` because ethers otherwise answers identical calls made within
 * 250 ms from a cache: stale nonces, stale heads and stale receipts are exactly what a worker cannot afford.
 */
export function createProvider(opts: ProviderOptions | string): JsonRpcProvider {
  const o: ProviderOptions = typeof opts === "string" ? { url: opts } : opts;
  if (!/^https?:\/\//.test(o.url)) {
    throw new Error(
      `RPC URL ${redactUrl(o.url)} is not http(s): the worker polls over HTTP (a ws URL can only wake it).`,
    );
  }
  const req = rpcFetchRequest(o.url, o.timeoutMs ?? 15_000);
  const network = o.chainId === undefined ? undefined : Network.from(o.chainId);
  return new JsonRpcProvider(req, network, {
    staticNetwork: network ?? null,
    cacheTimeout: -1,
    batchMaxCount: o.batchMaxCount ?? 50,
  });
}

/** JSON-RPC methods that only read: asking twice is harmless. Anything else (a transaction, evm_mine) is sent once. */
const READ_METHOD =
  /^(eth_(blockNumber|chainId|call|estimateGas|gasPrice|maxPriorityFeePerGas|feeHistory|blobBaseFee|getBalance|getCode|getStorageAt|getProof|getTransactionCount|getTransactionByHash|getTransactionReceipt|getBlockByNumber|getBlockByHash|getBlockReceipts|getLogs|createAccessList|syncing|accounts)|net_version|web3_clientVersion)$/;

function onlyReads(body: Uint8Array | null): boolean {
  if (!body) return false;
  try {
    const payload: unknown = JSON.parse(toUtf8String(body));
    const calls = Array.isArray(payload) ? payload : [payload];
    return calls.length > 0 && calls.every((c) => READ_METHOD.test(String(field(c, "method"))));
  } catch {
    return false;
  }
}

const pooledGetUrl = FetchRequest.createGetUrlFunc();
const freshGetUrl = {
  http: FetchRequest.createGetUrlFunc({ agent: new http.Agent({ keepAlive: false }) }),
  https: FetchRequest.createGetUrlFunc({ agent: new https.Agent({ keepAlive: false }) }),
};

/**
 * ethers' HTTP transport, plus one retry of a JSON-RPC read whose connection was reset before the answer came.
 *
 * Node's global agent keeps idle connections for the next request (keep-alive) and drops each a second before the
 * idle timeout the server announces (`hardhat node` and other Node servers: 5 s). That margin does not hold when an
 * event loop stalls for longer: ethers sends a request from a timer a few milliseconds after it is asked for, and when
 * this process stalls meanwhile (a synchronous spawn such as the PyTorch probe, a loaded machine) the request goes
 * out, before the agent's own timer has dropped the connection, on one the server closed during the stall; or the
 * server, stalled itself, runs its idle timer before it reads a request that came just in time. Either way the request
 * fails with ECONNRESET "socket hang up" although the server never read it, and ethers does not retry that. A read is
 * sent once more, on a new connection; a transaction is not (it may have arrived: the sender's retry finds out).
 */
export const rpcGetUrl: FetchGetUrlFunc = async (req, signal) => {
  try {
    return await pooledGetUrl(req, signal);
  } catch (e) {
    const code = field(e, "code");
    if ((code !== "ECONNRESET" && code !== "EPIPE") || signal?.cancelled || !onlyReads(req.body)) throw e;
    return freshGetUrl[req.url.startsWith("https:") ? "https" : "http"](req, signal);
  }
};

/** A FetchRequest for a JSON-RPC node over `rpcGetUrl`, for `new JsonRpcProvider(...)` (ethers' default timeout: 5 min). */
export function rpcFetchRequest(url: string, timeoutMs?: number): FetchRequest {
  const req = new FetchRequest(url);
  req.getUrlFunc = rpcGetUrl;
  if (timeoutMs !== undefined) req.timeout = timeoutMs;
  return req;
}

/**
 * Asks the node for its chain id and throws, saying what to do, when it is not the expected one, or when the node
 * refuses the request (HTTP 401, 404: ethers' own message would print the URL, API key included).
 */
export async function assertChainId(provider: JsonRpcProvider, expected: number, url?: string): Promise<void> {
  const where = url ? ` at ${redactUrl(url)}` : "";
  const raw: unknown = await provider.send("eth_chainId", []).catch((e: unknown) => {
    const status = refusedStatus(e);
    const code = (e as { code?: string; cause?: { code?: string } }).cause?.code ?? (e as { code?: string }).code;
    if (status === undefined && code && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH)$/.test(code))
      throw new Error(
        `No RPC node answers${where} (${code}): start the node, or point the worker at one that runs (--rpc-url or POSTHUMAN_WORKER_RPC_URL).`,
        { cause: e },
      );
    if (status === undefined) throw e;
    throw new Error(`The RPC node${where} answers HTTP ${status}: check the RPC URL (its path, its API key).`, {
      cause: e,
    });
  });
  const actual = typeof raw === "string" ? Number(BigInt(raw)) : Number(raw);
  if (actual !== expected) {
    throw new Error(
      `The RPC node${where} serves chain ${actual} but the address book is for chain ${expected}: ` +
        `point the worker at a node of chain ${expected}, or at the address book of chain ${actual}.`,
    );
  }
}

/**
 * Refuses an address book whose JobMarket or ModelRegistry is not PostHuman's on this chain (no code there, or a market
 * whose registry is another): a worker started on it would look healthy and never see a job.
 */
export async function assertDeployment(
  provider: JsonRpcProvider,
  market: { target: unknown; config(): Promise<{ registry: string }> },
  registry: string,
  bookFile: string,
): Promise<void> {
  for (const [name, address] of [
    ["JobMarket", String(market.target)],
    ["ModelRegistry", registry],
  ]) {
    if ((await provider.getCode(address)) === "0x")
      throw new Error(
        `No contract at ${name} ${address} (address book ${bookFile}) on this chain: the address book is stale or ` +
          "for another deployment; use the one its deployment wrote (a restarted local chain needs its new one).",
      );
  }
  // A revert or undecodable answer says "not a JobMarket"; a node that failed to answer is thrown as it is.
  const cfg = await market.config().catch((e: { code?: string }) => {
    if (e.code === "CALL_EXCEPTION" || e.code === "BAD_DATA") return undefined;
    throw e;
  });
  if (!cfg || cfg.registry.toLowerCase() !== registry.toLowerCase())
    throw new Error(
      `The JobMarket at ${String(market.target)} (address book ${bookFile}) ` +
        (cfg ? `uses the ModelRegistry ${cfg.registry}, not ${registry}` : "is not a PostHuman JobMarket") +
        ": the address book's contracts are not one deployment; use the address book its deployment wrote.",
    );
}

/**
 * A dev chain that mines a block only when a transaction comes (Hardhat's and Anvil's automine) puts no block on top
 * of the last one: with `confirmations` > 0 a worker would not act on a request until someone sent another
 * transaction. Returns what to tell the operator; undefined where it does not apply or the node does not say.
 */
export async function automineWarning(provider: JsonRpcProvider, confirmations: number): Promise<string | undefined> {
  if (confirmations <= 0) return undefined;
  for (const method of ["hardhat_getAutomine", "anvil_getAutomine"]) {
    if ((await provider.send(method, []).catch(() => undefined)) === true)
      return (
        `this chain mines a block only when a transaction comes (automine): with ${confirmations} confirmations ` +
        `the worker would act on a request only after ${confirmations} more transactions, so it ingests to the ` +
        "chain's head (confirmations 0) here"
      );
  }
  return undefined;
}

/** ethers codes for answers that would be the same next time. */
const FINAL_ETHERS = new Set([
  "INSUFFICIENT_FUNDS",
  "NONCE_EXPIRED",
  "REPLACEMENT_UNDERPRICED",
  "TRANSACTION_REPLACED",
  "INVALID_ARGUMENT",
  "MISSING_ARGUMENT",
  "UNEXPECTED_ARGUMENT",
  "VALUE_MISMATCH",
  "BAD_DATA",
  "NUMERIC_FAULT",
  "UNSUPPORTED_OPERATION",
  "NOT_IMPLEMENTED",
  "ACTION_REJECTED",
  "UNCONFIGURED_NAME",
  "OFFCHAIN_FAULT",
]);
/** JSON-RPC error codes for "try again later": limit exceeded, resource unavailable, HTTP 429 relayed. */
const TRANSIENT_RPC_CODES = new Set([-32005, -32002, 429]);
/** A node's words for "try again later" (the words for a node lost are node-lost.ts's). */
const TRANSIENT_MESSAGE =
  /rate.?limit|too many requests|timeout|timed out|temporarily|try again|unavailable|header not found|request limit/i;

function field(e: unknown, name: string): unknown {
  return e !== null && typeof e === "object" && name in e ? (e as Record<string, unknown>)[name] : undefined;
}

/**
 * The HTTP status of an ethers SERVER_ERROR that asking again will not change: a 4xx (bad API key 401/403, wrong path
 * 404, 400) but 408 (request timeout) and 429 (too many requests), as "401 Unauthorized"; else undefined (5xx, none).
 */
function refusedStatus(e: unknown): string | undefined {
  for (const cur of errorChain(e, 5)) {
    if (cur.code !== "SERVER_ERROR") continue;
    // ethers puts the answer in `response` (a FetchResponse) and its status, as words, in `info.responseStatus`.
    const code = field(cur.response, "statusCode");
    const words = field(cur.info, "responseStatus");
    const status = typeof code === "number" ? code : typeof words === "string" ? parseInt(words, 10) : NaN;
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return typeof words === "string" ? words : String(status);
    }
  }
  return undefined;
}

/**
 * True for failures worth retrying with backoff: the node lost (`nodeLostReason`, the list the SDK's follow of a job
 * waits on too), slow answers, rate limits, HTTP error answers (SERVER_ERROR) of a 5xx, 408, 429 or unknown status.
 * False for answers that would be the same the next time: reverts (CALL_EXCEPTION), insufficient funds, nonce and
 * replacement errors, bad arguments, an HTTP 4xx other than 408 and 429 (a bad API key, a wrong URL path). Looks
 * through what the error wraps (`errorChain`), outermost first.
 */
export function isTransientRpcError(e: unknown): boolean {
  // First: the words of an HTTP answer (its body, in ethers' message) may say anything.
  if (refusedStatus(e) !== undefined) return false;
  if (nodeLostReason(e) !== undefined) return true;
  for (const cur of errorChain(e, 5)) {
    if (isError(cur, "CALL_EXCEPTION")) return false;
    const code = cur.code;
    if (typeof code === "string") {
      if (code === "SERVER_ERROR") return true;
      if (FINAL_ETHERS.has(code)) return false;
    }
    if (typeof code === "number" && TRANSIENT_RPC_CODES.has(code)) return true;
    if (typeof cur.message === "string" && TRANSIENT_MESSAGE.test(cur.message)) return true;
  }
  return false;
}

/** A one-line description of an error for logs and status pages (ethers' shortMessage where there is one). */
export function describeError(e: unknown): string {
  const short = field(e, "shortMessage");
  const message = typeof short === "string" && short ? short : e instanceof Error ? e.message : String(e);
  const code = field(e, "code");
  return code !== undefined && !message.includes(String(code)) ? `${message} (${String(code)})` : message;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface BackoffOptions {
  /** First delay (default 250 ms). */
  minDelayMs?: number;
  /** Largest delay (default 30 s). */
  maxDelayMs?: number;
}

/** Exponential backoff with "equal jitter": between half and all of min·2^attempt, capped. attempt counts from 0. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const min = opts.minDelayMs ?? 250;
  const max = opts.maxDelayMs ?? 30_000;
  const cap = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}

export interface RetryOptions extends BackoffOptions {
  /** Retries after the first attempt (default 5; Infinity to retry until aborted). */
  retries?: number;
  /** Which errors to retry (default `isTransientRpcError`); others are thrown at once. */
  isRetryable?: (e: unknown) => boolean;
  /** Called before each wait. */
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/** Runs `fn`, retrying transient failures with exponential backoff; the last error is thrown. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const retries = opts.retries ?? 5;
  const retryable = opts.isRetryable ?? isTransientRpcError;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= retries || !retryable(e) || opts.signal?.aborted) throw e;
      const delay = backoffDelay(attempt, opts);
      opts.onRetry?.(e, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}
