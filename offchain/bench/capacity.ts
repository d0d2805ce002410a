/**
 * Worker capacity (issue 11): jobs per minute of one worker with 1, 2, 4 and 8 run slots, on a real `hardhat node`
 * with the real contracts, admission control on, and a fixed-duration executor (a sleep that writes a result), so
 * that the two cores do not cap the figure: what it measures is the protocol's side (ingest, admission, claim, input,
 * receipt), not the model runtime.
 *   - `jobs per minute` for a burst of 8 × slots inference jobs requested at once (sent without waiting for each other)
 *     to a warm worker (one job run first), counted from the first request to the last receipt; `capacity scaling` =
 *     that ÷ the one-slot figure (ideal: the slot count; the goal ≥ 0.9 × N);
 *   - `protocol overhead per job` (ms) = end to end (request sent → receipt mined) − the executor's own time, median
 *     over jobs run one at a time.
 * `POSTHUMAN_BENCH=capacity npm run bench` writes bench/results/capacity.json; CAPACITY_SLOTS=1,8 runs only those
 * slot counts, CAPACITY_JOBS_PER_SLOT=4 makes each burst shorter (its start-up weighs more), and CAPACITY_TRACE=1
 * prints each burst job's timeline (sent, claimed, started, run, submitted; ms).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import type { Executor } from "../ml";
import { findEvent, jobRequest } from "../protocol/structs";
import { datatokenAt } from "../protocol/contracts";
import { encodeJobParams } from "../protocol/params";
import { sha256Hex } from "../protocol/auth";
import { median, type BenchFigure } from "./figures";
import { publishTinyModel, startWorker, startWorld, type RunningWorker, type World } from "../devnet/world";

const SLEEP_MS = 2000;
const SLOTS = process.env.CAPACITY_SLOTS ? process.env.CAPACITY_SLOTS.split(",").map(Number) : [1, 2, 4, 8];
const JOBS_PER_SLOT = Number(process.env.CAPACITY_JOBS_PER_SLOT ?? 8);
const FEE = ethers.parseEther("1");
const INFER = encodeJobParams({ kind: "Infer", params: { maxTokens: 8, temperature: 0, topK: 0 } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An executor that takes SLEEP_MS per job whatever the job, and writes a small result; its own time per job. */
function sleepExecutor(took: Map<string, number>): Executor {
  return {
    id: "bench-sleep",
    runtimeId: ethers.id(`posthuman-bench-sleep-${SLEEP_MS}ms`),
    async run(job) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, SLEEP_MS);
        job.signal?.addEventListener("abort", () => (clearTimeout(t), reject(new Error("aborted"))), { once: true });
      });
      const bytes = Buffer.from(JSON.stringify({ kind: job.kind, sleptMs: SLEEP_MS }));
      const resultPath = path.join(job.jobDir, "outputs", "result.json");
      fs.mkdirSync(path.dirname(resultPath), { recursive: true });
      fs.writeFileSync(resultPath, bytes);
      took.set(path.basename(job.jobDir), performance.now() - t0);
      return { resultPath, outputHash: sha256Hex(bytes), metrics: { tokenCount: 0 }, runtimeId: this.runtimeId };
    },
  };
}

/**
 * Requests `n` inference jobs, all at once (sent back to back through a nonce manager, as many requesters would) or
 * each after the last one's receipt, and uploads each input; per job: sent-at and receipt ms.
 */
async function runJobs(w: World, rw: RunningWorker, modelId: bigint, n: number, tag: string, oneAtATime: boolean) {
  const derek = new ethers.NonceManager(w.wallet("derek"));
  const out: { jobId: bigint; sentAt: number; receiptAt: number }[] = [];
  const pending: Promise<void>[] = [];
  // One deadline for the whole burst, read once: the requests go out back to back.
  const deadline = (await w.provider.getBlock("latest"))!.timestamp + 1800;
  for (let i = 0; i < n; i++) {
    const input = Buffer.from(`Prompt ${tag} ${i}\n`);
    const sentAt = Date.now();
    const request = { modelId, kind: "Infer" as const, inputHash: sha256Hex(input), fee: FEE, params: INFER };
    // Sent in order, mined meanwhile (a gas limit of our own: no estimate between the sends).
    const sent = await w.ph.jobMarket
      .connect(derek)
      .requestJob(jobRequest({ ...request, deadline }), { gasLimit: 500_000 });
    const requested = sent.wait().then((r) => findEvent(w.ph.jobMarket, r, "JobRequested").args.jobId as bigint);
    const done = (async () => {
      const jobId = await requested;
      for (let k = 0; ; k++) {
        try {
          await rw.client.uploadInput(derek, jobId, input);
          break;
        } catch (e) {
          if (k > 800) throw e;
          await sleep(25);
        }
      }
      for (const end = Date.now() + 300_000; ; await sleep(200)) {
        const row = rw.worker.jobs.get(jobId);
        if (row?.submitted_at_ms) return void out.push({ jobId, sentAt, receiptAt: Number(row.submitted_at_ms) });
        if (Date.now() > end) throw new Error(`job ${jobId} got no receipt in 5 minutes (${row?.state ?? "not seen"})`);
      }
    })();
    if (oneAtATime) await done;
    else pending.push(done);
  }
  await Promise.all(pending);
  return out;
}

export async function benchCapacity(): Promise<BenchFigure[]> {
  const w = await startWorld({ challengeWindow: 3 });
  const figures: BenchFigure[] = [];
  const machine = { executor: `sleep ${SLEEP_MS} ms`, kind: "infer", cores: os.cpus().length };
  let rw: RunningWorker | undefined;
  try {
    const total = 4 + SLOTS.reduce((a, s) => a + 1 + s * JOBS_PER_SLOT, 0);
    const m = await publishTinyModel(w, "alice", 5, { supply: ethers.parseEther(String(total + 10)) });
    const market = w.book.contracts.JobMarket;
    const dt = datatokenAt(m.datatoken, w.wallet("alice"));
    await (await dt.transfer(w.address("derek"), ethers.parseEther(String(total)))).wait();
    await (await datatokenAt(m.datatoken, w.wallet("derek")).approve(market, ethers.parseEther(String(total)))).wait();
    await (await w.ocean.oceanToken.connect(w.wallet("derek")).approve(market, BigInt(total) * FEE)).wait();
    const store = fs.mkdtempSync(path.join(w.tmp, "capacity-store-"));
    let perSlot1 = 0;
    for (const slots of SLOTS) {
      const took = new Map<string, number>();
      // The bench's one requester stands for many: the operator's per-address request quota is lifted for it.
      const env = {
        POSTHUMAN_WORKER_STORE_DIR: store,
        POSTHUMAN_WORKER_RUN_SLOTS: String(slots),
        POSTHUMAN_WORKER_QUOTA_REQUESTS: "100000",
      };
      rw = await startWorker(w, "worker", env, undefined, sleepExecutor(took));
      if (slots === SLOTS[0]) await rw.client.uploadModel(w.wallet("alice"), m.modelId, m.dir);
      if (slots === 1) {
        // Overhead: one job at a time, so none waits behind another.
        const single = await runJobs(w, rw, m.modelId, 4, "single", true);
        const overhead = single.map((j) => j.receiptAt - j.sentAt - (took.get(String(j.jobId)) ?? SLEEP_MS));
        figures.push({
          name: "protocol overhead per job",
          value: Math.round(median(overhead)),
          unit: "ms",
          params: { ...machine, stat: "median", jobs: single.length, definition: "request sent → receipt, − executor" },
        });
      }
      // Each burst meets a warm worker (weights materialized, tokenizer read, throughput known), as a worker in
      // service is: one job first, not counted (the one-slot worker is warm from the overhead's jobs already).
      if (slots !== 1) await runJobs(w, rw, m.modelId, 1, `warm${slots}`, true);
      const jobs = slots * JOBS_PER_SLOT;
      const burst = await runJobs(w, rw, m.modelId, jobs, `burst${slots}`, false);
      const first = Math.min(...burst.map((j) => j.sentAt));
      if (process.env.CAPACITY_TRACE) {
        for (const j of burst) {
          const r = rw.worker.jobs.get(j.jobId)!;
          console.log(
            `slots ${slots} job ${j.jobId}: sent ${j.sentAt - first} claimed ${Number(r.claimed_at_ms) - first} started ${Number(r.started_at_ms) - first} run ${r.run_ms} submitted ${Number(r.submitted_at_ms) - first}`,
          );
        }
      }
      const last = Math.max(...burst.map((j) => j.receiptAt));
      const perMinute = jobs / ((last - first) / 60_000);
      if (slots === 1) perSlot1 = perMinute;
      const params = { ...machine, workers: slots, jobs, slots };
      figures.push({ name: "jobs per minute", value: perMinute, unit: "jobs/min", params });
      figures.push({
        name: "capacity scaling",
        value: perMinute / perSlot1,
        unit: "× one slot",
        params: { ...params, goal: 0.9 * slots, ideal: slots },
      });
      await rw.worker.stop();
      rw = undefined;
    }
  } finally {
    await rw?.worker.stop();
    await w.stop();
  }
  return figures;
}
