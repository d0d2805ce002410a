/**
 * The typed base of the SDK's contract classes: one class per contract (ModelRegistryClient, JobMarketClient, …),
 * each bound to its typechain binding. Every write has two forms: `buildXTx(...)` returns an unsigned transaction
 * ({to, data}) for a wallet, a multisig or a relayer to sign, and `x(...)` signs it with the client's signer, sends
 * it and waits for it to be mined. Amounts are bigint (wei of the base token or datatoken).
 */
import { ethers, type TransactionRequest } from "ethers";
import type { AddressBook } from "../protocol/address-book";
import { gasLimitOver } from "../protocol/contracts";
import { findEvent } from "../protocol/structs";
import { SdkError, explainRevert } from "./errors";
import { logsInRanges } from "../protocol/logs";
import { errorChain } from "../protocol/error-chain";

/** What every contract class shares: who signs (or only reads), the node, and the address book. */
export interface SdkContext {
  readonly runner: ethers.Signer | ethers.Provider;
  readonly provider: ethers.Provider;
  readonly book: AddressBook;
}

/** An unsigned transaction: `to` and `data` (and `value`, 0 for every PostHuman write). */
export type UnsignedTx = TransactionRequest & { to: string; data: string };

/** What a sent write returns besides its own result: the hash of the mined transaction. */
export interface Sent {
  txHash: string;
}

/**
 * The chain's time as its next block will see it, in seconds: the later of the latest block's and this machine's clock
 * (a local chain mines only on demand, and stamps the next block with the clock). Deadlines and windows are in it.
 */
export async function chainNow(provider: ethers.Provider): Promise<bigint> {
  const latest = await provider.getBlock("latest");
  return BigInt(Math.max(latest?.timestamp ?? 0, Math.floor(Date.now() / 1000)));
}

export function isSigner(runner: ethers.Signer | ethers.Provider): runner is ethers.Signer {
  return typeof (runner as ethers.Signer).sendTransaction === "function";
}

export function signerOf(ctx: SdkContext): ethers.Signer {
  if (!isSigner(ctx.runner))
    throw new SdkError(
      "READ_ONLY",
      "This client can only read: it was created from a provider.",
      "create the client with a signer (PostHuman.init({ runner: signer, ... }))",
    );
  return ctx.runner;
}

/**
 * Signs and sends an unsigned transaction, waits for it, and turns a revert into an SdkError naming its cause. The gas
 * limit is the estimate's `gasLimitOver` unless the transaction names one. A transaction that reverted in its block
 * though its estimate passed (another one mined first changed what it meets: more to do than both gas margins, say)
 * changed nothing: it is estimated again, and sent once more if the estimate passes (else the estimate's revert is
 * the error), as the worker's pipeline does (worker/jobs.ts `attemptKey`).
 */
export async function sendTx(
  ctx: SdkContext,
  tx: UnsignedTx,
  what: string,
  interfaces: ethers.Interface[],
): Promise<ethers.TransactionReceipt> {
  const signer = signerOf(ctx);
  const named = tx.gasLimit === undefined || tx.gasLimit === null ? undefined : BigInt(tx.gasLimit);
  const attempt = async (): Promise<ethers.TransactionReceipt> => {
    const gasLimit = named ?? gasLimitOver(await signer.estimateGas(tx));
    const sent = await signer.sendTransaction({ ...tx, gasLimit });
    const receipt = await sent.wait();
    if (!receipt) throw new Error(`${what}: transaction ${sent.hash} was not mined`);
    return receipt;
  };
  try {
    try {
      return await attempt();
    } catch (e) {
      if (named !== undefined || !(await revertedReceipt(ctx.provider, e))) throw e;
      return await attempt();
    }
  } catch (e) {
    throw explainRevert(e, interfaces, what);
  }
}

/**
 * The receipt of a transaction that was mined and reverted, from the error its send or its wait threw: ethers' own,
 * or that of the hash in the error of a node that answers the send of a failing transaction with the revert
 * (Hardhat's, automining). Null for any other error.
 */
async function revertedReceipt(provider: ethers.Provider, e: unknown): Promise<ethers.TransactionReceipt | null> {
  if (ethers.isError(e, "CALL_EXCEPTION") && e.receipt) return e.receipt;
  const hash = errorChain(e)
    .map((x) => x.transactionHash)
    .find((h): h is string => typeof h === "string" && ethers.isHexString(h, 32));
  const receipt = hash ? await provider.getTransactionReceipt(hash).catch(() => null) : null;
  return receipt?.status === 0 ? receipt : null;
}

export function unsigned(tx: TransactionRequest): UnsignedTx {
  if (typeof tx.to !== "string" || typeof tx.data !== "string") throw new Error("populated transaction lacks to/data");
  return { to: tx.to, data: tx.data, value: 0n };
}

export abstract class ContractClient<C extends ethers.BaseContract> {
  /** The contract's address. */
  readonly address: string;

  protected constructor(
    protected readonly ctx: SdkContext,
    /** The typechain binding, for anything this class does not wrap. */
    readonly contract: C,
  ) {
    this.address = contract.target as string;
  }

  protected get signer(): ethers.Signer {
    return signerOf(this.ctx);
  }

  /** Interfaces whose custom errors a revert of this contract's writes may carry (its own, and tokens it pulls). */
  protected errorInterfaces(): ethers.Interface[] {
    return [this.contract.interface];
  }

  protected send(tx: UnsignedTx, what: string): Promise<ethers.TransactionReceipt> {
    return sendTx(this.ctx, tx, what, this.errorInterfaces());
  }

  /** Runs a view call, turning a revert (unknown id…) into an SdkError. */
  protected async read<T>(call: () => Promise<T>, what: string): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw explainRevert(e, this.errorInterfaces(), what);
    }
  }

  /** Logs since the address book's start block, read in ranges the node accepts (protocol/logs.ts). */
  logs<T>(read: (from: number, to: number) => Promise<T[]>): Promise<T[]> {
    return logsInRanges(this.ctx.provider, this.ctx.book.startBlock, read);
  }

  protected event(receipt: ethers.TransactionReceipt, name: string): ethers.LogDescription {
    return findEvent(this.contract, receipt, name);
  }
}
