/**
 * Issue 11's large adversarial run: ADVERSARIAL_SEQUENCES random sequences (default 10,000) of honest and attacking
 * actors on the real contracts over real Ocean (test/contracts/adversarial-world.ts), each checked after every step.
 *   ADVERSARIAL_SEQUENCES=10000 npx hardhat run scripts/adversarial.ts
 * Prints the count, the violations and the time, and writes bench/results/adversarial.json (`adversarial sequences`,
 * `adversarial violations`). ADVERSARIAL_SEED fixes the sequences (default 1). Exits 1 on any violation.
 */
import fc from "fast-check";
import { buildWorld, runSequence, sequenceArb } from "../test/contracts/adversarial-world";
import { writeFigures, type BenchFigure } from "../offchain/bench/figures";

async function main(): Promise<void> {
  const count = Number(process.env.ADVERSARIAL_SEQUENCES ?? "10000");
  const seed = Number(process.env.ADVERSARIAL_SEED ?? "1");
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`ADVERSARIAL_SEQUENCES must be a positive integer, got "${process.env.ADVERSARIAL_SEQUENCES}"`);
  }
  const started = Date.now();
  const world = await buildWorld();
  const setup = (Date.now() - started) / 1000;
  const sequences = fc.sample(sequenceArb, { numRuns: count, seed });
  let violations = 0;
  let actions = 0;
  const runStart = Date.now();
  for (let i = 0; i < sequences.length; i++) {
    const found = (await runSequence(world, sequences[i])).violations;
    actions += sequences[i].length;
    if (found.length) {
      violations += found.length;
      console.error(`sequence ${i}: ${JSON.stringify(sequences[i])}\n  ${found.join("\n  ")}`);
    }
    if ((i + 1) % 250 === 0) {
      const s = (Date.now() - runStart) / 1000;
      console.log(`  ${i + 1}/${count} sequences, ${violations} violations, ${s.toFixed(0)} s`);
    }
  }
  const seconds = (Date.now() - runStart) / 1000;
  console.log(
    `adversarial sequences: ${count} (${actions} actions), violations: ${violations}, ` +
      `time: ${seconds.toFixed(1)} s (+ ${setup.toFixed(1)} s setup), seed ${seed}`,
  );
  const params = { seed, actions, seconds: Math.round(seconds) };
  const figures: BenchFigure[] = [
    { name: "adversarial sequences", value: count, unit: "sequences", params },
    { name: "adversarial violations", value: violations, unit: "violations", params },
  ];
  console.log(`  → ${writeFigures("adversarial.json", figures)}`);
  if (violations) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
