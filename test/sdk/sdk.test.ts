/**
 * The SDK against the real contracts on Hardhat's in-process network (Ocean + PostHuman from the shared fixture):
 * init and its refusals, unsigned transactions, the flows people go through, errors that name the fix, and
 * verification by re-execution of a real (tiny) model's job. The worker's API is not needed here: jobs are requested
 * with `upload: false` and the fixture's worker submits receipts itself.
 */
import { expect } from "chai";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { ethers, network } from "hardhat";
import type { TransactionRequest } from "ethers";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { AddressBook } from "../../offchain/protocol/address-book";
import {
  JobKind,
  ONE_DATATOKEN,
  benchmarkId,
  decodeJobParams,
  toFixedLoss,
  trainParams,
  type JobParams,
} from "../../offchain/protocol/params";
import { jobReceipt } from "../../offchain/protocol/structs";
import { submitReceipt } from "../../offchain/deploy/posthuman";
import { BuiltinExecutor, builtinRuntimeId, builtinSettingsOf, createModel } from "../../offchain/ml";
import { jobFolder, jobSeed } from "../../offchain/protocol/job-spec";
import { writeJobDir } from "../../offchain/ml";
import { sha256Hex } from "../../offchain/protocol/auth";
import { LocalStore, PostHuman, SdkError, isSdkError } from "../../offchain/sdk";
import { explainRevert } from "../../offchain/sdk/errors";
import { MAX_JOB_TTL_SEC } from "../../offchain/sdk/core";
import { followJob } from "../../offchain/sdk/follow";
import { commandHint } from "../../offchain/cli/hints";
import { JobMarket__factory, ModelRegistry__factory } from "../../typechain-types";
import { M1_WEIGHTS_ROOT, posthumanFixture, type PostHumanFixture } from "../fixtures/posthuman";
import { trainChild } from "../contracts/helpers";
import { createApiServer, listen } from "../../offchain/worker/api";
import { authDomain } from "../../offchain/protocol/auth";
import { createLocalArtifactStore } from "../../offchain/worker/store";

const DATA = path.join(__dirname, "..", "..", "offchain", "cli", "demo-data");
const NO_WORKER = "http://127.0.0.1:9";

function bookOf(f: PostHumanFixture): AddressBook {
  return { chainId: 31337, startBlock: 0, contracts: { ...f.ocean.addresses, ...f.ph.addresses } };
}

async function clientFor(f: PostHumanFixture, signer: HardhatEthersSigner, dataDir?: string): Promise<PostHuman> {
  return PostHuman.init({ runner: signer, book: bookOf(f), workerUrl: NO_WORKER, dataDir });
}

async function expectSdkError(p: Promise<unknown>, code: SdkError["code"]): Promise<SdkError> {
  try {
    await p;
  } catch (e) {
    if (isSdkError(e, code)) return e;
    throw e;
  }
  throw new Error(`expected an SdkError ${code}`);
}

/**
 * The worker's real HTTP API over this chain's jobs (as a worker sees them once ingested: claimed, taking input), with
 * its input limit `maxInputBytes`, published in its health answer only with `publish`. The URL and a close function.
 */
async function workerApi(f: PostHumanFixture, maxInputBytes: number, publish: boolean) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-sdk-api-"));
  const server = createApiServer({
    domain: authDomain(31337, await f.ph.jobMarket.getAddress()),
    store: createLocalArtifactStore({ dir: path.join(tmp, "store") }),
    getJob: async (id) => {
      const j = await f.ph.jobMarket.getJob(id);
      return { requester: j.requester, inputHash: j.inputHash, acceptsInput: true, status: { state: "claimed" } };
    },
    inputReceived: async () => undefined,
    acceptModel: async () => ({ weightsRoot: ethers.ZeroHash }),
    health: () => (publish ? { ok: true, limits: { maxInputBytes } } : { ok: true }),
    metrics: () => "",
    limits: { maxInputBytes, maxModelBytes: 1 << 20 },
    tmpDir: tmp,
  });
  const url = await listen(server, "127.0.0.1", 0);
  return { url, close: () => (server.close(), server.closeAllConnections()) };
}

/**
 * A JSON-RPC node in front of Hardhat's in-process network that can stop answering as a chain does when it dies:
 * "fetch failed" (what `posthuman up`'s chain answers while the node behind it is down: ethers then throws BAD_DATA,
 * "missing response for request"), or not at all once closed (connections refused). A provider on it, as the CLI's.
 */
async function dyingChain() {
  let down = false;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const reply = (x: unknown) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(x));
      };
      if (down) return reply({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "fetch failed" } });
      const parsed = JSON.parse(body) as { id: number; method: string; params?: unknown[] }[] | { id: number };
      const one = async (r: { id: number; method: string; params?: unknown[] }) => {
        try {
          return { jsonrpc: "2.0", id: r.id, result: await network.provider.request(r) };
        } catch (e) {
          const x = e as { code?: number; message: string; data?: unknown };
          return { jsonrpc: "2.0", id: r.id, error: { code: x.code ?? -32603, message: x.message, data: x.data } };
        }
      };
      void (Array.isArray(parsed) ? Promise.all(parsed.map(one)) : one(parsed as never)).then(reply);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new ethers.JsonRpcProvider(url, 31337, { staticNetwork: true, cacheTimeout: -1 });
  return {
    provider,
    setDown: (d: boolean) => (down = d),
    /** Stops answering for good: connections are refused. */
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** An evaluation set long enough for context 64 (the input rules refuse shorter ones before anything is paid). */
const EVAL_TEXT = Buffer.from("The old men by the lighthouse mend their nets at dawn.\n".repeat(12));

const EVALUATE: JobParams = {
  kind: "Evaluate",
  params: {
    benchmarkId: benchmarkId("posthuman-demo/elena-eval"),
    contextLength: 64,
    maxTokens: 100_000,
    independent: false,
  },
};

describe("SDK (offchain/sdk)", function () {
  this.timeout(120_000);

  describe("PostHuman.init", () => {
    it("connects from a signer and reads the registry", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.bob);
      expect(await ph.address()).to.equal(f.bob.address);
      const m1 = await ph.registry.get(f.m1.modelId);
      expect(m1).to.include({ owner: f.alice.address, datatoken: f.m1.datatoken, generation: 0 });
      expect(await ph.registry.name(m1)).to.equal("M1");
    });

    it("refuses an address book of another chain", async () => {
      const f = await loadFixture(posthumanFixture);
      const e = await expectSdkError(
        PostHuman.init({ runner: f.bob, book: { ...bookOf(f), chainId: 11155111 } }),
        "WRONG_CHAIN",
      );
      expect(e.hint).to.match(/same chain/);
      expect(e.data).to.deep.equal({ nodeChainId: 31337, bookChainId: 11155111 });
    });

    it("refuses a stale address book whose contracts are not on this chain", async () => {
      const f = await loadFixture(posthumanFixture);
      const book = bookOf(f);
      await expectSdkError(
        PostHuman.init({
          runner: f.bob,
          book: { ...book, contracts: { ...book.contracts, ModelRegistry: ethers.Wallet.createRandom().address } },
        }),
        "NO_CONTRACTS",
      );
    });

    it("reads from a provider and refuses to write", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await PostHuman.init({ runner: ethers.provider, book: bookOf(f) });
      expect(await ph.registry.count()).to.equal(1n);
      await expectSdkError(ph.buyDatatokens(f.m1.modelId, ONE_DATATOKEN), "READ_ONLY");
    });

    it("says which model ids exist", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.bob);
      const e = await expectSdkError(ph.registry.get(7n), "UNKNOWN_MODEL");
      expect(e.message).to.match(/1 model so far/);
    });
  });

  describe("independent evaluations", () => {
    it("are refused before paying while no worker able to claim one is known, and requested once one is", async () => {
      const f = await loadFixture(posthumanFixture);
      // `worker` trains M2 (bob's); elena asks for an independent evaluation of it.
      const { childId } = await trainChild(f, f.bob, f.m1.modelId, M1_WEIGHTS_ROOT, ethers.id("M2"));
      const elena = await clientFor(f, f.elena);
      const params: JobParams = {
        kind: "Evaluate",
        params: { benchmarkId: ethers.ZeroHash, contextLength: 64, maxTokens: 1_000, independent: true },
      };
      const request = () =>
        elena.requestJob(childId, params, Buffer.from("held-out text, line after line. ".repeat(40)));
      const jobsBefore = await f.ph.jobMarket.jobCount();
      // No worker has registered an endpoint (and the configured one does not answer): nothing is paid.
      const none = await expectSdkError(request(), "NO_INDEPENDENT_WORKER");
      expect(none.message).to.match(new RegExp(`independent evaluation of model ${childId}`));
      expect(commandHint(none.code, none.data, none.hint)).to.match(/evaluate without --independent/);
      // The trainer registering its endpoint changes nothing; worker2 registering one does (the request then goes
      // on to its next check: elena holds no datatoken of M2).
      await (await f.ph.jobMarket.connect(f.worker).setEndpoint("http://worker.example")).wait();
      await expectSdkError(request(), "NO_INDEPENDENT_WORKER");
      await (await f.ph.jobMarket.connect(f.worker2).setEndpoint("http://worker2.example")).wait();
      await expectSdkError(request(), "NOT_ENOUGH_DATATOKENS");
      // A worker whose stake left (or whose endpoint was cleared) cannot claim: refused again.
      const stake = await f.ph.jobMarket.stakeOf(f.worker2.address);
      await (await f.ph.jobMarket.connect(f.worker2).requestUnstake(stake.free)).wait();
      await expectSdkError(request(), "NO_INDEPENDENT_WORKER");
      expect(await f.ph.jobMarket.jobCount()).to.equal(jobsBefore);
    });
  });

  /** A root model's publication named `name`, with weights root id("<name> weights"). */
  const rootModel = (name: string) => ({
    name,
    symbol: name,
    weightsRoot: ethers.id(`${name} weights`),
    pricing: { kind: "FixedRate" as const, rate: ethers.parseEther("2") },
    initialSupply: ONE_DATATOKEN,
  });

  describe("unsigned transactions (buildXTx)", () => {
    it("builds a publication that any signer can send", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.charlie);
      // Two transactions: the commitment to the weights root, then (from the next block on) the publish.
      const commit = await ph.registry.buildCommitTx(f.charlie.address, ethers.id("C1 weights"));
      expect(commit?.to).to.equal(f.ph.addresses.ModelRegistry);
      await (await f.charlie.sendTransaction(commit!)).wait();
      expect(await ph.registry.buildCommitTx(f.charlie.address, ethers.id("C1 weights"))).to.equal(null);
      const tx = await ph.registry.buildPublishTx(rootModel("C1"));
      expect(tx.to).to.equal(f.ph.addresses.ModelRegistry);
      expect(tx).to.not.have.property("from");
      await (await f.charlie.sendTransaction(tx)).wait();
      expect((await ph.registry.get(2n)).owner).to.equal(f.charlie.address);
    });

    it("publishes through a node that simulates against the latest block, as geth does: a block after the commitment", async () => {
      const f = await loadFixture(posthumanFixture);
      // charlie's transactions are estimated at "latest", where the commitment's own block makes the publish too early.
      const latest = new Proxy(f.charlie, {
        get(target, key, receiver) {
          if (key === "estimateGas")
            return async (tx: TransactionRequest) =>
              BigInt(
                await ethers.provider.send("eth_estimateGas", [
                  { from: target.address, to: tx.to, data: tx.data },
                  "latest",
                ]),
              );
          const v = Reflect.get(target, key, receiver) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const ph = await PostHuman.init({ runner: latest, book: bookOf(f), workerUrl: NO_WORKER });
      await ethers.provider.send("evm_setIntervalMining", [300]);
      try {
        const published = await ph.registry.publish(rootModel("C2"));
        expect((await ph.registry.get(published.modelId)).owner).to.equal(f.charlie.address);
      } finally {
        await ethers.provider.send("evm_setIntervalMining", [0]);
      }
    });

    it("builds a job request committing to the input's sha256", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.bob);
      const input = Buffer.from("Day seven. Left the harbour.\n");
      const tx = await ph.buildRequestJobTx(
        f.m1.modelId,
        { kind: "Infer", params: { maxTokens: 8, temperature: 0, topK: 0 } },
        input,
        { fee: ethers.parseEther("2"), deadline: 2_000_000_000n },
      );
      expect(tx.to).to.equal(f.ph.addresses.JobMarket);
      const call = f.ph.jobMarket.interface.parseTransaction({ data: tx.data });
      expect(call?.name).to.equal("requestJob");
      const req = call?.args[0] as { inputHash: string; fee: bigint; kind: bigint; params: string };
      expect(req.inputHash).to.equal(sha256Hex(input));
      expect(req.fee).to.equal(ethers.parseEther("2"));
      expect(req.kind).to.equal(BigInt(JobKind.Infer));
      expect(decodeJobParams(req.kind, req.params)).to.deep.equal({
        kind: "Infer",
        params: { maxTokens: 8, temperature: 0, topK: 0 },
      });
    });

    it("builds the exchange purchase, listings, vault and token writes against the right contracts", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.bob);
      const m1 = await ph.registry.get(f.m1.modelId);
      const buy = await ph.exchange.buildBuyTx(m1.exchangeId, ONE_DATATOKEN, ethers.parseEther("2"));
      expect(buy.to).to.equal(f.ocean.addresses.FixedRateExchange);
      expect(f.ocean.fixedRate.interface.parseTransaction({ data: buy.data })?.name).to.equal("buyDT");
      const list = await ph.listings.buildCreateListingTx(m1.id, ONE_DATATOKEN, ethers.parseEther("3"));
      expect(list.to).to.equal(f.ph.addresses.DatatokenMarket);
      const vault = ph.vault(m1.vault);
      for (const tx of [
        await vault.buildDistributeTx(),
        await vault.buildClaimTx(f.alice.address),
        await vault.buildPayTx(1n),
      ])
        expect(tx.to).to.equal(m1.vault);
      const approve = await ph.baseToken.buildApproveTx(f.ph.addresses.JobMarket, 5n);
      expect(approve.to).to.equal(f.ocean.addresses.OceanToken);
    });
  });

  describe("datatokens", () => {
    it("buys on Ocean's exchange through ocean.js, paying the quote", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.bob);
      const m1 = await ph.registry.get(f.m1.modelId);
      const quote = await ph.exchange.quote(m1.exchangeId, ethers.parseEther("2"));
      const before = await ph.baseToken.balanceOf(f.bob.address);
      const r = await ph.buyDatatokens(m1.id, ethers.parseEther("2"));
      expect(r.cost).to.equal(quote.cost);
      expect(r.approvals).to.have.length(1);
      expect(before - (await ph.baseToken.balanceOf(f.bob.address))).to.equal(quote.cost);
      expect(await ph.token(m1.datatoken).balanceOf(f.bob.address)).to.equal(ethers.parseEther("2"));
      expect((await ph.exchange.get(m1.exchangeId)).btBalance).to.equal(ethers.parseEther("2"));
    });

    it("sells to another holder through a listing, paying the seller", async () => {
      const f = await loadFixture(posthumanFixture);
      const alice = await clientFor(f, f.alice);
      const charlie = await clientFor(f, f.charlie);
      const { listingId } = await alice.sellDatatokens(f.m1.modelId, ethers.parseEther("4"), ethers.parseEther("3"));
      expect((await charlie.listings.list({ modelId: f.m1.modelId })).map((l) => l.id)).to.deep.equal([listingId]);
      const before = await alice.baseToken.balanceOf(f.alice.address);
      // A fraction pays for no job: refused before anything is sent, unless the buyer allows it.
      const nonce = await ethers.provider.getTransactionCount(f.charlie.address);
      const frac = await expectSdkError(charlie.buyFromListing(listingId, ethers.parseEther("1.5")), "PARAMS_INVALID");
      expect(frac.data).to.deep.include({ param: "amount", instead: [ethers.parseEther("2"), ethers.parseEther("1")] });
      expect(await ethers.provider.getTransactionCount(f.charlie.address)).to.equal(nonce);
      const r = await charlie.buyFromListing(listingId, ethers.parseEther("1.5"), { allowFraction: true });
      expect(r).to.include({ cost: ethers.parseEther("4.5"), seller: f.alice.address, modelId: f.m1.modelId });
      expect((await alice.baseToken.balanceOf(f.alice.address)) - before).to.equal(ethers.parseEther("4.5"));
      const e = await expectSdkError(charlie.buyFromListing(listingId, ethers.parseEther("3")), "UNKNOWN_LISTING");
      expect(e.hint).to.match(/another listing/);
      expect(e.data).to.include({ modelId: f.m1.modelId, remaining: ethers.parseEther("2.5") });
      const { returned } = await alice.listings.cancelListing(listingId);
      expect(returned).to.equal(ethers.parseEther("2.5"));
    });

    it("refuses a purchase above the buyer's maximum before sending anything, saying the cost", async () => {
      const f = await loadFixture(posthumanFixture);
      const alice = await clientFor(f, f.alice);
      const charlie = await clientFor(f, f.charlie);
      const m1 = await charlie.registry.get(f.m1.modelId);
      const quote = await charlie.exchange.quote(m1.exchangeId, ethers.parseEther("2"));
      const { listingId } = await alice.sellDatatokens(f.m1.modelId, ethers.parseEther("4"), ethers.parseEther("3"));
      const before = await ethers.provider.getTransactionCount(f.charlie.address);
      const onExchange = await expectSdkError(
        charlie.buyDatatokens(m1.id, ethers.parseEther("2"), { maxBase: quote.cost - 1n }),
        "COST_ABOVE_MAX",
      );
      expect(onExchange.data).to.include({ modelId: m1.id, cost: quote.cost, max: quote.cost - 1n });
      expect(commandHint(onExchange.code, onExchange.data)).to.equal(
        `pass --max-cost ${ethers.formatEther(quote.cost)} or more, or ask for fewer`,
      );
      const fromListing = await expectSdkError(
        charlie.buyFromListing(listingId, ethers.parseEther("1"), { maxCost: ethers.parseEther("1") }),
        "COST_ABOVE_MAX",
      );
      expect(fromListing.message).to.match(/costs 3 OCEAN, above your maximum of 1\. Nothing was sent/);
      expect(await ethers.provider.getTransactionCount(f.charlie.address)).to.equal(before);
    });

    it("words the reverts people meet: a require reason, a job's status by name, a root already taken", () => {
      const coder = ethers.AbiCoder.defaultAbiCoder();
      const withData = (data: string) =>
        Object.assign(new Error("execution reverted"), { code: "CALL_EXCEPTION", data });
      const reason = explainRevert(
        withData("0x08c379a0" + coder.encode(["string"], ["FixedRateExchange: Too many base tokens"]).slice(2)),
        [],
        "buyDT",
      ) as SdkError;
      expect(reason.message).to.equal("buyDT reverted: FixedRateExchange: Too many base tokens");
      const market = JobMarket__factory.createInterface();
      const status = explainRevert(
        withData(market.encodeErrorResult("JobMarketUnexpectedStatus", [3n, 5n])),
        [market],
        "challengeReceipt",
      ) as SdkError;
      expect(status.hint).to.equal("job 3 is Settled, which does not allow this");
      const registry = ModelRegistry__factory.createInterface();
      const root = explainRevert(
        withData(registry.encodeErrorResult("ModelRegistryWeightsRootTaken", [ethers.id("w"), 1n])),
        [registry],
        "publishModel",
      ) as SdkError;
      expect(root.hint).to.equal("these weights are model 1 already: a weights root belongs to one model");
      const early = explainRevert(
        withData(registry.encodeErrorResult("ModelRegistryWeightsRootNotCommitted", [ethers.id("w"), 12n])),
        [registry],
        "publishModel",
      ) as SdkError;
      expect(early.hint).to.equal("the commitment is from block 12: publish again in a later block");
    });

    it("words the reverts that carry a time: the date in UTC, how long until then, and what may be done after", () => {
      const market = JobMarket__factory.createInterface();
      const withData = (data: string) =>
        Object.assign(new Error("execution reverted"), { code: "CALL_EXCEPTION", data });
      const now = Math.floor(Date.now() / 1000);
      const deadline = now + 3 * 3600 + 20 * 60 + 10;
      const iso = new Date(deadline * 1000).toISOString().replace(/\.000Z$/, "Z");
      const early = explainRevert(
        withData(market.encodeErrorResult("JobMarketDeadlineNotReached", [9n, deadline])),
        [market],
        "reclaimJob",
      ) as SdkError;
      expect(early.message).to.equal(`reclaimJob reverted: JobMarketDeadlineNotReached(9, ${iso})`);
      expect(early.hint).to.equal(
        `job 9's deadline is ${iso} (UTC, chain time), in about 3 h 20 min: until then its worker may still deliver; ` +
          "after it anyone may reclaim the job (the fee and the datatoken go back to the requester)",
      );
      expect(early.data.args).to.deep.equal(["9", String(deadline)]);
      const open = explainRevert(
        withData(market.encodeErrorResult("JobMarketChallengeWindowOpen", [4n, now + 90])),
        [market],
        "settleJob",
      ) as SdkError;
      expect(open.hint).to.match(
        /^the window is open until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC, chain time\), in about 1 min (30|29) s: try again after it$/,
      );
      const closed = explainRevert(
        withData(market.encodeErrorResult("JobMarketChallengeWindowClosed", [4n, now - 2 * 86400])),
        [market],
        "challengeReceipt",
      ) as SdkError;
      expect(closed.hint).to.match(
        /^job 4's challenge window closed at \d{4}-.*Z \(UTC, chain time\), about 2 days ago: the receipt can no longer be challenged$/,
      );
      const pending = explainRevert(
        withData(market.encodeErrorResult("JobMarketArbitrationPending", [4n, now + 600])),
        [market],
        "settleJob",
      ) as SdkError;
      expect(pending.hint).to.match(
        /^the arbiter may decide job 4's challenge until \d{4}-.*Z \(UTC, chain time\), in about (10 min|9 min 59 s): after it anyone may settle the job$/,
      );
      const unstake = explainRevert(
        withData(market.encodeErrorResult("JobMarketUnstakeNotReady", [ethers.ZeroAddress, now + 2 * 86400 + 3600])),
        [market],
        "withdrawStake",
      ) as SdkError;
      expect(unstake.hint).to.match(
        /^the stake can be withdrawn from \d{4}-.*Z \(UTC, chain time\), in about 2 days 1 h$/,
      );
    });

    it("names the listings when a model is not on the exchange", async () => {
      const f = await loadFixture(posthumanFixture);
      const { childId } = await trainChild(
        f,
        f.bob,
        f.m1.modelId,
        (await f.ph.registry.getModel(1n)).weightsRoot,
        ethers.id("M2"),
      );
      const ph = await clientFor(f, f.derek);
      const e = await expectSdkError(ph.buyDatatokens(childId, ONE_DATATOKEN), "NO_EXCHANGE");
      expect(e.hint).to.contain("holder's listing");
      expect(e.data).to.deep.equal({ modelId: childId });
    });
  });

  describe("jobs", () => {
    it("says a job needs a datatoken, and where this model's are sold", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.derek);
      const e = await expectSdkError(ph.requestJob(f.m1.modelId, EVALUATE, EVAL_TEXT), "NOT_ENOUGH_DATATOKENS");
      expect(e.hint).to.contain("buy one on the exchange");
      // (`missing`: what makes a whole datatoken, here all of one.)
      expect(e.data).to.deep.equal({ modelId: f.m1.modelId, onExchange: true, missing: ethers.parseEther("1") });
    });

    it("says no worker answers, before paying anything", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.alice);
      const before = await ph.baseToken.balanceOf(f.alice.address);
      const e = await expectSdkError(ph.requestJob(f.m1.modelId, EVALUATE, EVAL_TEXT), "WORKER_UNREACHABLE");
      expect(e.message).to.match(/No worker answers at .*Nothing was paid/);
      expect(e.hint).to.match(/start a worker/);
      expect(await ph.jobs.count()).to.equal(0n);
      expect(await ph.baseToken.balanceOf(f.alice.address)).to.equal(before);
    });

    it("refuses an input larger than the worker takes before paying anything", async () => {
      const f = await loadFixture(posthumanFixture);
      const api = await workerApi(f, 100, true);
      try {
        const ph = await PostHuman.init({ runner: f.alice, book: bookOf(f), workerUrl: api.url });
        const before = await ph.baseToken.balanceOf(f.alice.address);
        const e = await expectSdkError(
          ph.requestJob(f.m1.modelId, EVALUATE, EVAL_TEXT, { inputName: "eval.txt" }),
          "INPUT_TOO_LARGE",
        );
        expect(e.message).to.equal(
          `eval.txt is ${EVAL_TEXT.length} bytes; the worker at ${api.url} takes job inputs of at most 100 bytes.`,
        );
        expect(e.hint).to.match(/nothing was paid/);
        expect(await ph.jobs.count()).to.equal(0n);
        expect(await ph.baseToken.balanceOf(f.alice.address)).to.equal(before);
      } finally {
        api.close();
      }
    });

    it("names the job, and what is escrowed, when its input does not reach the worker after the request", async () => {
      const f = await loadFixture(posthumanFixture);
      // A worker that does not publish its limit refuses the upload only once it sees it (413, connection closed).
      const api = await workerApi(f, 100, false);
      try {
        const ph = await PostHuman.init({ runner: f.alice, book: bookOf(f), workerUrl: api.url });
        const requesting = expectSdkError(
          ph.requestJob(f.m1.modelId, EVALUATE, EVAL_TEXT, { inputName: "eval.txt" }),
          "INPUT_NOT_DELIVERED",
        );
        // A worker claims the job (the SDK uploads to the claimant's endpoint, here the configured one).
        while ((await f.ph.jobMarket.jobCount()) === 0n) await new Promise((r) => setTimeout(r, 20));
        await (await f.ph.jobMarket.connect(f.worker).claimJob(1n)).wait();
        const e = await requesting;
        expect(e.message).to.match(
          /^Job 1 is requested on chain, its fee and datatoken escrowed, but eval\.txt did not reach the worker: .*INPUT_TOO_LARGE/,
        );
        expect(e.message).to.not.contain("Nothing was paid");
        expect(e.data).to.deep.equal({ jobId: 1n });
        expect(commandHint(e.code, e.data, e.hint)).to.equal(
          "cancel it while no worker has claimed it: posthuman job cancel 1; see where it stands: posthuman job show 1",
        );
        expect(await ph.jobs.get(1n)).to.include({ status: "Claimed", requester: f.alice.address });
      } finally {
        api.close();
      }
    });

    it("requests, follows to the receipt, and reports a failure with its reason", async () => {
      const f = await loadFixture(posthumanFixture);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-sdk-"));
      const ph = await clientFor(f, f.alice, dir);
      const input = EVAL_TEXT;
      const job = await ph.requestJob(f.m1.modelId, EVALUATE, input, { fee: ethers.parseEther("2"), upload: false });
      expect(job).to.include({ modelId: f.m1.modelId, kind: "Evaluate", inputHash: sha256Hex(input), uploaded: false });
      // Sent with 20 % gas over the node's estimate (which is at least what it used): another account's
      // transaction mined first may make it dearer (a CLI request ran out of gas on the bare estimate in CI).
      const [sentTx, mined] = await Promise.all([
        ethers.provider.getTransaction(job.txHash),
        ethers.provider.getTransactionReceipt(job.txHash),
      ]);
      expect(mined?.status).to.equal(1);
      expect((sentTx?.gasLimit ?? 0n) * 100n).to.be.at.least((mined?.gasUsed ?? 1n) * 120n);
      expect(ph.store?.input(job.inputHash)).to.deep.equal(input);
      expect(await ph.jobs.get(job.jobId)).to.include({ status: "Open", requester: f.alice.address });
      expect((await ph.jobs.requested(job.jobId)).decoded).to.deep.equal(EVALUATE);

      await (await f.ph.jobMarket.connect(f.worker).claimJob(job.jobId)).wait();
      const following = ph.followJob(job.jobId, { pollMs: 50 });
      await submitReceipt(f.ph.jobMarket, f.worker, job.jobId, {
        outputHash: ethers.id("out"),
        servedWeightsRoot: (await ph.registry.get(f.m1.modelId)).weightsRoot,
        runtimeId: ethers.id("runtime"),
        metrics: { evalLoss: toFixedLoss(3.1), evalTokens: 100n },
      });
      const receipt = await following;
      expect(receipt).to.include({ jobId: job.jobId, worker: f.worker.address, outputHash: ethers.id("out") });
      expect(receipt.metrics.evalLoss).to.equal(toFixedLoss(3.1));
      const metrics = await ph.metrics(f.m1.modelId);
      expect(metrics.evaluations.map((e) => e.loss)).to.deep.equal([toFixedLoss(3.1)]);

      const failing = await ph.requestJob(f.m1.modelId, EVALUATE, input, { upload: false });
      await (await f.ph.jobMarket.connect(f.worker).claimJob(failing.jobId)).wait();
      await (await f.ph.jobMarket.connect(f.worker).failJob(failing.jobId, 16)).wait();
      const e = await expectSdkError(ph.followJob(failing.jobId, { pollMs: 50 }), "JOB_ENDED");
      expect(e.message).to.contain("DATASET_TOO_SHORT");
      expect(e.hint).to.match(/fee was refunded/);
    });
    it("refuses a TTL past MAX_JOB_TTL_SEC (7 days), or not a whole number, before paying anything", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.alice);
      const before = await ph.baseToken.balanceOf(f.alice.address);
      for (const ttlSec of [99_999_999_999, 1e20, MAX_JOB_TTL_SEC + 1, 1.5, 0, -60]) {
        const e = await expectSdkError(
          ph.requestJob(f.m1.modelId, EVALUATE, EVAL_TEXT, { ttlSec, upload: false }),
          "PARAMS_INVALID",
        );
        expect(e.message, String(ttlSec)).to.equal(
          `A job's time to deliver (ttlSec) is ${ttlSec} s: it must be a whole number of seconds from 1 to ` +
            `${MAX_JOB_TTL_SEC} (7 days). No job was requested and nothing was paid.`,
        );
        expect(e.hint).to.match(
          /^ask for 7 days or less: if the worker that claims the job stops, its fee stays escrowed until the deadline/,
        );
        expect(e.data).to.deep.equal({ param: "ttlSec", ttlSec, max: MAX_JOB_TTL_SEC });
      }
      await expectSdkError(ph.jobDeadline(MAX_JOB_TTL_SEC + 1), "PARAMS_INVALID");
      expect(await ph.jobs.count()).to.equal(0n);
      expect(await ph.baseToken.balanceOf(f.alice.address)).to.equal(before);
      // The deadline is MAX_JOB_TTL_SEC after the later of the chain's time and the clock.
      const now = async () =>
        BigInt(Math.max((await ethers.provider.getBlock("latest"))!.timestamp, Math.floor(Date.now() / 1000)));
      const requestedAfter = await now();
      const job = await ph.requestJob(f.m1.modelId, EVALUATE, EVAL_TEXT, { ttlSec: MAX_JOB_TTL_SEC, upload: false });
      expect(job.deadline - BigInt(MAX_JOB_TTL_SEC)).to.be.within(requestedAfter, await now());
    });

    it("refuses params the job's encoding cannot carry (a temperature of 5000, 5e9 steps) before asking or paying anything, naming the option", async () => {
      const f = await loadFixture(posthumanFixture);
      const ph = await clientFor(f, f.alice);
      const before = await ph.baseToken.balanceOf(f.alice.address);
      const infer = (temperature: number, topK = 0): JobParams => ({
        kind: "Infer",
        params: { maxTokens: 4, temperature, topK },
      });
      const cases: [JobParams, string, string, string][] = [
        [infer(5_000_000_000), "temperature", "5000", "4294.967295"],
        [infer(1e36), "temperature", "1e+30", "4294.967295"],
        [infer(0, 5_000_000_000), "topK", "5000000000", "4294967295"],
        [infer(-1_000_000), "temperature", "-1", "4294.967295"],
        [trainParams({ steps: 5e9, lr: 0.003, batch: 2, context: 64 }), "steps", "5000000000", "4294967295"],
        [trainParams({ steps: 2, lr: 1e30, batch: 2, context: 64 }), "learningRate", "1e+30", "18446744073.709551615"],
      ];
      for (const [params, param, value, max] of cases) {
        // The worker at NO_WORKER is never asked: the params are refused first.
        const e = await expectSdkError(ph.requestJob(f.m1.modelId, params, EVAL_TEXT), "PARAMS_INVALID");
        expect(e.message, param).to.equal(
          `${params.kind === "Train" ? "A" : "An"} ${params.kind} job's ${param} of ${value} cannot be requested: it must be from 0 to ${max}. ` +
            "No job was requested and nothing was paid.",
        );
        expect(e.data).to.deep.equal({ param, value, max });
        await expectSdkError(ph.buildRequestJobTx(f.m1.modelId, params, EVAL_TEXT), "PARAMS_INVALID");
      }
      expect(commandHint("PARAMS_INVALID", { param: "temperature", value: "5000", max: "4294.967295" })).to.equal(
        "pass --temperature 4294.967295 or less (nothing was paid)",
      );
      expect(await ph.jobs.count()).to.equal(0n);
      expect(await ph.baseToken.balanceOf(f.alice.address)).to.equal(before);
    });

    it("keeps following a job while the chain's node restarts, and says the job is safe when it does not come back", async () => {
      const f = await loadFixture(posthumanFixture);
      const chain = await dyingChain();
      try {
        const alice = await clientFor(f, f.alice);
        const job = await alice.requestJob(f.m1.modelId, EVALUATE, EVAL_TEXT, { upload: false });
        await (await f.ph.jobMarket.connect(f.worker).claimJob(job.jobId)).wait();
        // A reader on the node that dies, as the CLI's `train` follows a job.
        const ph = await PostHuman.init({ runner: chain.provider, book: bookOf(f), workerUrl: NO_WORKER });

        // Down for about a second and a half (a node restarting): the follow waits for it and gets the receipt.
        chain.setDown(true);
        const following = followJob(ph, job.jobId, { pollMs: 50, reconnectMs: 20_000 });
        await new Promise((r) => setTimeout(r, 1500));
        await submitReceipt(f.ph.jobMarket, f.worker, job.jobId, {
          outputHash: ethers.id("out"),
          servedWeightsRoot: (await alice.registry.get(f.m1.modelId)).weightsRoot,
          runtimeId: ethers.id("runtime"),
          metrics: { evalLoss: toFixedLoss(3.1), evalTokens: 100n },
        });
        chain.setDown(false);
        expect(await following).to.include({ jobId: job.jobId, outputHash: ethers.id("out") });

        // Down for good ("fetch failed") while the job is followed, then gone (connections refused) before a follow:
        // the follow gives up, saying the job is where it was (as last seen) and how to see it again.
        const other = await alice.requestJob(f.m1.modelId, EVALUATE, EVAL_TEXT, { upload: false });
        const losing = expectSdkError(
          followJob(ph, other.jobId, { pollMs: 50, reconnectMs: 1000 }),
          "CHAIN_UNREACHABLE",
        );
        await new Promise((r) => setTimeout(r, 300));
        const started = Date.now();
        chain.setDown(true);
        const lost = await losing;
        expect(Date.now() - started).to.be.within(1000, 10_000);
        expect(lost.message).to.match(
          new RegExp(
            `^Lost the connection to the chain while following job ${other.jobId} \\(no answer for \\d+ s: fetch failed\\)\\. ` +
              `The job is safe: it stays on chain as it was \\(last seen Open; its fee escrowed\\), nothing is lost\\.$`,
          ),
        );
        expect(lost.hint).to.equal(
          "once the chain's node answers again, follow the job again: its status and its receipt are on chain",
        );
        expect(lost.data).to.deep.equal({ jobId: other.jobId });
        expect(commandHint(lost.code, lost.data, lost.hint)).to.match(new RegExp(`posthuman job show ${other.jobId} `));
        await chain.close();
        const refused = await expectSdkError(
          followJob(ph, other.jobId, { pollMs: 50, reconnectMs: 300 }),
          "CHAIN_UNREACHABLE",
        );
        expect(refused.message).to.match(/\(no answer for 1 s: ECONNREFUSED\)\. .*as it was \(its fee escrowed\)/);
      } finally {
        await chain.close();
        chain.provider.destroy();
      }
    });
  });

  describe("challenges", () => {
    it("challenges a receipt, and the arbiter upholds one (worker slashed, fee back) and dismisses another (settled)", async () => {
      const f = await loadFixture(posthumanFixture);
      const alice = await clientFor(f, f.alice);
      const elena = await clientFor(f, f.elena);
      const arbiter = await clientFor(f, f.arbiter);
      const input = EVAL_TEXT;
      const served = (await alice.registry.get(f.m1.modelId)).weightsRoot;
      const submitted = async () => {
        const job = await alice.requestJob(f.m1.modelId, EVALUATE, input, {
          fee: ethers.parseEther("2"),
          upload: false,
        });
        await (await f.ph.jobMarket.connect(f.worker).claimJob(job.jobId)).wait();
        await submitReceipt(f.ph.jobMarket, f.worker, job.jobId, {
          outputHash: ethers.id(`out ${job.jobId}`),
          servedWeightsRoot: served,
          runtimeId: ethers.id("runtime"),
          metrics: { evalLoss: toFixedLoss(3.1), evalTokens: 100n },
        });
        return job.jobId;
      };
      const ocean = (a: string) => f.ocean.oceanToken.balanceOf(a);

      const wrong = await submitted();
      const aliceBefore = await ocean(f.alice.address);
      const c = await elena.challengeReceipt(wrong);
      expect(c.bond).to.equal(f.params.challengeBond);
      expect((await alice.jobs.get(wrong)).status).to.equal("Challenged");
      // Only the arbiter decides.
      const notArbiter = await expectSdkError(elena.jobs.resolve(wrong, true), "REVERTED");
      expect(notArbiter.message).to.match(/NotArbiter|arbiter/i);
      // elena is a third party: alice (the requester) may join her challenge for a challenge window, decided after it.
      const early = await expectSdkError(arbiter.jobs.resolve(wrong, true), "REVERTED");
      expect(early.hint).to.match(/window is open until \d{4}-.*try again after it/);
      await time.increase(f.params.challengeWindow + 1);
      const upheld = await arbiter.jobs.resolve(wrong, true);
      expect(upheld.upheld).to.equal(true);
      expect(upheld.slashed).to.be.greaterThan(0n);
      expect((await alice.jobs.get(wrong)).status).to.equal("Slashed");
      expect(await ocean(f.alice.address)).to.be.greaterThan(aliceBefore); // fee back, plus a part of the collateral

      const right = await submitted();
      await elena.challengeReceipt(right);
      await time.increase(f.params.challengeWindow + 1);
      const dismissed = await arbiter.jobs.resolve(right, false);
      expect([dismissed.upheld, dismissed.slashed]).to.deep.equal([false, 0n]);
      expect((await alice.jobs.get(right)).status).to.equal("Settled");
      // A settled job cannot be settled again; the SDK names the contract's refusal.
      await expectSdkError(alice.jobs.settle(right), "REVERTED");
    });
  });

  describe("revenue", () => {
    it("moves a grandchild's payment up the lineage and claims it for each contributor", async () => {
      const f = await loadFixture(posthumanFixture);
      const m1Root = (await f.ph.registry.getModel(1n)).weightsRoot;
      const m2 = await trainChild(f, f.bob, 1n, m1Root, ethers.id("M2"));
      const m3 = await trainChild(f, f.charlie, m2.childId, ethers.id("M2"), ethers.id("M3"));
      const derek = await clientFor(f, f.derek);
      expect((await derek.lineage(m3.childId)).children[0].children[0].model.id).to.equal(m3.childId);
      await derek.pay(m3.childId, ethers.parseEther("10"));

      const { parentRoyaltyBps, trainerShareBps } = await derek.registry.config();
      const bps = BigInt(parentRoyaltyBps);
      const ts = BigInt(trainerShareBps);
      const m3Holders = ethers.parseEther("10") - (ethers.parseEther("10") * bps) / 10_000n;
      const charlie = await clientFor(f, f.charlie);
      const rows = await charlie.rewards();
      expect(rows.map((r) => r.modelId)).to.deep.equal([m3.childId]);
      expect(rows[0].undistributed).to.equal(ethers.parseEther("10"));
      const c = await charlie.claimAll();
      expect(c.distributed.map((d) => d.modelId)).to.deep.equal([m3.childId]);
      expect(Number(c.claimed[0].base - (m3Holders * ts) / 10_000n)).to.be.within(-2, 0);

      // Alice holds shares of M1 and M2: her claim distributes M3 (nothing left), M2, M1, and pays her from both.
      const alice = await clientFor(f, f.alice);
      const a = await alice.claimAll();
      expect(a.distributed.map((d) => d.modelId)).to.deep.equal([m2.childId, 1n]);
      expect(a.claimed.map((x) => x.modelId)).to.deep.equal([1n, m2.childId]);
      for (const x of a.claimed) expect(x.base).to.be.greaterThan(0n);
      const history = await alice.rewards();
      expect(history.flatMap((r) => r.claims.map((h) => h.txHash))).to.have.members(a.claimed.map((x) => x.txHash));
    });
    /**
     * Alice distributes M2's vault, estimated with nothing to book (the cheap path); Bob's tokens reach the vault in
     * the same block ahead of her write (a higher tip), so it has more to do than estimated.
     */
    async function distributeWhileTokensArrive(base: bigint, datatokens: bigint) {
      const f = await loadFixture(posthumanFixture);
      const m2 = await trainChild(f, f.bob, 1n, M1_WEIGHTS_ROOT, ethers.id("M2"));
      const m = await f.ph.registry.getModel(m2.childId);
      const vault = (await clientFor(f, f.alice)).vault(m.vault);
      expect(await vault.pending()).to.deep.equal({ base: 0n, datatokens: 0n });
      const nonce = await f.alice.getNonce();
      const tip = {
        maxPriorityFeePerGas: ethers.parseUnits("50", "gwei"),
        maxFeePerGas: ethers.parseUnits("100", "gwei"),
      };
      await ethers.provider.send("evm_setAutomine", [false]);
      try {
        let done = false;
        const distributing = vault.distribute().finally(() => (done = true));
        while (Number((await ethers.provider.send("eth_getBlockByNumber", ["pending", false])).transactions.length) < 1)
          await new Promise((r) => setTimeout(r, 10));
        if (base > 0n) await f.ocean.oceanToken.connect(f.bob).transfer(m.vault, base, tip);
        if (datatokens > 0n)
          await (await ethers.getContractAt("IERC20", m.datatoken)).connect(f.bob).transfer(m.vault, datatokens, tip);
        while (!done) {
          await ethers.provider.send("evm_mine", []);
          await new Promise((r) => setTimeout(r, 20));
        }
        const d = await distributing;
        expect(await vault.pending()).to.deep.equal({ base: 0n, datatokens: 0n });
        expect(await vault.owed()).to.deep.equal({ base: d.toHolders, datatokens });
        return { ...d, sent: (await f.alice.getNonce()) - nonce };
      } finally {
        await ethers.provider.send("evm_setAutomine", [true]);
      }
    }

    it("books datatokens a settlement sent between the estimate and the block, within the gas margin", async () => {
      const d = await distributeWhileTokensArrive(0n, ethers.parseEther("1"));
      expect([d.sent, d.toHolders, d.toParent]).to.deep.equal([1, 0n, 0n]);
    });

    it("sends again, estimated anew, a write that ran out of gas because it had more to do than estimated", async () => {
      const d = await distributeWhileTokensArrive(ethers.parseEther("3"), ethers.parseEther("1"));
      expect(d.sent).to.equal(2); // the first ran out of gas and changed nothing
      expect(d.toHolders + d.toParent).to.equal(ethers.parseEther("3"));
      expect(d.toParent).to.be.greaterThan(0n);
    });

    it("sends again a write that ran out of gas on a node that answers the send with the revert (Hardhat, automining)", async () => {
      const f = await loadFixture(posthumanFixture);
      const m2 = await trainChild(f, f.bob, 1n, M1_WEIGHTS_ROOT, ethers.id("M2"));
      const m = await f.ph.registry.getModel(m2.childId);
      // Alice's signer: her first send is preceded by Bob's tokens reaching the vault, after her estimate.
      let arrived = false;
      const alice = new Proxy(f.alice, {
        get(target, key, receiver) {
          if (key === "sendTransaction")
            return async (tx: TransactionRequest) => {
              if (!arrived) {
                arrived = true;
                await (await f.ocean.oceanToken.connect(f.bob).transfer(m.vault, ethers.parseEther("3"))).wait();
                const dt = await ethers.getContractAt("IERC20", m.datatoken);
                await (await dt.connect(f.bob).transfer(m.vault, ethers.parseEther("1"))).wait();
              }
              return target.sendTransaction(tx);
            };
          const v = Reflect.get(target, key, receiver) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const nonce = await f.alice.getNonce();
      const d = await (await clientFor(f, alice)).vault(m.vault).distribute();
      expect(d.toHolders + d.toParent).to.equal(ethers.parseEther("3"));
      expect((await f.alice.getNonce()) - nonce).to.equal(2); // the first ran out of gas, answered as a revert
    });
  });

  describe("verification by re-execution", () => {
    /** A real tiny model, published; an evaluation job on it whose receipt the worker computes (or forges). */
    async function evaluatedFixture(executor = new BuiltinExecutor()) {
      const f = await loadFixture(posthumanFixture);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-sdk-verify-"));
      const modelDir = path.join(dir, "m");
      await createModel(modelDir, { preset: "tiny", seed: 3 });
      const alice = await clientFor(f, f.alice, path.join(dir, "alice"));
      const published = await alice.publishModel({
        dir: modelDir,
        name: "Tiny",
        symbol: "TINY",
        pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
        initialSupply: ethers.parseEther("5"),
        upload: false,
      });
      const input = fs.readFileSync(path.join(DATA, "elena-eval.txt"));
      const job = await alice.requestJob(published.modelId, EVALUATE, input, { upload: false });
      await (await f.ph.jobMarket.connect(f.worker).claimJob(job.jobId)).wait();
      const jobDir = path.join(dir, "worker-job");
      const seed = jobSeed(job.jobId, job.inputHash);
      writeJobDir(
        jobDir,
        jobFolder({
          kind: "evaluate",
          params: (await alice.jobs.requested(job.jobId)).params,
          seed,
          modelDir,
          input,
        }),
      );
      const run = await executor.run({ kind: "evaluate", jobDir });
      const receipt = (outputHash: string) =>
        jobReceipt({
          outputHash,
          servedWeightsRoot: published.weightsRoot,
          runtimeId: run.runtimeId,
          seed: BigInt(seed),
          metrics: {
            evalLoss: toFixedLoss(run.metrics.evalLoss ?? 0),
            evalTokens: BigInt(run.metrics.tokenCount ?? 0),
          },
        });
      return { f, dir, alice, job, input, executor, run, receipt };
    }

    it("re-runs an honest receipt's job and finds the same hashes", async () => {
      const { f, alice, job, executor, run, receipt } = await evaluatedFixture();
      await (await f.ph.jobMarket.connect(f.worker).submitReceipt(job.jobId, receipt(run.outputHash))).wait();
      // Input and model come from the store: Alice uploaded the one and published the other.
      const v = await alice.verify(job.jobId, { executor });
      expect(v.verified, JSON.stringify(v.checks)).to.equal(true);
      expect(v.checks.map((c) => c.name)).to.deep.equal([
        "input hash",
        "served weights root",
        "seed",
        "runtime id",
        "output hash",
      ]);
    });

    it("re-runs with the builtin settings the receipt's runtime id names (a worker's --threads), unasked", async () => {
      const { f, alice, job, run, receipt } = await evaluatedFixture(new BuiltinExecutor({ threads: 1 }));
      expect(run.runtimeId).to.not.equal(builtinRuntimeId());
      await (await f.ph.jobMarket.connect(f.worker).submitReceipt(job.jobId, receipt(run.outputHash))).wait();
      const steps: string[] = [];
      const v = await alice.verify(job.jobId, { onStep: (l) => steps.push(l) });
      expect(v.verified, JSON.stringify(v.checks) + steps.join("\n")).to.equal(true);
      expect(v.checks.find((c) => c.name === "runtime id")?.actual).to.equal(run.runtimeId);
      expect(builtinSettingsOf(run.runtimeId)).to.deep.equal({ device: "cpu", threads: 1 });
      expect(builtinSettingsOf(builtinRuntimeId({ device: "webgpu", threads: 8 }))).to.deep.equal({
        device: "webgpu",
        threads: 8,
      });
      expect(builtinSettingsOf(ethers.id("another runtime"))).to.equal(undefined);
    });

    it("names the check a forged receipt fails", async () => {
      const { f, alice, job, executor, receipt } = await evaluatedFixture();
      await (await f.ph.jobMarket.connect(f.worker).submitReceipt(job.jobId, receipt(ethers.id("forged")))).wait();
      const v = await alice.verify(job.jobId, { executor });
      expect(v.verified).to.equal(false);
      expect(v.checks.filter((c) => !c.ok).map((c) => c.name)).to.deep.equal(["output hash"]);
    });

    it("asks for what it lacks: the input, or the model's folder", async () => {
      const { f, dir, job, input, executor, run, receipt } = await evaluatedFixture();
      await (await f.ph.jobMarket.connect(f.worker).submitReceipt(job.jobId, receipt(run.outputHash))).wait();
      const stranger = await clientFor(f, f.elena, path.join(dir, "elena"));
      expect((await expectSdkError(stranger.verify(job.jobId, { executor }), "INPUT_MISSING")).hint).to.match(
        /VerifyOptions.input/,
      );
      const e = await expectSdkError(stranger.verify(job.jobId, { executor, input }), "MODEL_FOLDER_MISSING");
      expect(e.hint).to.match(/VerifyOptions.modelDir/);
    });
  });

  describe("LocalStore", () => {
    it("keeps inputs by sha256 and model folders by weights root", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-store-"));
      const store = new LocalStore(path.join(dir, "store"));
      const hash = store.saveInput(Buffer.from("abc"));
      expect(hash).to.equal(sha256Hex(Buffer.from("abc")));
      expect(store.input(hash)?.toString()).to.equal("abc");
      expect(store.input(sha256Hex(Buffer.from("other")))).to.equal(undefined);
      const created = await createModel(path.join(dir, "m"), { preset: "tiny", seed: 1 });
      expect(await store.saveModel(created.dir)).to.equal(created.weightsRoot);
      expect(fs.existsSync(path.join(store.model(created.weightsRoot) as string, "model.safetensors"))).to.equal(true);
    });
  });
});
