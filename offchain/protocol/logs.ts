/**
 * Event logs over a long block range, as public nodes serve them: most refuse an `eth_getLogs` that spans more than
 * some thousands of blocks or would return more than some thousands of logs (each provider its own limit and its own
 * wording). The range is asked for whole first, which is all a local chain needs; a refusal halves it, and the rest
 * is read in pieces of that size, growing again after pieces that pass. The worker's ingestion does the same
 * (offchain/worker/ingest-steps.ts) and shares `isUnreachable`: a node that cannot be reached at all is not asked
 * again with a smaller range, nor is one that answers "too many requests" (`isRateLimited`).
 */

import { errorChain } from "./error-chain";
import { FETCH_FAILED, UNREACHABLE_CODES } from "./node-lost";

/**
 * The node could not be reached at all (as opposed to refusing, or timing out on, a large range): a socket error code
 * (Node), or a failed fetch (a browser's TypeError), on the error or on what it wraps. The part of node-lost.ts's
 * list where no connection opened: a connection that broke or timed out may have met a range too large.
 */
export function isUnreachable(e: unknown): boolean {
  return errorChain(e).some(
    (x) =>
      (typeof x.code === "string" && UNREACHABLE_CODES.has(x.code)) ||
      (x instanceof TypeError && FETCH_FAILED.test(x.message)),
  );
}

/** Words of a node, or of ethers relaying its HTTP answer, that say "slow down" rather than "too large". */
const RATE_LIMITED = /too many requests|rate.?limit/i;

/**
 * The node asks for fewer requests (HTTP 429, which ethers retries with backoff before it throws): more, smaller
 * ranges would make it worse, so the read stops with the node's error.
 */
export function isRateLimited(e: unknown): boolean {
  return errorChain(e).some((x) => {
    const response = x.response as { statusCode?: unknown } | undefined;
    return (
      x.code === 429 || response?.statusCode === 429 || (typeof x.message === "string" && RATE_LIMITED.test(x.message))
    );
  });
}

/**
 * Every log `read(from, to)` returns from `fromBlock` to `toBlock` (default: the head), in block order, reading in
 * pieces the node accepts. A piece of one block that is still refused, a node that cannot be reached, or one that
 * limits the rate of requests, rejects with the node's error.
 */
export async function logsInRanges<T>(
  provider: { getBlockNumber(): Promise<number> },
  fromBlock: number,
  read: (from: number, to: number) => Promise<T[]>,
  toBlock?: number,
): Promise<T[]> {
  const last = toBlock ?? (await provider.getBlockNumber());
  const out: T[] = [];
  let span = Math.max(1, last - fromBlock + 1);
  let passed = 0;
  for (let from = fromBlock; from <= last;) {
    const to = Math.min(last, from + span - 1);
    try {
      out.push(...(await read(from, to)));
    } catch (e) {
      if (to === from || isUnreachable(e) || isRateLimited(e)) throw e;
      span = Math.ceil((to - from + 1) / 2);
      passed = 0;
      continue;
    }
    from = to + 1;
    if (++passed >= 4) [span, passed] = [span * 2, 0];
  }
  return out;
}
