/**
 * Issue 11's adversarial simulation, bounded: honest requesters and workers and five kinds of attackers act at random
 * (see adversarial-world.ts for the actors and the invariants checked after every step). The large run is
 * `ADVERSARIAL_SEQUENCES=10000 npx hardhat run scripts/adversarial.ts`.
 */
import { expect } from "chai";
import fc from "fast-check";
import { buildWorld, runSequence, sequenceArb, type World } from "./adversarial-world";

describe("Adversarial simulation (fast-check)", function () {
  this.timeout(120_000);
  let world: World;

  before(async () => {
    world = await buildWorld();
  });

  it("keeps honest stakes, honest requesters' money, model revenue and the base-token total whole under attack", async () => {
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (actions) => {
        const { violations } = await runSequence(world, actions);
        expect(violations, JSON.stringify(actions)).to.deep.equal([]);
      }),
      { numRuns: 40, endOnFailure: true },
    );
  });
});
