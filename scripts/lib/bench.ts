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

export function writeFigures(file: string, figures: BenchFigure[]): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const out = path.join(RESULTS_DIR, file);
  fs.writeFileSync(out, JSON.stringify(figures, null, 2) + "\n");
  return out;
}

export function printFigures(title: string, figures: BenchFigure[]): void {
  console.log(`\n${title}`);
  for (const f of figures) {
    const params = Object.keys(f.params).length ? ` ${JSON.stringify(f.params)}` : "";
    console.log(`  ${f.name}${params}: ${Number.isInteger(f.value) ? f.value : f.value.toPrecision(4)} ${f.unit}`);
  }
}
