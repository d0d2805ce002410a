/**
 * offchain/sdk/settlement.ts against the real contracts on Hardhat's in-process network: whether a model's creating
 * training receipt can still freeze it (a buyer of its datatokens bears that risk), through each state of the job;
 * and a listing with nothing left refused before its cancellation is sent.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { AddressBook } from "../../offchain/protocol/address-book";
import {
  PostHuman,
  frozenAncestorIn,
  isSdkError,
  isUnsettled,
  modelSettlement,
  modelSettlements,
  settlementLabel,
  unsettledWarning,
} from "../../offchain/sdk";
import { datatokenAt } from "../../offchain/protocol/contracts";
import type { PostHumanFixture } from "../fixtures/posthuman";
import { challengedTrainFixture, trainChild, trainedFixture } from "../contracts/helpers";

const NO_WORKER = "http://127.0.0.1:9";

function clientFor(f: PostHumanFixture, signer: HardhatEthersSigner): Promise<PostHuman> {
  const book: AddressBook = { chainId: 31337, startBlock: 0, contracts: { ...f.ocean.addresses, ...f.ph.addresses } };
  return PostHuman.init({ runner: signer, book, workerUrl: NO_WORKER });
}

describe("SDK: a model's settlement (may its creating training receipt still freeze it?)", function () {
  this.timeout(120_000);

  it("a root model is never at risk; a fresh child is challengeable until its window closes, then stands", async () => {
    const f = await loadFixture(trainedFixture);
    const ph = await clientFor(f, f.charlie);
    expect(await modelSettlement(ph, f.m1.modelId)).to.deep.equal({ state: "root", modelId: f.m1.modelId });
    const job = await f.ph.jobMarket.getJob(f.jobId);
    const s = await modelSettlement(ph, f.m2Id);
    expect(s).to.deep.equal({
      state: "challengeable",
      modelId: f.m2Id,
      jobId: f.jobId,
      closesAt: job.submittedAt + BigInt(f.params.challengeWindow),
    });
    expect(isUnsettled(s)).to.equal(true);
    if (!isUnsettled(s)) return;
    const warning = unsettledWarning(s);
    expect(warning).to.match(
      new RegExp(
        `^Model ${f.m2Id} was created by job ${f.jobId}, whose training receipt can still be challenged until \\d{4}-`,
      ),
    );
    expect(warning).to.contain("it takes no jobs and its datatokens can no longer be sold on the market");
    expect(warning).to.contain("what you paid stays with the seller");

    // Past the window, nobody can challenge any more: the receipt stands though nobody settled the job yet.
    await time.increase(f.params.challengeWindow + 1);
    expect((await f.ph.jobMarket.getJob(f.jobId)).status).to.equal(3n); // still Submitted
    expect(await modelSettlement(ph, f.m2Id)).to.deep.equal({ state: "settled", modelId: f.m2Id, jobId: f.jobId });
    await (await f.ph.jobMarket.settleJob(f.jobId)).wait();
    const both = await modelSettlements(ph, [f.m2Id, f.m1.modelId, f.m2Id]);
    expect([...both.values()].map((x) => x.state)).to.deep.equal(["settled", "root"]);
  });

  it("a challenged child stays at risk until the arbiter decides, and is frozen when it upholds the challenge", async () => {
    const f = await loadFixture(challengedTrainFixture);
    const ph = await clientFor(f, f.charlie);
    const s = await modelSettlement(ph, f.m2Id);
    expect(s.state).to.equal("challenged");
    expect(isUnsettled(s) && unsettledWarning(s)).to.match(/is challenged and not resolved yet/);
    // Even past the arbitration window the arbiter may still decide until someone settles: still at risk.
    await time.increase(f.params.arbitrationWindow + 1);
    expect((await modelSettlement(ph, f.m2Id)).state).to.equal("challenged");

    await (await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).wait();
    expect(await modelSettlement(ph, f.m2Id)).to.deep.equal({ state: "frozen", modelId: f.m2Id, jobId: f.jobId });
  });

  it("a rejected challenge settles the job: the child is no longer at risk", async () => {
    const f = await loadFixture(challengedTrainFixture);
    await (await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, false)).wait();
    const ph = await clientFor(f, f.charlie);
    expect((await modelSettlement(ph, f.m2Id)).state).to.equal("settled");
  });

  it("throws UNKNOWN_MODEL for a model that does not exist", async () => {
    const f = await loadFixture(trainedFixture);
    const ph = await clientFor(f, f.charlie);
    await modelSettlement(ph, 99n).then(
      () => expect.fail("no model 99"),
      (e: unknown) => expect(isSdkError(e, "UNKNOWN_MODEL")).to.equal(true),
    );
  });
});

/**
 * Charlie trains M3 from bob's M2 while M2's receipt is challenged; the arbiter then upholds the challenge: M2 is
 * frozen, M3 stands (the contracts freeze only M2) but descends from a model whose training was proved wrong. Charlie
 * lists 2 of his M3 datatokens.
 */
async function frozenParentFixture() {
  const f = await loadFixture(challengedTrainFixture);
  const m3 = await trainChild(f, f.charlie, f.m2Id, f.m2Root, ethers.id("M3 weights"));
  await (await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).wait();
  const charlie = await clientFor(f, f.charlie);
  const { listingId } = await charlie.sellDatatokens(m3.childId, ethers.parseEther("2"), ethers.parseEther("1"));
  return { ...f, m3, listingId };
}

describe("SDK: a model descending from a frozen model", function () {
  this.timeout(120_000);

  it("names its nearest frozen ancestor in its settlement, its own receipt's state apart", async () => {
    const f = await loadFixture(frozenParentFixture);
    const ph = await clientFor(f, f.derek);
    const all = await modelSettlements(ph, [f.m1.modelId, f.m2Id, f.m3.childId]);
    const upheld = { modelId: f.m2Id, jobId: f.jobId };
    expect(all.get(f.m1.modelId)).to.deep.equal({ state: "root", modelId: f.m1.modelId });
    expect(all.get(f.m2Id)).to.deep.equal({ state: "frozen", modelId: f.m2Id, jobId: f.jobId });
    const s3 = all.get(f.m3.childId)!;
    expect(s3).to.include({ state: "challengeable", modelId: f.m3.childId, jobId: f.m3.jobId });
    expect(s3.frozenAncestor).to.deep.equal(upheld);
    expect(settlementLabel(s3)).to.match(new RegExp(`^challengeable until .*; descends from frozen model ${f.m2Id}$`));
    // Its own receipt's window closes: it stands, its lineage still includes the training proved wrong.
    await time.increase(f.params.challengeWindow + 1);
    const settled = await modelSettlement(ph, f.m3.childId);
    expect(settled).to.deep.equal({
      state: "settled",
      modelId: f.m3.childId,
      jobId: f.m3.jobId,
      frozenAncestor: upheld,
    });
    expect(settlementLabel(settled)).to.equal(`settled; descends from frozen model ${f.m2Id}`);
    expect(frozenAncestorIn(await ph.registry.list(), f.m3.childId)).to.deep.equal(upheld);
    expect(frozenAncestorIn(await ph.registry.list(), f.m2Id)).to.equal(undefined);
  });

  it("refuses a purchase from its listing before anything is paid, unless the buyer accepts it", async () => {
    const f = await loadFixture(frozenParentFixture);
    await time.increase(f.params.challengeWindow + 1); // M3's own receipt stands: only its lineage is at issue
    const derek = await clientFor(f, f.derek);
    const [before, nonce] = [
      await f.ocean.oceanToken.balanceOf(f.derek.address),
      await ethers.provider.getTransactionCount(f.derek.address),
    ];
    const e = await derek.buyFromListing(f.listingId, ethers.parseEther("1")).catch((x: unknown) => x);
    expect(isSdkError(e, "MODEL_UNSETTLED"), String(e)).to.equal(true);
    const says =
      `Model ${f.m3.childId} descends from frozen model ${f.m2Id}: the challenge of job ${f.jobId}, the training ` +
      `that created model ${f.m2Id}, was upheld (that training was proved wrong). Model ${f.m3.childId} itself is ` +
      "not frozen: it takes jobs and its datatokens can be sold, but it was trained from a model proved wrong.";
    expect((e as Error).message).to.equal(`${says} Nothing was paid.`);
    expect((e as { data?: Record<string, unknown> }).data).to.include({
      listingId: f.listingId,
      modelId: f.m3.childId,
      frozenAncestorId: f.m2Id,
      upheldJobId: f.jobId,
    });
    expect(await ethers.provider.getTransactionCount(f.derek.address)).to.equal(nonce); // not even an approval
    expect(await f.ocean.oceanToken.balanceOf(f.derek.address)).to.equal(before);

    const r = await derek.buyFromListing(f.listingId, ethers.parseEther("1"), { acceptUnsettled: true });
    expect(r.unsettled).to.equal(says);
    expect(r.modelId).to.equal(f.m3.childId);
  });

  it("while its own receipt is still challengeable, says both", async () => {
    const f = await loadFixture(frozenParentFixture);
    const e = await (
      await clientFor(f, f.derek)
    )
      .buyFromListing(f.listingId, ethers.parseEther("1"))
      .catch((x: unknown) => x);
    expect(isSdkError(e, "MODEL_UNSETTLED"), String(e)).to.equal(true);
    expect((e as Error).message)
      .to.match(new RegExp(`^Model ${f.m3.childId} descends from frozen model ${f.m2Id}: `))
      .and.contain(`Model ${f.m3.childId} was created by job ${f.m3.jobId}, whose training receipt can still be`)
      .and.match(/Nothing was paid\.$/);
    expect((e as { hint?: string }).hint).to.equal(
      `wait until job ${f.m3.jobId} settles and look at job ${f.jobId}'s upheld challenge and model ${f.m2Id}'s ` +
        "lineage, or buy accepting that",
    );
  });
});

describe("SDK: cancelling a listing with nothing left", function () {
  this.timeout(120_000);

  it("is refused before anything is sent, saying whether it was cancelled or sold out", async () => {
    const f = await loadFixture(trainedFixture);
    const alice = await clientFor(f, f.alice);
    const bob = await clientFor(f, f.bob);
    const price = ethers.parseEther("2");
    const { listingId: soldOut } = await alice.sellDatatokens(f.m1.modelId, ethers.parseEther("1"), price);
    await bob.buyFromListing(soldOut, ethers.parseEther("1"));
    const { listingId: cancelled } = await alice.sellDatatokens(f.m1.modelId, ethers.parseEther("1"), price);
    expect((await alice.listings.cancelListing(cancelled)).returned).to.equal(ethers.parseEther("1"));

    const nonce = await ethers.provider.getTransactionCount(f.alice.address);
    for (const [id, how] of [
      [cancelled, "cancelled"],
      [soldOut, "sold out"],
    ] as const) {
      await alice.listings.cancelListing(id).then(
        () => expect.fail(`listing ${id} was cancelled again`),
        (e: unknown) => {
          expect(isSdkError(e, "UNKNOWN_LISTING")).to.equal(true);
          expect((e as Error).message).to.equal(
            `Listing ${id} is already ${how}: it holds no datatokens to take back. Nothing was sent.`,
          );
        },
      );
    }
    expect(await ethers.provider.getTransactionCount(f.alice.address)).to.equal(nonce);
    expect(await datatokenAt(f.m1.datatoken, f.alice).balanceOf(await alice.listings.address)).to.equal(0n);
  });

  /** A decision the chain would refuse, refused before anything is sent. */
  async function resolveRefusal(
    f: Awaited<ReturnType<typeof trainedFixture>>,
    signer: HardhatEthersSigner,
    says: RegExp,
  ): Promise<void> {
    const nonce = await ethers.provider.getTransactionCount(signer.address);
    const e = await (await clientFor(f, signer)).resolveChallenge(f.jobId, true).catch((x: unknown) => x);
    expect(isSdkError(e, "RESOLVE_REFUSED"), String(e)).to.equal(true);
    expect((e as Error).message)
      .to.match(says)
      .and.match(/Nothing was sent\.$/);
    expect(await ethers.provider.getTransactionCount(signer.address)).to.equal(nonce);
  }

  it("refuses, before the bond's approval, a challenge (and a decision) the chain would refuse; one it takes goes through", async () => {
    const f = await loadFixture(trainedFixture);
    const market = await f.ph.jobMarket.getAddress();
    const refusal = async (signer: HardhatEthersSigner, says: RegExp) => {
      const nonce = await ethers.provider.getTransactionCount(signer.address);
      const e = await (await clientFor(f, signer)).challengeReceipt(f.jobId).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(isSdkError(e, "CHALLENGE_REFUSED"), String(e)).to.equal(true);
      expect((e as Error).message)
        .to.match(says)
        .and.match(/Nothing was sent and no bond was taken\.$/);
      expect(await ethers.provider.getTransactionCount(signer.address)).to.equal(nonce); // no approval, no revert
    };
    await refusal(f.worker, /receipt is your own worker's: its claimant cannot challenge it/);
    // Elena challenges within the window: the bond is approved and posted.
    const c = await (await clientFor(f, f.elena)).challengeReceipt(f.jobId);
    expect(c.bond).to.equal(f.params.challengeBond);
    expect((await f.ph.jobMarket.getJob(f.jobId)).status).to.equal(4n); // Challenged
    await refusal(f.elena, /You challenged job \d+ already/);
    await refusal(f.charlie, /challenged already: only the job's requester may join that challenge/);
    // The arbiter decides only once the requester may no longer join; nobody else decides; a join is taken once.
    await resolveRefusal(
      f,
      f.arbiter,
      /requester may join its challenge until \d{4}-.* the arbiter decides after that/,
    );
    await (await clientFor(f, f.bob)).challengeReceipt(f.jobId);
    await refusal(f.bob, /You joined the challenge of job \d+ already/);
    await resolveRefusal(f, f.alice, /Only the job market's arbiter \(0x[0-9a-fA-F]{40}\) decides challenges/);
    expect((await (await clientFor(f, f.arbiter)).resolveChallenge(f.jobId, true)).upheld).to.equal(true);
    await resolveRefusal(f, f.arbiter, /Job \d+ has ended \(Slashed\): there is no challenge to decide/);

    const h = await loadFixture(trainedFixture);
    await (await clientFor(h, h.elena)).challengeReceipt(h.jobId);
    await time.increase(h.params.challengeWindow + 1);
    await refusal(h.bob, /The time to join the challenge of job \d+ ended .* ago/);
    expect(await h.ocean.oceanToken.allowance(h.bob.address, market)).to.equal(0n);

    const g = await loadFixture(trainedFixture);
    await time.increase(g.params.challengeWindow + 1);
    const closed = await (await clientFor(g, g.elena)).challengeReceipt(g.jobId).catch((x: unknown) => x);
    expect((closed as Error).message).to.match(/The challenge window of job \d+ closed .* ago \(at \d{4}-/);
    await (await g.ph.jobMarket.settleJob(g.jobId)).wait();
    const settled = await (await clientFor(g, g.elena)).challengeReceipt(g.jobId).catch((x: unknown) => x);
    expect((settled as Error).message).to.match(/settled: its challenge window is closed and the worker was paid/);
  });
});
