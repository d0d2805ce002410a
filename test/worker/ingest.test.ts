import { expect } from "chai";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { FetchRequest, FetchResponse, type JsonRpcProvider } from "ethers";
import { openWorkerDb, type WorkerDb } from "../../offchain/worker/db";
import {
  createIngestor,
  IngestHandlerError,
  type IngestRpc,
  type IngestorOptions,
  type LogFilter,
} from "../../offchain/worker/ingest";
import { createLogger, silentLogger } from "../../offchain/worker/log";
import { assertChainId, createProvider } from "../../offchain/worker/rpc";
import { startHardhatNode, type HardhatNode } from "../../offchain/devnet/hardhat-node";
import { deployEmitter, mine, ping, rpc, until, type TestChain } from "./support/chain";
import { pingHandler, PINGED_TOPIC, PINGS_MIGRATIONS, type PingHandler } from "./support/pings";
import { startTcpProxy } from "./support/tcp-proxy";

/** The real provider, with every getLogs range recorded and, while `maxRange` is set, ranges above it refused. */
function recordingRpc(inner: JsonRpcProvider) {
  const ranges: number[] = [];
  const state = { maxRange: Infinity, refused: 0, busy: false };
  const wrapped: IngestRpc = {
    getBlockNumber: () => inner.getBlockNumber(),
    getBlock: (n) => inner.getBlock(n),
    async getLogs(f: LogFilter) {
      const size = f.toBlock - f.fromBlock + 1;
      if (state.busy) {
        state.refused++;
        new FetchResponse(429, "Too Many Requests", {}, null, new FetchRequest("http://node.invalid")).assertOk();
      }
      if (size > state.maxRange) {
        state.refused++;
        throw Object.assign(new Error(`query exceeds max block range ${state.maxRange}`), { code: -32005 });
      }
      ranges.push(size);
      return inner.getLogs(f);
    },
  };
  return { rpc: wrapped, ranges, state };
}

describe("createIngestor (against a hardhat node)", function () {
  let node: HardhatNode;
  let chain: TestChain;
  let dir: string;
  let db: WorkerDb;
  let snapshot: string;

  before(async () => {
    node = await startHardhatNode();
    chain = await deployEmitter(node);
    await assertChainId(chain.provider, 31337, node.url);
  });
  after(async () => {
    await node?.stop();
  });
  beforeEach(async () => {
    snapshot = await rpc<string>(chain.provider, "evm_snapshot");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-ingest-"));
    db = openWorkerDb({ file: path.join(dir, "worker.sqlite") });
    db.migrate("test_pings", PINGS_MIGRATIONS);
  });
  afterEach(async () => {
    db.close();
    await rpc(chain.provider, "evm_revert", [snapshot]);
  });

  function ingestor(handler: PingHandler, extra: Partial<IngestorOptions> = {}) {
    return createIngestor({
      provider: chain.provider,
      db,
      addresses: [chain.address],
      topics: [PINGED_TOPIC],
      startBlock: 0,
      confirmations: 0,
      pollMs: 50,
      handler,
      log: silentLogger(),
      ...extra,
    });
  }
  const ids = (h: PingHandler): number[] => db.transaction((tx) => h.ids(tx));
  const dedupeRows = (): number =>
    (db.prepare("SELECT COUNT(*) AS n FROM ingest_logs").get<{ n: number }>() as { n: number }).n;

  it("ingests from startBlock in ranges of at most maxChunk blocks, in order, each log once", async () => {
    await ping(chain.emitter, 100); // before startBlock: never ingested
    const startBlock = (await chain.provider.getBlockNumber()) + 1;
    for (let i = 1; i <= 10; i++) await ping(chain.emitter, i);
    await (await chain.emitter.pingMany(11, 5)).wait(); // five logs in one block
    await mine(chain.provider, 3);
    const head = await chain.provider.getBlockNumber();

    const rec = recordingRpc(chain.provider);
    const h = pingHandler();
    const ing = ingestor(h, { provider: rec.rpc, startBlock, maxChunk: 4 });
    await ing.syncOnce();

    expect(ids(h)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(Math.max(...rec.ranges)).to.equal(4);
    expect(rec.ranges.reduce((a, b) => a + b, 0)).to.equal(head - startBlock + 1);
    const first = h.calls[0];
    expect(first.type === "apply" && first.range.fromBlock).to.equal(startBlock);
    const st = ing.status();
    expect(st.checkpoint.number).to.equal(head);
    expect(st.checkpoint.hash).to.equal((await chain.provider.getBlock(head))?.hash);
    expect(st.lagBlocks).to.equal(0);
    expect(st.logsApplied).to.equal(15);

    // Lose the checkpoint (as if it had never been written) and ingest again: the (txHash, logIndex) ledger
    // keeps every log from being applied a second time.
    db.prepare("UPDATE ingest_checkpoint SET block_number = ?, block_hash = NULL").run(startBlock - 1);
    const again = ingestor(h, { startBlock, maxChunk: 4 });
    await again.syncOnce();
    expect(ids(h)).to.have.length(15);
    expect(again.status().logsApplied).to.equal(0);
  });

  it("halves the getLogs range when the node refuses it and grows it back when it no longer does", async () => {
    const rec = recordingRpc(chain.provider);
    rec.state.maxRange = 3; // a provider that refuses ranges above 3 blocks
    for (let i = 1; i <= 4; i++) await ping(chain.emitter, i);
    await mine(chain.provider, 20);
    const h = pingHandler();
    const ing = ingestor(h, { provider: rec.rpc, maxChunk: 16, growAfter: 2 });
    await ing.syncOnce();
    expect(ids(h)).to.deep.equal([1, 2, 3, 4]);
    expect(rec.state.refused).to.be.greaterThan(0);
    expect(Math.max(...rec.ranges)).to.be.at.most(3);
    expect(ing.status().rpcErrors).to.equal(rec.state.refused);
    expect(ing.status().chunkSize).to.be.at.most(4);

    rec.state.maxRange = Infinity; // the node recovers
    rec.ranges.length = 0;
    await mine(chain.provider, 60);
    await ping(chain.emitter, 5);
    await mine(chain.provider, 60);
    await ing.syncOnce();
    expect(ids(h)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(rec.ranges).to.include(16);
    expect(ing.status().chunkSize).to.equal(16);
  });

  it("keeps its range when the node answers 429 Too Many Requests: the round fails and backs off", async () => {
    const rec = recordingRpc(chain.provider);
    rec.state.busy = true;
    await ping(chain.emitter, 1);
    const h = pingHandler();
    const ing = ingestor(h, { provider: rec.rpc, maxChunk: 16 });
    await expect(ing.syncOnce()).to.be.rejectedWith(/429 Too Many Requests/);
    expect(rec.state.refused).to.equal(1);
    expect(ing.status().chunkSize).to.equal(16);
    rec.state.busy = false;
    await ing.syncOnce();
    expect(ids(h)).to.deep.equal([1]);
  });

  it("rolls back everything of a range when the handler throws, then applies it exactly once", async () => {
    for (let i = 1; i <= 6; i++) await ping(chain.emitter, i);
    const inner = pingHandler();
    let failOn: number | undefined = 4;
    const h: PingHandler = {
      ...inner,
      apply(logs, tx, range) {
        inner.apply(logs, tx, range); // writes its rows first...
        if (failOn !== undefined && inner.ids(tx).includes(failOn)) throw new Error("crash inside the transaction");
      },
    };
    const ing = ingestor(h, { maxChunk: 2 });
    const err = await ing.syncOnce().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(IngestHandlerError);
    // ...and none of them, nor the (txHash, logIndex) records, nor the checkpoint, survived the failed range.
    const cp = ing.status().checkpoint.number;
    const applied = ids(inner);
    expect(applied).to.not.include(4);
    expect(dedupeRows()).to.equal(applied.length);
    const lastBlock = db.prepare("SELECT MAX(block_number) AS b FROM test_pings").get<{ b: number | null }>()?.b;
    expect(cp).to.be.at.least(lastBlock ?? 0);
    expect(ing.status().handlerErrors).to.equal(1);

    failOn = undefined;
    await ing.syncOnce();
    expect(ids(inner)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(dedupeRows()).to.equal(6);
  });

  it("survives a SIGKILL in the middle of the handler's transaction and resumes without applying anything twice", async () => {
    const startBlock = (await chain.provider.getBlockNumber()) + 1;
    for (let i = 1; i <= 8; i++) await ping(chain.emitter, i);
    const file = db.file;
    db.close();
    const child = spawn(
      process.execPath,
      [
        "-r",
        "ts-node/register/transpile-only",
        path.join(__dirname, "support", "ingest-child.ts"),
        node.url,
        file,
        chain.address,
        String(startBlock),
        "5",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" } },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_c, s) => resolve(s)));
    expect(signal, out).to.equal("SIGKILL");

    db = openWorkerDb({ file });
    const h = pingHandler();
    // The range holding ping 5 (and its ledger records and checkpoint) was lost with the process; earlier ones kept.
    const before = ids(h);
    expect(before).to.not.include(5);
    expect(before.length).to.be.greaterThan(0);
    expect(dedupeRows()).to.equal(before.length);

    const ing = ingestor(h, { startBlock, maxChunk: 2, topics: undefined }); // the child's settings
    expect(ing.status().checkpoint.number).to.be.at.least(startBlock);
    await ing.syncOnce();
    expect(ids(h)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("on a reorg, rolls back to the common ancestor, drops the vanished events and applies the new ones", async () => {
    await ping(chain.emitter, 1);
    const ancestor = await chain.provider.getBlockNumber();
    const snap = await rpc<string>(chain.provider, "evm_snapshot");
    await ping(chain.emitter, 2);
    await ping(chain.emitter, 3);
    const h = pingHandler();
    const ing = ingestor(h);
    await ing.syncOnce();
    expect(ids(h)).to.deep.equal([1, 2, 3]);
    const oldHead = ing.status().checkpoint;

    // Another fork of the same height: the checkpoint's number is still the head, only its hash differs.
    await rpc(chain.provider, "evm_revert", [snap]);
    await mine(chain.provider, 1);
    await ping(chain.emitter, 4);
    expect(await chain.provider.getBlockNumber()).to.equal(oldHead.number);
    await ing.syncOnce();

    expect(h.calls.filter((c) => c.type === "rollback")).to.deep.equal([{ type: "rollback", ancestor }]);
    expect(ids(h)).to.deep.equal([1, 4]);
    const ledger = db.prepare("SELECT tx_hash FROM ingest_logs").all<{ tx_hash: string }>();
    expect(ledger).to.have.length(2);
    const st = ing.status();
    expect(st.checkpoint.number).to.equal(oldHead.number);
    expect(st.checkpoint.hash).to.not.equal(oldHead.hash);
    expect(st.reorgs).to.equal(1);
    expect(st.deepReorgs).to.equal(0);
  });

  it("reports a reorg deeper than the confirmations loudly (error log and counter)", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    await ping(chain.emitter, 1);
    const ancestor = await chain.provider.getBlockNumber();
    const snap = await rpc<string>(chain.provider, "evm_snapshot");
    await ping(chain.emitter, 2);
    await ping(chain.emitter, 3);
    await mine(chain.provider, 2);
    const h = pingHandler();
    const ing = ingestor(h, { confirmations: 2, log: createLogger({ destination: sink }) });
    await ing.syncOnce();
    expect(ids(h)).to.deep.equal([1, 2, 3]); // blocks of pings 2 and 3 had two blocks on top

    await rpc(chain.provider, "evm_revert", [snap]); // a fork that replaces the blocks of pings 2 and 3
    await ping(chain.emitter, 4);
    await mine(chain.provider, 5);
    await ing.syncOnce();

    expect(h.calls.filter((c) => c.type === "rollback")).to.deep.equal([{ type: "rollback", ancestor }]);
    expect(ids(h)).to.deep.equal([1, 4]);
    expect(ing.status().deepReorgs).to.equal(1);
    const errors = lines.map((l) => JSON.parse(l) as { level: number; msg: string; ancestor?: number });
    const loud = errors.filter((l) => l.level >= 50 && /reorg deeper than 2 confirmations/.test(l.msg));
    expect(loud).to.have.length(1);
    expect(loud[0].ancestor).to.equal(ancestor);
  });

  it("keeps retrying with backoff while the RPC node is unreachable and resumes when it is back", async () => {
    const proxy = await startTcpProxy(node.port);
    const provider = createProvider({ url: proxy.url, chainId: 31337, timeoutMs: 1000 });
    const h = pingHandler();
    const ing = ingestor(h, { provider, pollMs: 50, backoff: { minDelayMs: 50, maxDelayMs: 400 } });
    try {
      ing.start();
      await ping(chain.emitter, 1);
      await until(() => ids(h).includes(1), "ping 1 to be ingested");

      await proxy.pause(); // the node is gone for the worker
      await ping(chain.emitter, 2);
      await ping(chain.emitter, 3);
      await until(() => ing.status().consecutiveFailures >= 3, "three failed rounds");
      const down = ing.status();
      expect(down.running).to.equal(true);
      expect(down.rpcErrors).to.be.at.least(3);
      expect(down.lastError?.message).to.match(/ECONNREFUSED|ECONNRESET|socket|timeout/i);
      expect(ids(h)).to.deep.equal([1]);

      await proxy.resume(); // and back, with the same chain
      await until(() => ids(h).length === 3, "pings 2 and 3 after the node came back");
      expect(ids(h)).to.deep.equal([1, 2, 3]);
      await until(() => ing.status().consecutiveFailures === 0, "a successful round");
    } finally {
      await ing.stop();
      await proxy.close();
      provider.destroy();
    }
    expect(ing.status().running).to.equal(false);
  });

  it("wake() starts a round at once instead of waiting for the poll interval", async () => {
    const h = pingHandler();
    const ing = ingestor(h, { pollMs: 60_000 });
    ing.start();
    try {
      await until(() => ing.status().lastSyncAt !== null, "the first round");
      await ping(chain.emitter, 1);
      ing.wake();
      await until(() => ids(h).includes(1), "ping 1 after wake()", 3000);
    } finally {
      await ing.stop();
    }
  });

  it("refuses a database that was ingesting other contracts", async () => {
    await ingestor(pingHandler()).syncOnce();
    expect(() => ingestor(pingHandler(), { addresses: [chain.wallet.address] })).to.throw(
      /was started with other contracts.*Use a new data directory/,
    );
  });
});
