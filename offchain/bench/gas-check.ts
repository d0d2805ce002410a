/**
 * The gas gate's comparison (run by scripts/check-gas.ts in CI): figures against the committed baseline,
 * bench/gas-baseline.json, with a 5% tolerance, every figure required on both sides, and the constant-cost pairs
 * (a claim's gas must not depend on lineage depth or the number of holders).
 */
import fs from "node:fs";
import path from "node:path";
import type { BenchFigure } from "./figures";

export const GAS_BASELINE = path.join(__dirname, "..", "..", "bench", "gas-baseline.json");
export const GAS_TOLERANCE = 0.05;

/** Identity of a figure: its name and its params (keys sorted), e.g. `claim revenue {"depth":32}`. */
export function figureKey(f: Pick<BenchFigure, "name" | "params">): string {
  const params = Object.fromEntries(Object.entries(f.params).sort(([a], [b]) => a.localeCompare(b)));
  return Object.keys(params).length ? `${f.name} ${JSON.stringify(params)}` : f.name;
}

export interface GasComparison {
  /** Each one fails the check. */
  failures: string[];
  /** Worth knowing, never failing (e.g. a figure that dropped: update the baseline to lock the gain in). */
  notes: string[];
}

/** Pairs of figures that must cost the same within the tolerance: the accumulator's promise. */
export const CONSTANT_COST_PAIRS: [string, string][] = [
  [
    figureKey({ name: "claim revenue", params: { depth: 1 } }),
    figureKey({ name: "claim revenue", params: { depth: 32 } }),
  ],
  [
    figureKey({ name: "claim revenue", params: { holders: 2 } }),
    figureKey({ name: "claim revenue", params: { holders: 50 } }),
  ],
];

export function compareGas(current: BenchFigure[], baseline: BenchFigure[], tolerance = GAS_TOLERANCE): GasComparison {
  const failures: string[] = [];
  const notes: string[] = [];
  const base = new Map(baseline.map((f) => [figureKey(f), f.value]));
  const now = new Map(current.map((f) => [figureKey(f), f.value]));
  for (const [key, value] of now) {
    const before = base.get(key);
    if (before === undefined) {
      failures.push(`${key}: ${value} gas has no baseline (run with UPDATE_GAS_BASELINE=1 and commit the baseline)`);
      continue;
    }
    const change = (value - before) / before;
    const pct = `${change >= 0 ? "+" : ""}${(change * 100).toFixed(2)}%`;
    if (change > tolerance) failures.push(`${key}: ${before} → ${value} gas (${pct}, above +${tolerance * 100}%)`);
    else if (change < -tolerance)
      notes.push(`${key}: ${before} → ${value} gas (${pct}); update the baseline to keep the gain`);
  }
  for (const key of base.keys()) {
    if (!now.has(key)) failures.push(`${key}: in the baseline but no longer measured (update the baseline)`);
  }
  for (const [a, b] of CONSTANT_COST_PAIRS) {
    const x = now.get(a);
    const y = now.get(b);
    if (x === undefined || y === undefined) {
      failures.push(`constant-cost pair not measured: ${a} / ${b}`);
    } else if (Math.abs(y - x) / x > tolerance) {
      failures.push(`${b} costs ${y} gas but ${a} costs ${x}: claims must not depend on depth or holders`);
    }
  }
  return { failures, notes };
}

export function readBaseline(file = GAS_BASELINE): BenchFigure[] {
  if (!fs.existsSync(file)) return [];
  return JSON.parse(fs.readFileSync(file, "utf8")) as BenchFigure[];
}
