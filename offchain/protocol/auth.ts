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

/** The EIP-712 digest of `msg`: what an ERC-1271 contract is asked to approve with `isValidSignature(digest, sig)`. */
export function authDigest(domain: TypedDataDomain, msg: AuthMessage): string {
  return ethers.TypedDataEncoder.hash(domain, AUTH_TYPES[msg.type], msg.value);
}

/** ERC-1271's magic value: `isValidSignature.selector`. */
export const ERC1271_MAGIC = "0x1626ba7e";

const ERC1271 = new ethers.Interface([
  "function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)",
]);

/**
 * An ERC-1271 check on `provider`: true when `account` is a contract whose `isValidSignature(digest, signature)`
 * returns the magic value. An account without code, a revert, or any other answer is false; an RPC failure throws
 * (a node that is down must not turn into "not the requester").
 */
export function erc1271Checker(provider: ethers.Provider) {
  return async (account: string, digest: string, signature: string): Promise<boolean> => {
    if ((await provider.getCode(account)) === "0x") return false;
    const data = ERC1271.encodeFunctionData("isValidSignature", [digest, signature]);
    let answer: string;
    try {
      answer = await provider.call({ to: account, data });
    } catch (e) {
      if (ethers.isError(e, "CALL_EXCEPTION")) return false;
      throw e;
    }
    return answer.length >= 10 && answer.slice(0, 10).toLowerCase() === ERC1271_MAGIC;
  };
}

/** sha256 of bytes as a 0x-prefixed bytes32: the commitment the chain stores for inputs and outputs. */
export function sha256Hex(bytes: Uint8Array): string {
  return ethers.sha256(bytes);
}
