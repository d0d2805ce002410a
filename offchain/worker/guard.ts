/**
 * What keeps the API from being abused by an authenticated caller: a replay guard (each signer's nonce is accepted
 * once, remembered until its signature expires, in SQLite so a restart does not forget it) and per-address quotas
 * (requests and bytes per window, in memory: a restart resets them, which only ever lets a caller in early).
 */
import type { WorkerDb } from "./db";

export interface QuotaPolicy {
  /** Length of a quota window in milliseconds. */
  windowMs: number;
  /** Signed requests an address may make per window. */
  maxRequests: number;
  /** Bytes an address may upload per window (inputs, model folders, inspections). */
  maxBytes: number;
}

export const DEFAULT_QUOTA: QuotaPolicy = { windowMs: 60_000, maxRequests: 60, maxBytes: 4 * 1024 ** 3 };

export type QuotaVerdict = { ok: true } | { ok: false; retryAfterSec: number; what: "requests" | "bytes" };

export interface Quotas {
  /** Counts one request of `bytes` for `address`; refuses (and counts nothing) when it would pass the quota. */
  charge(address: string, bytes: number): QuotaVerdict;
}

export function createQuotas(policy: QuotaPolicy, now: () => number = Date.now): Quotas {
  const windows = new Map<string, { start: number; requests: number; bytes: number }>();
  return {
    charge(address, bytes) {
      const t = now();
      const key = address.toLowerCase();
      let w = windows.get(key);
      if (!w || t - w.start >= policy.windowMs) {
        w = { start: t, requests: 0, bytes: 0 };
        windows.set(key, w);
        if (windows.size > 10_000) {
          for (const [k, v] of windows) if (t - v.start >= policy.windowMs) windows.delete(k);
        }
      }
      const retryAfterSec = Math.max(1, Math.ceil((w.start + policy.windowMs - t) / 1000));
      if (w.requests + 1 > policy.maxRequests) return { ok: false, retryAfterSec, what: "requests" };
      if (w.bytes + bytes > policy.maxBytes) return { ok: false, retryAfterSec, what: "bytes" };
      w.requests++;
      w.bytes += bytes;
      return { ok: true };
    },
  };
}

export interface NonceBook {
  /** True the first time (signer, nonce) is used; false for a replay. Remembered until `expiry` (unix seconds). */
  use(signer: string, nonce: string, expiry: number): boolean;
}

export const NONCE_MIGRATIONS = [
  `CREATE TABLE api_nonces (
     signer TEXT NOT NULL, nonce TEXT NOT NULL, expiry INTEGER NOT NULL, PRIMARY KEY (signer, nonce)
   ) STRICT;
   CREATE INDEX api_nonces_expiry ON api_nonces(expiry);`,
];

export function createNonceBook(db: WorkerDb, now: () => number = Date.now): NonceBook {
  db.migrate("api-nonces", NONCE_MIGRATIONS);
  const insert = db.prepare("INSERT OR IGNORE INTO api_nonces (signer, nonce, expiry) VALUES (?, ?, ?)");
  const prune = db.prepare("DELETE FROM api_nonces WHERE expiry < ?");
  let pruned = 0;
  return {
    use(signer, nonce, expiry) {
      const t = Math.floor(now() / 1000);
      if (t - pruned > 60) {
        prune.run(t);
        pruned = t;
      }
      return insert.run(signer.toLowerCase(), nonce.toLowerCase(), expiry).changes === 1;
    },
  };
}

/** A nonce book in memory (tests, tools); the worker uses the SQLite one. */
export function memoryNonceBook(): NonceBook {
  const seen = new Set<string>();
  return {
    use(signer, nonce) {
      const k = `${signer.toLowerCase()}:${nonce.toLowerCase()}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    },
  };
}
