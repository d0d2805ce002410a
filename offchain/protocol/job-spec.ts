/**
 * What a job is for the runtime that runs it, derived from the chain alone so that a worker and a verifier build
 * the same job: the executor's params from the on-chain params bytes, the seed from the job id and input hash, the
 * input's file name from its bytes, and the reason codes a failed job carries. Browser-safe (ethers only).
 */
import { ethers } from "ethers";
import type { InputCheckContext } from "../ml/input-check";
import { RATE_SCALE, TEMPERATURE_SCALE, decodeJobParams, type JobKindName, type JobParams } from "./params";

/** Reason codes of JobFailed, stable across versions (documented in docs/operator.md). */
export const FAIL_REASONS: Record<string, number> = {
  INPUT_MISSING: 1,
  TIMEOUT: 2,
  MODEL_UNAVAILABLE: 3,
  INTERNAL: 4,
  DATASET_NOT_FOUND: 10,
  DATASET_EMPTY: 11,
  DATASET_BINARY: 12,
  DATASET_INVALID_UTF8: 13,
  DATASET_INVALID_JSONL: 14,
  DATASET_TOO_LARGE: 15,
  DATASET_TOO_SHORT: 16,
  MODEL_TOO_LARGE: 17,
  MODEL_INVALID: 18,
  CONFIG_INVALID: 19,
  PROMPT_TOO_LONG: 20,
  PROMPTS_INVALID: 21,
  PARAMS_INVALID: 22,
  DEVICE_UNAVAILABLE: 23,
  JOB_INVALID: 24,
  EXECUTOR_FAILED: 25,
  ABORTED: 26,
  MEMORY_LIMIT: 27,
  /** A Train run's child root was registered by another model first: the receipt can never be submitted. */
  WEIGHTS_ROOT_TAKEN: 28,
  /** The market refused the receipt until the claimant's last margin before the deadline, for a reason it did not know. */
  SUBMIT_REFUSED: 29,
  /** The worker's disk filled up during every run of the job it tried (its outputs may not fit there). */
  DISK_FULL: 30,
};

/** The name of a JobFailed reason code, or undefined for a code this version does not know. */
export function failReasonName(code: number | bigint): string | undefined {
  return Object.entries(FAIL_REASONS).find(([, n]) => n === Number(code))?.[0];
}

/** The runtime's name of each on-chain job kind (JobKind order). */
export const EXECUTOR_KINDS = ["train", "infer", "evaluate"] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];
/** The runtime's name of a job kind as the params name it ("Train" → "train"). */
export const EXECUTOR_KIND_OF = { Train: "train", Infer: "infer", Evaluate: "evaluate" } as const satisfies Record<
  JobKindName,
  ExecutorKind
>;

/** What the input rules (ml/input-check.ts) read of a job's params: its context length, or its new tokens. */
export function inputRulesOf(p: JobParams): Pick<InputCheckContext, "contextLength" | "maxTokens"> {
  return p.kind === "Infer"
    ? { maxTokens: p.params.maxTokens }
    : { contextLength: p.params.contextLength || undefined };
}

/** The file name an input is run under: JSONL when it starts with "{", plain text otherwise. */
export function inputFileName(bytes: Uint8Array): string {
  const head = new TextDecoder().decode(bytes.subarray(0, 256)).trimStart();
  return head.startsWith("{") ? "input.jsonl" : "input.txt";
}

/** The seed of a job: derived from its id and input, so anyone can recompute it. */
export function jobSeed(jobId: bigint, inputHash: string): number {
  const h = ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["uint256", "bytes32"], [jobId, inputHash]));
  return Number(BigInt(h) & 0xffffffffn);
}

/** The runtime's params for a job, from the on-chain params bytes. */
export function executorParams(kind: number, paramsBytes: string): Record<string, unknown> {
  const p = decodeJobParams(kind, paramsBytes);
  if (p.kind === "Train") {
    return {
      steps: p.params.steps,
      batchSize: p.params.batchSize,
      ...(p.params.contextLength ? { contextLength: p.params.contextLength } : {}),
      lr: Number(p.params.learningRate) / Number(RATE_SCALE),
      warmupSteps: p.params.warmupSteps,
      weightDecay: Number(p.params.weightDecay) / Number(RATE_SCALE),
    };
  }
  if (p.kind === "Infer") {
    return {
      maxNewTokens: p.params.maxTokens,
      temperature: p.params.temperature / Number(TEMPERATURE_SCALE),
      ...(p.params.topK ? { topK: p.params.topK } : {}),
    };
  }
  return p.params.contextLength ? { contextLength: p.params.contextLength } : {};
}

/** A compute-to-data job: job.json's content and its one input file (what `writeJobDir` of the runtime writes). */
export interface JobFolder {
  job: { kind: ExecutorKind; params: Record<string, unknown>; seed: number; modelDir: string; inputs: string[] };
  inputs: Array<{ name: string; bytes: Uint8Array }>;
}

/** The job folder of an on-chain job: its kind, its params bytes, its seed, the model folder and the input bytes. */
export function jobFolder(o: {
  kind: ExecutorKind;
  params: string;
  seed: number;
  modelDir: string;
  input: Uint8Array;
}): JobFolder {
  const name = inputFileName(o.input);
  const params = executorParams(EXECUTOR_KINDS.indexOf(o.kind), o.params);
  return {
    job: { kind: o.kind, params, seed: o.seed, modelDir: o.modelDir, inputs: [name] },
    inputs: [{ name, bytes: o.input }],
  };
}
