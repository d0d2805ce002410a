/**
 * What every executor shares: the job and result types, job.json's schema and reading, the job's inputs, and
 * result.json's writing (canonical JSON, hashed into the receipt). The executors themselves are in
 * builtin-executor.ts and external-executor.ts; executor.ts exports all three.
 */
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { readConfig } from "./checkpoint";
import { DEFAULT_MODEL_LIMITS, DEFAULT_THREADS, MAX_THREADS, ModelLimits } from "./config";
import { DEFAULT_DATASET_LIMITS, DatasetLimits, parseJsonl, readTextFile } from "./data";
import { Device, normalizeDevice } from "./device";
import { WEBGPU_DECODE_GRAPH_VERSION } from "./webgpu-decode-graph";
import { MlError } from "./errors";
import { canonicalJson, sha256, sha256Hex0x } from "./hash";
import { Progress } from "./progress";

export type JobKind = "train" | "infer" | "evaluate";

export interface ExecJob {
  kind: JobKind;
  jobDir: string;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface ExecMetrics {
  trainLossBefore?: number;
  trainLossAfter?: number;
  valLossBefore?: number;
  valLossAfter?: number;
  evalLoss?: number;
  perplexity?: number;
  tokenCount?: number;
  generatedTokens?: number;
}

export interface ExecResult {
  resultPath: string;
  /** 0x sha256 of result.json's bytes. */
  outputHash: string;
  metrics: ExecMetrics;
  child?: { dir: string; weightsRoot: string; configHash: string };
  runtimeId: string;
}

export interface Executor {
  readonly id: string;
  /** 0x bytes32: hash of executor id, package versions and settings. */
  readonly runtimeId: string;
  run(job: ExecJob): Promise<ExecResult>;
}

export const RUNTIME_VERSION = "posthuman-ml-3";

const seedSchema = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().min(1).max(200)]);

export const jobFileSchema = z.object({
  kind: z.enum(["train", "infer", "evaluate"]),
  params: z.record(z.string(), z.unknown()).default({}),
  seed: seedSchema.default(0),
  modelDir: z.string().min(1).optional(),
  inputs: z.array(z.string().min(1)).optional(),
});

export type JobFile = z.infer<typeof jobFileSchema>;

export const trainParamsSchema = z
  .object({
    steps: z.number().int().min(0).optional(),
    epochs: z.number().positive().optional(),
    lr: z.number().positive(),
    batchSize: z.number().int().positive(),
    contextLength: z.number().int().positive().optional(),
    warmupSteps: z.number().int().min(0).optional(),
    weightDecay: z.number().min(0).optional(),
    validationFraction: z.number().positive().lt(1).optional(),
    timeBudgetSec: z.number().positive().optional(),
    gradClip: z.number().min(0).optional(),
  })
  .strict()
  .refine((p) => p.steps !== undefined || p.epochs !== undefined, { message: "steps or epochs is required" });

export const inferParamsSchema = z
  .object({
    maxNewTokens: z.number().int().positive(),
    temperature: z.number().min(0).optional(),
    topK: z.number().int().min(0).optional(),
    topP: z.number().positive().max(1).optional(),
  })
  .strict();

export const evalParamsSchema = z
  .object({
    contextLength: z.number().int().positive().optional(),
    stride: z.number().int().positive().optional(),
  })
  .strict();

export function parseParams<T>(schema: z.ZodType<T>, params: unknown, kind: string): T {
  const r = schema.safeParse(params);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join(".") || "params"}: ${i.message}`).join("; ");
    throw new MlError("PARAMS_INVALID", `${kind} params are invalid: ${msg}`);
  }
  return r.data;
}

/** Reads and validates <jobDir>/job.json. */
export function readJobFile(jobDir: string, expectedKind?: JobKind): JobFile {
  const file = path.join(jobDir, "job.json");
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new MlError("JOB_INVALID", `${file} is missing or not JSON (${(e as Error).message})`);
  }
  const r = jobFileSchema.safeParse(raw);
  if (!r.success)
    throw new MlError(
      "JOB_INVALID",
      `${file}: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  if (expectedKind && r.data.kind !== expectedKind)
    throw new MlError("JOB_INVALID", `${file} is a ${r.data.kind} job, the executor was asked for ${expectedKind}`);
  return r.data;
}

/** Input files: job.inputs relative to inputs/ (or absolute), else every file in inputs/ by name. */
export function resolveInputs(jobDir: string, job: JobFile): Array<{ name: string; file: string }> {
  const dir = path.join(jobDir, "inputs");
  if (job.inputs && job.inputs.length > 0) {
    return job.inputs.map((p) => {
      const file = path.isAbsolute(p) ? p : path.resolve(dir, p);
      if (!path.isAbsolute(p) && path.relative(dir, file).startsWith(".."))
        throw new MlError("JOB_INVALID", `input ${p} escapes inputs/`);
      return { name: path.isAbsolute(p) ? path.basename(p) : path.relative(dir, file).split(path.sep).join("/"), file };
    });
  }
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort()
    .map((name) => ({ name, file: path.join(dir, name) }));
}

export function resolveModelDir(jobDir: string, job: JobFile): string {
  return path.resolve(jobDir, job.modelDir ?? "model");
}

/** A 32-bit seed for samplers, from a numeric or string seed. */
export function seedU32(seed: number | string): number {
  if (typeof seed === "number") return seed % 2 ** 32;
  return sha256(`seed:${seed}`).readUInt32LE(0);
}

const versions = new Map<string, string>();
function packageVersion(name: string): string {
  let v = versions.get(name);
  if (v !== undefined) return v;
  try {
    v = (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), "utf8")) as { version: string }).version;
  } catch {
    v = "unknown";
  }
  versions.set(name, v);
  return v;
}

export interface BuiltinSettings {
  device?: Device;
  /** onnxruntime threads for training, inference and evaluation (default DEFAULT_THREADS = 2). */
  threads?: number;
  cacheDir?: string;
  /** Bytes the serving cache may keep (serving-cache.ts). */
  cacheMaxBytes?: number;
  modelLimits?: ModelLimits;
  datasetLimits?: DatasetLimits;
  /** Most prompts an inference job may carry (default 1024). */
  maxPrompts?: number;
}

/** The runtime id of the builtin executor: what a verifier must match to reproduce results byte for byte. */
export function builtinRuntimeId(s: BuiltinSettings = {}): string {
  return sha256Hex0x(
    canonicalJson({
      executor: "builtin",
      runtime: RUNTIME_VERSION,
      versions: {
        "@huggingface/transformers": packageVersion("@huggingface/transformers"),
        "onnxruntime-node": packageVersion("onnxruntime-node"),
        node: process.versions.node.split(".")[0],
      },
      settings: {
        device: normalizeDevice(s.device),
        threads: s.threads ?? DEFAULT_THREADS,
        trainBackend: normalizeDevice(s.device) === "webgpu" ? "onnxruntime-webgpu" : "onnxruntime",
        // WebGPU generation runs its own fused graph (results differ from the serving graph's in the last bits).
        ...(normalizeDevice(s.device) === "webgpu" ? { decodeGraph: WEBGPU_DECODE_GRAPH_VERSION } : {}),
      },
    }),
  );
}

/**
 * The builtin settings (device, threads) whose runtime id is `runtimeId`, with this machine's package versions;
 * undefined when none is (another runtime, or other versions). A verifier re-runs a receipt with them.
 */
export function builtinSettingsOf(runtimeId: string): { device: Device; threads: number } | undefined {
  const want = runtimeId.toLowerCase();
  for (const device of ["cpu", "webgpu", "cuda"] as const)
    for (let threads = 1; threads <= MAX_THREADS; threads++)
      if (builtinRuntimeId({ device, threads }).toLowerCase() === want) return { device, threads };
  return undefined;
}

/**
 * A result's figures with every non-finite number as null, as JSON.stringify writes them: a model whose loss overflows
 * (weights trained with a hot learning rate: perplexity e^6262) is a result to report, not an error.
 */
function finiteOrNull(v: unknown): unknown {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (Array.isArray(v)) return v.map(finiteOrNull);
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, finiteOrNull(x)]));
  return v;
}

export function writeResult(
  jobDir: string,
  result: Record<string, unknown>,
): { resultPath: string; outputHash: string } {
  const out = path.join(jobDir, "outputs");
  fs.mkdirSync(out, { recursive: true });
  const text = canonicalJson(finiteOrNull(result)) + "\n";
  const resultPath = path.join(out, "result.json");
  fs.writeFileSync(resultPath, text);
  return { resultPath, outputHash: sha256Hex0x(text) };
}

export function readPrompts(
  files: Array<{ name: string; file: string }>,
  limits: DatasetLimits,
  maxPrompts: number,
): string[] {
  if (files.length === 0) throw new MlError("PROMPTS_INVALID", "an inference job needs a prompts file in inputs/");
  const prompts: string[] = [];
  for (const { file } of files) {
    const { text } = readTextFile(file, limits);
    if (/\.(jsonl|ndjson)$/i.test(file)) prompts.push(...parseJsonl(text, file, "prompt"));
    else for (const line of text.split(/\r?\n/)) if (line.trim().length > 0) prompts.push(line);
  }
  if (prompts.length === 0)
    throw new MlError("PROMPTS_INVALID", `no prompts in ${files.map((f) => f.file).join(", ")}`);
  if (prompts.length > maxPrompts)
    throw new MlError("PROMPTS_INVALID", `${prompts.length} prompts, the limit is ${maxPrompts}`, {
      limit: maxPrompts,
    });
  return prompts;
}

export function inputDigests(files: Array<{ name: string; file: string }>): Array<{ name: string; sha256: string }> {
  return files.map(({ name, file }) => {
    try {
      return { name, sha256: sha256Hex0x(fs.readFileSync(file)) };
    } catch {
      throw new MlError("DATASET_NOT_FOUND", `${file} does not exist`, { file });
    }
  });
}

/** Refuses a missing or oversize model before anything else is read. */
export function loadCheckpointConfigOnly(modelDir: string, limits: ModelLimits): void {
  if (!fs.existsSync(modelDir)) throw new MlError("MODEL_INVALID", `model folder ${modelDir} does not exist`);
  readConfig(modelDir, limits);
}

/** A job folder as an executor reads it: job.json, the model folder, the input files, and the limits in force. */
export function openJob(job: ExecJob, s: { modelLimits?: ModelLimits; datasetLimits?: DatasetLimits }) {
  const jf = readJobFile(job.jobDir, job.kind);
  return {
    jf,
    modelDir: resolveModelDir(job.jobDir, jf),
    files: resolveInputs(job.jobDir, jf),
    modelLimits: s.modelLimits ?? DEFAULT_MODEL_LIMITS,
    datasetLimits: s.datasetLimits ?? DEFAULT_DATASET_LIMITS,
  };
}
