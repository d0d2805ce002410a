import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { posthumanFixture, M1_WEIGHTS_ROOT, type PostHumanFixture } from "../fixtures/posthuman";
import {
  ONE_DATATOKEN,
  encodeEvaluateParams,
  encodeInferParams,
  encodeTrainParams,
  type JobKindName,
} from "../../offchain/protocol/params";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { requestJob, submitReceipt } from "../../offchain/deploy/posthuman";
import { jobReceipt, type ReceiptOptions } from "../../offchain/protocol/structs";
import type { IJobMarket } from "../../typechain-types/artifacts/contracts/JobMarket";

export const FEE = ethers.parseEther("10");
export const LEASE = 3_600;
export const INPUT_HASH = ethers.id("input");
export const RUNTIME_ID = ethers.id("posthuman-builtin/1 tfjs-wasm 4.22 fp32");

export const TRAIN_PARAMS = encodeTrainParams({
  steps: 50,
  batchSize: 8,
  contextLength: 64,
  learningRate: 300_000n,
  warmupSteps: 5,
  weightDecay: 10_000_000n,
});
export const INFER_PARAMS = encodeInferParams({ maxTokens: 128, temperature: 800_000, topK: 40 });
export const EVALUATE_PARAMS = encodeEvaluateParams({
  benchmarkId: ethers.id("wikitext-2/loss"),
  contextLength: 64,
  maxTokens: 4096,
});
export const PARAMS: Record<JobKindName, string> = {
  Train: TRAIN_PARAMS,
  Infer: INFER_PARAMS,
  Evaluate: EVALUATE_PARAMS,
};

export async function deadlineIn(seconds: number): Promise<bigint> {
  return BigInt((await time.latest()) + seconds);
}

/** Alice hands `amount` of her M1 datatokens to `to`. */
export async function giveM1(
  f: PostHumanFixture,
  to: HardhatEthersSigner,
  amount = ethers.parseEther("2"),
): Promise<void> {
  await (await datatokenAt(f.m1.datatoken, f.alice).transfer(to.address, amount)).wait();
}

/** `buyer` buys `amount` M1 datatokens on Ocean's FixedRateExchange. */
export async function buyM1(f: PostHumanFixture, buyer: HardhatEthersSigner, amount: bigint): Promise<void> {
  const fre = f.ocean.fixedRate.connect(buyer);
  const [cost] = await fre.calcBaseInGivenOutDT(f.m1.exchangeId, amount, 0);
  await (await f.ocean.oceanToken.connect(buyer).approve(f.ocean.addresses.FixedRateExchange, cost)).wait();
  await (await fre.buyDT(f.m1.exchangeId, amount, cost, ethers.ZeroAddress, 0)).wait();
}

/** The fixture's signer with this address (named accounts and `others`). */
export function signerOf(f: PostHumanFixture, address: string): HardhatEthersSigner {
  const all = [f.deployer, f.alice, f.bob, f.charlie, f.derek, f.elena, f.worker, f.treasury, ...f.others];
  const s = all.find((x) => x.address === address);
  if (!s) throw new Error(`No fixture signer for ${address}`);
  return s;
}

/** Gives `to` one datatoken of `modelId` if it holds less: from alice's supply for M1, else from the model's owner. */
export async function ensureDatatoken(f: PostHumanFixture, to: HardhatEthersSigner, modelId: bigint): Promise<void> {
  const m = await f.ph.registry.getModel(modelId);
  const dt = datatokenAt(m.datatoken, to);
  if ((await dt.balanceOf(to.address)) >= ONE_DATATOKEN) return;
  const from = modelId === f.m1.modelId ? f.alice : signerOf(f, m.owner);
  await (await dt.connect(from).transfer(to.address, ONE_DATATOKEN)).wait();
}

export interface JobOptions {
  requester?: HardhatEthersSigner;
  kind?: JobKindName;
  modelId?: bigint;
  fee?: bigint;
  lease?: number;
  /** The kind's params bytes; PARAMS[kind] by default. */
  params?: string;
}

/** Requests a job (bob, Infer on M1, FEE, LEASE by default), giving the requester the datatoken it needs from alice. */
export async function openJob(f: PostHumanFixture, o: JobOptions = {}): Promise<bigint> {
  const requester = o.requester ?? f.bob;
  const modelId = o.modelId ?? f.m1.modelId;
  await ensureDatatoken(f, requester, modelId);
  const kind = o.kind ?? "Infer";
  return requestJob(f.ph, requester, {
    modelId,
    kind,
    inputHash: INPUT_HASH,
    inputURI: "ipfs://input",
    fee: o.fee ?? FEE,
    deadline: await deadlineIn(o.lease ?? LEASE),
    params: o.params ?? PARAMS[kind],
  });
}

export function receiptFor(o: Partial<ReceiptOptions> = {}): IJobMarket.ReceiptStruct {
  return jobReceipt({
    outputHash: ethers.id("output"),
    outputURI: "ipfs://output",
    servedWeightsRoot: M1_WEIGHTS_ROOT,
    runtimeId: RUNTIME_ID,
    seed: 42n,
    ...o,
  });
}

/** A Train receipt that creates a child with weights root `childRoot`. */
export function trainReceiptFor(servedRoot: string, childRoot: string): ReceiptOptions {
  return {
    outputHash: ethers.id(`output of ${childRoot}`),
    outputURI: `ipfs://${childRoot.slice(2, 10)}`,
    servedWeightsRoot: servedRoot,
    runtimeId: RUNTIME_ID,
    seed: 7n,
    metrics: {
      trainLossBefore: 3_300_000n,
      trainLossAfter: 2_900_000n,
      valLossBefore: 3_310_000n,
      valLossAfter: 2_950_000n,
    },
    childWeightsRoot: childRoot,
    childConfigHash: ethers.id("config"),
  };
}

/** Runs a Train job on `parentId` (served by `parentRoot`) from `trainer` through `worker`'s receipt; returns the child. */
export async function trainChild(
  f: PostHumanFixture,
  trainer: HardhatEthersSigner,
  parentId: bigint,
  parentRoot: string,
  childRoot: string,
  worker: HardhatEthersSigner = f.worker,
): Promise<{ jobId: bigint; childId: bigint }> {
  const jobId = await openJob(f, { requester: trainer, kind: "Train", modelId: parentId });
  await (await f.ph.jobMarket.connect(worker).claimJob(jobId)).wait();
  const childId = await submitReceipt(f.ph.jobMarket, worker, jobId, trainReceiptFor(parentRoot, childRoot));
  return { jobId, childId };
}

// ─── Fixtures built on posthumanFixture (module-level functions, as loadFixture requires) ─────────────────────

export async function openJobFixture() {
  const f = await loadFixture(posthumanFixture);
  const jobId = await openJob(f);
  return { ...f, jobId };
}

export async function claimedJobFixture() {
  const f = await loadFixture(openJobFixture);
  await (await f.ph.jobMarket.connect(f.worker).claimJob(f.jobId)).wait();
  return f;
}

export async function submittedJobFixture() {
  const f = await loadFixture(claimedJobFixture);
  await (await f.ph.jobMarket.connect(f.worker).submitReceipt(f.jobId, receiptFor())).wait();
  return f;
}

/** The submitted job's receipt challenged by elena, a third party: the requester (bob) may join it for a while. */
export async function freshChallengeFixture() {
  const f = await loadFixture(submittedJobFixture);
  await (
    await f.ocean.oceanToken.connect(f.elena).approve(await f.ph.jobMarket.getAddress(), f.params.challengeBond)
  ).wait();
  await (await f.ph.jobMarket.connect(f.elena).challengeReceipt(f.jobId)).wait();
  return f;
}

/** elena's challenge once the requester's join period is over: the arbiter may decide it. */
export async function challengedJobFixture() {
  const f = await loadFixture(freshChallengeFixture);
  await time.increase(f.params.challengeWindow + 1);
  return f;
}

/** Bob's Train job on M1, submitted by `worker`: M2 (id 2) exists with parent M1. */
export async function trainedFixture() {
  const f = await loadFixture(posthumanFixture);
  const m2Root = ethers.id("M2 weights");
  const { jobId, childId } = await trainChild(f, f.bob, f.m1.modelId, M1_WEIGHTS_ROOT, m2Root);
  return { ...f, jobId, m2Id: childId, m2Root };
}

/** The trained fixture with the Train job's receipt challenged by elena, the requester's join period over. */
export async function challengedTrainFixture() {
  const f = await loadFixture(trainedFixture);
  await (
    await f.ocean.oceanToken.connect(f.elena).approve(await f.ph.jobMarket.getAddress(), f.params.challengeBond)
  ).wait();
  await (await f.ph.jobMarket.connect(f.elena).challengeReceipt(f.jobId)).wait();
  await time.increase(f.params.challengeWindow + 1); // past the requester's join period: the arbiter may decide
  return f;
}

export async function baseBalance(
  f: PostHumanFixture,
  who: string | { getAddress(): Promise<string> },
): Promise<bigint> {
  const address = typeof who === "string" ? who : await who.getAddress();
  return f.ocean.oceanToken.balanceOf(address);
}
