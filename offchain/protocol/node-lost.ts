/**
 * The words for "the chain's node is lost": it cannot be reached, the connection to it broke, or the proxy in front
 * of it answers that the node behind is gone. Asking again later may work; nothing was answered. One list, so that
 * the SDK (following a job through a node restarting) and the worker (retrying its RPC calls) agree on what it is.
 * Browser-safe.
 */
import { errorChain } from "./error-chain";

/** Socket errors of a connection that never opened: the node refused it, or no route or name led to it (Node's). */
export const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** Socket errors of a connection that broke or timed out (Node's and undici's; ethers passes them on). */
const BROKEN_CODES = new Set([
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** A browser's words for a fetch that reached no server (Chrome, Node's fetch, Firefox, Safari). */
export const FETCH_FAILED = /failed to fetch|fetch failed|NetworkError when attempting to fetch|^Load failed/i;

/**
 * The same in words, as an error's message or as a proxy's answer in place of the node's (`posthuman up`'s chain
 * answers "fetch failed", -32700; an HTTP proxy 502 or 504).
 */
const LOST_WORDS = new RegExp(
  `${FETCH_FAILED.source}|ECONNREFUSED|ECONNRESET|socket hang up|connection (?:reset|refused|closed)|bad gateway|gateway timeout`,
  "i",
);

/** By its code: a socket's error, or ethers giving up on the network. */
function lostCode(x: Record<string, unknown>): string | undefined {
  if (typeof x.code !== "string") return undefined;
  if (UNREACHABLE_CODES.has(x.code) || BROKEN_CODES.has(x.code)) return x.code;
  if (x.code === "NETWORK_ERROR" || x.code === "TIMEOUT") return `ethers ${x.code}`;
  return undefined;
}

/** By its words, or those of the answers ethers could not use (BAD_DATA "missing response": a proxy's in their place). */
function lostWords(x: Record<string, unknown>): string | undefined {
  const answers = x.code === "BAD_DATA" ? ([x.value].flat() as { error?: { message?: unknown } }[]) : [];
  for (const m of [x.message, ...answers.map((a) => a?.error?.message)]) {
    const words = typeof m === "string" ? LOST_WORDS.exec(m) : null;
    if (words) return words[0];
  }
  return undefined;
}

/**
 * Why `e` says the node is lost, in a few words ("ECONNREFUSED", "ethers TIMEOUT", "fetch failed"), or undefined when
 * it says something else (an answer: a revert, bad data). Looks through what the error wraps (`errorChain`), down to
 * a revert, which is the node's answer whatever its words; a code says more than words, so codes are looked for first.
 */
export function nodeLostReason(e: unknown): string | undefined {
  const chain = errorChain(e, 5);
  const revert = chain.findIndex((x) => x.code === "CALL_EXCEPTION");
  const links = revert < 0 ? chain : chain.slice(0, revert);
  for (const x of links) {
    const code = lostCode(x);
    if (code) return code;
  }
  for (const x of links) {
    const words = lostWords(x);
    if (words) return words;
  }
  return undefined;
}
