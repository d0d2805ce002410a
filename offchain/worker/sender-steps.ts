/**
 * The sender's steps (sign, record, broadcast, wait, replace, simulate), each a plain function of the sender's kit:
 * its settings, its prepared statements and the other steps bound to it. createSender (sender.ts) builds the kit.
 */
import { Interface, Transaction, isCallException, isError, type BaseWallet, type TransactionReceipt } from "ethers";
import { gasLimitOver } from "../protocol/contracts";
import { errorChain } from "../protocol/error-chain";
import type { WorkerDb } from "./db";
import { crashPoint } from "./faults";
import type { Log } from "./log";
import { describeError, isTransientRpcError, sleep } from "./rpc";
import {
  decodeRevert,
  NonceTakenError,
  SenderClosedError,
  SimulationRevertedError,
  TxRejectedError,
  TxRevertedError,
} from "./sender-errors";
import type { ActionRecord, PendingAction, SendRequest, SenderOptions, SenderRpc } from "./sender";

export interface ActionRow {
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
export interface TxRow {
  hash: string;
  key: string;
  nonce: number;
  raw: string;
  max_fee_per_gas: string | null;
  max_priority_fee_per_gas: string | null;
  gas_price: string | null;
  sent_at: number;
}
export type Fees = { type: 2; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { type: 0; gasPrice: bigint };

/** The sender's prepared statements. */
export function senderQueries(db: WorkerDb) {
  return {
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
}

/** Actions signed and not yet mined. */
export function pendingActions(k: SenderKit): PendingAction[] {
  return k.q.pending.all<ActionRow>(k.account).map((a) => {
    const txs = k.txRows(a.key);
    return {
      key: a.key,
      nonce: a.nonce,
      hashes: txs.map((t) => t.hash),
      createdAt: a.created_at,
      lastSentAt: txs.length ? txs[txs.length - 1].sent_at : a.created_at,
    };
  });
}

/** What the sender knows of an action. */
export function actionRecord(k: SenderKit, key: string): ActionRecord | undefined {
  const a = k.actionRow(key);
  if (!a) return undefined;
  const hashes = k.txRows(key).map((t) => t.hash);
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
}

type Signed = { raw: string; hash: string };
type Broadcast = { type: "ok" } | { type: "unsure"; error: unknown } | { type: "refused"; error: unknown };

/** The steps of sending, each a function of the kit (below), bound to it so that they can call each other. */
interface SenderSteps {
  currentFees(): Promise<Fees>;
  sign(a: ActionRow, n: number, fees: Fees): Promise<Signed>;
  record(key: string, n: number, signed: Signed, fees: Fees): void;
  broadcast(key: string, signed: Signed): Promise<Broadcast>;
  firstSend(req: SendRequest, gasLimit: bigint): Promise<void>;
  receiptOf(key: string): Promise<TransactionReceipt | null>;
  waitMined(key: string): Promise<TransactionReceipt>;
  replace(a: ActionRow, last: TxRow): Promise<void>;
  simulate(req: SendRequest): Promise<bigint>;
  outcome(a: ActionRow): Promise<TransactionReceipt | undefined>;
}

/** One sender's settings, state and steps. */
export interface SenderKit extends SenderSteps {
  opts: SenderOptions;
  rpc: SenderRpc;
  db: WorkerDb;
  wallet: BaseWallet;
  log: Log;
  account: string;
  interfaces: readonly Interface[];
  confirmations: number;
  pollMs: number;
  replaceAfterMs: number;
  bump: bigint;
  gasLimitPercent: bigint;
  closer: AbortController;
  retry<T>(fn: () => Promise<T>): Promise<T>;
  q: ReturnType<typeof senderQueries>;
  actionRow(key: string): ActionRow | undefined;
  txRows(key: string): TxRow[];
  inFlight: Map<string, Promise<TransactionReceipt>>;
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  nextNonce(): Promise<number>;
}

export function bindSteps(k: SenderKit): SenderSteps {
  return {
    currentFees: () => currentFees(k),
    sign: (a, n, fees) => sign(k, a, n, fees),
    record: (key, n, signed, fees) => record(k, key, n, signed, fees),
    broadcast: (key, signed) => broadcast(k, key, signed),
    firstSend: (req, gasLimit) => firstSend(k, req, gasLimit),
    receiptOf: (key) => receiptOf(k, key),
    waitMined: (key) => waitMined(k, key),
    replace: (a, last) => replace(k, a, last),
    simulate: (req) => simulate(k, req),
    outcome: (a) => outcome(k, a),
  };
}

async function currentFees(k: SenderKit): Promise<Fees> {
  const { opts, rpc, retry } = k;
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
}

async function sign(k: SenderKit, a: ActionRow, n: number, fees: Fees): Promise<{ raw: string; hash: string }> {
  const { opts, wallet } = k;
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
}

function record(k: SenderKit, key: string, n: number, signed: { raw: string; hash: string }, fees: Fees): void {
  const { q } = k;
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
}

/** Broadcasts; "ok" also when the node already has it. Transient failures are retried, then left to the watcher. */
async function broadcast(
  k: SenderKit,
  key: string,
  signed: { raw: string; hash: string },
): Promise<{ type: "ok" } | { type: "unsure"; error: unknown } | { type: "refused"; error: unknown }> {
  const { rpc, closer, retry } = k;
  try {
    await retry(() => rpc.broadcastTransaction(signed.raw));
    return { type: "ok" };
  } catch (e) {
    if (closer.signal.aborted) throw new SenderClosedError(key);
    const known = await rpc.getTransaction(signed.hash).catch(() => null);
    if (known) return { type: "ok" };
    // An HTTP error answer (SERVER_ERROR, a 4xx included) is no node's verdict on the transaction: a gateway may answer
    // so to a transaction it passed on, or an earlier try may have got through. Only a JSON-RPC refusal is final.
    const http = errorChain(e).some((c) => c.code === "SERVER_ERROR");
    return http || isTransientRpcError(e) ? { type: "unsure", error: e } : { type: "refused", error: e };
  }
}

async function firstSend(k: SenderKit, req: SendRequest, gasLimit: bigint): Promise<void> {
  const {
    db,
    log,
    account,
    closer,
    q,
    actionRow,
    exclusive,
    nextNonce,
    currentFees,
    sign,
    record,
    broadcast,
    receiptOf,
  } = k;
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
}

async function receiptOf(k: SenderKit, key: string): Promise<TransactionReceipt | null> {
  const { rpc, retry, txRows } = k;
  const rows = txRows(key);
  for (const t of rows.reverse()) {
    const r = await retry(() => rpc.getTransactionReceipt(t.hash));
    if (r) return r;
  }
  return null;
}

/** Waits for one of the action's transactions to be mined, rebroadcasting and replacing while it is not. */
async function waitMined(k: SenderKit, key: string): Promise<TransactionReceipt> {
  const {
    rpc,
    db,
    log,
    account,
    confirmations,
    pollMs,
    replaceAfterMs,
    closer,
    retry,
    q,
    actionRow,
    txRows,
    broadcast,
    receiptOf,
    replace,
  } = k;
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
}

/** Signs the same nonce with fees raised by feeBumpPercent (and at least the current ones), records, broadcasts. */
async function replace(k: SenderKit, a: ActionRow, last: TxRow): Promise<void> {
  const { opts, db, log, bump, currentFees, sign, record, broadcast } = k;
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
}

async function simulate(k: SenderKit, req: SendRequest): Promise<bigint> {
  const { rpc, account, interfaces, gasLimitPercent, retry } = k;
  // Simulated against the pending block: the state and the timestamp the transaction will meet when it is mined
  // (against "latest", a chain that mines only on demand keeps a stale timestamp, and time-gated calls never pass).
  const call = { from: account, to: req.to, data: req.data, value: req.value ?? 0n, blockTag: "pending" };
  try {
    await retry(() => rpc.call(call));
    const estimate = await retry(() => rpc.estimateGas(call));
    return gasLimitOver(estimate, gasLimitPercent);
  } catch (e) {
    if (isCallException(e)) throw new SimulationRevertedError(req.key, decodeRevert(e.data, interfaces));
    throw e;
  }
}

/**
 * The recorded receipt of a finished action; undefined when the chain no longer has it (a reorg replaced its
 * block): the action then did not happen on this chain, its record is marked dropped, and it is sent again as a new
 * action. Not by rebroadcasting its old transaction: that nonce may be another transaction's by now, or lie beyond
 * the chain's count. Sent anew, it is simulated first, so an action the chain did take again meanwhile (the old
 * transaction put back in a block by the node) is not repeated.
 */
async function outcome(k: SenderKit, a: ActionRow): Promise<TransactionReceipt | undefined> {
  const { rpc, db, log, retry, q } = k;
  const receipt = a.tx_hash ? await retry(() => rpc.getTransactionReceipt(a.tx_hash as string)) : null;
  if (!receipt) {
    db.transaction(() => q.drop.run(Date.now(), a.key));
    log.warn({ action: a.key, hash: a.tx_hash }, "sender: a recorded receipt is gone (reorg); sending the action anew");
    return undefined;
  }
  if (a.status === "reverted") throw new TxRevertedError(a.key, receipt);
  return receipt;
}

function max(...vs: bigint[]): bigint {
  return vs.reduce((m, v) => (v > m ? v : m));
}
