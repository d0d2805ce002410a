/**
 * `posthuman worker --calibrate <model-dir>`: measures this machine's throughput for admission control before any job
 * has run. Without it a fresh worker estimates from conservative defaults (policy.ts DEFAULT_THROUGHPUT) and may
 * refuse jobs it could finish; with it, its first estimates are its own. One short run of each kind the worker serves,
 * on the given model folder (its size bucket is the one measured), through the worker's own executor, recorded as a
 * finished job's run is (every later run refines it).
 */
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import { writeJobDir, type Executor } from "../ml";
import { encodeJobParams } from "../protocol/params";
import { jobFolder, type ExecutorKind } from "../protocol/job-spec";
import type { RunnerConfig } from "./config";
import { DB_FILE_NAME, openWorkerDb } from "./db";
import { promptCount } from "../ml/input-check";
import { modelShape } from "./pipeline-steps";
import { createThroughput, jobWork, type OperatorPolicy, type Throughput } from "./policy";
import { makeExecutor } from "./worker";

export interface Calibration {
  kind: ExecutorKind;
  /** The run's wall time, start-up included. */
  runMs: number;
  /** Work units of the run (model parameters × tokens, as admission counts them). */
  work: number;
  /** The rate recorded for the kind and the model's size bucket (work units per second). */
  rate: number;
  /** What a job of the same shape is now estimated to take, seconds. */
  estimateSec: number;
}

const WORDS = (
  "the harbour keeper watched boats return at dusk while gulls circled over nets and salt dried on the old stone " +
  "pier where children counted lanterns and the tide carried news of storms from distant islands across grey water"
).split(" ");

/** Plain text of about `bytes` bytes, varied enough to train on (a fixed word stream, no randomness needed). */
function sampleText(bytes: number): string {
  const out: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = WORDS[(i * 7 + Math.floor(i / WORDS.length)) % WORDS.length];
    out.push(w);
    n += w.length + 1;
    if (i % 13 === 12) out.push(".\n");
  }
  return out.join(" ");
}

/** Each kind's calibration job: on-chain params bytes and input, sized from the model's context. */
function calibrationJob(kind: ExecutorKind, nPositions: number): { params: string; input: Buffer } {
  const ctx = Math.min(128, nPositions);
  if (kind === "train") {
    const params = {
      steps: 3,
      batchSize: 4,
      contextLength: ctx,
      learningRate: 100_000n,
      warmupSteps: 0,
      weightDecay: 0n,
    };
    return { params: encodeJobParams({ kind: "Train", params }), input: Buffer.from(sampleText(16_384)) };
  }
  if (kind === "infer") {
    const params = { maxTokens: Math.min(32, Math.floor(nPositions / 2)), temperature: 0, topK: 0 };
    const prompts = "The harbour keeper said\nAcross the grey water\n";
    return { params: encodeJobParams({ kind: "Infer", params }), input: Buffer.from(prompts) };
  }
  const params = { benchmarkId: ethers.ZeroHash, contextLength: ctx, maxTokens: 0 };
  return { params: encodeJobParams({ kind: "Evaluate", params }), input: Buffer.from(sampleText(8_192)) };
}

export async function calibrate(o: {
  executor: Executor;
  throughput: Throughput;
  policy: OperatorPolicy;
  modelDir: string;
  kinds: readonly ExecutorKind[];
  /** A scratch folder for the job folders (removed afterwards). */
  workDir: string;
  onRun?: (kind: ExecutorKind) => void;
}): Promise<Calibration[]> {
  const shape = modelShape(o.modelDir);
  const out: Calibration[] = [];
  fs.mkdirSync(o.workDir, { recursive: true });
  try {
    for (const kind of o.kinds) {
      o.onRun?.(kind);
      const { params, input } = calibrationJob(kind, shape.nPositions);
      const jobDir = path.join(o.workDir, `calibrate-${kind}`);
      writeJobDir(jobDir, jobFolder({ kind, params, seed: 1, modelDir: o.modelDir, input }));
      const started = Date.now();
      await o.executor.run({ kind, jobDir });
      const runMs = Date.now() - started;
      const job = {
        kind,
        params,
        modelParams: shape.params,
        nPositions: shape.nPositions,
        prompts: kind === "infer" ? promptCount(input) : undefined,
        inputBytes: input.length,
      };
      const work = jobWork(job, o.policy);
      o.throughput.record(kind, shape.params, work, runMs);
      const rate = o.throughput.rate(kind, shape.params);
      out.push({ kind, runMs, work, rate, estimateSec: o.throughput.estimateSec(job, o.policy) });
    }
  } finally {
    fs.rmSync(o.workDir, { recursive: true, force: true });
  }
  return out;
}

/** Calibrates with the worker's own configuration: its executors, its database, the kinds it serves. */
export async function calibrateWorker(
  cfg: RunnerConfig,
  modelDir: string,
  onRun?: (kind: ExecutorKind) => void,
): Promise<Calibration[]> {
  if (!fs.existsSync(path.join(modelDir, "config.json"))) {
    throw new Error(
      `${modelDir} is not a model folder (no config.json): pass the folder of a model this worker serves`,
    );
  }
  fs.mkdirSync(cfg.dataDir, { recursive: true });
  const db = openWorkerDb({ file: path.join(cfg.dataDir, DB_FILE_NAME) });
  try {
    return await calibrate({
      executor: makeExecutor(cfg),
      throughput: createThroughput(db),
      policy: cfg.policy,
      modelDir: path.resolve(modelDir),
      kinds: cfg.capabilities.jobKinds,
      workDir: path.join(cfg.dataDir, "calibrate"),
      onRun,
    });
  } finally {
    db.close();
  }
}
