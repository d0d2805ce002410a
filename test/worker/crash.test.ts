import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { ethers } from "ethers";
import { encodeJobParams, JobStatus } from "../../offchain/protocol/params";
import { requestJob } from "../../offchain/deploy/posthuman";
import { authDomain, sha256Hex } from "../../offchain/protocol/auth";
import { DB_FILE_NAME, openWorkerDb } from "../../offchain/worker/db";
import { WorkerClient } from "../../offchain/sdk/worker-client";
import { freePort } from "../../offchain/devnet/hardhat-node";
import { publishTinyModel, startWorld, type World } from "../../offchain/devnet/world";
import { spawnWorker, type WorkerProcess } from "./support/worker-process";

const INFER = encodeJobParams({ kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } });

/**
 * Where the worker process is killed (SIGKILL, right after that point is committed; see offchain/worker/faults.ts):
 * every persisted state of the pipeline, and the moments a chain action is recorded but not yet broadcast.
 */
const POINTS = [
  "seen",
  "send.claim",
  "sent.claim",
  "claimed",
  "input_ready",
  "running",
  "output_stored",
  "send.submit",
  "submitted",
] as const;

describe("worker killed with SIGKILL at each state of the pipeline (worker process, real hardhat node)", function () {
  this.timeout(600_000);
  let w: World;
  let m: Awaited<ReturnType<typeof publishTinyModel>>;
  let dataDir: string;
  let port: number;
  let client: WorkerClient;
  let proc: WorkerProcess | undefined;

  before(async () => {
    w = await startWorld();
    m = await publishTinyModel(w, "alice", 21);
    const dt = w.ocean.erc20Template.attach(m.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), ethers.parseEther("20"))).wait();
    dataDir = fs.mkdtempSync(path.join(w.tmp, "crash-worker-"));
    port = await freePort();
    client = new WorkerClient(`http://127.0.0.1:${port}`, authDomain(31337, w.book.contracts.JobMarket));
  });
  after(async () => {
    await proc?.stop();
    await w?.stop();
  });

  /** Uploads the input to whichever worker process is up, retrying through crashes and restarts. */
  async function uploadThroughCrashes(jobId: bigint, input: Buffer): Promise<void> {
    for (const end = Date.now() + 120_000; ;) {
      try {
        await client.uploadInput(w.wallet("derek"), jobId, input);
        return;
      } catch (e) {
        // INPUT_CLOSED: an earlier attempt got through before its answer was lost to a crash.
        if (/INPUT_CLOSED|does not take input/.test(String(e))) return;
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 150));
      }
    }
  }

  /** Waits until the job's status on chain is at least `status` (Submitted, then Settled). */
  async function onChain(jobId: bigint, status: number): Promise<void> {
    for (const end = Date.now() + 120_000; ;) {
      const now = Number((await w.ph.jobMarket.getJob(jobId)).status);
      if (now >= status) return;
      if (Date.now() > end)
        throw new Error(`job ${jobId} has status ${now}, not ${status}; worker output:\n${proc?.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it("completes every job exactly once: one claim, one receipt, one settlement each, and no action sent twice", async () => {
    const jobs: { point: string; jobId: bigint }[] = [];
    const uploads: Promise<void>[] = [];
    for (const point of POINTS) {
      const jobId = (await w.ph.jobMarket.jobCount()) + 1n;
      // The process that finishes the previous job is the one armed to crash on this job.
      proc = await spawnWorker(w, { who: "worker", dataDir, port, crashAt: `${point}:${jobId}` });
      if (jobs.length === 0) await client.uploadModel(w.wallet("alice"), m.modelId, m.dir);
      // Once the previous job's receipt is on chain (its costly part done), the next job is requested.
      else await onChain(jobs[jobs.length - 1].jobId, JobStatus.Submitted);

      const input = Buffer.from(`Prompt for the crash at ${point}\n`);
      const now = (await w.provider.getBlock("latest"))!.timestamp;
      const requested = await requestJob(w.ph, w.wallet("derek"), {
        modelId: m.modelId,
        kind: "Infer",
        inputHash: sha256Hex(input),
        fee: ethers.parseEther("1"),
        deadline: now + 900,
        params: INFER,
      });
      expect(requested).to.equal(jobId);
      jobs.push({ point, jobId });
      uploads.push(uploadThroughCrashes(jobId, input));

      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no crash at ${point}:\n${proc?.output()}`)), 90_000).unref(),
      );
      const end = await Promise.race([proc.exited, timeout]);
      expect(end.signal, `the worker armed for ${point} died by SIGKILL`).to.equal("SIGKILL");
    }
    // Restarted without the switch: it finishes the last job.
    proc = await spawnWorker(w, { who: "worker", dataDir, port });
    await Promise.all(uploads);
    for (const { jobId } of jobs) await onChain(jobId, JobStatus.Settled);
    await proc.stop();

    const m_ = w.ph.jobMarket;
    for (const { point, jobId } of jobs) {
      const at = `job ${jobId} (killed at ${point})`;
      expect(Number((await m_.getJob(jobId)).status), at).to.equal(JobStatus.Settled);
      expect(await m_.queryFilter(m_.filters.JobClaimed(jobId)), `${at}: claims`).to.have.length(1);
      expect(await m_.queryFilter(m_.filters.ReceiptSubmitted(jobId)), `${at}: receipts`).to.have.length(1);
      expect(await m_.queryFilter(m_.filters.JobSettled(jobId)), `${at}: settlements`).to.have.length(1);
      expect(await m_.queryFilter(m_.filters.JobFailed(jobId)), `${at}: failures`).to.have.length(0);
    }

    // The sender's records: one action per (kind, job), each with a single signed transaction, all mined.
    const db = openWorkerDb({ file: path.join(dataDir, DB_FILE_NAME) });
    try {
      const actions = db
        .prepare(
          "SELECT a.key AS key, a.status AS status, COUNT(t.hash) AS txs FROM sender_actions a " +
            "LEFT JOIN sender_txs t ON t.key = a.key GROUP BY a.key ORDER BY a.key",
        )
        .all<{ key: string; status: string; txs: number }>();
      // Keys are <action>:<jobId>:<request>; one request per job here.
      const expected = jobs.flatMap(({ jobId }) => [`claim:${jobId}`, `settle:${jobId}`, `submit:${jobId}`]).sort();
      // Besides the jobs' actions, the worker registers its API endpoint on chain at start-up (`endpoint:<url hash>`,
      // once per URL however often it restarts).
      const jobActions = actions.filter((a) => !a.key.startsWith("endpoint:"));
      expect(actions.length - jobActions.length).to.be.at.most(1);
      expect(jobActions.map((a) => a.key.split(":").slice(0, 2).join(":")).sort()).to.deep.equal(expected);
      for (const a of actions) expect(a, a.key).to.deep.include({ status: "mined", txs: 1 });
      // Nothing else left the worker's account: its nonce is its two staking transactions plus these actions.
      expect(await w.provider.getTransactionCount(w.address("worker"))).to.equal(2 + actions.length);
      const rows = db
        .prepare("SELECT job_id, state FROM jobs ORDER BY CAST(job_id AS INTEGER)")
        .all<{ job_id: string; state: string }>();
      expect(rows.map((r) => r.state)).to.deep.equal(jobs.map(() => "settled"));
    } finally {
      db.close();
    }
  });
});
