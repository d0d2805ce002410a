/**
 * The input acknowledgements a requester got from claimants, kept in the browser (localStorage) per market and job:
 * a claimant that signed "input received" and then fails the job blaming the input can be slashed with it
 * (`disputeFailure`, pages/dispute.ts). The Node client keeps the same in its data dir (offchain/sdk/store.ts).
 */

/** The part of the Web Storage API used here (tests pass a Map-backed one). */
export type AckStorage = Pick<Storage, "getItem" | "setItem">;

const key = (market: string, jobId: bigint) => `posthuman.ack.${market.toLowerCase()}.${jobId}`;
/** Whether `s` has an acknowledgement's form: a 65-byte signature, 0x and 130 hex digits. */
export const isAck = (s: string) => /^0x[0-9a-fA-F]{130}$/.test(s);

/** Keeps `ack` (a 65-byte signature, hex) for the job; anything else is not stored. */
export function keepAck(storage: AckStorage, market: string, jobId: bigint, ack: string): void {
  if (isAck(ack)) storage.setItem(key(market, jobId), ack);
}

/** The job's kept acknowledgement, if any. */
export function ackOf(storage: AckStorage, market: string, jobId: bigint): string | undefined {
  const s = storage.getItem(key(market, jobId));
  return s !== null && isAck(s) ? s : undefined;
}

/** The browser's localStorage, or nothing where it cannot be used (private modes may refuse it). */
export function browserStorage(): AckStorage | undefined {
  try {
    return typeof localStorage === "undefined" ? undefined : localStorage;
  } catch {
    return undefined;
  }
}
