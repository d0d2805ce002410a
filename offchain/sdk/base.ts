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
 * limit is the estimate's `gasLimitOver` unless the transaction names one. A transaction that ran out of gas anyway
 * (another one mined first made it dearer than both margins) changed nothing: it is estimated again and sent once more.
 */
export async function sendTx(
  ctx: SdkContext,
  tx: UnsignedTx,
  what: string,
  interfaces: ethers.Interface[],
): Promise<ethers.TransactionReceipt> {
  const signer = signerOf(ctx);
  const named = tx.gasLimit === undefined || tx.gasLimit === null ? undefined : BigInt(tx.gasLimit);
  let gasLimit = 0n;
  const attempt = async (): Promise<ethers.TransactionReceipt> => {
    gasLimit = named ?? gasLimitOver(await signer.estimateGas(tx));
    const sent = await signer.sendTransaction({ ...tx, gasLimit });
    const receipt = await sent.wait();
    if (!receipt) throw new Error(`${what}: transaction ${sent.hash} was not mined`);
    return receipt;
  };
  try {
    try {
      return await attempt();
    } catch (e) {
      if (named !== undefined || !ranOutOfGas(e, gasLimit)) throw e;
      return await attempt();
    }
  } catch (e) {
    throw explainRevert(e, interfaces, what);
  }
}

/** A mined transaction that reverted having used (nearly) all its gas: 63/64 of it at least, what a call passes on. */
function ranOutOfGas(e: unknown, limit: bigint): boolean {
  if (!ethers.isError(e, "CALL_EXCEPTION") || !e.receipt) return false;
  return e.receipt.gasUsed * 64n >= limit * 63n;
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
  protected logs<T>(read: (from: number, to: number) => Promise<T[]>): Promise<T[]> {
    return logsInRanges(this.ctx.provider, this.ctx.book.startBlock, read);
  }

  protected event(receipt: ethers.TransactionReceipt, name: string): ethers.LogDescription {
    return findEvent(this.contract, receipt, name);
  }
}
