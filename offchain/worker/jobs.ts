/**
 * The worker's view of jobs and models, persisted in SQLite. Rows are created and moved by chain events (events.ts,
 * inside the ingestion transaction) and by the pipeline (pipeline.ts) as it works. The chain stays the source of
 * truth: the pipeline re-reads a job's on-chain status before every action.
 *
 * Local job states:
 *   seen ─▶ claimed ─▶ input_ready ─▶ running ─▶ output_stored ─▶ submitted ─▶ settled
 *   and the ends: failed (given up on chain), reclaimed, cancelled, slashed, lost (another worker claimed it),
 *   skipped (not ours to run: kind, model or deadline), vanished (a reorg removed its request).
 */
import type { SqliteTx, WorkerDb } from "./db";

/** States that mirror a terminal on-chain status of the job. */
export const CHAIN_FINAL_STATES = ["settled", "failed", "reclaimed", "cancelled", "slashed"] as const;
export const JOB_STATES = [
  "seen",
  "claimed",
  "input_ready",
  "running",
  "output_stored",
  "submitted",
  ...CHAIN_FINAL_STATES,
  "lost",
  "skipped",
  "vanished",
] as const;
export type JobState = (typeof JOB_STATES)[number];
/** States in which this worker has nothing more to do for the job. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set<JobState>([...CHAIN_FINAL_STATES, "lost", "vanished"]);

export type JobKindName = "train" | "infer" | "evaluate";
export const KIND_NAMES: readonly JobKindName[] = ["train", "infer", "evaluate"];

export interface JobRow {
  job_id: string;
  model_id: string;
  kind: JobKindName;
  requester: string;
  input_hash: string;
  input_uri: string;
  fee: string;
  deadline: number;
  params: string;
  seen_block: number;
  state: JobState;
  /** The claimant on chain, once known. */
  worker: string | null;
  input_artifact: string | null;
  result_artifact: string | null;
  output_hash: string | null;
  /** JSON of the receipt this worker built (train: with the child's tree root). */
  receipt: string | null;
  child_model_id: string | null;
  error_code: string | null;
  error_message: string | null;
  progress: string | null;
  run_ms: number | null;
  requested_at_ms: number;
  claimed_at_ms: number | null;
  submitted_at_ms: number | null;
  updated_at_ms: number;
  /** The transaction that requested the job (null on rows of older workers): names the request, not just its id. */
  request_tx: string | null;
  /** The block at (or after) which the row reached a chain-final state or "lost": a reorg below it re-opens the row. */
  final_block: number | null;
  /** The index of the JobRequested log in its transaction: with request_tx, names the request. */
  request_log_index: number | null;
  /** Admission control's estimate of the run, in seconds (set when the job is claimed). */
  estimate_sec: number | null;
  /** 1 when the committed input broke the input rules: the job is failed on chain at once. */
  input_refused: number;
  /** When the current run started (for the queue's remaining time). */
  started_at_ms: number | null;
  /** 1 while the market holds our collateral after a failure that blames the requester (until its dispute window). */
  collateral_held: number;
}

export interface ModelRow {
  model_id: string;
  owner: string;
  weights_root: string;
  datatoken: string;
  parent_id: string;
  frozen: number;
  seen_block: number;
}

export const JOB_MIGRATIONS = [
  `CREATE TABLE jobs (
     job_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, kind TEXT NOT NULL, requester TEXT NOT NULL,
     input_hash TEXT NOT NULL, input_uri TEXT NOT NULL, fee TEXT NOT NULL, deadline INTEGER NOT NULL,
     params TEXT NOT NULL, seen_block INTEGER NOT NULL, state TEXT NOT NULL, worker TEXT,
     input_artifact TEXT, result_artifact TEXT, output_hash TEXT, receipt TEXT, child_model_id TEXT,
     error_code TEXT, error_message TEXT, progress TEXT, run_ms INTEGER,
     requested_at_ms INTEGER NOT NULL, claimed_at_ms INTEGER, submitted_at_ms INTEGER, updated_at_ms INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX jobs_state ON jobs(state);
   CREATE TABLE models (
     model_id TEXT PRIMARY KEY, owner TEXT NOT NULL, weights_root TEXT NOT NULL, datatoken TEXT NOT NULL,
     parent_id TEXT NOT NULL, frozen INTEGER NOT NULL DEFAULT 0, seen_block INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX models_root ON models(weights_root);
   CREATE TABLE model_trees (weights_root TEXT PRIMARY KEY, tree_root TEXT NOT NULL, source TEXT NOT NULL) STRICT;`,
  `ALTER TABLE jobs ADD COLUMN request_tx TEXT;
   ALTER TABLE jobs ADD COLUMN final_block INTEGER;`,
  `ALTER TABLE jobs ADD COLUMN request_log_index INTEGER;
   ALTER TABLE jobs ADD COLUMN estimate_sec REAL;
   ALTER TABLE jobs ADD COLUMN input_refused INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE jobs ADD COLUMN started_at_ms INTEGER;
   ALTER TABLE jobs ADD COLUMN collateral_held INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE model_uploads (
     model_id TEXT PRIMARY KEY, weights_root TEXT NOT NULL, tree_root TEXT NOT NULL, uploader TEXT NOT NULL
   ) STRICT;`,
];

export type JobPatch = Partial<Omit<JobRow, "job_id">>;

/**
 * The sender's idempotency key of a chain action on a job: `<action>:<jobId>:<request>`. The request part (the start of
 * the requesting transaction's hash) matters after a reorg: the job counter rewinds, and the same id may name another
 * request, for which nothing recorded under the vanished request's keys may be reused (its receipt least of all).
 */
export function actionKey(
  action: "claim" | "commit" | "submit" | "settle" | "fail" | "release",
  row: Pick<JobRow, "job_id" | "request_tx">,
) {
  return row.request_tx ? `${action}:${row.job_id}:${row.request_tx.slice(2, 18)}` : `${action}:${row.job_id}`;
}

/**
 * Attempts of one action whose transactions reverted in their blocks after their simulations passed (the chain changed
 * in between). Each attempt has its own key, and is simulated anew before anything is signed: an action the chain now
 * refuses is not sent again.
 */
export const ACTION_ATTEMPTS = 3;

/** The key of an action's next attempt: its first key, or the one after the attempts whose transactions reverted. */
export function attemptKey(
  sender: { action(key: string): { status: string } | undefined },
  action: Parameters<typeof actionKey>[0],
  row: Pick<JobRow, "job_id" | "request_tx">,
): string {
  const first = actionKey(action, row);
  let key = first;
  for (let n = 2; n <= ACTION_ATTEMPTS && sender.action(key)?.status === "reverted"; n++) key = `${first}#${n}`;
  return key;
}

/** The artifact-store ref that names the tree of a model's weights, for every worker sharing the store. */
export function weightsRef(weightsRoot: string): string {
  return `weights/${weightsRoot.toLowerCase()}`;
}

/**
 * The artifact-store ref that names a request's input once the API has taken it (signed by the requester, hashing to
 * the commitment). Keyed by the requesting transaction, so that another request, even one that commits to the same
 * hash, sits in the same transaction, or reuses the id after a reorg, never reads it: only the worker that claims this request does, whichever of the
 * operator's workers the requester uploaded to.
 */
export function inputRef(row: Pick<JobRow, "job_id" | "request_tx" | "request_log_index">): string {
  if (!row.request_tx) return `inputs/job-${row.job_id}`;
  // Two requests of one transaction (a contract's batch) are told apart by their log index.
  const tx = row.request_tx.toLowerCase();
  return row.request_log_index === null ? `inputs/${tx}` : `inputs/${tx}-${row.request_log_index}`;
}

export interface JobsRepo {
  get(jobId: bigint | string, tx?: SqliteTx): JobRow | undefined;
  /** Jobs the pipeline still has work on. */
  active(): JobRow[];
  /** Failed jobs whose collateral the market still holds (released once the dispute window has passed). */
  heldFailures(): JobRow[];
  update(jobId: bigint | string, patch: JobPatch, tx?: SqliteTx): void;
  countByState(): Record<string, number>;
  model(modelId: bigint | string, tx?: SqliteTx): ModelRow | undefined;
  /** The artifact tree of a model's weights, when this operator's store holds it. */
  treeOf(weightsRoot: string, tx?: SqliteTx): string | undefined;
  setTree(weightsRoot: string, treeRoot: string, source: string, tx?: SqliteTx): void;
  /** The tree the model's owner uploaded for this model id (what the worker serves it from), if any. */
  uploadOf(modelId: bigint | string): { weights_root: string; tree_root: string; uploader: string } | undefined;
  setUpload(modelId: bigint | string, weightsRoot: string, treeRoot: string, uploader: string): void;
  /** Every model this worker serves from a tree it holds, by model id. */
  uploads(): { model_id: string; weights_root: string; tree_root: string }[];
}

export function createJobsRepo(db: WorkerDb): JobsRepo {
  db.migrate("jobs", JOB_MIGRATIONS);
  const on = (tx?: SqliteTx) => tx ?? db;
  return {
    get: (jobId, tx) => on(tx).prepare("SELECT * FROM jobs WHERE job_id = ?").get<JobRow>(String(jobId)),
    active: () =>
      db
        .prepare(
          `SELECT * FROM jobs WHERE state NOT IN (${[...FINAL_STATES].map(() => "?").join(",")}) ORDER BY CAST(job_id AS INTEGER)`,
        )
        .all<JobRow>(...FINAL_STATES),
    heldFailures: () => db.prepare("SELECT * FROM jobs WHERE state = 'failed' AND collateral_held = 1").all<JobRow>(),
    update(jobId, patch, tx) {
      const keys = Object.keys(patch) as (keyof JobPatch)[];
      const sets = [...keys.map((k) => `${k} = ?`), "updated_at_ms = ?"].join(", ");
      const values = keys.map((k) => (patch[k] ?? null) as string | number | null);
      on(tx)
        .prepare(`UPDATE jobs SET ${sets} WHERE job_id = ?`)
        .run(...values, Date.now(), String(jobId));
    },
    countByState() {
      const rows = db
        .prepare("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        .all<{ state: string; n: number }>();
      return Object.fromEntries(rows.map((r) => [r.state, r.n]));
    },
    model: (modelId, tx) => on(tx).prepare("SELECT * FROM models WHERE model_id = ?").get<ModelRow>(String(modelId)),
    treeOf: (root, tx) =>
      on(tx)
        .prepare("SELECT tree_root FROM model_trees WHERE weights_root = ?")
        .get<{ tree_root: string }>(root.toLowerCase())?.tree_root,
    uploadOf: (modelId) =>
      db
        .prepare("SELECT weights_root, tree_root, uploader FROM model_uploads WHERE model_id = ?")
        .get<{ weights_root: string; tree_root: string; uploader: string }>(String(modelId)),
    uploads: () =>
      db
        .prepare("SELECT model_id, weights_root, tree_root FROM model_uploads ORDER BY CAST(model_id AS INTEGER)")
        .all<{ model_id: string; weights_root: string; tree_root: string }>(),
    setUpload(modelId, root, tree, uploader) {
      db.prepare(
        `INSERT INTO model_uploads (model_id, weights_root, tree_root, uploader) VALUES (?, ?, ?, ?)
         ON CONFLICT(model_id) DO UPDATE SET weights_root = excluded.weights_root, tree_root = excluded.tree_root,
           uploader = excluded.uploader`,
      ).run(String(modelId), root.toLowerCase(), tree, uploader.toLowerCase());
    },
    setTree(root, tree, source, tx) {
      on(tx)
        .prepare(
          "INSERT INTO model_trees (weights_root, tree_root, source) VALUES (?, ?, ?) ON CONFLICT(weights_root) DO UPDATE SET tree_root = excluded.tree_root",
        )
        .run(root.toLowerCase(), tree, source);
    },
  };
}
