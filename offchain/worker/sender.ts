import {
  Interface,
  Transaction,
  isCallException,
  isError,
  type BaseWallet,
  type FeeData,
  type TransactionReceipt,
  type TransactionRequest,
} from "ethers";
import type { WorkerDb } from "./db";
import { crashPoint } from "./faults";
import type { Log } from "./log";
import { describeError, isTransientRpcError, sleep, withRetry, type RetryOptions } from "./rpc";

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

// ---- revert reasons ---------------------------------------------------------------------------------------

/** Why a call reverted, decoded. */
export type RevertReason =
  | { kind: "custom"; name: string; signature: string; args: unknown[] } // a custom error of a known Interface
  | { kind: "error"; message: string } // require(…, "message") / Error(string)
  | { kind: "panic"; code: bigint; description: string } // Panic(uint256): overflow, assert, …
  | { kind: "unknown"; data: string }; // no data, or an error of no given Interface

/** A custom error, as `decodeRevert` gives it. */
export type CustomError = Extract<RevertReason, { kind: "custom" }>;

const PANICS: Record<number, string> = {
  0x01: "assert failed",
  0x11: "arithmetic overflow or underflow",
  0x12: "division by zero",
  0x21: "invalid enum value",
  0x22: "bad storage byte array",
  0x31: "pop on an empty array",
  0x32: "array index out of bounds",
  0x41: "out of memory",
  0x51: "call to an uninitialized function",
};

/** Decodes revert data with the given contract interfaces (custom errors), or as Error(string) / Panic(uint256). */
export function decodeRevert(data: string | null | undefined, interfaces: readonly Interface[] = []): RevertReason {
  if (!data || data === "0x") return { kind: "unknown", data: data ?? "0x" };
  for (const iface of interfaces) {
    try {
      const parsed = iface.parseError(data);
      if (parsed) {
        if (parsed.name === "Error" && parsed.signature === "Error(string)") {
          return { kind: "error", message: String(parsed.args[0]) };
        }
        if (parsed.signature === "Panic(uint256)") break;
        return { kind: "custom", name: parsed.name, signature: parsed.signature, args: parsed.args.toArray(true) };
      }
    } catch {
      // not this interface's error (or undecodable arguments): try the next
    }
  }
  const selector = data.slice(0, 10).toLowerCase();
  try {
    if (selector === "0x08c379a0") {
      const [message] = ERROR_ABI.decodeErrorResult("Error", data);
      return { kind: "error", message: String(message) };
    }
    if (selector === "0x4e487b71") {
      const [code] = ERROR_ABI.decodeErrorResult("Panic", data) as unknown as [bigint];
      return { kind: "panic", code, description: PANICS[Number(code)] ?? "unknown panic code" };
    }
  } catch {
    // malformed: fall through
  }
  return { kind: "unknown", data };
}

/** `WorkerTestEmitterRefused(7, "refused on purpose")`, `Error("…")`, `Panic(0x11: arithmetic overflow…)`. */
export function formatRevert(r: RevertReason): string {
  switch (r.kind) {
    case "custom":
      return `${r.name}(${r.args.map(formatArg).join(", ")})`;
    case "error":
      return `Error(${JSON.stringify(r.message)})`;
    case "panic":
      return `Panic(0x${r.code.toString(16)}: ${r.description})`;
    case "unknown":
      return `unknown revert (data ${r.data.length > 74 ? r.data.slice(0, 74) + "…" : r.data})`;
  }
}

function formatArg(a: unknown): string {
  if (typeof a === "bigint") return a.toString();
  if (typeof a === "string") return JSON.stringify(a);
  if (Array.isArray(a)) return `[${a.map(formatArg).join(", ")}]`;
  return String(a);
}

// Standard Error(string) and Panic(uint256), for revert data of contracts without a given Interface.
const ERROR_ABI = new Interface(["error Error(string)", "error Panic(uint256)"]);

// ---- errors send() rejects with ---------------------------------------------------------------------------

/** The simulation (eth_call / estimateGas) reverted: nothing was signed or sent, no nonce used. */
export class SimulationRevertedError extends Error {
  override readonly name = "SimulationRevertedError";
  readonly kind = "simulation-reverted";
  constructor(
    readonly key: string,
    readonly reason: RevertReason,
  ) {
    super(`Action ${key} would revert: ${formatRevert(reason)}. Nothing was sent.`);
  }
}
/** The transaction was mined and reverted (the chain changed after the simulation). It was paid for. */
export class TxRevertedError extends Error {
  override readonly name = "TxRevertedError";
  readonly kind = "reverted";
  constructor(
    readonly key: string,
    readonly receipt: TransactionReceipt,
  ) {
    super(
      `Action ${key}: transaction ${receipt.hash} reverted in block ${receipt.blockNumber}. ` +
        `It will not be sent again under this key; use a new key to try again.`,
    );
  }
}
/** The node refused the transaction for good (insufficient funds, …): nothing is out there, the nonce is free. */
export class TxRejectedError extends Error {
  override readonly name = "TxRejectedError";
  readonly kind = "rejected";
  constructor(
    readonly key: string,
    override readonly cause: unknown,
  ) {
    super(`Action ${key} was refused by the node: ${describeError(cause)}.`);
  }
}
/** Another transaction of the same account took this action's nonce; none of the action's transactions was mined. */
export class NonceTakenError extends Error {
  override readonly name = "NonceTakenError";
  readonly kind = "nonce-taken";
  constructor(
    readonly key: string,
    readonly nonce: number,
  ) {
    super(
      `Action ${key}: nonce ${nonce} was used by a transaction this sender did not sign (is another process using ` +
        `the same key?). The action was not performed; sending it again under the same key is safe.`,
    );
  }
}
export class SenderClosedError extends Error {
  override readonly name = "SenderClosedError";
  readonly kind = "closed";
  constructor(readonly key: string) {
    super(`The sender was closed while action ${key} was in flight; a new sender resumes it.`);
  }
}
export type SendError =
  SimulationRevertedError | TxRevertedError | TxRejectedError | NonceTakenError | SenderClosedError;

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
  /** Gas limit = estimate × this / 100 (default 120). */
  gasLimitPercent?: number;
  /** Retries of RPC calls on transient errors (default 5 retries, 250 ms doubling to 5 s). */
  retry?: Pick<RetryOptions, "retries" | "minDelayMs" | "maxDelayMs">;
}

export interface Sender {
  readonly address: string;
  /**
   * Performs an action once: simulates (a revert rejects with the decoded reason, nothing sent), signs with the next
   * nonce, records the signed transaction under `key` before broadcasting it, replaces it with higher fees while it is
   * stuck, and resolves with the receipt. Called again with a key already done, it resolves with that receipt (or
   * rejects with `TxRevertedError`) without sending anything, unless a reorg removed that receipt from the chain (the
   * action is then sent anew); with a key in flight, it joins it.
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

interface ActionRow {
  key: string;
  account: string;
  nonce: number;
  to_address: string;
  data: string;
  value: string;
  gas_limit: string;
  status: "pending" | "mined" | "reverted" | "dropped";
  tx_hash: string | null;
  block_number: number | null;
  created_at: number;
}
interface TxRow {
  hash: string;
  key: string;
  nonce: number;
  raw: string;
  max_fee_per_gas: string | null;
  max_priority_fee_per_gas: string | null;
  gas_price: string | null;
  sent_at: number;
}
type Fees = { type: 2; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { type: 0; gasPrice: bigint };

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
  const gasLimitPercent = BigInt(opts.gasLimitPercent ?? 120);
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
  const q = {
    action: db.prepare("SELECT * FROM sender_actions WHERE key = ?"),
    txs: db.prepare("SELECT * FROM sender_txs WHERE key = ? ORDER BY sent_at, rowid"),
    pending: db.prepare("SELECT * FROM sender_actions WHERE account = ? AND status = 'pending' ORDER BY nonce"),
    insertAction: db.prepare(
      `INSERT INTO sender_actions (key, account, nonce, to_address, data, value, gas_limit, status, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
    ),
    insertTx: db.prepare(
      `INSERT INTO sender_txs (hash, key, nonce, raw, max_fee_per_gas, max_priority_fee_per_gas, gas_price, sent_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setNonce: db.prepare("UPDATE sender_actions SET nonce = ?, updated_at = ? WHERE key = ?"),
    finish: db.prepare(
      "UPDATE sender_actions SET status = ?, tx_hash = ?, block_number = ?, updated_at = ? WHERE key = ?",
    ),
    drop: db.prepare("UPDATE sender_actions SET status = 'dropped', updated_at = ? WHERE key = ?"),
    remove: db.prepare("DELETE FROM sender_actions WHERE key = ?"),
  };
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

  const currentFees = async (): Promise<Fees> => {
    const f = await retry(() => rpc.getFeeData());
    if (f.maxFeePerGas !== null && f.maxPriorityFeePerGas !== null) {
      const maxFee =
        opts.maxFeePerGas !== undefined && f.maxFeePerGas > opts.maxFeePerGas ? opts.maxFeePerGas : f.maxFeePerGas;
      const prio = f.maxPriorityFeePerGas > maxFee ? maxFee : f.maxPriorityFeePerGas;
      return { type: 2, maxFeePerGas: maxFee, maxPriorityFeePerGas: prio };
    }
    if (f.gasPrice === null) throw new Error("The node reports neither EIP-1559 fees nor a gas price.");
    const gp = opts.maxFeePerGas !== undefined && f.gasPrice > opts.maxFeePerGas ? opts.maxFeePerGas : f.gasPrice;
    return { type: 0, gasPrice: gp };
  };

  const sign = async (a: ActionRow, n: number, fees: Fees): Promise<{ raw: string; hash: string }> => {
    const raw = await wallet.signTransaction({
      chainId: opts.chainId,
      nonce: n,
      to: a.to_address,
      data: a.data,
      value: BigInt(a.value),
      gasLimit: BigInt(a.gas_limit),
      ...fees,
    });
    return { raw, hash: Transaction.from(raw).hash as string };
  };

  const record = (key: string, n: number, signed: { raw: string; hash: string }, fees: Fees): void => {
    q.insertTx.run(
      signed.hash,
      key,
      n,
      signed.raw,
      fees.type === 2 ? fees.maxFeePerGas.toString() : null,
      fees.type === 2 ? fees.maxPriorityFeePerGas.toString() : null,
      fees.type === 0 ? fees.gasPrice.toString() : null,
      Date.now(),
    );
  };

  /** Broadcasts; "ok" also when the node already has it. Transient failures are retried, then left to the watcher. */
  const broadcast = async (
    key: string,
    signed: { raw: string; hash: string },
  ): Promise<{ type: "ok" } | { type: "unsure"; error: unknown } | { type: "refused"; error: unknown }> => {
    try {
      await retry(() => rpc.broadcastTransaction(signed.raw));
      return { type: "ok" };
    } catch (e) {
      if (closer.signal.aborted) throw new SenderClosedError(key);
      const known = await rpc.getTransaction(signed.hash).catch(() => null);
      if (known) return { type: "ok" };
      return isTransientRpcError(e) ? { type: "unsure", error: e } : { type: "refused", error: e };
    }
  };

  const firstSend = async (req: SendRequest, gasLimit: bigint): Promise<void> => {
    await exclusive(async () => {
      if (closer.signal.aborted) throw new SenderClosedError(req.key);
      const existing = actionRow(req.key);
      if (existing && existing.status !== "dropped") return; // another call with this key got here first
      let floor = 0;
      for (let attempt = 0; ; attempt++) {
        const n = Math.max(floor, await nextNonce());
        const fees = await currentFees();
        const now = Date.now();
        const row: ActionRow = {
          key: req.key,
          account,
          nonce: n,
          to_address: req.to,
          data: req.data,
          value: (req.value ?? 0n).toString(),
          gas_limit: gasLimit.toString(),
          status: "pending",
          tx_hash: null,
          block_number: null,
          created_at: now,
        };
        const signed = await sign(row, n, fees);
        // Recorded before it leaves: from here on a crash cannot make the sender forget it.
        db.transaction(() => {
          if (attempt === 0) {
            q.remove.run(req.key); // a dropped record of this key, if any
            q.insertAction.run(req.key, account, n, req.to, req.data, row.value, row.gas_limit, now, now);
          } else {
            q.setNonce.run(n, now, req.key);
          }
          record(req.key, n, signed, fees);
        });
        const [action, jobId = ""] = req.key.split(":");
        crashPoint(`send.${action}`, jobId); // fault injection (tests): recorded, not yet broadcast
        const b = await broadcast(req.key, signed);
        if (b.type === "ok") {
          log.info({ action: req.key, hash: signed.hash, nonce: n }, "sender: transaction sent");
          return;
        }
        if (b.type === "unsure") {
          log.warn(
            { action: req.key, hash: signed.hash, err: describeError(b.error) },
            "sender: broadcast unsure; the watcher rebroadcasts",
          );
          return;
        }
        // Refused for good. A nonce conflict (our nonce was used by someone else): move to the node's count.
        if ((isError(b.error, "NONCE_EXPIRED") || isError(b.error, "REPLACEMENT_UNDERPRICED")) && attempt < 3) {
          const mined = await receiptOf(req.key);
          if (mined) return;
          floor = n + 1;
          log.warn({ action: req.key, nonce: n }, "sender: nonce already used; re-signing with the next one");
          continue;
        }
        // Nothing of this action is out there: forget it (its nonce is free again).
        db.transaction(() => q.remove.run(req.key));
        throw new TxRejectedError(req.key, b.error);
      }
    });
  };

  const receiptOf = async (key: string): Promise<TransactionReceipt | null> => {
    const rows = txRows(key);
    for (const t of rows.reverse()) {
      const r = await retry(() => rpc.getTransactionReceipt(t.hash));
      if (r) return r;
    }
    return null;
  };

  /** Waits for one of the action's transactions to be mined, rebroadcasting and replacing while it is not. */
  const waitMined = async (key: string): Promise<TransactionReceipt> => {
    let consumedSeen = 0;
    let lastRebroadcast = 0;
    for (;;) {
      if (closer.signal.aborted) throw new SenderClosedError(key);
      const a = actionRow(key);
      if (!a) throw new Error(`Action ${key} has no record.`);
      try {
        const receipt = await receiptOf(key);
        if (receipt) {
          const head = await retry(() => rpc.getBlockNumber());
          if (head - receipt.blockNumber + 1 >= confirmations) {
            const status = receipt.status === 1 ? "mined" : "reverted";
            db.transaction(() => q.finish.run(status, receipt.hash, receipt.blockNumber, Date.now(), key));
            log.info({ action: key, hash: receipt.hash, block: receipt.blockNumber, status }, "sender: action mined");
            const [action, jobId = ""] = key.split(":");
            crashPoint(`sent.${action}`, jobId); // fault injection (tests): mined and recorded, caller not told yet
            if (status === "reverted") throw new TxRevertedError(key, receipt);
            return receipt;
          }
        } else {
          const latest = await retry(() => rpc.getTransactionCount(account, "latest"));
          if (latest > a.nonce) {
            // Our nonce is used but no receipt of ours: a lagging node, or another signer. Be sure before giving up.
            if (++consumedSeen >= 3) {
              db.transaction(() => q.drop.run(Date.now(), key));
              throw new NonceTakenError(key, a.nonce);
            }
          } else {
            consumedSeen = 0;
            const txs = txRows(key);
            const last = txs[txs.length - 1];
            if (Date.now() - last.sent_at >= replaceAfterMs) {
              await replace(a, last);
            } else if (Date.now() - lastRebroadcast >= Math.max(pollMs * 5, 2000)) {
              // After a crash between record and broadcast, or a node that lost its mempool: send it (again).
              lastRebroadcast = Date.now();
              if (!(await rpc.getTransaction(last.hash))) {
                const b = await broadcast(key, { raw: last.raw, hash: last.hash });
                log.info({ action: key, hash: last.hash, result: b.type }, "sender: rebroadcast");
              }
            }
          }
        }
      } catch (e) {
        if (e instanceof TxRevertedError || e instanceof NonceTakenError || e instanceof SenderClosedError) throw e;
        if (closer.signal.aborted) throw new SenderClosedError(key);
        log.warn({ action: key, err: describeError(e) }, "sender: error while waiting; will retry");
      }
      await sleep(pollMs, closer.signal).catch(() => undefined);
    }
  };

  /** Signs the same nonce with fees raised by feeBumpPercent (and at least the current ones), records, broadcasts. */
  const replace = async (a: ActionRow, last: TxRow): Promise<void> => {
    const now = await currentFees();
    const up = (v: bigint): bigint => (v * bump + 99n) / 100n;
    const cap = opts.maxFeePerGas;
    let fees: Fees;
    if (last.max_fee_per_gas !== null && last.max_priority_fee_per_gas !== null) {
      const prio = max(up(BigInt(last.max_priority_fee_per_gas)), now.type === 2 ? now.maxPriorityFeePerGas : 0n);
      let maxFee = max(up(BigInt(last.max_fee_per_gas)), now.type === 2 ? now.maxFeePerGas : 0n, prio);
      if (cap !== undefined && maxFee > cap) maxFee = cap;
      fees = { type: 2, maxFeePerGas: maxFee, maxPriorityFeePerGas: prio > maxFee ? maxFee : prio };
      if (maxFee <= BigInt(last.max_fee_per_gas)) {
        log.warn({ action: a.key, cap: cap?.toString() }, "sender: stuck, but the fee cap forbids a replacement");
        return;
      }
    } else {
      let gp = max(up(BigInt(last.gas_price ?? "0")), now.type === 0 ? now.gasPrice : 0n);
      if (cap !== undefined && gp > cap) gp = cap;
      if (gp <= BigInt(last.gas_price ?? "0")) {
        log.warn({ action: a.key, cap: cap?.toString() }, "sender: stuck, but the fee cap forbids a replacement");
        return;
      }
      fees = { type: 0, gasPrice: gp };
    }
    const signed = await sign(a, a.nonce, fees);
    db.transaction(() => record(a.key, a.nonce, signed, fees));
    const b = await broadcast(a.key, signed);
    log.warn(
      {
        action: a.key,
        nonce: a.nonce,
        replaced: last.hash,
        hash: signed.hash,
        result: b.type,
        err: "error" in b ? describeError(b.error) : undefined,
      },
      "sender: stuck transaction replaced with higher fees",
    );
  };

  const simulate = async (req: SendRequest): Promise<bigint> => {
    // Simulated against the pending block: the state and the timestamp the transaction will meet when it is mined
    // (against "latest", a chain that mines only on demand keeps a stale timestamp, and time-gated calls never pass).
    const call = { from: account, to: req.to, data: req.data, value: req.value ?? 0n, blockTag: "pending" };
    try {
      await retry(() => rpc.call(call));
      const estimate = await retry(() => rpc.estimateGas(call));
      return (estimate * gasLimitPercent) / 100n;
    } catch (e) {
      if (isCallException(e)) throw new SimulationRevertedError(req.key, decodeRevert(e.data, interfaces));
      throw e;
    }
  };

  /**
   * The recorded receipt of a finished action; undefined when the chain no longer has it (a reorg replaced its
   * block): the action then did not happen on this chain, its record is marked dropped, and it is sent again as a new
   * action. Not by rebroadcasting its old transaction: that nonce may be another transaction's by now, or lie beyond
   * the chain's count. Sent anew, it is simulated first, so an action the chain did take again meanwhile (the old
   * transaction put back in a block by the node) is not repeated.
   */
  const outcome = async (a: ActionRow): Promise<TransactionReceipt | undefined> => {
    const receipt = a.tx_hash ? await retry(() => rpc.getTransactionReceipt(a.tx_hash as string)) : null;
    if (!receipt) {
      db.transaction(() => q.drop.run(Date.now(), a.key));
      log.warn(
        { action: a.key, hash: a.tx_hash },
        "sender: a recorded receipt is gone (reorg); sending the action anew",
      );
      return undefined;
    }
    if (a.status === "reverted") throw new TxRevertedError(a.key, receipt);
    return receipt;
  };

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
    pending() {
      return q.pending.all<ActionRow>(account).map((a) => {
        const txs = txRows(a.key);
        return {
          key: a.key,
          nonce: a.nonce,
          hashes: txs.map((t) => t.hash),
          createdAt: a.created_at,
          lastSentAt: txs.length ? txs[txs.length - 1].sent_at : a.created_at,
        };
      });
    },
    action(key) {
      const a = actionRow(key);
      if (!a) return undefined;
      const hashes = txRows(key).map((t) => t.hash);
      if (a.status === "mined" || a.status === "reverted") {
        return {
          status: a.status,
          key,
          nonce: a.nonce,
          hashes,
          txHash: a.tx_hash as string,
          blockNumber: a.block_number as number,
        };
      }
      return { status: a.status, key, nonce: a.nonce, hashes };
    },
    close() {
      closer.abort(new SenderClosedError("(all)"));
    },
  };
}

function max(...vs: bigint[]): bigint {
  return vs.reduce((m, v) => (v > m ? v : m));
}
