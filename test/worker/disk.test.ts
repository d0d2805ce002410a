import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { ethers } from "ethers";
import pino from "pino";
import { builtinProcessExecutor, type Executor } from "../../offchain/ml";
import { requestJob } from "../../offchain/deploy/posthuman";
import { encodeJobParams } from "../../offchain/protocol/params";
import { sha256Hex } from "../../offchain/protocol/auth";
import {
  publishTinyModel,
  startWorker,
  startWorld,
  uploadWhenSeen,
  type RunningWorker,
  type World,
} from "../../offchain/devnet/world";
import { createDiskGuard, failureCause, isDiskFull } from "../../offchain/worker/disk";
import { sweepJobDirs } from "../../offchain/worker/job-dirs";
import type { JobState } from "../../offchain/worker/jobs";
import { Registry } from "../../offchain/worker/metrics";
import { createLocalArtifactStore, watchedStore } from "../../offchain/worker/store";

const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

/** A logger whose lines land in `lines` (parsed). */
function capturingLog() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: "debug" }, dest), lines };
}

describe("the data dir's disk", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-disk-"));
  });

  it("tells a full disk from other failures, in the error or its cause, and in an executor's words", () => {
    expect(isDiskFull(enospc())).to.equal(true);
    expect(isDiskFull(Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" }))).to.equal(true);
    expect(isDiskFull(new Error("run failed", { cause: enospc() }))).to.equal(true);
    expect(isDiskFull(new Error("OSError: [Errno 28] No space left on device: 'out.bin'"))).to.equal(true);
    expect(isDiskFull(new Error("connection refused"))).to.equal(false);
    expect(failureCause(enospc())).to.equal("disk_full");
    expect(failureCause(Object.assign(new Error("i/o"), { code: "EIO" }))).to.equal("disk_io");
    expect(failureCause(Object.assign(new Error("timeout"), { code: "TIMEOUT" }))).to.equal("network");
    expect(failureCause(new Error("?"))).to.equal("other");
  });

  it("says a full disk once with its path, counts step failures by cause, and clears once a probe write succeeds", async () => {
    const { log, lines } = capturingLog();
    let sweeps = 0;
    const guard = createDiskGuard({ dir, log, recheckMs: 50, probeBytes: 4096, onFull: () => sweeps++ });
    const metrics = new Registry();
    for (const m of guard.metrics) metrics.add(m);
    expect(guard.writable()).to.equal(true);
    expect(guard.status().full).to.equal(false);

    for (let i = 0; i < 5; i++) expect(guard.stepFailed(enospc())).to.equal("disk_full");
    guard.stepFailed(new Error("something else"));
    expect(guard.writable()).to.equal(false);
    const st = guard.status();
    expect(st).to.include({ dir: path.resolve(dir), full: true, lastError: "ENOSPC: no space left on device, write" });
    expect(st.since).to.be.a("string");
    const said = lines.filter((l) => /is full/.test(l.msg));
    expect(said, "said once, not at every failure").to.have.length(1);
    expect(said[0].msg).to.include(`the data dir ${path.resolve(dir)} is full: free space`);
    expect(sweeps, "unneeded job folders removed once").to.equal(1);
    const text = metrics.render();
    expect(text).to.include('posthuman_job_step_failures_total{cause="disk_full"} 5');
    expect(text).to.include('posthuman_job_step_failures_total{cause="other"} 1');
    expect(text).to.include("posthuman_data_dir_full 1");
    expect(text).to.match(/posthuman_data_dir_free_bytes \d+/);

    // The probe cannot write (its folder is gone): still full. Back: writable again, and said so.
    const hidden = `${dir}-away`;
    fs.renameSync(dir, hidden);
    await new Promise((r) => setTimeout(r, 60));
    expect(guard.writable()).to.equal(false);
    fs.renameSync(hidden, dir);
    const ac = new AbortController();
    expect(await guard.waitWritable(ac.signal, 2000)).to.equal(true);
    expect(guard.status().full).to.equal(false);
    expect(lines.some((l) => /has free space again/.test(l.msg))).to.equal(true);
    expect(metrics.render()).to.include("posthuman_data_dir_full 0");
    expect(fs.readdirSync(dir), "no probe file left").to.deep.equal([]);
  });

  it("waitWritable gives up when stopped or out of time", async () => {
    const guard = createDiskGuard({ dir: path.join(dir, "missing"), log: pino({ level: "silent" }), recheckMs: 20 });
    guard.noteFull(enospc());
    const ac = new AbortController();
    expect(await guard.waitWritable(ac.signal, 100)).to.equal(false);
    setTimeout(() => ac.abort(), 30);
    expect(await guard.waitWritable(ac.signal, 60_000)).to.equal(false);
  });

  it("learns of a full disk from any store call (an upload too), rethrowing the error as it was", async () => {
    const inner = createLocalArtifactStore({ dir: path.join(dir, "store") });
    const seen: unknown[] = [];
    const store = watchedStore({ ...inner, put: () => Promise.reject(enospc()) }, (e) => seen.push(e));
    await expect(store.put(Buffer.from("x"))).to.be.rejectedWith(/ENOSPC/);
    await expect(store.getBuffer("0".repeat(64))).to.be.rejectedWith(/not in the store/);
    expect(seen.map((e) => (e as Error).message)).to.have.length(2);
    const ok = await store.putFile(__filename);
    expect(await store.has(ok.hash)).to.equal(true);
  });

  it("sweeps the working folders of jobs that will never run again, keeping those that may", () => {
    const states: Record<string, JobState> = {
      "1": "running",
      "2": "input_ready",
      "3": "failed",
      "4": "output_stored",
      "5": "reclaimed",
      "6": "settled",
      "7": "skipped",
      "8": "claimed",
    };
    for (const id of [...Object.keys(states), "9", "notes"]) {
      fs.mkdirSync(path.join(dir, "jobs", id, "outputs", "model"), { recursive: true });
      fs.writeFileSync(path.join(dir, "jobs", id, "outputs", "model", "model.safetensors"), "weights");
    }
    const removed = sweepJobDirs(
      dir,
      { get: (id) => (states[id] ? { state: states[id] } : undefined) },
      pino({ level: "silent" }),
    );
    expect(removed.sort()).to.deep.equal(["3", "4", "5", "6", "7", "9"]);
    expect(fs.readdirSync(path.join(dir, "jobs")).sort()).to.deep.equal(["1", "2", "8", "notes"]);
    expect(sweepJobDirs(path.join(dir, "none"), { get: () => undefined }, pino({ level: "silent" }))).to.deep.equal([]);
  });
});

describe("a worker whose disk fills up (real hardhat node, builtin runtime)", function () {
  this.timeout(300_000);
  let w: World;
  let rw: RunningWorker;
  let m: Awaited<ReturnType<typeof publishTinyModel>>;
  /** Runs of the executor that found the disk full (the first one does). */
  let full = 1;

  before(async () => {
    w = await startWorld();
    const dataDir = fs.mkdtempSync(path.join(w.tmp, "disk-"));
    const inner = builtinProcessExecutor({ timeoutSec: 300, cacheDir: path.join(dataDir, "ml-cache") });
    const runtime: Executor = {
      id: inner.id,
      runtimeId: inner.runtimeId,
      run: (job) => (full-- > 0 ? Promise.reject(enospc()) : inner.run(job)),
    };
    // A job folder left by a job that ended while the worker was down goes at start-up.
    fs.mkdirSync(path.join(dataDir, "jobs", "999", "outputs"), { recursive: true });
    rw = await startWorker(w, "worker", {}, dataDir, runtime);
    m = await publishTinyModel(w, "alice", 21);
    await rw.client.uploadModel(w.wallet("alice"), m.modelId, m.dir);
    const dt = w.ocean.erc20Template.attach(m.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), ethers.parseEther("5"))).wait();
  });
  after(async () => {
    await rw?.worker.stop();
    await w?.stop();
  });

  it("shows the full disk in /healthz and /metrics, runs the job once there is room, then removes its folder", async () => {
    expect(fs.existsSync(path.join(rw.dataDir, "jobs", "999")), "swept at start-up").to.equal(false);
    const input = Buffer.from("The disk filled up on the night shift\n".repeat(40));
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const TRAIN = encodeJobParams({
      kind: "Train",
      params: { steps: 2, batchSize: 2, contextLength: 8, learningRate: 1_000_000n, warmupSteps: 0, weightDecay: 0n },
    });
    const jobId = await requestJob(w.ph, w.wallet("derek"), {
      modelId: m.modelId,
      kind: "Train",
      inputHash: sha256Hex(input),
      fee: ethers.parseEther("2"),
      deadline: now + 600,
      params: TRAIN,
    });
    await uploadWhenSeen(rw, w.wallet("derek"), jobId, input);

    const api = rw.worker.apiUrl as string;
    const health = async () =>
      (await (await fetch(`${api}/healthz`)).json()) as { ok: boolean; disk: { full: boolean; dir: string } };
    for (let i = 0; !(await health()).disk.full; i++) {
      expect(i, "the full disk shows in /healthz").to.be.lessThan(300);
      await new Promise((r) => setTimeout(r, 50));
    }
    const h = await health();
    expect(h.ok).to.equal(false);
    expect(h.disk.dir).to.equal(path.resolve(rw.dataDir));
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).to.include('posthuman_job_step_failures_total{cause="disk_full"} 1');
    expect(metrics).to.include("posthuman_data_dir_full 1");
    expect(rw.worker.jobs.get(jobId)?.state, "the job is not failed for it").to.be.oneOf(["input_ready", "running"]);

    // The probe finds room (this disk was never full): the job runs, its outputs are stored, its folder goes.
    const row = await rw.worker.pipeline.until(jobId, ["submitted", "settled"], 120_000);
    expect(row.state).to.be.oneOf(["submitted", "settled"]);
    expect((await health()).ok).to.equal(true);
    expect(fs.existsSync(path.join(rw.dataDir, "jobs", String(jobId))), "the job's working folder").to.equal(false);
    expect(await rw.worker.store.has(row.result_artifact as string)).to.equal(true);
  });
});
