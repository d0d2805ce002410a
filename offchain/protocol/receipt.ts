/**
 * A receipt as the ReceiptSubmitted event carries it, as plain values: shared by the SDK and the web app (which reads
 * the same events in the browser), so both show the same fields.
 */
import type { JobMarket } from "../../typechain-types";
import type { IJobMarket } from "../../typechain-types/artifacts/contracts/JobMarket";

/** A receipt as submitted on chain (ReceiptSubmitted), with the child model a training job created. */
export interface OnChainReceipt {
  jobId: bigint;
  modelId: bigint;
  worker: string;
  outputHash: string;
  outputURI: string;
  servedWeightsRoot: string;
  runtimeId: string;
  seed: bigint;
  metrics: {
    trainLossBefore: bigint;
    trainLossAfter: bigint;
    valLossBefore: bigint;
    valLossAfter: bigint;
    evalLoss: bigint;
    evalTokens: bigint;
  };
  childWeightsRoot: string;
  childConfigHash: string;
  childModelId: bigint;
  txHash: string;
}

export type ReceiptLog = Awaited<ReturnType<JobMarket["queryFilter"]>>[number] & {
  args: {
    jobId: bigint;
    modelId: bigint;
    worker: string;
    receipt: IJobMarket.ReceiptStructOutput;
    childModelId: bigint;
  };
};

export function toReceipt(log: ReceiptLog): OnChainReceipt {
  const r = log.args.receipt;
  return {
    jobId: log.args.jobId,
    modelId: log.args.modelId,
    worker: log.args.worker,
    outputHash: r.outputHash,
    outputURI: r.outputURI,
    servedWeightsRoot: r.servedWeightsRoot,
    runtimeId: r.runtimeId,
    seed: r.seed,
    metrics: {
      trainLossBefore: r.metrics.trainLossBefore,
      trainLossAfter: r.metrics.trainLossAfter,
      valLossBefore: r.metrics.valLossBefore,
      valLossAfter: r.metrics.valLossAfter,
      evalLoss: r.metrics.evalLoss,
      evalTokens: r.metrics.evalTokens,
    },
    childWeightsRoot: r.childWeightsRoot,
    childConfigHash: r.childConfigHash,
    childModelId: log.args.childModelId,
    txHash: log.transactionHash,
  };
}
