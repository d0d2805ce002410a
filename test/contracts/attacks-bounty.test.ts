/**
 * Issue 11, attack 4: a FinetuneBounty won with a fabricated model. A staked worker fakes a child of the bounty's base
 * (a 1-wei Train job for itself with an arbitrary root), enters it, claims the evaluation itself and reports a tiny
 * loss; an accomplice takes the only challenge slot; repeated entries drain the evaluation budget. Now: the child's
 * training must have settled, the evaluator must not be its trainer (nor its owner), the sponsor can always challenge,
 * and entrants pay their own evaluations.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { M1_BENCHMARK, M1_WEIGHTS_ROOT, posthumanFixture } from "../fixtures/posthuman";
import { JobStatus, ONE_DATATOKEN, toFixedLoss } from "../../offchain/protocol/params";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { deployFinetuneBounty } from "../../offchain/deploy/posthuman";
import { baseBalance, receiptFor, trainChild } from "./helpers";

const REWARD = ethers.parseEther("50");
const EVAL_FEE = ethers.parseEther("2");
const CALLBACK_FEE = ethers.parseEther("0.2");
const FAKE_ROOT = ethers.id("weights nobody has");

async function cheatFixture() {
  const f = await loadFixture(posthumanFixture);
  const bounty = await deployFinetuneBounty(f.elena, await f.ph.jobMarket.getAddress(), {
    baseModelId: f.m1.modelId,
    maxGenerations: 2,
    datasetHash: ethers.id("eval set"),
    datasetURI: "",
    benchmarkId: M1_BENCHMARK,
    contextLength: 64,
    maxTokens: 4_096,
    targetLoss: toFixedLoss(3),
    reward: REWARD,
    evalFee: EVAL_FEE,
    callbackGasLimit: 250_000,
    callbackFee: CALLBACK_FEE,
    evalLease: 3_600,
    expiresAt: (await time.latest()) + 30 * 86_400,
  });
  const bountyAddress = await bounty.getAddress();
  await (await f.ocean.oceanToken.connect(f.elena).transfer(bountyAddress, REWARD)).wait();
  // The cheat (the worker) requests a Train job on M1 for itself, claims it and reports a root nobody has.
  const { childId, jobId } = await trainChild(f, f.worker, f.m1.modelId, M1_WEIGHTS_ROOT, FAKE_ROOT, f.worker);
  return { ...f, bounty, bountyAddress, fake: childId, trainJob: jobId };
}

async function enterAs(f: Awaited<ReturnType<typeof cheatFixture>>, modelId: bigint) {
  const dt = datatokenAt((await f.ph.registry.getModel(modelId)).datatoken, f.worker);
  await (await dt.approve(f.bountyAddress, ONE_DATATOKEN)).wait();
  await (await f.ocean.oceanToken.connect(f.worker).approve(f.bountyAddress, EVAL_FEE + CALLBACK_FEE)).wait();
  await (await f.bounty.connect(f.worker).enter(modelId)).wait();
  return f.ph.jobMarket.jobCount();
}

describe("Attack: a bounty won with a fabricated model", () => {
  it("refuses the fake while its training can still be challenged", async () => {
    const f = await loadFixture(cheatFixture);
    await expect(enterAs(f, f.fake))
      .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyTrainingNotSettled")
      .withArgs(f.fake, f.trainJob);
  });

  it("keeps the cheat from evaluating its own fake: the bounty's evaluation is independent", async () => {
    const f = await loadFixture(cheatFixture);
    await time.increase(f.params.challengeWindow + 1);
    await (await f.ph.jobMarket.settleJob(f.trainJob)).wait();
    const before = await baseBalance(f, f.bountyAddress);
    const jobId = await enterAs(f, f.fake);
    expect(await baseBalance(f, f.bountyAddress), "the sponsor's budget paid nothing").to.equal(before);
    // The cheat trained the fake and owns it: the market refuses its claim (before, it claimed, lied and was paid).
    await expect(f.ph.jobMarket.connect(f.worker).claimJob(jobId))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotIndependent")
      .withArgs(jobId, f.worker.address);
    expect((await f.ph.jobMarket.getJob(jobId)).status).to.equal(JobStatus.Open);
    expect(await baseBalance(f, f.bountyAddress)).to.equal(REWARD);
  });

  it("lets the sponsor challenge the fake's evaluation by an accomplice even when the accomplice's friend holds the slot", async () => {
    const f = await loadFixture(cheatFixture);
    await time.increase(f.params.challengeWindow + 1);
    await (await f.ph.jobMarket.settleJob(f.trainJob)).wait();
    const jobId = await enterAs(f, f.fake);
    const m = f.ph.jobMarket;
    await (await m.connect(f.worker2).claimJob(jobId)).wait();
    const lie = receiptFor({ servedWeightsRoot: FAKE_ROOT, metrics: { evalLoss: 1n, evalTokens: 4_096n } });
    await (await m.connect(f.worker2).submitReceipt(jobId, lie)).wait();
    await (await f.ocean.oceanToken.connect(f.derek).approve(await m.getAddress(), f.params.challengeBond)).wait();
    await (await m.connect(f.derek).challengeReceipt(jobId)).wait();
    await (await f.ocean.oceanToken.connect(f.elena).approve(f.bountyAddress, f.params.challengeBond)).wait();
    await (await f.bounty.connect(f.elena).challenge(jobId)).wait();
    await expect(m.connect(f.arbiter).resolveChallenge(jobId, true)).not.to.emit(f.bounty, "BountyPaid");
    // The bounty (the requester) took the challenger's reward and the slashed collateral, not derek.
    expect(await baseBalance(f, f.bountyAddress)).to.be.greaterThan(REWARD);
  });
});
