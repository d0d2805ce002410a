import crypto from "node:crypto";
import { isAddress, type Log as EthLog } from "ethers";
import type { SqliteTx, WorkerDb } from "./db";
import { ingestQueries, ingestStatus, loop, syncOnce, type IngestKit } from "./ingest-steps";
import type { Log } from "./log";
import type { BackoffOptions } from "./rpc";

export { IngestHandlerError } from "./ingest-steps";

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
  const { db, confirmations, startBlock } = opts;
  const name = opts.name ?? "main";
  const hashWindow = confirmations + (opts.reorgMargin ?? 64);
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
  const q = ingestQueries(db);

  const stored = q.checkpoint.get<{ block_number: number; block_hash: string | null; fingerprint: string }>(name);
  if (stored && stored.fingerprint !== fingerprint) {
    throw new Error(
      `The ingestor "${name}" in ${db.file} was started with other contracts, topics, start block or chain: its ` +
        `state belongs to them. Use a new data directory (or another ingestor name) to ingest with these settings.`,
    );
  }
  const maxChunk = opts.maxChunk ?? 2000;
  const k: IngestKit = {
    rpc: opts.provider,
    db,
    handler: opts.handler,
    log: opts.log,
    name,
    addresses,
    topics: opts.topics,
    startBlock,
    confirmations,
    pollMs: opts.pollMs,
    backoff: opts.backoff,
    maxChunk,
    growAfter: opts.growAfter ?? 3,
    hashWindow,
    retainBlocks: Math.max(hashWindow * 2, 256),
    fingerprint,
    q,
    cp: stored ? { number: stored.block_number, hash: stored.block_hash } : { number: startBlock - 1, hash: null },
    chunk: maxChunk,
    streak: 0,
    st: {
      head: null,
      logsApplied: 0,
      rpcErrors: 0,
      handlerErrors: 0,
      consecutiveFailures: 0,
      reorgs: 0,
      deepReorgs: 0,
      lastError: null,
      lastSyncAt: null,
    },
    running: false,
    inFlight: Promise.resolve(),
    loopDone: Promise.resolve(),
    stopper: new AbortController(),
    waker: new AbortController(),
  };

  return {
    start() {
      if (k.running) return;
      k.running = true;
      k.stopper = new AbortController();
      k.log.info(
        { ingestor: name, checkpoint: k.cp.number, startBlock, confirmations, addresses },
        "ingestion started",
      );
      k.loopDone = loop(k);
    },
    async stop() {
      k.running = false;
      k.stopper.abort();
      await k.loopDone;
      await k.inFlight;
    },
    wake() {
      k.waker.abort();
    },
    syncOnce: () => syncOnce(k),
    status: () => ingestStatus(k),
  };
}
