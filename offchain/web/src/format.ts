/** Formatting of amounts, hashes, losses and addresses, the same way on every page. */
import { ethers } from "ethers";
import { amountShort, LOSS_SCALE, MAX_FIXED_LOSS } from "../../protocol/params";

/** Whole tokens with at most `digits` decimals (protocol's amountShort: a small amount is never "0"). */
export const tokens = amountShort;

/** A datatoken amount in words: "1 datatoken", "2.5 datatokens". */
export function datatokens(wei: bigint): string {
  return `${tokens(wei)} datatoken${wei === ethers.parseEther("1") ? "" : "s"}`;
}

/** A fixed-point loss (×1e6) as nats with 4 decimals. */
export function loss(fixed: bigint | number): string {
  // The saturated figure of a loss that overflowed (toFixedLoss) is no number to read.
  if (BigInt(fixed) === MAX_FIXED_LOSS) return "∞ (overflowed)";
  return (Number(fixed) / Number(LOSS_SCALE)).toFixed(4);
}

export function perplexity(fixed: bigint | number): string {
  if (BigInt(fixed) === MAX_FIXED_LOSS) return "∞";
  const p = Math.exp(Number(fixed) / Number(LOSS_SCALE));
  return p >= 1000 ? p.toExponential(2) : p.toFixed(1);
}

/** 0x1234…abcd */
export function short(hex: string, keep = 6): string {
  return hex.length > 2 * keep + 4 ? `${hex.slice(0, keep + 2)}…${hex.slice(-keep)}` : hex;
}

/** "20%" for 2000 basis points. */
export function bpsPercent(bps: number): string {
  return percent(BigInt(bps), 10_000n);
}

export function percent(part: bigint, whole: bigint): string {
  if (whole === 0n) return "0%";
  const bps = Number((part * 1_000_000n) / whole) / 10_000;
  return `${bps.toFixed(bps >= 10 ? 1 : 2).replace(/\.?0+$/, "")}%`;
}

/** Parses a token amount typed by a person; a readable error otherwise (`example`: how to write one). */
export function parseTokens(text: string, what: string, example = "1 or 2.5"): bigint {
  const t = text.trim();
  if (/^-\s*\d*\.?\d+$/.test(t)) throw new Error(`${what} must be more than 0 (it is ${t}).`);
  if (/^\d+\.\d{19,}$/.test(t)) throw new Error(`${what} ${t} has more than 18 decimals, the most a token has.`);
  if (!/^\d+(\.\d{1,18})?$/.test(t)) throw new Error(`${what} "${text}" is not a number: write it like ${example}.`);
  const v = ethers.parseEther(t);
  if (v <= 0n) throw new Error(`${what} must be more than 0.`);
  return v;
}

/** A span of seconds for a person: "45 s", "4 min 10 s", "2 h 5 min", "3 d 4 h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (n1: number, u1: string, n2: number, u2: string) => (n2 ? `${n1} ${u1} ${n2} ${u2}` : `${n1} ${u1}`);
  if (s < 60) return `${s} s`;
  if (s < 3600) return two(Math.floor(s / 60), "min", s % 60, "s");
  if (s < 86_400) return two(Math.floor(s / 3600), "h", Math.floor((s % 3600) / 60), "min");
  return two(Math.floor(s / 86_400), "d", Math.floor((s % 86_400) / 3600), "h");
}

/** A chain timestamp (seconds) in the person's locale: the time of day, with the date when it is not today. */
export function clock(seconds: bigint | number): string {
  const d = new Date(Number(seconds) * 1000);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

export const KIND_LABEL = ["Finetune", "Inference", "Evaluation"] as const;
export const STATUS_LABEL = [
  "Unknown",
  "Open",
  "Claimed",
  "Receipt submitted",
  "Challenged",
  "Settled",
  "Cancelled",
  "Failed",
  "Reclaimed",
  "Slashed",
] as const;
