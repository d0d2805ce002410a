/**
 * Gas of PostHuman's protocol operations on the in-process Hardhat network (real Ocean contracts underneath).
 *   POSTHUMAN_BENCH=gas npm run bench     → bench/results/gas.json
 * `benchGas()` is also what scripts/check-gas.ts compares with bench/gas-baseline.json.
 * Claims are measured for the same kind of account (first claim, shares received once) whatever the lineage depth
 * or the number of holders, so the figures isolate what depth and holders cost: nothing, by design.
 * Callback delivery is measured as the difference between a job requested by a contract with a callback (whose hooks
 * do nothing: contracts/test/MinimalConsumer.sol) and the same job requested plainly, at the receipt and at the
 * settlement; Ritual Infernet's published delivery overhead is recorded beside it as the figure to beat.
 */
import { ethers } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse } from "ethers";
import { deployOcean } from "../deploy/ocean";
import { ONE_DATATOKEN, TOTAL_SHARES, encodeInferParams, encodeTrainParams } from "../protocol/params";
import { datatokenAt, vaultAt, type PostHumanContracts } from "../protocol/contracts";
import { commitWeightsRoot, deployPostHuman, publishModel } from "../deploy/posthuman";
import {
  findEvent,
  jobCallback,
  jobReceipt,
  jobRequest,
  publishParams,
  type PublishModelOptions,
} from "../protocol/structs";
import type { BenchFigure } from "./figures";
import { MinimalConsumer__factory, type OceanToken } from "../../typechain-types";

const GAS = "gas";
const FEE = ethers.parseEther("10");
const REVENUE = ethers.parseEther("100");
const TRAIN = encodeTrainParams({
  steps: 50,
  batchSize: 8,
  contextLength: 64,
  learningRate: 300_000n,
  warmupSteps: 5,
  weightDecay: 0n,
});
const INFER = encodeInferParams({ maxTokens: 128, temperature: 800_000, topK: 40 });
/**
 * Ritual Infernet's Coordinator.DELIVERY_OVERHEAD_WEI (ritual-net/infernet-sdk, src/Coordinator.sol: 52,850 gas in the
 * releases that published it; later releases raised it to 56,600): the gas a delivery to a consumer costs on top of the
 * consumer's own callback.
 */
export const RITUAL_INFERNET_DELIVERY_OVERHEAD = 52_850;

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<number> {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error("transaction not mined");
  return Number(receipt.gasUsed);
}

interface Ctx {
  ph: PostHumanContracts;
  base: OceanToken;
  requester: HardhatEthersSigner;
  worker: HardhatEthersSigner;
}

const m1: PublishModelOptions = {
  name: "Bench model",
  symbol: "BENCH",
  weightsRoot: ethers.id("bench weights"),
  configHash: ethers.id("bench config"),
  dataHash: ethers.id("bench data"),
  metadataURI: "ipfs://bench-model-card",
  baseline: { benchmarkId: ethers.id("wikitext-2/loss"), metric: 3_250_000n },
  pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
  initialSupply: ethers.parseEther("1000"),
};

async function request(
  c: Ctx,
  modelId: bigint,
  kind: "Train" | "Infer",
  lease = 3_600,
  requester: HardhatEthersSigner = c.requester,
): Promise<{ jobId: bigint; gas: number }> {
  const market = await c.ph.jobMarket.getAddress();
  const model = await c.ph.registry.getModel(modelId);
  await (await datatokenAt(model.datatoken, requester).approve(market, ONE_DATATOKEN)).wait();
  await (await c.base.connect(requester).approve(market, FEE)).wait();
  const block = await ethers.provider.getBlock("latest");
  const deadline = BigInt((block?.timestamp ?? 0) + lease);
  const tx = c.ph.jobMarket.connect(requester).requestJob(
    jobRequest({
      modelId,
      kind,
      inputHash: ethers.id("input"),
      inputURI: "ipfs://input",
      fee: FEE,
      deadline,
      params: kind === "Train" ? TRAIN : INFER,
    }),
  );
  const gas = await gasOf(tx);
  return { jobId: await c.ph.jobMarket.jobCount(), gas };
}

function receipt(served: string, child?: string) {
  return jobReceipt({
    outputHash: ethers.id("output"),
    outputURI: "ipfs://output",
    servedWeightsRoot: served,
    runtimeId: ethers.id("posthuman-builtin/1"),
    seed: 42n,
    metrics: { valLossBefore: 3_300_000n, valLossAfter: 2_900_000n, evalTokens: 128n },
    childWeightsRoot: child,
    childConfigHash: child ? ethers.id("config") : undefined,
  });
}

async function increase(seconds: number): Promise<void> {
  await ethers.provider.send("evm_increaseTime", [seconds]);
  await ethers.provider.send("evm_mine", []);
}

/** Trains a child of `parentId` (`trainer` pays, the worker serves `parentRoot`); returns child id and gas. */
async function trainChild(
  c: Ctx,
  trainer: HardhatEthersSigner,
  parentId: bigint,
  parentRoot: string,
  childRoot: string,
) {
  const { jobId } = await request(c, parentId, "Train", 3_600, trainer);
  await (await c.ph.jobMarket.connect(c.worker).claimJob(jobId)).wait();
  // The worker's commitment to the child root (a block before the receipt) is measured as "commit weights root".
  await commitWeightsRoot(c.ph.registry, c.worker, childRoot);
  const gas = await gasOf(c.ph.jobMarket.connect(c.worker).submitReceipt(jobId, receipt(parentRoot, childRoot)));
  return { childId: await c.ph.registry.modelCount(), gas };
}

/**
 * Books revenue of both assets in a vault (REVENUE base token paid in, one datatoken sent as an order would), then
 * measures `holder`'s first claim, which pays both.
 */
async function claimGas(
  c: Ctx,
  vaultAddress: string,
  holder: string,
  datatokenHolder: HardhatEthersSigner,
): Promise<number> {
  const vault = vaultAt(vaultAddress, c.requester);
  await (await c.base.connect(c.requester).approve(vaultAddress, REVENUE)).wait();
  await (await vault.pay(REVENUE)).wait();
  await (await datatokenAt(await vault.datatoken(), datatokenHolder).transfer(vaultAddress, ONE_DATATOKEN)).wait();
  await (await vault.distribute()).wait();
  return gasOf(vault.claim(holder));
}

/**
 * Gas a callback adds at the receipt and at the settlement (settled by the worker, as its pipeline does): the same
 * inference job once requested plainly, once by MinimalConsumer with a 100,000-gas callback and a callback fee.
 */
async function callbackOverhead(
  c: Ctx,
  modelId: bigint,
  datatoken: string,
  datatokenHolder: HardhatEthersSigner,
): Promise<[string, number][]> {
  const m = c.ph.jobMarket;
  const consumer = await new MinimalConsumer__factory(c.requester).deploy(await m.getAddress());
  const consumerAddress = await consumer.getAddress();
  await (await datatokenAt(datatoken, datatokenHolder).transfer(consumerAddress, ONE_DATATOKEN)).wait();
  await (await c.base.connect(c.requester).transfer(consumerAddress, ethers.parseEther("100"))).wait();
  const block = await ethers.provider.getBlock("latest");
  const req = jobRequest({
    modelId,
    kind: "Infer",
    inputHash: ethers.id("input"),
    inputURI: "ipfs://input",
    fee: FEE,
    deadline: BigInt((block?.timestamp ?? 0) + 3_600),
    params: INFER,
  });
  const tx = await consumer.request(req, jobCallback({ gasLimit: 100_000, fee: ethers.parseEther("1") }), datatoken);
  const withCallback = findEvent(m, await tx.wait(), "JobRequested").args.jobId as bigint;
  const plain = (await request(c, modelId, "Infer")).jobId;
  const served = (await c.ph.registry.getModel(modelId)).weightsRoot;
  const gas: Record<string, number> = {};
  for (const [key, jobId] of [
    ["plain", plain],
    ["callback", withCallback],
  ] as const) {
    await (await m.connect(c.worker).claimJob(jobId)).wait();
    gas[`${key} receipt`] = await gasOf(m.connect(c.worker).submitReceipt(jobId, receipt(served)));
  }
  await increase(Number((await m.config()).challengeWindow) + 1);
  for (const [key, jobId] of [
    ["plain", plain],
    ["callback", withCallback],
  ] as const) {
    gas[`${key} settle`] = await gasOf(m.connect(c.worker).settleJob(jobId));
  }
  return [
    ["receipt", gas["callback receipt"] - gas["plain receipt"]],
    ["settled", gas["callback settle"] - gas["plain settle"]],
  ];
}

export async function benchGas(): Promise<BenchFigure[]> {
  const signers = await ethers.getSigners();
  const [deployer, publisher, requester, worker, treasury, arbiter, requester2] = signers;
  const ocean = await deployOcean(deployer);
  const ph = await deployPostHuman(deployer, ocean.addresses, { treasury: treasury.address, arbiter: arbiter.address });
  const c: Ctx = { ph, base: ocean.oceanToken, requester, worker };
  for (const s of [requester, requester2, worker, publisher])
    await (await ocean.oceanToken.mint(s.address, ethers.parseEther("1000000"))).wait();
  await (
    await ocean.oceanToken.connect(worker).approve(await ph.jobMarket.getAddress(), ethers.parseEther("100000"))
  ).wait();
  await (await ph.jobMarket.connect(worker).stake(ethers.parseEther("100000"))).wait();
  const figures: BenchFigure[] = [];
  const add = (name: string, value: number, params: Record<string, unknown> = {}) =>
    figures.push({ name, value, unit: GAS, params });

  // Publish a root model (Ocean NFT + datatoken + fixed-rate exchange + metadata + vault + initial supply).
  // (A weights root belongs to one model: the measured publication has its own.)
  // Publishing takes two transactions: the commitment to the weights root, then (a block later) the publish.
  const measured = { ...m1, weightsRoot: ethers.id("bench publication weights") };
  const commitment = await ph.registry.weightsRootCommitment(publisher.address, measured.weightsRoot);
  add("commit weights root", await gasOf(ph.registry.connect(publisher).commitWeightsRoot(commitment)));
  const publishGas = await gasOf(ph.registry.connect(publisher).publishModel(publishParams(measured)));
  add("publish model (fixed rate)", publishGas);
  const root = await publishModel(ph.registry, publisher, { ...m1, name: "Root", symbol: "ROOT" });
  await (await datatokenAt(root.datatoken, publisher).transfer(requester.address, ethers.parseEther("100"))).wait();

  // An inference job through its whole life: request, claim, submit, settle.
  const infer = await request(c, root.modelId, "Infer");
  const claimJobGas = await gasOf(ph.jobMarket.connect(worker).claimJob(infer.jobId));
  const receiptGas = await gasOf(ph.jobMarket.connect(worker).submitReceipt(infer.jobId, receipt(m1.weightsRoot)));
  await increase(Number((await ph.jobMarket.config()).challengeWindow) + 1);
  // Settling orders the escrowed datatoken on Ocean (startOrder: 0.97 to the vault, 0.03 to Ocean) for the requester.
  const settleGas = await gasOf(ph.jobMarket.settleJob(infer.jobId));
  add("request job (infer)", infer.gas);
  add("claim job", claimJobGas);
  add("submit receipt (infer)", receiptGas);
  add("settle job", settleGas);
  add("full inference job (request, claim, receipt, settle)", infer.gas + claimJobGas + receiptGas + settleGas);

  // The same inference job requested by a contract with a callback whose hooks do nothing, next to a plain one: the
  // differences are what delivering the receipt and the outcome costs the worker.
  for (const [name, value] of await callbackOverhead(c, root.modelId, root.datatoken, publisher)) {
    add("callback delivery overhead", value, { stage: name });
  }
  add("Ritual Infernet delivery overhead (published)", RITUAL_INFERNET_DELIVERY_OVERHEAD);
  const receiptOverhead = figures.find((f) => f.name === "callback delivery overhead")?.value ?? 0;
  figures.push({
    name: "callback delivery overhead / Ritual Infernet's",
    value: Math.round((receiptOverhead / RITUAL_INFERNET_DELIVERY_OVERHEAD) * 1000) / 1000,
    unit: "ratio",
    params: { stage: "receipt" },
  });

  // A claimed job that passes its deadline: reclaimed, collateral slashed to the requester.
  const late = await request(c, root.modelId, "Infer", 600);
  await (await ph.jobMarket.connect(worker).claimJob(late.jobId)).wait();
  await increase(601);
  add("reclaim job (slashing the claimant)", await gasOf(ph.jobMarket.reclaimJob(late.jobId)));

  // Training creates the child model in the receipt's transaction; then a lineage 32 generations deep, trained
  // alternately by two accounts so that every generation has two contributors (trainer and parent's side).
  let parentId = root.modelId;
  let parentRoot = m1.weightsRoot;
  const idByDepth = new Map<number, bigint>();
  const signerOf = new Map([publisher, requester, requester2].map((s) => [s.address, s]));
  for (let depth = 1; depth <= 32; depth++) {
    const trainer = depth % 2 === 1 ? requester : requester2;
    const parent = await ph.registry.getModel(parentId);
    const parentToken = datatokenAt(parent.datatoken, trainer);
    if ((await parentToken.balanceOf(trainer.address)) < ONE_DATATOKEN) {
      const owner = signerOf.get(parent.owner) ?? publisher;
      await (await parentToken.connect(owner).transfer(trainer.address, ONE_DATATOKEN)).wait();
    }
    const childRoot = ethers.id(`generation ${depth}`);
    const { childId, gas } = await trainChild(c, trainer, parentId, parentRoot, childRoot);
    if (depth === 1) add("submit receipt (train, creates the child model)", gas);
    idByDepth.set(depth, childId);
    parentId = childId;
    parentRoot = childRoot;
  }

  // Moving revenue up one level: a generation-1 vault sends the parent royalty to the root's vault.
  const g1 = await ph.registry.getModel(idByDepth.get(1) ?? 0n);
  await (await c.base.connect(requester).approve(g1.vault, REVENUE)).wait();
  await (await vaultAt(g1.vault, requester).pay(REVENUE)).wait();
  add(
    "distribute one level (to holders and the parent's vault)",
    await gasOf(vaultAt(g1.vault, requester).distribute()),
  );

  // Claims at depth 1 and 32: the parent side's first claim on a derived model's vault.
  for (const depth of [1, 32]) {
    const m = await ph.registry.getModel(idByDepth.get(depth) ?? 0n);
    const owner = signerOf.get(m.owner) ?? requester;
    add("claim revenue", await claimGas(c, m.vault, m.parentSide, owner), { depth });
  }

  // Claims with 2 and 50 share holders: a root vault whose publisher spread its shares; one recipient claims.
  for (const holders of [2, 50]) {
    const model = await publishModel(ph.registry, publisher, {
      ...m1,
      weightsRoot: ethers.id(`holders ${holders} weights`),
      name: `Holders ${holders}`,
      symbol: `H${holders}`,
    });
    const vault = vaultAt(model.vault, publisher);
    const recipients = Array.from({ length: holders - 1 }, (_, i) =>
      ethers.getAddress(ethers.zeroPadValue(ethers.toBeHex(0x1000 * holders + i + 1), 20)),
    );
    for (const r of recipients) await (await vault.transfer(r, TOTAL_SHARES / BigInt(holders))).wait();
    add("claim revenue", await claimGas(c, model.vault, recipients[0], publisher), { holders });
  }
  return figures;
}
