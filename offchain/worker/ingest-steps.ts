/**
 * The ingestor's steps (fetch a range, commit it, rewind after a reorg, one round, the polling loop), each a plain
 * function of the ingestor's kit: its settings, its prepared statements and its state. createIngestor (ingest.ts)
 * builds the kit.
 */
import { ZeroHash, type Log as EthLog } from "ethers";
import type { WorkerDb } from "./db";
import type { BlockHeader, IngestHandler, IngestRpc, IngestStatus } from "./ingest";
import type { Log } from "./log";
import { backoffDelay, describeError, sleep, type BackoffOptions } from "./rpc";
import { isRateLimited, isUnreachable } from "../protocol/logs";

/** Thrown by `syncOnce` when the handler failed: its transaction was rolled back, nothing was applied. */
export class IngestHandlerError extends Error {
  override readonly name = "IngestHandlerError";
  constructor(
    readonly phase: "apply" | "rollback",
    override readonly cause: unknown,
  ) {
    super(`The ingest handler's ${phase} failed: ${describeError(cause)}`);
  }
}

/**
 * Whether a header names its parent. Hardhat's `hardhat_mine` creates "reserved" blocks whose parentHash reads as
 * zero (no real chain has that above block 0): for those the link is not checked, the stored hashes still are.
 */
function linked(h: BlockHeader): boolean {
  return h.number === 0 || h.parentHash !== ZeroHash;
}

/** What one fetch of a block range found. */
type Fetched =
  | { type: "fetched"; from: number; to: number; logs: EthLog[]; hashes: Map<number, string> }
  | { type: "shrunk"; error: unknown } // getLogs failed, the range was halved: try again at once
  | { type: "moved"; why: string } // the chain changed while the range was read: read it again
  | { type: "reorg" }; // the range does not extend the checkpoint: find the common ancestor

interface Checkpoint {
  number: number;
  hash: string | null;
}

/** The ingestor's prepared statements. */
export function ingestQueries(db: WorkerDb) {
  return {
    checkpoint: db.prepare("SELECT block_number, block_hash, fingerprint FROM ingest_checkpoint WHERE ingestor = ?"),
    saveCheckpoint: db.prepare(
      `INSERT INTO ingest_checkpoint (ingestor, block_number, block_hash, fingerprint, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(ingestor) DO UPDATE SET block_number = excluded.block_number, block_hash = excluded.block_hash,
         updated_at = excluded.updated_at`,
    ),
    insertLog: db.prepare(
      "INSERT OR IGNORE INTO ingest_logs (ingestor, tx_hash, log_index, block_number, block_hash) VALUES (?, ?, ?, ?, ?)",
    ),
    saveBlock: db.prepare("INSERT OR REPLACE INTO ingest_blocks (ingestor, number, hash) VALUES (?, ?, ?)"),
    pruneBlocks: db.prepare("DELETE FROM ingest_blocks WHERE ingestor = ? AND number < ?"),
    storedBlocks: db.prepare(
      "SELECT number, hash FROM ingest_blocks WHERE ingestor = ? AND number <= ? ORDER BY number DESC LIMIT ? OFFSET ?",
    ),
    blockHash: db.prepare("SELECT hash FROM ingest_blocks WHERE ingestor = ? AND number = ?"),
    dropLogs: db.prepare("DELETE FROM ingest_logs WHERE ingestor = ? AND block_number > ?"),
    dropBlocks: db.prepare("DELETE FROM ingest_blocks WHERE ingestor = ? AND number > ?"),
  };
}

/** The ingestor's counters, reported by `status()`. */
export type IngestCounters = Pick<
  IngestStatus,
  | "head"
  | "logsApplied"
  | "rpcErrors"
  | "handlerErrors"
  | "consecutiveFailures"
  | "reorgs"
  | "deepReorgs"
  | "lastError"
  | "lastSyncAt"
>;

/** The ingestor's settings, prepared statements and state, shared by its steps. */
export interface IngestKit {
  rpc: IngestRpc;
  db: WorkerDb;
  handler: IngestHandler;
  log: Log;
  name: string;
  /** Lower-cased and sorted. */
  addresses: string[];
  topics?: Array<string | string[] | null>;
  startBlock: number;
  confirmations: number;
  pollMs: number;
  backoff?: BackoffOptions;
  maxChunk: number;
  growAfter: number;
  /** Blocks below the head whose hashes are all kept. */
  hashWindow: number;
  /** Blocks of hashes kept below the checkpoint. */
  retainBlocks: number;
  fingerprint: string;
  q: ReturnType<typeof ingestQueries>;
  cp: Checkpoint;
  /** The current getLogs range, and the successful getLogs in a row since it last changed. */
  chunk: number;
  streak: number;
  st: IngestCounters;
  running: boolean;
  /** The round in flight (one at a time, whether from the loop or from syncOnce()), settled. */
  inFlight: Promise<void>;
  loopDone: Promise<void>;
  stopper: AbortController;
  waker: AbortController;
}

/** Records an error as the last one seen. */
function noteError(k: IngestKit, e: unknown): void {
  k.st.lastError = { message: describeError(e), at: new Date().toISOString() };
}

/**
 * Fetches a block range: headers first (the range's ends, and every block near the head so that a later reorg finds
 * its exact ancestor), then the logs, then the last header again: if it did not change, the logs are of that chain.
 * A failed getLogs halves the range.
 */
async function fetchRange(k: IngestKit, from: number, to: number, head: number): Promise<Fetched> {
  // Headers first (the range's ends, and every block near the head so that a later reorg finds its exact
  // ancestor), then the logs, then the last header again: if it did not change, the logs are of that chain.
  const wanted = new Set<number>([from, to]);
  for (let n = Math.max(from, head - k.hashWindow); n <= to; n++) wanted.add(n);
  const numbers = [...wanted].sort((a, b) => a - b);
  const headers = await Promise.all(numbers.map((n) => k.rpc.getBlock(n)));
  const hashes = new Map<number, string>();
  for (let i = 0; i < numbers.length; i++) {
    const h = headers[i];
    if (!h || !h.hash) return { type: "moved", why: `block ${numbers[i]} is gone` };
    if (i > 0 && numbers[i - 1] === numbers[i] - 1 && linked(h) && h.parentHash !== hashes.get(numbers[i - 1])) {
      return { type: "moved", why: `block ${numbers[i]} does not extend block ${numbers[i - 1]}` };
    }
    hashes.set(numbers[i], h.hash);
  }
  if (k.cp.hash !== null && headers[0] && linked(headers[0]) && headers[0].parentHash !== k.cp.hash)
    return { type: "reorg" };

  let logs: EthLog[];
  try {
    logs = await k.rpc.getLogs({ address: k.addresses, topics: k.topics, fromBlock: from, toBlock: to });
  } catch (e) {
    k.streak = 0;
    // Nothing left to shrink, or the node is not reachable at all or limits the rate (a smaller range would not
    // help): the round fails and backs off.
    if (k.chunk === 1 || to === from || isUnreachable(e) || isRateLimited(e)) throw e;
    k.st.rpcErrors++;
    noteError(k, e);
    const before = k.chunk;
    k.chunk = Math.max(1, Math.min(k.chunk, to - from + 1) >> 1);
    k.log.warn({ from, to, chunk: before, next: k.chunk, err: describeError(e) }, "getLogs failed: range halved");
    return { type: "shrunk", error: e };
  }
  if (++k.streak >= k.growAfter && k.chunk < k.maxChunk) {
    k.chunk = Math.min(k.maxChunk, k.chunk * 2);
    k.streak = 0;
  }
  const last = await k.rpc.getBlock(to);
  if (!last || last.hash !== hashes.get(to)) return { type: "moved", why: `block ${to} changed during getLogs` };

  const live = logs.filter((l) => !l.removed);
  for (const l of live) {
    const known = hashes.get(l.blockNumber);
    if (known === undefined) hashes.set(l.blockNumber, l.blockHash);
    else if (known !== l.blockHash) return { type: "moved", why: `a log of block ${l.blockNumber} is of another fork` };
  }
  live.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  return { type: "fetched", from, to, logs: live, hashes };
}

/** Applies a fetched range's new logs and moves the checkpoint, in one transaction; returns the logs applied. */
function commitRange(k: IngestKit, f: Extract<Fetched, { type: "fetched" }>): number {
  const toHash = f.hashes.get(f.to) as string;
  let applied = 0;
  try {
    k.db.transaction((tx) => {
      const fresh = f.logs.filter(
        (l) => k.q.insertLog.run(k.name, l.transactionHash, l.index, l.blockNumber, l.blockHash).changes === 1,
      );
      const out: unknown = k.handler.apply(fresh, tx, { fromBlock: f.from, toBlock: f.to, toHash });
      if (out instanceof Promise) throw new Error("handler.apply returned a promise: it must be synchronous.");
      for (const [n, h] of f.hashes) k.q.saveBlock.run(k.name, n, h);
      k.q.saveCheckpoint.run(k.name, f.to, toHash, k.fingerprint, Date.now());
      k.q.pruneBlocks.run(k.name, f.to - k.retainBlocks);
      applied = fresh.length;
    });
  } catch (e) {
    throw new IngestHandlerError("apply", e);
  }
  k.cp = { number: f.to, hash: toHash };
  k.st.logsApplied += applied;
  return applied;
}

/** Walks back through the stored hashes to the highest block the node still has; rewinds everything above it. */
async function rewind(k: IngestKit, head: number): Promise<void> {
  let ancestor: Checkpoint | undefined;
  const batch = 16;
  for (let offset = 0; !ancestor; offset += batch) {
    const rows = k.q.storedBlocks.all<{ number: number; hash: string }>(k.name, k.cp.number, batch, offset);
    if (rows.length === 0) break;
    const onChain = await Promise.all(rows.map((r) => k.rpc.getBlock(r.number)));
    const i = rows.findIndex((r, j) => onChain[j]?.hash === r.hash);
    if (i >= 0) ancestor = { number: rows[i].number, hash: rows[i].hash };
  }
  if (ancestor && ancestor.number === k.cp.number) return; // the checkpoint is canonical after all (the node moved back)
  if (!ancestor) {
    k.log.error(
      { ingestor: k.name, checkpoint: k.cp.number, startBlock: k.startBlock },
      "reorg: no stored block is still on the chain; re-ingesting everything from startBlock",
    );
    ancestor = { number: k.startBlock - 1, hash: null };
  }
  const replaced = k.cp.number - ancestor.number;
  const fromTip = Math.max(head, k.cp.number) - ancestor.number;
  k.st.reorgs++;
  // Ingestion stops `confirmations` blocks behind the head, so a reorg it can see replaced blocks that had at
  // least that many blocks on top: with confirmations > 0 the chain broke the finality the operator relies on.
  const detail = {
    ingestor: k.name,
    ancestor: ancestor.number,
    checkpoint: k.cp.number,
    replaced,
    fromTip,
    confirmations: k.confirmations,
  };
  if (k.confirmations > 0) {
    k.st.deepReorgs++;
    k.log.error(detail, `reorg deeper than ${k.confirmations} confirmations: rolling back to block ${ancestor.number}`);
  } else {
    k.log.warn(detail, `reorg: rolling back to block ${ancestor.number}`);
  }
  const to = ancestor;
  try {
    k.db.transaction((tx) => {
      const out: unknown = k.handler.rollback(to.number, tx);
      if (out instanceof Promise) throw new Error("handler.rollback returned a promise: it must be synchronous.");
      k.q.dropLogs.run(k.name, to.number);
      k.q.dropBlocks.run(k.name, to.number);
      k.q.saveCheckpoint.run(k.name, to.number, to.hash, k.fingerprint, Date.now());
    });
  } catch (e) {
    throw new IngestHandlerError("rollback", e);
  }
  k.cp = to;
}

/** One round: checks the checkpoint is still canonical, then ingests range by range up to head − confirmations. */
async function round(k: IngestKit): Promise<void> {
  let moved = 0;
  let unsettled = 0; // checkpoint checks that failed this round: a node behind a load balancer may flip forks
  let head = await k.rpc.getBlockNumber();
  k.st.head = head;
  let verified = false;
  for (;;) {
    if (!verified && k.cp.hash !== null) {
      const b = await k.rpc.getBlock(k.cp.number);
      if (!b || b.hash !== k.cp.hash) {
        if (++unsettled > 5)
          throw new Error(`The node keeps changing block ${k.cp.number}: its answers are inconsistent.`);
        await rewind(k, head);
        continue;
      }
    }
    verified = true;
    const target = head - k.confirmations;
    if (k.cp.number >= target) break;
    const from = k.cp.number + 1;
    const to = Math.min(target, from + k.chunk - 1);
    const f = await fetchRange(k, from, to, head);
    switch (f.type) {
      case "fetched": {
        const n = commitRange(k, f);
        moved = 0;
        k.log.debug({ ingestor: k.name, from, to, logs: n, chunk: k.chunk }, "ingested");
        break;
      }
      case "shrunk":
        break;
      case "moved":
        if (++moved >= 5) throw new Error(`The chain changed during ${moved} reads in a row (${f.why}).`);
        k.log.info({ ingestor: k.name, from, to, why: f.why }, "chain moved while reading: reading again");
        head = await k.rpc.getBlockNumber();
        k.st.head = head;
        verified = false;
        break;
      case "reorg":
        await rewind(k, head);
        break;
    }
  }
  k.st.lastSyncAt = new Date().toISOString();
}

/** Runs one round after the one in flight, counting its failure. */
export function syncOnce(k: IngestKit): Promise<void> {
  const counted = (): Promise<void> =>
    round(k).catch((e: unknown) => {
      noteError(k, e);
      if (e instanceof IngestHandlerError) k.st.handlerErrors++;
      else k.st.rpcErrors++;
      throw e;
    });
  const next = k.inFlight.then(counted, counted);
  k.inFlight = next.catch(() => undefined);
  return next;
}

/** Rounds until stopped: every `pollMs` (or at once when woken), with backoff after failures. */
export async function loop(k: IngestKit): Promise<void> {
  while (k.running) {
    let delay = k.pollMs;
    try {
      await syncOnce(k);
      k.st.consecutiveFailures = 0;
    } catch (e) {
      if (!k.running) break;
      k.st.consecutiveFailures++;
      if (e instanceof IngestHandlerError) {
        k.log.error({ ingestor: k.name, err: e.cause }, e.message);
      } else {
        k.log.warn(
          { ingestor: k.name, err: describeError(e), failures: k.st.consecutiveFailures },
          "ingestion round failed",
        );
      }
      delay = backoffDelay(k.st.consecutiveFailures - 1, k.backoff);
    }
    const wait = AbortSignal.any([k.stopper.signal, k.waker.signal]);
    await sleep(delay, wait).catch(() => undefined);
    if (k.waker.signal.aborted) k.waker = new AbortController();
  }
}

/** The ingestor's status, from its kit. */
export function ingestStatus(k: IngestKit): IngestStatus {
  const { st, cp } = k;
  return {
    name: k.name,
    running: k.running,
    checkpoint: { ...cp },
    head: st.head,
    lagBlocks: st.head === null ? null : Math.max(0, st.head - cp.number),
    chunkSize: k.chunk,
    logsApplied: st.logsApplied,
    rpcErrors: st.rpcErrors,
    handlerErrors: st.handlerErrors,
    consecutiveFailures: st.consecutiveFailures,
    reorgs: st.reorgs,
    deepReorgs: st.deepReorgs,
    lastError: st.lastError,
    lastSyncAt: st.lastSyncAt,
  };
}
