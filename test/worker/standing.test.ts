/**
 * A worker claims a job only while it can serve it: staked at least the market's minimum, and reachable at the
 * endpoint registered with its stake (requesters upload inputs there). Before, a worker whose registration was stale
 * (another run of its key registered another URL) or missing (started unstaked, staked since) claimed jobs whose
 * inputs never reached it (INPUT_MISSING, blamed on the requester), and one below the minimum quoted "take" and sent a
 * refused claim every pass until the job's deadline. Real hardhat node, real contracts, the worker in process.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import fs from "node:fs";
import path from "node:path";
import { encodeJobParams, JobStatus } from "../../offchain/protocol/params";
import { requestJob } from "../../offchain/deploy/posthuman";
import { sha256Hex } from "../../offchain/protocol/auth";
import {
  publishTinyModel,
  startWorker,
  startWorld,
  uploadWhenSeen,
  type RunningWorker,
  type World,
} from "../../offchain/devnet/world";
import { automineWarning } from "../../offchain/worker/rpc";

const E = (x: string) => ethers.parseEther(x);
const INFER = { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } } as const;

describe("worker standing: it claims only while staked enough and registered at its own endpoint", function () {
  this.timeout(300_000);
  let w: World;
  let rw: RunningWorker | undefined;

  before(async () => {
    w = await startWorld();
  });
  after(async () => {
    await rw?.worker.stop();
    await w?.stop();
  });

  it("refuses to start on a node that does not answer, or an address book whose contracts are not one deployment", async () => {
    const refused = (env: Record<string, string>) =>
      startWorker(w, "worker2", env).then(
        () => expect.fail("the worker started"),
        (e: Error) => e.message,
      );
    expect(await refused({ POSTHUMAN_WORKER_RPC_URL: "http://127.0.0.1:1" })).to.equal(
      "No RPC node answers at http://127.0.0.1:1 (ECONNREFUSED): start the node, or point the worker at one that runs (--rpc-url or POSTHUMAN_WORKER_RPC_URL).",
    );
    const book = JSON.parse(fs.readFileSync(w.bookFile, "utf8")) as { contracts: Record<string, string> };
    const swapped = path.join(w.tmp, "swapped.json");
    const { JobMarket, ModelRegistry } = book.contracts;
    fs.writeFileSync(
      swapped,
      JSON.stringify({ ...book, contracts: { ...book.contracts, JobMarket: ModelRegistry, ModelRegistry: JobMarket } }),
    );
    expect(await refused({ POSTHUMAN_WORKER_ADDRESS_BOOK: swapped })).to.match(
      /^The JobMarket at 0x[0-9a-fA-F]{40} \(address book .*swapped\.json\) is not a PostHuman JobMarket: the address book's contracts are not one deployment/,
    );
    const stale = path.join(w.tmp, "stale.json");
    fs.writeFileSync(
      stale,
      JSON.stringify({
        ...book,
        contracts: { ...book.contracts, JobMarket: "0x1212121212121212121212121212121212121212" },
      }),
    );
    expect(await refused({ POSTHUMAN_WORKER_ADDRESS_BOOK: stale })).to.match(
      /^No contract at JobMarket 0x1212121212121212121212121212121212121212 \(address book .*stale\.json\) on this chain/,
    );
  });

  it("warns of confirmations on a chain that mines a block only when a transaction comes (the dev chain's automine)", async () => {
    expect(await automineWarning(w.provider, 0)).to.equal(undefined);
    expect(await automineWarning(w.provider, 2)).to.equal(
      "this chain mines a block only when a transaction comes (automine): with 2 confirmations the worker would act " +
        "on a request only after 2 more transactions, so it ingests to the chain's head (confirmations 0) here",
    );
  });

  it("registers its URL at start over another that the chain names for its key (an earlier run's, another process's)", async () => {
    const url = "http://127.0.0.1:18999";
    const dataDir = fs.mkdtempSync(path.join(w.tmp, "standing-"));
    const jm = w.ph.jobMarket;
    rw = await startWorker(w, "worker2", { POSTHUMAN_WORKER_PUBLIC_URL: url }, dataDir);
    expect(await jm.endpointOf(w.address("worker2"))).to.equal(url);
    await rw.worker.stop();
    // Another process with the same key registered its own URL since: the restart (same data dir, same URL) takes it
    // back. (Before, its registration of this URL was recorded as done, and nothing was sent.)
    w.wallet("worker2").reset(); // (the worker sent transactions with this key)
    await (await jm.connect(w.wallet("worker2")).setEndpoint("http://127.0.0.1:18998")).wait();
    rw = await startWorker(w, "worker2", { POSTHUMAN_WORKER_PUBLIC_URL: url }, dataDir);
    expect(await jm.endpointOf(w.address("worker2"))).to.equal(url);
    await rw.worker.stop();
    rw = undefined;
  });

  it("below the market's minimum stake it quotes no, claims nothing and says why; staked again, it claims and serves the job", async () => {
    w.wallet("worker2").reset();
    const jm = w.ph.jobMarket.connect(w.wallet("worker2"));
    const me = w.address("worker2");
    const stake = await jm.stakeOf(me);
    await (await jm.requestUnstake(stake.free - E("50"))).wait(); // 50 left, the minimum is 100
    rw = await startWorker(w, "worker2");
    const m = await publishTinyModel(w, "alice", 21);
    await rw.client.uploadModel(w.wallet("alice"), m.modelId, m.dir);
    const dt = w.ocean.erc20Template.attach(m.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), E("2"))).wait();
    const prompts = Buffer.from("Fog over the harbour\n");

    const quote = await rw.client.quote(m.modelId, INFER, { fee: E("1"), ttlSec: 600, input: prompts });
    expect(quote).to.include({ take: false, final: false, code: "STAKE_BELOW_MINIMUM" });
    expect(quote.reason).to.equal(
      "this worker's stake (50) is below the market's minimum of 100: it claims no job until its operator stakes more",
    );
    // Alive, but claiming nothing: /healthz says so apart from `ok`, for an operator's monitor.
    const health = await rw.client.health();
    expect(health.ok).to.equal(true);
    expect(health.standing).to.deep.include({ ok: false, code: "STAKE_BELOW_MINIMUM" });

    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const jobId = await requestJob(w.ph, w.wallet("derek"), {
      modelId: m.modelId,
      kind: "Infer",
      inputHash: sha256Hex(prompts),
      fee: E("1"),
      deadline: now + 600,
      params: encodeJobParams(INFER),
    });
    await uploadWhenSeen(rw, w.wallet("derek"), jobId, prompts);
    for (let t = Date.now(); rw.worker.pipeline.progress(jobId.toString())?.waitsFor !== "worker";) {
      if (Date.now() - t > 30_000) throw new Error(`job ${jobId} never waited for the worker`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(rw.worker.pipeline.progress(jobId.toString())?.note).to.match(/below the market's minimum of 100/);
    await new Promise((r) => setTimeout(r, 3_000)); // passes go by: no claim is sent
    expect((await w.ph.jobMarket.getJob(jobId)).status).to.equal(BigInt(JobStatus.Open));
    expect(rw.worker.jobs.get(jobId)?.error_code ?? null).to.equal(null); // (a refused claim would say CLAIM_REFUSED)

    w.wallet("worker2").reset();
    await (await w.ocean.oceanToken.connect(w.wallet("worker2")).approve(await jm.getAddress(), E("100"))).wait();
    await (await jm.stake(E("100"))).wait();
    const row = await rw.worker.pipeline.until(jobId, ["submitted", "settled", "failed"], 120_000);
    expect(row.state).to.equal("submitted");
    expect((await w.ph.jobMarket.getJob(jobId)).worker).to.equal(me);
    expect((await rw.client.health()).standing).to.deep.equal({ ok: true });
  });
});
