import { Wallet, type JsonRpcProvider } from "ethers";
import { WorkerTestEmitter__factory, type WorkerTestEmitter } from "../../../typechain-types";
import { createProvider } from "../../../offchain/worker/rpc";
import { HARDHAT_KEYS, type HardhatNode } from "../../../offchain/devnet/hardhat-node";

export interface TestChain {
  provider: JsonRpcProvider;
  wallet: Wallet;
  emitter: WorkerTestEmitter;
  address: string;
}

/** A provider and a funded wallet on the node, and a fresh WorkerTestEmitter deployed by it. */
export async function deployEmitter(node: HardhatNode, keyIndex = 0): Promise<TestChain> {
  const provider = createProvider({ url: node.url, chainId: 31337, timeoutMs: 10_000 });
  const wallet = new Wallet(HARDHAT_KEYS[keyIndex], provider);
  const emitter = await new WorkerTestEmitter__factory(wallet).deploy();
  await emitter.waitForDeployment();
  return { provider, wallet, emitter, address: await emitter.getAddress() };
}

export async function rpc<T = unknown>(provider: JsonRpcProvider, method: string, params: unknown[] = []): Promise<T> {
  return (await provider.send(method, params)) as T;
}

/**
 * Mines `n` empty blocks at once with `hardhat_mine`. Beware: Hardhat "reserves" all but the last of them, and those
 * report a zero parentHash (the ingestor tolerates it).
 */
export async function mine(provider: JsonRpcProvider, n = 1): Promise<void> {
  await rpc(provider, "hardhat_mine", [`0x${n.toString(16)}`]);
}

/** Sends `emitter.ping(id)` and waits for it (one block per ping with automine). */
export async function ping(emitter: WorkerTestEmitter, id: number): Promise<number> {
  const tx = await emitter.ping(id, `0x${id.toString(16).padStart(64, "0")}`);
  const r = await tx.wait();
  if (!r) throw new Error("no receipt");
  return r.blockNumber;
}

/** Polls `cond` every 25 ms until it holds, or throws after `timeoutMs` with `what`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
