import fs from "node:fs";
import path from "node:path";

/** One figure of `npm run bench`; every file in bench/results/ is a JSON array of these. */
export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  params: Record<string, unknown>;
}

export const RESULTS_DIR = path.join(__dirname, "..", "..", "bench", "results");
/**
 * Committed figures of an earlier run (bench/baselines/<area>.json, same format), printed beside each new figure.
 * `UPDATE_BENCH_BASELINE=1 npm run bench` rewrites them from the run. Gas has its own enforced baseline
 * (bench/gas-baseline.json, scripts/check-gas.ts).
 */
export const BASELINES_DIR = path.join(__dirname, "..", "..", "bench", "baselines");

/** The params that say what a figure measured (not how the run went): with the name, its identity across runs. */
const IDENTITY = ["config", "workers", "stage", "depth", "holders", "kind", "model", "maxTokens", "engine"];

export function figureKey(f: BenchFigure): string {
  const id = IDENTITY.filter((k) => f.params[k] !== undefined).map((k) => [k, f.params[k]]);
  return `${f.name} ${JSON.stringify(id)}`;
}

export function readBaseline(file: string): Map<string, BenchFigure> {
  const p = path.join(BASELINES_DIR, file);
  if (!fs.existsSync(p)) return new Map();
  const figures = JSON.parse(fs.readFileSync(p, "utf8")) as BenchFigure[];
  return new Map(figures.map((f) => [figureKey(f), f]));
}

export function writeFigures(file: string, figures: BenchFigure[]): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const out = path.join(RESULTS_DIR, file);
  const text = JSON.stringify(figures, null, 2) + "\n";
  fs.writeFileSync(out, text);
  if (process.env.UPDATE_BENCH_BASELINE === "1") {
    fs.mkdirSync(BASELINES_DIR, { recursive: true });
    fs.writeFileSync(path.join(BASELINES_DIR, file), text);
  }
  return out;
}

/** The median of a list (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const show = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));

/**
 * Prints the figures; with `file`, each one beside its committed baseline (bench/baselines/<file>) and the ratio
 * new ÷ baseline. Ratios of machine-independent figures (gas, fractions of a peak measured in the same run) compare
 * across machines; absolute times compare only on the machine the baseline names (its params say which).
 */
export function printFigures(title: string, figures: BenchFigure[], file?: string): void {
  const baseline = file ? readBaseline(file) : new Map<string, BenchFigure>();
  console.log(`\n${title}${baseline.size ? `  (baseline: bench/baselines/${file})` : ""}`);
  for (const f of figures) {
    const params = Object.keys(f.params).length ? ` ${JSON.stringify(f.params)}` : "";
    const b = baseline.get(figureKey(f));
    const vs = b && b.value !== 0 ? `  [baseline ${show(b.value)}, ×${(f.value / b.value).toFixed(2)}]` : "";
    console.log(`  ${f.name}${params}: ${show(f.value)} ${f.unit}${vs}`);
  }
}
