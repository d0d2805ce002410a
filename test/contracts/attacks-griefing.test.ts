/**
 * Issue 11, attack 5: free griefing. A staked worker (or a model owner, whose vault received the consumed datatoken)
 * claimed jobs and failed them at once: the requester's datatoken was burnt and the worker kept its collateral. Now
 * the datatoken is escrowed until the job settles and comes back with the fee on every other end; a failure for a
 * reason of the worker's own costs it `failPenaltyBps` of its collateral, paid to the requester; a failure blaming the
 * requester's input is free only until someone shows the worker's signed acknowledgement that the input arrived.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { WORKER_STAKE } from "../fixtures/posthuman";
import { JobStatus, ONE_DATATOKEN } from "../../offchain/protocol/params";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { inputAckDomain, signInputAck } from "../../offchain/protocol/input-ack";
import { ContractWorker__factory } from "../../typechain-types";
import { FEE, INPUT_HASH, claimedJobFixture, openJobFixture } from "./helpers";
import { consumerFixture, paidTo, requestFromConsumer } from "./callback-helpers";

async function ackOf(f: Awaited<ReturnType<typeof claimedJobFixture>>, signer = f.worker, hash = INPUT_HASH) {
  const { chainId } = await ethers.provider.getNetwork();
  const domain = inputAckDomain(chainId, await f.ph.jobMarket.getAddress());
  return signInputAck(signer, domain, f.jobId, hash);
}

describe("Attack: free griefing", () => {
  it("claim-and-fail for a reason of the worker's own costs it a share of its collateral, paid to the requester", async () => {
    const f = await loadFixture(claimedJobFixture);
    const dt = datatokenAt(f.m1.datatoken, f.bob);
    const penalty = (FEE * BigInt(f.params.failPenaltyBps)) / 10_000n;
    const tx = f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 25);
    await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.bob], [FEE + penalty]);
    await expect(tx).to.changeTokenBalances(dt, [f.bob, f.m1.vault], [ONE_DATATOKEN, 0n]);
    expect((await f.ph.jobMarket.stakeOf(f.worker.address)).free).to.equal(WORKER_STAKE - penalty);
  });

  it("gives the datatoken back with the fee when the requester cancels or reclaims", async () => {
    const f = await loadFixture(openJobFixture);
    const dt = datatokenAt(f.m1.datatoken, f.bob);
    await expect(f.ph.jobMarket.connect(f.bob).cancelJob(f.jobId)).to.changeTokenBalances(dt, [f.bob], [ONE_DATATOKEN]);
    const g = await loadFixture(claimedJobFixture);
    await time.increase(3_601);
    await expect(g.ph.jobMarket.reclaimJob(g.jobId)).to.changeTokenBalances(
      datatokenAt(g.m1.datatoken, g.bob),
      [g.bob],
      [ONE_DATATOKEN],
    );
  });

  it("slashes a worker that failed a job as INPUT_MISSING after acknowledging the input: anyone may present the ack", async () => {
    const f = await loadFixture(claimedJobFixture);
    const ack = await ackOf(f);
    await (await f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 1)).wait();
    const tx = f.ph.jobMarket.connect(f.charlie).disputeFailure(f.jobId, ack);
    await expect(tx)
      .to.emit(f.ph.jobMarket, "FailureDisputed")
      .withArgs(f.jobId, f.worker.address, f.charlie.address, FEE);
    await expect(tx).to.emit(f.ph.jobMarket, "WorkerPenalized").withArgs(f.jobId, f.worker.address, 1, FEE);
    await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.bob, f.charlie], [FEE, 0n]);
    expect((await f.ph.jobMarket.getJob(f.jobId)).status).to.equal(JobStatus.Slashed);
    const stake = await f.ph.jobMarket.stakeOf(f.worker.address);
    expect([stake.free, stake.locked, stake.activeClaims]).to.deep.equal([WORKER_STAKE - FEE, 0n, 0n]);
  });

  it("refuses an acknowledgement not signed by the claimant, or for another input", async () => {
    const f = await loadFixture(claimedJobFixture);
    await (await f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 11)).wait();
    for (const ack of [await ackOf(f, f.worker2), await ackOf(f, f.worker, ethers.id("another input"))]) {
      await expect(f.ph.jobMarket.disputeFailure(f.jobId, ack))
        .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketInvalidInputAck")
        .withArgs(f.jobId, f.worker.address);
    }
  });

  it("refuses a contract worker's ERC-1271 acknowledgement: its answer is decided when asked, so it proves nothing", async () => {
    const f = await loadFixture(openJobFixture);
    const m = f.ph.jobMarket;
    const market = await m.getAddress();
    const w = await new ContractWorker__factory(f.derek).deploy(f.derek.address);
    const worker = await w.getAddress();
    await (await f.ocean.oceanToken.connect(f.derek).transfer(worker, WORKER_STAKE)).wait();
    const token = f.ocean.oceanToken.interface;
    await (
      await w.execute(
        await f.ocean.oceanToken.getAddress(),
        token.encodeFunctionData("approve", [market, WORKER_STAKE]),
      )
    ).wait();
    await (await w.execute(market, m.interface.encodeFunctionData("stake", [WORKER_STAKE]))).wait();
    await (await w.execute(market, m.interface.encodeFunctionData("claimJob", [f.jobId]))).wait();
    // The operator acknowledges the input, and the contract answers ERC-1271 for it today.
    const ack = await ackOf(f, f.derek);
    expect(await w.isValidSignature(await m.inputAckDigest(f.jobId, INPUT_HASH), ack)).to.equal("0x1626ba7e");
    await (await w.execute(market, m.interface.encodeFunctionData("failJob", [f.jobId, 1]))).wait();
    await expect(m.disputeFailure(f.jobId, ack))
      .to.be.revertedWithCustomError(m, "JobMarketInvalidInputAck")
      .withArgs(f.jobId, worker);
  });

  it("pays a claimant that fails callback jobs on the requester only its deliveries' gas: less than its own transactions", async () => {
    const f = await loadFixture(consumerFixture);
    const m = f.ph.jobMarket;
    const { callbackGasPrice } = await m.config();
    const [consumer0, worker0] = [
      await f.ocean.oceanToken.balanceOf(f.consumerAddress),
      await f.ocean.oceanToken.balanceOf(f.worker2.address),
    ];
    let [paid, spent] = [0n, 0n];
    for (let i = 0; i < 3; i++) {
      const jobId = await requestFromConsumer(f);
      const claim = (await (await m.connect(f.worker2).claimJob(jobId)).wait())!;
      const fail = (await (await m.connect(f.worker2).failJob(jobId, 1)).wait())!; // INPUT_MISSING, no ack given
      paid += await paidTo(f, fail, f.worker2.address);
      spent += claim.gasUsed + fail.gasUsed;
      await time.increase(f.params.challengeWindow + 1);
      await (await m.releaseFailureCollateral(jobId)).wait();
    }
    // Priced at callbackGasPrice, the claims and failures cost the griefer more than it was paid for the deliveries;
    // the requester lost exactly what was paid for those deliveries.
    expect(paid).to.be.greaterThan(0n);
    expect(paid).to.be.lessThan(spent * callbackGasPrice);
    expect((await f.ocean.oceanToken.balanceOf(f.worker2.address)) - worker0).to.equal(paid);
    expect(consumer0 - (await f.ocean.oceanToken.balanceOf(f.consumerAddress))).to.equal(paid);
  });

  it("refuses a dispute after the window, and of a failure that held nothing", async () => {
    const f = await loadFixture(claimedJobFixture);
    const ack = await ackOf(f);
    await (await f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 1)).wait();
    const failedAt = (await f.ph.jobMarket.getJob(f.jobId)).submittedAt;
    await time.increase(f.params.challengeWindow + 1);
    await expect(f.ph.jobMarket.disputeFailure(f.jobId, ack))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketDisputeWindowClosed")
      .withArgs(f.jobId, failedAt + BigInt(f.params.challengeWindow));
    const g = await loadFixture(claimedJobFixture);
    await (await g.ph.jobMarket.connect(g.worker).failJob(g.jobId, 25)).wait();
    await expect(g.ph.jobMarket.disputeFailure(g.jobId, await ackOf(g)))
      .to.be.revertedWithCustomError(g.ph.jobMarket, "JobMarketNotDisputable")
      .withArgs(g.jobId);
  });

  it("keeps the collateral of a held failure backing the minimum stake until it is released", async () => {
    const f = await loadFixture(claimedJobFixture);
    await (await f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 1)).wait();
    const free = (await f.ph.jobMarket.stakeOf(f.worker.address)).free;
    await expect(f.ph.jobMarket.connect(f.worker).requestUnstake(free)).to.be.revertedWithCustomError(
      f.ph.jobMarket,
      "JobMarketStakeBelowMinimum",
    );
  });
});
