/**
 * The worker's signed "input received" acknowledgement, verified on chain by `JobMarket.disputeFailure`. A worker's API
 * signs it when it accepts a job's input (bytes whose hash is the job's `inputHash`, passing its checks); a claimant
 * that then fails the job for a reason blaming the requester's input (JOB_MARKET_REQUESTER_FAULTS) can be slashed by
 * anyone presenting it within the dispute window. The domain is the job market's own (EIP-712 name
 * "PostHuman JobMarket", version "1"), not the worker API's: the market checks it.
 */
import { ethers, type TypedDataDomain } from "ethers";

export const INPUT_ACK_DOMAIN_NAME = "PostHuman JobMarket";
export const INPUT_ACK_DOMAIN_VERSION = "1";

export const INPUT_ACK_TYPES = {
  InputReceived: [
    { name: "jobId", type: "uint256" },
    { name: "inputHash", type: "bytes32" },
  ],
};

export function inputAckDomain(chainId: number | bigint, jobMarket: string): TypedDataDomain {
  return { name: INPUT_ACK_DOMAIN_NAME, version: INPUT_ACK_DOMAIN_VERSION, chainId, verifyingContract: jobMarket };
}

export async function signInputAck(
  signer: ethers.Signer,
  domain: TypedDataDomain,
  jobId: bigint,
  inputHash: string,
): Promise<string> {
  return signer.signTypedData(domain, INPUT_ACK_TYPES, { jobId, inputHash });
}

/** Bit set of the failJob reasons that blame the requester's input (the contract's JOB_MARKET_REQUESTER_FAULTS). */
export const REQUESTER_FAULT_REASONS: readonly number[] = [1, 10, 11, 12, 13, 14, 15, 16, 20, 21];
