/** Parsers of the worker's configuration values: sizes, durations, URLs, lists and base-token amounts. */
import { z } from "zod";

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};
/** "512MiB", "2 GB", "1048576" or a number → bytes; undefined when unreadable. */
export function parseBytes(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  if (!m) return undefined;
  const unit = UNITS[(m[2] || "b").toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** "30s", "10m", "2h", "1500ms", "1500" or a number (milliseconds) → milliseconds; undefined when unreadable. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(v);
  if (!m) return undefined;
  const n = Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? "ms").toLowerCase()]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A URL that parses (a host, a port below 65536) with one of `protocols`. */
export const urlOf = (...protocols: string[]) =>
  z.string().refine((v) => {
    try {
      const u = new URL(v);
      return protocols.includes(u.protocol) && u.hostname !== "" && !/\s/.test(v);
    } catch {
      return false;
    }
  });

export const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    (v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );
export const bytes = (min: number) =>
  z.preprocess((v) => parseBytes(v) ?? (typeof v === "string" ? NaN : v), z.number().int().min(min));
export const duration = (min: number) =>
  z.preprocess((v) => parseDuration(v) ?? (typeof v === "string" ? NaN : v), z.number().int().min(min));
export const list = <T extends z.ZodTypeAny>(item: T) =>
  z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );

const WEI_UNITS: Record<string, bigint> = { wei: 1n, gwei: 10n ** 9n, ether: 10n ** 18n, ocean: 10n ** 18n };
/** "1000000000000000000", "0.5 ether", "2 OCEAN", "3 gwei" or a whole number → wei (base-token units). */
export function parseWei(v: unknown): bigint | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+)(?:\.(\d+))?\s*([a-z]*)\s*$/i.exec(v);
  if (!m) return undefined;
  const unit = WEI_UNITS[(m[3] || "wei").toLowerCase()];
  if (unit === undefined) return undefined;
  const frac = m[2] ?? "";
  const scale = 10n ** BigInt(frac.length);
  const n = BigInt(m[1]) * unit + (BigInt(frac || "0") * unit) / scale;
  if (frac && (BigInt(frac) * unit) % scale !== 0n) return undefined; // finer than a wei
  return n;
}
export const wei = () =>
  z.preprocess((v) => parseWei(v) ?? (typeof v === "string" || typeof v === "number" ? null : v), z.bigint());
