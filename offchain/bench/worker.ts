/**
 * Worker benchmark on a real `hardhat node` with the tiny model and the builtin runtime (inference, 8 new tokens):
 *   - latency from request to claim (blocks and ms) and from request to receipt (ms), one job at a time;
 *   - protocol overhead = (end-to-end job time − executor time) ÷ executor time, over those same jobs, where the
 *     end-to-end time runs from sending the request to the receipt mined, and the executor time is the job's run_ms
 *     (the pipeline's run step: model folder, input, executor, storing the result);
 *   - inference jobs per minute with one and with two workers (sharing one artifact store), for a burst of jobs
 *     requested at once, counted from the first request to the last receipt.
 * `POSTHUMAN_BENCH=worker npm run bench` writes bench/results/worker.json. Timings depend on the machine: they are printed with the core count.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { datatokenAt } from "../protocol/contracts";
import { requestJob } from "../deploy/posthuman";
import { encodeJobParams } from "../protocol/params";
import { median, type BenchFigure } from "./figures";
import { sha256Hex } from "../protocol/auth";
import type { JobRow } from "../worker/jobs";
import { publishTinyModel, startWorker, startWorld, type RunningWorker, type World } from "../devnet/world";

const MAX_TOKENS = 8;
const INFER = encodeJobParams({ kind: "Infer", params: { maxTokens: MAX_TOKENS, temperature: 0, topK: 0 } });
const FEE = ethers.parseEther("1");

interface Timed {
  jobId: bigint;
  /** Wall clock just before the request transaction was sent. */
  sentAt: number;
  row: JobRow;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Approves the datatokens and fees of `n` requests at once, so that timing a request times that transaction only. */
async function approve(w: World, datatoken: string, n: number): Promise<void> {
  const derek = w.wallet("derek");
  const market = w.book.contracts.JobMarket;
  await (await datatokenAt(datatoken, derek).approve(market, BigInt(n) * ethers.parseEther("1"))).wait();
  await (await w.ocean.oceanToken.connect(derek).approve(market, BigInt(n) * FEE)).wait();
}

/** Offers the input to every worker (any of them may claim the job) until one takes it. */
async function upload(w: World, workers: RunningWorker[], jobId: bigint, input: Buffer): Promise<void> {
  for (let k = 0; ; k++) {
    const tries = await Promise.allSettled(workers.map((x) => x.client.uploadInput(w.wallet("derek"), jobId, input)));
    if (tries.some((t) => t.status === "fulfilled")) return;
    if (k > 400) throw new Error(`no worker took the input of job ${jobId}`);
    await sleep(25);
  }
}

/** The row of the worker that ran the job, once its receipt is mined. */
async function receipted(workers: RunningWorker[], jobId: bigint): Promise<JobRow> {
  for (const end = Date.now() + 120_000; Date.now() < end; await sleep(25)) {
    for (const x of workers) {
      const row = x.worker.jobs.get(jobId);
      if (row && (row.state === "submitted" || row.state === "settled") && row.submitted_at_ms) return row;
    }
  }
  const states = workers.map((x, i) => `worker ${i + 1}: ${x.worker.jobs.get(jobId)?.state ?? "not seen"}`);
  throw new Error(`job ${jobId} got no receipt in 2 minutes (${states.join(", ")})`);
}

/** Requests `n` inference jobs and waits for their receipts: one at a time, or all at once (a burst). */
async function runJobs(
  w: World,
  workers: RunningWorker[],
  modelId: bigint,
  datatoken: string,
  n: number,
  tag: string,
  oneAtATime: boolean,
) {
  await approve(w, datatoken, n);
  const timed: Timed[] = [];
  const pending: Promise<void>[] = [];
  const started = Date.now();
  for (let i = 0; i < n; i++) {
    const input = Buffer.from(`Prompt ${tag} ${i}: the harbour town woke\n`);
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const sentAt = Date.now();
    const jobId = await requestJob(
      w.ph,
      w.wallet("derek"),
      { modelId, kind: "Infer", inputHash: sha256Hex(input), fee: FEE, deadline: now + 900, params: INFER },
      false,
    );
    const done = (async () => {
      await upload(w, workers, jobId, input);
      timed.push({ jobId, sentAt, row: await receipted(workers, jobId) });
    })();
    if (oneAtATime) await done;
    else pending.push(done);
  }
  await Promise.all(pending);
  const last = Math.max(...timed.map((t) => Number(t.row.submitted_at_ms)));
  return { timed, jobsPerMinute: n / ((last - started) / 60_000) };
}

export async function benchWorker(): Promise<BenchFigure[]> {
  const w = await startWorld({ challengeWindow: 3 });
  const figures: BenchFigure[] = [];
  const workers: RunningWorker[] = [];
  const machine = { model: "tiny", kind: "infer", maxTokens: MAX_TOKENS, cores: os.cpus().length };
  try {
    const m = await publishTinyModel(w, "alice", 5, { supply: ethers.parseEther("100") });
    const dt = w.ocean.erc20Template.attach(m.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), ethers.parseEther("60"))).wait();
    // Both workers of the operator share one artifact store: the model is uploaded once.
    const store = fs.mkdtempSync(path.join(w.tmp, "bench-store-"));
    const one = await startWorker(w, "worker", { POSTHUMAN_WORKER_STORE_DIR: store });
    workers.push(one);
    await one.client.uploadModel(w.wallet("alice"), m.modelId, m.dir);
    await runJobs(w, [one], m.modelId, m.datatoken, 2, "warm-up", true);

    // Latency and overhead: one job at a time, so that no job waits behind another.
    const single = await runJobs(w, [one], m.modelId, m.datatoken, 6, "one", true);
    const blocks: number[] = [];
    for (const t of single.timed) {
      const requested = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobRequested(t.jobId));
      const claimed = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobClaimed(t.jobId));
      blocks.push(claimed[0].blockNumber - requested[0].blockNumber);
    }
    const claimMs = single.timed.map((t) => Number(t.row.claimed_at_ms) - t.sentAt);
    const e2e = single.timed.map((t) => Number(t.row.submitted_at_ms) - t.sentAt);
    const exec = single.timed.map((t) => Number(t.row.run_ms));
    const overhead =
      (e2e.reduce((a, b) => a + b, 0) - exec.reduce((a, b) => a + b, 0)) / exec.reduce((a, b) => a + b, 0);
    const stat = { ...machine, stat: "median", jobs: single.timed.length };
    figures.push(
      { name: "latency request to claim", value: median(blocks), unit: "blocks", params: { ...stat, automine: true } },
      { name: "latency request to claim", value: median(claimMs), unit: "ms", params: stat },
      { name: "latency request to receipt", value: median(e2e), unit: "ms", params: stat },
      { name: "executor time", value: median(exec), unit: "ms", params: stat },
      {
        name: "protocol overhead",
        value: overhead,
        unit: "fraction",
        params: { ...machine, jobs: single.timed.length, definition: "(e2e − executor) / executor, summed over jobs" },
      },
    );

    // Throughput: a burst of jobs requested at once, with one worker, then with two.
    const burst = await runJobs(w, [one], m.modelId, m.datatoken, 10, "burst", false);
    figures.push({
      name: "jobs per minute",
      value: burst.jobsPerMinute,
      unit: "jobs/min",
      params: { workers: 1, ...machine, jobs: 10 },
    });
    const two = await startWorker(w, "worker2", { POSTHUMAN_WORKER_STORE_DIR: store });
    workers.push(two);
    const pair = await runJobs(w, [one, two], m.modelId, m.datatoken, 10, "two", false);
    figures.push({
      name: "jobs per minute",
      value: pair.jobsPerMinute,
      unit: "jobs/min",
      params: { workers: 2, ...machine, jobs: 10 },
    });
    const share = pair.timed.filter((t) => two.worker.jobs.get(t.jobId)?.submitted_at_ms).length;
    figures.push({
      name: "jobs run by the second worker",
      value: share,
      unit: "jobs",
      params: { workers: 2, jobs: 10 },
    });
  } finally {
    for (const x of workers) await x.worker.stop();
    await w.stop();
  }
  return figures;
}
