import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time, mine } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { posthumanFixture, M1_BENCHMARK, M1_WEIGHTS_ROOT, WORKER_STAKE } from "../fixtures/posthuman";
import {
  JobKind,
  JobStatus,
  ONE_DATATOKEN,
  encodeEvaluateParams,
  encodeInferParams,
  encodeTrainParams,
} from "../../offchain/protocol/params";
import { datatokenAt, vaultAt } from "../../offchain/protocol/contracts";
import { commitWeightsRoot, deployPostHuman, publishModel } from "../../offchain/deploy/posthuman";
import { jobRequest } from "../../offchain/protocol/structs";
import { FAIL_REASONS } from "../../offchain/protocol/job-spec";
import { JobMarket__factory, ModelRegistry__factory, RoyaltyVault__factory } from "../../typechain-types";
import {
  EVALUATE_PARAMS,
  FEE,
  INFER_PARAMS,
  INPUT_HASH,
  LEASE,
  PARAMS,
  TRAIN_PARAMS,
  challengedJobFixture,
  challengedTrainFixture,
  claimedJobFixture,
  deadlineIn,
  giveM1,
  openJob,
  openJobFixture,
  receiptFor,
  submittedJobFixture,
  trainChild,
  trainReceiptFor,
} from "./helpers";
import { shouldBeTerminal } from "./job-terminal.behavior";

const ONE = ethers.parseEther("1");

async function requestArgs(
  f: { m1: { modelId: bigint } },
  o: { modelId?: bigint; kind?: keyof typeof JobKind; fee?: bigint; params?: string; deadline?: bigint } = {},
) {
  return jobRequest({
    modelId: o.modelId ?? f.m1.modelId,
    kind: o.kind ?? "Infer",
    inputHash: INPUT_HASH,
    inputURI: "ipfs://input",
    fee: o.fee ?? FEE,
    deadline: o.deadline ?? (await deadlineIn(LEASE)),
    params: o.params ?? PARAMS[o.kind ?? "Infer"],
  });
}

/** Bob holds one M1 datatoken and has approved the market for it and for FEE. */
async function readyToRequestFixture() {
  const f = await loadFixture(posthumanFixture);
  const market = await f.ph.jobMarket.getAddress();
  await giveM1(f, f.bob, ONE_DATATOKEN);
  await datatokenAt(f.m1.datatoken, f.bob).approve(market, ONE_DATATOKEN);
  await f.ocean.oceanToken.connect(f.bob).approve(market, FEE);
  return f;
}

describe("JobMarket", () => {
  describe("constructor", () => {
    async function configFor(overrides: Record<string, unknown>) {
      const f = await loadFixture(posthumanFixture);
      const base = await f.ph.jobMarket.config();
      return {
        f,
        cfg: {
          registry: base.registry,
          baseToken: base.baseToken,
          treasury: base.treasury,
          arbiter: base.arbiter,
          protocolFeeBps: base.protocolFeeBps,
          collateralBps: base.collateralBps,
          challengerRewardBps: base.challengerRewardBps,
          challengeWindow: base.challengeWindow,
          arbitrationWindow: base.arbitrationWindow,
          unstakeDelay: base.unstakeDelay,
          challengeBond: base.challengeBond,
          minWorkerStake: base.minWorkerStake,
          callbackGasPrice: base.callbackGasPrice,
          failPenaltyBps: base.failPenaltyBps,
          ...overrides,
        },
      };
    }

    it("reverts on a zero address", async () => {
      const { f, cfg } = await configFor({ treasury: ethers.ZeroAddress });
      const factory = new JobMarket__factory(f.deployer);
      await expect(factory.deploy(cfg)).to.be.revertedWithCustomError(factory, "JobMarketZeroAddress");
    });

    it("reverts on a protocol fee above the cap", async () => {
      const { f, cfg } = await configFor({ protocolFeeBps: 1_001 });
      const factory = new JobMarket__factory(f.deployer);
      await expect(factory.deploy(cfg)).to.be.revertedWithCustomError(factory, "JobMarketInvalidBps").withArgs(1_001);
    });

    it("reverts on a challenger reward above 100%", async () => {
      const { f, cfg } = await configFor({ challengerRewardBps: 10_001 });
      const factory = new JobMarket__factory(f.deployer);
      await expect(factory.deploy(cfg)).to.be.revertedWithCustomError(factory, "JobMarketInvalidBps").withArgs(10_001);
    });

    it("reverts on no collateral (nothing could be slashed)", async () => {
      const { f, cfg } = await configFor({ collateralBps: 0 });
      const factory = new JobMarket__factory(f.deployer);
      await expect(factory.deploy(cfg)).to.be.revertedWithCustomError(factory, "JobMarketInvalidBps").withArgs(0);
    });

    it("reverts on an arbitration window not longer than the challenge window (the requester's join period)", async () => {
      const { f, cfg } = await configFor({ challengeWindow: 3_600, arbitrationWindow: 3_600 });
      const factory = new JobMarket__factory(f.deployer);
      await expect(factory.deploy(cfg))
        .to.be.revertedWithCustomError(factory, "JobMarketInvalidWindows")
        .withArgs(3_600, 3_600);
      // The deploy helper says so before it deploys anything (no contract of the four is left behind).
      const nonce = await f.deployer.getNonce();
      await expect(
        deployPostHuman(f.deployer, f.ocean.addresses, {
          treasury: f.treasury.address,
          arbiter: f.arbiter.address,
          challengeWindow: 3_600,
          arbitrationWindow: 3_600,
        }),
      ).to.be.rejectedWith(/arbitration window \(3600 s\) must be longer than the challenge window/);
      expect(await f.deployer.getNonce()).to.equal(nonce);
    });

    it("reverts when the registry is bound to another job market", async () => {
      const { f, cfg } = await configFor({});
      const factory = new JobMarket__factory(f.deployer);
      await expect(factory.deploy(cfg))
        .to.be.revertedWithCustomError(factory, "JobMarketRegistryMismatch")
        .withArgs(await f.ph.jobMarket.getAddress());
    });

    it("exposes its parameters through config()", async () => {
      const { ph, treasury, arbiter, params, ocean } = await loadFixture(posthumanFixture);
      const c = await ph.jobMarket.config();
      expect(c.registry).to.equal(await ph.registry.getAddress());
      expect(c.baseToken).to.equal(ocean.addresses.OceanToken);
      expect(c.treasury).to.equal(treasury.address);
      expect(c.arbiter).to.equal(arbiter.address);
      expect(c.protocolFeeBps).to.equal(params.protocolFeeBps);
      expect(c.challengeWindow).to.equal(params.challengeWindow);
      expect(c.challengeBond).to.equal(params.challengeBond);
      expect(c.minWorkerStake).to.equal(params.minWorkerStake);
    });
  });

  describe("requestJob", () => {
    it("records an open job and emits JobRequested with everything a worker needs", async () => {
      const f = await loadFixture(readyToRequestFixture);
      const req = await requestArgs(f);
      await expect(f.ph.jobMarket.connect(f.bob).requestJob(req))
        .to.emit(f.ph.jobMarket, "JobRequested")
        .withArgs(
          1n,
          f.m1.modelId,
          f.bob.address,
          JobKind.Infer,
          INPUT_HASH,
          "ipfs://input",
          FEE,
          req.deadline,
          INFER_PARAMS,
        );
      const job = await f.ph.jobMarket.getJob(1n);
      expect(job.status).to.equal(JobStatus.Open);
      expect(job.requester).to.equal(f.bob.address);
      expect(job.modelId).to.equal(f.m1.modelId);
      expect(job.fee).to.equal(FEE);
      expect(job.inputHash).to.equal(INPUT_HASH);
      expect(await f.ph.jobMarket.jobCount()).to.equal(1n);
    });

    it("escrows one datatoken: no Ocean order until the job settles", async () => {
      const f = await loadFixture(readyToRequestFixture);
      const dt = datatokenAt(f.m1.datatoken, f.bob);
      await expect(f.ph.jobMarket.connect(f.bob).requestJob(await requestArgs(f))).not.to.emit(dt, "OrderStarted");
      expect(await dt.balanceOf(f.bob.address)).to.equal(0n);
      expect(await dt.balanceOf(f.m1.vault)).to.equal(0n);
      expect(await dt.balanceOf(await f.ph.jobMarket.getAddress())).to.equal(ONE);
    });

    it("orders the escrowed datatoken on Ocean for the requester when the job settles: 0.97 to the vault, 0.03 to Ocean", async () => {
      const f = await loadFixture(submittedJobFixture);
      const dt = datatokenAt(f.m1.datatoken, f.bob);
      const opc = await f.ocean.router.getOPCCollector();
      await time.increase(f.params.challengeWindow + 1);
      await expect(f.ph.jobMarket.settleJob(f.jobId))
        .to.emit(dt, "OrderStarted")
        .withArgs(f.bob.address, await f.ph.jobMarket.getAddress(), ONE, 0, anyValue, ethers.ZeroAddress, anyValue);
      expect(await dt.balanceOf(f.m1.vault)).to.equal(ethers.parseEther("0.97"));
      expect(await dt.balanceOf(opc)).to.equal(ethers.parseEther("0.03"));
      expect(await dt.balanceOf(await f.ph.jobMarket.getAddress())).to.equal(0n);
    });

    it("escrows the fee in the base token", async () => {
      const f = await loadFixture(readyToRequestFixture);
      await expect(f.ph.jobMarket.connect(f.bob).requestJob(await requestArgs(f))).to.changeTokenBalances(
        f.ocean.oceanToken,
        [f.bob, f.ph.jobMarket],
        [-FEE, FEE],
      );
    });

    it("accepts each kind with its params", async () => {
      const f = await loadFixture(posthumanFixture);
      for (const kind of ["Train", "Infer", "Evaluate"] as const) {
        const jobId = await openJob(f, { kind });
        expect((await f.ph.jobMarket.getJob(jobId)).kind).to.equal(JobKind[kind]);
      }
    });

    it("reverts for an unknown model", async () => {
      const f = await loadFixture(readyToRequestFixture);
      await expect(f.ph.jobMarket.connect(f.bob).requestJob(await requestArgs(f, { modelId: 99n })))
        .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryUnknownModel")
        .withArgs(99n);
    });

    it("reverts for a frozen model", async () => {
      const f = await loadFixture(challengedTrainFixture);
      await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      await expect(f.ph.jobMarket.connect(f.bob).requestJob(await requestArgs(f, { modelId: f.m2Id })))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketModelFrozen")
        .withArgs(f.m2Id);
    });

    it("reverts on a zero fee", async () => {
      const f = await loadFixture(readyToRequestFixture);
      await expect(
        f.ph.jobMarket.connect(f.bob).requestJob(await requestArgs(f, { fee: 0n })),
      ).to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketZeroFee");
    });

    it("reverts on a deadline that is not in the future", async () => {
      const f = await loadFixture(readyToRequestFixture);
      const past = BigInt(await time.latest());
      const args = await requestArgs(f, { deadline: past });
      await time.setNextBlockTimestamp(past + 5n);
      await expect(f.ph.jobMarket.connect(f.bob).requestJob(args))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketInvalidDeadline")
        .withArgs(past, past + 5n);
    });

    const badParams: [keyof typeof JobKind, string, string][] = [
      ["Train", "params of another kind", INFER_PARAMS],
      [
        "Train",
        "zero steps",
        encodeTrainParams({
          steps: 0,
          batchSize: 8,
          contextLength: 64,
          learningRate: 1n,
          warmupSteps: 0,
          weightDecay: 0n,
        }),
      ],
      [
        "Train",
        "a field beyond its type",
        TRAIN_PARAMS.slice(0, 2 + 64 * 3) + "ff".padStart(64, "f") + TRAIN_PARAMS.slice(2 + 64 * 4),
      ],
      ["Infer", "no max-token budget", encodeInferParams({ maxTokens: 0, temperature: 0, topK: 0 })],
      ["Infer", "truncated bytes", INFER_PARAMS.slice(0, -2)],
      ["Evaluate", "empty bytes", "0x"],
      ["Evaluate", "params of another kind", TRAIN_PARAMS],
      ["Evaluate", "the three words of the params before `independent`", EVALUATE_PARAMS.slice(0, 2 + 64 * 3)],
      ["Evaluate", "`independent` neither 0 nor 1", EVALUATE_PARAMS.slice(0, -1) + "2"],
    ];
    for (const [kind, what, params] of badParams) {
      it(`reverts on ${kind} params with ${what}`, async () => {
        const f = await loadFixture(readyToRequestFixture);
        await expect(f.ph.jobMarket.connect(f.bob).requestJob(await requestArgs(f, { kind, params })))
          .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketInvalidParams")
          .withArgs(JobKind[kind]);
      });
    }

    it("reverts when the requester has not approved the datatoken", async () => {
      const f = await loadFixture(posthumanFixture);
      await giveM1(f, f.bob, ONE_DATATOKEN);
      await f.ocean.oceanToken.connect(f.bob).approve(await f.ph.jobMarket.getAddress(), FEE);
      await expect(f.ph.jobMarket.connect(f.bob).requestJob(await requestArgs(f))).to.be.revertedWith(
        "ERC20: insufficient allowance",
      );
    });
  });

  describe("requestJobWithPermit", () => {
    async function signDatatokenPermit(f: Awaited<ReturnType<typeof posthumanFixture>>, deadlineBlock: bigint) {
      const dt = datatokenAt(f.m1.datatoken, f.bob);
      const { chainId } = await ethers.provider.getNetwork();
      const sig = ethers.Signature.from(
        await f.bob.signTypedData(
          { name: await dt.name(), version: "1", chainId, verifyingContract: f.m1.datatoken },
          {
            Permit: [
              { name: "owner", type: "address" },
              { name: "spender", type: "address" },
              { name: "value", type: "uint256" },
              { name: "nonce", type: "uint256" },
              { name: "deadline", type: "uint256" },
            ],
          },
          {
            owner: f.bob.address,
            spender: await f.ph.jobMarket.getAddress(),
            value: ONE_DATATOKEN,
            nonce: await dt.nonces(f.bob.address),
            deadline: deadlineBlock,
          },
        ),
      );
      return { deadline: deadlineBlock, v: sig.v, r: sig.r, s: sig.s };
    }
    const NO_PERMIT = { deadline: 0n, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };

    it("requests without a datatoken approval, using the datatoken's EIP-2612 permit (deadline in blocks)", async () => {
      const f = await loadFixture(posthumanFixture);
      await giveM1(f, f.bob, ONE_DATATOKEN);
      await f.ocean.oceanToken.connect(f.bob).approve(await f.ph.jobMarket.getAddress(), FEE);
      const permit = await signDatatokenPermit(f, BigInt(await ethers.provider.getBlockNumber()) + 10n);
      // OceanToken has no permit: a fee permit is tried, ignored, and the existing allowance pays.
      const feePermit = { deadline: 1n, v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      await expect(f.ph.jobMarket.connect(f.bob).requestJobWithPermit(await requestArgs(f), permit, feePermit))
        .to.emit(f.ph.jobMarket, "JobRequested")
        .withArgs(
          1n,
          f.m1.modelId,
          f.bob.address,
          JobKind.Infer,
          INPUT_HASH,
          "ipfs://input",
          FEE,
          anyValue,
          INFER_PARAMS,
        );
      expect(await datatokenAt(f.m1.datatoken, f.bob).balanceOf(f.bob.address)).to.equal(0n);
    });

    it("skips permits whose deadline is 0 and uses existing allowances", async () => {
      const f = await loadFixture(readyToRequestFixture);
      await expect(
        f.ph.jobMarket.connect(f.bob).requestJobWithPermit(await requestArgs(f), NO_PERMIT, NO_PERMIT),
      ).to.emit(f.ph.jobMarket, "JobRequested");
    });

    it("reverts when the permit has expired and there is no allowance", async () => {
      const f = await loadFixture(posthumanFixture);
      await giveM1(f, f.bob, ONE_DATATOKEN);
      await f.ocean.oceanToken.connect(f.bob).approve(await f.ph.jobMarket.getAddress(), FEE);
      const permit = await signDatatokenPermit(f, BigInt(await ethers.provider.getBlockNumber()) + 1n);
      await mine(5);
      await expect(
        f.ph.jobMarket.connect(f.bob).requestJobWithPermit(await requestArgs(f), permit, NO_PERMIT),
      ).to.be.revertedWith("ERC20: insufficient allowance");
    });
  });

  describe("cancelJob", () => {
    it("refunds the fee of an open job to its requester", async () => {
      const f = await loadFixture(openJobFixture);
      const tx = f.ph.jobMarket.connect(f.bob).cancelJob(f.jobId);
      await expect(tx).to.emit(f.ph.jobMarket, "JobCancelled").withArgs(f.jobId, f.m1.modelId, f.bob.address, FEE);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.bob, f.ph.jobMarket], [FEE, -FEE]);
      expect((await f.ph.jobMarket.getJob(f.jobId)).status).to.equal(JobStatus.Cancelled);
    });

    it("reverts for anyone but the requester", async () => {
      const f = await loadFixture(openJobFixture);
      await expect(f.ph.jobMarket.connect(f.charlie).cancelJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotRequester")
        .withArgs(f.jobId, f.charlie.address);
    });

    it("reverts once the job is claimed", async () => {
      const f = await loadFixture(claimedJobFixture);
      await expect(f.ph.jobMarket.connect(f.bob).cancelJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Claimed);
    });

    it("reverts for an unknown job", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.jobMarket.connect(f.bob).cancelJob(7n))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnknownJob")
        .withArgs(7n);
    });

    shouldBeTerminal(async () => {
      const f = await loadFixture(openJobFixture);
      await f.ph.jobMarket.connect(f.bob).cancelJob(f.jobId);
      return { f, jobId: f.jobId };
    }, JobStatus.Cancelled);
  });

  describe("claimJob", () => {
    it("locks collateral proportional to the fee and leases the job until its deadline", async () => {
      const f = await loadFixture(openJobFixture);
      const collateral = await f.ph.jobMarket.collateralFor(FEE);
      expect(collateral).to.equal((FEE * BigInt(f.params.collateralBps)) / 10_000n);
      const { deadline } = await f.ph.jobMarket.getJob(f.jobId);
      await expect(f.ph.jobMarket.connect(f.worker).claimJob(f.jobId))
        .to.emit(f.ph.jobMarket, "JobClaimed")
        .withArgs(f.jobId, f.m1.modelId, f.worker.address, collateral, deadline);
      const stake = await f.ph.jobMarket.stakeOf(f.worker.address);
      expect(stake.free).to.equal(WORKER_STAKE - collateral);
      expect(stake.locked).to.equal(collateral);
      const job = await f.ph.jobMarket.getJob(f.jobId);
      expect(job.status).to.equal(JobStatus.Claimed);
      expect(job.worker).to.equal(f.worker.address);
      expect(job.collateral).to.equal(collateral);
    });

    it("refuses an independent evaluation's claim by the model's owner or trainer, not another worker's", async () => {
      const f = await loadFixture(posthumanFixture);
      const params = (independent: boolean) =>
        encodeEvaluateParams({ benchmarkId: M1_BENCHMARK, contextLength: 64, maxTokens: 4096, independent });
      // worker2 trains alice's M1 into charlie's M2; worker2 stakes as charlie's operator and M1's owner stakes too.
      const { childId } = await trainChild(f, f.charlie, f.m1.modelId, M1_WEIGHTS_ROOT, ethers.id("M2"), f.worker2);
      for (const who of [f.alice, f.charlie]) {
        await (await f.ocean.oceanToken.connect(who).approve(await f.ph.jobMarket.getAddress(), WORKER_STAKE)).wait();
        await (await f.ph.jobMarket.connect(who).stake(WORKER_STAKE)).wait();
      }
      const onM2 = await openJob(f, { kind: "Evaluate", modelId: childId, params: params(true) });
      for (const maker of [f.worker2, f.charlie])
        await expect(f.ph.jobMarket.connect(maker).claimJob(onM2))
          .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotIndependent")
          .withArgs(onM2, maker.address);
      // M1's owner made M1, not M2: it may evaluate M2, as may any other worker; not M1 itself.
      await expect(f.ph.jobMarket.connect(f.alice).claimJob(onM2)).to.emit(f.ph.jobMarket, "JobClaimed");
      const onM1 = await openJob(f, { kind: "Evaluate", params: params(true) });
      await expect(f.ph.jobMarket.connect(f.alice).claimJob(onM1))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotIndependent")
        .withArgs(onM1, f.alice.address);
      await expect(f.ph.jobMarket.connect(f.worker2).claimJob(onM1)).to.emit(f.ph.jobMarket, "JobClaimed");
      // Without `independent`, the trainer may evaluate its own training.
      const plain = await openJob(f, { kind: "Evaluate", modelId: childId, params: params(false) });
      await expect(f.ph.jobMarket.connect(f.worker2).claimJob(plain)).to.emit(f.ph.jobMarket, "JobClaimed");
    });

    it("reverts on a second claim (one claimant per job)", async () => {
      const f = await loadFixture(claimedJobFixture);
      await expect(f.ph.jobMarket.connect(f.worker2).claimJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Claimed);
    });

    it("reverts after the deadline", async () => {
      const f = await loadFixture(openJobFixture);
      const { deadline } = await f.ph.jobMarket.getJob(f.jobId);
      await time.increaseTo(deadline + 1n);
      await expect(f.ph.jobMarket.connect(f.worker).claimJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketLeaseExpired")
        .withArgs(f.jobId, deadline);
    });

    it("reverts for a worker whose stake is below the minimum", async () => {
      const f = await loadFixture(openJobFixture);
      await expect(f.ph.jobMarket.connect(f.charlie).claimJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketStakeBelowMinimum")
        .withArgs(f.charlie.address, 0n, f.params.minWorkerStake);
    });

    it("reverts when the free stake does not cover the collateral", async () => {
      const f = await loadFixture(posthumanFixture);
      const bigFee = WORKER_STAKE * 2n;
      const jobId = await openJob(f, { fee: bigFee });
      await expect(f.ph.jobMarket.connect(f.worker).claimJob(jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketInsufficientStake")
        .withArgs(f.worker.address, WORKER_STAKE, await f.ph.jobMarket.collateralFor(bigFee));
    });

    it("reverts when the model was frozen after the request", async () => {
      const f = await loadFixture(challengedTrainFixture);
      const jobId = await openJob(f, { modelId: f.m2Id, requester: f.bob });
      await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      await expect(f.ph.jobMarket.connect(f.worker2).claimJob(jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketModelFrozen")
        .withArgs(f.m2Id);
    });

    it("reverts for an unknown job", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.jobMarket.connect(f.worker).claimJob(3n))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnknownJob")
        .withArgs(3n);
    });
  });

  describe("submitReceipt", () => {
    it("records the receipt of an inference job and emits ReceiptSubmitted", async () => {
      const f = await loadFixture(claimedJobFixture);
      const receipt = receiptFor({ metrics: { evalTokens: 128n } });
      await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receipt))
        .to.emit(f.ph.jobMarket, "ReceiptSubmitted")
        .withArgs(f.jobId, f.m1.modelId, f.worker.address, anyValue, 0n);
      const job = await f.ph.jobMarket.getJob(f.jobId);
      expect(job.status).to.equal(JobStatus.Submitted);
      expect(job.submittedAt).to.equal(await time.latest());
      const encoded = f.ph.jobMarket.interface
        .getAbiCoder()
        .encode([f.ph.jobMarket.interface.getFunction("submitReceipt").inputs[1]], [receipt]);
      expect(job.receiptHash).to.equal(ethers.keccak256(encoded));
    });

    it("creates the child model of a training job in the same transaction", async () => {
      const f = await loadFixture(posthumanFixture);
      const jobId = await openJob(f, { kind: "Train" });
      await f.ph.jobMarket.connect(f.worker).claimJob(jobId);
      const childRoot = ethers.id("M2 weights");
      await commitWeightsRoot(f.ph.registry, f.worker, childRoot);
      await expect(
        f.ph.jobMarket.connect(f.worker).submitReceipt(jobId, receiptFor(trainReceiptFor(M1_WEIGHTS_ROOT, childRoot))),
      )
        .to.emit(f.ph.registry, "ModelDerived")
        .withArgs(2n, f.m1.modelId, jobId, f.bob.address, f.alice.address, anyValue, anyValue, childRoot, 1)
        .and.to.emit(f.ph.jobMarket, "ReceiptSubmitted")
        .withArgs(jobId, f.m1.modelId, f.worker.address, anyValue, 2n);
      expect((await f.ph.jobMarket.getJob(jobId)).childModelId).to.equal(2n);
      const m2 = await f.ph.registry.getModel(2n);
      expect(m2.dataHash).to.equal(INPUT_HASH);
      expect(m2.baselineMetric).to.equal(2_950_000n);
      // The child inherits its parent's benchmark and records its own weights root (both kept in its vault's code).
      expect([m2.weightsRoot, m2.benchmarkId]).to.deep.equal([childRoot, M1_BENCHMARK]);
      expect(await f.ph.registry.modelOfWeightsRoot(childRoot)).to.equal(2n);
    });

    it("reverts for anyone but the claimant", async () => {
      const f = await loadFixture(claimedJobFixture);
      await expect(f.ph.jobMarket.connect(f.worker2).submitReceipt(f.jobId, receiptFor()))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotClaimant")
        .withArgs(f.jobId, f.worker2.address);
    });

    it("reverts on an unclaimed job", async () => {
      const f = await loadFixture(openJobFixture);
      await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor()))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Open);
    });

    it("reverts on a second receipt", async () => {
      const f = await loadFixture(submittedJobFixture);
      await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor()))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Submitted);
    });

    it("reverts after the deadline", async () => {
      const f = await loadFixture(claimedJobFixture);
      const { deadline } = await f.ph.jobMarket.getJob(f.jobId);
      await time.increaseTo(deadline + 1n);
      await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor()))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketLeaseExpired")
        .withArgs(f.jobId, deadline);
    });

    it("reverts when the served weights root is not the model's", async () => {
      const f = await loadFixture(claimedJobFixture);
      const other = ethers.id("other weights");
      await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor({ servedWeightsRoot: other })))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketWrongWeightsRoot")
        .withArgs(f.jobId, M1_WEIGHTS_ROOT, other);
    });

    it("reverts when the served weights root is another registered model's", async () => {
      const f = await loadFixture(claimedJobFixture);
      const otherRoot = ethers.id("M9 weights");
      await publishModel(f.ph.registry, f.bob, {
        name: "M9",
        symbol: "M9",
        weightsRoot: otherRoot,
        pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
      });
      await expect(
        f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor({ servedWeightsRoot: otherRoot })),
      )
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketWrongWeightsRoot")
        .withArgs(f.jobId, M1_WEIGHTS_ROOT, otherRoot);
    });

    it("reverts on a training receipt without the child's weights root", async () => {
      const f = await loadFixture(posthumanFixture);
      const jobId = await openJob(f, { kind: "Train" });
      await f.ph.jobMarket.connect(f.worker).claimJob(jobId);
      await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(jobId, receiptFor()))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketMissingChildWeights")
        .withArgs(jobId);
    });

    it("reverts on a training receipt whose parent was frozen after the claim", async () => {
      const f = await loadFixture(challengedTrainFixture);
      const jobId = await openJob(f, { kind: "Train", modelId: f.m2Id });
      await f.ph.jobMarket.connect(f.worker2).claimJob(jobId);
      await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      await expect(
        f.ph.jobMarket.connect(f.worker2).submitReceipt(jobId, receiptFor(trainReceiptFor(f.m2Root, ethers.id("M3")))),
      )
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketModelFrozen")
        .withArgs(f.m2Id);
    });
  });

  describe("failJob", () => {
    it("refunds fee and datatoken; a reason of the worker's own costs it failPenaltyBps of its collateral", async () => {
      const f = await loadFixture(claimedJobFixture);
      const penalty = (FEE * BigInt(f.params.failPenaltyBps)) / 10_000n;
      const tx = f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 3);
      await expect(tx)
        .to.emit(f.ph.jobMarket, "JobFailed")
        .withArgs(f.jobId, f.m1.modelId, f.worker.address, 3, FEE + penalty);
      await expect(tx).to.emit(f.ph.jobMarket, "WorkerPenalized").withArgs(f.jobId, f.worker.address, 3, penalty);
      await expect(tx).to.changeTokenBalances(
        f.ocean.oceanToken,
        [f.bob, f.ph.jobMarket],
        [FEE + penalty, -(FEE + penalty)],
      );
      await expect(tx).to.changeTokenBalances(datatokenAt(f.m1.datatoken, f.bob), [f.bob], [ONE]);
      const stake = await f.ph.jobMarket.stakeOf(f.worker.address);
      expect(stake.free).to.equal(WORKER_STAKE - penalty);
      expect(stake.locked).to.equal(0n);
      expect(await f.ph.jobMarket.failureOf(f.jobId)).to.deep.equal([3n, false]);
    });

    it("pays the penalty of a Train job's taken child root (WEIGHTS_ROOT_TAKEN) to the treasury: registering it first earns nothing", async () => {
      const f = await loadFixture(posthumanFixture);
      const jobId = await openJob(f, { kind: "Train" });
      await (await f.ph.jobMarket.connect(f.worker).claimJob(jobId)).wait();
      const penalty = (FEE * BigInt(f.params.failPenaltyBps)) / 10_000n;
      const reason = FAIL_REASONS.WEIGHTS_ROOT_TAKEN;
      const tx = f.ph.jobMarket.connect(f.worker).failJob(jobId, reason);
      await expect(tx)
        .to.emit(f.ph.jobMarket, "JobFailed")
        .withArgs(jobId, f.m1.modelId, f.worker.address, reason, FEE);
      await expect(tx).to.emit(f.ph.jobMarket, "WorkerPenalized").withArgs(jobId, f.worker.address, reason, penalty);
      await expect(tx).to.changeTokenBalances(
        f.ocean.oceanToken,
        [f.bob, f.treasury, f.ph.jobMarket],
        [FEE, penalty, -(FEE + penalty)],
      );
      expect((await f.ph.jobMarket.stakeOf(f.worker.address)).free).to.equal(WORKER_STAKE - penalty);
    });

    it("pays the requester the penalty of any other kind's failure, even one labelled WEIGHTS_ROOT_TAKEN", async () => {
      const f = await loadFixture(claimedJobFixture); // an Infer job: it has no child root to be taken
      const penalty = (FEE * BigInt(f.params.failPenaltyBps)) / 10_000n;
      const tx = f.ph.jobMarket.connect(f.worker).failJob(f.jobId, FAIL_REASONS.WEIGHTS_ROOT_TAKEN);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.bob, f.treasury], [FEE + penalty, 0n]);
    });

    it("holds the collateral for a dispute window when the reason blames the requester's input", async () => {
      const f = await loadFixture(claimedJobFixture);
      const tx = f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 1);
      await expect(tx).to.emit(f.ph.jobMarket, "JobFailed").withArgs(f.jobId, f.m1.modelId, f.worker.address, 1, FEE);
      await expect(tx).not.to.emit(f.ph.jobMarket, "WorkerPenalized");
      expect(await f.ph.jobMarket.failureOf(f.jobId)).to.deep.equal([1n, true]);
      const held = await f.ph.jobMarket.stakeOf(f.worker.address);
      expect([held.locked, held.activeClaims]).to.deep.equal([FEE, 1n]);
      await expect(f.ph.jobMarket.releaseFailureCollateral(f.jobId)).to.be.revertedWithCustomError(
        f.ph.jobMarket,
        "JobMarketDisputeWindowOpen",
      );
      await time.increase(f.params.challengeWindow + 1);
      await expect(f.ph.jobMarket.releaseFailureCollateral(f.jobId))
        .to.emit(f.ph.jobMarket, "FailureCollateralReleased")
        .withArgs(f.jobId, f.worker.address, FEE);
      const stake = await f.ph.jobMarket.stakeOf(f.worker.address);
      expect([stake.free, stake.locked, stake.activeClaims]).to.deep.equal([WORKER_STAKE, 0n, 0n]);
      await expect(f.ph.jobMarket.releaseFailureCollateral(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotDisputable")
        .withArgs(f.jobId);
    });

    it("reverts for anyone but the claimant", async () => {
      const f = await loadFixture(claimedJobFixture);
      await expect(f.ph.jobMarket.connect(f.bob).failJob(f.jobId, 1))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotClaimant")
        .withArgs(f.jobId, f.bob.address);
    });

    it("reverts on a submitted job", async () => {
      const f = await loadFixture(submittedJobFixture);
      await expect(f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 1))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Submitted);
    });

    it("reverts after the deadline (the job can only be reclaimed then)", async () => {
      const f = await loadFixture(claimedJobFixture);
      const { deadline } = await f.ph.jobMarket.getJob(f.jobId);
      await time.increaseTo(deadline + 1n);
      await expect(f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 1))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketLeaseExpired")
        .withArgs(f.jobId, deadline);
    });

    shouldBeTerminal(async () => {
      const f = await loadFixture(claimedJobFixture);
      await f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 2);
      return { f, jobId: f.jobId };
    }, JobStatus.Failed);
  });

  describe("reclaimJob", () => {
    it("refunds an unclaimed job after its deadline, slashing no one", async () => {
      const f = await loadFixture(openJobFixture);
      const { deadline } = await f.ph.jobMarket.getJob(f.jobId);
      await time.increaseTo(deadline + 1n);
      const tx = f.ph.jobMarket.connect(f.charlie).reclaimJob(f.jobId);
      await expect(tx)
        .to.emit(f.ph.jobMarket, "JobReclaimed")
        .withArgs(f.jobId, f.m1.modelId, f.bob.address, ethers.ZeroAddress, FEE, 0n);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.bob, f.ph.jobMarket], [FEE, -FEE]);
    });

    it("refunds the fee and slashes the claimant's collateral to the requester", async () => {
      const f = await loadFixture(claimedJobFixture);
      const { deadline, collateral } = await f.ph.jobMarket.getJob(f.jobId);
      await time.increaseTo(deadline + 1n);
      const tx = f.ph.jobMarket.connect(f.charlie).reclaimJob(f.jobId);
      await expect(tx)
        .to.emit(f.ph.jobMarket, "JobReclaimed")
        .withArgs(f.jobId, f.m1.modelId, f.bob.address, f.worker.address, FEE, collateral);
      await expect(tx).to.changeTokenBalances(
        f.ocean.oceanToken,
        [f.bob, f.ph.jobMarket],
        [FEE + collateral, -(FEE + collateral)],
      );
      const stake = await f.ph.jobMarket.stakeOf(f.worker.address);
      expect(stake.locked).to.equal(0n);
      expect(stake.free).to.equal(WORKER_STAKE - collateral);
    });

    it("reverts before the deadline", async () => {
      const f = await loadFixture(claimedJobFixture);
      const { deadline } = await f.ph.jobMarket.getJob(f.jobId);
      await expect(f.ph.jobMarket.connect(f.charlie).reclaimJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketDeadlineNotReached")
        .withArgs(f.jobId, deadline);
    });

    it("reverts on a job with a receipt", async () => {
      const f = await loadFixture(submittedJobFixture);
      await time.increase(LEASE * 2);
      await expect(f.ph.jobMarket.connect(f.charlie).reclaimJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Submitted);
    });

    it("reverts for an unknown job", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.jobMarket.reclaimJob(5n))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnknownJob")
        .withArgs(5n);
    });

    shouldBeTerminal(async () => {
      const f = await loadFixture(claimedJobFixture);
      await time.increase(LEASE + 1);
      await f.ph.jobMarket.connect(f.charlie).reclaimJob(f.jobId);
      return { f, jobId: f.jobId };
    }, JobStatus.Reclaimed);
  });

  describe("challengeReceipt", () => {
    it("bonds the challenger and marks the job challenged", async () => {
      const f = await loadFixture(submittedJobFixture);
      const bond = f.params.challengeBond;
      await f.ocean.oceanToken.connect(f.elena).approve(await f.ph.jobMarket.getAddress(), bond);
      const tx = f.ph.jobMarket.connect(f.elena).challengeReceipt(f.jobId);
      await expect(tx).to.emit(f.ph.jobMarket, "JobChallenged").withArgs(f.jobId, f.m1.modelId, f.elena.address, bond);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.elena, f.ph.jobMarket], [-bond, bond]);
      const job = await f.ph.jobMarket.getJob(f.jobId);
      expect(job.status).to.equal(JobStatus.Challenged);
      expect(job.challenger).to.equal(f.elena.address);
    });

    it("reverts after the challenge window", async () => {
      const f = await loadFixture(submittedJobFixture);
      const { submittedAt } = await f.ph.jobMarket.getJob(f.jobId);
      const closesAt = submittedAt + BigInt(f.params.challengeWindow);
      await time.increaseTo(closesAt + 1n);
      await expect(f.ph.jobMarket.connect(f.elena).challengeReceipt(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketChallengeWindowClosed")
        .withArgs(f.jobId, closesAt);
    });

    it("reverts on a job without a receipt", async () => {
      const f = await loadFixture(claimedJobFixture);
      await expect(f.ph.jobMarket.connect(f.elena).challengeReceipt(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Claimed);
    });

    it("reverts on a second challenge by anyone but the requester", async () => {
      const f = await loadFixture(challengedJobFixture);
      await expect(f.ph.jobMarket.connect(f.charlie).challengeReceipt(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketAlreadyChallenged")
        .withArgs(f.jobId, f.elena.address);
    });
  });

  describe("resolveChallenge", () => {
    it("upheld: refunds the requester, slashes the worker between challenger and requester, returns the bond", async () => {
      const f = await loadFixture(challengedJobFixture);
      const { collateral } = await f.ph.jobMarket.getJob(f.jobId);
      const reward = (collateral * BigInt(f.params.challengerRewardBps)) / 10_000n;
      const bond = f.params.challengeBond;
      const tx = f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      await expect(tx)
        .to.emit(f.ph.jobMarket, "ChallengeResolved")
        .withArgs(f.jobId, f.m1.modelId, f.elena.address, true, collateral);
      await expect(tx).to.changeTokenBalances(
        f.ocean.oceanToken,
        [f.bob, f.elena, f.worker, f.ph.jobMarket],
        [FEE + collateral - reward, bond + reward, 0n, -(FEE + collateral + bond)],
      );
      const stake = await f.ph.jobMarket.stakeOf(f.worker.address);
      expect(stake.locked).to.equal(0n);
      expect(stake.free).to.equal(WORKER_STAKE - collateral);
    });

    it("upheld on a training job: freezes the child model and its vault", async () => {
      const f = await loadFixture(challengedTrainFixture);
      await expect(f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true))
        .to.emit(f.ph.registry, "ModelFrozen")
        .withArgs(f.m2Id, f.jobId);
      expect(await f.ph.registry.isFrozen(f.m2Id)).to.equal(true);
      expect(await vaultAt((await f.ph.registry.getModel(f.m2Id)).vault, f.bob).frozen()).to.equal(true);
    });

    it("rejected: the bond goes to the worker with its payout, and the job settles", async () => {
      const f = await loadFixture(challengedJobFixture);
      const protocolFee = (FEE * BigInt(f.params.protocolFeeBps)) / 10_000n;
      const bond = f.params.challengeBond;
      const tx = f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, false);
      await expect(tx)
        .to.emit(f.ph.jobMarket, "ChallengeResolved")
        .withArgs(f.jobId, f.m1.modelId, f.elena.address, false, 0n)
        .and.to.emit(f.ph.jobMarket, "JobSettled")
        .withArgs(f.jobId, f.m1.modelId, f.worker.address, FEE - protocolFee, protocolFee);
      await expect(tx).to.changeTokenBalances(
        f.ocean.oceanToken,
        [f.worker, f.treasury, f.elena, f.ph.jobMarket],
        [FEE - protocolFee + bond, protocolFee, 0n, -(FEE + bond)],
      );
      expect((await f.ph.jobMarket.getJob(f.jobId)).status).to.equal(JobStatus.Settled);
    });

    it("reverts for anyone but the arbiter", async () => {
      const f = await loadFixture(challengedJobFixture);
      await expect(f.ph.jobMarket.connect(f.elena).resolveChallenge(f.jobId, true))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotArbiter")
        .withArgs(f.elena.address);
    });

    it("reverts on a job that is not challenged", async () => {
      const f = await loadFixture(submittedJobFixture);
      await expect(f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Submitted);
    });

    shouldBeTerminal(async () => {
      const f = await loadFixture(challengedJobFixture);
      await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      return { f, jobId: f.jobId };
    }, JobStatus.Slashed);
  });

  describe("settleJob", () => {
    it("pays the worker minus the protocol fee after the window and frees its collateral", async () => {
      const f = await loadFixture(submittedJobFixture);
      await time.increase(f.params.challengeWindow + 1);
      const protocolFee = (FEE * BigInt(f.params.protocolFeeBps)) / 10_000n;
      const tx = f.ph.jobMarket.connect(f.charlie).settleJob(f.jobId);
      await expect(tx)
        .to.emit(f.ph.jobMarket, "JobSettled")
        .withArgs(f.jobId, f.m1.modelId, f.worker.address, FEE - protocolFee, protocolFee);
      await expect(tx).to.changeTokenBalances(
        f.ocean.oceanToken,
        [f.worker, f.treasury, f.ph.jobMarket],
        [FEE - protocolFee, protocolFee, -FEE],
      );
      const stake = await f.ph.jobMarket.stakeOf(f.worker.address);
      expect(stake.free).to.equal(WORKER_STAKE);
      expect(stake.locked).to.equal(0n);
    });

    it("reverts while the challenge window is open", async () => {
      const f = await loadFixture(submittedJobFixture);
      const { submittedAt } = await f.ph.jobMarket.getJob(f.jobId);
      await expect(f.ph.jobMarket.settleJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketChallengeWindowOpen")
        .withArgs(f.jobId, submittedAt + BigInt(f.params.challengeWindow));
    });

    it("reverts on a job without a receipt", async () => {
      const f = await loadFixture(claimedJobFixture);
      await expect(f.ph.jobMarket.settleJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnexpectedStatus")
        .withArgs(f.jobId, JobStatus.Claimed);
    });

    it("reverts on a challenged job while the arbiter may still decide", async () => {
      const f = await loadFixture(challengedJobFixture);
      const { challengedAt } = await f.ph.jobMarket.getJob(f.jobId);
      await time.increase(f.params.challengeWindow + 1);
      await expect(f.ph.jobMarket.settleJob(f.jobId))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketArbitrationPending")
        .withArgs(f.jobId, challengedAt + BigInt(f.params.arbitrationWindow));
    });

    it("settles a challenge the arbiter left undecided: the receipt stands, the lapsed challenge's bond goes to the worker", async () => {
      const f = await loadFixture(challengedJobFixture);
      await time.increase(f.params.arbitrationWindow + 1);
      const protocolFee = (FEE * BigInt(f.params.protocolFeeBps)) / 10_000n;
      const bond = f.params.challengeBond;
      const tx = f.ph.jobMarket.settleJob(f.jobId);
      await expect(tx).to.emit(f.ph.jobMarket, "JobSettled");
      await expect(tx).to.changeTokenBalances(
        f.ocean.oceanToken,
        [f.worker, f.elena, f.treasury, f.ph.jobMarket],
        [FEE - protocolFee + bond, 0n, protocolFee, -(FEE + bond)],
      );
    });

    it("reverts for an unknown job", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.jobMarket.settleJob(9n))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnknownJob")
        .withArgs(9n);
    });

    shouldBeTerminal(async () => {
      const f = await loadFixture(submittedJobFixture);
      await time.increase(f.params.challengeWindow + 1);
      await f.ph.jobMarket.settleJob(f.jobId);
      return { f, jobId: f.jobId };
    }, JobStatus.Settled);
  });

  describe("stake", () => {
    it("adds to the free stake and emits WorkerStaked", async () => {
      const f = await loadFixture(posthumanFixture);
      const amount = ethers.parseEther("150");
      await f.ocean.oceanToken.connect(f.charlie).approve(await f.ph.jobMarket.getAddress(), amount);
      const tx = f.ph.jobMarket.connect(f.charlie).stake(amount);
      await expect(tx).to.emit(f.ph.jobMarket, "WorkerStaked").withArgs(f.charlie.address, amount, amount);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.charlie, f.ph.jobMarket], [-amount, amount]);
      expect((await f.ph.jobMarket.stakeOf(f.charlie.address)).free).to.equal(amount);
    });

    it("reverts on zero", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.jobMarket.connect(f.charlie).stake(0n)).to.be.revertedWithCustomError(
        f.ph.jobMarket,
        "JobMarketZeroAmount",
      );
    });
  });

  describe("requestUnstake", () => {
    it("moves free stake to unstaking, available after the delay", async () => {
      const f = await loadFixture(posthumanFixture);
      const amount = ethers.parseEther("400");
      const at = (await time.latest()) + 5;
      await time.setNextBlockTimestamp(at);
      await expect(f.ph.jobMarket.connect(f.worker).requestUnstake(amount))
        .to.emit(f.ph.jobMarket, "UnstakeRequested")
        .withArgs(f.worker.address, amount, BigInt(at + f.params.unstakeDelay));
      const s = await f.ph.jobMarket.stakeOf(f.worker.address);
      expect(s.free).to.equal(WORKER_STAKE - amount);
      expect(s.unstaking).to.equal(amount);
    });

    it("reverts beyond the free stake (locked collateral cannot leave)", async () => {
      const f = await loadFixture(claimedJobFixture);
      const { collateral } = await f.ph.jobMarket.getJob(f.jobId);
      await expect(f.ph.jobMarket.connect(f.worker).requestUnstake(WORKER_STAKE))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketInsufficientStake")
        .withArgs(f.worker.address, WORKER_STAKE - collateral, WORKER_STAKE);
    });

    it("reverts on zero", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.jobMarket.connect(f.worker).requestUnstake(0n)).to.be.revertedWithCustomError(
        f.ph.jobMarket,
        "JobMarketZeroAmount",
      );
    });
  });

  describe("withdrawStake", () => {
    it("pays out the unstaking amount after the delay", async () => {
      const f = await loadFixture(posthumanFixture);
      const amount = ethers.parseEther("400");
      await f.ph.jobMarket.connect(f.worker).requestUnstake(amount);
      await time.increase(f.params.unstakeDelay);
      const tx = f.ph.jobMarket.connect(f.worker).withdrawStake();
      await expect(tx).to.emit(f.ph.jobMarket, "StakeWithdrawn").withArgs(f.worker.address, amount);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.worker, f.ph.jobMarket], [amount, -amount]);
      expect((await f.ph.jobMarket.stakeOf(f.worker.address)).unstaking).to.equal(0n);
    });

    it("reverts before the delay has passed", async () => {
      const f = await loadFixture(posthumanFixture);
      await f.ph.jobMarket.connect(f.worker).requestUnstake(1n);
      const { unstakeAvailableAt } = await f.ph.jobMarket.stakeOf(f.worker.address);
      await expect(f.ph.jobMarket.connect(f.worker).withdrawStake())
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnstakeNotReady")
        .withArgs(f.worker.address, unstakeAvailableAt);
    });

    it("reverts when nothing is unstaking", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.jobMarket.connect(f.worker).withdrawStake())
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNothingToWithdraw")
        .withArgs(f.worker.address);
    });
  });

  describe("getJob", () => {
    it("reverts for an unknown job", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.jobMarket.getJob(1n))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketUnknownJob")
        .withArgs(1n);
    });
  });

  describe("deployPostHuman", () => {
    it("deploys deterministically: the registry names the job market that names it", async () => {
      const f = await loadFixture(posthumanFixture);
      const again = await deployPostHuman(f.deployer, f.ocean.addresses, {
        treasury: f.treasury.address,
        arbiter: f.arbiter.address,
        protocolFeeBps: 100,
      });
      expect((await again.registry.config()).jobMarket).to.equal(await again.jobMarket.getAddress());
      expect((await again.jobMarket.config()).protocolFeeBps).to.equal(100);
      expect(await new ModelRegistry__factory(f.deployer).attach(again.addresses.ModelRegistry).getAddress()).to.equal(
        again.addresses.ModelRegistry,
      );
      // The vault implementation names the registry deployed after it (its constructor checks it).
      expect(
        await RoyaltyVault__factory.connect(again.addresses.RoyaltyVaultImplementation, f.deployer).registry(),
      ).to.equal(again.addresses.ModelRegistry);
    });
  });
});
