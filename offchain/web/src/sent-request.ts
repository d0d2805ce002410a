/**
 * The hash of a job request's transaction as it leaves the page, read from the provider's debug events: a dev account
 * signs in the page and sends the raw transaction (its hash is the hash of those bytes); an injected wallet answers
 * `eth_sendTransaction` with the hash. When the chain stops answering before the request is mined, the page can then
 * name the transaction that may have paid, rather than invite a second payment.
 */
import { ethers } from "ethers";

interface Payload {
  method?: string;
  params?: unknown[];
}

/** Follows `provider`'s requests until `stop()`; `hash()` is the last transaction sent to `to`, if one was seen. */
export function watchRequest(
  provider: ethers.Provider | null,
  to: string,
): { hash(): string | undefined; stop(): void } {
  let hash: string | undefined;
  let asked = false; // an injected wallet was asked to send a transaction to `to`: its answer is the hash
  const listener = (info: { action?: string; payload?: Payload | Payload[]; result?: unknown }) => {
    const payloads = info.payload === undefined ? [] : Array.isArray(info.payload) ? info.payload : [info.payload];
    for (const p of payloads) {
      if (p.method === "eth_sendRawTransaction" && typeof p.params?.[0] === "string") {
        try {
          const tx = ethers.Transaction.from(p.params[0]);
          if (tx.to?.toLowerCase() === to.toLowerCase()) hash = tx.hash ?? undefined;
        } catch {
          /* not a transaction this page signed */
        }
      }
      const sent = p.params?.[0] as { to?: string } | undefined;
      if (p.method === "eth_sendTransaction" && sent?.to?.toLowerCase() === to.toLowerCase()) asked = true;
    }
    if (asked && info.action === "receiveEip1193Result" && ethers.isHexString(info.result, 32)) {
      hash = info.result as string;
      asked = false;
    }
  };
  void provider?.on("debug", listener);
  return {
    hash: () => hash,
    stop: () => void provider?.off("debug", listener),
  };
}
