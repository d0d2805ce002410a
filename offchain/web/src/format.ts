/** Formatting of amounts, hashes, losses and addresses, the same way on every page. */
import { ethers } from "ethers";
import { LOSS_SCALE } from "../../../scripts/lib/posthuman";

/** Whole tokens with at most `digits` decimals, trailing zeros dropped: 1.5, 10, 0.0312. */
export function tokens(wei: bigint, digits = 4): string {
  const s = ethers.formatEther(wei);
  const [i, f = ""] = s.split(".");
  const frac = f.slice(0, digits).replace(/0+$/, "");
  return frac ? `${i}.${frac}` : i;
}

/** A fixed-point loss (×1e6) as nats with 4 decimals. */
export function loss(fixed: bigint | number): string {
  return (Number(fixed) / Number(LOSS_SCALE)).toFixed(4);
}

export function perplexity(fixed: bigint | number): string {
  const p = Math.exp(Number(fixed) / Number(LOSS_SCALE));
  return p >= 1000 ? p.toExponential(2) : p.toFixed(1);
}

/** 0x1234…abcd */
export function short(hex: string, keep = 6): string {
  return hex.length > 2 * keep + 4 ? `${hex.slice(0, keep + 2)}…${hex.slice(-keep)}` : hex;
}

export function percent(part: bigint, whole: bigint): string {
  if (whole === 0n) return "0%";
  const bps = Number((part * 1_000_000n) / whole) / 10_000;
  return `${bps.toFixed(bps >= 10 ? 1 : 2).replace(/\.?0+$/, "")}%`;
}

/** Parses a whole-token amount typed by a person; a readable error otherwise. */
export function parseTokens(text: string, what: string): bigint {
  const t = text.trim();
  if (!/^\d+(\.\d{1,18})?$/.test(t)) throw new Error(`${what} "${text}" is not a number: write it like 1 or 2.5`);
  const v = ethers.parseEther(t);
  if (v <= 0n) throw new Error(`${what} must be more than 0`);
  return v;
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
