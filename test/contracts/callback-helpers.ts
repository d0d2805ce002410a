import { expect } from "chai";
import { ethers } from "hardhat";
import type { ContractTransactionReceipt } from "ethers";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { posthumanFixture, type PostHumanFixture } from "../fixtures/posthuman";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { findEvent, jobCallback, jobRequest } from "../../offchain/protocol/structs";
import { type JobKindName } from "../../offchain/protocol/params";
import { CallbackConsumerMock__factory, type CallbackConsumerMock } from "../../typechain-types";
import { FEE, INPUT_HASH, LEASE, PARAMS, deadlineIn } from "./helpers";

/** Gas the consumer's hooks get unless a test says otherwise. */
export const CALLBACK_GAS = 300_000;
/** Callback fee unless a test says otherwise: odd, so that the receipt share (rounded up) and the outcome share differ. */
export const CALLBACK_FEE = ethers.parseEther("1") + 1n;

/** CallbackConsumerMock's modes. */
export const Mode = { Record: 0, Revert: 1, BurnAllGas: 2, Reenter: 3, RevertBomb: 4, UseGas: 5 } as const;

export interface ConsumerFixture extends PostHumanFixture {
  consumer: CallbackConsumerMock;
  consumerAddress: string;
}

/** posthumanFixture plus a consumer contract holding 5 M1 datatokens and 1000 base tokens. */
export async function consumerFixture(): Promise<ConsumerFixture> {
  const f = await loadFixture(posthumanFixture);
  const consumer = await new CallbackConsumerMock__factory(f.deployer).deploy(await f.ph.jobMarket.getAddress());
  const consumerAddress = await consumer.getAddress();
  await (await f.ocean.oceanToken.connect(f.bob).transfer(consumerAddress, ethers.parseEther("1000"))).wait();
  await (await datatokenAt(f.m1.datatoken, f.alice).transfer(consumerAddress, ethers.parseEther("5"))).wait();
  return { ...f, consumer, consumerAddress };
}

export interface CallbackJobOptions {
  kind?: JobKindName;
  fee?: bigint;
  gasLimit?: number;
  callbackFee?: bigint;
  lease?: number;
}

/** The consumer requests a job on M1 with a callback; returns its id. */
export async function requestFromConsumer(f: ConsumerFixture, o: CallbackJobOptions = {}): Promise<bigint> {
  const kind = o.kind ?? "Infer";
  const tx = await f.consumer.request(
    jobRequest({
      modelId: f.m1.modelId,
      kind,
      inputHash: INPUT_HASH,
      inputURI: "ipfs://input",
      fee: o.fee ?? FEE,
      deadline: await deadlineIn(o.lease ?? LEASE),
      params: PARAMS[kind],
    }),
    jobCallback({ gasLimit: o.gasLimit ?? CALLBACK_GAS, fee: o.callbackFee ?? CALLBACK_FEE }),
    f.m1.datatoken,
  );
  return findEvent(f.ph.jobMarket, await tx.wait(), "JobRequested").args.jobId as bigint;
}

export async function callbackJobFixture() {
  const f = await loadFixture(consumerFixture);
  const jobId = await requestFromConsumer(f);
  return { ...f, jobId };
}

export async function claimedCallbackJobFixture() {
  const f = await loadFixture(callbackJobFixture);
  await (await f.ph.jobMarket.connect(f.worker).claimJob(f.jobId)).wait();
  return f;
}

/** Base token the market sent `to` in a transaction (e.g. the metered outcome share of a job that did not settle). */
export async function paidTo(
  f: Pick<PostHumanFixture, "ocean" | "ph">,
  receipt: ContractTransactionReceipt,
  to: string,
): Promise<bigint> {
  const token = f.ocean.oceanToken;
  const [tokenAddress, market] = [await token.getAddress(), await f.ph.jobMarket.getAddress()];
  let sum = 0n;
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== tokenAddress.toLowerCase()) continue;
    const ev = token.interface.parseLog(log);
    if (ev?.name === "Transfer" && ev.args[0] === market && ev.args[1] === to) sum += ev.args[2] as bigint;
  }
  return sum;
}

/**
 * The outcome share a transition that did not settle paid its caller: the gas its delivery used at
 * `callbackGasPrice`, so more than nothing and at most the whole transaction's gas at that price, and at most the share.
 */
export async function meteredShare(
  f: Pick<PostHumanFixture, "ocean" | "ph">,
  receipt: ContractTransactionReceipt,
  caller: string,
  share: bigint,
): Promise<bigint> {
  const paid = await paidTo(f, receipt, caller);
  const { callbackGasPrice } = await f.ph.jobMarket.config();
  expect(paid).to.be.greaterThan(0n);
  expect(paid).to.be.at.most(receipt.gasUsed * callbackGasPrice);
  expect(paid).to.be.at.most(share);
  return paid;
}
