import * as fs from "fs";
import * as path from "path";

/**
 * The cache of serving exports (serve.ts): one folder `gpt2-onnx-<key>` per model; for GPT-2 small the export and
 * each graph derived from it (decoding, loss) carry their own 0.5 GB copy of the weights. Every model a worker serves or evaluates leaves one, and each finetune makes a
 * new model, so the cache is kept under a size: after each export the least recently used folders are removed,
 * never the one in hand nor one used in the last `idleMs` (another job may be loading it). A folder's last use is the
 * mtime of its `last-used` file, touched each time serving asks for it. Exports left half-written by a process that
 * died (`.export-<pid>-*`) are removed too.
 */

/** Default bound of the cache: ten to twenty GPT-2 small models. */
export const DEFAULT_CACHE_MAX_BYTES = 20 * 2 ** 30;
/** A folder used this recently is never removed. */
export const DEFAULT_CACHE_IDLE_MS = 10 * 60_000;
const ENTRY = /^gpt2-onnx-[0-9a-f]+$/;
const PARTIAL = /^\.export-(\d+)-/;
const MARKER = "last-used";

/** The cache's bound: $POSTHUMAN_ML_CACHE_MAX (bytes) when set, else DEFAULT_CACHE_MAX_BYTES. */
export function defaultCacheMaxBytes(): number {
  const v = process.env.POSTHUMAN_ML_CACHE_MAX;
  if (v === undefined || v === "") return DEFAULT_CACHE_MAX_BYTES;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`POSTHUMAN_ML_CACHE_MAX must be a whole number of bytes (0 or more), not ${JSON.stringify(v)}`);
  }
  return n;
}

/** Records that a cache folder was just used. */
export function markUsed(dir: string, now = Date.now()): void {
  const f = path.join(dir, MARKER);
  const t = new Date(now);
  try {
    fs.utimesSync(f, t, t);
  } catch {
    try {
      fs.writeFileSync(f, "");
    } catch {
      // a read-only cache is still usable; it just cannot be pruned by use
    }
  }
}

function lastUsed(dir: string): number {
  for (const f of [path.join(dir, MARKER), dir]) {
    try {
      return fs.statSync(f).mtimeMs;
    } catch {
      // try the next
    }
  }
  return 0;
}

function bytesOf(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of fs.readdirSync(p)) n += bytesOf(path.join(p, e));
  return n;
}

/** Whether a process with this pid runs (one of another user's counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface PruneOptions {
  maxBytes: number;
  /** A folder never removed (the one being served). */
  keep?: string;
  idleMs?: number;
  now?: number;
}

export interface PruneResult {
  removed: string[];
  /** Bytes the cache holds afterwards. */
  bytes: number;
}

/** Removes the least recently used exports until the cache holds at most maxBytes (see the file's comment). */
export function pruneServingCache(cache: string, o: PruneOptions): PruneResult {
  const idleMs = o.idleMs ?? DEFAULT_CACHE_IDLE_MS;
  const now = o.now ?? Date.now();
  const keep = o.keep === undefined ? undefined : path.resolve(o.keep);
  let names: string[];
  try {
    names = fs.readdirSync(cache);
  } catch {
    return { removed: [], bytes: 0 };
  }
  const removed: string[] = [];
  const entries: { dir: string; used: number; bytes: number }[] = [];
  for (const name of names) {
    const dir = path.join(cache, name);
    const partial = PARTIAL.exec(name);
    if (partial) {
      if (!processAlive(Number(partial[1]))) {
        fs.rmSync(dir, { recursive: true, force: true });
        removed.push(dir);
      }
    } else if (ENTRY.test(name)) entries.push({ dir, used: lastUsed(dir), bytes: bytesOf(dir) });
  }
  let bytes = entries.reduce((s, e) => s + e.bytes, 0);
  entries.sort((a, b) => a.used - b.used);
  for (const e of entries) {
    if (bytes <= o.maxBytes) break;
    // The last use read again just before removing: another process may have asked for it since the listing.
    if (path.resolve(e.dir) === keep || now - lastUsed(e.dir) < idleMs) continue;
    fs.rmSync(e.dir, { recursive: true, force: true });
    removed.push(e.dir);
    bytes -= e.bytes;
  }
  return { removed, bytes };
}
