/**
 * Deployment and thin typed helpers for PostHuman's protocol contracts (ModelRegistry, JobMarket, RoyaltyVault
 * clones, DatatokenMarket). Shared by the deploy script, the tests, the worker and the SDK.
 * The parameters, their units and their defaults are documented in docs/contracts.md ("Parameters").
 */
import { createHash } from "node:crypto";
import { ethers, type ContractRunner, type Signer } from "ethers";
import {
  DatatokenMarket__factory,
  ERC20Template__factory,
  FinetuneBounty__factory,
  JobMarket__factory,
  ModelRegistry__factory,
  RoyaltyVault__factory,
  type DatatokenMarket,
  type ERC20Template,
  type FinetuneBounty,
  type JobMarket,
  type ModelRegistry,
  type RoyaltyVault,
} from "../../typechain-types";
import type { IJobMarket } from "../../typechain-types/artifacts/contracts/JobMarket";
import type { IModelRegistry } from "../../typechain-types/artifacts/contracts/ModelRegistry";
import type { IFinetuneBounty } from "../../typechain-types/artifacts/contracts/examples/FinetuneBounty";
import type { OceanAddresses } from "./ocean";

/** Losses and other metrics are fixed-point integers: value × 1e6 (a loss of 3.2581 nats is 3258100). */
export const LOSS_SCALE = 1_000_000n;
/** Learning rate and weight decay in TrainParams are value × 1e9 (3e-4 is 300000). */
export const RATE_SCALE = 1_000_000_000n;
/** Temperature in InferParams is value × 1e6. */
export const TEMPERATURE_SCALE = 1_000_000n;
/** An Ocean order (and so every job request) consumes exactly one datatoken. */
export const ONE_DATATOKEN = 10n ** 18n;
/** Fixed supply of every royalty vault's shares. */
export const TOTAL_SHARES = 1_000_000n * 10n ** 18n;

export const JobKind = { Train: 0, Infer: 1, Evaluate: 2 } as const;
export type JobKindName = keyof typeof JobKind;
export type JobKindValue = (typeof JobKind)[JobKindName];

export const JobStatus = {
  None: 0,
  Open: 1,
  Claimed: 2,
  Submitted: 3,
  Challenged: 4,
  Settled: 5,
  Cancelled: 6,
  Failed: 7,
  Reclaimed: 8,
  Slashed: 9,
} as const;
export type JobStatusName = keyof typeof JobStatus;
/** States a job never leaves. */
export const TERMINAL_STATUSES: readonly number[] = [
  JobStatus.Settled,
  JobStatus.Cancelled,
  JobStatus.Failed,
  JobStatus.Reclaimed,
  JobStatus.Slashed,
];

export const PricingKind = { FixedRate: 0, Dispenser: 1 } as const;

/** Protocol parameters, fixed at deployment (see docs/contracts.md). */
export interface PostHumanParams {
  /** Deepest generation a derived model may have. */
  maxDepth: number;
  /** Part (bps) of a derived model's reward datatokens and vault shares that goes to the trainer; the rest to the parent's side. */
  trainerShareBps: number;
  /** Part (bps) of the base token a derived model's vault receives that flows to its parent's vault. */
  parentRoyaltyBps: number;
  /** Datatokens (wei) minted for every derived model. */
  rewardSupply: bigint;
  /** Protocol fee (bps) taken from settled job fees for the treasury; at most 1000. */
  protocolFeeBps: number;
  /** Collateral a claim locks, in bps of the job's fee. */
  collateralBps: number;
  /** Part (bps) of a slashed collateral that a winning challenger receives; the rest goes to the requester. */
  challengerRewardBps: number;
  /** Seconds after a receipt during which it can be challenged. */
  challengeWindow: number;
  /** Seconds the arbiter has to decide a challenge before it lapses. */
  arbitrationWindow: number;
  /** Seconds between an unstake request and its withdrawal. */
  unstakeDelay: number;
  /** Base-token wei bonded by a challenger. */
  challengeBond: bigint;
  /** Base-token wei of stake (free + locked) a worker needs to claim, and keeps while it has claims. */
  minWorkerStake: bigint;
  /** Base-token wei per unit of callback gas: a callback fee must be at least 2 × gasLimit × this. */
  callbackGasPrice: bigint;
  /** Part (bps) of its collateral a claimant pays the requester when it fails a job for a reason of its own. */
  failPenaltyBps: number;
}

export const DEFAULT_PARAMS: PostHumanParams = {
  maxDepth: 64,
  trainerShareBps: 7_000,
  parentRoyaltyBps: 2_000,
  rewardSupply: ethers.parseEther("100"),
  protocolFeeBps: 250,
  collateralBps: 10_000,
  challengerRewardBps: 5_000,
  challengeWindow: 3_600,
  arbitrationWindow: 3 * 86_400,
  unstakeDelay: 7 * 86_400,
  challengeBond: ethers.parseEther("10"),
  minWorkerStake: ethers.parseEther("100"),
  callbackGasPrice: 100_000_000_000n,
  failPenaltyBps: 2_000,
};

export interface PostHumanAddresses {
  ModelRegistry: string;
  JobMarket: string;
  DatatokenMarket: string;
  RoyaltyVaultImplementation: string;
}

export interface PostHumanContracts {
  registry: ModelRegistry;
  jobMarket: JobMarket;
  datatokenMarket: DatatokenMarket;
  vaultImplementation: RoyaltyVault;
  addresses: PostHumanAddresses & Record<string, string>;
}

export interface DeployPostHumanOptions extends Partial<PostHumanParams> {
  /** Receives the protocol fee. */
  treasury: string;
  /** Decides challenges. */
  arbiter: string;
  /** Base ERC20 of fees, stakes, prices and revenue; defaults to Ocean's OceanToken. */
  baseToken?: string;
}

/** Binds typed contracts to an address book's PostHuman addresses. */
export function attachPostHuman(addresses: PostHumanAddresses, runner: ContractRunner): PostHumanContracts {
  return {
    registry: ModelRegistry__factory.connect(addresses.ModelRegistry, runner),
    jobMarket: JobMarket__factory.connect(addresses.JobMarket, runner),
    datatokenMarket: DatatokenMarket__factory.connect(addresses.DatatokenMarket, runner),
    vaultImplementation: RoyaltyVault__factory.connect(addresses.RoyaltyVaultImplementation, runner),
    addresses: { ...addresses },
  };
}

/**
 * Deploys PostHuman on top of an Ocean deployment, in four transactions from `deployer` with consecutive nonces:
 * the vault implementation, the registry (told the job market's future address), the job market (whose constructor
 * checks that the registry names it) and the datatoken market. Deterministic: the same deployer nonce gives the same
 * addresses. Nothing is owned afterwards: every parameter is immutable.
 */
export async function deployPostHuman(
  deployer: Signer,
  ocean: OceanAddresses,
  opts: DeployPostHumanOptions,
): Promise<PostHumanContracts> {
  const p: PostHumanParams = { ...DEFAULT_PARAMS, ...stripUndefined(opts) };
  const from = await deployer.getAddress();
  const baseToken = opts.baseToken ?? ocean.OceanToken;
  const nonce = await deployer.getNonce("pending");

  const vault = await new RoyaltyVault__factory(deployer).deploy({ nonce });
  const marketAddress = ethers.getCreateAddress({ from, nonce: nonce + 2 });
  const registry = await new ModelRegistry__factory(deployer).deploy(
    {
      oceanFactory: ocean.ERC721Factory,
      fixedRateExchange: ocean.FixedRateExchange,
      dispenser: ocean.Dispenser,
      baseToken,
      jobMarket: marketAddress,
      vaultImplementation: await vault.getAddress(),
      maxDepth: p.maxDepth,
      trainerShareBps: p.trainerShareBps,
      parentRoyaltyBps: p.parentRoyaltyBps,
      rewardSupply: p.rewardSupply,
    },
    { nonce: nonce + 1 },
  );
  const jobMarket = await new JobMarket__factory(deployer).deploy(
    {
      registry: await registry.getAddress(),
      baseToken,
      treasury: opts.treasury,
      arbiter: opts.arbiter,
      protocolFeeBps: p.protocolFeeBps,
      collateralBps: p.collateralBps,
      challengerRewardBps: p.challengerRewardBps,
      challengeWindow: p.challengeWindow,
      arbitrationWindow: p.arbitrationWindow,
      unstakeDelay: p.unstakeDelay,
      challengeBond: p.challengeBond,
      minWorkerStake: p.minWorkerStake,
      callbackGasPrice: p.callbackGasPrice,
      failPenaltyBps: p.failPenaltyBps,
    },
    { nonce: nonce + 2 },
  );
  const datatokenMarket = await new DatatokenMarket__factory(deployer).deploy(await registry.getAddress(), baseToken, {
    nonce: nonce + 3,
  });
  for (const c of [vault, registry, jobMarket, datatokenMarket]) await c.waitForDeployment();
  if ((await jobMarket.getAddress()) !== marketAddress) {
    throw new Error(`JobMarket landed at ${await jobMarket.getAddress()}, not at ${marketAddress}: redeploy.`);
  }
  return attachPostHuman(
    {
      ModelRegistry: await registry.getAddress(),
      JobMarket: marketAddress,
      DatatokenMarket: await datatokenMarket.getAddress(),
      RoyaltyVaultImplementation: await vault.getAddress(),
    },
    deployer,
  );
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ─── Encodings ─────────────────────────────────────────────────────────────────────────────────────────────────

export interface TrainParams {
  steps: number;
  batchSize: number;
  contextLength: number;
  /** × 1e9 (RATE_SCALE). */
  learningRate: bigint;
  warmupSteps: number;
  /** × 1e9 (RATE_SCALE). */
  weightDecay: bigint;
}
export interface InferParams {
  maxTokens: number;
  /** × 1e6 (TEMPERATURE_SCALE). */
  temperature: number;
  /** 0: no top-k cut. */
  topK: number;
}
export interface EvaluateParams {
  benchmarkId: string;
  contextLength: number;
  maxTokens: number;
}
export type JobParams =
  | { kind: "Train"; params: TrainParams }
  | { kind: "Infer"; params: InferParams }
  | { kind: "Evaluate"; params: EvaluateParams };

const coder = ethers.AbiCoder.defaultAbiCoder();
const TRAIN_TYPES = ["uint32", "uint32", "uint32", "uint64", "uint32", "uint64"];
const INFER_TYPES = ["uint32", "uint32", "uint32"];
const EVALUATE_TYPES = ["bytes32", "uint32", "uint32"];

export function encodeTrainParams(p: TrainParams): string {
  return coder.encode(TRAIN_TYPES, [
    p.steps,
    p.batchSize,
    p.contextLength,
    p.learningRate,
    p.warmupSteps,
    p.weightDecay,
  ]);
}
export function encodeInferParams(p: InferParams): string {
  return coder.encode(INFER_TYPES, [p.maxTokens, p.temperature, p.topK]);
}
export function encodeEvaluateParams(p: EvaluateParams): string {
  return coder.encode(EVALUATE_TYPES, [p.benchmarkId, p.contextLength, p.maxTokens]);
}
export function encodeJobParams(p: JobParams): string {
  if (p.kind === "Train") return encodeTrainParams(p.params);
  if (p.kind === "Infer") return encodeInferParams(p.params);
  return encodeEvaluateParams(p.params);
}

/** Decodes a job's `params` bytes (from JobRequested) according to its kind. */
export function decodeJobParams(kind: number | bigint, data: string): JobParams {
  const k = Number(kind);
  if (k === JobKind.Train) {
    const [steps, batchSize, contextLength, learningRate, warmupSteps, weightDecay] = coder.decode(TRAIN_TYPES, data);
    return {
      kind: "Train",
      params: {
        steps: Number(steps),
        batchSize: Number(batchSize),
        contextLength: Number(contextLength),
        learningRate: BigInt(learningRate),
        warmupSteps: Number(warmupSteps),
        weightDecay: BigInt(weightDecay),
      },
    };
  }
  if (k === JobKind.Infer) {
    const [maxTokens, temperature, topK] = coder.decode(INFER_TYPES, data);
    return {
      kind: "Infer",
      params: { maxTokens: Number(maxTokens), temperature: Number(temperature), topK: Number(topK) },
    };
  }
  if (k === JobKind.Evaluate) {
    const [benchmarkId, contextLength, maxTokens] = coder.decode(EVALUATE_TYPES, data);
    return {
      kind: "Evaluate",
      params: { benchmarkId: String(benchmarkId), contextLength: Number(contextLength), maxTokens: Number(maxTokens) },
    };
  }
  throw new Error(`Unknown job kind ${k}`);
}

/** A benchmark id: keccak256 of its name, e.g. benchmarkId("wikitext-2/loss"). */
export function benchmarkId(name: string): string {
  return ethers.keccak256(ethers.toUtf8Bytes(name));
}

/** A loss (nats) as the fixed-point integer the contracts store. */
export function toFixedLoss(loss: number): bigint {
  return BigInt(Math.round(loss * Number(LOSS_SCALE)));
}

/** Plain (unencrypted, uncompressed) Ocean metadata for a DDO: flags 0x00, data = JSON bytes, hash = sha256. */
export function plainOceanMetadata(ddo: unknown, decryptorUrl = ""): IModelRegistry.OceanMetadataStruct {
  const data = ethers.toUtf8Bytes(JSON.stringify(ddo));
  return {
    state: 0,
    decryptorUrl,
    decryptorAddress: "",
    flags: "0x00",
    data,
    dataHash: "0x" + createHash("sha256").update(data).digest("hex"),
  };
}

export const EMPTY_METRICS: IJobMarket.MetricsStruct = {
  trainLossBefore: 0n,
  trainLossAfter: 0n,
  valLossBefore: 0n,
  valLossAfter: 0n,
  evalLoss: 0n,
  evalTokens: 0n,
};

// ─── Thin helpers that return parsed ids ───────────────────────────────────────────────────────────────────────

export interface PublishModelOptions {
  name: string;
  symbol: string;
  weightsRoot: string;
  configHash?: string;
  dataHash?: string;
  metadataURI?: string;
  baseline?: { benchmarkId: string; metric: bigint };
  /** Fixed-rate price (base-token wei per whole datatoken), or free through the dispenser. */
  pricing: { kind: "FixedRate"; rate: bigint } | { kind: "Dispenser"; maxTokens: bigint; maxBalance: bigint };
  initialSupply?: bigint;
  oceanMetadata?: IModelRegistry.OceanMetadataStruct;
}

export interface PublishedModel {
  modelId: bigint;
  nft: string;
  datatoken: string;
  vault: string;
  /** FixedRateExchange id, or ZeroHash for a dispenser-priced model. */
  exchangeId: string;
  txHash: string;
}

export function publishParams(o: PublishModelOptions): IModelRegistry.PublishParamsStruct {
  return {
    name: o.name,
    symbol: o.symbol,
    weightsRoot: o.weightsRoot,
    configHash: o.configHash ?? ethers.ZeroHash,
    dataHash: o.dataHash ?? ethers.ZeroHash,
    metadataURI: o.metadataURI ?? "",
    baseline: o.baseline ?? { benchmarkId: ethers.ZeroHash, metric: 0n },
    pricing:
      o.pricing.kind === "FixedRate"
        ? { kind: PricingKind.FixedRate, rate: o.pricing.rate, dispenserMaxTokens: 0n, dispenserMaxBalance: 0n }
        : {
            kind: PricingKind.Dispenser,
            rate: 0n,
            dispenserMaxTokens: o.pricing.maxTokens,
            dispenserMaxBalance: o.pricing.maxBalance,
          },
    initialSupply: o.initialSupply ?? 0n,
    oceanMetadata:
      o.oceanMetadata ??
      plainOceanMetadata({ name: o.name, symbol: o.symbol, weightsRoot: o.weightsRoot, uri: o.metadataURI ?? "" }),
  };
}

/** Publishes a root model from `signer` and returns its ids and addresses. */
export async function publishModel(
  registry: ModelRegistry,
  signer: Signer,
  o: PublishModelOptions,
): Promise<PublishedModel> {
  const tx = await registry.connect(signer).publishModel(publishParams(o));
  const receipt = await tx.wait();
  return publishedModelOf(findEvent(registry, receipt, "ModelPublished"), tx.hash);
}

/** What a ModelPublished event says of the new model. */
export function publishedModelOf(ev: ethers.LogDescription, txHash: string): PublishedModel {
  return {
    modelId: ev.args.modelId as bigint,
    nft: ev.args.nft as string,
    datatoken: ev.args.datatoken as string,
    vault: ev.args.vault as string,
    exchangeId: ev.args.exchangeId as string,
    txHash,
  };
}

export interface RequestJobOptions {
  modelId: bigint;
  kind: JobKindName;
  inputHash: string;
  inputURI?: string;
  fee: bigint;
  deadline: bigint | number;
  params: string;
}

export function jobRequest(o: RequestJobOptions): IJobMarket.JobRequestStruct {
  return {
    modelId: o.modelId,
    kind: JobKind[o.kind],
    inputHash: o.inputHash,
    inputURI: o.inputURI ?? "",
    fee: o.fee,
    deadline: o.deadline,
    params: o.params,
  };
}

/**
 * Requests a job from `signer`: approves the job market for one datatoken of the model and the fee (unless
 * `approve` is false), then requests. Returns the job id.
 */
export async function requestJob(
  contracts: Pick<PostHumanContracts, "registry" | "jobMarket">,
  signer: Signer,
  o: RequestJobOptions,
  approve = true,
): Promise<bigint> {
  const market = await contracts.jobMarket.getAddress();
  if (approve) {
    const model = await contracts.registry.getModel(o.modelId);
    const base = (await contracts.jobMarket.config()).baseToken;
    await (await datatokenAt(model.datatoken, signer).approve(market, ONE_DATATOKEN)).wait();
    await (await ERC20Template__factory.connect(base, signer).approve(market, o.fee)).wait();
  }
  const receipt = await (await contracts.jobMarket.connect(signer).requestJob(jobRequest(o))).wait();
  return findEvent(contracts.jobMarket, receipt, "JobRequested").args.jobId as bigint;
}

export interface ReceiptOptions {
  outputHash: string;
  outputURI?: string;
  servedWeightsRoot: string;
  runtimeId: string;
  seed?: bigint;
  metrics?: Partial<IJobMarket.MetricsStruct>;
  childWeightsRoot?: string;
  childConfigHash?: string;
}

export function jobReceipt(o: ReceiptOptions): IJobMarket.ReceiptStruct {
  return {
    outputHash: o.outputHash,
    outputURI: o.outputURI ?? "",
    servedWeightsRoot: o.servedWeightsRoot,
    runtimeId: o.runtimeId,
    seed: o.seed ?? 0n,
    metrics: { ...EMPTY_METRICS, ...(o.metrics ?? {}) },
    childWeightsRoot: o.childWeightsRoot ?? ethers.ZeroHash,
    childConfigHash: o.childConfigHash ?? ethers.ZeroHash,
  };
}

/** Submits the claimant's receipt; returns the child model id a Train job created (0n otherwise). */
export async function submitReceipt(
  jobMarket: JobMarket,
  worker: Signer,
  jobId: bigint,
  o: ReceiptOptions,
): Promise<bigint> {
  const receipt = await (await jobMarket.connect(worker).submitReceipt(jobId, jobReceipt(o))).wait();
  return findEvent(jobMarket, receipt, "ReceiptSubmitted").args.childModelId as bigint;
}

export function datatokenAt(address: string, runner: ContractRunner): ERC20Template {
  return ERC20Template__factory.connect(address, runner);
}

export function vaultAt(address: string, runner: ContractRunner): RoyaltyVault {
  return RoyaltyVault__factory.connect(address, runner);
}

interface ParsingContract {
  interface: ethers.Interface;
  getAddress(): Promise<string>;
}

/** The first log of `name` emitted by `contract` in a mined transaction receipt; throws when absent. */
export function findEvent(
  contract: ParsingContract,
  receipt: ethers.TransactionReceipt | null,
  name: string,
): ethers.LogDescription {
  if (!receipt) throw new Error(`Transaction was not mined; no ${name} event to read.`);
  for (const log of receipt.logs) {
    let parsed: ethers.LogDescription | null = null;
    try {
      parsed = contract.interface.parseLog(log);
    } catch {
      parsed = null;
    }
    if (parsed?.name === name) return parsed;
  }
  throw new Error(`No ${name} event in transaction ${receipt.hash}.`);
}

// ─── Callbacks: contracts that request jobs (see docs/integrate.md) ───────────────────────────────────────────

/** JOB_MARKET_MAX_CALLBACK_GAS of IJobMarket.sol: the most gas a hook may be given. */
export const MAX_CALLBACK_GAS = 2_000_000;

/** Stages a requester is called back at: the status the job has just reached. */
export const CallbackStage = {
  Receipt: JobStatus.Submitted,
  Settled: JobStatus.Settled,
  Failed: JobStatus.Failed,
  Reclaimed: JobStatus.Reclaimed,
  Slashed: JobStatus.Slashed,
} as const;

export interface CallbackOptions {
  /** Gas forwarded to each hook (onJobReceipt, onJobOutcome); 1 … MAX_CALLBACK_GAS. */
  gasLimit: number | bigint;
  /** Base-token wei escrowed to pay for the two deliveries (default 0). */
  fee?: bigint;
}

export function jobCallback(o: CallbackOptions): IJobMarket.CallbackStruct {
  return { gasLimit: o.gasLimit, fee: o.fee ?? 0n };
}

/**
 * How a callback fee is split: the receipt hook's share (rounded up) goes to the worker with its payout when the job
 * settles; the outcome hook's share to whoever ends the job. A share whose delivery did not happen (no receipt) or
 * whose worker was slashed goes back to the requester.
 */
export function callbackShares(fee: bigint): { receiptShare: bigint; outcomeShare: bigint } {
  const outcomeShare = fee / 2n;
  return { receiptShare: fee - outcomeShare, outcomeShare };
}

/**
 * The call data of `requestJobWithCallback`, for a contract that acts through a generic executor (a multisig, a DAO's
 * timelock): the requester, and so the one called back, is that contract. It must hold the model's datatoken and have
 * approved the job market for one datatoken and `fee + callback.fee` of the base token.
 */
export function encodeRequestJobWithCallback(request: RequestJobOptions, callback: CallbackOptions): string {
  return JobMarket__factory.createInterface().encodeFunctionData("requestJobWithCallback", [
    jobRequest(request),
    jobCallback(callback),
  ]);
}

/** Whether the delivery at `stage` failed, from `callbackOf(jobId).failedStages`. */
export function callbackFailed(failedStages: number | bigint, stage: number): boolean {
  return (BigInt(failedStages) & (1n << BigInt(stage))) !== 0n;
}

export interface CallbackDelivery {
  jobId: bigint;
  consumer: string;
  stage: number;
  success: boolean;
}

/** The CallbackDelivered events of a mined transaction, in order. */
export function callbackDeliveries(jobMarket: ParsingContract, receipt: ethers.TransactionReceipt): CallbackDelivery[] {
  const out: CallbackDelivery[] = [];
  for (const log of receipt.logs) {
    let parsed: ethers.LogDescription | null = null;
    try {
      parsed = jobMarket.interface.parseLog(log);
    } catch {
      parsed = null;
    }
    if (parsed?.name !== "CallbackDelivered") continue;
    out.push({
      jobId: parsed.args.jobId as bigint,
      consumer: parsed.args.consumer as string,
      stage: Number(parsed.args.stage),
      success: parsed.args.success as boolean,
    });
  }
  return out;
}

// ─── The example consumer (contracts/examples/FinetuneBounty.sol) ─────────────────────────────────────────────

export interface FinetuneBountyTerms {
  /** The model whose finetunes compete. */
  baseModelId: bigint;
  /** Deepest descendant that may enter (1: direct children only). */
  maxGenerations: number;
  /** sha256 (0x) of the named dataset's file: the input hash of every evaluation. */
  datasetHash: string;
  datasetURI?: string;
  /** EvaluateParams.benchmarkId, e.g. benchmarkId("wikitext-2/loss"). */
  benchmarkId: string;
  contextLength: number;
  maxTokens: number;
  /** A loss below this wins (× 1e6: toFixedLoss). */
  targetLoss: bigint;
  /** Base-token wei paid once to the winning model's owner. */
  reward: bigint;
  /** Job fee of each evaluation, paid by the bounty. */
  evalFee: bigint;
  callbackGasLimit: number;
  callbackFee: bigint;
  /** Seconds from an entry to its evaluation's deadline. */
  evalLease: number;
  /** Unix time after which nobody may enter. */
  expiresAt: bigint | number;
}

export function finetuneBountyTerms(t: FinetuneBountyTerms): IFinetuneBounty.TermsStruct {
  return { ...t, datasetURI: t.datasetURI ?? "" };
}

/** Deploys a FinetuneBounty whose sponsor is `sponsor`; fund it with the base token before anyone enters. */
export async function deployFinetuneBounty(
  sponsor: Signer,
  jobMarket: string,
  terms: FinetuneBountyTerms,
): Promise<FinetuneBounty> {
  const bounty = await new FinetuneBounty__factory(sponsor).deploy(jobMarket, finetuneBountyTerms(terms));
  await bounty.waitForDeployment();
  return bounty;
}

export function finetuneBountyAt(address: string, runner: ContractRunner): FinetuneBounty {
  return FinetuneBounty__factory.connect(address, runner);
}
