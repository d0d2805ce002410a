import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { posthumanFixture, M1_BENCHMARK, M1_WEIGHTS_ROOT, type PostHumanFixture } from "../fixtures/posthuman";
import { CallbackStage, callbackFailed, type FinetuneBountyTerms } from "../../offchain/protocol/structs";
import { JobKind, JobStatus, ONE_DATATOKEN, decodeJobParams, toFixedLoss } from "../../offchain/protocol/params";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { deployFinetuneBounty, publishModel } from "../../offchain/deploy/posthuman";
import type { FinetuneBounty } from "../../typechain-types";
import { AUTH_TYPES, authDomain } from "../../offchain/protocol/auth";
import { baseBalance, receiptFor, trainChild } from "./helpers";

const DATASET = ethers.sha256(ethers.toUtf8Bytes("the named evaluation set"));
const TARGET = toFixedLoss(3);
const REWARD = ethers.parseEther("50");
const EVAL_FEE = ethers.parseEther("2");
const CALLBACK_FEE = ethers.parseEther("0.2");
const A_ROOT = ethers.id("finetune A");
const B_ROOT = ethers.id("finetune B");
const anyHash = (v: unknown) => typeof v === "string" && /^0x[0-9a-f]{64}$/i.test(v);

async function terms(o: Partial<FinetuneBountyTerms> = {}): Promise<FinetuneBountyTerms> {
  return {
    baseModelId: 1n,
    maxGenerations: 4,
    datasetHash: DATASET,
    datasetURI: "ipfs://eval-set",
    benchmarkId: M1_BENCHMARK,
    contextLength: 64,
    maxTokens: 4_096,
    targetLoss: TARGET,
    reward: REWARD,
    evalFee: EVAL_FEE,
    callbackGasLimit: 250_000,
    callbackFee: CALLBACK_FEE,
    evalLease: 3_600,
    expiresAt: (await time.latest()) + 30 * 86_400,
    ...o,
  };
}

interface BountyFixture extends PostHumanFixture {
  bounty: FinetuneBounty;
  bountyAddress: string;
  /** Bob's finetune of M1 and Charlie's. */
  a: bigint;
  b: bigint;
  sponsor: HardhatEthersSigner;
}

async function deployBounty(f: PostHumanFixture, o: Partial<FinetuneBountyTerms> = {}) {
  const bounty = await deployFinetuneBounty(f.elena, await f.ph.jobMarket.getAddress(), await terms(o));
  const bountyAddress = await bounty.getAddress();
  await (
    await f.ocean.oceanToken.connect(f.elena).transfer(bountyAddress, REWARD + 4n * (EVAL_FEE + CALLBACK_FEE))
  ).wait();
  return { bounty, bountyAddress };
}

/**
 * M1 with two finetunes, A (bob's) and B (charlie's), trained by `worker` and settled, and a funded bounty sponsored by
 * elena. Evaluations are done by `worker2` (a worker may not grade its own training).
 */
async function bountyFixture(): Promise<BountyFixture> {
  const f = await loadFixture(posthumanFixture);
  const { childId: a, jobId: trainA } = await trainChild(f, f.bob, f.m1.modelId, M1_WEIGHTS_ROOT, A_ROOT);
  const { childId: b, jobId: trainB } = await trainChild(f, f.charlie, f.m1.modelId, M1_WEIGHTS_ROOT, B_ROOT);
  await time.increase(f.params.challengeWindow + 1);
  for (const job of [trainA, trainB]) await (await f.ph.jobMarket.settleJob(job)).wait();
  return { ...f, ...(await deployBounty(f)), a, b, sponsor: f.elena };
}

/** The owner of `modelId`'s datatokens enters it. */
async function enter(f: BountyFixture, modelId: bigint, entrant?: HardhatEthersSigner): Promise<bigint> {
  const who = entrant ?? (modelId === f.a ? f.bob : f.charlie);
  const m = await f.ph.registry.getModel(modelId);
  await (await datatokenAt(m.datatoken, who).approve(f.bountyAddress, ONE_DATATOKEN)).wait();
  const cost = (await f.bounty.terms()).evalFee + (await f.bounty.terms()).callbackFee;
  await (await f.ocean.oceanToken.connect(who).approve(f.bountyAddress, cost)).wait();
  const tx = await f.bounty.connect(who).enter(modelId);
  const log = (await tx.wait())!.logs
    .map((l) => {
      try {
        return f.bounty.interface.parseLog(l);
      } catch {
        return null;
      }
    })
    .find((p) => p?.name === "EntryRequested");
  return log!.args.jobId as bigint;
}

/** `evaluator` (worker2, who trained neither finetune) claims and evaluates `jobId` on `root`'s model with `loss`. */
async function evaluate(f: BountyFixture, jobId: bigint, root: string, loss: bigint, evaluator = f.worker2) {
  await (await f.ph.jobMarket.connect(evaluator).claimJob(jobId)).wait();
  const receipt = receiptFor({ servedWeightsRoot: root, metrics: { evalLoss: loss, evalTokens: 4_096n } });
  await (await f.ph.jobMarket.connect(evaluator).submitReceipt(jobId, receipt)).wait();
  return receipt;
}

async function settle(f: BountyFixture, jobId: bigint) {
  return f.ph.jobMarket.connect(f.worker2).settleJob(jobId);
}

describe("FinetuneBounty (example consumer)", () => {
  describe("enter", () => {
    it("requests an evaluation of the finetune on the named dataset, with a callback, paid by the entrant", async () => {
      const f = await loadFixture(bountyFixture);
      const m = f.ph.jobMarket;
      const before = await baseBalance(f, f.bountyAddress);
      const entrantBefore = await baseBalance(f, f.bob);
      const jobId = await enter(f, f.a);
      const job = await m.getJob(jobId);
      expect([job.requester, job.kind, job.modelId, job.inputHash, job.fee]).to.deep.equal([
        f.bountyAddress,
        BigInt(JobKind.Evaluate),
        f.a,
        DATASET,
        EVAL_FEE,
      ]);
      const cb = await m.callbackOf(jobId);
      expect([cb.gasLimit, cb.fee]).to.deep.equal([250_000n, CALLBACK_FEE]);
      expect(await baseBalance(f, f.bountyAddress)).to.equal(before);
      expect(await baseBalance(f, f.bob)).to.equal(entrantBefore - EVAL_FEE - CALLBACK_FEE);
      const requested = await m.queryFilter(m.filters.JobRequested(jobId));
      const params = decodeJobParams(JobKind.Evaluate, requested[0].args.params);
      expect(params).to.deep.equal({
        kind: "Evaluate",
        params: { benchmarkId: M1_BENCHMARK, contextLength: 64, maxTokens: 4_096, independent: true },
      });
      expect((await f.bounty.entryOf(jobId)).state).to.equal(1n);
    });

    it("reverts for the base model itself and for a model of another lineage", async () => {
      const f = await loadFixture(bountyFixture);
      await expect(f.bounty.enter(f.m1.modelId))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyNotDescendant")
        .withArgs(f.m1.modelId, f.m1.modelId, 4);
      const other = await publishModel(f.ph.registry, f.derek, {
        name: "Other",
        symbol: "OTH",
        weightsRoot: ethers.id("other"),
        pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
        initialSupply: ethers.parseEther("5"),
      });
      await expect(f.bounty.enter(other.modelId))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyNotDescendant")
        .withArgs(other.modelId, f.m1.modelId, 4);
    });

    it("reverts for a descendant deeper than maxGenerations", async () => {
      const f = await loadFixture(bountyFixture);
      const { bounty } = await deployBounty(f, { maxGenerations: 1 });
      const { childId: grandchild, jobId } = await trainChild(f, f.bob, f.a, A_ROOT, ethers.id("A2"));
      await time.increase(f.params.challengeWindow + 1);
      await (await f.ph.jobMarket.settleJob(jobId)).wait();
      await expect(bounty.connect(f.bob).enter(grandchild))
        .to.be.revertedWithCustomError(bounty, "FinetuneBountyNotDescendant")
        .withArgs(grandchild, f.m1.modelId, 1);
    });

    it("reverts for a model already being evaluated, and when the bounty no longer holds the reward", async () => {
      const f = await loadFixture(bountyFixture);
      await enter(f, f.a);
      await expect(enter(f, f.a)).to.be.revertedWithCustomError(f.bounty, "FinetuneBountyAlreadyEntered").withArgs(f.a);
      const poor = await deployFinetuneBounty(f.elena, await f.ph.jobMarket.getAddress(), await terms());
      await (await f.ocean.oceanToken.connect(f.elena).transfer(await poor.getAddress(), REWARD - 1n)).wait();
      await expect(poor.connect(f.charlie).enter(f.b))
        .to.be.revertedWithCustomError(poor, "FinetuneBountyUnderfunded")
        .withArgs(REWARD - 1n, REWARD);
    });

    it("cannot be drained by entries: each entrant pays its own evaluation", async () => {
      const f = await loadFixture(bountyFixture);
      const before = await baseBalance(f, f.bountyAddress);
      for (const model of [f.a, f.b]) await enter(f, model);
      expect(await baseBalance(f, f.bountyAddress)).to.equal(before);
    });

    it("reverts for a finetune whose training job has not settled (its receipt could still be proved wrong)", async () => {
      const f = await loadFixture(bountyFixture);
      const { childId, jobId } = await trainChild(f, f.bob, f.m1.modelId, M1_WEIGHTS_ROOT, ethers.id("A fresh"));
      await expect(enter(f, childId, f.bob))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyTrainingNotSettled")
        .withArgs(childId, jobId);
    });

    it("reverts for a finetune of a parent whose training was proved wrong, though its own training settled", async () => {
      const f = await loadFixture(bountyFixture);
      const m = f.ph.jobMarket;
      // C: a child of A whose receipt is fabricated; G: an honest finetune of C by another worker, requested at once.
      const { childId: c, jobId: cJob } = await trainChild(f, f.bob, f.a, A_ROOT, ethers.id("C fabricated"));
      const gRoot = ethers.id("G honest");
      const { childId: g, jobId: gJob } = await trainChild(f, f.bob, c, ethers.id("C fabricated"), gRoot, f.worker2);
      // C's receipt is challenged; G's own training settles, but G may not enter while C could still be proved wrong.
      await (await f.ocean.oceanToken.connect(f.elena).approve(await m.getAddress(), f.params.challengeBond)).wait();
      await (await m.connect(f.elena).challengeReceipt(cJob)).wait();
      await time.increase(f.params.challengeWindow + 1);
      await (await m.settleJob(gJob)).wait();
      await expect(enter(f, g, f.bob))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyTrainingNotSettled")
        .withArgs(c, cJob);
      // Proved wrong: C is frozen, G is not (its own receipt was honest), and G never competes.
      await (await m.connect(f.arbiter).resolveChallenge(cJob, true)).wait();
      expect([await f.ph.registry.isFrozen(c), await f.ph.registry.isFrozen(g)]).to.deep.equal([true, false]);
      await expect(enter(f, g, f.bob))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyTrainingNotSettled")
        .withArgs(c, cJob);
    });

    it("reverts for a caller that does not own the model: it could spend the owner's one verdict", async () => {
      const f = await loadFixture(bountyFixture);
      // Alice, M1's owner, received A's datatokens at its derivation: holding them does not make her A's owner.
      await expect(enter(f, f.a, f.alice))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyNotOwner")
        .withArgs(f.a, f.bob.address, f.alice.address);
    });

    it("reverts after the bounty expired", async () => {
      const f = await loadFixture(bountyFixture);
      const { expiresAt } = await f.bounty.terms();
      await time.increaseTo(expiresAt + 1n);
      await expect(enter(f, f.a)).to.be.revertedWithCustomError(f.bounty, "FinetuneBountyExpired").withArgs(expiresAt);
    });
  });

  describe("hooks", () => {
    it("records the loss on the receipt but pays nothing while the receipt can still be challenged", async () => {
      const f = await loadFixture(bountyFixture);
      const jobId = await enter(f, f.a);
      await f.ph.jobMarket.connect(f.worker2).claimJob(jobId);
      const receipt = receiptFor({
        servedWeightsRoot: A_ROOT,
        metrics: { evalLoss: toFixedLoss(2.5), evalTokens: 4_096n },
      });
      await expect(f.ph.jobMarket.connect(f.worker2).submitReceipt(jobId, receipt))
        .to.emit(f.bounty, "EntryEvaluated")
        .withArgs(jobId, f.a, toFixedLoss(2.5))
        .and.not.to.emit(f.bounty, "BountyPaid");
      const entry = await f.bounty.entryOf(jobId);
      expect([entry.loss, entry.receiptHash]).to.deep.equal([
        toFixedLoss(2.5),
        (await f.ph.jobMarket.getJob(jobId)).receiptHash,
      ]);
    });

    it("refuses calls that do not come from the job market", async () => {
      const f = await loadFixture(bountyFixture);
      const bounty = f.bounty.connect(f.deployer);
      await expect(bounty.onJobOutcome(1n, JobStatus.Settled, ethers.ZeroHash))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyNotJobMarket")
        .withArgs(f.deployer.address);
      await expect(bounty.onJobReceipt(1n, JobKind.Evaluate, f.a, receiptFor(), 0n))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyNotJobMarket")
        .withArgs(f.deployer.address);
    });
  });

  describe("payment", () => {
    it("pays the finetune that beats the target when its evaluation settles, not the one that does not", async () => {
      const f = await loadFixture(bountyFixture);
      const jobA = await enter(f, f.a);
      const jobB = await enter(f, f.b);
      await evaluate(f, jobB, B_ROOT, toFixedLoss(3.2));
      await evaluate(f, jobA, A_ROOT, toFixedLoss(2.8));
      await time.increase(f.params.challengeWindow + 1);
      const bobBefore = await baseBalance(f, f.bob);
      const charlieBefore = await baseBalance(f, f.charlie);
      await expect(settle(f, jobB)).to.emit(f.bounty, "EntryEnded").withArgs(jobB, f.b, JobStatus.Settled, false);
      await expect(settle(f, jobA))
        .to.emit(f.bounty, "BountyPaid")
        .withArgs(f.a, f.bob.address, jobA, toFixedLoss(2.8), REWARD);
      expect(await baseBalance(f, f.bob)).to.equal(bobBefore + REWARD);
      expect(await baseBalance(f, f.charlie)).to.equal(charlieBefore);
      expect(await f.bounty.status()).to.deep.equal([f.a, 0n]);
    });

    it("pays only once: a second finetune that also beats the target later gets nothing, and entries close", async () => {
      const f = await loadFixture(bountyFixture);
      const jobA = await enter(f, f.a);
      const jobB = await enter(f, f.b);
      await evaluate(f, jobA, A_ROOT, toFixedLoss(2.9));
      await evaluate(f, jobB, B_ROOT, toFixedLoss(2.1));
      await time.increase(f.params.challengeWindow + 1);
      await expect(settle(f, jobA)).to.emit(f.bounty, "BountyPaid");
      const before = await baseBalance(f, f.bountyAddress);
      await expect(settle(f, jobB))
        .to.emit(f.bounty, "EntryEnded")
        .withArgs(jobB, f.b, JobStatus.Settled, false)
        .and.not.to.emit(f.bounty, "BountyPaid");
      expect(await baseBalance(f, f.bountyAddress)).to.equal(before);
      const { childId: c } = await trainChild(f, f.bob, f.a, A_ROOT, ethers.id("A2"));
      await expect(enter(f, c, f.bob))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyWon")
        .withArgs(f.a);
    });

    it("pays nothing for a receipt proved wrong; the finetune may then enter again", async () => {
      const f = await loadFixture(bountyFixture);
      const m = f.ph.jobMarket;
      const jobA = await enter(f, f.a);
      await evaluate(f, jobA, A_ROOT, toFixedLoss(1));
      await (await f.ocean.oceanToken.connect(f.derek).approve(await m.getAddress(), f.params.challengeBond)).wait();
      await (await m.connect(f.derek).challengeReceipt(jobA)).wait();
      await time.increase(f.params.challengeWindow + 1); // derek is a third party: the requester's join period first
      await expect(m.connect(f.arbiter).resolveChallenge(jobA, true))
        .to.emit(f.bounty, "EntryEnded")
        .withArgs(jobA, f.a, JobStatus.Slashed, false);
      expect(await f.bounty.status()).to.deep.equal([0n, 0n]);
      await enter(f, f.a);
    });

    it("asks for an independent evaluation: neither the worker that trained the model nor its owner may claim it", async () => {
      const f = await loadFixture(bountyFixture);
      const jobA = await enter(f, f.a);
      // `worker` trained A and bob owns it: grading it themselves would prove nothing.
      for (const maker of [f.worker, f.bob])
        await expect(f.ph.jobMarket.connect(maker).claimJob(jobA))
          .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotIndependent")
          .withArgs(jobA, maker.address);
      await evaluate(f, jobA, A_ROOT, toFixedLoss(1));
      expect((await f.ph.jobMarket.getJob(jobA)).worker).to.equal(f.worker2.address);
    });

    it("gives the entrant its datatoken, fee and receipt share back when the evaluation fails", async () => {
      const f = await loadFixture(bountyFixture);
      const jobA = await enter(f, f.a);
      await (await f.ph.jobMarket.connect(f.worker2).claimJob(jobA)).wait();
      const dt = datatokenAt((await f.ph.registry.getModel(f.a)).datatoken, f.bob);
      const tx = f.ph.jobMarket.connect(f.worker2).failJob(jobA, 25);
      await expect(tx).to.emit(f.bounty, "EntryEnded").withArgs(jobA, f.a, JobStatus.Failed, false);
      await expect(tx).to.changeTokenBalances(dt, [f.bob], [ONE_DATATOKEN]);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.bob], [EVAL_FEE + CALLBACK_FEE / 2n]);
    });

    it("lets the sponsor challenge an evaluation even when someone else holds the challenge", async () => {
      const f = await loadFixture(bountyFixture);
      const m = f.ph.jobMarket;
      const jobA = await enter(f, f.a);
      await evaluate(f, jobA, A_ROOT, toFixedLoss(1));
      // An accomplice of the evaluator takes the challenge slot.
      await (await f.ocean.oceanToken.connect(f.derek).approve(await m.getAddress(), f.params.challengeBond)).wait();
      await (await m.connect(f.derek).challengeReceipt(jobA)).wait();
      await expect(f.bounty.connect(f.bob).challenge(jobA))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyNotSponsor")
        .withArgs(f.bob.address);
      await (await f.ocean.oceanToken.connect(f.sponsor).approve(f.bountyAddress, f.params.challengeBond)).wait();
      await expect(f.bounty.connect(f.sponsor).challenge(jobA))
        .to.emit(m, "JobChallenged")
        .withArgs(jobA, f.a, f.bountyAddress, f.params.challengeBond);
      await expect(m.connect(f.arbiter).resolveChallenge(jobA, true))
        .to.emit(f.bounty, "EntryEnded")
        .withArgs(jobA, f.a, JobStatus.Slashed, false);
    });
  });

  describe("pull paths (hooks that missed their call)", () => {
    it("recordReceipt and syncOutcome finish an entry whose hooks ran out of gas", async () => {
      const f = await loadFixture(bountyFixture);
      // 5,000 gas cannot pay the receipt hook's storage writes: that delivery fails. The outcome hook then finds no
      // recorded receipt and leaves the entry open.
      const { bounty, bountyAddress } = await deployBounty(f, { callbackGasLimit: 5_000 });
      const g = { ...f, bounty, bountyAddress };
      const jobA = await enter(g, f.a);
      const receipt = await evaluate(g, jobA, A_ROOT, toFixedLoss(2));
      await time.increase(f.params.challengeWindow + 1);
      await expect(settle(g, jobA)).not.to.emit(bounty, "EntryEnded");
      const { failedStages } = await f.ph.jobMarket.callbackOf(jobA);
      expect(callbackFailed(failedStages, CallbackStage.Receipt)).to.equal(true);
      await expect(bounty.syncOutcome(jobA)).not.to.emit(bounty, "EntryEnded");
      const forged = { ...receipt, metrics: { ...receipt.metrics, evalLoss: 1n } };
      const onChain = (await f.ph.jobMarket.getJob(jobA)).receiptHash;
      await expect(bounty.connect(f.derek).recordReceipt(jobA, forged))
        .to.be.revertedWithCustomError(bounty, "FinetuneBountyReceiptMismatch")
        .withArgs(jobA, onChain, anyHash);
      await expect(bounty.connect(f.derek).recordReceipt(jobA, receipt))
        .to.emit(bounty, "BountyPaid")
        .withArgs(f.a, f.bob.address, jobA, toFixedLoss(2), REWARD);
      await expect(bounty.syncOutcome(jobA)).to.be.revertedWithCustomError(bounty, "FinetuneBountyUnknownEntry");
    });

    it("syncOutcome ends an entry whose job was reclaimed while its hook could not run", async () => {
      const f = await loadFixture(bountyFixture);
      const { bounty, bountyAddress } = await deployBounty(f, { callbackGasLimit: 5_000 });
      const g = { ...f, bounty, bountyAddress };
      const jobA = await enter(g, f.a);
      await time.increase(3_601);
      await expect(f.ph.jobMarket.connect(f.derek).reclaimJob(jobA))
        .to.emit(f.ph.jobMarket, "CallbackDelivered")
        .withArgs(jobA, bountyAddress, JobStatus.Reclaimed, false);
      await expect(bounty.syncOutcome(jobA))
        .to.emit(bounty, "EntryEnded")
        .withArgs(jobA, f.a, JobStatus.Reclaimed, false);
      expect(await bounty.status()).to.deep.equal([0n, 0n]);
    });
  });

  describe("withdraw", () => {
    it("is refused to anyone but the sponsor, and while the bounty is open", async () => {
      const f = await loadFixture(bountyFixture);
      await expect(f.bounty.connect(f.bob).withdraw(f.bob.address))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyNotSponsor")
        .withArgs(f.bob.address);
      await enter(f, f.a);
      const { expiresAt } = await f.bounty.terms();
      await time.increaseTo(expiresAt + 1n);
      await expect(f.bounty.connect(f.sponsor).withdraw(f.sponsor.address))
        .to.be.revertedWithCustomError(f.bounty, "FinetuneBountyStillOpen")
        .withArgs(expiresAt, 1n);
    });

    it("returns everything left to the sponsor once the bounty is won", async () => {
      const f = await loadFixture(bountyFixture);
      const jobA = await enter(f, f.a);
      await evaluate(f, jobA, A_ROOT, toFixedLoss(2));
      await time.increase(f.params.challengeWindow + 1);
      await (await settle(f, jobA)).wait();
      const left = await baseBalance(f, f.bountyAddress);
      // The evaluation was the entrant's: what the sponsor funded besides the reward is all left.
      expect(left).to.equal(4n * (EVAL_FEE + CALLBACK_FEE));
      await expect(f.bounty.connect(f.sponsor).withdraw(f.derek.address))
        .to.emit(f.bounty, "Withdrawn")
        .withArgs(f.derek.address, left);
      expect(await baseBalance(f, f.bountyAddress)).to.equal(0n);
    });

    it("keeps what an open evaluation is owed: a refund its missed hook left in the bounty reaches the entrant", async () => {
      const f = await loadFixture(bountyFixture);
      // Hooks of 5,000 gas miss their calls: A wins through the pull path, B's refund waits in the bounty.
      const { bounty, bountyAddress } = await deployBounty(f, { callbackGasLimit: 5_000 });
      const g = { ...f, bounty, bountyAddress };
      const [jobA, jobB] = [await enter(g, f.a), await enter(g, f.b)];
      const receipt = await evaluate(g, jobA, A_ROOT, toFixedLoss(2));
      await (await f.ph.jobMarket.connect(f.worker2).claimJob(jobB)).wait();
      await (await f.ph.jobMarket.connect(f.worker2).failJob(jobB, 25)).wait(); // the worker's own failure
      await time.increase(f.params.challengeWindow + 1);
      await (await settle(g, jobA)).wait();
      await expect(bounty.recordReceipt(jobA, receipt)).to.emit(bounty, "BountyPaid");
      const owed = EVAL_FEE + (CALLBACK_FEE - CALLBACK_FEE / 2n);
      const left = await baseBalance(f, bountyAddress);
      await expect(bounty.connect(f.sponsor).withdraw(f.sponsor.address))
        .to.emit(bounty, "Withdrawn")
        .withArgs(f.sponsor.address, left - owed);
      const before = await baseBalance(f, f.charlie.address);
      await expect(bounty.syncOutcome(jobB)).to.emit(bounty, "EntryEnded").withArgs(jobB, f.b, JobStatus.Failed, false);
      expect((await baseBalance(f, f.charlie.address)) - before).to.equal(owed);
      expect(await bounty.status()).to.deep.equal([f.a, 0n]);
    });
  });

  describe("isValidSignature (ERC-1271)", () => {
    it("accepts the sponsor's signature of a worker API message as the bounty's, and nobody else's", async () => {
      const f = await loadFixture(bountyFixture);
      // What a worker's API asks the requester of job 1 to sign before it takes the job's input.
      const domain = authDomain(31337, await f.ph.jobMarket.getAddress());
      const message = { jobId: 1n, inputHash: DATASET, expiry: 2_000_000_000n, nonce: ethers.id("nonce 1") };
      const digest = ethers.TypedDataEncoder.hash(domain, AUTH_TYPES.InputUpload, message);
      const bySponsor = await f.sponsor.signTypedData(domain, AUTH_TYPES.InputUpload, message);
      const byBob = await f.bob.signTypedData(domain, AUTH_TYPES.InputUpload, message);
      expect(await f.bounty.isValidSignature(digest, bySponsor)).to.equal("0x1626ba7e");
      expect(await f.bounty.isValidSignature(digest, byBob)).to.equal("0x00000000");
      expect(await f.bounty.isValidSignature(digest, "0x1234")).to.equal("0x00000000");
    });
  });
});
