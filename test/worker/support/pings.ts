import { Interface, type Log as EthLog } from "ethers";
import type { SqliteTx } from "../../../offchain/worker/db";
import type { IngestHandler, IngestRange } from "../../../offchain/worker/ingest";
import { WorkerTestEmitter__factory } from "../../../typechain-types";

export const emitterInterface = new Interface(WorkerTestEmitter__factory.abi);
export const PINGED_TOPIC = emitterInterface.getEvent("Pinged")?.topicHash as string;

/** The test handler's own table, added through the store's migrations like the lead's job tables will be. */
export const PINGS_MIGRATIONS = [
  "CREATE TABLE test_pings (id INTEGER NOT NULL, block_number INTEGER NOT NULL, tx_hash TEXT NOT NULL, log_index INTEGER NOT NULL) STRICT",
];

export interface PingHandler extends IngestHandler {
  /** Ping ids in the table, in the order applied. */
  ids(tx: SqliteTx): number[];
  /** Every call made, for assertions on rollback ancestors and ranges. */
  calls: Array<{ type: "apply"; logs: number; range: IngestRange } | { type: "rollback"; ancestor: number }>;
}

/** Stores each Pinged(id) as a row tagged with its block, and rolls back by block number. */
export function pingHandler(): PingHandler {
  const calls: PingHandler["calls"] = [];
  return {
    calls,
    apply(logs: readonly EthLog[], tx: SqliteTx, range: IngestRange) {
      calls.push({ type: "apply", logs: logs.length, range });
      const insert = tx.prepare("INSERT INTO test_pings (id, block_number, tx_hash, log_index) VALUES (?, ?, ?, ?)");
      for (const l of logs) {
        const parsed = emitterInterface.parseLog(l);
        if (parsed?.name !== "Pinged") continue;
        insert.run(Number(parsed.args.id), l.blockNumber, l.transactionHash, l.index);
      }
    },
    rollback(ancestor: number, tx: SqliteTx) {
      calls.push({ type: "rollback", ancestor });
      tx.prepare("DELETE FROM test_pings WHERE block_number > ?").run(ancestor);
    },
    ids(tx: SqliteTx) {
      return tx
        .prepare("SELECT id FROM test_pings ORDER BY rowid")
        .all<{ id: number }>()
        .map((r) => r.id);
    },
  };
}
