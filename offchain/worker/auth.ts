/**
 * EIP-712 messages that authenticate requests to a worker's HTTP API. The domain binds the chain and the job
 * market contract, so a signature is good for one deployment only. Shared by the worker (verify) and the SDK (sign).
 *
 *   InputUpload    the requester of job `jobId` uploads input bytes whose sha256 is `inputHash`
 *   ResultRequest  the requester of job `jobId` asks for its result, until `expiry` (unix seconds)
 *   ModelUpload    the owner of model `modelId` uploads a model folder described by `manifestHash`
 */
import { ethers, type TypedDataDomain, type TypedDataField } from "ethers";

export const AUTH_DOMAIN_NAME = "PostHuman Worker API";
export const AUTH_DOMAIN_VERSION = "1";

export function authDomain(chainId: number | bigint, jobMarket: string): TypedDataDomain {
  return { name: AUTH_DOMAIN_NAME, version: AUTH_DOMAIN_VERSION, chainId, verifyingContract: jobMarket };
}

export const AUTH_TYPES = {
  InputUpload: {
    InputUpload: [
      { name: "jobId", type: "uint256" },
      { name: "inputHash", type: "bytes32" },
    ],
  },
  ResultRequest: {
    ResultRequest: [
      { name: "jobId", type: "uint256" },
      { name: "expiry", type: "uint64" },
    ],
  },
  ModelUpload: {
    ModelUpload: [
      { name: "modelId", type: "uint256" },
      { name: "manifestHash", type: "bytes32" },
    ],
  },
} satisfies Record<string, Record<string, TypedDataField[]>>;

export type AuthMessage =
  | { type: "InputUpload"; value: { jobId: bigint; inputHash: string } }
  | { type: "ResultRequest"; value: { jobId: bigint; expiry: bigint } }
  | { type: "ModelUpload"; value: { modelId: bigint; manifestHash: string } };

export async function signAuth(signer: ethers.Signer, domain: TypedDataDomain, msg: AuthMessage): Promise<string> {
  return signer.signTypedData(domain, AUTH_TYPES[msg.type], msg.value);
}

/** The address that signed `msg`; throws on a malformed signature. */
export function recoverAuth(domain: TypedDataDomain, msg: AuthMessage, signature: string): string {
  return ethers.verifyTypedData(domain, AUTH_TYPES[msg.type], msg.value, signature);
}

/** sha256 of bytes as a 0x-prefixed bytes32: the commitment the chain stores for inputs and outputs. */
export function sha256Hex(bytes: Uint8Array): string {
  return ethers.sha256(bytes);
}
