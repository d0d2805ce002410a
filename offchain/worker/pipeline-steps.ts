/**
 * The pipeline's steps that talk to the chain: reconcile a job with its on-chain status, claim it (after admission
 * control), fail it, submit its receipt, settle it. Each is a plain function of the pipeline's context (`Ctx`), so
 * that pipeline.ts holds only the loop and the dispatch.
 */
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import type { JobMarket, ModelRegistry } from "../../typechain-types";
import type { IJobMarket } from "../../typechain-types/artifacts/contracts/JobMarket";
import type { Executor, Progress } from "../ml";
import { checkJobParams, MlError, normalizeConfig, parameterCount, type Gpt2Config } from "../ml";
import { JobKind, JobStatus, decodeJobParams } from "../protocol/params";
import { modelMakers } from "../protocol/contracts";
import { EXECUTOR_KINDS, FAIL_REASONS, executorParams, type ExecutorKind } from "../protocol/job-spec";
import { promptCount } from "../ml/input-check";
import { REQUESTER_FAULT_REASONS } from "../protocol/input-ack";
import { jobMarketInterface, registryInterface } from "./events";
import { folderProblem } from "./held-models";
import { actionKey, FINAL_STATES, inputRef, type JobRow, type JobsRepo, type JobState } from "./jobs";
import type { Log } from "./log";
import { admit, RUN_OVERHEAD_SEC, type JobShape, type OperatorPolicy, type Throughput } from "./policy";
import type { Sender } from "./sender";
import { SimulationRevertedError, TxRevertedError } from "./sender";
import type { ArtifactStore } from "./store";
import type { DiskGuard } from "./disk";

/** What `progress()` reports: the runtime's progress, or what the job waits for. */
export type JobProgress = Omit<Progress, "phase"> & {
  phase: Progress["phase"] | "waiting";
  note?: string;
  /**
   * Waiting, before a claim: for the job's input (a requester uploads it to this worker now), for the queue, or for
   * the worker itself (its stake, its endpoint on chain: standing.ts).
   */
  waitsFor?: "input" | "queue" | "worker";
};

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
  /** Admission control and pricing; default DEFAULT_POLICY (1 run slot, no minimum fee). */
  policy?: OperatorPolicy;
  /** Measured throughput (persisted); absent: the defaults, nothing recorded. */
  throughput?: Throughput;
  /** Seconds kept free before a deadline for storing and submitting. */
  deadlineMarginSec?: number;
  pollMs?: number;
  log: Log;
  onJobDone?: (row: JobRow, runMs: number) => void;
  /** A new job weighed for a claim (a few chain reads each). */
  onWeighed?: (row: JobRow) => void;
  /** The data directory's disk: step failures counted by cause; no claims and no runs while it is full. */
  disk?: DiskGuard;
  /** Why this worker may not claim a job of `fee` now (its stake, its registered endpoint: standing.ts), if it may not. */
  standing?: (fee: bigint) => Promise<{ code: string; reason: string; final?: boolean } | undefined>;
}

/** The pipeline's shared state and helpers, handed to each step. */
export interface Ctx {
  o: PipelineOptions;
  policy: OperatorPolicy;
  throughput: Throughput | undefined;
  margin: number;
  self: string;
  marketAddress: string;
  progress: Map<string, JobProgress>;
  /** Unix seconds the next block will carry (deadlines and windows are in block time). */
  nowSec(): number;
  /** A block number at or after the chain state just read. */
  head(): Promise<number>;
  set(row: JobRow, patch: Parameters<JobsRepo["update"]>[1]): void;
  /** Sends an action to the job market (or to `to`), under the job's idempotency key for it. */
  send(action: Parameters<typeof actionKey>[0], row: JobRow, data: string, to?: string): ReturnType<Sender["send"]>;
  /** Makes sure the model's weights are materialized locally; undefined when this operator may not serve them. */
  modelDir(row: JobRow, root?: string): Promise<string | undefined>;
  /** Estimated seconds of work already claimed and not yet run (the queue a new job waits behind). */
  queuedSec(): number;
  /** Claims sent and not yet mined: job id → the job's estimate (they count in the queue already). */
  claiming: Map<string, number>;
  /** Records the child model a training job of ours created as served from the tree this worker trained. */
  registerChild(row: JobRow, childModelId: bigint): Promise<void>;
  /** Reasons already logged per job, so a waiting job's reason is logged once. */
  said: Map<string, string>;
}

/** Mirrors the on-chain status into the local state, and returns it. */
export async function reconcile(
  c: Ctx,
  row: JobRow,
): Promise<{ status: number; worker: string; submittedAt: bigint; challengedAt: bigint; childModelId: bigint }> {
  const job = await c.o.market.getJob(row.job_id);
  const status = Number(job.status);
  const worker = job.worker.toLowerCase();
  const terminal: Partial<Record<number, JobState>> = {
    [JobStatus.Settled]: "settled",
    [JobStatus.Cancelled]: "cancelled",
    [JobStatus.Failed]: "failed",
    [JobStatus.Reclaimed]: "reclaimed",
    [JobStatus.Slashed]: "slashed",
  };
  if (status === JobStatus.None) c.set(row, { state: "vanished" });
  else if (terminal[status]) c.set(row, { state: terminal[status], final_block: await c.head() });
  else if (status !== JobStatus.Open && worker !== c.self)
    c.set(row, { state: "lost", worker: job.worker, final_block: await c.head() });
  else if (status === JobStatus.Open && row.state !== "seen" && row.state !== "skipped")
    c.set(row, { state: "seen", worker: null }); // our claim is no longer on chain (a reorg): claim again
  return {
    status,
    worker,
    submittedAt: job.submittedAt,
    challengedAt: job.challengedAt,
    childModelId: job.childModelId,
  };
}

export async function fail(c: Ctx, row: JobRow, code: string, message: string): Promise<void> {
  c.set(row, { error_code: code, error_message: message.slice(0, 2000) });
  if (c.nowSec() > row.deadline) {
    // The market refuses to fail a job past its deadline (JobMarketLeaseExpired): sending it again on every pass
    // would only log the refusal again. The job is its requester's to reclaim now; follow the chain until then.
    say(
      c,
      row,
      "DEADLINE_PASSED",
      `its deadline passed before it could be failed (${message}): its requester may reclaim it`,
    );
    await reconcile(c, row);
    return;
  }
  const reason = FAIL_REASONS[code] ?? FAIL_REASONS.INTERNAL;
  try {
    const r = await c.send("fail", row, jobMarketInterface.encodeFunctionData("failJob", [row.job_id, reason]));
    // A failure that blames the requester's input leaves our collateral held through a dispute window.
    const held = REQUESTER_FAULT_REASONS.includes(reason) ? 1 : 0;
    c.set(row, { state: "failed", final_block: r.blockNumber, collateral_held: held });
  } catch (e) {
    c.o.log.warn({ jobId: row.job_id, err: (e as Error).message }, "could not fail the job on chain");
    await reconcile(c, row);
  }
}

/** Logs why a job waits or is skipped, once per reason. */
function say(c: Ctx, row: JobRow, code: string, reason: string): void {
  if (c.said.get(row.job_id) === code) return;
  c.said.set(row.job_id, code);
  c.o.log.info({ jobId: row.job_id, kind: row.kind, fee: row.fee, code, reason }, `job ${row.job_id}: ${reason}`);
}

const SUBMITTABLE = new ethers.Interface(["function submitBlocker(uint256 jobId) view returns (uint8)"]);
/** Why the market would refuse a receipt, by its SubmitBlocker code (0: nothing). */
const BLOCKERS = [
  "",
  "the job is no longer open or claimed",
  "the job's deadline has passed",
  "the job's model is frozen (a receipt that created it was upheld as invalid)",
  "the child would be deeper than the registry's maxDepth",
];

/**
 * Whether a receipt of this job could be accepted now: the market's own `submitBlocker` view where the deployment
 * has one; else the registry's rules (a training job's child must stay within maxDepth, its parent unfrozen).
 */
export async function submittable(
  c: Ctx,
  row: JobRow,
): Promise<{ ok: boolean; reason?: string; modelBlocks?: boolean }> {
  const provider = c.o.market.runner?.provider;
  try {
    const data = SUBMITTABLE.encodeFunctionData("submitBlocker", [row.job_id]);
    const answer = await provider?.call({ to: c.marketAddress, data });
    if (answer && answer !== "0x") {
      const [code] = SUBMITTABLE.decodeFunctionResult("submitBlocker", answer) as unknown as [bigint];
      if (code === 0n) return { ok: true };
      const reason = BLOCKERS[Number(code)] ?? `the market refuses receipts of this job (${code})`;
      return { ok: false, reason, modelBlocks: code === 3n || code === 4n };
    }
  } catch {
    // No such view on this deployment: the registry's rules below.
  }
  const reason = row.kind === "train" ? await depthProblem(c, row.model_id) : undefined;
  return reason ? { ok: false, reason, modelBlocks: true } : { ok: true };
}

/** Why the registry would refuse the child of a training job on the model (past maxDepth), or undefined. */
export async function depthProblem(c: Ctx, modelId: bigint | string): Promise<string | undefined> {
  const [, generation] = await c.o.registry.lineageOf(modelId);
  const { maxDepth } = await c.o.registry.config();
  if (Number(generation) + 1 <= Number(maxDepth)) return undefined;
  return `the child would be generation ${Number(generation) + 1}, past maxDepth ${maxDepth}`;
}

/** The model's config, size and context, from its config.json (cached per folder). */
const shapes = new Map<string, { config: Gpt2Config; params: number; nPositions: number }>();
export function modelShape(dir: string): { config: Gpt2Config; params: number; nPositions: number } {
  let s = shapes.get(dir);
  if (!s) {
    const config = normalizeConfig(JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")));
    s = { config, params: parameterCount(config), nPositions: config.n_positions };
    shapes.set(dir, s);
  }
  return s;
}

/** Why the runtime would refuse a job's on-chain params (hex) for this model (PARAMS_INVALID), or undefined. */
export function paramsProblem(kind: ExecutorKind, params: string, dir: string): string | undefined {
  try {
    checkJobParams(kind, executorParams(EXECUTOR_KINDS.indexOf(kind), params), modelShape(dir).config);
  } catch (e) {
    if (e instanceof MlError && e.code === "PARAMS_INVALID") return e.message;
    throw e;
  }
  return undefined;
}

/**
 * Why this worker may not claim an independent evaluation (EvaluateParams.independent) of the model: it owns the
 * model or ran the training that made it (the chain would refuse the claim), or undefined.
 */
export async function independenceProblem(
  c: Ctx,
  kind: ExecutorKind,
  params: string,
  modelId: bigint | number | string,
): Promise<string | undefined> {
  if (kind !== "evaluate") return undefined;
  const p = decodeJobParams(JobKind.Evaluate, params);
  if (p.kind !== "Evaluate" || !p.params.independent) return undefined;
  const { owner, trainer, trainingJob } = await modelMakers(c.o.registry, c.o.market, BigInt(modelId));
  if (owner === c.self) return `it asks for an independent evaluation, and this worker's account owns model ${modelId}`;
  if (trainer === c.self)
    return `it asks for an independent evaluation, and this worker trained model ${modelId} (job ${trainingJob})`;
  return undefined;
}

/**
 * Weighs a new job (status, model, submittability, admission) and claims it when taken. With `background`, the claim
 * is only sent: its mining is handed over, so that the caller weighs the next job meanwhile (the claim's estimate
 * counts in the queue from the moment it is sent); without, it resolves once the claim is mined.
 */
export async function claim(c: Ctx, row: JobRow, background?: (mined: Promise<void>) => void): Promise<void> {
  const { o } = c;
  o.onWeighed?.(row);
  if (!o.kinds.includes(row.kind)) return c.set(row, { state: "skipped", error_code: "KIND_NOT_SERVED" });
  if (o.disk && !o.disk.writable()) {
    // Nothing could be stored for it (the guard has said so in the log): weighed again once the disk has room.
    c.progress.set(row.job_id, { phase: "waiting", note: "free space on the worker's disk", step: 0, totalSteps: 0 });
    return;
  }
  // Our own claim may be on chain already: sent before a crash that came before "claimed" was recorded. Then the
  // job is ours whatever its deadline (the "claimed" step fails it in time rather than letting it be reclaimed).
  const { status, worker } = await reconcile(c, row);
  if (status === JobStatus.Claimed && worker === c.self) return claimed(c, row);
  if (status !== JobStatus.Open) return;
  if (row.deadline - c.nowSec() < c.margin * 2) {
    return c.set(row, { state: "skipped", error_code: "DEADLINE_TOO_CLOSE" });
  }
  // The chain reads a decision needs, at once (the callback is read only where admission weighs it).
  const [rt, can, cb, partial] = await Promise.all([
    o.registry.modelRuntime(row.model_id),
    submittable(c, row),
    row.input_refused ? undefined : o.market.callbackOf(row.job_id).catch(() => undefined),
    independenceProblem(c, row.kind, row.params, row.model_id),
  ]);
  if (rt.frozen) return c.set(row, { state: "skipped", error_code: "MODEL_FROZEN" });
  if (!can.ok) {
    say(c, row, "NOT_SUBMITTABLE", `skipped: ${can.reason}`);
    return c.set(row, { state: "skipped", error_code: "NOT_SUBMITTABLE", error_message: can.reason });
  }
  if (partial) {
    say(c, row, "NOT_INDEPENDENT", `skipped: ${partial}`);
    return c.set(row, { state: "skipped", error_code: "NOT_INDEPENDENT", error_message: partial });
  }
  const dir = await c.modelDir(row, rt.weightsRoot);
  if (!dir) {
    // The publisher may still be uploading the weights: keep the job in view until its deadline nears.
    c.progress.set(row.job_id, { phase: "waiting", note: "the model's weights", step: 0, totalSteps: 0 });
    return;
  }
  // A held folder no runtime loads (one accepted before a check it fails) would fail the job after the claim.
  const unfit = await folderProblem(dir);
  if (unfit) {
    say(c, row, "MODEL_INVALID", `skipped: ${unfit}`);
    return c.set(row, { state: "skipped", error_code: "MODEL_INVALID", error_message: unfit });
  }
  // Params the runtime would refuse are on chain already: failing such a job after claiming it would cost this
  // worker its penalty, so it is left unclaimed (the requester cancels it and gets everything back).
  const bad = paramsProblem(row.kind, row.params, dir);
  if (bad) {
    say(c, row, "PARAMS_INVALID", `skipped: ${bad}`);
    return c.set(row, { state: "skipped", error_code: "PARAMS_INVALID", error_message: bad });
  }
  // A job whose committed input was refused is claimed only to be failed at once (the requester is refunded).
  if (row.input_refused) c.claiming.set(row.job_id, 0);
  else {
    // Admission reserves the job's estimate in the queue when it takes it.
    const verdict = await admission(c, row, dir, cb);
    if (!verdict) return;
    c.set(row, { estimate_sec: verdict });
  }
  // Taken on its merits; not while this worker's stake or endpoint would make the claim fail, or its requester unable
  // to reach it (the queue's reservation goes meanwhile).
  const standing = await o.standing?.(BigInt(row.fee));
  if (standing) c.claiming.delete(row.job_id);
  if (standing?.final) {
    say(c, row, standing.code, `skipped: ${standing.reason}`);
    return c.set(row, { state: "skipped", error_code: standing.code, error_message: standing.reason });
  }
  if (standing) {
    say(c, row, standing.code, `not claimed for now: ${standing.reason}`);
    const waiting = { phase: "waiting" as const, note: standing.reason, waitsFor: "worker" as const };
    c.progress.set(row.job_id, { ...waiting, step: 0, totalSteps: 0 });
    return;
  }
  const mined = sendClaim(c, row).finally(() => c.claiming.delete(row.job_id));
  if (background) background(mined);
  else await mined;
}

const claimed = (c: Ctx, row: JobRow) => c.set(row, { state: "claimed", worker: c.self, claimed_at_ms: Date.now() });

/** Sends the claim and waits for it; a refused claim is recorded (another worker was faster, or our stake ran out). */
async function sendClaim(c: Ctx, row: JobRow): Promise<void> {
  try {
    await c.send("claim", row, jobMarketInterface.encodeFunctionData("claimJob", [row.job_id]));
    claimed(c, row);
  } catch (e) {
    if (e instanceof SimulationRevertedError || e instanceof TxRevertedError) {
      const now = await reconcile(c, row);
      if (now.status === JobStatus.Claimed && now.worker === c.self) return claimed(c, row);
      if (!FINAL_STATES.has(row.state)) {
        c.set(row, { error_code: "CLAIM_REFUSED", error_message: e.message });
        c.o.log.warn({ jobId: row.job_id, err: e.message }, "claim refused");
      }
      return;
    }
    throw e;
  }
}

/** A claimed job waits for its input: from the operator's shared store, else until the input wait runs out. */
export async function awaitInput(c: Ctx, row: JobRow): Promise<void> {
  if (row.input_refused) return fail(c, row, row.error_code ?? "JOB_INVALID", row.error_message ?? "input refused");
  // Claimed again after a reorg took our claim away: the stored receipt of this very request still holds.
  if (row.input_artifact) return c.set(row, { state: row.receipt ? "output_stored" : "input_ready" });
  // The requester may have uploaded to another worker of this operator (sharing the store) that lost the claim.
  const shared = await c.o.store.getRef(inputRef(row));
  if (shared && `0x${shared}` === row.input_hash.toLowerCase()) {
    return c.set(row, { input_artifact: shared, state: "input_ready" });
  }
  const waited = Date.now() - (row.claimed_at_ms ?? Date.now());
  const left = row.deadline - c.nowSec();
  if (waited > c.policy.inputWaitMs || left < c.margin * 2) {
    const why =
      waited > c.policy.inputWaitMs
        ? `the requester did not upload the input within ${Math.round(waited / 1000)} s`
        : `the requester had not uploaded the input with ${Math.max(0, left)} s left before the job's deadline, too ` +
          `little to run it (${c.margin * 2} s are kept for storing and submitting)`;
    return fail(c, row, "INPUT_MISSING", why);
  }
  const { status } = await reconcile(c, row);
  if (status === JobStatus.Claimed)
    c.progress.set(row.job_id, { phase: "waiting", note: "the input upload", step: 0, totalSteps: 0 });
}

/** Seconds a job on the model in `dir` is estimated to run (a claim's and a quote's estimate). */
export function estimateOf(c: Ctx, dir: string, j: Omit<JobShape, "modelParams" | "nPositions">): number {
  const shape = modelShape(dir);
  const job = { ...j, modelParams: shape.params, nPositions: shape.nPositions };
  return c.throughput ? c.throughput.estimateSec(job, c.policy) : RUN_OVERHEAD_SEC;
}

/** Price and schedule: the job's estimate in seconds when the policy takes it, else undefined (reason logged). */
async function admission(
  c: Ctx,
  row: JobRow,
  dir: string,
  cb: { gasLimit: bigint | number; fee: bigint } | undefined,
): Promise<number | undefined> {
  // The input, when it came before the claim, makes the estimate exact in prompts and size.
  const input = row.input_artifact ? await c.o.store.getBuffer(row.input_artifact).catch(() => undefined) : undefined;
  const estimateSec = estimateOf(c, dir, {
    kind: row.kind,
    params: row.params,
    inputBytes: input?.length,
    prompts: input && row.kind === "infer" ? promptCount(input) : undefined,
  });
  const verdict = admit({
    policy: c.policy,
    kind: row.kind,
    fee: BigInt(row.fee),
    callback: cb ? { gasLimit: BigInt(cb.gasLimit), fee: BigInt(cb.fee) } : undefined,
    estimateSec,
    queuedSec: c.queuedSec(),
    nowSec: c.nowSec(),
    deadline: row.deadline,
    marginSec: c.margin,
    maxRunSec: Math.floor(c.o.jobTimeoutMs / 1000),
    // A Train job's work is its steps; the others' is their input's (assumed large until it comes).
    estimateFirm: row.kind === "train" || input !== undefined,
  });
  // Reserved in the same synchronous step as the decision: jobs weighed concurrently each see the ones taken before.
  if (verdict.take) {
    c.claiming.set(row.job_id, verdict.estimateSec);
    return verdict.estimateSec;
  }
  say(c, row, verdict.code, `${verdict.final ? "skipped: " : "not claimed for now, waiting for "}${verdict.reason}`);
  if (verdict.final) c.set(row, { state: "skipped", error_code: verdict.code, error_message: verdict.reason });
  else {
    const waiting = { phase: "waiting" as const, note: verdict.reason, waitsFor: verdict.waitsFor };
    c.progress.set(row.job_id, { ...waiting, step: 0, totalSteps: 0 });
  }
  return undefined;
}

/**
 * This worker's commitment to a Train receipt's child root (`commitWeightsRoot`), sent before the receipt: the registry
 * takes the root only from a block after it, so nobody who sees the receipt pending can register the root first.
 */
async function commitChildRoot(c: Ctx, row: JobRow, root: string): Promise<void> {
  const { registry } = c.o;
  const commitment = await registry.weightsRootCommitment(c.self, root);
  // Made already (before a restart), or the root registered already (our receipt mined, or someone else's model).
  if ((await registry.commitmentBlock(commitment)) !== 0n || (await registry.modelOfWeightsRoot(root)) !== 0n) return;
  const data = registryInterface.encodeFunctionData("commitWeightsRoot", [commitment]);
  await c.send("commit", row, data, registry.target as string);
}

/**
 * A Train receipt whose child root another model registered first can never be submitted (training is deterministic):
 * failing the job now costs the worker `failPenaltyBps` of its collateral; waiting for its deadline would cost all of it.
 */
const rootTaken = (e: SimulationRevertedError) =>
  e.reason.kind === "custom" && e.reason.name === "ModelRegistryWeightsRootTaken";

/** A receipt the registry refused only because its commitment is from the current block: sent again next pass. */
const tooRecent = (e: SimulationRevertedError) =>
  e.reason.kind === "custom" &&
  e.reason.name === "ModelRegistryWeightsRootNotCommitted" &&
  BigInt(e.reason.args[1] as bigint) !== 0n;

export async function submit(c: Ctx, row: JobRow): Promise<void> {
  const receipt = JSON.parse(row.receipt as string) as IJobMarket.ReceiptStruct; // bigints as decimal strings
  const submitted = () => {
    c.set(row, { state: "submitted", submitted_at_ms: Date.now() });
    c.o.onJobDone?.(row, row.run_ms ?? 0);
  };
  try {
    if (row.kind === "train") await commitChildRoot(c, row, String(receipt.childWeightsRoot));
    await c.send("submit", row, jobMarketInterface.encodeFunctionData("submitReceipt", [row.job_id, receipt]));
    submitted();
  } catch (e) {
    if (e instanceof SimulationRevertedError && tooRecent(e)) return;
    if (e instanceof SimulationRevertedError || e instanceof TxRevertedError) {
      const now = await reconcile(c, row);
      // Our receipt is on chain already (sent again after a reorg that the old transaction survived after all).
      const ours = now.worker === c.self && (now.status === JobStatus.Submitted || now.status === JobStatus.Challenged);
      if (ours && row.state === "output_stored") return submitted();
      const mine = now.status === JobStatus.Claimed && now.worker === c.self;
      if (mine && (await failIfImpossible(c, row))) return;
      if (mine && e instanceof SimulationRevertedError && rootTaken(e) && row.deadline > c.nowSec()) {
        const [root, holder] = (e.reason as { args: unknown[] }).args.map(String);
        const why = `the run's child weights root ${root} is model ${holder}'s already: the receipt can never be submitted`;
        return fail(c, row, "WEIGHTS_ROOT_TAKEN", why);
      }
      // Refused on an earlier pass too (not a first refusal a retry may get past), and the deadline's margin reached.
      const again = row.error_code === "SUBMIT_REFUSED";
      if (mine && again && row.deadline - c.nowSec() <= c.margin && row.deadline > c.nowSec()) {
        const why = `the market refused the receipt until ${c.margin} s before the job's deadline: ${e.message}`;
        return fail(c, row, "SUBMIT_REFUSED", why); // the penalty, where the deadline would take the whole collateral
      }
      if (!FINAL_STATES.has(row.state)) c.set(row, { error_code: "SUBMIT_REFUSED", error_message: e.message });
      return;
    }
    throw e;
  }
}

/**
 * Fails, at no cost to us, a job we hold the claim of (the caller knows) that can no longer be submitted through no
 * fault of ours (its model was frozen after the claim): the market refunds the requester and unlocks our collateral
 * without penalty, instead of the job sitting claimed until its deadline. True when the job was failed.
 */
export async function failIfImpossible(c: Ctx, row: JobRow): Promise<boolean> {
  const can = await submittable(c, row);
  if (!can.modelBlocks || row.deadline <= c.nowSec()) return false;
  await fail(c, row, "MODEL_UNAVAILABLE", `no receipt of this job can be submitted any more: ${can.reason}`);
  return true;
}

/** The market's windows, read once per pipeline (a process may run workers on different markets). */
const windowsOf = new WeakMap<Ctx, { challenge: bigint; arbitration: bigint }>();

/**
 * Settles a submitted job once its challenge window has passed, and a challenged one once the arbiter let its
 * window lapse (the contract then settles it for the worker): the worker's pay and collateral never stay locked.
 */
export async function settle(c: Ctx, row: JobRow): Promise<void> {
  const now = await reconcile(c, row);
  if (row.kind === "train" && now.childModelId !== 0n) await c.registerChild(row, now.childModelId);
  if (now.status !== JobStatus.Submitted && now.status !== JobStatus.Challenged) return; // final: done
  const windows = await readWindows(c);
  const t = BigInt(c.nowSec());
  if (now.status === JobStatus.Submitted && t <= now.submittedAt + windows.challenge) return;
  if (now.status === JobStatus.Challenged && t <= now.challengedAt + windows.arbitration) return;
  try {
    const r = await c.send("settle", row, jobMarketInterface.encodeFunctionData("settleJob", [row.job_id]));
    c.set(row, { state: "settled", final_block: r.blockNumber });
  } catch (e) {
    if (e instanceof SimulationRevertedError) return; // the window is measured in block time: try again later
    throw e;
  }
}

const FAILURES = new ethers.Interface([
  "function failureOf(uint256 jobId) view returns (uint32 reason, bool collateralHeld)",
  "function releaseFailureCollateral(uint256 jobId)",
]);

/**
 * Releases the collateral the market held after we failed a job for the requester's fault, once the dispute window
 * (the challenge window from the failure) has passed: it must not stay locked.
 */
export async function releaseHeld(c: Ctx, row: JobRow): Promise<void> {
  const provider = c.o.market.runner?.provider;
  if (!provider) return;
  const data = FAILURES.encodeFunctionData("failureOf", [row.job_id]);
  const [, held] = FAILURES.decodeFunctionResult("failureOf", await provider.call({ to: c.marketAddress, data }));
  if (!held) return c.set(row, { collateral_held: 0 });
  const job = await c.o.market.getJob(row.job_id);
  const windows = await readWindows(c);
  if (BigInt(c.nowSec()) <= job.submittedAt + windows.challenge) return;
  try {
    await c.send("release", row, FAILURES.encodeFunctionData("releaseFailureCollateral", [row.job_id]));
    c.set(row, { collateral_held: 0 });
    c.o.log.info({ jobId: row.job_id }, "collateral held after the failure released");
  } catch (e) {
    if (e instanceof SimulationRevertedError) return; // block time not there yet: next pass
    throw e;
  }
}

async function readWindows(c: Ctx) {
  let w = windowsOf.get(c);
  if (!w) {
    const cfg = await c.o.market.config();
    w = { challenge: cfg.challengeWindow, arbitration: cfg.arbitrationWindow };
    windowsOf.set(c, w);
  }
  return w;
}
