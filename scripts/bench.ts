/**
 * `npm run bench`: every benchmark of the project, each writing bench/results/<area>.json
 * (a JSON array of {name, value, unit, params}). Figures are printed as they come, each beside its committed
 * baseline (bench/baselines/<area>.json) and the ratio to it; UPDATE_BENCH_BASELINE=1 rewrites the baselines.
 *   npm run bench                 all areas
 *   POSTHUMAN_BENCH="ml gas" npm run bench   only these areas (ocean, gas, ml, worker, cli, capacity)
 *   BENCH_ML_SKIP_SMALL=1 …      the ML area on the tiny config only (GPT-2 small takes minutes)
 */
import { benchOcean } from "../offchain/bench/ocean";
import { benchGas } from "../offchain/bench/gas";
import { benchMl } from "../offchain/bench/ml";
import { benchWorker } from "../offchain/bench/worker";
import { benchCli } from "../offchain/bench/cli";
import { benchCapacity } from "../offchain/bench/capacity";
import { printFigures, writeFigures, type BenchFigure } from "../offchain/bench/figures";

const suites: Record<string, [string, () => Promise<BenchFigure[]>]> = {
  ocean: ["Ocean Protocol (gas)", benchOcean],
  gas: ["PostHuman contracts (gas)", benchGas],
  ml: ["Model runtime", () => benchMl({ skipSmall: process.env.BENCH_ML_SKIP_SMALL === "1" })],
  worker: ["Worker (real node, tiny model)", benchWorker],
  cli: ["posthuman command (start-up + one chain read)", benchCli],
  capacity: ["Worker capacity (run slots, fixed-duration executor)", benchCapacity],
};

async function main(): Promise<void> {
  // `hardhat run` takes no script arguments: areas come from POSTHUMAN_BENCH (space or comma separated).
  const asked = (process.env.POSTHUMAN_BENCH ?? "").split(/[\s,]+/).filter(Boolean);
  const unknown = asked.filter((a) => !suites[a]);
  if (unknown.length)
    throw new Error(`Unknown bench area(s): ${unknown.join(", ")}. Known: ${Object.keys(suites).join(", ")}.`);
  for (const area of asked.length ? asked : Object.keys(suites)) {
    const [title, run] = suites[area];
    const started = Date.now();
    const figures = await run();
    printFigures(`${title} — ${((Date.now() - started) / 1000).toFixed(0)} s`, figures, `${area}.json`);
    console.log(`  → ${writeFigures(`${area}.json`, figures)}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
