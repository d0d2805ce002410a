import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { configHash as configHashOfDir, loadCheckpoint, readConfig, weightsRoot } from "./checkpoint";
import { DEFAULT_MODEL_LIMITS, DEFAULT_THREADS, ModelLimits } from "./config";
import { DEFAULT_DATASET_LIMITS, DatasetLimits, parseJsonl, readTextFile } from "./data";
import { Device, normalizeDevice } from "./device";
import { ML_ERROR_CODES, MlError, MlErrorCode } from "./errors";
import { evaluate } from "./evaluate";
import { canonicalJson, sha256, sha256Hex0x } from "./hash";
import { Progress } from "./progress";
import { generate } from "./serve";
import { trainModel } from "./train";

/**
 * Executors run a job on a model folder with inputs into an output folder (compute-to-data layout):
 *   <jobDir>/job.json   { kind, params, seed, modelDir?, inputs? }
 *   <jobDir>/inputs/    the job's data (datasets, prompts)
 *   <jobDir>/model/     the model folder (read-only), unless job.json names another modelDir
 *   <jobDir>/outputs/   result.json (canonical JSON, hashed into the receipt), model/ for train
 */

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

export const RUNTIME_VERSION = "posthuman-ml-2";

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

function packageVersion(name: string): string {
  try {
    return (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), "utf8")) as { version: string })
      .version;
  } catch {
    return "unknown";
  }
}

export interface BuiltinSettings {
  device?: Device;
  /** onnxruntime threads for training, inference and evaluation (default DEFAULT_THREADS = 2). */
  threads?: number;
  cacheDir?: string;
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
      },
    }),
  );
}

export function writeResult(
  jobDir: string,
  result: Record<string, unknown>,
): { resultPath: string; outputHash: string } {
  const out = path.join(jobDir, "outputs");
  fs.mkdirSync(out, { recursive: true });
  const text = canonicalJson(result) + "\n";
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

/** Runs jobs in this process: training, inference and evaluation on onnxruntime. */
export class BuiltinExecutor implements Executor {
  readonly id = "builtin";
  readonly runtimeId: string;

  constructor(private readonly settings: BuiltinSettings = {}) {
    this.runtimeId = builtinRuntimeId(settings);
  }

  async run(job: ExecJob): Promise<ExecResult> {
    const jf = readJobFile(job.jobDir, job.kind);
    const modelDir = resolveModelDir(job.jobDir, jf);
    const files = resolveInputs(job.jobDir, jf);
    const s = this.settings;
    const modelLimits = s.modelLimits ?? DEFAULT_MODEL_LIMITS;
    const datasetLimits = s.datasetLimits ?? DEFAULT_DATASET_LIMITS;
    loadCheckpointConfigOnly(modelDir, modelLimits);
    const model = { weightsRoot: await weightsRoot(modelDir), configHash: await configHashOfDir(modelDir) };
    const base = { kind: jf.kind, runtimeId: this.runtimeId, model, seed: jf.seed };
    const serve = {
      device: s.device,
      threads: s.threads,
      cacheDir: s.cacheDir,
      limits: modelLimits,
      onProgress: job.onProgress,
      signal: job.signal,
    };

    if (jf.kind === "train") {
      const p = parseParams(trainParamsSchema, jf.params, "train");
      const outDir = path.join(job.jobDir, "outputs", "model");
      fs.rmSync(outDir, { recursive: true, force: true });
      const r = await trainModel({
        ...p,
        modelDir,
        outDir,
        datasets: files.map((f) => f.file),
        seed: jf.seed,
        onProgress: job.onProgress,
        signal: job.signal,
        datasetLimits,
        modelLimits,
        device: s.device,
        threads: s.threads,
      });
      const metrics: ExecMetrics = {
        trainLossBefore: r.trainLossBefore,
        trainLossAfter: r.trainLossAfter,
        valLossBefore: r.valLossBefore,
        valLossAfter: r.valLossAfter,
      };
      const child = { weightsRoot: r.weightsRoot, configHash: r.configHash };
      const written = writeResult(job.jobDir, {
        ...base,
        inputs: inputDigests(files),
        params: p,
        metrics,
        child,
        lossCurve: r.lossCurve,
        stepsPlanned: r.stepsPlanned,
        stepsDone: r.stepsDone,
        stoppedBy: r.stoppedBy,
        trainTokens: r.trainTokens,
        valTokens: r.valTokens,
        tokensPerStep: r.tokensPerStep,
      });
      return { ...written, metrics, child: { dir: r.outDir, ...child }, runtimeId: this.runtimeId };
    }
    if (jf.kind === "infer") {
      const p = parseParams(inferParamsSchema, jf.params, "infer");
      const prompts = readPrompts(files, datasetLimits, s.maxPrompts ?? 1024);
      const g = await generate(modelDir, prompts, { ...p, seed: seedU32(jf.seed) }, serve);
      const metrics: ExecMetrics = { generatedTokens: g.generatedTokens };
      const written = writeResult(job.jobDir, {
        ...base,
        inputs: inputDigests(files),
        params: p,
        metrics,
        generations: g.generations.map((x) => ({
          prompt: x.prompt,
          text: x.text,
          tokens: x.tokens,
          finishReason: x.finishReason,
        })),
      });
      return { ...written, metrics, runtimeId: this.runtimeId };
    }
    const p = parseParams(evalParamsSchema, jf.params, "evaluate");
    const e = await evaluate(modelDir, {
      ...p,
      ...serve,
      datasets: files.map((f) => f.file),
      datasetLimits,
      modelLimits,
    });
    const metrics: ExecMetrics = { evalLoss: e.loss, perplexity: e.perplexity, tokenCount: e.tokenCount };
    const written = writeResult(job.jobDir, {
      ...base,
      inputs: inputDigests(files),
      params: { ...p, contextLength: e.contextLength, stride: e.stride },
      metrics,
      windows: e.windows,
    });
    return { ...written, metrics, runtimeId: this.runtimeId };
  }
}

/** Refuses a missing or oversize model before anything else is read. */
export function loadCheckpointConfigOnly(modelDir: string, limits: ModelLimits): void {
  if (!fs.existsSync(modelDir)) throw new MlError("MODEL_INVALID", `model folder ${modelDir} does not exist`);
  readConfig(modelDir, limits);
}

export interface ExternalExecutorOptions {
  /** Executor id (default "external:<command basename>"). */
  id?: string;
  /** The program; it is called as `command ...args <jobDir>` with cwd = jobDir. */
  command: string;
  args?: string[];
  env?: Record<string, string>;
  /** Declared version of the external runtime (goes into the runtime id). */
  version?: string;
  /** Kill the program after this many seconds (default: none). */
  timeoutSec?: number;
  /**
   * Kill the program when its processes together hold more than this many bytes of resident memory (default: none).
   * Measured from /proc every `memoryPollMs`, over the program and its descendants; Linux only (elsewhere it is not
   * enforced, and `memoryLimitEnforced()` says so).
   */
  maxMemoryBytes?: number;
  memoryPollMs?: number;
  /** Use this runtime id instead of the one derived from the command (the builtin child process does). */
  runtimeId?: string;
  datasetLimits?: DatasetLimits;
}

/**
 * Runs jobs through an external program that follows the compute-to-data layout. It reads job.json,
 * inputs/ and the model folder, writes outputs/result.json (and outputs/model/ for train), may print
 * `PROGRESS {json}` lines on stdout, and on an input error writes outputs/error.json {code, message}
 * and exits non-zero. result.json is re-written canonically, with `runtimeId` and, for train, the
 * child's `child: {weightsRoot, configHash}` set by this executor.
 */
export class ExternalExecutor implements Executor {
  readonly id: string;
  readonly runtimeId: string;

  constructor(private readonly opts: ExternalExecutorOptions) {
    this.id = opts.id ?? `external:${path.basename(opts.command)}`;
    this.runtimeId =
      opts.runtimeId ??
      sha256Hex0x(
        canonicalJson({
          executor: this.id,
          command: opts.command,
          args: opts.args ?? [],
          version: opts.version ?? null,
        }),
      );
  }

  async run(job: ExecJob): Promise<ExecResult> {
    const jf = readJobFile(job.jobDir, job.kind);
    const outputs = path.join(job.jobDir, "outputs");
    fs.mkdirSync(outputs, { recursive: true });
    for (const f of ["result.json", "error.json"]) fs.rmSync(path.join(outputs, f), { force: true });
    if (jf.kind === "train") fs.rmSync(path.join(outputs, "model"), { recursive: true, force: true });
    const { code, stderr } = await this.spawn(job);
    const errFile = path.join(outputs, "error.json");
    if (code !== 0) {
      if (fs.existsSync(errFile)) {
        let e: { code?: unknown; message?: unknown } = {};
        try {
          e = JSON.parse(fs.readFileSync(errFile, "utf8")) as { code?: unknown; message?: unknown };
        } catch {
          // fall through to EXECUTOR_FAILED
        }
        if (typeof e.code === "string" && (ML_ERROR_CODES as readonly string[]).includes(e.code)) {
          throw new MlError(
            e.code as MlErrorCode,
            typeof e.message === "string" ? e.message : "external executor reported an error",
          );
        }
      }
      if (job.signal?.aborted) throw new MlError("ABORTED", "the job was aborted");
      throw new MlError("EXECUTOR_FAILED", `${this.id} exited with ${code}: ${stderr.slice(-2000)}`, {
        exitCode: code,
      });
    }
    const resultPath = path.join(outputs, "result.json");
    let result: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(resultPath, "utf8"));
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      result = parsed as Record<string, unknown>;
    } catch (e) {
      throw new MlError("EXECUTOR_FAILED", `${this.id} wrote no valid outputs/result.json (${(e as Error).message})`);
    }
    let child: ExecResult["child"];
    if (jf.kind === "train") {
      const dir = path.join(outputs, "model");
      try {
        loadCheckpoint(dir, { limits: { maxParams: Infinity, maxContext: Infinity, maxVocab: Infinity } });
      } catch (e) {
        throw new MlError("EXECUTOR_FAILED", `${this.id} wrote no valid outputs/model/: ${(e as Error).message}`);
      }
      child = { dir, weightsRoot: await weightsRoot(dir), configHash: await configHashOfDir(dir) };
      result.child = { weightsRoot: child.weightsRoot, configHash: child.configHash };
    }
    result.runtimeId = this.runtimeId;
    const written = writeResult(job.jobDir, result);
    return { ...written, metrics: pickMetrics(result.metrics), child, runtimeId: this.runtimeId };
  }

  private spawn(job: ExecJob): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve, reject) => {
      if (job.signal?.aborted) return reject(new MlError("ABORTED", "the job was aborted"));
      const proc = spawn(this.opts.command, [...(this.opts.args ?? []), path.resolve(job.jobDir)], {
        cwd: job.jobDir,
        env: { ...process.env, ...(this.opts.env ?? {}), POSTHUMAN_JOB_DIR: path.resolve(job.jobDir) },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, so that a kill reaches whatever the program started (a trainer's data loaders).
        detached: true,
      });
      const signalGroup = (sig: NodeJS.Signals): void => {
        try {
          process.kill(-(proc.pid as number), sig);
        } catch {
          proc.kill(sig); // the group is gone, or was never made
        }
      };
      let stderr = "";
      let buf = "";
      let killedBy: "abort" | "timeout" | "memory" | null = null;
      let peakRss = 0;
      const kill = (why: "abort" | "timeout" | "memory"): void => {
        if (killedBy) return;
        killedBy = why;
        signalGroup("SIGTERM");
        setTimeout(() => proc.exitCode === null && proc.signalCode === null && signalGroup("SIGKILL"), 2000).unref();
      };
      const onAbort = (): void => kill("abort");
      job.signal?.addEventListener("abort", onAbort);
      const timer = this.opts.timeoutSec ? setTimeout(() => kill("timeout"), this.opts.timeoutSec * 1000) : null;
      const limit = this.opts.maxMemoryBytes;
      const watch =
        limit && proc.pid !== undefined && memoryLimitEnforced()
          ? setInterval(() => {
              peakRss = Math.max(peakRss, treeRssBytes(proc.pid as number));
              if (peakRss > limit) kill("memory");
            }, this.opts.memoryPollMs ?? 200)
          : null;
      const stopTimers = (): void => {
        if (timer) clearTimeout(timer);
        if (watch) clearInterval(watch);
      };
      proc.stdout.on("data", (d: Buffer) => {
        buf += d.toString("utf8");
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.startsWith("PROGRESS ") && job.onProgress) {
            try {
              job.onProgress(JSON.parse(line.slice(9)) as Progress);
            } catch {
              // ignore malformed progress lines
            }
          }
        }
      });
      proc.stderr.on("data", (d: Buffer) => {
        stderr = (stderr + d.toString("utf8")).slice(-20000);
      });
      proc.on("error", (e) => {
        job.signal?.removeEventListener("abort", onAbort);
        stopTimers();
        reject(new MlError("EXECUTOR_FAILED", `${this.id} could not start: ${e.message}`));
      });
      proc.on("close", (code, sig) => {
        job.signal?.removeEventListener("abort", onAbort);
        stopTimers();
        if (killedBy) signalGroup("SIGKILL"); // descendants that outlived the program
        if (killedBy === "abort") return reject(new MlError("ABORTED", "the job was aborted"));
        if (killedBy === "memory") {
          const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
          return reject(
            new MlError(
              "MEMORY_LIMIT",
              `${this.id} used ${mib(peakRss)}, over its limit of ${mib(limit ?? 0)}, and was killed`,
              {
                peakRssBytes: peakRss,
                limitBytes: limit,
              },
            ),
          );
        }
        if (killedBy === "timeout")
          return reject(new MlError("EXECUTOR_FAILED", `${this.id} ran past ${this.opts.timeoutSec} s and was killed`));
        resolve({ code: code ?? (sig ? 128 : 1), stderr });
      });
    });
  }
}

/** Whether this platform lets ExternalExecutor measure a process tree's memory (Linux /proc). */
export function memoryLimitEnforced(): boolean {
  return process.platform === "linux" && fs.existsSync("/proc/self/status");
}

/** Resident memory (VmRSS) of `pid` and all its descendants, in bytes; 0 for processes that are gone. */
export function treeRssBytes(pid: number): number {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  let total = 0;
  for (const stack = [pid]; stack.length;) {
    const p = stack.pop() as number;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      // exited meanwhile
    }
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

function pickMetrics(m: unknown): ExecMetrics {
  const out: ExecMetrics = {};
  if (typeof m !== "object" || m === null) return out;
  const r = m as Record<string, unknown>;
  for (const k of [
    "trainLossBefore",
    "trainLossAfter",
    "valLossBefore",
    "valLossAfter",
    "evalLoss",
    "perplexity",
    "tokenCount",
    "generatedTokens",
  ] as const) {
    if (typeof r[k] === "number" && Number.isFinite(r[k])) out[k] = r[k] as number;
  }
  return out;
}

/** run-job.ts beside this file (run-job.js once compiled). */
export const RUN_JOB_SCRIPT = path.join(__dirname, `run-job${path.extname(__filename) || ".ts"}`);

function findUp(dir: string, name: string): string | null {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, name))) return path.join(d, name);
    if (path.dirname(d) === d) return null;
  }
}

function runJobArgs(): string[] {
  if (RUN_JOB_SCRIPT.endsWith(".ts")) return ["-r", require.resolve("ts-node/register/transpile-only"), RUN_JOB_SCRIPT];
  return [RUN_JOB_SCRIPT];
}

/**
 * The builtin executor in a child process (`node -r ts-node/register/transpile-only run-job.ts <jobDir>`),
 * so that a worker can kill it on timeout. Same results and runtime id as BuiltinExecutor.
 */
export function builtinProcessExecutor(
  settings: Omit<BuiltinSettings, "modelLimits" | "datasetLimits"> & {
    timeoutSec?: number;
    maxMemoryBytes?: number;
  } = {},
): ExternalExecutor {
  // A worker's environment may name the device (POSTHUMAN_ML_DEVICE=webgpu|gpu|cuda); the runtime id follows it.
  const device = normalizeDevice(settings.device ?? process.env.POSTHUMAN_ML_DEVICE) as Device;
  settings = { ...settings, device };
  const env: Record<string, string> = {
    POSTHUMAN_ML_DEVICE: device,
    POSTHUMAN_ML_THREADS: String(settings.threads ?? DEFAULT_THREADS),
  };
  if (settings.cacheDir) env.POSTHUMAN_ML_CACHE = settings.cacheDir;
  if (RUN_JOB_SCRIPT.endsWith(".ts")) {
    // The child runs with cwd = jobDir: point ts-node at this project's tsconfig.
    const project = findUp(__dirname, "tsconfig.json");
    if (project) env.TS_NODE_PROJECT = project;
  }
  if (settings.maxPrompts) env.POSTHUMAN_ML_MAX_PROMPTS = String(settings.maxPrompts);
  return new ExternalExecutor({
    id: "builtin",
    command: process.execPath,
    args: runJobArgs(),
    env,
    timeoutSec: settings.timeoutSec,
    maxMemoryBytes: settings.maxMemoryBytes,
    runtimeId: builtinRuntimeId(settings),
  });
}
