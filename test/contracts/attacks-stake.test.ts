/**
 * Issue 11, on-chain parts of 3, 8 and 10: a callback's gas is paid for at a price per gas; `minWorkerStake` holds
 * while a worker has claims; a worker registers the URL of its API with its stake so that any requester's client
 * finds the claimant's API on chain.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { WORKER_STAKE, posthumanFixture } from "../fixtures/posthuman";
import { jobCallback, jobRequest } from "../../offchain/protocol/structs";
import { FEE, INFER_PARAMS, INPUT_HASH, LEASE, claimedJobFixture, deadlineIn } from "./helpers";
import { consumerFixture } from "./callback-helpers";

describe("Attack: free callback gas, stake below the minimum, unknown claimant API", () => {
  it("refuses a callback whose fee does not pay two deliveries of its gas limit at callbackGasPrice", async () => {
    const f = await loadFixture(consumerFixture);
    const req = jobRequest({
      modelId: f.m1.modelId,
      kind: "Infer",
      inputHash: INPUT_HASH,
      fee: FEE,
      deadline: await deadlineIn(LEASE),
      params: INFER_PARAMS,
    });
    const gasLimit = 2_000_000;
    const required = 2n * BigInt(gasLimit) * f.params.callbackGasPrice;
    await expect(f.consumer.request(req, jobCallback({ gasLimit, fee: required - 1n }), f.m1.datatoken))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketCallbackFeeTooLow")
      .withArgs(required - 1n, required);
    await expect(f.consumer.request(req, jobCallback({ gasLimit, fee: required }), f.m1.datatoken)).to.emit(
      f.ph.jobMarket,
      "CallbackRequested",
    );
  });

  it("keeps minWorkerStake while the worker has claims, and frees it when they end", async () => {
    const f = await loadFixture(claimedJobFixture);
    const s = await f.ph.jobMarket.stakeOf(f.worker.address);
    expect(s.activeClaims).to.equal(1n);
    const tooMuch = s.free + s.locked - f.params.minWorkerStake + 1n;
    await expect(f.ph.jobMarket.connect(f.worker).requestUnstake(tooMuch))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketStakeBelowMinimum")
      .withArgs(f.worker.address, f.params.minWorkerStake - 1n, f.params.minWorkerStake);
    await (await f.ph.jobMarket.connect(f.worker).requestUnstake(tooMuch - 1n)).wait();
    await (await f.ph.jobMarket.connect(f.worker).failJob(f.jobId, 1)).wait();
  });

  it("lets a worker with no claims unstake everything", async () => {
    const f = await loadFixture(posthumanFixture);
    await expect(f.ph.jobMarket.connect(f.worker).requestUnstake(WORKER_STAKE)).to.emit(
      f.ph.jobMarket,
      "UnstakeRequested",
    );
  });

  it("records a worker's API endpoint with its stake, readable on chain and in WorkerEndpointSet", async () => {
    const f = await loadFixture(posthumanFixture);
    const market = await f.ph.jobMarket.getAddress();
    await (await f.ocean.oceanToken.connect(f.derek).approve(market, WORKER_STAKE)).wait();
    await expect(f.ph.jobMarket.connect(f.derek).stakeWithEndpoint(WORKER_STAKE, "https://derek.example/api"))
      .to.emit(f.ph.jobMarket, "WorkerEndpointSet")
      .withArgs(f.derek.address, "https://derek.example/api");
    expect(await f.ph.jobMarket.endpointOf(f.derek.address)).to.equal("https://derek.example/api");
    await (await f.ph.jobMarket.connect(f.derek).setEndpoint("https://derek.example/v2")).wait();
    expect(await f.ph.jobMarket.endpointOf(f.derek.address)).to.equal("https://derek.example/v2");
  });

  it("refuses an endpoint longer than 256 bytes, and one from an account without stake", async () => {
    const f = await loadFixture(posthumanFixture);
    const long = "https://" + "x".repeat(249);
    await expect(f.ph.jobMarket.connect(f.worker).setEndpoint(long))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketEndpointTooLong")
      .withArgs(257n, 256n);
    await expect(f.ph.jobMarket.connect(f.charlie).setEndpoint("https://charlie.example"))
      .to.be.revertedWithCustomError(f.ph.jobMarket, "JobMarketNotStaked")
      .withArgs(f.charlie.address);
    expect(await f.ph.jobMarket.endpointOf(f.charlie.address)).to.equal("");
    expect(ethers.toUtf8Bytes(long).length).to.equal(257);
  });
});
