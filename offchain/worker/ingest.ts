import crypto from "node:crypto";
import { ZeroHash, isAddress, type Log as EthLog } from "ethers";
import type { SqliteTx, WorkerDb } from "./db";
import type { Log } from "./log";
import { backoffDelay, describeError, sleep, type BackoffOptions } from "./rpc";

/** The three JSON-RPC calls ingestion needs; an ethers `JsonRpcProvider` is one (made by `createProvider`). */
export interface IngestRpc {
  getBlockNumber(): Promise<number>;
  getBlock(blockNumber: number): Promise<BlockHeader | null>;
  getLogs(filter: LogFilter): Promise<EthLog[]>;
}
export interface BlockHeader {
  number: number;
  hash: string | null;
  parentHash: string;
}
export interface LogFilter {
  address: string[];
  topics?: Array<string | string[] | null>;
  fromBlock: number;
  toBlock: number;
}

/** The blocks a call to `apply` covers: all of [fromBlock, toBlock], whether they hold logs or not. */
export interface IngestRange {
  fromBlock: number;
  toBlock: number;
  toHash: string;
}

/**
 * What the worker does with the chain's events. Both methods run inside the better-sqlite3 transaction that moves
 * the checkpoint, so they must be synchronous and must write only through `tx`: the state they produce and the
 * checkpoint are committed together or not at all (an exception rolls both back, and the range is fetched again).
 */
export interface IngestHandler {
  /** New logs, sorted by (block, logIndex), never one already applied (deduplicated by txHash and logIndex). */
  apply(logs: readonly EthLog[], tx: SqliteTx, range: IngestRange): void;
  /** Undo everything derived from blocks above `ancestorBlock`: the chain replaced them (a reorg). */
  rollback(ancestorBlock: number, tx: SqliteTx): void;
}

export interface IngestorOptions {
  provider: IngestRpc;
  db: WorkerDb;
  /** Contracts whose logs are ingested. */
  addresses: string[];
  /** getLogs topic filter, by position: [[topic0 of event A, topic0 of event B], null, [an indexed value]]. */
  topics?: Array<string | string[] | null>;
  /** First block to ingest (the address book's startBlock). */
  startBlock: number;
  /** Blocks left on top of the last ingested block: ingestion stops at head − confirmations. */
  confirmations: number;
  /** Time between polls of the head once caught up. */
  pollMs: number;
  handler: IngestHandler;
  log: Log;
  /** Several ingestors may share a database under different names (default "main"). */
  name?: string;
  /** The chain id, part of the stored configuration fingerprint (a data dir of another chain is refused). */
  chainId?: number;
  /** Largest getLogs range in blocks (default 2000); the range halves on each failed getLogs, down to 1. */
  maxChunk?: number;
  /** Successful getLogs calls in a row before the range doubles again (default 3). */
  growAfter?: number;
  /** Hashes of the last `confirmations + reorgMargin` blocks are all kept, to find the exact common ancestor (default 64). */
  reorgMargin?: number;
  /** Backoff between failed rounds (default 250 ms doubling to 30 s). */
  backoff?: BackoffOptions;
}

export interface IngestStatus {
  name: string;
  running: boolean;
  /** The last ingested block (startBlock − 1 before any); hash null until one is ingested. */
  checkpoint: { number: number; hash: string | null };
  /** The head last seen, and how many blocks the checkpoint is behind it. */
  head: number | null;
  lagBlocks: number | null;
  /** Current getLogs range in blocks. */
  chunkSize: number;
  logsApplied: number;
  /** Failed RPC calls and rounds (a getLogs that made the range shrink counts once). */
  rpcErrors: number;
  /** Rounds in which the handler threw (its transaction was rolled back). */
  handlerErrors: number;
  /** Failed rounds since the last successful one (the backoff grows with it). */
  consecutiveFailures: number;
  reorgs: number;
  /** Reorgs that replaced blocks with `confirmations` > 0 blocks on top: the chain broke the worker's finality rule. */
  deepReorgs: number;
  lastError: { message: string; at: string } | null;
  lastSyncAt: string | null;
}

export interface Ingestor {
  /** Polls until `stop()`: one round every `pollMs` once caught up, backoff after failures. */
  start(): void;
  /** Stops the loop; resolves when the round in flight has ended. */
  stop(): Promise<void>;
  /** Ends the wait before the next round (a new head was announced, or the API wants fresh state). */
  wake(): void;
  /** One round: ingests up to head − confirmations, handling reorgs; throws what it could not handle. */
  syncOnce(): Promise<void>;
  status(): IngestStatus;
}

/** The ingestion tables; applied by `createIngestor` through the `ingest` migration namespace. */
export const INGEST_MIGRATIONS = [
  `CREATE TABLE ingest_checkpoint (
     ingestor TEXT PRIMARY KEY,
     block_number INTEGER NOT NULL,
     block_hash TEXT,
     fingerprint TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE ingest_blocks (
     ingestor TEXT NOT NULL,
     number INTEGER NOT NULL,
     hash TEXT NOT NULL,
     PRIMARY KEY (ingestor, number)
   ) STRICT, WITHOUT ROWID;
   CREATE TABLE ingest_logs (
     ingestor TEXT NOT NULL,
     tx_hash TEXT NOT NULL,
     log_index INTEGER NOT NULL,
     block_number INTEGER NOT NULL,
     block_hash TEXT NOT NULL,
     PRIMARY KEY (ingestor, tx_hash, log_index)
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX ingest_logs_by_block ON ingest_logs (ingestor, block_number);`,
];

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

const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENETDOWN", "ENOTFOUND", "EAI_AGAIN"]);
/** The node could not be reached at all (as opposed to refusing or timing out on a large range). */
function isUnreachable(e: unknown): boolean {
  const code = e !== null && typeof e === "object" && "code" in e ? (e as { code: unknown }).code : undefined;
  return typeof code === "string" && UNREACHABLE.has(code);
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

/**
 * Event ingestion that survives crashes, reorgs and flaky RPC nodes:
 * - `getLogs` over [checkpoint+1, head − confirmations] in ranges that halve when a call fails and grow back;
 * - each range's logs, the handler's state and the new checkpoint (number + hash) in one SQLite transaction, with
 *   every log recorded by (txHash, logIndex) so that none is ever applied twice;
 * - every range checked to extend the checkpoint (parent hash), the checkpoint checked to still be canonical each
 *   round; on a mismatch, the stored block hashes are compared with the node's, walking back, and the handler rolls
 *   back to the highest common block. A reorg of blocks that had `confirmations` > 0 blocks on top is logged as an
 *   error and counted in `deepReorgs`.
 * Never relies on eth_newFilter or `contract.on`.
 */
export function createIngestor(opts: IngestorOptions): Ingestor {
  const { provider: rpc, db, handler, log, confirmations, startBlock } = opts;
  const name = opts.name ?? "main";
  const maxChunk = opts.maxChunk ?? 2000;
  const growAfter = opts.growAfter ?? 3;
  const hashWindow = confirmations + (opts.reorgMargin ?? 64);
  const retainBlocks = Math.max(hashWindow * 2, 256);
  for (const a of opts.addresses) if (!isAddress(a)) throw new Error(`createIngestor: "${a}" is not an address.`);
  const addresses = [...new Set(opts.addresses.map((a) => a.toLowerCase()))].sort();
  if (addresses.length === 0) throw new Error("createIngestor needs at least one contract address.");
  if (!Number.isSafeInteger(startBlock) || startBlock < 0)
    throw new Error(`startBlock ${startBlock} is not a block number.`);

  db.migrate("ingest", INGEST_MIGRATIONS);
  const fingerprint = crypto
    .createHash("sha256")
    .update(JSON.stringify({ addresses, topics: opts.topics ?? null, startBlock, chainId: opts.chainId ?? null }))
    .digest("hex")
    .slice(0, 16);

  const q = {
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

  const stored = q.checkpoint.get<{ block_number: number; block_hash: string | null; fingerprint: string }>(name);
  if (stored && stored.fingerprint !== fingerprint) {
    throw new Error(
      `The ingestor "${name}" in ${db.file} was started with other contracts, topics, start block or chain: its ` +
        `state belongs to them. Use a new data directory (or another ingestor name) to ingest with these settings.`,
    );
  }
  let cp: Checkpoint = stored
    ? { number: stored.block_number, hash: stored.block_hash }
    : { number: startBlock - 1, hash: null };

  let chunk = maxChunk;
  let streak = 0;
  const st = {
    head: null as number | null,
    logsApplied: 0,
    rpcErrors: 0,
    handlerErrors: 0,
    consecutiveFailures: 0,
    reorgs: 0,
    deepReorgs: 0,
    lastError: null as { message: string; at: string } | null,
    lastSyncAt: null as string | null,
  };
  const noteError = (e: unknown): void => {
    st.lastError = { message: describeError(e), at: new Date().toISOString() };
  };

  const fetchRange = async (from: number, to: number, head: number): Promise<Fetched> => {
    // Headers first (the range's ends, and every block near the head so that a later reorg finds its exact
    // ancestor), then the logs, then the last header again: if it did not change, the logs are of that chain.
    const wanted = new Set<number>([from, to]);
    for (let n = Math.max(from, head - hashWindow); n <= to; n++) wanted.add(n);
    const numbers = [...wanted].sort((a, b) => a - b);
    const headers = await Promise.all(numbers.map((n) => rpc.getBlock(n)));
    const hashes = new Map<number, string>();
    for (let i = 0; i < numbers.length; i++) {
      const h = headers[i];
      if (!h || !h.hash) return { type: "moved", why: `block ${numbers[i]} is gone` };
      if (i > 0 && numbers[i - 1] === numbers[i] - 1 && linked(h) && h.parentHash !== hashes.get(numbers[i - 1])) {
        return { type: "moved", why: `block ${numbers[i]} does not extend block ${numbers[i - 1]}` };
      }
      hashes.set(numbers[i], h.hash);
    }
    if (cp.hash !== null && headers[0] && linked(headers[0]) && headers[0].parentHash !== cp.hash)
      return { type: "reorg" };

    let logs: EthLog[];
    try {
      logs = await rpc.getLogs({ address: addresses, topics: opts.topics, fromBlock: from, toBlock: to });
    } catch (e) {
      streak = 0;
      // Nothing left to shrink, or the node is not reachable at all (a smaller range would not help): the round
      // fails and backs off.
      if (chunk === 1 || to === from || isUnreachable(e)) throw e;
      st.rpcErrors++;
      noteError(e);
      const before = chunk;
      chunk = Math.max(1, Math.min(chunk, to - from + 1) >> 1);
      log.warn({ from, to, chunk: before, next: chunk, err: describeError(e) }, "getLogs failed: range halved");
      return { type: "shrunk", error: e };
    }
    if (++streak >= growAfter && chunk < maxChunk) {
      chunk = Math.min(maxChunk, chunk * 2);
      streak = 0;
    }
    const last = await rpc.getBlock(to);
    if (!last || last.hash !== hashes.get(to)) return { type: "moved", why: `block ${to} changed during getLogs` };

    const live = logs.filter((l) => !l.removed);
    for (const l of live) {
      const known = hashes.get(l.blockNumber);
      if (known === undefined) hashes.set(l.blockNumber, l.blockHash);
      else if (known !== l.blockHash)
        return { type: "moved", why: `a log of block ${l.blockNumber} is of another fork` };
    }
    live.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
    return { type: "fetched", from, to, logs: live, hashes };
  };

  const commit = (f: Extract<Fetched, { type: "fetched" }>): number => {
    const toHash = f.hashes.get(f.to) as string;
    let applied = 0;
    try {
      db.transaction((tx) => {
        const fresh = f.logs.filter(
          (l) => q.insertLog.run(name, l.transactionHash, l.index, l.blockNumber, l.blockHash).changes === 1,
        );
        const out: unknown = handler.apply(fresh, tx, { fromBlock: f.from, toBlock: f.to, toHash });
        if (out instanceof Promise) throw new Error("handler.apply returned a promise: it must be synchronous.");
        for (const [n, h] of f.hashes) q.saveBlock.run(name, n, h);
        q.saveCheckpoint.run(name, f.to, toHash, fingerprint, Date.now());
        q.pruneBlocks.run(name, f.to - retainBlocks);
        applied = fresh.length;
      });
    } catch (e) {
      throw new IngestHandlerError("apply", e);
    }
    cp = { number: f.to, hash: toHash };
    st.logsApplied += applied;
    return applied;
  };

  /** Walks back through the stored hashes to the highest block the node still has; rewinds everything above it. */
  const rewind = async (head: number): Promise<void> => {
    let ancestor: Checkpoint | undefined;
    const batch = 16;
    for (let offset = 0; !ancestor; offset += batch) {
      const rows = q.storedBlocks.all<{ number: number; hash: string }>(name, cp.number, batch, offset);
      if (rows.length === 0) break;
      const onChain = await Promise.all(rows.map((r) => rpc.getBlock(r.number)));
      const i = rows.findIndex((r, k) => onChain[k]?.hash === r.hash);
      if (i >= 0) ancestor = { number: rows[i].number, hash: rows[i].hash };
    }
    if (ancestor && ancestor.number === cp.number) return; // the checkpoint is canonical after all (the node moved back)
    if (!ancestor) {
      log.error(
        { ingestor: name, checkpoint: cp.number, startBlock },
        "reorg: no stored block is still on the chain; re-ingesting everything from startBlock",
      );
      ancestor = { number: startBlock - 1, hash: null };
    }
    const replaced = cp.number - ancestor.number;
    const fromTip = Math.max(head, cp.number) - ancestor.number;
    st.reorgs++;
    // Ingestion stops `confirmations` blocks behind the head, so a reorg it can see replaced blocks that had at
    // least that many blocks on top: with confirmations > 0 the chain broke the finality the operator relies on.
    const detail = {
      ingestor: name,
      ancestor: ancestor.number,
      checkpoint: cp.number,
      replaced,
      fromTip,
      confirmations,
    };
    if (confirmations > 0) {
      st.deepReorgs++;
      log.error(detail, `reorg deeper than ${confirmations} confirmations: rolling back to block ${ancestor.number}`);
    } else {
      log.warn(detail, `reorg: rolling back to block ${ancestor.number}`);
    }
    const to = ancestor;
    try {
      db.transaction((tx) => {
        const out: unknown = handler.rollback(to.number, tx);
        if (out instanceof Promise) throw new Error("handler.rollback returned a promise: it must be synchronous.");
        q.dropLogs.run(name, to.number);
        q.dropBlocks.run(name, to.number);
        q.saveCheckpoint.run(name, to.number, to.hash, fingerprint, Date.now());
      });
    } catch (e) {
      throw new IngestHandlerError("rollback", e);
    }
    cp = to;
  };

  const round = async (): Promise<void> => {
    let moved = 0;
    let unsettled = 0; // checkpoint checks that failed this round: a node behind a load balancer may flip forks
    let head = await rpc.getBlockNumber();
    st.head = head;
    let verified = false;
    for (;;) {
      if (!verified && cp.hash !== null) {
        const b = await rpc.getBlock(cp.number);
        if (!b || b.hash !== cp.hash) {
          if (++unsettled > 5)
            throw new Error(`The node keeps changing block ${cp.number}: its answers are inconsistent.`);
          await rewind(head);
          continue;
        }
      }
      verified = true;
      const target = head - confirmations;
      if (cp.number >= target) break;
      const from = cp.number + 1;
      const to = Math.min(target, from + chunk - 1);
      const f = await fetchRange(from, to, head);
      switch (f.type) {
        case "fetched": {
          const n = commit(f);
          moved = 0;
          log.debug({ ingestor: name, from, to, logs: n, chunk }, "ingested");
          break;
        }
        case "shrunk":
          break;
        case "moved":
          if (++moved >= 5) throw new Error(`The chain changed during ${moved} reads in a row (${f.why}).`);
          log.info({ ingestor: name, from, to, why: f.why }, "chain moved while reading: reading again");
          head = await rpc.getBlockNumber();
          st.head = head;
          verified = false;
          break;
        case "reorg":
          await rewind(head);
          break;
      }
    }
    st.lastSyncAt = new Date().toISOString();
  };

  // One round at a time, whether from the loop or from syncOnce().
  let inFlight: Promise<void> = Promise.resolve();
  const counted = (): Promise<void> =>
    round().catch((e: unknown) => {
      noteError(e);
      if (e instanceof IngestHandlerError) st.handlerErrors++;
      else st.rpcErrors++;
      throw e;
    });
  const syncOnce = (): Promise<void> => {
    const next = inFlight.then(counted, counted);
    inFlight = next.catch(() => undefined);
    return next;
  };

  let running = false;
  let loopDone: Promise<void> = Promise.resolve();
  let stopper = new AbortController();
  let waker = new AbortController();

  const loop = async (): Promise<void> => {
    while (running) {
      let delay = opts.pollMs;
      try {
        await syncOnce();
        st.consecutiveFailures = 0;
      } catch (e) {
        if (!running) break;
        st.consecutiveFailures++;
        if (e instanceof IngestHandlerError) {
          log.error({ ingestor: name, err: e.cause }, e.message);
        } else {
          log.warn(
            { ingestor: name, err: describeError(e), failures: st.consecutiveFailures },
            "ingestion round failed",
          );
        }
        delay = backoffDelay(st.consecutiveFailures - 1, opts.backoff);
      }
      const wait = AbortSignal.any([stopper.signal, waker.signal]);
      await sleep(delay, wait).catch(() => undefined);
      if (waker.signal.aborted) waker = new AbortController();
    }
  };

  return {
    start() {
      if (running) return;
      running = true;
      stopper = new AbortController();
      log.info({ ingestor: name, checkpoint: cp.number, startBlock, confirmations, addresses }, "ingestion started");
      loopDone = loop();
    },
    async stop() {
      running = false;
      stopper.abort();
      await loopDone;
      await inFlight;
    },
    wake() {
      waker.abort();
    },
    syncOnce,
    status() {
      return {
        name,
        running,
        checkpoint: { ...cp },
        head: st.head,
        lagBlocks: st.head === null ? null : Math.max(0, st.head - cp.number),
        chunkSize: chunk,
        logsApplied: st.logsApplied,
        rpcErrors: st.rpcErrors,
        handlerErrors: st.handlerErrors,
        consecutiveFailures: st.consecutiveFailures,
        reorgs: st.reorgs,
        deepReorgs: st.deepReorgs,
        lastError: st.lastError,
        lastSyncAt: st.lastSyncAt,
      };
    },
  };
}
