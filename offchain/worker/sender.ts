import { Interface, type BaseWallet, type FeeData, type TransactionReceipt, type TransactionRequest } from "ethers";
import type { WorkerDb } from "./db";
import {
  actionRecord,
  bindSteps,
  pendingActions,
  senderQueries,
  type ActionRow,
  type SenderKit,
  type TxRow,
} from "./sender-steps";
import type { Log } from "./log";
import { describeError, withRetry, type RetryOptions } from "./rpc";
import { GAS_LIMIT_PERCENT } from "../protocol/contracts";

/** The JSON-RPC calls the sender needs; an ethers `JsonRpcProvider` made by `createProvider` is one. */
export interface SenderRpc {
  call(tx: TransactionRequest): Promise<string>;
  estimateGas(tx: TransactionRequest): Promise<bigint>;
  getFeeData(): Promise<FeeData>;
  getTransactionCount(address: string, blockTag: "latest" | "pending"): Promise<number>;
  getTransactionReceipt(hash: string): Promise<TransactionReceipt | null>;
  getTransaction(hash: string): Promise<object | null>;
  broadcastTransaction(signedTx: string): Promise<unknown>;
  getBlockNumber(): Promise<number>;
}

export * from "./sender-errors";
import {
  NonceTakenError,
  SenderClosedError,
  SimulationRevertedError,
  TxRejectedError,
  TxRevertedError,
} from "./sender-errors";

// ---- the sender ---------------------------------------------------------------------------------------------

export interface SendRequest {
  /** Names the logical action (e.g. `submit:<jobId>`): a key is never sent twice, even across restarts. */
  key: string;
  to: string;
  data: string;
  value?: bigint;
}

export interface PendingAction {
  key: string;
  nonce: number;
  /** Every transaction signed for it (replacements included), oldest first. */
  hashes: string[];
  createdAt: number;
  lastSentAt: number;
}

export type ActionRecord =
  | { status: "pending"; key: string; nonce: number; hashes: string[] }
  | { status: "mined" | "reverted"; key: string; nonce: number; hashes: string[]; txHash: string; blockNumber: number }
  | { status: "dropped"; key: string; nonce: number; hashes: string[] };

export interface SenderOptions {
  provider: SenderRpc;
  db: WorkerDb;
  /** The account's wallet (signs locally; the node never sees the key). */
  wallet: BaseWallet;
  chainId: number;
  log: Log;
  /** Interfaces whose custom errors simulation reverts are decoded with. */
  interfaces?: readonly Interface[];
  /** Blocks a receipt must have on top before `send` resolves (default 1: mined). */
  confirmations?: number;
  /** How often the sender polls for receipts (default 1 s). */
  pollMs?: number;
  /** A transaction still pending after this long is replaced with higher fees (default 60 s). */
  replaceAfterMs?: number;
  /** Fee increase of each replacement in percent (default 15; nodes want ≥ 10). */
  feeBumpPercent?: number;
  /** Never sign a maxFeePerGas (or gasPrice) above this. */
  maxFeePerGas?: bigint;
  /** Gas limit = estimate × this / 100 (default GAS_LIMIT_PERCENT, 120), plus GAS_LIMIT_HEADROOM. */
  gasLimitPercent?: number;
  /** Retries of RPC calls on transient errors (default 5 retries, 250 ms doubling to 5 s). */
  retry?: Pick<RetryOptions, "retries" | "minDelayMs" | "maxDelayMs">;
}

export interface Sender {
  readonly address: string;
  /**
   * Performs an action once: simulates (a revert rejects with the decoded reason, nothing sent), signs with the next
   * nonce, records the signed transaction under `key` before broadcasting it, replaces it with higher fees while it is
   * stuck, and resolves with the receipt (a reverted one rejects with `TxRevertedError`: the worker's pipeline sends
   * the action's next attempt under a key of its own, jobs.ts `attemptKey`). Called again with a key already done, it
   * resolves with that receipt (or rejects with `TxRevertedError`) without sending anything, unless a reorg removed
   * that receipt from the chain (the action is then sent anew); with a key in flight, it joins it.
   */
  send(req: SendRequest): Promise<TransactionReceipt>;
  /** Actions signed and not yet mined. */
  pending(): PendingAction[];
  /** What the sender knows of an action. */
  action(key: string): ActionRecord | undefined;
  /** Recovers after a restart: resumes watching recorded pending actions (send() calls it first). */
  init(): Promise<void>;
  /** Stops polling; actions in flight reject with `SenderClosedError` and resume in the next sender. */
  close(): void;
}

/** The sender's tables; applied by `createSender` through the `sender` migration namespace. */
export const SENDER_MIGRATIONS = [
  `CREATE TABLE sender_actions (
     key TEXT PRIMARY KEY,
     account TEXT NOT NULL,
     nonce INTEGER NOT NULL,
     to_address TEXT NOT NULL,
     data TEXT NOT NULL,
     value TEXT NOT NULL,
     gas_limit TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('pending', 'mined', 'reverted', 'dropped')),
     tx_hash TEXT,
     block_number INTEGER,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX sender_actions_by_status ON sender_actions (account, status, nonce);
   CREATE TABLE sender_txs (
     hash TEXT PRIMARY KEY,
     key TEXT NOT NULL REFERENCES sender_actions (key) ON DELETE CASCADE,
     nonce INTEGER NOT NULL,
     raw TEXT NOT NULL,
     max_fee_per_gas TEXT,
     max_priority_fee_per_gas TEXT,
     gas_price TEXT,
     sent_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX sender_txs_by_key ON sender_txs (key, sent_at);`,
];

/**
 * One transaction sender per key (account). Nonces are assigned locally, one at a time, starting from the larger of
 * the node's pending count and the recorded pending actions; every signed transaction is recorded in SQLite (with its
 * raw bytes) before it is broadcast, so that after a crash the sender finds it, checks whether it was mined, and
 * rebroadcasts or replaces it rather than paying for the action a second time.
 */
export function createSender(opts: SenderOptions): Sender {
  const { provider: rpc, db, wallet, log } = opts;
  const account = wallet.address;
  const interfaces = opts.interfaces ?? [];
  const confirmations = Math.max(1, opts.confirmations ?? 1);
  const pollMs = opts.pollMs ?? 1000;
  const replaceAfterMs = opts.replaceAfterMs ?? 60_000;
  const bump = BigInt(100 + (opts.feeBumpPercent ?? 15));
  const gasLimitPercent = BigInt(opts.gasLimitPercent ?? GAS_LIMIT_PERCENT);
  const closer = new AbortController();
  const retry = <T>(fn: () => Promise<T>): Promise<T> =>
    withRetry(fn, {
      retries: opts.retry?.retries ?? 5,
      minDelayMs: opts.retry?.minDelayMs ?? 250,
      maxDelayMs: opts.retry?.maxDelayMs ?? 5000,
      signal: closer.signal,
      onRetry: (e, attempt, delayMs) =>
        log.warn({ err: describeError(e), attempt, delayMs }, "RPC call failed, retrying"),
    });

  db.migrate("sender", SENDER_MIGRATIONS);
  const q = senderQueries(db);
  const actionRow = (key: string): ActionRow | undefined => q.action.get<ActionRow>(key);
  const txRows = (key: string): TxRow[] => q.txs.all<TxRow>(key);

  let initializing: Promise<void> | undefined;
  const inFlight = new Map<string, Promise<TransactionReceipt>>();
  // One signing-and-broadcasting at a time: nonces are handed out in order.
  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(fn, fn);
    lock = run.catch(() => undefined);
    return run;
  };

  /**
   * The nonce of a new action: the node's pending count, or past the last recorded pending action when that is
   * higher. Asked afresh for every action rather than counted locally: after a reorg that dropped mined transactions
   * of ours, a local counter would stay ahead of the chain for good, and every later transaction would wait behind
   * a nonce that nobody sends.
   */
  const nextNonce = async (): Promise<number> => {
    const chainPending = await retry(() => rpc.getTransactionCount(account, "pending"));
    const recorded = q.pending.all<ActionRow>(account).reduce((m, r) => Math.max(m, r.nonce + 1), 0);
    return Math.max(chainPending, recorded);
  };

  const init = (): Promise<void> => {
    initializing ??= (async () => {
      const pendingRows = q.pending.all<ActionRow>(account);
      const nonce = await nextNonce();
      if (pendingRows.length > 0) {
        log.info({ account, pending: pendingRows.map((r) => r.key), nonce }, "sender: resuming recorded actions");
      }
      for (const r of pendingRows) watch(r.key);
    })();
    initializing.catch(() => (initializing = undefined)); // a failed init is tried again by the next call
    return initializing;
  };

  /** Once closed, whatever failed (the database closed under it, an aborted wait) is reported as SenderClosedError. */
  const closedWins =
    (key: string) =>
    (e: unknown): never => {
      const known =
        e instanceof SimulationRevertedError ||
        e instanceof TxRevertedError ||
        e instanceof TxRejectedError ||
        e instanceof NonceTakenError ||
        e instanceof SenderClosedError;
      throw closer.signal.aborted && !known ? new SenderClosedError(key) : e;
    };

  const watch = (key: string): Promise<TransactionReceipt> => {
    let p = inFlight.get(key);
    if (!p) {
      p = waitMined(key)
        .catch(closedWins(key))
        .finally(() => inFlight.delete(key));
      inFlight.set(key, p);
      p.catch((e: unknown) => log.warn({ action: key, err: describeError(e) }, "sender: action ended without receipt"));
    }
    return p;
  };

  const kit = {
    opts,
    rpc,
    db,
    wallet,
    log,
    account,
    interfaces,
    confirmations,
    pollMs,
    replaceAfterMs,
    bump,
    gasLimitPercent,
    closer,
    retry,
    q,
    actionRow,
    txRows,
    inFlight,
    exclusive,
    nextNonce,
  } as SenderKit;
  Object.assign(kit, bindSteps(kit));
  const { waitMined, firstSend, simulate, outcome } = kit;

  const send = async (req: SendRequest): Promise<TransactionReceipt> => {
    if (closer.signal.aborted) throw new SenderClosedError(req.key);
    await init();
    const joined = inFlight.get(req.key);
    if (joined) return joined;
    const existing = actionRow(req.key);
    if (existing?.status === "mined" || existing?.status === "reverted") {
      const done = await outcome(existing);
      if (done) return done;
    }
    if (existing?.status === "pending") return watch(req.key);
    // New (or dropped, i.e. never performed on this chain): simulate, then sign and send under the lock.
    const started = (async () => {
      const gasLimit = await simulate(req);
      await firstSend(req, gasLimit);
      const a = actionRow(req.key);
      if (a?.status === "mined" || a?.status === "reverted") {
        const done = await outcome(a); // another call with this key got there first
        if (done) return done;
        throw new NonceTakenError(req.key, a.nonce); // …and a reorg took it away at once: not performed, try again
      }
      return waitMined(req.key);
    })()
      .catch(closedWins(req.key))
      .finally(() => inFlight.delete(req.key));
    inFlight.set(req.key, started);
    return started;
  };

  return {
    address: account,
    send,
    init,
    pending: () => pendingActions(kit),
    action: (key) => actionRecord(kit, key),
    close() {
      closer.abort(new SenderClosedError("(all)"));
    },
  };
}
