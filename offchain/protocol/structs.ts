/**
 * The contracts' structs as the protocol fills them, and the readers of their events, browser-safe (ethers and
 * typechain types only): publish parameters and Ocean metadata, job requests and receipts, callbacks, the example
 * bounty's terms. Builders return the typechain struct types, so a change of the ABI fails the type check here.
 */
import { ethers } from "ethers";
import { IJobMarket__factory } from "../../typechain-types";
import type { IJobMarket } from "../../typechain-types/artifacts/contracts/JobMarket";
import type { IModelRegistry } from "../../typechain-types/artifacts/contracts/ModelRegistry";
import type { IFinetuneBounty } from "../../typechain-types/artifacts/contracts/examples/FinetuneBounty";
import { JobKind, JobStatus, PricingKind, type JobKindName } from "./params";

/** Plain (unencrypted, uncompressed) Ocean metadata for a DDO: flags 0x00, data = JSON bytes, hash = sha256. */
export function plainOceanMetadata(ddo: unknown, decryptorUrl = ""): IModelRegistry.OceanMetadataStruct {
  const data = ethers.toUtf8Bytes(JSON.stringify(ddo));
  return {
    state: 0,
    decryptorUrl,
    decryptorAddress: "",
    flags: "0x00",
    data,
    dataHash: ethers.sha256(data),
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
  /** The folder's tokenizer hash as the chain records it (0 or absent: GPT-2's own; see the worker's inspection). */
  tokenizerHash?: string;
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
 * settles; the outcome hook's share to whoever ends the job (when the job did not settle, only the gas that delivery
 * used at `callbackGasPrice`, the rest to the requester). A share whose delivery did not happen (no receipt) or whose
 * worker was slashed goes back to the requester.
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
  return IJobMarket__factory.createInterface().encodeFunctionData("requestJobWithCallback", [
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
