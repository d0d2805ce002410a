/**
 * `npm run bench`: every benchmark of the project, each writing bench/results/<area>.json
 * (a JSON array of {name, value, unit, params}). Figures are printed as they come.
 */
import { benchOcean } from "./bench-ocean";
import { printFigures, writeFigures, type BenchFigure } from "./lib/bench";

const suites: [string, string, () => Promise<BenchFigure[]>][] = [["Ocean Protocol (gas)", "ocean.json", benchOcean]];

async function main(): Promise<void> {
  for (const [title, file, run] of suites) {
    const figures = await run();
    printFigures(title, figures);
    console.log(`  → ${writeFigures(file, figures)}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
