/**
 * The job pipeline: moves each job this worker can serve through claim → input → run → store → receipt → settle,
 * one persisted state at a time. Every chain action goes through the sender under an idempotency key
 * (`claim:<id>`, `submit:<id>`, `settle:<id>`, `fail:<id>`), so a worker killed at any point and restarted never
 * claims, submits, settles or fails a job twice; and it re-reads the job's on-chain status before acting, so a state
 * that the chain has moved on from (another claimant, a reorg, a deadline) is noticed instead of fought.
 */
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import type { Executor, ExecResult, Progress } from "../ml";
import { isMlError, writeJobDir } from "../ml";
import type { JobMarket, ModelRegistry } from "../../typechain-types";
import type { IJobMarket } from "../../typechain-types/artifacts/contracts/JobMarket";
import { JobStatus, toFixedLoss } from "../protocol/params";
import { FAIL_REASONS, jobFolder, jobSeed } from "../protocol/job-spec";
import { crashPoint } from "./faults";
import type { Log } from "./log";
import { actionKey, inputRef, FINAL_STATES, weightsRef, type JobRow, type JobsRepo, type JobState } from "./jobs";
import type { Sender } from "./sender";
import { SimulationRevertedError, TxRevertedError } from "./sender";
import type { ArtifactStore } from "./store";
import { jobMarketInterface } from "./events";

/** What `progress()` reports: the runtime's progress, or what the job waits for. */
export type JobProgress = Omit<Progress, "phase"> & { phase: Progress["phase"] | "waiting"; note?: string };

export interface PipelineOptions {
  jobs: JobsRepo;
  store: ArtifactStore;
  sender: Sender;
  market: JobMarket;
  registry: ModelRegistry;
  executor: Executor;
  self: string;
  dataDir: string;
  kinds: readonly string[];
  /** Longest a run may take (it is also cut at the job's deadline, less a margin). */
  jobTimeoutMs: number;
  /** Seconds kept free before a deadline for storing and submitting. */
  deadlineMarginSec?: number;
  /** Jobs run at once (ML is CPU-bound: default 1). */
  concurrency?: number;
  pollMs?: number;
  log: Log;
  onJobDone?: (row: JobRow, runMs: number) => void;
}

export interface Pipeline {
  start(): void;
  stop(): Promise<void>;
  wake(): void;
  /** One pass over the active jobs (tests drive it directly). */
  tick(): Promise<void>;
  progress(jobId: string): JobProgress | undefined;
  /** Resolves when the job reaches one of `states` (or a final state). */
  until(jobId: bigint | string, states: JobState[], timeoutMs?: number): Promise<JobRow>;
}

export function createPipeline(o: PipelineOptions): Pipeline {
  const margin = o.deadlineMarginSec ?? 20;
  const concurrency = o.concurrency ?? 1;
  const pollMs = o.pollMs ?? 1000;
  const marketAddress = o.market.target as string;
  const running = new Map<string, Promise<void>>();
  const progress = new Map<string, JobProgress>();
  const self = o.self.toLowerCase();
  let stopped = true;
  let loop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let challengeWindow: bigint | undefined;
  /** Aborted by stop(): runs in flight end without a verdict and resume after the restart. */
  const stopping = new AbortController();

  /**
   * The time the next block will carry: the wall clock, or just past the latest block when the chain runs ahead of it
   * (a local chain that mined many blocks in one second). Deadlines and windows are in block time.
   */
  let latestBlockTs = 0;
  let latestBlock = 0;
  const nowSec = () => Math.max(Math.floor(Date.now() / 1000), latestBlockTs + 1);
  const modelDirOf = (tree: string) => path.join(o.dataDir, "models", tree);
  const jobDirOf = (jobId: string) => path.join(o.dataDir, "jobs", jobId);

  const set = (row: JobRow, patch: Parameters<JobsRepo["update"]>[1]) => {
    o.jobs.update(row.job_id, patch);
    Object.assign(row, patch);
    if (patch.state) {
      o.log.info({ jobId: row.job_id, state: patch.state, kind: row.kind }, `job ${row.job_id} → ${patch.state}`);
      crashPoint(patch.state, row.job_id);
    }
  };

  const send = (action: Parameters<typeof actionKey>[0], row: JobRow, data: string) =>
    o.sender.send({ key: actionKey(action, row), to: marketAddress, data });

  /** A block number at or after the chain state just read (what a final state is recorded with, for reorgs). */
  const head = async (): Promise<number> =>
    (await o.market.runner?.provider?.getBlockNumber().catch(() => undefined)) ?? latestBlock;

  /** Mirrors the on-chain status into the local state, and returns it. */
  async function reconcile(row: JobRow): Promise<{ status: number; worker: string; submittedAt: bigint }> {
    const job = await o.market.getJob(row.job_id);
    const status = Number(job.status);
    const worker = job.worker.toLowerCase();
    const terminal: Partial<Record<number, JobState>> = {
      [JobStatus.Settled]: "settled",
      [JobStatus.Cancelled]: "cancelled",
      [JobStatus.Failed]: "failed",
      [JobStatus.Reclaimed]: "reclaimed",
      [JobStatus.Slashed]: "slashed",
    };
    if (status === JobStatus.None) set(row, { state: "vanished" });
    else if (terminal[status]) set(row, { state: terminal[status], final_block: await head() });
    else if (status !== JobStatus.Open && worker !== self)
      set(row, { state: "lost", worker: job.worker, final_block: await head() });
    else if (status === JobStatus.Open && row.state !== "seen" && row.state !== "skipped")
      set(row, { state: "seen", worker: null }); // our claim is no longer on chain (a reorg): claim again
    return { status, worker, submittedAt: job.submittedAt };
  }

  /** The tree of a model's weights: known to this worker, or stored by another worker sharing its store. */
  async function treeOf(root: string): Promise<string | undefined> {
    const known = o.jobs.treeOf(root);
    if (known) return known;
    const shared = await o.store.getRef(weightsRef(root));
    if (shared) o.jobs.setTree(root, shared, "store");
    return shared;
  }

  /** Makes sure the model's weights are materialized locally; undefined when this operator does not hold them. */
  async function modelDir(row: JobRow, root?: string): Promise<string | undefined> {
    const tree = await treeOf(root ?? (await o.registry.modelRuntime(row.model_id)).weightsRoot);
    if (!tree) return undefined;
    const dir = modelDirOf(tree);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      await o.store.materialize(tree, dir).catch((e: unknown) => {
        if (!fs.existsSync(dir)) throw e; // another pass materialized it meanwhile
      });
    }
    return dir;
  }

  async function fail(row: JobRow, code: string, message: string): Promise<void> {
    set(row, { error_code: code, error_message: message.slice(0, 2000) });
    const reason = FAIL_REASONS[code] ?? FAIL_REASONS.INTERNAL;
    try {
      const r = await send("fail", row, jobMarketInterface.encodeFunctionData("failJob", [row.job_id, reason]));
      set(row, { state: "failed", final_block: r.blockNumber });
    } catch (e) {
      o.log.warn({ jobId: row.job_id, err: (e as Error).message }, "could not fail the job on chain");
      await reconcile(row);
    }
  }

  async function claim(row: JobRow): Promise<void> {
    if (!o.kinds.includes(row.kind)) return set(row, { state: "skipped", error_code: "KIND_NOT_SERVED" });
    // Our own claim may be on chain already: sent before a crash that came before "claimed" was recorded. Then the
    // job is ours whatever its deadline (the "claimed" step fails it in time rather than letting it be reclaimed).
    const ours = () => set(row, { state: "claimed", worker: o.self, claimed_at_ms: Date.now() });
    const { status, worker } = await reconcile(row);
    if (status === JobStatus.Claimed && worker === self) return ours();
    if (status !== JobStatus.Open) return;
    if (row.deadline - nowSec() < margin * 2) return set(row, { state: "skipped", error_code: "DEADLINE_TOO_CLOSE" });
    const rt = await o.registry.modelRuntime(row.model_id);
    if (rt.frozen) return set(row, { state: "skipped", error_code: "MODEL_FROZEN" });
    if (!(await modelDir(row))) {
      // The publisher may still be uploading the weights: keep the job in view until its deadline nears.
      progress.set(row.job_id, { phase: "waiting", note: "the model's weights", step: 0, totalSteps: 0 });
      return;
    }
    try {
      await send("claim", row, jobMarketInterface.encodeFunctionData("claimJob", [row.job_id]));
      ours();
    } catch (e) {
      if (e instanceof SimulationRevertedError || e instanceof TxRevertedError) {
        const now = await reconcile(row);
        if (now.status === JobStatus.Claimed && now.worker === self) return ours();
        if (!FINAL_STATES.has(row.state)) {
          set(row, { error_code: "CLAIM_REFUSED", error_message: e.message });
          o.log.warn({ jobId: row.job_id, err: e.message }, "claim refused");
        }
        return;
      }
      throw e;
    }
  }

  async function run(row: JobRow): Promise<void> {
    const started = Date.now();
    set(row, { state: "running" });
    // Everything the receipt needs from the chain is read before the run: once it has run, no RPC call stands
    // between the result and "output_stored" (a node down then would otherwise throw the run away).
    const served = (await o.registry.modelRuntime(row.model_id)).weightsRoot;
    const dir = await modelDir(row, served);
    if (!dir) return fail(row, "MODEL_UNAVAILABLE", "the model's weights are not in this operator's store");
    const input = await o.store.getBuffer(row.input_artifact as string);
    const jobDir = jobDirOf(row.job_id);
    const seed = jobSeed(BigInt(row.job_id), row.input_hash);
    writeJobDir(jobDir, jobFolder({ kind: row.kind, params: row.params, seed, modelDir: dir, input }));
    const budgetMs = Math.min(o.jobTimeoutMs, (row.deadline - margin - nowSec()) * 1000);
    if (budgetMs <= 0) return fail(row, "TIMEOUT", "no time left before the deadline");
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), budgetMs);
    let result: ExecResult;
    try {
      result = await o.executor.run({
        kind: row.kind,
        jobDir,
        signal: AbortSignal.any([ac.signal, stopping.signal]),
        onProgress: (p) => progress.set(row.job_id, p),
      });
    } catch (e) {
      if (stopping.signal.aborted) return; // shutting down: the job stays "running" and runs again after restart
      if (ac.signal.aborted)
        return fail(row, "TIMEOUT", `the run exceeded its budget of ${Math.round(budgetMs / 1000)} s`);
      if (isMlError(e)) return fail(row, e.code, e.message);
      return fail(row, "EXECUTOR_FAILED", (e as Error).message);
    } finally {
      clearTimeout(timer);
    }
    const stored = await o.store.putFile(result.resultPath);
    let child: { weightsRoot: string; configHash: string } = {
      weightsRoot: ethers.ZeroHash,
      configHash: ethers.ZeroHash,
    };
    if (row.kind === "train") {
      if (!result.child) return fail(row, "EXECUTOR_FAILED", "a training run returned no child model");
      const tree = await o.store.putTree(result.child.dir);
      o.jobs.setTree(result.child.weightsRoot, tree.root, `job:${row.job_id}`);
      await o.store.setRef(weightsRef(result.child.weightsRoot), tree.root);
      child = { weightsRoot: result.child.weightsRoot, configHash: result.child.configHash };
    }
    const m = result.metrics;
    const fixed = (x: number | undefined) => (x === undefined ? 0n : toFixedLoss(x));
    const receipt = {
      outputHash: result.outputHash,
      outputURI: `posthuman-worker://${o.self}/jobs/${row.job_id}/result`,
      servedWeightsRoot: served,
      runtimeId: result.runtimeId,
      seed: BigInt(seed),
      metrics: {
        trainLossBefore: fixed(m.trainLossBefore),
        trainLossAfter: fixed(m.trainLossAfter),
        valLossBefore: fixed(m.valLossBefore),
        valLossAfter: fixed(m.valLossAfter),
        evalLoss: fixed(m.evalLoss),
        evalTokens: BigInt(m.tokenCount ?? 0),
      },
      childWeightsRoot: child.weightsRoot,
      childConfigHash: child.configHash,
    };
    const runMs = Date.now() - started;
    set(row, {
      state: "output_stored",
      result_artifact: stored.hash,
      output_hash: result.outputHash,
      receipt: JSON.stringify(receipt, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
      run_ms: runMs,
    });
    fs.rmSync(path.join(jobDir, "inputs"), { recursive: true, force: true });
  }

  async function submit(row: JobRow): Promise<void> {
    const receipt = JSON.parse(row.receipt as string) as IJobMarket.ReceiptStruct; // bigints as decimal strings
    const submitted = () => {
      set(row, { state: "submitted", submitted_at_ms: Date.now() });
      o.onJobDone?.(row, row.run_ms ?? 0);
    };
    try {
      await send("submit", row, jobMarketInterface.encodeFunctionData("submitReceipt", [row.job_id, receipt]));
      submitted();
    } catch (e) {
      if (e instanceof SimulationRevertedError || e instanceof TxRevertedError) {
        const now = await reconcile(row);
        // Our receipt is on chain already (sent again after a reorg that the old transaction survived after all).
        const ours = now.worker === self && (now.status === JobStatus.Submitted || now.status === JobStatus.Challenged);
        if (ours && row.state === "output_stored") return submitted();
        if (!FINAL_STATES.has(row.state)) set(row, { error_code: "SUBMIT_REFUSED", error_message: e.message });
        return;
      }
      throw e;
    }
  }

  async function settle(row: JobRow): Promise<void> {
    const { status, submittedAt } = await reconcile(row);
    if (status !== JobStatus.Submitted) return; // challenged: the arbiter decides; final: done
    challengeWindow ??= (await o.market.config()).challengeWindow;
    if (BigInt(nowSec()) < submittedAt + challengeWindow) return;
    try {
      const r = await send("settle", row, jobMarketInterface.encodeFunctionData("settleJob", [row.job_id]));
      set(row, { state: "settled", final_block: r.blockNumber });
    } catch (e) {
      if (e instanceof SimulationRevertedError) return; // the window is measured in block time: try again later
      throw e;
    }
  }

  async function step(row: JobRow): Promise<void> {
    switch (row.state) {
      case "seen":
        return claim(row);
      case "claimed": {
        // Claimed again after a reorg took our claim away: the stored receipt of this very request still holds.
        if (row.input_artifact) return set(row, { state: row.receipt ? "output_stored" : "input_ready" });
        // The requester may have uploaded to another worker of this operator (sharing the store) that lost the claim.
        const shared = await o.store.getRef(inputRef(row));
        if (shared && `0x${shared}` === row.input_hash.toLowerCase()) {
          return set(row, { input_artifact: shared, state: "input_ready" });
        }
        if (row.deadline - nowSec() < margin * 2)
          return fail(row, "INPUT_MISSING", "the requester never uploaded the input");
        const { status } = await reconcile(row);
        if (status === JobStatus.Claimed)
          progress.set(row.job_id, { phase: "waiting", note: "the input upload", step: 0, totalSteps: 0 });
        return;
      }
      case "input_ready":
      case "running": {
        // A job found "running" here was interrupted by a crash: it runs again (runs are deterministic).
        if (running.has(row.job_id) || running.size >= concurrency) return;
        const { status } = await reconcile(row);
        if (status !== JobStatus.Claimed) return;
        const p = run(row)
          .catch((e: unknown) => {
            o.log.error({ jobId: row.job_id, err: (e as Error).message }, "run failed unexpectedly; will retry");
            set(row, { state: "input_ready" });
          })
          .finally(() => {
            running.delete(row.job_id);
            wakeUp?.();
          });
        running.set(row.job_id, p);
        return;
      }
      case "output_stored":
        return submit(row);
      case "submitted":
        return settle(row);
      case "skipped":
        return;
    }
  }

  async function tick(): Promise<void> {
    const rows = o.jobs.active();
    if (rows.length) {
      const latest = await o.market.runner?.provider?.getBlock("latest").catch(() => null);
      if (latest) {
        latestBlockTs = latest.timestamp;
        latestBlock = latest.number;
      }
    }
    for (const listed of rows) {
      if (stopped && loop) break;
      // Re-read the row: an earlier step of this pass (or a run that just ended) may have moved it on, and acting
      // on the listed state could start a second run of a job whose output is already stored.
      const row = o.jobs.get(listed.job_id);
      if (!row || row.state === "skipped" || FINAL_STATES.has(row.state)) continue;
      try {
        await step(row);
      } catch (e) {
        o.log.warn(
          { jobId: row.job_id, state: row.state, err: (e as Error).message },
          "job step failed; retrying later",
        );
      }
    }
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      loop = (async () => {
        while (!stopped) {
          await tick();
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, pollMs);
            wakeUp = () => {
              clearTimeout(t);
              resolve();
            };
          });
        }
      })();
    },
    async stop() {
      stopped = true;
      stopping.abort();
      wakeUp?.();
      await loop;
      await Promise.allSettled([...running.values()]);
    },
    wake: () => wakeUp?.(),
    tick,
    progress: (jobId) => progress.get(jobId),
    async until(jobId, states, timeoutMs = 600_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const row = o.jobs.get(jobId);
        if (row && (states.includes(row.state) || FINAL_STATES.has(row.state))) return row;
        if (Date.now() > end)
          throw new Error(`job ${jobId} did not reach ${states.join("/")} in ${timeoutMs} ms (${row?.state})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
