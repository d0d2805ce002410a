import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { oceanFixture } from "../fixtures/ocean";
import { M1_WEIGHTS_ROOT, WORKER_STAKE, posthumanFixture } from "../fixtures/posthuman";
import { JobStatus, ONE_DATATOKEN } from "../../offchain/protocol/params";
import { datatokenAt, vaultAt } from "../../offchain/protocol/contracts";
import { deployPostHuman, publishModel, requestJob } from "../../offchain/deploy/posthuman";
import { ReentrantToken__factory } from "../../typechain-types";
import {
  FEE,
  INFER_PARAMS,
  INPUT_HASH,
  LEASE,
  claimedJobFixture,
  deadlineIn,
  openJob,
  openJobFixture,
  receiptFor,
  submittedJobFixture,
  trainReceiptFor,
} from "./helpers";

const ROOT = ethers.id("free model weights");

/**
 * A PostHuman deployment whose base token is a malicious ERC20 that calls back into a contract in the middle of a
 * transfer. Alice's model is free through the dispenser; workers are staked; bob's inference job is submitted and its
 * window is over; the vault holds revenue; alice lists datatokens.
 */
async function maliciousBaseTokenFixture() {
  const base = await loadFixture(oceanFixture);
  const token = await new ReentrantToken__factory(base.deployer).deploy();
  const rich = ethers.parseEther("1000000");
  for (const s of [base.alice, base.bob, base.charlie, base.worker]) await token.mint(s.address, rich);
  const ph = await deployPostHuman(base.deployer, base.ocean.addresses, {
    treasury: base.treasury.address,
    arbiter: base.others[4].address,
    baseToken: await token.getAddress(),
  });
  const market = await ph.jobMarket.getAddress();
  await token.connect(base.worker).approve(market, WORKER_STAKE);
  await ph.jobMarket.connect(base.worker).stake(WORKER_STAKE);
  const model = await publishModel(ph.registry, base.alice, {
    name: "Free",
    symbol: "FREE",
    weightsRoot: ROOT,
    pricing: { kind: "Dispenser", maxTokens: ethers.parseEther("10"), maxBalance: ethers.parseEther("10") },
    initialSupply: ethers.parseEther("10"),
  });
  const request = async () => {
    await base.ocean.dispenser.connect(base.bob).dispense(model.datatoken, ONE_DATATOKEN, base.bob.address);
    return requestJob(ph, base.bob, {
      modelId: model.modelId,
      kind: "Infer",
      inputHash: INPUT_HASH,
      fee: FEE,
      deadline: await deadlineIn(LEASE),
      params: INFER_PARAMS,
    });
  };
  const settledReady = await request();
  await ph.jobMarket.connect(base.worker).claimJob(settledReady);
  await ph.jobMarket.connect(base.worker).submitReceipt(settledReady, receiptFor({ servedWeightsRoot: ROOT }));
  const claimedLate = await request();
  await ph.jobMarket.connect(base.worker).claimJob(claimedLate);
  await time.increase(LEASE + 1);

  const vault = vaultAt(model.vault, base.alice);
  await token.connect(base.charlie).approve(model.vault, ethers.parseEther("100"));
  await vault.connect(base.charlie).pay(ethers.parseEther("100"));
  await vault.distribute();

  const dm = ph.datatokenMarket;
  await datatokenAt(model.datatoken, base.alice).approve(await dm.getAddress(), ethers.parseEther("5"));
  await dm.connect(base.alice).createListing(model.modelId, ethers.parseEther("5"), ethers.parseEther("1"));
  await token.connect(base.charlie).approve(await dm.getAddress(), ethers.MaxUint256);

  await ph.jobMarket.connect(base.worker).requestUnstake(ethers.parseEther("10"));
  await time.increase(7 * 86_400);
  return { ...base, token, ph, model, vault, settledReady, claimedLate };
}

describe("Attacks", () => {
  describe("reentrancy through a malicious base token (fees, stakes, revenue and listing payments)", () => {
    it("settleJob: re-entering settle from the worker's payout reverts, nothing is paid twice", async () => {
      const { token, ph, worker, settledReady } = await loadFixture(maliciousBaseTokenFixture);
      const m = ph.jobMarket;
      await token.arm(
        await m.getAddress(),
        await m.getAddress(),
        m.interface.encodeFunctionData("settleJob", [settledReady]),
      );
      await expect(m.settleJob(settledReady)).to.be.revertedWithCustomError(m, "ReentrancyGuardReentrantCall");
      expect((await m.getJob(settledReady)).status).to.equal(JobStatus.Submitted);
      await token.arm(ethers.ZeroAddress, ethers.ZeroAddress, "0x");
      await expect(m.settleJob(settledReady)).to.changeTokenBalance(token, worker, FEE - FEE / 40n);
    });

    it("reclaimJob: re-entering reclaim from the requester's refund reverts", async () => {
      const { token, ph, claimedLate } = await loadFixture(maliciousBaseTokenFixture);
      const m = ph.jobMarket;
      await token.arm(
        await m.getAddress(),
        await m.getAddress(),
        m.interface.encodeFunctionData("reclaimJob", [claimedLate]),
      );
      await expect(m.reclaimJob(claimedLate)).to.be.revertedWithCustomError(m, "ReentrancyGuardReentrantCall");
      expect((await m.getJob(claimedLate)).status).to.equal(JobStatus.Claimed);
    });

    it("a payout cannot re-enter another job's transition either (one guard per contract)", async () => {
      const { token, ph, settledReady, claimedLate } = await loadFixture(maliciousBaseTokenFixture);
      const m = ph.jobMarket;
      await token.arm(
        await m.getAddress(),
        await m.getAddress(),
        m.interface.encodeFunctionData("reclaimJob", [claimedLate]),
      );
      await expect(m.settleJob(settledReady)).to.be.revertedWithCustomError(m, "ReentrancyGuardReentrantCall");
    });

    it("withdrawStake: re-entering the withdrawal reverts", async () => {
      const { token, ph, worker } = await loadFixture(maliciousBaseTokenFixture);
      const m = ph.jobMarket;
      await token.arm(await m.getAddress(), await m.getAddress(), m.interface.encodeFunctionData("withdrawStake"));
      await expect(m.connect(worker).withdrawStake()).to.be.revertedWithCustomError(m, "ReentrancyGuardReentrantCall");
      expect((await m.stakeOf(worker.address)).unstaking).to.equal(ethers.parseEther("10"));
    });

    it("RoyaltyVault.claim: re-entering claim or distribute from the payout reverts", async () => {
      const { token, vault, alice } = await loadFixture(maliciousBaseTokenFixture);
      const v = await vault.getAddress();
      for (const payload of [
        vault.interface.encodeFunctionData("claim", [alice.address]),
        vault.interface.encodeFunctionData("distribute"),
      ]) {
        await token.arm(v, v, payload);
        await expect(vault.claim(alice.address)).to.be.revertedWithCustomError(vault, "ReentrancyGuardReentrantCall");
      }
      await token.arm(ethers.ZeroAddress, ethers.ZeroAddress, "0x");
      await expect(vault.claim(alice.address)).to.changeTokenBalance(token, alice, ethers.parseEther("100"));
    });

    it("DatatokenMarket.buy: re-entering buy from the payment to the seller reverts", async () => {
      const { token, ph, charlie } = await loadFixture(maliciousBaseTokenFixture);
      const dm = ph.datatokenMarket;
      const payload = dm.interface.encodeFunctionData("buy", [1n, ONE_DATATOKEN, ethers.MaxUint256]);
      await token.arm(charlie.address, await dm.getAddress(), payload);
      await expect(dm.connect(charlie).buy(1n, ONE_DATATOKEN, ethers.MaxUint256)).to.be.revertedWithCustomError(
        dm,
        "ReentrancyGuardReentrantCall",
      );
      expect((await dm.getListing(1n)).remaining).to.equal(ethers.parseEther("5"));
    });
  });

  describe("a worker that did not claim the job", () => {
    it("cannot submit a receipt for it, and the claimant's lease is untouched", async () => {
      const f = await loadFixture(claimedJobFixture);
      await expect(f.ph.jobMarket.connect(f.worker2).submitReceipt(f.jobId, receiptFor()))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotClaimant")
        .withArgs(f.jobId, f.worker2.address);
      await expect(f.ph.jobMarket.connect(f.worker2).failJob(f.jobId, 1))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotClaimant")
        .withArgs(f.jobId, f.worker2.address);
      const job = await f.ph.jobMarket.getJob(f.jobId);
      expect([job.status, job.worker]).to.deep.equal([BigInt(JobStatus.Claimed), f.worker.address]);
    });
  });

  describe("double claim", () => {
    it("a second claimant, or the same one again, is refused; only one collateral is locked", async () => {
      const f = await loadFixture(openJobFixture);
      await f.ph.jobMarket.connect(f.worker).claimJob(f.jobId);
      for (const w of [f.worker, f.worker2]) {
        await expect(f.ph.jobMarket.connect(w).claimJob(f.jobId))
          .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
          .withArgs(f.jobId, JobStatus.Claimed);
      }
      expect((await f.ph.jobMarket.stakeOf(f.worker.address)).locked).to.equal(FEE);
      expect((await f.ph.jobMarket.stakeOf(f.worker2.address)).locked).to.equal(0n);
    });
  });

  describe("double settle", () => {
    it("pays the worker once; the second settle reverts", async () => {
      const f = await loadFixture(submittedJobFixture);
      await time.increase(f.params.challengeWindow + 1);
      const before = await f.ocean.oceanToken.balanceOf(f.worker.address);
      await f.ph.jobMarket.settleJob(f.jobId);
      await expect(f.ph.jobMarket.settleJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Settled);
      expect((await f.ocean.oceanToken.balanceOf(f.worker.address)) - before).to.equal(FEE - FEE / 40n);
    });
  });

  describe("submit after the deadline", () => {
    it("is refused; the job can then only be reclaimed, refunding the requester and slashing the worker", async () => {
      const f = await loadFixture(claimedJobFixture);
      const { deadline } = await f.ph.jobMarket.getJob(f.jobId);
      await time.increaseTo(deadline + 1n);
      await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor()))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketLeaseExpired")
        .withArgs(f.jobId, deadline);
      await expect(f.ph.jobMarket.reclaimJob(f.jobId)).to.changeTokenBalance(f.ocean.oceanToken, f.bob, FEE + FEE);
    });
  });

  describe("a receipt served by other weights", () => {
    it("is refused for any kind, including a training receipt that would create a child", async () => {
      const f = await loadFixture(posthumanFixture);
      const jobId = await openJob(f, { kind: "Train" });
      await f.ph.jobMarket.connect(f.worker).claimJob(jobId);
      const forged = ethers.id("cheaper model");
      await expect(
        f.ph.jobMarket.connect(f.worker).submitReceipt(jobId, receiptFor(trainReceiptFor(forged, ethers.id("child")))),
      )
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketWrongWeightsRoot")
        .withArgs(jobId, M1_WEIGHTS_ROOT, forged);
      expect(await f.ph.registry.modelCount()).to.equal(1n);
    });
  });

  describe("a challenge after the window", () => {
    it("is refused and the job settles normally", async () => {
      const f = await loadFixture(submittedJobFixture);
      const { submittedAt } = await f.ph.jobMarket.getJob(f.jobId);
      await time.increase(f.params.challengeWindow + 1);
      await f.ocean.oceanToken.connect(f.elena).approve(await f.ph.jobMarket.getAddress(), f.params.challengeBond);
      await expect(f.ph.jobMarket.connect(f.elena).challengeReceipt(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketChallengeWindowClosed")
        .withArgs(f.jobId, submittedAt + BigInt(f.params.challengeWindow));
      await expect(f.ph.jobMarket.settleJob(f.jobId)).to.emit(f.ph.jobMarket, "JobSettled");
    });
  });

  describe("a derived model registered outside a job", () => {
    it("cannot be created through the registry, nor by an inference receipt carrying child fields", async () => {
      const f = await loadFixture(claimedJobFixture);
      await expect(
        f.ph.registry.connect(f.bob).createDerivedModel({
          parentId: f.m1.modelId,
          jobId: f.jobId,
          trainer: f.bob.address,
          committer: f.bob.address,
          weightsRoot: ethers.id("self-declared child"),
          configHash: ethers.ZeroHash,
          dataHash: ethers.ZeroHash,
          metadataURI: "",
          metric: 0n,
        }),
      )
        .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryNotJobMarket")
        .withArgs(f.bob.address);
      await f.ph.jobMarket
        .connect(f.worker)
        .submitReceipt(f.jobId, receiptFor(trainReceiptFor(M1_WEIGHTS_ROOT, ethers.id("x"))));
      expect(await f.ph.registry.modelCount()).to.equal(1n);
      expect((await f.ph.jobMarket.getJob(f.jobId)).childModelId).to.equal(0n);
    });
  });

  describe("stake that is leaving", () => {
    it("cannot back a claim", async () => {
      const f = await loadFixture(openJobFixture);
      await f.ph.jobMarket.connect(f.worker).requestUnstake(WORKER_STAKE);
      await expect(f.ph.jobMarket.connect(f.worker).claimJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketStakeBelowMinimum")
        .withArgs(f.worker.address, 0n, f.params.minWorkerStake);
    });
  });
});
