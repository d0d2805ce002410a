/**
 * Reading event logs through a node that refuses wide `eth_getLogs` ranges, as public nodes do (protocol/logs.ts):
 * the SDK's history reads (requests, receipts, claims) give the same answers as through a node without a limit.
 */
import { expect } from "chai";
import { ethers, network } from "hardhat";
import {
  FetchRequest,
  FetchResponse,
  JsonRpcApiProvider,
  type JsonRpcError,
  type JsonRpcPayload,
  type JsonRpcResult,
} from "ethers";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { logsInRanges } from "../../offchain/protocol/logs";
import { PostHuman } from "../../offchain/sdk";
import { posthumanFixture, M1_WEIGHTS_ROOT } from "../fixtures/posthuman";
import { trainChild } from "../contracts/helpers";

/** Hardhat's in-process node behind a refusal of getLogs over more than `maxSpan` blocks, worded as Infura does. */
class RangeLimitedNode extends JsonRpcApiProvider {
  refused = 0;
  spans: number[] = [];
  constructor(readonly maxSpan: number) {
    super({ chainId: 31337, name: "hardhat" }, { staticNetwork: true, batchMaxCount: 1 });
  }
  async _send(payload: JsonRpcPayload | JsonRpcPayload[]) {
    const out: (JsonRpcResult | JsonRpcError)[] = [];
    for (const p of [payload].flat()) {
      const params = p.params as unknown[];
      if (p.method === "eth_getLogs") {
        const f = params[0] as { fromBlock: string; toBlock: string };
        const span = Number(f.toBlock) - Number(f.fromBlock) + 1;
        this.spans.push(span);
        if (!(span <= this.maxSpan)) {
          this.refused++;
          out.push({ id: p.id, error: { code: -32005, message: "query returned more than 10000 results" } });
          continue;
        }
      }
      try {
        out.push({ id: p.id, result: await network.provider.request({ method: p.method, params }) });
      } catch (e) {
        const { code, message, data } = e as { code?: number; message: string; data?: unknown };
        out.push({ id: p.id, error: { code: code ?? -32000, message, data } });
      }
    }
    return out;
  }
}

describe("Logs over long ranges (protocol/logs.ts)", () => {
  async function historyFixture() {
    const f = await loadFixture(posthumanFixture);
    const m2 = await trainChild(f, f.bob, 1n, M1_WEIGHTS_ROOT, ethers.id("M2"));
    for (let i = 0; i < 30; i++) await network.provider.send("evm_mine"); // blocks between the events
    const m3 = await trainChild(f, f.charlie, m2.childId, ethers.id("M2"), ethers.id("M3"));
    const book = { chainId: 31337, startBlock: 0, contracts: { ...f.ocean.addresses, ...f.ph.addresses } };
    const client = (runner: typeof f.alice) => PostHuman.init({ runner, book, workerUrl: "http://127.0.0.1:9" });
    await (await client(f.derek)).pay(m3.childId, ethers.parseEther("10"));
    await (await client(f.alice)).claimAll();
    return { f, book, m2, m3 };
  }

  it("reads requests, receipts and claims through a node that refuses ranges over 8 blocks", async () => {
    const { book, m2, m3 } = await loadFixture(historyFixture);
    const read = async (ph: PostHuman) => ({
      requested: (await ph.jobs.requested(m3.jobId)).blockNumber,
      receipt: (await ph.jobs.receipt(m2.jobId))?.childWeightsRoot,
      ofModel: (await ph.jobs.receiptsOfModel(1n)).map((r) => r.jobId),
      claims: (await ph.rewards(await (await ethers.getSigners())[1].getAddress())).map((r) => r.claims.length),
    });
    const node = new RangeLimitedNode(8);
    const limited = await read(await PostHuman.init({ runner: node, book }));
    const whole = await read(await PostHuman.init({ runner: ethers.provider, book }));
    expect(limited).to.deep.equal(whole);
    expect(whole.receipt).to.equal(ethers.id("M2"));
    expect(whole.claims.reduce((a, b) => a + b, 0)).to.be.greaterThan(0);
    expect(node.refused).to.be.greaterThan(0);
    expect(Math.max(...node.spans.filter((s) => s <= 8))).to.be.at.least(5); // pieces near the limit, not single blocks
  });

  it("gives up with the node's error on a one-block range it refuses, and at once on a node it cannot reach", async () => {
    const node = new RangeLimitedNode(0);
    await expect(logsInRanges(node, 0, (a, b) => node.getLogs({ fromBlock: a, toBlock: b }), 20)).to.be.rejectedWith(
      /more than 10000 results/,
    );
    expect(node.spans).to.deep.equal([21, 11, 6, 3, 2, 1]);
    let calls = 0;
    const down = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8545"), { code: "ECONNREFUSED" });
    const refused = logsInRanges(node, 0, () => (calls++, Promise.reject(down)), 1000);
    await expect(refused).to.be.rejectedWith(/ECONNREFUSED/);
    expect(calls).to.equal(1);
    // A browser's failed fetch, wrapped by ethers: no smaller range would help either.
    calls = 0;
    const wrapped = Object.assign(new Error("failed"), { error: new TypeError("Failed to fetch") });
    await expect(logsInRanges(node, 0, () => (calls++, Promise.reject(wrapped)), 1000)).to.be.rejectedWith(/failed/);
    expect(calls).to.equal(1);
    // HTTP 429 still there after ethers' own retries (its error, made by its response object): more requests would
    // not help.
    calls = 0;
    const busy = () => {
      calls++;
      const response = new FetchResponse(429, "Too Many Requests", {}, null, new FetchRequest("http://node.invalid"));
      return Promise.resolve()
        .then(() => response.assertOk())
        .then(() => []);
    };
    await expect(logsInRanges(node, 0, busy, 1000)).to.be.rejectedWith(/429 Too Many Requests/);
    expect(calls).to.equal(1);
  });
});
