import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

// better-sqlite3 ships no types and @types/better-sqlite3 is not a dependency; these are the few members the
// worker uses, declared by hand (the shapes are those of better-sqlite3 12).
export type SqlParam = string | number | bigint | Buffer | null;
export interface SqlRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}
export interface SqlStatement {
  run(...params: SqlParam[]): SqlRunResult;
  /** The first row, or undefined. The row type is the caller's claim about its own SQL: keep the two together. */
  get<Row = unknown>(...params: SqlParam[]): Row | undefined;
  all<Row = unknown>(...params: SqlParam[]): Row[];
}
/** What code inside a transaction may use: statements on the connection that holds the transaction. */
export interface SqliteTx {
  prepare(sql: string): SqlStatement;
  exec(sql: string): void;
}
interface TransactionFn<T> {
  (): T;
  immediate(): T;
}
interface BetterSqlite3Database extends SqliteTx {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<T>(fn: () => T): TransactionFn<T>;
  close(): void;
  readonly inTransaction: boolean;
  readonly open: boolean;
}
type BetterSqlite3Constructor = new (file: string, options?: { timeout?: number }) => BetterSqlite3Database;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const BetterSqlite3 = require("better-sqlite3") as BetterSqlite3Constructor;

/** A migration step: SQL (one or more statements) or a function, run inside its own transaction. */
export type Migration = string | ((tx: SqliteTx) => void);

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface WorkerDb {
  /** Absolute path of the database file (":memory:" for an in-memory one). */
  readonly file: string;
  /**
   * Runs `fn` in one IMMEDIATE transaction (the write lock is taken at BEGIN) and commits, or rolls back everything
   * when it throws. `fn` must be synchronous: better-sqlite3 refuses a function that returns a promise. Nested calls
   * become savepoints.
   */
  transaction<T>(fn: (tx: SqliteTx) => T): T;
  /** Statements outside any explicit transaction (each is its own transaction). */
  prepare(sql: string): SqlStatement;
  exec(sql: string): void;
  /**
   * Brings the schema of `namespace` up to date: applies `steps[v..]` where v is the namespace's recorded version,
   * each step and its version bump in one transaction. Adding a migration is appending one element to `steps`;
   * never edit or remove an applied one (its checksum is checked). Returns the new version.
   */
  migrate(namespace: string, steps: readonly Migration[]): number;
  /** The namespace's schema version (0 when never migrated). */
  schemaVersion(namespace: string): number;
  /** A small persistent key-value table (JSON values), e.g. for settings the worker learns at run time. */
  readonly kv: KeyValue;
  close(): void;
}

export interface KeyValue {
  get(key: string, tx?: SqliteTx): JsonValue | undefined;
  set(key: string, value: JsonValue, tx?: SqliteTx): void;
  delete(key: string, tx?: SqliteTx): boolean;
  /** Keys starting with `prefix`, sorted. */
  keys(prefix?: string, tx?: SqliteTx): string[];
}

export interface OpenDbOptions {
  /** The database file; created with its directory when missing. `:memory:` for a throwaway database. */
  file: string;
  /** How long a statement waits for another process's write lock before failing (default 5 s). */
  busyTimeoutMs?: number;
}

/** The database file inside the worker's data directory. */
export const DB_FILE_NAME = "worker.sqlite";

/** The store's own tables: the key-value table. (The migrations table is created before any namespace.) */
const CORE_MIGRATIONS: readonly Migration[] = [
  `CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT`,
];

/**
 * Opens (creating when needed) the worker's SQLite database in WAL mode with `synchronous = FULL`: a committed
 * transaction survives a crash of the process or the machine, which the transaction sender relies on (a lost record
 * of a sent transaction could mean paying for an action twice).
 */
export function openWorkerDb(opts: OpenDbOptions): WorkerDb {
  const memory = opts.file === ":memory:";
  const file = memory ? opts.file : path.resolve(opts.file);
  if (!memory) fs.mkdirSync(path.dirname(file), { recursive: true });
  let raw: BetterSqlite3Database;
  try {
    raw = new BetterSqlite3(file, { timeout: opts.busyTimeoutMs ?? 5000 });
  } catch (e) {
    throw new Error(
      `Cannot open the worker database ${file} (${(e as Error).message}): check that the data directory is writable.`,
    );
  }
  if (!memory) checkIntegrity(raw, file);
  if (!memory) {
    const mode = raw.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal") throw new Error(`The worker database ${file} refused WAL mode (got ${String(mode)}).`);
  }
  raw.pragma("synchronous = FULL");
  raw.pragma("foreign_keys = ON");
  raw.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    namespace TEXT NOT NULL,
    version INTEGER NOT NULL,
    checksum TEXT,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, version)
  ) STRICT`);

  const transaction = <T>(fn: (tx: SqliteTx) => T): T => {
    const wrapped = raw.transaction(() => {
      const out = fn(raw);
      if (out !== null && typeof out === "object" && typeof (out as { then?: unknown }).then === "function") {
        throw new Error("A worker database transaction must be synchronous: its function returned a promise.");
      }
      return out;
    });
    return raw.inTransaction ? wrapped() : wrapped.immediate();
  };

  const schemaVersion = (namespace: string): number =>
    raw
      .prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations WHERE namespace = ?")
      .get<{ v: number }>(namespace)?.v ?? 0;

  const migrate = (namespace: string, steps: readonly Migration[]): number => {
    if (!/^[a-z][a-z0-9_.-]*$/.test(namespace)) {
      throw new Error(`Migration namespace "${namespace}" must be lower-case letters, digits, _ . or -.`);
    }
    const applied = raw
      .prepare("SELECT version, checksum FROM schema_migrations WHERE namespace = ? ORDER BY version")
      .all<{ version: number; checksum: string | null }>(namespace);
    if (applied.length > steps.length) {
      throw new Error(
        `The database ${file} holds schema "${namespace}" version ${applied.length}, newer than this worker's ` +
          `${steps.length}: run a newer worker, or point this one at another data directory.`,
      );
    }
    for (const row of applied) {
      const expected = checksum(steps[row.version - 1]);
      if (row.checksum !== null && expected !== null && row.checksum !== expected) {
        throw new Error(
          `Migration ${namespace}#${row.version} was changed after it was applied to ${file}: ` +
            `restore its text and add a new migration for the change.`,
        );
      }
    }
    for (let v = applied.length + 1; v <= steps.length; v++) {
      const step = steps[v - 1];
      transaction((tx) => {
        if (typeof step === "string") tx.exec(step);
        else step(tx);
        tx.prepare("INSERT INTO schema_migrations (namespace, version, checksum, applied_at) VALUES (?, ?, ?, ?)").run(
          namespace,
          v,
          checksum(step),
          Date.now(),
        );
      });
    }
    return steps.length;
  };

  const kv: KeyValue = {
    get(key, tx = raw) {
      const row = tx.prepare("SELECT value FROM kv WHERE key = ?").get<{ value: string }>(key);
      return row === undefined ? undefined : (JSON.parse(row.value) as JsonValue);
    },
    set(key, value, tx = raw) {
      tx.prepare(
        "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
      ).run(key, JSON.stringify(value), Date.now());
    },
    delete(key, tx = raw) {
      return tx.prepare("DELETE FROM kv WHERE key = ?").run(key).changes > 0;
    },
    keys(prefix = "", tx = raw) {
      return tx
        .prepare("SELECT key FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key")
        .all<{ key: string }>(prefix.length, prefix)
        .map((r) => r.key);
    },
  };

  const db: WorkerDb = {
    file,
    transaction,
    prepare: (sql) => raw.prepare(sql),
    exec: (sql) => raw.exec(sql),
    migrate,
    schemaVersion,
    kv,
    close: () => {
      if (raw.open) raw.close();
    },
  };
  db.migrate("core", CORE_MIGRATIONS);
  return db;
}

/** SQLite's result codes for a file that is not a database, or a database whose pages are damaged. */
const CORRUPT_CODES = /^SQLITE_(NOTADB|CORRUPT)/;

/** The worker database is damaged (or not a database): the message names the file and what to do. */
export class WorkerDbCorruptError extends Error {
  override readonly name = "WorkerDbCorruptError";
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(corruptMessage(file, detail));
  }
}

function corruptMessage(file: string, detail: string): string {
  const dataDir = path.dirname(file);
  return (
    `The worker database ${file} is damaged (${detail}). Do not delete it: it is this worker's record of the jobs it ` +
    `claimed (each must be submitted or failed before its deadline, or its collateral is lost) and of every ` +
    `transaction it signed (without it, one sent just before a crash may be sent again and paid for twice). ` +
    `Restore it from a backup: stop the worker, move ${file} and its ${path.basename(file)}-wal and ` +
    `${path.basename(file)}-shm files aside, copy the backup's ${path.basename(file)} in their place and start the ` +
    `worker (it catches up with the chain from the backup's checkpoint). Without a backup, and accepting those risks, ` +
    `start a fresh database: first wait until this worker's account has no pending transaction, then move those ` +
    `three files aside (keep them) and start the worker. It reads the chain again from its start block and takes up ` +
    `the jobs it had claimed (their inputs and the models it serves come from its artifact store, ` +
    `${path.join(dataDir, "artifacts")} by default: keep it), but settles none it had already submitted ` +
    `(\`posthuman job settle <id>\`, once their challenge window is over). Or start from an empty data directory ` +
    `(--worker-data-dir <new folder>): owners must upload their models to it again.`
  );
}

/** Refuses a file that is not a SQLite database or whose pages are damaged (`PRAGMA quick_check`: one pass, cheap). */
function checkIntegrity(raw: BetterSqlite3Database, file: string): void {
  let rows: { quick_check: string }[];
  try {
    rows = raw.pragma("quick_check(10)") as { quick_check: string }[];
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CORRUPT_CODES.test(code)) {
      raw.close();
      throw new WorkerDbCorruptError(file, `${(e as Error).message}, ${code}`);
    }
    raw.close();
    throw new Error(`Cannot read the worker database ${file}: ${(e as Error).message}.`);
  }
  const problems = rows.map((r) => r.quick_check).filter((r) => r !== "ok");
  if (problems.length) {
    raw.close();
    throw new WorkerDbCorruptError(file, `PRAGMA quick_check: ${problems.slice(0, 3).join("; ")}`);
  }
}

/** Checksum of a SQL migration with whitespace normalized (reformatting is not a change); null for functions. */
function checksum(step: Migration | undefined): string | null {
  if (typeof step !== "string") return null;
  return crypto.createHash("sha256").update(step.replace(/\s+/g, " ").trim()).digest("hex").slice(0, 16);
}
