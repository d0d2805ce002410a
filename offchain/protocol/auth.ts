/**
 * EIP-712 messages that authenticate requests to a worker's HTTP API. The domain binds the chain and the job
 * market contract, so a signature is good for one deployment only. Shared by the worker (verify) and the SDK (sign).
 *
 *   InputUpload    the requester of job `jobId` uploads input bytes whose sha256 is `inputHash`
 *   ResultRequest  the requester of job `jobId` asks for its result, until `expiry` (unix seconds)
 *   ModelUpload    the owner of model `modelId` uploads a model folder described by `manifestHash`
 *   ModelInspect   anyone asks for the weights root and config hash of a folder described by `manifestHash`
 *   InputCheck     anyone asks whether input bytes whose sha256 is `inputHash` meet model `modelId`'s rules (its
 *                  tokenizer's counts), before paying for a job
 *
 * Every message that makes the worker store or compute something carries an `expiry` (unix seconds, at most
 * MAX_AUTH_TTL_SEC ahead) and a random 32-byte `nonce`; the worker accepts each (signer, nonce) once, so a captured
 * request cannot be replayed. They travel as the headers x-posthuman-signature, x-posthuman-expiry, x-posthuman-nonce.
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
      { name: "expiry", type: "uint64" },
      { name: "nonce", type: "bytes32" },
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
      { name: "expiry", type: "uint64" },
      { name: "nonce", type: "bytes32" },
    ],
  },
  ModelInspect: {
    ModelInspect: [
      { name: "manifestHash", type: "bytes32" },
      { name: "expiry", type: "uint64" },
      { name: "nonce", type: "bytes32" },
    ],
  },
  InputCheck: {
    InputCheck: [
      { name: "modelId", type: "uint256" },
      { name: "inputHash", type: "bytes32" },
      { name: "expiry", type: "uint64" },
      { name: "nonce", type: "bytes32" },
    ],
  },
} satisfies Record<string, Record<string, TypedDataField[]>>;

/** Expiry and nonce of a message that makes the worker store or compute something. */
export interface Freshness {
  expiry: bigint;
  nonce: string;
}

export type AuthMessage =
  | { type: "InputUpload"; value: { jobId: bigint; inputHash: string } & Freshness }
  | { type: "ResultRequest"; value: { jobId: bigint; expiry: bigint } }
  | { type: "ModelUpload"; value: { modelId: bigint; manifestHash: string } & Freshness }
  | { type: "ModelInspect"; value: { manifestHash: string } & Freshness }
  | { type: "InputCheck"; value: { modelId: bigint; inputHash: string } & Freshness };

/** The longest a signature may stay valid: the worker refuses an expiry further ahead. */
export const MAX_AUTH_TTL_SEC = 3600;
/** The default validity of a signature made by `signFresh`. */
export const DEFAULT_AUTH_TTL_SEC = 600;

/** A fresh expiry (`ttlSec` from now) and a random nonce. */
export function freshness(ttlSec = DEFAULT_AUTH_TTL_SEC): Freshness {
  return { expiry: BigInt(Math.floor(Date.now() / 1000) + ttlSec), nonce: ethers.hexlify(ethers.randomBytes(32)) };
}

type FreshMessage = Exclude<AuthMessage, { type: "ResultRequest" }>;
type Unfresh<M> = M extends { type: infer T; value: infer V } ? { type: T; value: Omit<V, keyof Freshness> } : never;

/**
 * Signs `msg` with a fresh expiry and nonce; returns the request headers that carry them (x-posthuman-signature,
 * x-posthuman-expiry, x-posthuman-nonce). What the SDK and the web app send with every upload.
 */
export async function signFresh(
  signer: ethers.Signer,
  domain: TypedDataDomain,
  msg: Unfresh<FreshMessage>,
  ttlSec = DEFAULT_AUTH_TTL_SEC,
): Promise<Record<string, string>> {
  const f = freshness(ttlSec);
  const full = { type: msg.type, value: { ...msg.value, ...f } } as FreshMessage;
  return {
    "x-posthuman-signature": await signAuth(signer, domain, full),
    "x-posthuman-expiry": f.expiry.toString(),
    "x-posthuman-nonce": f.nonce,
  };
}

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
