/**
 * Issue 11, attack 6: challenge capture. One challenge slot per job, and nothing stopped the worker or its accomplice
 * from taking it: honest challengers were locked out, and when upheld the cheater recovered half its collateral as the
 * "challenger". A lapsed frivolous challenge cost nothing. Now the claimant cannot challenge; the requester can join a
 * challenge someone else holds for a challenge window after it, and then takes half the reward; the arbiter decides such a
 * challenge only after that join period; rejected and lapsed challenges cost their bonds.
 */
import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { WORKER_STAKE } from "../fixtures/posthuman";
import { JobStatus } from "../../offchain/protocol/params";
import { FEE, challengedJobFixture, freshChallengeFixture, submittedJobFixture } from "./helpers";

async function approveBond(f: Awaited<ReturnType<typeof submittedJobFixture>>, who: { address: string }) {
  const signer = [f.bob, f.charlie, f.derek, f.elena, f.worker, f.worker2].find((s) => s.address === who.address);
  if (!signer) throw new Error("no signer");
  await (
    await f.ocean.oceanToken.connect(signer).approve(await f.ph.jobMarket.getAddress(), f.params.challengeBond)
  ).wait();
}

describe("Attack: challenge capture", () => {
  it("refuses a challenge by the claimant of its own receipt", async () => {
    const f = await loadFixture(submittedJobFixture);
    await approveBond(f, f.worker);
    await expect(f.ph.jobMarket.connect(f.worker).challengeReceipt(f.jobId))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketClaimantCannotChallenge")
      .withArgs(f.jobId);
  });

  it("lets the requester join a challenge an accomplice holds; upheld, the accomplice gets half the reward, the worker loses it all", async () => {
    // elena (the worker's accomplice, say) took the slot; bob the requester joins.
    const f = await loadFixture(freshChallengeFixture);
    await approveBond(f, f.bob);
    await expect(f.ph.jobMarket.connect(f.bob).challengeReceipt(f.jobId))
      .to.emit(f.ph.jobMarket, "JobChallenged")
      .withArgs(f.jobId, f.m1.modelId, f.bob.address, f.params.challengeBond);
    const bond = f.params.challengeBond;
    const half = (FEE * BigInt(f.params.challengerRewardBps)) / 10_000n / 2n;
    const tx = f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
    // Bob: fee + the collateral but half the reward + his bond; elena: her bond + half the reward; the worker loses its
    // collateral (the pair worker + elena: collateral − half the reward).
    await expect(tx).to.changeTokenBalances(
      f.ocean.oceanToken,
      [f.bob, f.elena, f.worker, f.ph.jobMarket],
      [FEE + FEE - half + bond, bond + half, 0n, -(FEE + FEE + 2n * bond)],
    );
    expect((await f.ph.jobMarket.stakeOf(f.worker.address)).free).to.equal(WORKER_STAKE - FEE);
    expect((await f.ph.jobMarket.getJob(f.jobId)).status).to.equal(JobStatus.Slashed);
  });

  it("makes a slash cost a worker whose accomplice requested the job: an honest challenger keeps half the reward", async () => {
    // The audit's self-deal: bob (the requester) is the worker's accomplice, elena challenges the bogus receipt, bob
    // joins to win the collateral back. Before, the whole reward went to bob: the pair lost nothing, elena gained nothing.
    const f = await loadFixture(freshChallengeFixture);
    const half = (FEE * BigInt(f.params.challengerRewardBps)) / 10_000n / 2n;
    const bond = f.params.challengeBond;
    const pair = async () => {
      const s = await f.ph.jobMarket.stakeOf(f.worker.address);
      return (await f.ocean.oceanToken.balanceOf(f.bob.address)) + s.free + s.locked;
    };
    const before = await pair(); // bob paid the fee; the worker's collateral (FEE) is locked
    await approveBond(f, f.bob);
    await (await f.ph.jobMarket.connect(f.bob).challengeReceipt(f.jobId)).wait();
    await expect(f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).to.changeTokenBalances(
      f.ocean.oceanToken,
      [f.bob, f.elena],
      [FEE + FEE - half + bond, bond + half],
    );
    expect(half).to.be.greaterThan(0n);
    // The pair gets back the fee it paid and is down half the reward, which the honest challenger has.
    expect((await pair()) - before).to.equal(FEE - half);
  });

  it("pays a third-party challenger bond + reward and the requester the rest of the collateral when it did not join", async () => {
    const f = await loadFixture(challengedJobFixture);
    const reward = (FEE * BigInt(f.params.challengerRewardBps)) / 10_000n;
    const bond = f.params.challengeBond;
    await expect(f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).to.changeTokenBalances(
      f.ocean.oceanToken,
      [f.bob, f.elena],
      [FEE + FEE - reward, bond + reward],
    );
  });

  it("refuses a second challenger other than the requester, and the requester twice", async () => {
    const f = await loadFixture(freshChallengeFixture);
    await approveBond(f, f.charlie);
    await expect(f.ph.jobMarket.connect(f.charlie).challengeReceipt(f.jobId))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketAlreadyChallenged")
      .withArgs(f.jobId, f.elena.address);
    await approveBond(f, f.bob);
    await (await f.ph.jobMarket.connect(f.bob).challengeReceipt(f.jobId)).wait();
    await approveBond(f, f.bob);
    await expect(f.ph.jobMarket.connect(f.bob).challengeReceipt(f.jobId)).to.be.revertedWithCustomError(
      f.ph.jobMarket,
      "JobMarketAlreadyChallenged",
    );
  });

  it("makes a rejected challenge cost every bond, paid to the worker", async () => {
    const f = await loadFixture(freshChallengeFixture);
    await approveBond(f, f.bob);
    await (await f.ph.jobMarket.connect(f.bob).challengeReceipt(f.jobId)).wait();
    const bond = f.params.challengeBond;
    const pf = (FEE * BigInt(f.params.protocolFeeBps)) / 10_000n;
    await expect(f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, false)).to.changeTokenBalances(
      f.ocean.oceanToken,
      [f.worker, f.bob, f.elena],
      [FEE - pf + 2n * bond, 0n, 0n],
    );
  });

  it("makes a lapsed challenge cost its bond, paid to the worker", async () => {
    const f = await loadFixture(challengedJobFixture);
    await time.increase(f.params.arbitrationWindow + 1);
    const pf = (FEE * BigInt(f.params.protocolFeeBps)) / 10_000n;
    await expect(f.ph.jobMarket.settleJob(f.jobId)).to.changeTokenBalances(
      f.ocean.oceanToken,
      [f.worker, f.elena],
      [FEE - pf + f.params.challengeBond, 0n],
    );
  });

  it("decides a third party's challenge only after the requester's join period, which the requester cannot outlast", async () => {
    // Before, the requester could join until the challenge lapsed: seeing the arbiter's upheld decision pending, it
    // joined ahead of it and took the reward from the honest third party that had challenged.
    const f = await loadFixture(freshChallengeFixture);
    const joinClosesAt = (await f.ph.jobMarket.getJob(f.jobId)).challengedAt + BigInt(f.params.challengeWindow);
    await expect(f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketChallengeWindowOpen")
      .withArgs(f.jobId, joinClosesAt);
    await time.increaseTo(joinClosesAt + 1n);
    await approveBond(f, f.bob);
    await expect(f.ph.jobMarket.connect(f.bob).challengeReceipt(f.jobId))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketChallengeWindowClosed")
      .withArgs(f.jobId, joinClosesAt);
    const reward = (FEE * BigInt(f.params.challengerRewardBps)) / 10_000n;
    await expect(f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).to.changeTokenBalances(
      f.ocean.oceanToken,
      [f.bob, f.elena],
      [FEE + FEE - reward, f.params.challengeBond + reward],
    );
  });
});
