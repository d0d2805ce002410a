import { expect } from "chai";
import { ethers } from "ethers";
import pino from "pino";
import { encodeJobParams } from "../../offchain/protocol/params";
import { requestJob } from "../../offchain/deploy/posthuman";
import { sha256Hex } from "../../offchain/protocol/auth";
import { createHeadsSubscriber, type HeadsSubscriber } from "../../offchain/worker/heads";
import { freePort, startHardhatNode, type HardhatNode } from "../../offchain/devnet/hardhat-node";
import { startTcpProxy } from "./support/tcp-proxy";
import { publishTinyModel, startWorker, startWorld, type RunningWorker, type World } from "../../offchain/devnet/world";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - start;
}

/** A pino logger whose lines land in `lines` (parsed), to check what the subscriber says and how often. */
function captureLog(): { log: pino.Logger; lines: { level: number; msg: string; ws?: string }[] } {
  const lines: { level: number; msg: string; ws?: string }[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const WARN = 40;

describe("new heads over WebSocket", function () {
  this.timeout(120_000);

  describe("createHeadsSubscriber (real hardhat node)", () => {
    let node: HardhatNode | undefined;
    let sub: HeadsSubscriber | undefined;
    afterEach(async () => {
      await sub?.stop();
      await node?.stop();
      sub = node = undefined;
    });

    it("calls onHead for each mined block, and resubscribes when the node comes back on its port", async () => {
      node = await startHardhatNode();
      const port = node.port;
      const heads: (number | null)[] = [];
      const { log, lines } = captureLog();
      sub = createHeadsSubscriber({
        url: node.wsUrl,
        chainId: 31337,
        onHead: (n) => heads.push(n),
        log,
        backoff: { minDelayMs: 50, maxDelayMs: 400 },
      });
      sub.start();
      const s = sub;
      await until(() => s.status().connected, "the subscription");
      const mine = async (url: string) => {
        const rpc = new ethers.JsonRpcProvider(url, 31337, { staticNetwork: true });
        await rpc.send("evm_mine", []);
        rpc.destroy();
      };
      await mine(node.url);
      await until(() => heads.includes(1), "head 1");

      await node.stop();
      await until(() => !s.status().connected && s.status().failures >= 3, "three failed reconnections");
      // One warning for the whole outage, naming the URL's origin; the retries are debug lines.
      expect(lines.filter((l) => l.level >= WARN)).to.have.length(1);
      expect(lines.find((l) => l.level >= WARN)?.ws).to.equal(`ws://127.0.0.1:${port}`);

      node = await startHardhatNode({ port }); // a fresh chain on the same port
      await until(() => s.status().connected, "the resubscription");
      const before = heads.length;
      await mine(node.url);
      await until(() => heads.length > before, "a head after the reconnection");
      expect(heads.at(-1)).to.equal(1);
      expect(lines.some((l) => l.msg === "new-heads WebSocket reconnected")).to.equal(true);
      expect(s.status()).to.deep.include({ connected: true, lastHead: 1 });
    });

    it("drops a connection that silently stops answering (keepalive), and resubscribes once the path is back", async () => {
      node = await startHardhatNode();
      const proxy = await startTcpProxy(node.port);
      const heads: (number | null)[] = [];
      const { log } = captureLog();
      sub = createHeadsSubscriber({
        url: `ws://127.0.0.1:${proxy.port}`,
        chainId: 31337,
        onHead: (n) => heads.push(n),
        log,
        backoff: { minDelayMs: 50, maxDelayMs: 200 },
        connectTimeoutMs: 500,
        keepaliveMs: 100,
        keepaliveTimeoutMs: 300,
      });
      const s = sub;
      try {
        s.start();
        await until(() => s.status().connected, "the subscription");
        proxy.freeze(); // the socket stays open; nothing gets through any more
        await until(() => !s.status().connected, "the dead connection noticed", 3_000);
        expect(s.status().lastError?.message).to.match(/did not answer a keepalive within 300 ms/);
        await sleep(300);
        expect(s.status().connected, "no subscription through a black hole").to.equal(false);
        proxy.thaw();
        await until(() => s.status().connected, "the resubscription", 5_000);
        const rpc = new ethers.JsonRpcProvider(node.url, 31337, { staticNetwork: true });
        await rpc.send("evm_mine", []);
        rpc.destroy();
        await until(() => heads.includes(1), "a head after the resubscription");
      } finally {
        await s.stop();
        await proxy.close();
      }
    });

    it("keeps retrying a dead port with backoff, never throwing, and stop() ends the retries", async () => {
      const port = await freePort();
      const { log, lines } = captureLog();
      sub = createHeadsSubscriber({
        url: `ws://127.0.0.1:${port}/v3/secret-api-key`,
        chainId: 31337,
        onHead: () => expect.fail("no head can come from a dead port"),
        log,
        backoff: { minDelayMs: 20, maxDelayMs: 100 },
      });
      sub.start();
      const s = sub;
      await until(() => s.status().failures >= 5, "five failed connections");
      expect(s.status().connected).to.equal(false);
      expect(s.status().lastError?.message).to.match(/ECONNREFUSED/);
      expect(lines.filter((l) => l.level >= WARN)).to.have.length(1);
      expect(JSON.stringify(lines)).not.to.include("secret-api-key");
      await s.stop();
      const after = s.status().failures;
      await sleep(300);
      expect(s.status().failures).to.equal(after);

      // A URL that passes the config's check but not ws's: ws quotes it whole in its error, the log must not.
      const bad = createHeadsSubscriber({
        url: "ws://127.0.0.1:99999/v3/secret-api-key",
        chainId: 31337,
        onHead: () => undefined,
        log,
        backoff: { minDelayMs: 20, maxDelayMs: 100 },
      });
      bad.start();
      await until(() => bad.status().failures >= 2, "two failed attempts");
      await bad.stop();
      expect(bad.status().lastError?.message).to.equal("Invalid URL: [redacted]");
      expect(JSON.stringify([lines, bad.status()])).not.to.include("secret-api-key");
    });
  });

  describe("a worker with a WebSocket URL (real contracts)", () => {
    let w: World;
    let m: Awaited<ReturnType<typeof publishTinyModel>>;
    const running: RunningWorker[] = [];

    before(async () => {
      w = await startWorld();
      m = await publishTinyModel(w, "alice", 41);
      const dt = w.ocean.erc20Template.attach(m.datatoken) as typeof w.ocean.erc20Template;
      await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), ethers.parseEther("10"))).wait();
    });
    afterEach(async () => {
      for (const rw of running.splice(0)) await rw.worker.stop();
    });
    after(async () => {
      await w?.stop();
    });

    async function start(who: "worker" | "worker2", env: Record<string, string>): Promise<RunningWorker> {
      const rw = await startWorker(w, who, env);
      running.push(rw);
      // The first round runs at start; wait for it so that the request below can only be seen by a later one.
      await until(() => rw.worker.ingestor.status().lastSyncAt !== null, `${who}'s first ingestion round`);
      return rw;
    }

    async function request(): Promise<bigint> {
      const input = Buffer.from(`prompt ${Math.random()}\n`);
      const now = (await w.provider.getBlock("latest"))!.timestamp;
      return requestJob(w.ph, w.wallet("derek"), {
        modelId: m.modelId,
        kind: "Infer",
        inputHash: sha256Hex(input),
        fee: ethers.parseEther("1"),
        deadline: now + 900,
        params: encodeJobParams({ kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } }),
      });
    }

    it("claims a request within seconds of its block with a 10-minute poll interval; without it, not seen", async () => {
      const woken = await start("worker", {
        POSTHUMAN_WORKER_POLL_INTERVAL: "10m",
        POSTHUMAN_WORKER_WS_URL: w.node.wsUrl,
      });
      const polling = await start("worker2", { POSTHUMAN_WORKER_POLL_INTERVAL: "10m" });
      expect(polling.worker.heads).to.equal(undefined);
      await woken.client.uploadModel(w.wallet("alice"), m.modelId, m.dir);
      await until(() => woken.worker.heads?.status().connected === true, "the subscription");

      const jobId = await request();
      const ms = await until(() => woken.worker.jobs.get(jobId)?.state === "claimed", "the claim", 8_000);
      expect(ms).to.be.lessThan(8_000);
      expect(woken.worker.heads?.status().heads).to.be.greaterThan(0);
      // The worker without the socket sleeps through its 10-minute poll: it has not even seen the request.
      expect(polling.worker.jobs.get(jobId)).to.equal(undefined);
      const metrics = await (await fetch(`${woken.worker.apiUrl}/metrics`)).text();
      expect(metrics).to.include("posthuman_ws_connected 1");
    });

    it("ingests by polling when the WebSocket URL points at a dead port, retrying the socket meanwhile", async () => {
      const dead = `ws://127.0.0.1:${await freePort()}`;
      const rw = await start("worker", { POSTHUMAN_WORKER_POLL_INTERVAL: "200ms", POSTHUMAN_WORKER_WS_URL: dead });
      const jobId = await request();
      await until(() => rw.worker.jobs.get(jobId) !== undefined, "the request, by polling");
      await until(() => (rw.worker.heads?.status().failures ?? 0) >= 2, "a second failed connection");
      expect(rw.worker.heads?.status().connected).to.equal(false);
      const metrics = await (await fetch(`${rw.worker.apiUrl}/metrics`)).text();
      expect(metrics).to.include("posthuman_ws_connected 0");
      expect(metrics).to.match(/posthuman_ws_failures_total [1-9]/);
    });
  });
});
