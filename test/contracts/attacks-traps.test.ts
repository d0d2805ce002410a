/**
 * Issue 11, attack 2: the lineage-depth / frozen-parent trap. A requester builds cheap children up to maxDepth, then
 * requests a well-paid Train job on the last one: every receipt would revert and the requester would reclaim the
 * worker's collateral. What can never be submitted is now refused at the request; a worker asks `submitBlocker`
 * before claiming; a job that becomes impossible after the claim (its model frozen) is failed without penalty and
 * never slashes at reclaim.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { oceanFixture } from "../fixtures/ocean";
import { WORKER_STAKE, buildPostHuman } from "../fixtures/posthuman";
import { ONE_DATATOKEN } from "../../offchain/protocol/params";
import { datatokenAt } from "../../offchain/protocol/contracts";
import {
  FEE,
  PARAMS,
  INPUT_HASH,
  challengedTrainFixture,
  deadlineIn,
  ensureDatatoken,
  openJob,
  receiptFor,
  trainChild,
} from "./helpers";
import { jobRequest } from "../../offchain/protocol/structs";

const SubmitBlocker = { None: 0, NotLive: 1, DeadlinePassed: 2, ModelFrozen: 3, LineageTooDeep: 4 };

/** maxDepth 1: M2 (bob's child of M1) is as deep as a model may be. */
async function shallowFixture() {
  const f = await buildPostHuman(await oceanFixture(), { maxDepth: 1 });
  const m1Root = (await f.ph.registry.getModel(f.m1.modelId)).weightsRoot;
  const { childId } = await trainChild(f, f.bob, f.m1.modelId, m1Root, ethers.id("M2 weights"));
  return { ...f, m2Id: childId };
}

describe("Attack: lineage-depth and frozen-parent traps", () => {
  it("refuses a Train request on a model at maxDepth, naming the depth it would reach", async () => {
    const f = await loadFixture(shallowFixture);
    await ensureDatatoken(f, f.bob, f.m2Id);
    const req = jobRequest({
      modelId: f.m2Id,
      kind: "Train",
      inputHash: INPUT_HASH,
      fee: FEE,
      deadline: await deadlineIn(3_600),
      params: PARAMS.Train,
    });
    await expect(f.ph.jobMarket.connect(f.bob).requestJob(req))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketLineageTooDeep")
      .withArgs(f.m2Id, 2n, 1n);
    // Inference on the deepest model is fine.
    const infer = await openJob(f, { modelId: f.m2Id, kind: "Infer" });
    expect(await f.ph.jobMarket.submitBlocker(infer)).to.equal(SubmitBlocker.None);
    expect(await f.ph.jobMarket.isSubmittable(infer)).to.equal(true);
  });

  it("tells a worker before it claims that a job's model is frozen, and the claim reverts", async () => {
    const f = await loadFixture(challengedTrainFixture);
    const jobId = await openJob(f, { requester: f.charlie, kind: "Infer", modelId: f.m2Id });
    await (await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).wait();
    expect(await f.ph.jobMarket.submitBlocker(jobId)).to.equal(SubmitBlocker.ModelFrozen);
    expect(await f.ph.jobMarket.isSubmittable(jobId)).to.equal(false);
    await expect(f.ph.jobMarket.connect(f.worker2).claimJob(jobId))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketModelFrozen")
      .withArgs(f.m2Id);
  });

  it("reports DeadlinePassed and NotLive", async () => {
    const f = await loadFixture(challengedTrainFixture);
    const jobId = await openJob(f, { requester: f.charlie, kind: "Infer", lease: 100 });
    await time.increase(101);
    expect(await f.ph.jobMarket.submitBlocker(jobId)).to.equal(SubmitBlocker.DeadlinePassed);
    expect(await f.ph.jobMarket.submitBlocker(999n)).to.equal(SubmitBlocker.NotLive);
  });

  it("lets a claimant whose model was frozen after the claim fail the job at no cost; the requester gets everything back", async () => {
    const f = await loadFixture(challengedTrainFixture);
    const jobId = await openJob(f, { requester: f.charlie, kind: "Train", modelId: f.m2Id });
    await (await f.ph.jobMarket.connect(f.worker2).claimJob(jobId)).wait();
    await (await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).wait();
    expect(await f.ph.jobMarket.submitBlocker(jobId)).to.equal(SubmitBlocker.ModelFrozen);
    const m2Token = datatokenAt((await f.ph.registry.getModel(f.m2Id)).datatoken, f.charlie);
    const tx = f.ph.jobMarket.connect(f.worker2).failJob(jobId, 4);
    await expect(tx).not.to.emit(f.ph.jobMarket, "WorkerPenalized");
    await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.charlie, f.worker2], [FEE, 0n]);
    await expect(tx).to.changeTokenBalances(m2Token, [f.charlie], [ONE_DATATOKEN]);
    const stake = await f.ph.jobMarket.stakeOf(f.worker2.address);
    expect([stake.free, stake.locked, stake.activeClaims]).to.deep.equal([WORKER_STAKE, 0n, 0n]);
  });

  it("refuses an Infer or Evaluate receipt of a model frozen after the claim: the requester never pays for it", async () => {
    const f = await loadFixture(challengedTrainFixture);
    const jobs = [
      await openJob(f, { requester: f.charlie, kind: "Infer", modelId: f.m2Id }),
      await openJob(f, { requester: f.charlie, kind: "Evaluate", modelId: f.m2Id }),
    ];
    for (const jobId of jobs) await (await f.ph.jobMarket.connect(f.worker2).claimJob(jobId)).wait();
    await (await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).wait();
    for (const jobId of jobs) {
      // What submitBlocker says is what submitReceipt does: the served root is the frozen model's own, and refused.
      expect(await f.ph.jobMarket.submitBlocker(jobId)).to.equal(SubmitBlocker.ModelFrozen);
      await expect(f.ph.jobMarket.connect(f.worker2).submitReceipt(jobId, receiptFor({ servedWeightsRoot: f.m2Root })))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketModelFrozen")
        .withArgs(f.m2Id);
      const tx = f.ph.jobMarket.connect(f.worker2).failJob(jobId, 4);
      await expect(tx).not.to.emit(f.ph.jobMarket, "WorkerPenalized");
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.charlie], [FEE]);
    }
    expect((await f.ph.jobMarket.stakeOf(f.worker2.address)).free).to.equal(WORKER_STAKE);
  });

  it("settles a receipt whose model was frozen after it was submitted without charging the model: the datatoken goes back", async () => {
    const f = await loadFixture(challengedTrainFixture);
    const m = f.ph.jobMarket;
    const jobId = await openJob(f, { requester: f.charlie, kind: "Infer", modelId: f.m2Id });
    await (await m.connect(f.worker2).claimJob(jobId)).wait();
    await (await m.connect(f.worker2).submitReceipt(jobId, receiptFor({ servedWeightsRoot: f.m2Root }))).wait();
    await (await m.connect(f.arbiter).resolveChallenge(f.jobId, true)).wait(); // M2 proved fabricated
    await time.increase(f.params.challengeWindow + 1);
    const m2 = await f.ph.registry.getModel(f.m2Id);
    const datatoken = datatokenAt(m2.datatoken, f.charlie);
    const [held, inVault] = [await datatoken.balanceOf(f.charlie.address), await datatoken.balanceOf(m2.vault)];
    // The worker ran the model it was asked to run: it is paid. The frozen vault, which would burn the datatoken,
    // gets nothing: it goes back to the requester, and no Ocean order is started.
    const tx = m.settleJob(jobId);
    await expect(tx).to.emit(m, "JobSettled");
    await expect(tx).not.to.emit(datatokenAt(m2.datatoken, f.charlie), "OrderStarted");
    expect(await datatoken.balanceOf(f.charlie.address)).to.equal(held + ONE_DATATOKEN);
    expect(await datatoken.balanceOf(m2.vault)).to.equal(inVault);
    expect(await datatoken.balanceOf(await m.getAddress())).to.equal(0n);
  });

  it("does not slash at reclaim a claimant whose model was frozen after the claim", async () => {
    const f = await loadFixture(challengedTrainFixture);
    const jobId = await openJob(f, { requester: f.charlie, kind: "Infer", modelId: f.m2Id, lease: 600 });
    await (await f.ph.jobMarket.connect(f.worker2).claimJob(jobId)).wait();
    await (await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true)).wait();
    await time.increase(601);
    await expect(f.ph.jobMarket.reclaimJob(jobId))
      .to.emit(f.ph.jobMarket, "JobReclaimed")
      .withArgs(jobId, f.m2Id, f.charlie.address, f.worker2.address, FEE, 0n);
    expect((await f.ph.jobMarket.stakeOf(f.worker2.address)).free).to.equal(WORKER_STAKE);
  });
});
