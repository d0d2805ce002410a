import { expect } from "chai";
import { ethers, network } from "hardhat";
import type { ContractTransactionResponse } from "ethers";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { M1_WEIGHTS_ROOT } from "../fixtures/posthuman";
import {
  CallbackStage,
  MAX_CALLBACK_GAS,
  callbackFailed,
  callbackShares,
  jobCallback,
  jobRequest,
} from "../../offchain/protocol/structs";
import { JobKind, JobStatus } from "../../offchain/protocol/params";
import { FEE, INFER_PARAMS, INPUT_HASH, LEASE, baseBalance, deadlineIn, openJob, receiptFor } from "./helpers";
import { commitWeightsRoot } from "../../offchain/deploy/posthuman";
import {
  CALLBACK_FEE,
  CALLBACK_GAS,
  Mode,
  callbackJobFixture,
  claimedCallbackJobFixture,
  consumerFixture,
  meteredShare,
  paidTo,
  requestFromConsumer,
  type ConsumerFixture,
} from "./callback-helpers";

const { receiptShare: RECEIPT_SHARE, outcomeShare: OUTCOME_SHARE } = callbackShares(CALLBACK_FEE);
const INFER_RECEIPT = {
  outputHash: ethers.id("generations"),
  outputURI: "ipfs://generations",
  metrics: { evalTokens: 128n },
};
const EVAL_METRICS = [0n, 0n, 0n, 0n, 3_141_592n, 4_096n];

async function submittedCallbackJobFixture() {
  const f = await loadFixture(claimedCallbackJobFixture);
  await (await f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor(INFER_RECEIPT))).wait();
  return f;
}

async function challengedCallbackJobFixture() {
  const f = await loadFixture(submittedCallbackJobFixture);
  const m = f.ph.jobMarket;
  await (await f.ocean.oceanToken.connect(f.elena).approve(await m.getAddress(), f.params.challengeBond)).wait();
  await (await m.connect(f.elena).challengeReceipt(f.jobId)).wait();
  await time.increase(f.params.challengeWindow + 1); // past the requester's join period: the arbiter may decide
  return f;
}

/** Balances of the accounts a callback job pays, before and after `act`. */
async function deltas(f: ConsumerFixture, act: () => Promise<unknown>, extra: string[] = []) {
  const who = [
    f.consumerAddress,
    f.worker.address,
    f.charlie.address,
    f.treasury.address,
    f.arbiter.address,
    f.elena.address,
    await f.ph.jobMarket.getAddress(),
    ...extra,
  ];
  const before = await Promise.all(who.map((a) => baseBalance(f, a)));
  await act();
  const after = await Promise.all(who.map((a) => baseBalance(f, a)));
  return new Map(who.map((a, i) => [a, after[i] - before[i]]));
}

const protocolFee = (f: ConsumerFixture) => (FEE * BigInt(f.params.protocolFeeBps)) / 10_000n;

describe("JobMarket callbacks", () => {
  describe("requestJobWithCallback", () => {
    it("records the callback, emits CallbackRequested after JobRequested and escrows fee + callback fee", async () => {
      const f = await loadFixture(consumerFixture);
      const m = f.ph.jobMarket;
      const before = await baseBalance(f, m);
      const tx = f.consumer.request(
        jobRequest({
          modelId: f.m1.modelId,
          kind: "Infer",
          inputHash: INPUT_HASH,
          fee: FEE,
          deadline: await deadlineIn(LEASE),
          params: INFER_PARAMS,
        }),
        jobCallback({ gasLimit: CALLBACK_GAS, fee: CALLBACK_FEE }),
        f.m1.datatoken,
      );
      await expect(tx).to.emit(m, "JobRequested").and.to.emit(m, "CallbackRequested");
      await expect(tx).to.emit(m, "CallbackRequested").withArgs(1n, f.consumerAddress, CALLBACK_GAS, CALLBACK_FEE);
      expect(await baseBalance(f, m)).to.equal(before + FEE + CALLBACK_FEE);
      const cb = await m.callbackOf(1n);
      expect([cb.gasLimit, cb.failedStages, cb.fee]).to.deep.equal([BigInt(CALLBACK_GAS), 0n, CALLBACK_FEE]);
      expect((await m.getJob(1n)).requester).to.equal(f.consumerAddress);
    });

    it("reverts on a zero gas limit and on one above JOB_MARKET_MAX_CALLBACK_GAS", async () => {
      const f = await loadFixture(consumerFixture);
      for (const gasLimit of [0, MAX_CALLBACK_GAS + 1]) {
        await expect(requestFromConsumer(f, { gasLimit }))
          .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketInvalidCallbackGas")
          .withArgs(gasLimit, MAX_CALLBACK_GAS);
      }
      expect(await requestFromConsumer(f, { gasLimit: MAX_CALLBACK_GAS })).to.equal(1n);
    });

    it("reverts when the requester has no code to call back", async () => {
      const f = await loadFixture(consumerFixture);
      const m = f.ph.jobMarket;
      const req = jobRequest({
        modelId: f.m1.modelId,
        kind: "Infer",
        inputHash: INPUT_HASH,
        fee: FEE,
        deadline: await deadlineIn(LEASE),
        params: INFER_PARAMS,
      });
      const cb = jobCallback({ gasLimit: CALLBACK_GAS, fee: CALLBACK_FEE });
      await expect(m.connect(f.bob).requestJobWithCallback(req, cb))
        .to.be.revertedWithCustomError(m, "JobMarketCallbackConsumerNotContract")
        .withArgs(f.bob.address);
    });

    it("leaves plain jobs without callback, and callbackOf refuses unknown jobs", async () => {
      const f = await loadFixture(consumerFixture);
      const jobId = await openJob(f);
      const cb = await f.ph.jobMarket.callbackOf(jobId);
      expect([cb.gasLimit, cb.failedStages, cb.fee]).to.deep.equal([0n, 0n, 0n]);
      await expect(f.ph.jobMarket.callbackOf(99n))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnknownJob")
        .withArgs(99n);
    });
  });

  describe("onJobReceipt", () => {
    it("delivers an inference receipt's fields to the requester when the claimant submits", async () => {
      const f = await loadFixture(claimedCallbackJobFixture);
      const m = f.ph.jobMarket;
      const tx = m.connect(f.worker).submitReceipt(f.jobId, receiptFor(INFER_RECEIPT));
      await expect(tx)
        .to.emit(f.consumer, "ReceiptSeen")
        .withArgs(
          f.jobId,
          JobKind.Infer,
          f.m1.modelId,
          INFER_RECEIPT.outputHash,
          INFER_RECEIPT.outputURI,
          M1_WEIGHTS_ROOT,
          [0n, 0n, 0n, 0n, 0n, 128n],
          0n,
        );
      await expect(tx)
        .to.emit(m, "CallbackDelivered")
        .withArgs(f.jobId, f.consumerAddress, CallbackStage.Receipt, true);
      expect(await f.consumer.receiptHashSeen(f.jobId)).to.equal((await m.getJob(f.jobId)).receiptHash);
      expect((await m.getJob(f.jobId)).status).to.equal(JobStatus.Submitted);
    });

    it("delivers an evaluation receipt's loss and token count", async () => {
      const f = await loadFixture(consumerFixture);
      const m = f.ph.jobMarket;
      const jobId = await requestFromConsumer(f, { kind: "Evaluate" });
      await (await m.connect(f.worker).claimJob(jobId)).wait();
      const [, , , , evalLoss, evalTokens] = EVAL_METRICS;
      const receipt = receiptFor({ outputHash: ethers.id("eval report"), metrics: { evalLoss, evalTokens } });
      await expect(m.connect(f.worker).submitReceipt(jobId, receipt))
        .to.emit(f.consumer, "ReceiptSeen")
        .withArgs(
          jobId,
          JobKind.Evaluate,
          f.m1.modelId,
          ethers.id("eval report"),
          "ipfs://output",
          M1_WEIGHTS_ROOT,
          EVAL_METRICS,
          0n,
        );
    });

    it("delivers a training receipt with the child model it created", async () => {
      const f = await loadFixture(consumerFixture);
      const m = f.ph.jobMarket;
      const jobId = await requestFromConsumer(f, { kind: "Train", gasLimit: 200_000 });
      await (await m.connect(f.worker).claimJob(jobId)).wait();
      await commitWeightsRoot(f.ph.registry, f.worker, ethers.id("child"));
      const receipt = receiptFor({ childWeightsRoot: ethers.id("child"), childConfigHash: ethers.id("config") });
      await expect(m.connect(f.worker).submitReceipt(jobId, receipt))
        .to.emit(f.consumer, "ReceiptSeen")
        .withArgs(
          jobId,
          JobKind.Train,
          f.m1.modelId,
          ethers.id("output"),
          "ipfs://output",
          M1_WEIGHTS_ROOT,
          [0n, 0n, 0n, 0n, 0n, 0n],
          2n,
        );
      expect((await f.ph.registry.getModel(2n)).owner).to.equal(f.consumerAddress);
    });
  });

  describe("onJobOutcome", () => {
    it("delivers Settled with the receipt hash; the worker gets the receipt share, the settler the outcome share", async () => {
      const f = await loadFixture(submittedCallbackJobFixture);
      const m = f.ph.jobMarket;
      await time.increase(f.params.challengeWindow + 1);
      const receiptHash = (await m.getJob(f.jobId)).receiptHash;
      let tx: Promise<unknown> = Promise.resolve();
      const d = await deltas(f, async () => {
        tx = m.connect(f.charlie).settleJob(f.jobId);
        await tx;
      });
      await expect(tx).to.emit(f.consumer, "OutcomeSeen").withArgs(f.jobId, JobStatus.Settled, receiptHash);
      await expect(tx).to.emit(m, "CallbackDelivered").withArgs(f.jobId, f.consumerAddress, JobStatus.Settled, true);
      expect(d.get(f.worker.address)).to.equal(FEE - protocolFee(f) + RECEIPT_SHARE);
      expect(d.get(f.charlie.address)).to.equal(OUTCOME_SHARE);
      expect(d.get(f.treasury.address)).to.equal(protocolFee(f));
      expect(d.get(f.consumerAddress)).to.equal(0n);
      expect(d.get(await m.getAddress())).to.equal(-(FEE + CALLBACK_FEE));
    });

    it("pays both shares to a worker that settles its own job, in one transfer", async () => {
      const f = await loadFixture(submittedCallbackJobFixture);
      await time.increase(f.params.challengeWindow + 1);
      const d = await deltas(f, async () => (await f.ph.jobMarket.connect(f.worker).settleJob(f.jobId)).wait());
      expect(d.get(f.worker.address)).to.equal(FEE - protocolFee(f) + CALLBACK_FEE);
    });

    it("delivers Failed: the requester gets the fee and the receipt share back, the claimant the outcome share", async () => {
      const f = await loadFixture(claimedCallbackJobFixture);
      const m = f.ph.jobMarket;
      let tx!: ContractTransactionResponse;
      const d = await deltas(f, async () => {
        tx = await m.connect(f.worker).failJob(f.jobId, 1);
        await tx.wait();
      });
      await expect(tx).to.emit(f.consumer, "OutcomeSeen").withArgs(f.jobId, JobStatus.Failed, ethers.ZeroHash);
      // The claimant is paid the gas of its delivery (a hook that records one event), not the whole share.
      const paid = await meteredShare(f, (await tx.wait())!, f.worker.address, OUTCOME_SHARE);
      expect(paid).to.be.lessThan(OUTCOME_SHARE / 10n);
      expect(d.get(f.worker.address)).to.equal(paid);
      expect(d.get(f.consumerAddress)).to.equal(FEE + RECEIPT_SHARE + OUTCOME_SHARE - paid);
    });

    it("pays whoever ends a job without settling it the gas its delivery used, at callbackGasPrice, up to the share", async () => {
      const f = await loadFixture(consumerFixture);
      const m = f.ph.jobMarket;
      const { callbackGasPrice } = await m.config();
      await (await f.consumer.setModes(Mode.Record, Mode.UseGas)).wait();
      const failPaying = async (hookGas: number, callbackFee = CALLBACK_FEE) => {
        await (await f.consumer.setGasToUse(hookGas)).wait();
        const jobId = await requestFromConsumer(f, { callbackFee });
        await (await m.connect(f.worker).claimJob(jobId)).wait();
        const receipt = (await (await m.connect(f.worker).failJob(jobId, 1)).wait())!;
        return paidTo(f, receipt, f.worker.address);
      };
      // 100,000 more gas in the hook: 100,000 more gas paid for (plus the loop's last iteration). The first delivery
      // also writes the consumer's storage slots from zero: left out of the comparison.
      await failPaying(0);
      const [light, heavy] = [await failPaying(20_000), await failPaying(120_000)];
      expect(heavy - light).to.be.within(100_000n * callbackGasPrice, 100_100n * callbackGasPrice);
      // A hook that burns its whole limit, with the least callback fee: the delivery costs more than the share, which
      // is all the caller gets.
      const least = 2n * BigInt(CALLBACK_GAS) * callbackGasPrice;
      await (await f.consumer.setModes(Mode.Record, Mode.BurnAllGas)).wait();
      expect(await failPaying(0, least)).to.equal(least / 2n);
    });

    it("delivers Reclaimed for an open job and for a claimed one (collateral slashed to the requester)", async () => {
      const f = await loadFixture(claimedCallbackJobFixture);
      const m = f.ph.jobMarket;
      const open = await requestFromConsumer(f);
      await time.increase(LEASE + 1);
      for (const [jobId, slashed] of [
        [open, 0n],
        [f.jobId, (await m.getJob(f.jobId)).collateral],
      ] as const) {
        let tx!: ContractTransactionResponse;
        const d = await deltas(f, async () => {
          tx = await m.connect(f.charlie).reclaimJob(jobId);
          await tx.wait();
        });
        await expect(tx).to.emit(f.consumer, "OutcomeSeen").withArgs(jobId, JobStatus.Reclaimed, ethers.ZeroHash);
        const paid = await meteredShare(f, (await tx.wait())!, f.charlie.address, OUTCOME_SHARE);
        expect(d.get(f.charlie.address)).to.equal(paid);
        expect(d.get(f.consumerAddress)).to.equal(FEE + slashed + RECEIPT_SHARE + OUTCOME_SHARE - paid);
      }
    });

    it("delivers Slashed when the arbiter upholds a challenge: the worker forfeits its share to the requester", async () => {
      const f = await loadFixture(challengedCallbackJobFixture);
      const m = f.ph.jobMarket;
      const { collateral, receiptHash } = await m.getJob(f.jobId);
      const reward = (collateral * BigInt(f.params.challengerRewardBps)) / 10_000n;
      let tx!: ContractTransactionResponse;
      const d = await deltas(f, async () => {
        tx = await m.connect(f.arbiter).resolveChallenge(f.jobId, true);
        await tx.wait();
      });
      await expect(tx).to.emit(f.consumer, "OutcomeSeen").withArgs(f.jobId, JobStatus.Slashed, receiptHash);
      const paid = await meteredShare(f, (await tx.wait())!, f.arbiter.address, OUTCOME_SHARE);
      expect(d.get(f.consumerAddress)).to.equal(FEE + collateral - reward + RECEIPT_SHARE + OUTCOME_SHARE - paid);
      expect(d.get(f.arbiter.address)).to.equal(paid);
      expect(d.get(f.elena.address)).to.equal(f.params.challengeBond + reward);
      expect(d.get(f.worker.address)).to.equal(0n);
    });

    it("delivers Settled when the arbiter rejects a challenge, and when a challenge lapses", async () => {
      const f = await loadFixture(challengedCallbackJobFixture);
      const m = f.ph.jobMarket;
      const rejected = await deltas(f, async () =>
        (await m.connect(f.arbiter).resolveChallenge(f.jobId, false)).wait(),
      );
      expect(rejected.get(f.worker.address)).to.equal(FEE - protocolFee(f) + f.params.challengeBond + RECEIPT_SHARE);
      expect(rejected.get(f.arbiter.address)).to.equal(OUTCOME_SHARE);
      expect((await f.consumer.completedCalls(f.jobId)) === 2n).to.equal(true);

      const g = await loadFixture(challengedCallbackJobFixture);
      await time.increase(g.params.arbitrationWindow + 1);
      const lapsed = await deltas(g, async () => {
        await expect(g.ph.jobMarket.connect(g.charlie).settleJob(g.jobId))
          .to.emit(g.consumer, "OutcomeSeen")
          .withArgs(g.jobId, JobStatus.Settled, (await g.ph.jobMarket.getJob(g.jobId)).receiptHash);
      });
      // A lapsed challenge costs its bond: it goes to the worker with the pay.
      expect(lapsed.get(g.elena.address) ?? 0n).to.equal(0n);
      expect(lapsed.get(g.worker.address)).to.equal(FEE - protocolFee(g) + g.params.challengeBond + RECEIPT_SHARE);
      expect(lapsed.get(g.charlie.address)).to.equal(OUTCOME_SHARE);
    });

    it("is not called on cancellation, which refunds the fee and the whole callback fee", async () => {
      const f = await loadFixture(callbackJobFixture);
      const m = f.ph.jobMarket;
      let tx: Promise<unknown> = Promise.resolve();
      const d = await deltas(f, async () => {
        tx = f.consumer.execute(await m.getAddress(), m.interface.encodeFunctionData("cancelJob", [f.jobId]));
        await tx;
      });
      await expect(tx).not.to.emit(m, "CallbackDelivered");
      expect(d.get(f.consumerAddress)).to.equal(FEE + CALLBACK_FEE);
      expect(await f.consumer.completedCalls(f.jobId)).to.equal(0n);
    });
  });

  describe("a consumer that misbehaves", () => {
    async function misbehaving(mode: number, gasLimit = CALLBACK_GAS) {
      const f = await loadFixture(consumerFixture);
      await (await f.consumer.setModes(mode, mode)).wait();
      const jobId = await requestFromConsumer(f, { gasLimit });
      await (await f.ph.jobMarket.connect(f.worker).claimJob(jobId)).wait();
      return { ...f, jobId };
    }

    /** Submits and settles `jobId`; checks both deliveries failed, were recorded, and money moved as for anyone. */
    async function runsToSettlement(f: ConsumerFixture & { jobId: bigint }) {
      const m = f.ph.jobMarket;
      const submit = m.connect(f.worker).submitReceipt(f.jobId, receiptFor());
      await expect(submit)
        .to.emit(m, "CallbackDelivered")
        .withArgs(f.jobId, f.consumerAddress, JobStatus.Submitted, false);
      await time.increase(f.params.challengeWindow + 1);
      let settle: Promise<unknown> = Promise.resolve();
      const d = await deltas(f, async () => {
        settle = m.connect(f.charlie).settleJob(f.jobId);
        await settle;
      });
      await expect(settle)
        .to.emit(m, "CallbackDelivered")
        .withArgs(f.jobId, f.consumerAddress, JobStatus.Settled, false);
      expect((await m.getJob(f.jobId)).status).to.equal(JobStatus.Settled);
      expect(d.get(f.worker.address)).to.equal(FEE - protocolFee(f) + RECEIPT_SHARE);
      expect(d.get(f.charlie.address)).to.equal(OUTCOME_SHARE);
      expect(d.get(await m.getAddress())).to.equal(-(FEE + CALLBACK_FEE));
      const { failedStages } = await m.callbackOf(f.jobId);
      expect(callbackFailed(failedStages, CallbackStage.Receipt)).to.equal(true);
      expect(callbackFailed(failedStages, CallbackStage.Settled)).to.equal(true);
      expect(callbackFailed(failedStages, CallbackStage.Failed)).to.equal(false);
    }

    it("a hook that reverts cannot stop the receipt or the settlement; the failures are recorded", async () => {
      await runsToSettlement(await misbehaving(Mode.Revert));
    });

    it("a hook that loops until out of gas costs the submitter at most its gas limit", async () => {
      const f = await misbehaving(Mode.BurnAllGas);
      const plain = await openJob(f);
      await (await f.ph.jobMarket.connect(f.worker).claimJob(plain)).wait();
      const plainGas = (await (await f.ph.jobMarket.connect(f.worker).submitReceipt(plain, receiptFor())).wait())!
        .gasUsed;
      const burnt = (await (await f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor())).wait())!
        .gasUsed;
      expect(burnt - plainGas).to.be.within(BigInt(CALLBACK_GAS), BigInt(CALLBACK_GAS) + 20_000n);
      const g = await misbehaving(Mode.BurnAllGas);
      await runsToSettlement(g);
    });

    it("a hook that reverts with a huge payload costs the market nothing to ignore (no returnbomb)", async () => {
      const f = await misbehaving(Mode.RevertBomb, 1_000_000);
      const m = f.ph.jobMarket;
      const bomb = (await (await m.connect(f.worker).submitReceipt(f.jobId, receiptFor())).wait())!.gasUsed;
      const g = await misbehaving(Mode.Revert, 1_000_000);
      const plainRevert = (await (await g.ph.jobMarket.connect(g.worker).submitReceipt(g.jobId, receiptFor())).wait())!
        .gasUsed;
      // The hook pays for its own 256 KiB of memory (8192 words: 3·8192 + 8192²/512 = 155,648 gas). A market that copied
      // the payload would pay about as much again.
      const hookMemory = 3n * 8192n + (8192n * 8192n) / 512n;
      expect(bomb - plainRevert).to.be.lessThan(hookMemory + 5_000n);
      await time.increase(f.params.challengeWindow + 1);
      await expect(m.settleJob(f.jobId)).to.emit(m, "JobSettled");
    });

    it("a hook that re-enters the market is refused by the guard and cannot take value; views stay readable", async () => {
      const f = await misbehaving(Mode.Reenter);
      const m = f.ph.jobMarket;
      const guard = m.interface.getError("ReentrancyGuardReentrantCall")!.selector;
      const other = await requestFromConsumer(f);
      const attempts = [
        m.interface.encodeFunctionData("settleJob", [f.jobId]),
        m.interface.encodeFunctionData("cancelJob", [other]),
        m.interface.encodeFunctionData("claimJob", [other]),
        m.interface.encodeFunctionData("reclaimJob", [f.jobId]),
        // Every state-changing function is guarded, the stake's too (the guard answers before any other check).
        m.interface.encodeFunctionData("requestUnstake", [1n]),
        m.interface.encodeFunctionData("setEndpoint", ["http://127.0.0.1:1"]),
        m.interface.encodeFunctionData("requestJob", [
          jobRequest({
            modelId: f.m1.modelId,
            kind: "Infer",
            inputHash: INPUT_HASH,
            fee: FEE,
            deadline: await deadlineIn(LEASE),
            params: INFER_PARAMS,
          }),
        ]),
      ];
      for (const data of [...attempts, m.interface.encodeFunctionData("getJob", [f.jobId])]) {
        const snapshot = (await network.provider.send("evm_snapshot")) as string;
        await (await f.consumer.setReentry(data)).wait();
        const before = await baseBalance(f, m);
        const isView = data.startsWith(m.interface.getFunction("getJob")!.selector);
        // A view is not guarded: a hook can read the job, already in its new state (the answer starts with the
        // requester's address, left-padded: its first 4 bytes are 0).
        await expect(m.connect(f.worker).submitReceipt(f.jobId, receiptFor()))
          .to.emit(f.consumer, "ReentryAttempted")
          .withArgs(isView, isView ? "0x00000000" : guard);
        // Submitting moves no money: the refused re-entry did not either.
        expect(await baseBalance(f, m)).to.equal(before);
        await network.provider.send("evm_revert", [snapshot]);
      }
      // The settlement itself: the hook tries to settle again while the job is being settled.
      await (await f.consumer.setReentry(m.interface.encodeFunctionData("settleJob", [f.jobId]))).wait();
      await (await m.connect(f.worker).submitReceipt(f.jobId, receiptFor())).wait();
      await time.increase(f.params.challengeWindow + 1);
      let settle: Promise<unknown> = Promise.resolve();
      const d = await deltas(f, async () => {
        settle = m.connect(f.charlie).settleJob(f.jobId);
        await settle;
      });
      await expect(settle).to.emit(f.consumer, "ReentryAttempted").withArgs(false, guard);
      expect(d.get(f.worker.address)).to.equal(FEE - protocolFee(f) + RECEIPT_SHARE);
      expect(d.get(await m.getAddress())).to.equal(-(FEE + CALLBACK_FEE));
      expect((await m.getJob(f.jobId)).status).to.equal(JobStatus.Settled);
    });
  });

  describe("gas given to the hook (EIP-150's 63/64 rule)", () => {
    const LIMIT = 300_000;

    async function hungryHookFixture() {
      const f = await loadFixture(consumerFixture);
      // The hook needs most of its limit to complete: it burns LIMIT - 100,000 gas, then writes four storage slots and
      // an event (≈ 75,000 gas).
      await (await f.consumer.setModes(Mode.UseGas, Mode.Record)).wait();
      await (await f.consumer.setGasToUse(LIMIT - 100_000)).wait();
      const jobId = await requestFromConsumer(f, { gasLimit: LIMIT });
      await (await f.ph.jobMarket.connect(f.worker).claimJob(jobId)).wait();
      return { ...f, jobId };
    }

    /** Sends the receipt with `gas`; resolves true when mined successfully, state reverted afterwards. */
    async function trySubmit(f: ConsumerFixture & { jobId: bigint }, gas: bigint) {
      const snapshot = (await network.provider.send("evm_snapshot")) as string;
      try {
        const receipt = await (
          await f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor(), { gasLimit: gas })
        ).wait();
        const completed = await f.consumer.completedCalls(f.jobId);
        const entry = await f.consumer.gasAtEntry();
        return { ok: receipt?.status === 1, completed, entry };
      } catch {
        return { ok: false, completed: 0n, entry: 0n };
      } finally {
        await network.provider.send("evm_revert", [snapshot]);
      }
    }

    it("refuses a caller that leaves the hook less than its limit, even where the transition alone would fit", async () => {
      const f = await loadFixture(hungryHookFixture);
      const m = f.ph.jobMarket;
      // Enough for a plain receipt and for the hook to start, not for the hook to finish: without the guard, the hook
      // would run out of gas and the receipt go through.
      const starving = 120_000n + BigInt(LIMIT) / 2n;
      const plain = await openJob(f);
      await (await m.connect(f.worker).claimJob(plain)).wait();
      await (await m.connect(f.worker).submitReceipt(plain, receiptFor(), { gasLimit: starving })).wait();
      await expect(
        m.connect(f.worker).submitReceipt(f.jobId, receiptFor(), { gasLimit: starving }),
      ).to.be.revertedWithCustomError(m, "JobMarketCallbackGasTooLow");
    });

    it("at the smallest gas that lets the receipt through, the hook gets its whole limit and completes", async () => {
      const f = await loadFixture(hungryHookFixture);
      const m = f.ph.jobMarket;
      let hi = await m.connect(f.worker).submitReceipt.estimateGas(f.jobId, receiptFor());
      let lo = 50_000n;
      expect(await trySubmit(f, hi)).to.include({ ok: true, completed: 1n });
      while (hi - lo > 1n) {
        const mid = (lo + hi) / 2n;
        if ((await trySubmit(f, mid)).ok) hi = mid;
        else lo = mid;
      }
      const edge = await trySubmit(f, hi);
      expect(edge.completed).to.equal(1n);
      expect(edge.entry).to.be.greaterThan(BigInt(LIMIT) - 3_000n);
      await expect(
        m.connect(f.worker).submitReceipt(f.jobId, receiptFor(), { gasLimit: hi - 1n }),
      ).to.be.revertedWithCustomError(m, "JobMarketCallbackGasTooLow");
    });
  });
});
