import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Transaction, Wallet } from "ethers";
import { openWorkerDb, type WorkerDb } from "../../offchain/worker/db";
import { silentLogger } from "../../offchain/worker/log";
import {
  createSender,
  decodeRevert,
  formatRevert,
  SenderClosedError,
  SimulationRevertedError,
  TxRejectedError,
  TxRevertedError,
  type SenderOptions,
  type SenderRpc,
} from "../../offchain/worker/sender";
import { ACTION_ATTEMPTS, attemptKey } from "../../offchain/worker/jobs";
import { HARDHAT_KEYS, startHardhatNode, type HardhatNode } from "../../offchain/devnet/hardhat-node";
import { deployEmitter, rpc, until, type TestChain } from "./support/chain";
import { emitterInterface } from "./support/pings";

describe("createSender (against a hardhat node)", function () {
  let node: HardhatNode;
  let chain: TestChain;
  let dbFile: string;
  let db: WorkerDb;
  let snapshot: string;
  const key = HARDHAT_KEYS[1]; // the worker's account; account 0 deploys the emitter
  const wallet = new Wallet(key);
  const opened: Array<{ close(): void }> = [];

  before(async () => {
    node = await startHardhatNode();
    chain = await deployEmitter(node);
  });
  after(async () => {
    await node?.stop();
  });
  beforeEach(async () => {
    snapshot = await rpc<string>(chain.provider, "evm_snapshot");
    dbFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ph-sender-")), "worker.sqlite");
    db = openWorkerDb({ file: dbFile });
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) s.close();
    db.close();
    await rpc(chain.provider, "evm_setAutomine", [true]);
    await rpc(chain.provider, "evm_revert", [snapshot]);
  });

  function sender(extra: Partial<SenderOptions> = {}) {
    const s = createSender({
      provider: chain.provider,
      db,
      wallet,
      chainId: 31337,
      log: silentLogger(),
      interfaces: [emitterInterface],
      pollMs: 50,
      retry: { retries: 2, minDelayMs: 20, maxDelayMs: 100 },
      ...extra,
    });
    opened.push(s);
    return s;
  }
  const pingData = (id: number): string =>
    emitterInterface.encodeFunctionData("ping", [id, `0x${id.toString(16).padStart(64, "0")}`]);
  const nonceOnChain = (): Promise<number> => chain.provider.getTransactionCount(wallet.address, "latest");
  /** Closes this "process": its sender and its database, as a crash would (without any cleanup of the sender). */
  function restart(): void {
    for (const s of opened.splice(0)) s.close();
    db.close();
    db = openWorkerDb({ file: dbFile });
  }

  it("keeps nonces continuous across many concurrent sends, a refused one included", async () => {
    const s = sender();
    const first = await nonceOnChain();
    const sends = Array.from({ length: 16 }, (_, i) =>
      s.send({ key: `ping:${i}`, to: chain.address, data: pingData(i) }),
    );
    const refused = s
      .send({ key: "refuse", to: chain.address, data: emitterInterface.encodeFunctionData("refuse", [1]) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const receipts = await Promise.all(sends);
    expect(await refused).to.be.instanceOf(SimulationRevertedError);

    const nonces = await Promise.all(receipts.map(async (r) => (await chain.provider.getTransaction(r.hash))?.nonce));
    expect([...nonces].sort((a, b) => (a as number) - (b as number))).to.deep.equal(
      Array.from({ length: 16 }, (_, i) => first + i),
    );
    expect(receipts.every((r) => r.status === 1)).to.equal(true);
    expect(await nonceOnChain()).to.equal(first + 16);
    expect(await chain.emitter.pings()).to.equal(16n);
    expect(s.pending()).to.deep.equal([]);

    // And the next one continues from there.
    const next = await s.send({ key: "ping:next", to: chain.address, data: pingData(99) });
    expect((await chain.provider.getTransaction(next.hash))?.nonce).to.equal(first + 16);
  });

  it("surfaces a revert as the decoded custom error without sending anything", async () => {
    const s = sender();
    const before = await nonceOnChain();
    const err = await s
      .send({ key: "refuse:7", to: chain.address, data: emitterInterface.encodeFunctionData("refuse", [7]) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(SimulationRevertedError);
    const reason = (err as SimulationRevertedError).reason;
    expect(reason).to.deep.equal({
      kind: "custom",
      name: "WorkerTestEmitterRefused",
      signature: "WorkerTestEmitterRefused(uint256,string)",
      args: [7n, "refused on purpose"],
    });
    expect((err as Error).message).to.include('WorkerTestEmitterRefused(7, "refused on purpose")');
    expect(await nonceOnChain()).to.equal(before);
    expect(s.action("refuse:7")).to.equal(undefined);
    // Without the contract's interface the same data is still reported, undecoded.
    const data = emitterInterface.encodeErrorResult("WorkerTestEmitterRefused", [7, "refused on purpose"]);
    expect(decodeRevert(data, [emitterInterface])).to.deep.equal(reason);
    expect(formatRevert(decodeRevert(data))).to.match(/^unknown revert \(data 0x/);
  });

  it("never sends an action twice: after a restart the same key returns the recorded receipt", async () => {
    const first = await sender().send({ key: "submit:1", to: chain.address, data: pingData(1) });
    const nonce = await nonceOnChain();
    restart();
    const again = await sender().send({ key: "submit:1", to: chain.address, data: pingData(1) });
    expect(again.hash).to.equal(first.hash);
    expect(await nonceOnChain()).to.equal(nonce);
    expect(await chain.emitter.pings()).to.equal(1n);
  });

  it("after a crash between recording and broadcasting, the next sender broadcasts the recorded transaction", async () => {
    // A node that never answers eth_sendRawTransaction: the process dies with the signed tx only in its database.
    const p = chain.provider;
    const hanging: SenderRpc = {
      call: (tx) => p.call(tx),
      estimateGas: (tx) => p.estimateGas(tx),
      getFeeData: () => p.getFeeData(),
      getTransactionCount: (a, tag) => p.getTransactionCount(a, tag),
      getTransactionReceipt: (h) => p.getTransactionReceipt(h),
      getTransaction: (h) => p.getTransaction(h),
      getBlockNumber: () => p.getBlockNumber(),
      broadcastTransaction: () => new Promise<never>(() => undefined),
    };
    const before = await nonceOnChain();
    void sender({ provider: hanging })
      .send({ key: "submit:2", to: chain.address, data: pingData(2) })
      .catch(() => undefined);
    let recorded: string | undefined;
    await until(() => {
      const a = openWorkerDb({ file: dbFile });
      recorded = a.prepare("SELECT hash FROM sender_txs WHERE key = 'submit:2'").get<{ hash: string }>()?.hash;
      a.close();
      return recorded !== undefined;
    }, "the signed transaction to be recorded");
    expect(await chain.provider.getTransaction(recorded as string)).to.equal(null); // never reached the node
    restart();

    const receipt = await sender().send({ key: "submit:2", to: chain.address, data: pingData(2) });
    expect(receipt.hash).to.equal(recorded);
    expect(await nonceOnChain()).to.equal(before + 1);
    expect(await chain.emitter.pings()).to.equal(1n);
  });

  it("after a crash while the transaction was pending, the next sender finds it mined and sends nothing", async () => {
    await rpc(chain.provider, "evm_setAutomine", [false]);
    const before = await nonceOnChain();
    const s = sender();
    const inFlight = s.send({ key: "submit:3", to: chain.address, data: pingData(3) });
    await until(() => s.pending().length === 1, "the transaction to be sent");
    const [hash] = s.pending()[0].hashes;
    restart();
    await expect(inFlight).to.be.rejectedWith(SenderClosedError);
    await rpc(chain.provider, "evm_mine");

    const next = sender();
    const receipt = await next.send({ key: "submit:3", to: chain.address, data: pingData(3) });
    expect(receipt.hash).to.equal(hash);
    expect(await nonceOnChain()).to.equal(before + 1);
    expect(next.action("submit:3")).to.deep.include({ status: "mined", txHash: hash });
  });

  it("replaces a stuck transaction with the same nonce and higher fees", async () => {
    await rpc(chain.provider, "evm_setAutomine", [false]);
    const before = await nonceOnChain();
    const s = sender({ replaceAfterMs: 300, feeBumpPercent: 20 });
    const done = s.send({ key: "submit:4", to: chain.address, data: pingData(4) });
    await until(() => (s.pending()[0]?.hashes.length ?? 0) >= 2, "a replacement");
    const [original, replacement] = s.pending()[0].hashes;
    // Recorded before broadcast: wait until the node holds the replacement instead of the original.
    await until(async () => (await chain.provider.getTransaction(replacement)) !== null, "the replacement in the pool");
    await rpc(chain.provider, "evm_mine");
    const receipt = await done;

    // More replacements may have been signed meanwhile; one of them, never the original, took the nonce.
    const hashes = s.action("submit:4")?.hashes ?? [];
    expect(hashes.slice(0, 2)).to.deep.equal([original, replacement]);
    expect(hashes.slice(1)).to.include(receipt.hash);
    expect(await chain.provider.getTransactionReceipt(original)).to.equal(null);
    const raw = db
      .prepare("SELECT raw FROM sender_txs WHERE hash IN (?, ?) ORDER BY sent_at")
      .all<{ raw: string }>(original, receipt.hash);
    const [a, b] = raw.map((r) => Transaction.from(r.raw));
    expect(b.nonce).to.equal(a.nonce);
    expect(b.maxFeePerGas as bigint).to.be.at.least(((a.maxFeePerGas as bigint) * 120n) / 100n);
    expect(b.maxPriorityFeePerGas as bigint).to.be.at.least(((a.maxPriorityFeePerGas as bigint) * 120n) / 100n);
    expect(await nonceOnChain()).to.equal(before + 1);
    expect(await chain.emitter.pings()).to.equal(1n);
  });

  /**
   * Sends `data` under `key` with automining off and, before its block, a transaction with a higher tip that sets the
   * emitter's `load` to `load`: the action was simulated before, and meets the new load in its block.
   */
  async function sendBeforeLoad(s: ReturnType<typeof sender>, key: string, data: string, load: number) {
    await rpc(chain.provider, "evm_setAutomine", [false]);
    const sent = s.send({ key, to: chain.address, data });
    let done = false;
    void sent.finally(() => (done = true)).catch(() => undefined);
    await until(() => s.pending().length === 1, `${key} pending`);
    await chain.emitter.setLoad(load, { maxPriorityFeePerGas: 50n * 10n ** 9n, maxFeePerGas: 100n * 10n ** 9n });
    while (!done) {
      await rpc(chain.provider, "evm_mine");
      await new Promise((r) => setTimeout(r, 60));
    }
    await rpc(chain.provider, "evm_setAutomine", [true]);
    return sent;
  }

  it("sends again, estimated anew, an action that ran out of gas because another transaction gave it more to do", async () => {
    // The pipeline's next pass sends the action's next attempt under its own key (attemptKey): estimated anew.
    const s = sender();
    await s.init();
    const first = await nonceOnChain();
    const slot = (await chain.emitter.pings()) * 1000n; // where work writes
    const row = { job_id: "1", request_tx: null };
    const data = emitterInterface.encodeFunctionData("work", [1]);
    // Estimated with no slots to fill; mined after a transaction that asks for 10 (221,000 gas).
    await expect(sendBeforeLoad(s, attemptKey(s, "submit", row), data, 10)).to.be.rejectedWith(TxRevertedError);
    const receipt = await s.send({ key: attemptKey(s, "submit", row), to: chain.address, data });
    expect(receipt.status).to.equal(1);
    expect(await chain.emitter.worked(slot + 9n)).to.equal(1n);
    expect(s.action("submit:1#2")?.status).to.equal("mined");
    expect((await nonceOnChain()) - first).to.equal(2); // the first transaction ran out of gas and changed nothing
  });

  it("gives an action whose transaction reverted in its block, its simulation passed, another attempt under its own key", async () => {
    // What the worker's pipeline sends with (attemptKey): a receipt refused in its block, though simulated against
    // the pending block, is simulated and sent again on its next pass, up to ACTION_ATTEMPTS times.
    const s = sender();
    await s.init();
    const row = { job_id: "7", request_tx: null };
    const data = emitterInterface.encodeFunctionData("touchy", [7]);
    const first = attemptKey(s, "submit", row);
    expect(first).to.equal("submit:7");
    await expect(sendBeforeLoad(s, first, data, 1)).to.be.rejectedWith(TxRevertedError);
    // The same key stays done (reverted, nothing sent again under it); the next attempt is its own action.
    const second = attemptKey(s, "submit", row);
    expect(second).to.equal("submit:7#2");
    await (await chain.emitter.setLoad(0)).wait();
    expect((await s.send({ key: second, to: chain.address, data })).status).to.equal(1);
    expect(attemptKey(s, "submit", row)).to.equal("submit:7#2"); // mined: the action is done
    expect(ACTION_ATTEMPTS).to.equal(3);
  });

  it("moves past a nonce that another signer of the same key used behind its back", async () => {
    const s = sender();
    await s.init();
    const intruder = new Wallet(key, chain.provider);
    await (await intruder.sendTransaction({ to: intruder.address, value: 1n })).wait();
    const before = await nonceOnChain();
    const r = await s.send({ key: "submit:after-intruder", to: chain.address, data: pingData(6) });
    expect((await chain.provider.getTransaction(r.hash))?.nonce).to.equal(before);
    // The nonce is asked of the chain for each new action: the used one is never even signed.
    expect(s.action("submit:after-intruder")?.hashes).to.have.length(1);
  });

  it("after a reorg dropped its mined transactions, sends from the chain's nonce and sends a vanished action anew", async () => {
    const s = sender();
    const first = await nonceOnChain();
    const fork = await rpc<string>(chain.provider, "evm_snapshot");
    const a = await s.send({ key: "submit:a", to: chain.address, data: pingData(1) });
    await s.send({ key: "settle:b", to: chain.address, data: pingData(2) });
    await rpc(chain.provider, "evm_revert", [fork]); // both transactions are gone, and the account's nonce with them
    // A new action takes the chain's nonce, not the next one of the sender's own count (which nobody would fill).
    const c = await s.send({ key: "claim:c", to: chain.address, data: pingData(3) });
    expect((await chain.provider.getTransaction(c.hash))?.nonce).to.equal(first);
    // The vanished action, asked for again, goes out as a new transaction instead of answering with a lost receipt.
    const again = await s.send({ key: "submit:a", to: chain.address, data: pingData(1) });
    expect(again.hash).to.not.equal(a.hash);
    expect((await chain.provider.getTransaction(again.hash))?.nonce).to.equal(first + 1);
    expect(s.action("submit:a")).to.deep.include({ status: "mined", txHash: again.hash });
    expect(await chain.emitter.pings()).to.equal(2n);
  });

  it("gives the nonce back when the node refuses a transaction for good (insufficient funds)", async () => {
    const poor = Wallet.createRandom();
    const s = sender({ wallet: new Wallet(poor.privateKey) });
    const err = await s.send({ key: "submit:poor", to: chain.address, data: pingData(5) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(TxRejectedError);
    expect(s.action("submit:poor")).to.equal(undefined);
    // Funded later, the same key goes through with nonce 0: the refused attempt used nothing.
    await (await chain.wallet.sendTransaction({ to: poor.address, value: 10n ** 18n })).wait();
    const r = await s.send({ key: "submit:poor", to: chain.address, data: pingData(5) });
    expect((await chain.provider.getTransaction(r.hash))?.nonce).to.equal(0);
  });
});
