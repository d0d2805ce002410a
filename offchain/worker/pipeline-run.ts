/**
 * The pipeline's local work: which weights a model is served from, running a job in its folder, and storing the
 * result and the receipt it will submit.
 *
 * A model is served only from weights its owner uploaded for that very model id (PUT /models/:id, checked against the
 * chain's weights root and config hash), or that a training job of this operator produced as that model: never by
 * weights root alone, so a stranger who registers a copy of Alice's root serves nothing from Alice's upload.
 */
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import type { ExecResult } from "../ml";
import { isMlError, writeJobDir } from "../ml";
import { toFixedLoss } from "../protocol/params";
import { jobFolder, jobSeed } from "../protocol/job-spec";
import { promptCount } from "../ml/input-check";
import { fail, failIfImpossible, modelShape, type Ctx } from "./pipeline-steps";
import { jobWork } from "./policy";
import type { JobRow } from "./jobs";
import { isDiskFull } from "./disk";
import { jobDir as jobDirOf, keepsJobDir, removeJobDir } from "./job-dirs";

/** The store ref naming the tree served for a model id (shared by the workers of one store). */
export function modelRef(modelId: bigint | string, weightsRoot: string): string {
  return `models/${String(modelId)}/${weightsRoot.toLowerCase()}`;
}

/** The tree served for model `modelId` whose on-chain weights root is `root`; undefined when none may be. */
export async function servedTree(c: Ctx, modelId: string, root: string): Promise<string | undefined> {
  const up = c.o.jobs.uploadOf(modelId);
  if (up && up.weights_root === root.toLowerCase()) return up.tree_root;
  const shared = await c.o.store.getRef(modelRef(modelId, root));
  if (shared) c.o.jobs.setUpload(modelId, root, shared, "store");
  return shared;
}

/** Materializes a tree under the data directory (once), returning its folder. */
export async function materialize(c: Ctx, tree: string): Promise<string> {
  const dir = path.join(c.o.dataDir, "models", tree);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    await c.o.store.materialize(tree, dir).catch((e: unknown) => {
      if (!fs.existsSync(dir)) throw e; // another pass materialized it meanwhile
    });
  }
  return dir;
}

/** After a training job's receipt: the child model id is served from the tree this job trained. */
export async function registerChild(c: Ctx, row: JobRow, childModelId: bigint): Promise<void> {
  if (!row.receipt || c.o.jobs.uploadOf(childModelId)) return;
  const root = (JSON.parse(row.receipt) as { childWeightsRoot: string }).childWeightsRoot;
  const tree = c.o.jobs.treeOf(root);
  if (!tree) return;
  c.o.jobs.setUpload(childModelId, root, tree, `job:${row.job_id}`);
  await c.o.store.setRef(modelRef(childModelId, root), tree);
  c.set(row, { child_model_id: childModelId.toString() });
}

const fixed = (x: number | undefined) => (x === undefined ? 0n : toFixedLoss(x));

/** Runs of a job (by data dir and id) that a full disk cut short; at MAX_DISK_FULL_RUNS the job is failed. */
const diskFullRuns = new Map<string, number>();
const MAX_DISK_FULL_RUNS = 2;

/**
 * Runs a job in its working folder and stores its outputs. The folder goes once the job will not run again (its
 * outputs stored, or the job failed or ended). A full disk is not the job's fault: the run gives its step back (the
 * guard says so once, and new claims wait) and is tried again once a probe write succeeds, until its deadline nears.
 */
export async function run(c: Ctx, row: JobRow, stopping: AbortSignal): Promise<void> {
  const { o } = c;
  if (o.disk && !o.disk.writable()) {
    // The run keeps its slot while it waits: no other run could write either.
    const leftMs = (row.deadline - c.margin - c.nowSec()) * 1000;
    if (!(await o.disk.waitWritable(stopping, Math.max(0, leftMs)))) {
      if (stopping.aborted) return;
      // Failed now, at the penalty, rather than left to its deadline (which would cost the whole collateral).
      return fail(c, row, "TIMEOUT", "the worker's disk stayed full until the job's deadline");
    }
  }
  try {
    await runInFolder(c, row, stopping);
  } catch (e) {
    if (!o.disk || !isDiskFull(e)) throw e;
    o.disk.stepFailed(e);
    removeJobDir(o.dataDir, row.job_id); // rewritten afresh by the next try: its space is better free meanwhile
    // A job that fills the disk itself (outputs larger than the free space) would run again and again until its
    // deadline, blocking every claim meanwhile: the second time, it is failed (the penalty) instead.
    const key = `${o.dataDir}:${row.job_id}`;
    const times = (diskFullRuns.get(key) ?? 0) + 1;
    diskFullRuns.set(key, times);
    if (times >= MAX_DISK_FULL_RUNS) {
      diskFullRuns.delete(key);
      const why = `the worker's disk filled up during ${times} runs of this job (its outputs may not fit): not run again`;
      return fail(c, row, "DISK_FULL", why).catch(() => undefined);
    }
    try {
      if (row.state === "running") c.set(row, { state: "input_ready" });
    } catch {
      // (the database's disk is full too: the row stays "running", which runs again just the same)
    }
    return;
  }
  if (!keepsJobDir(row.state)) removeJobDir(o.dataDir, row.job_id);
}

async function runInFolder(c: Ctx, row: JobRow, stopping: AbortSignal): Promise<void> {
  const { o } = c;
  const started = Date.now();
  c.set(row, { state: "running", started_at_ms: started });
  // Everything the receipt needs from the chain is read before the run: once it has run, no RPC call stands
  // between the result and "output_stored" (a node down then would otherwise throw the run away).
  const served = (await o.registry.modelRuntime(row.model_id)).weightsRoot;
  // The model may have been frozen since the claim: fail at no cost now rather than run what cannot be submitted.
  if (await failIfImpossible(c, row)) return;
  const dir = await c.modelDir(row, served);
  if (!dir) return fail(c, row, "MODEL_UNAVAILABLE", "the model's weights were never uploaded to this operator");
  const input = await o.store.getBuffer(row.input_artifact as string);
  const jobDir = jobDirOf(o.dataDir, row.job_id);
  const seed = jobSeed(BigInt(row.job_id), row.input_hash);
  writeJobDir(jobDir, jobFolder({ kind: row.kind, params: row.params, seed, modelDir: dir, input }));
  const budgetMs = Math.min(o.jobTimeoutMs, (row.deadline - c.margin - c.nowSec()) * 1000);
  if (budgetMs <= 0) return fail(c, row, "TIMEOUT", "no time left before the deadline");
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), budgetMs);
  let result: ExecResult;
  try {
    result = await o.executor.run({
      kind: row.kind,
      jobDir,
      signal: AbortSignal.any([ac.signal, stopping]),
      onProgress: (p) => c.progress.set(row.job_id, p),
    });
  } catch (e) {
    if (stopping.aborted) return; // shutting down: the job stays "running" and runs again after restart
    if (o.disk && isDiskFull(e)) throw e; // not the job's fault (an executor's write found the disk full): retried
    if (ac.signal.aborted)
      return fail(c, row, "TIMEOUT", `the run exceeded its budget of ${Math.round(budgetMs / 1000)} s`);
    if (isMlError(e)) return fail(c, row, e.code, e.message);
    return fail(c, row, "EXECUTOR_FAILED", (e as Error).message);
  } finally {
    clearTimeout(timer);
  }
  const runMs = Date.now() - started;
  const receipt = await storeOutputs(c, row, result, served, seed);
  if (!receipt) return;
  measure(c, row, dir, input, runMs);
  c.set(row, {
    state: "output_stored",
    result_artifact: receipt.resultArtifact,
    output_hash: result.outputHash,
    receipt: JSON.stringify(receipt.body, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)),
    run_ms: runMs,
  });
  // The result and a training run's child are in the store now: the folder (a whole copy of the child) is not needed.
}

/** Stores the result (and a training job's child tree) and builds the receipt; undefined when the job was failed. */
async function storeOutputs(c: Ctx, row: JobRow, result: ExecResult, served: string, seed: number) {
  const stored = await c.o.store.putFile(result.resultPath);
  let child = { weightsRoot: ethers.ZeroHash, configHash: ethers.ZeroHash };
  if (row.kind === "train") {
    if (!result.child) {
      await fail(c, row, "EXECUTOR_FAILED", "a training run returned no child model");
      return undefined;
    }
    const tree = await c.o.store.putTree(result.child.dir);
    c.o.jobs.setTree(result.child.weightsRoot, tree.root, `job:${row.job_id}`);
    child = { weightsRoot: result.child.weightsRoot, configHash: result.child.configHash };
  }
  const m = result.metrics;
  const body = {
    outputHash: result.outputHash,
    outputURI: `posthuman-worker://${c.o.self}/jobs/${row.job_id}/result`,
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
  return { resultArtifact: stored.hash, body };
}

/** Feeds the measured throughput of a finished run back into admission control. */
function measure(c: Ctx, row: JobRow, dir: string, input: Buffer, runMs: number): void {
  if (!c.throughput) return;
  try {
    const shape = modelShape(dir);
    const job = {
      kind: row.kind,
      params: row.params,
      modelParams: shape.params,
      nPositions: shape.nPositions,
      prompts: row.kind === "infer" ? promptCount(input) : undefined,
      inputBytes: input.length,
    };
    const work = jobWork(job, c.policy);
    c.throughput.record(row.kind, shape.params, work, runMs);
  } catch (e) {
    c.o.log.warn({ jobId: row.job_id, err: (e as Error).message }, "could not record the run's throughput");
  }
}
