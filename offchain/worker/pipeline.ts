/**
 * The job pipeline: moves each job this worker can serve through claim → input → run → store → receipt → settle,
 * one persisted state at a time. Every chain action goes through the sender under an idempotency key
 * (`claim:<id>`, `submit:<id>`, `settle:<id>`, `fail:<id>`), so a worker killed at any point and restarted never
 * claims, submits, settles or fails a job twice; and it re-reads the job's on-chain status before acting, so a state
 * that the chain has moved on from (another claimant, a reorg, a deadline) is noticed instead of fought.
 *
 * This file holds the loop and the dispatch; pipeline-steps.ts the chain steps (with admission control, policy.ts),
 * pipeline-run.ts the runs and the weights a model is served from.
 */
import { JobStatus } from "../protocol/params";
import type { InputProblem } from "../ml/input-check";
import { crashPoint } from "./faults";
import { attemptKey, FINAL_STATES, type JobRow, type JobState } from "./jobs";
import { DEFAULT_POLICY } from "./policy";
import {
  awaitInput,
  claim,
  reconcile,
  releaseHeld,
  settle,
  submit,
  type Ctx,
  type JobProgress,
  type PipelineOptions,
} from "./pipeline-steps";
import { materialize, registerChild, run, servedTree } from "./pipeline-run";
import type { JobQuote } from "../protocol/quote";
import { quoteJob, type PlannedJob } from "./quote";
import { logUnservableModels } from "./held-models";

export type { JobProgress, PipelineOptions } from "./pipeline-steps";

export interface Pipeline {
  start(): void;
  stop(): Promise<void>;
  wake(): void;
  /** A job's input was stored: a claimed job moves on at once. */
  inputArrived(jobId: bigint | string): void;
  /** One pass over the active jobs (tests drive it directly). */
  tick(): Promise<void>;
  progress(jobId: string): JobProgress | undefined;
  /** The job's committed input breaks the input rules: fail it on chain at once (claiming it first if need be). */
  refuseInput(jobId: bigint | string, problem: InputProblem): void;
  /** Resolves when the job reaches one of `states` (or a final state). */
  until(jobId: bigint | string, states: JobState[], timeoutMs?: number): Promise<JobRow>;
  /** What a claim would decide now for a job not yet requested on model `modelId`, held in `dir` (nothing reserved). */
  quote(modelId: bigint, dir: string, job: PlannedJob): Promise<JobQuote>;
}

/** The pipeline's context: options, clock, and the helpers every step shares. */
function createContext(o: PipelineOptions, running: Map<string, Promise<void>>) {
  const clock = { latestBlockTs: 0, latestBlock: 0 };
  /** A job became claimed or input-ready during the pass: the next pass follows at once (to run it). */
  const moved = { now: false };
  const c: Ctx = {
    o,
    policy: o.policy ?? DEFAULT_POLICY,
    throughput: o.throughput,
    margin: o.deadlineMarginSec ?? 20,
    self: o.self.toLowerCase(),
    marketAddress: o.market.target as string,
    progress: new Map(),
    said: new Map(),
    // The wall clock, or just past the latest block when the chain runs ahead of it (a local chain that mined many
    // blocks in one second).
    nowSec: () => Math.max(Math.floor(Date.now() / 1000), clock.latestBlockTs + 1),
    head: async () => (await o.market.runner?.provider?.getBlockNumber().catch(() => undefined)) ?? clock.latestBlock,
    set(row, patch) {
      o.jobs.update(row.job_id, patch);
      Object.assign(row, patch);
      if (patch.state) {
        // What the job waited for, or how far its run got, belongs to the state it leaves.
        c.progress.delete(row.job_id);
        if (patch.state === "claimed" || patch.state === "input_ready") moved.now = true;
        o.log.info({ jobId: row.job_id, state: patch.state, kind: row.kind }, `job ${row.job_id} → ${patch.state}`);
        crashPoint(patch.state, row.job_id);
      }
    },
    send: (action, row, data, to) =>
      o.sender.send({ key: attemptKey(o.sender, action, row), to: to ?? c.marketAddress, data }),
    async modelDir(row, root) {
      const tree = await servedTree(c, row.model_id, root ?? (await o.registry.modelRuntime(row.model_id)).weightsRoot);
      return tree ? materialize(c, tree) : undefined;
    },
    claiming: new Map(),
    queuedSec() {
      let sec = 0;
      for (const est of c.claiming.values()) sec += est;
      for (const r of o.jobs.active()) {
        if (r.state !== "claimed" && r.state !== "input_ready" && r.state !== "running") continue;
        const est = r.estimate_sec ?? 0;
        const ran = running.has(r.job_id) && r.started_at_ms ? (Date.now() - r.started_at_ms) / 1000 : 0;
        sec += Math.max(0, est - ran);
      }
      return sec;
    },
    registerChild: (row, childId) => registerChild(c, row, childId),
  };
  return { c, clock, moved };
}

export function createPipeline(o: PipelineOptions): Pipeline {
  const pollMs = o.pollMs ?? 1000;
  const running = new Map<string, Promise<void>>();
  const { c, clock, moved } = createContext(o, running);
  let stopped = true;
  let loop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  /** Aborted by stop(): runs in flight end without a verdict and resume after the restart. */
  const stopping = new AbortController();

  /** A run ended: its slot goes at once to the runnable job with the earliest deadline, and its receipt is sent. */
  const runEnded = (row: JobRow) => {
    resting.queueMoved();
    startNext();
    if (!stopped) void stepOnce(row);
  };
  const waiting = () => o.jobs.active().filter((r) => isRunnable(r) && !running.has(r.job_id));
  function startNext(): void {
    const next = waiting().sort(byDeadline)[0];
    if (next && !stopped) void stepOnce(next);
  }

  /**
   * A claim was mined, or an input arrived: the job's next steps at once (its input may be here, a slot free) rather
   * than at the next pass. A run starts only when no runnable job with an earlier deadline waits.
   */
  async function advance(row: JobRow): Promise<void> {
    await stepOnce(row);
    const now = o.jobs.get(row.job_id);
    if (now?.state === "input_ready" && !waiting().some((r) => byDeadline(r, now) < 0)) await stepOnce(now);
  }

  const resting = restingJobs(c);

  async function step(row: JobRow): Promise<void> {
    switch (row.state) {
      case "seen":
        await claim(c, row, (mined) => claiming.push(mined.then(() => advance(row)).catch(failed(row))));
        return resting.weighed(row);
      case "claimed":
        return awaitInput(c, row);
      case "input_ready":
      case "running":
        return startRun(c, running, stopping.signal, row, runEnded);
      case "output_stored":
        return submit(c, row);
      case "submitted":
        return settle(c, row);
      case "skipped":
        return;
    }
  }

  const claims = claimTurns();
  /** This pass's claims, sent and not yet mined. */
  let claiming: Promise<void>[] = [];
  const failed = (row: JobRow) => (e: unknown) => stepFailed(o, row, e);

  async function tick(): Promise<void> {
    const active = o.jobs.active();
    const rows = [...active.filter(isRunnable).sort(byDeadline), ...active.filter((r) => !isRunnable(r))];
    await beforePass(c, clock, rows.length > 0);
    // Runs start first, by earliest deadline. Then new jobs are weighed for a claim, a few at a time (each claim's
    // estimate joins the queue the next decision is weighed against), for at most CLAIM_BUDGET_MS a pass, going on
    // where the last pass stopped: a burst of new jobs neither keeps a run that ends or an input that arrives
    // waiting, nor starves the jobs at the end of the list. A claim is sent, not awaited; the pass waits for them all
    // to be mined at its end. Waiting for an input, submitting and settling touch only their own job: they go at the
    // same time (the sender orders the nonces of concurrent sends).
    const halted = () => stopped && loop !== undefined;
    const atOnce = rows.filter((r) => !isRunnable(r) && r.state !== "seen");
    await Promise.all([
      (async () => {
        for (const listed of rows.filter(isRunnable)) if (!halted()) await stepOnce(listed);
        await claims.weigh(
          rows.filter((r) => r.state === "seen" && !resting.rests(r)),
          stepOnce,
          halted,
        );
        const sent = claiming;
        claiming = [];
        await Promise.all(sent);
      })(),
      ...atOnce.map(stepOnce),
    ]);
  }

  /**
   * Steps a listed job, re-reading its row first; a failure is logged and retried on a later pass. A job is stepped
   * by one caller at a time (the pass, a run that ends, a claim just mined): the others skip it.
   */
  const stepping = new Set<string>();
  async function stepOnce(listed: JobRow): Promise<void> {
    // Re-read the row: an earlier step of this pass (or a run that just ended) may have moved it on, and acting
    // on the listed state could start a second run of a job whose output is already stored.
    const row = o.jobs.get(listed.job_id);
    if (!row || row.state === "skipped" || FINAL_STATES.has(row.state) || stepping.has(row.job_id)) return;
    stepping.add(row.job_id);
    try {
      await step(row);
    } catch (e) {
      failed(row)(e);
    } finally {
      stepping.delete(row.job_id);
    }
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      // Said once to the operator: the held models no runtime loads (quotes say no for them, claims skip their jobs).
      void logUnservableModels({ jobs: o.jobs, store: o.store, dataDir: o.dataDir }, o.log);
      loop = (async () => {
        while (!stopped) {
          moved.now = false;
          await tick();
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, claims.more() || moved.now ? 0 : pollMs);
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
    inputArrived(jobId) {
      resting.wake(String(jobId));
      const row = o.jobs.get(jobId);
      if (row?.state === "claimed" && !stopped) void advance(row);
      else wakeUp?.();
    },
    tick,
    progress: (jobId) => c.progress.get(jobId),
    refuseInput(jobId, problem) {
      resting.wake(String(jobId));
      if (recordRefusedInput(o, jobId, problem)) wakeUp?.();
    },
    until: (jobId, states, timeoutMs) => waitUntil(o.jobs, jobId, states, timeoutMs),
    quote: (modelId, dir, job) => quoteJob(c, modelId, dir, job),
  };
}

/**
 * Jobs their last weighing left waiting (for their input, or for the queue to drain), each until when it rests: weighed
 * again after REWEIGH_WAITING_MS, or at once when its input comes or a run ends, not on every pass (each weighing
 * costs chain reads).
 */
function restingJobs(c: Ctx) {
  const until = new Map<string, number>();
  return {
    /**
     * After a weighing: a job left waiting (and not being claimed) rests, unless its input came (or was refused)
     * while it was weighed, the weighing's row read before.
     */
    weighed(row: JobRow): void {
      const now = Date.now();
      for (const [id, t] of until) if (t <= now) until.delete(id); // (jobs that ended while resting)
      const fresh = c.o.jobs.get(row.job_id);
      const inputMoved = fresh?.input_artifact !== row.input_artifact || fresh?.input_refused !== row.input_refused;
      if (row.state === "seen" && c.progress.get(row.job_id)?.waitsFor && !c.claiming.has(row.job_id) && !inputMoved)
        until.set(row.job_id, now + REWEIGH_WAITING_MS);
      else until.delete(row.job_id);
    },
    rests: (row: JobRow) => (until.get(row.job_id) ?? 0) > Date.now(),
    wake: (jobId: string) => until.delete(jobId),
    /** A run ended: the jobs waiting for the queue are weighed again. */
    queueMoved(): void {
      for (const id of until.keys()) if (c.progress.get(id)?.waitsFor === "queue") until.delete(id);
    },
  };
}

/** A step failed: counted by cause and logged (a full disk is said once, by the disk guard); retried next pass. */
function stepFailed(o: PipelineOptions, row: JobRow, e: unknown): void {
  if (o.disk?.stepFailed(e) === "disk_full") return; // claims wait for space meanwhile
  o.log.warn({ jobId: row.job_id, state: row.state, err: (e as Error).message }, "job step failed; retrying later");
}

/** Marks a job's committed input as refused, to be failed; false when the job is unknown or over. */
function recordRefusedInput(o: PipelineOptions, jobId: bigint | string, problem: InputProblem): boolean {
  const row = o.jobs.get(jobId);
  if (!row || FINAL_STATES.has(row.state)) return false;
  o.jobs.update(jobId, { input_refused: 1, error_code: problem.code, error_message: problem.message });
  o.log.info({ jobId: String(jobId), code: problem.code }, "the job's committed input breaks the rules: failing it");
  return true;
}

/**
 * Starts a run when a slot is free; the earliest deadline goes first (the pass, and startNext, take them in that
 * order). The slot is held from the first check: runs are started from the pass, from a run that ends and from a
 * claim just mined, concurrently. `ended` is told when the run ends (its slot is free again).
 */
async function startRun(
  c: Ctx,
  running: Map<string, Promise<void>>,
  signal: AbortSignal,
  row: JobRow,
  ended: (row: JobRow) => void,
): Promise<void> {
  // A job found "running" here was interrupted by a crash: it runs again (runs are deterministic).
  if (running.has(row.job_id) || running.size >= c.policy.runSlots) return;
  let release = () => {};
  running.set(row.job_id, new Promise<void>((r) => (release = r)));
  const free = () => (running.delete(row.job_id), release());
  try {
    const { status } = await reconcile(c, row);
    if (status !== JobStatus.Claimed) return free();
  } catch (e) {
    free();
    throw e;
  }
  void run(c, row, signal)
    .catch((e: unknown) => {
      c.o.disk?.stepFailed(e);
      c.o.log.error({ jobId: row.job_id, err: (e as Error).message }, "run failed unexpectedly; will retry");
      c.set(row, { state: "input_ready" });
    })
    .finally(() => {
      free();
      ended(row);
    });
}

/** How long a job left waiting for its input or the queue rests before it is weighed again (see `resting`). */
const REWEIGH_WAITING_MS = 15_000;
/** How long a pass weighs new jobs for claims (the rest wait for the next pass, which follows at once). */
const CLAIM_BUDGET_MS = 1000;
/**
 * Jobs weighed at the same time: their chain reads overlap, while each decision (admission against the queue, and
 * the reservation of the job's estimate in it) is one synchronous step, so each sees the ones taken before it.
 */
const CLAIM_CONCURRENCY = 4;

/**
 * New jobs weighed for claims in turns: each pass goes on after the last job the previous pass weighed, for at most
 * CLAIM_BUDGET_MS, so no job waits behind others that stay unclaimed; `more()` says a pass left some.
 */
function claimTurns() {
  let cursor = 0n;
  let more = false;
  return {
    more: () => more,
    async weigh(seen: JobRow[], step: (r: JobRow) => Promise<void>, halted: () => boolean): Promise<void> {
      const next = seen.findIndex((r) => BigInt(r.job_id) > cursor);
      const order = next <= 0 ? seen : [...seen.slice(next), ...seen.slice(0, next)];
      const end = Date.now() + CLAIM_BUDGET_MS;
      let taken = 0;
      const lane = async () => {
        while (taken < order.length && !halted() && Date.now() <= end) {
          const r = order[taken++];
          cursor = BigInt(r.job_id);
          await step(r);
        }
      };
      await Promise.all(Array.from({ length: CLAIM_CONCURRENCY }, lane));
      more = taken < order.length;
      if (!more) cursor = 0n;
    },
  };
}

/** A pass's preliminaries: the chain's clock (deadlines are in block time), and held collateral to release. */
async function beforePass(c: Ctx, clock: { latestBlockTs: number; latestBlock: number }, anyJob: boolean) {
  if (anyJob) {
    const latest = await c.o.market.runner?.provider?.getBlock("latest").catch(() => null);
    if (latest) {
      clock.latestBlockTs = latest.timestamp;
      clock.latestBlock = latest.number;
    }
  }
  for (const held of c.o.jobs.heldFailures()) {
    await releaseHeld(c, held).catch((e: unknown) =>
      c.o.log.warn(
        { jobId: held.job_id, err: (e as Error).message },
        "could not release held collateral; retrying later",
      ),
    );
  }
}
const isRunnable = (r: JobRow) => r.state === "input_ready" || r.state === "running";
const byDeadline = (a: JobRow, b: JobRow) => a.deadline - b.deadline;

/** Resolves when the job reaches one of `states` (or a final state). */
async function waitUntil(
  jobs: PipelineOptions["jobs"],
  jobId: bigint | string,
  states: JobState[],
  timeoutMs = 600_000,
): Promise<JobRow> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const row = jobs.get(jobId);
    if (row && (states.includes(row.state) || FINAL_STATES.has(row.state))) return row;
    if (Date.now() > end)
      throw new Error(`job ${jobId} did not reach ${states.join("/")} in ${timeoutMs} ms (${row?.state})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
