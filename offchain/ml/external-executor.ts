/**
 * The external executor: a program that follows the compute-to-data layout, run in its own process group under a
 * time and memory limit; and the builtin executor run that way, in a child process (builtinProcessExecutor).
 */
import { execFile, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_THREADS } from "./config";
import { DatasetLimits } from "./data";
import { Device, normalizeDevice } from "./device";
import { ML_ERROR_CODES, MlError, MlErrorCode } from "./errors";
import {
  builtinRuntimeId,
  readJobFile,
  writeResult,
  type BuiltinSettings,
  type ExecJob,
  type ExecMetrics,
  type ExecResult,
  type Executor,
} from "./exec-job";
import { canonicalJson, sha256Hex0x } from "./hash";
import { Progress } from "./progress";

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
  /**
   * The program is this runtime's own entry point (run-job.ts), which validated the child checkpoint of a training job
   * and wrote its weights root and config hash into result.json: take them from there rather than read the child's
   * weights again in this process (for GPT-2 small, 500 MB read, converted and hashed on the caller's event loop).
   */
  childFromResult?: boolean;
  /** Start the program in a process group of its own (default), which a kill reaches as a whole; or in this one. */
  ownProcessGroup?: boolean;
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
          // The entry point writes the MlError's message, which starts with its code: MlError adds it back.
          const message = typeof e.message === "string" ? e.message : "external executor reported an error";
          throw new MlError(
            e.code as MlErrorCode,
            message.startsWith(`${e.code}: `) ? message.slice(e.code.length + 2) : message,
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
    if (jf.kind === "train" && this.opts.childFromResult) {
      const c = result.child as { weightsRoot?: unknown; configHash?: unknown } | undefined;
      if (typeof c?.weightsRoot !== "string" || typeof c.configHash !== "string")
        throw new MlError("EXECUTOR_FAILED", `${this.id} wrote no child weights root and config hash in result.json`);
      child = { dir: path.join(outputs, "model"), weightsRoot: c.weightsRoot, configHash: c.configHash };
    } else if (jf.kind === "train") {
      const dir = path.join(outputs, "model");
      let hashes: { weightsRoot: string; configHash: string };
      try {
        hashes = await checkChildInProcess(dir, job.signal);
      } catch (e) {
        if (job.signal?.aborted) throw new MlError("ABORTED", "the job was aborted");
        throw new MlError("EXECUTOR_FAILED", `${this.id} wrote no valid outputs/model/: ${(e as Error).message}`);
      }
      child = { dir, ...hashes };
      result.child = hashes;
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
        detached: this.opts.ownProcessGroup ?? true,
      });
      const signalGroup = (sig: NodeJS.Signals): void => {
        if (this.opts.ownProcessGroup === false) return void proc.kill(sig); // the caller's group: its kill reaches all
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
    // A loss that overflowed is written as null (writeResult): it is no loss of 0, and the receipt saturates it.
    else if (r[k] === null && k !== "tokenCount" && k !== "generatedTokens") out[k] = Infinity;
  }
  return out;
}

/** run-job.ts beside this file (run-job.js once compiled). */
export const RUN_JOB_SCRIPT = path.join(__dirname, `run-job${path.extname(__filename) || ".ts"}`);

/** From a clone, run-job.ts through ts-loader.js (each source transpiled once, then cached by content). */
export function runJobArgs(): string[] {
  if (RUN_JOB_SCRIPT.endsWith(".ts")) return ["-r", path.join(__dirname, "ts-loader.js"), RUN_JOB_SCRIPT];
  return [RUN_JOB_SCRIPT];
}

/**
 * Validates an external program's child checkpoint (loadCheckpoint) and hashes it (weights root, config hash) in a
 * child process (`run-job.ts --child <dir>`), as run-job.ts itself does for the builtin and PyTorch executors: for
 * GPT-2 small that is 500 MB read, converted and hashed, seconds that would hold the caller's event loop (a worker's
 * API, its chain watching). The program's own result.json is not taken for them: it is not this runtime's code.
 */
export function checkChildInProcess(
  dir: string,
  signal?: AbortSignal,
): Promise<{ weightsRoot: string; configHash: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...runJobArgs(), "--child", dir],
      { signal, maxBuffer: 1 << 20, encoding: "utf8" },
      (err, stdout, stderr) => {
        const line = /^CHILD (\{.*\})$/m.exec(stdout);
        const c = line ? (JSON.parse(line[1]) as { weightsRoot?: unknown; configHash?: unknown }) : undefined;
        if (typeof c?.weightsRoot === "string" && typeof c.configHash === "string")
          return resolve({ weightsRoot: c.weightsRoot, configHash: c.configHash });
        reject(new Error(stderr.trim().split("\n").pop() || err?.message || "no hashes were written"));
      },
    );
  });
}

/**
 * The builtin executor in a child process (`node -r ts-loader.js run-job.ts <jobDir>`, or run-job.js once
 * compiled), so that a worker can kill it on timeout. Same results and runtime id as BuiltinExecutor.
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
  if (settings.cacheMaxBytes !== undefined) env.POSTHUMAN_ML_CACHE_MAX = String(settings.cacheMaxBytes);
  if (settings.maxPrompts) env.POSTHUMAN_ML_MAX_PROMPTS = String(settings.maxPrompts);
  return new ExternalExecutor({
    id: "builtin",
    command: process.execPath,
    args: runJobArgs(),
    env,
    timeoutSec: settings.timeoutSec,
    maxMemoryBytes: settings.maxMemoryBytes,
    runtimeId: builtinRuntimeId(settings),
    childFromResult: true,
  });
}
