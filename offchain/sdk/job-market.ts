/** JobMarket: requests, receipts and the life of a job. */
import { JobMarket__factory, type JobMarket } from "../../typechain-types";
import type { IJobMarket } from "../../typechain-types/artifacts/contracts/JobMarket";
import { toReceipt, type OnChainReceipt, type ReceiptLog } from "../protocol/receipt";

export type { OnChainReceipt } from "../protocol/receipt";
import {
  JobKind,
  JobStatus,
  decodeJobParams,
  type JobKindName,
  type JobParams,
  type JobStatusName,
} from "../protocol/params";
import { jobRequest, type RequestJobOptions } from "../protocol/structs";
import { ContractClient, type SdkContext, type Sent, type UnsignedTx, unsigned } from "./base";
import { SdkError } from "./errors";

const KIND_NAMES = Object.keys(JobKind) as JobKindName[];
const STATUS_NAMES = Object.keys(JobStatus) as JobStatusName[];

export function jobKindName(kind: number | bigint): JobKindName {
  return KIND_NAMES[Number(kind)];
}

export function jobStatusName(status: number | bigint): JobStatusName {
  return STATUS_NAMES[Number(status)];
}

/** A job as the market records it, as plain values. */
export interface JobRecord {
  id: bigint;
  requester: string;
  deadline: bigint;
  kind: JobKindName;
  status: JobStatusName;
  worker: string;
  submittedAt: bigint;
  challenger: string;
  challengedAt: bigint;
  modelId: bigint;
  fee: bigint;
  collateral: bigint;
  inputHash: string;
  receiptHash: string;
  childModelId: bigint;
}

/** A job's request as its JobRequested event carries it: what a verifier re-runs. */
export interface JobRequestRecord {
  jobId: bigint;
  modelId: bigint;
  requester: string;
  kind: JobKindName;
  inputHash: string;
  inputURI: string;
  fee: bigint;
  deadline: bigint;
  /** The params bytes as requested, and decoded. */
  params: string;
  decoded: JobParams;
  txHash: string;
  blockNumber: number;
}

export class JobMarketClient extends ContractClient<JobMarket> {
  constructor(ctx: SdkContext) {
    super(ctx, JobMarket__factory.connect(ctx.book.contracts.JobMarket, ctx.runner));
  }

  count(): Promise<bigint> {
    return this.contract.jobCount();
  }

  async get(jobId: bigint): Promise<JobRecord> {
    const count = await this.count();
    if (jobId < 1n || jobId > count)
      throw new SdkError(
        "UNKNOWN_JOB",
        `There is no job ${jobId} on this chain (${count} job${count === 1n ? "" : "s"} so far).`,
        "a job's id is the one its request returned (and in its JobRequested event)",
        { data: { jobId, count } },
      );
    const j = await this.contract.getJob(jobId);
    return {
      id: jobId,
      requester: j.requester,
      deadline: j.deadline,
      kind: jobKindName(j.kind),
      status: jobStatusName(j.status),
      worker: j.worker,
      submittedAt: j.submittedAt,
      challenger: j.challenger,
      challengedAt: j.challengedAt,
      modelId: j.modelId,
      fee: j.fee,
      collateral: j.collateral,
      inputHash: j.inputHash,
      receiptHash: j.receiptHash,
      childModelId: j.childModelId,
    };
  }

  /** The job's request (JobRequested): kind, params bytes, input commitment. */
  async requested(jobId: bigint): Promise<JobRequestRecord> {
    const [log] = await this.logs((a, b) => this.contract.queryFilter(this.contract.filters.JobRequested(jobId), a, b));
    if (!log) throw new SdkError("UNKNOWN_JOB", `Job ${jobId} was never requested on this chain.`);
    const a = log.args;
    return {
      jobId,
      modelId: a.modelId,
      requester: a.requester,
      kind: jobKindName(a.kind),
      inputHash: a.inputHash,
      inputURI: a.inputURI,
      fee: a.fee,
      deadline: a.deadline,
      params: a.params,
      decoded: decodeJobParams(a.kind, a.params),
      txHash: log.transactionHash,
      blockNumber: log.blockNumber,
    };
  }

  /** The job's receipt (ReceiptSubmitted), or undefined before one. */
  async receipt(jobId: bigint): Promise<OnChainReceipt | undefined> {
    const logs = await this.logs((a, b) =>
      this.contract.queryFilter(this.contract.filters.ReceiptSubmitted(jobId), a, b),
    );
    return logs[0] ? toReceipt(logs[0] as ReceiptLog) : undefined;
  }

  /** Whether `account` challenged job `jobId`, first or by joining a challenge (its JobChallenged logs). */
  async challengedBy(jobId: bigint, account: string): Promise<boolean> {
    const filter = this.contract.filters.JobChallenged(jobId, undefined, account);
    return (await this.logs((a, b) => this.contract.queryFilter(filter, a, b))).length > 0;
  }

  /** Every receipt of jobs run on a model (its metrics: evaluations, finetunes from it, inferences). */
  async receiptsOfModel(modelId: bigint): Promise<OnChainReceipt[]> {
    const filter = this.contract.filters.ReceiptSubmitted(undefined, modelId);
    const logs = await this.logs((a, b) => this.contract.queryFilter(filter, a, b));
    return logs.map((l) => toReceipt(l as ReceiptLog));
  }

  config(): Promise<IJobMarket.ConfigStructOutput> {
    return this.contract.config();
  }

  stakeOf(worker: string): Promise<IJobMarket.WorkerStakeStructOutput> {
    return this.contract.stakeOf(worker);
  }

  // ─── Writes ───────────────────────────────────────────────────────────────────────────────────────────────

  /** Needs an allowance of one datatoken of the model and of `fee` base token for this market. */
  async buildRequestTx(o: RequestJobOptions): Promise<UnsignedTx> {
    return unsigned(await this.contract.requestJob.populateTransaction(jobRequest(o)));
  }

  /** Requests a job; `blockNumber` is the request's block (a worker takes the input once it has seen it). */
  async request(o: RequestJobOptions): Promise<{ jobId: bigint; blockNumber: number } & Sent> {
    const receipt = await this.send(await this.buildRequestTx(o), "requestJob");
    return {
      jobId: this.event(receipt, "JobRequested").args.jobId as bigint,
      txHash: receipt.hash,
      blockNumber: receipt.blockNumber,
    };
  }

  async buildCancelTx(jobId: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.cancelJob.populateTransaction(jobId));
  }

  /** Cancels an unclaimed job of the signer: its fee and its escrowed datatoken come back. */
  async cancel(jobId: bigint): Promise<{ refund: bigint } & Sent> {
    const receipt = await this.send(await this.buildCancelTx(jobId), "cancelJob");
    return { refund: this.event(receipt, "JobCancelled").args.refund as bigint, txHash: receipt.hash };
  }

  /** Slashes a claimant that failed a job for an input it had acknowledged (its signed `inputAck`): sdk/dispute.ts. */
  async disputeFailure(jobId: bigint, inputAck: string): Promise<{ slashed: bigint } & Sent> {
    const tx = unsigned(await this.contract.disputeFailure.populateTransaction(jobId, inputAck));
    const receipt = await this.send(tx, "disputeFailure");
    return { slashed: this.event(receipt, "FailureDisputed").args.slashed as bigint, txHash: receipt.hash };
  }

  /** Stakes `amount` of base token for the signer (approved to the market first): sdk/stake.ts. */
  async stake(amount: bigint): Promise<Sent> {
    return { txHash: (await this.send(unsigned(await this.contract.stake.populateTransaction(amount)), "stake")).hash };
  }

  /** Moves `amount` of the signer's free stake out, withdrawable after the market's unstake delay. */
  async requestUnstake(amount: bigint): Promise<Sent> {
    const tx = unsigned(await this.contract.requestUnstake.populateTransaction(amount));
    return { txHash: (await this.send(tx, "requestUnstake")).hash };
  }

  /** Pays the signer's unstaked amount out once its delay is over. */
  async withdrawStake(): Promise<{ amount: bigint } & Sent> {
    const receipt = await this.send(unsigned(await this.contract.withdrawStake.populateTransaction()), "withdrawStake");
    return { amount: this.event(receipt, "StakeWithdrawn").args.amount as bigint, txHash: receipt.hash };
  }

  async buildSettleTx(jobId: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.settleJob.populateTransaction(jobId));
  }

  /** Pays the worker of a job whose challenge window is over (anyone may; the worker usually does). */
  async settle(jobId: bigint): Promise<Sent> {
    return { txHash: (await this.send(await this.buildSettleTx(jobId), "settleJob")).hash };
  }

  async buildReclaimTx(jobId: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.reclaimJob.populateTransaction(jobId));
  }

  /** Refunds a job past its deadline without a receipt, slashing its claimant's collateral (anyone may). */
  /** What went back to the requester: the fee (`refund`, with the datatoken) and a claimant's `slashed` collateral. */
  async reclaim(jobId: bigint): Promise<{ refund: bigint; slashed: bigint; requester: string } & Sent> {
    const receipt = await this.send(await this.buildReclaimTx(jobId), "reclaimJob");
    const { refund, slashed, requester } = this.event(receipt, "JobReclaimed").args;
    return {
      refund: refund as bigint,
      slashed: slashed as bigint,
      requester: requester as string,
      txHash: receipt.hash,
    };
  }

  /** Needs an allowance of the challenge bond (config().challengeBond) in the base token. */
  async buildChallengeTx(jobId: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.challengeReceipt.populateTransaction(jobId));
  }

  async challenge(jobId: bigint): Promise<Sent> {
    return { txHash: (await this.send(await this.buildChallengeTx(jobId), "challengeReceipt")).hash };
  }

  async buildResolveTx(jobId: bigint, upheld: boolean): Promise<UnsignedTx> {
    return unsigned(await this.contract.resolveChallenge.populateTransaction(jobId, upheld));
  }

  /**
   * The arbiter's decision on a challenged receipt (the arbiter's key only). Upheld: the worker is slashed, the fee
   * refunded, the bond returned, a child model frozen. Dismissed: the bond goes to the worker and the job settles.
   */
  async resolve(jobId: bigint, upheld: boolean): Promise<{ upheld: boolean; slashed: bigint } & Sent> {
    const receipt = await this.send(await this.buildResolveTx(jobId, upheld), "resolveChallenge");
    const e = this.event(receipt, "ChallengeResolved").args;
    return { upheld: e.upheld as boolean, slashed: e.slashed as bigint, txHash: receipt.hash };
  }
}
