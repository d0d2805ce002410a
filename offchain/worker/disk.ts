/**
 * The data directory's disk: a full one is noticed (ENOSPC, a quota, SQLite's "database or disk is full"), said once
 * in the log with the folder to free, shown in `/healthz` (`ok: false`, `disk.full`) and `/metrics`, and new claims
 * wait until a probe write succeeds again. Step failures are counted by cause (`posthuman_job_step_failures_total`).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Log } from "./log";
import { Counter, Gauge } from "./metrics";

/** Why a pipeline step failed, as counted in `posthuman_job_step_failures_total{cause}`. */
export type FailureCause = "disk_full" | "disk_io" | "network" | "store" | "other";

const FULL_CODES = new Set(["ENOSPC", "EDQUOT", "SQLITE_FULL"]);
const IO_CODES = new Set(["EIO", "EROFS", "EACCES", "EPERM", "EMFILE", "ENFILE"]);
const NETWORK_CODES = new Set([
  "NETWORK_ERROR",
  "SERVER_ERROR",
  "TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);
/** Messages of a full disk from elsewhere: Node (ENOSPC), SQLite, Python's OSError 28 in an executor's output. */
const FULL_MESSAGE = /ENOSPC|EDQUOT|no space left on device|database or disk is full|disk quota exceeded|errno 28\b/i;

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Whether an error (or the error it wraps, as `cause`) says the disk is full. */
export function isDiskFull(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 4; x = (x as { cause?: unknown }).cause, depth++) {
    const code = codeOf(x);
    if (code && FULL_CODES.has(code)) return true;
    if (FULL_MESSAGE.test((x as { message?: unknown }).message as string)) return true;
  }
  return false;
}

/** The cause a failed step is counted under. */
export function failureCause(e: unknown): FailureCause {
  if (isDiskFull(e)) return "disk_full";
  const code = codeOf(e) ?? "";
  if (IO_CODES.has(code) || code.startsWith("SQLITE_IOERR") || code.startsWith("SQLITE_READONLY")) return "disk_io";
  if (NETWORK_CODES.has(code)) return "network";
  if ((e as Error | null)?.name === "ArtifactStoreError") return "store";
  return "other";
}

export interface DiskStatus {
  /** The data directory. */
  dir: string;
  /** True from a write that found the disk full until a probe write succeeds again. */
  full: boolean;
  /** Bytes free to the worker's user on the data directory's filesystem (null when unknown). */
  freeBytes: number | null;
  /** When the disk was found full (ISO time), null when it is not. */
  since: string | null;
  lastError: string | null;
}

export interface DiskGuard {
  readonly dir: string;
  /**
   * A pipeline step failed: counts it by cause; a full disk is recorded (and said once in the log). Returns the cause.
   */
  stepFailed(e: unknown): FailureCause;
  /** Records a write that found the disk full (without counting a step); false when `e` is not one. */
  noteFull(e: unknown): boolean;
  /** False while the disk is known full; re-probed at most every `recheckMs`, clearing it once a write succeeds. */
  writable(): boolean;
  /** Resolves true once writable, false when `signal` aborts or `maxMs` pass first. */
  waitWritable(signal: AbortSignal, maxMs: number): Promise<boolean>;
  status(): DiskStatus;
  /** The guard's metrics, for the worker's registry. */
  readonly metrics: readonly (Counter | Gauge)[];
}

export interface DiskGuardOptions {
  /** The data directory (where the probe file is written). */
  dir: string;
  log: Log;
  /** How often a full disk is probed again (default 5 s). */
  recheckMs?: number;
  /** Bytes the probe writes (default 1 MiB): space for at least that much makes the disk writable again. */
  probeBytes?: number;
  /** Called once each time the disk is found full (e.g. to remove working folders no job needs any more). */
  onFull?: () => void;
}

/** Watches the data directory's disk: see the file's comment. */
export function createDiskGuard(o: DiskGuardOptions): DiskGuard {
  const dir = path.resolve(o.dir);
  const recheckMs = o.recheckMs ?? 5000;
  const probeBytes = o.probeBytes ?? 1024 * 1024;
  let full: { since: number; error: string } | undefined;
  let lastProbe = 0;
  const failures = new Counter(
    "posthuman_job_step_failures_total",
    "Pipeline steps that failed (each is retried later), by cause: disk_full, disk_io, network, store, other",
  );
  const fullGauge = new Gauge("posthuman_data_dir_full", "1 while the worker's data directory is full, else 0", (g) =>
    g.set(full ? 1 : 0),
  );
  const freeGauge = new Gauge(
    "posthuman_data_dir_free_bytes",
    "Bytes free on the filesystem of the worker's data directory",
    (g) => {
      const free = freeBytes(dir);
      if (free !== null) g.set(free);
    },
  );

  const noteFull = (e: unknown): boolean => {
    if (!isDiskFull(e)) return false;
    lastProbe = Date.now();
    if (full) return true;
    const error = (e as Error).message ?? String(e);
    full = { since: Date.now(), error };
    const free = freeBytes(dir);
    o.log.error(
      { dataDir: dir, freeBytes: free, err: error },
      `the data dir ${dir} is full: free space on its filesystem (or move the data dir to a larger one). ` +
        "The worker claims no new jobs until it can write again, and resumes by itself then",
    );
    try {
      o.onFull?.();
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, "could not remove unneeded job folders");
    }
    return true;
  };

  const writable = (): boolean => {
    if (!full || Date.now() - lastProbe < recheckMs) return !full;
    lastProbe = Date.now();
    if (!probe(dir, probeBytes)) return false;
    o.log.info(
      { dataDir: dir, freeBytes: freeBytes(dir), fullForSec: Math.round((Date.now() - full.since) / 1000) },
      `the data dir ${dir} has free space again: claiming jobs again`,
    );
    full = undefined;
    return true;
  };

  return {
    dir,
    stepFailed(e) {
      const cause = failureCause(e);
      failures.inc({ cause });
      if (cause === "disk_full") noteFull(e);
      return cause;
    },
    noteFull,
    writable,
    async waitWritable(signal, maxMs) {
      const end = Date.now() + maxMs;
      while (!writable()) {
        if (signal.aborted || Date.now() >= end) return false;
        await sleep(Math.min(recheckMs, Math.max(0, end - Date.now())), signal);
      }
      return true;
    },
    status: () => ({
      dir,
      full: full !== undefined,
      freeBytes: freeBytes(dir),
      since: full ? new Date(full.since).toISOString() : null,
      lastError: full?.error ?? null,
    }),
    metrics: [failures, fullGauge, freeGauge],
  };
}

/** Bytes free to an unprivileged user on `dir`'s filesystem, or null when it cannot be read. */
export function freeBytes(dir: string): number | null {
  try {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** Writes (and syncs) `bytes` to a probe file in `dir`, then removes it: whether the write went through. */
function probe(dir: string, bytes: number): boolean {
  const file = path.join(dir, `.space-probe-${process.pid}-${crypto.randomUUID()}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, "wx", 0o600);
    fs.writeSync(fd, Buffer.alloc(bytes));
    fs.fsyncSync(fd);
    return true;
  } catch {
    return false;
  } finally {
    try {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    } catch {
      // (a probe left behind is a few bytes; the next one has another name)
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
