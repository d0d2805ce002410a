/**
 * `posthuman demo` (`npm run demo`), spawned as a user would run it, with --json: the five-person story on its own
 * fresh chain, checked from the summary it prints. Short training runs keep it quick; the story is the same.
 */
import { expect } from "chai";
import type { DemoSummary } from "../../offchain/cli/demo";
import { devWallet } from "../../offchain/deploy/accounts";
import { cli, ok } from "./cli-process";

describe("posthuman demo (the five-person story on a fresh chain)", function () {
  this.timeout(1_500_000);
  let d: DemoSummary;

  before(async () => {
    // Few steps (the training runs are seeded: each child's loss falls the same way every run), each paid twice: the
    // worker's run and the re-run that verifies it.
    const args = ["demo", "--json", "--steps", "4", "--base-steps", "6"];
    d = ok(await cli<DemoSummary>(args, { timeoutMs: 1_400_000 }));
  });

  it("records the lineage M1 → M2 → M3, trained by Bob and Charlie", () => {
    const [m1, m2, m3] = d.models;
    expect([m1.parent, m2.parent, m3.parent]).to.deep.equal(["0", m1.id, m2.id]);
    expect([m1.generation, m2.generation, m3.generation]).to.deep.equal([0, 1, 2]);
    expect([m1.owner, m2.owner, m3.owner]).to.deep.equal([1, 2, 3].map((i) => devWallet(i).address));
    expect([m2.parentSide, m3.parentSide]).to.deep.equal([1, 2].map((i) => devWallet(i).address));
  });

  it("lowers each child's validation loss on its trainer's data below its parent's", () => {
    expect(d.finetunes).to.have.length(2);
    for (const f of d.finetunes) expect(f.valLossAfter, f.child).to.be.lessThan(f.valLossBefore);
  });

  it("verifies all six receipts by re-executing their jobs", () => {
    expect(d.receipts.map((r) => r.kind)).to.deep.equal([
      "train",
      "train",
      "infer",
      "evaluate",
      "evaluate",
      "evaluate",
    ]);
    for (const r of d.receipts) expect(r.verified, `job ${r.job}`).to.equal(true);
  });

  it("conserves the base token, and every contract holds what it owes", () => {
    expect(d.conservation.total).to.equal("0");
    for (const c of d.conservation.contracts) expect(c.balance, c.name).to.equal(c.owes);
  });

  it("pays M3's revenue up the lineage to Charlie, Bob and Alice", () => {
    expect(d.people.charlie.shares).to.have.keys(["M3"]);
    expect(d.people.bob.shares).to.have.keys(["M2", "M3"]);
    expect(d.people.alice.shares).to.have.keys(["M1", "M2"]);
    for (const who of ["charlie", "bob", "alice"]) expect(BigInt(d.people[who].claimedBase), who).to.be.greaterThan(0n);
  });

  it("evaluates M1 at the declared baseline, and M2 and M3 against it", () => {
    expect(d.evaluation.map((e) => e.model)).to.deep.equal(["M1", "M2", "M3"]);
    expect(d.evaluation[0].loss).to.be.closeTo(d.evaluation[0].baseline, 1e-6);
    expect(d.generations).to.have.length(3);
  });
});
