/**
 * Worker benchmark on a real `hardhat node` with the tiny model: latency from request to claim and to receipt,
 * inference jobs per minute with one and two workers, and the protocol overhead
 * (end-to-end job time − executor time) ÷ executor time. Writes bench/results/worker.json.
 */
import { ethers } from "ethers";
import { encodeJobParams, requestJob } from "./lib/posthuman";
import type { BenchFigure } from "./lib/bench";
import { sha256Hex } from "../offchain/worker/auth";
import { publishTinyModel, startWorker, startWorld, type RunningWorker, type World } from "../test/support/world";

const INFER = encodeJobParams({ kind: "Infer", params: { maxTokens: 8, temperature: 0, topK: 0 } });

/** Requests `n` infer jobs, uploads their inputs and waits for their receipts; `oneAtATime` waits for each before the next. */
async function runJobs(
  w: World,
  workers: RunningWorker[],
  modelId: bigint,
  n: number,
  tag: string,
  oneAtATime = false,
) {
  const requests: { jobId: bigint; at: number; block: number }[] = [];
  const started = Date.now();
  for (let i = 0; i < n; i++) {
    const input = Buffer.from(`Prompt ${tag} ${i}: the harbour town woke\n`);
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const at = Date.now();
    const jobId = await requestJob(w.ph, w.wallet("derek"), {
      modelId,
      kind: "Infer",
      inputHash: sha256Hex(input),
      fee: ethers.parseEther("1"),
      deadline: now + 900,
      params: INFER,
    });
    const block = await w.provider.getBlockNumber();
    requests.push({ jobId, at, block });
    const waitForIt = () =>
      Promise.any(workers.map((x) => x.worker.pipeline.until(jobId, ["submitted", "settled"], 600_000)));
    for (let k = 0; ; k++) {
      try {
        // Any of the operator's workers accepts the upload; the one that claims it runs it.
        await Promise.any(workers.map((x) => x.client.uploadInput(w.wallet("derek"), jobId, input)));
        break;
      } catch (e) {
        if (k > 200) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (oneAtATime) await waitForIt();
  }
  const rows = [];
  for (const r of requests) {
    const done = await Promise.any(
      workers.map((x) =>
        x.worker.pipeline
          .until(r.jobId, ["submitted", "settled"], 600_000)
          .then((row) => (row.state === "lost" ? Promise.reject(new Error("lost")) : row)),
      ),
    );
    rows.push({ ...r, row: done });
  }
  const elapsedMin = (Date.now() - started) / 60_000;
  return { rows, jobsPerMinute: n / elapsedMin };
}

export async function benchWorker(): Promise<BenchFigure[]> {
  const w = await startWorld({ challengeWindow: 3 });
  const figures: BenchFigure[] = [];
  try {
    const m = await publishTinyModel(w, "alice", 5, { supply: ethers.parseEther("100") });
    const dt = w.ocean.erc20Template.attach(m.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), ethers.parseEther("60"))).wait();

    const one = await startWorker(w, "worker");
    await one.client.uploadModel(w.wallet("alice"), m.modelId, m.dir);
    await runJobs(w, [one], m.modelId, 2, "warm-up");
    // Latency and overhead: one job at a time, so that no job waits behind another.
    const single = await runJobs(w, [one], m.modelId, 6, "one", true);
    // Throughput: a burst of jobs, as fast as the worker(s) take them.
    const burst = await runJobs(w, [one], m.modelId, 8, "burst");
    const claims = single.rows.map((r) => Number(r.row.claimed_at_ms) - r.at);
    const receipts = single.rows.map((r) => Number(r.row.submitted_at_ms) - r.at);
    const blocks = [];
    for (const r of single.rows) {
      const ev = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobClaimed(r.jobId));
      blocks.push(ev[0].blockNumber - r.block);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const e2e = single.rows.map((r) => Number(r.row.submitted_at_ms) - r.at);
    const exec = single.rows.map((r) => Number(r.row.run_ms));
    const overhead = e2e.reduce((a, b) => a + b, 0) / exec.reduce((a, b) => a + b, 0) - 1;
    figures.push(
      {
        name: "latency request to claim",
        value: median(blocks),
        unit: "blocks",
        params: { model: "tiny", stat: "median" },
      },
      {
        name: "latency request to claim",
        value: median(claims),
        unit: "ms",
        params: { model: "tiny", stat: "median" },
      },
      {
        name: "latency request to receipt",
        value: median(receipts),
        unit: "ms",
        params: { model: "tiny", kind: "infer", maxTokens: 8, stat: "median" },
      },
      {
        name: "executor time",
        value: median(exec),
        unit: "ms",
        params: { model: "tiny", kind: "infer", stat: "median" },
      },
      {
        name: "protocol overhead",
        value: overhead,
        unit: "fraction",
        params: { model: "tiny", kind: "infer", definition: "(e2e − executor) / executor" },
      },
      {
        name: "jobs per minute",
        value: single.jobsPerMinute,
        unit: "jobs/min",
        params: { workers: 1, model: "tiny", kind: "infer" },
      },
    );

    const two = await startWorker(w, "worker2");
    await two.client.uploadModel(w.wallet("alice"), m.modelId, m.dir);
    const pair = await runJobs(w, [one, two], m.modelId, 8, "two");
    figures.push({
      name: "jobs per minute",
      value: pair.jobsPerMinute,
      unit: "jobs/min",
      params: { workers: 2, model: "tiny", kind: "infer" },
    });
    figures.push({
      name: "jobs per minute, two workers ÷ one",
      value: pair.jobsPerMinute / burst.jobsPerMinute,
      unit: "ratio",
      params: { model: "tiny", cores: 2 },
    });
    await two.worker.stop();
    await one.worker.stop();
  } finally {
    await w.stop();
  }
  return figures;
}

if (require.main === module) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { writeFigures, printFigures } = require("./lib/bench") as typeof import("./lib/bench");
  benchWorker()
    .then((f) => {
      printFigures("Worker", f);
      writeFigures("worker.json", f);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
}
