/**
 * CI's gas gate: recomputes the protocol's gas figures (offchain/bench/gas.ts) and compares them with the committed
 * baseline, bench/gas-baseline.json.
 *   npx hardhat run scripts/check-gas.ts                          → exits 1 when a figure grew by more than 5%
 *   UPDATE_GAS_BASELINE=1 npx hardhat run scripts/check-gas.ts    → rewrites the baseline (commit it with the change)
 * It also fails when a figure has no baseline or a baseline figure is no longer measured (the baseline must follow
 * the bench in the same change), and when a claim's gas depends on lineage depth or on the number of holders
 * (depth 32 vs 1, 50 holders vs 2: more than 5% apart).
 */
import fs from "node:fs";
import path from "node:path";
import { GAS_BASELINE, GAS_TOLERANCE, compareGas, figureKey, readBaseline } from "../offchain/bench/gas-check";

async function main(): Promise<void> {
  // Imported here: the bench needs the Hardhat runtime that `hardhat run` provides.
  const { benchGas } = await import("../offchain/bench/gas");
  const current = await benchGas();
  if (process.env.UPDATE_GAS_BASELINE === "1") {
    fs.writeFileSync(GAS_BASELINE, JSON.stringify(current, null, 2) + "\n");
    console.log(`Gas baseline rewritten: ${GAS_BASELINE} (${current.length} figures). Commit it with your change.`);
    return;
  }
  const { failures, notes } = compareGas(current, readBaseline());
  for (const f of current) console.log(`  ${figureKey(f)}: ${f.value} gas`);
  for (const n of notes) console.log(`note: ${n}`);
  if (failures.length) {
    for (const f of failures) console.error(`FAIL: ${f}`);
    console.error(
      `Gas check failed (${failures.length}). If the increase is intended, rerun with UPDATE_GAS_BASELINE=1 and commit bench/gas-baseline.json.`,
    );
    process.exitCode = 1;
  } else {
    console.log(
      `Gas check passed: ${current.length} figures within ${GAS_TOLERANCE * 100}% of ${path.relative(process.cwd(), GAS_BASELINE)}.`,
    );
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
