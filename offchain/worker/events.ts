/**
 * Turns JobMarket and ModelRegistry events into rows of jobs.ts, inside the ingestion transaction (so the rows
 * and the checkpoint move together), and undoes them on a reorg.
 */
import type { Log as EthLog } from "ethers";
import { JobMarket__factory, ModelRegistry__factory } from "../../typechain-types";
import type { SqliteTx } from "./db";
import { crashPoint } from "./faults";
import type { IngestHandler } from "./ingest";
import { CHAIN_FINAL_STATES, FINAL_STATES, KIND_NAMES, type JobState } from "./jobs";

export const jobMarketInterface = JobMarket__factory.createInterface();
export const registryInterface = ModelRegistry__factory.createInterface();

/** Events the worker ingests, for the getLogs topic filter. */
export const INGESTED_EVENTS = {
  market: [
    "JobRequested",
    "JobClaimed",
    "ReceiptSubmitted",
    "JobSettled",
    "JobCancelled",
    "JobFailed",
    "JobReclaimed",
    "ChallengeResolved",
  ],
  registry: ["ModelPublished", "ModelDerived", "ModelFrozen"],
} as const;

export function ingestedTopics(): string[] {
  return [
    ...INGESTED_EVENTS.market.map((e) => jobMarketInterface.getEvent(e)!.topicHash),
    ...INGESTED_EVENTS.registry.map((e) => registryInterface.getEvent(e)!.topicHash),
  ];
}

export interface EventHandlerOptions {
  jobMarket: string;
  registry: string;
  /** This worker's address: a JobClaimed by anyone else makes the job "lost". */
  self: string;
  /** Called after the transaction commits with the jobs whose rows changed (the pipeline wakes up). */
  onChange?: () => void;
}

/** Moves a job to a final state reached in block `block` (recorded, so that a reorg below it re-opens the job). */
function setState(tx: SqliteTx, jobId: string, state: JobState, block: number): void {
  // Terminal states are final: a late or replayed event never moves a job out of one.
  const finals = [...FINAL_STATES].map((s) => `'${s}'`).join(",");
  tx.prepare(
    `UPDATE jobs SET state = ?, final_block = ?, updated_at_ms = ? WHERE job_id = ? AND state NOT IN (${finals})`,
  ).run(state, block, Date.now(), jobId);
}

export function createEventHandler(o: EventHandlerOptions): IngestHandler {
  const market = o.jobMarket.toLowerCase();
  const registry = o.registry.toLowerCase();
  const self = o.self.toLowerCase();

  const onMarket = (log: EthLog, tx: SqliteTx, requested: string[]) => {
    const ev = jobMarketInterface.parseLog(log);
    if (!ev) return;
    const jobId = String(ev.args.jobId);
    switch (ev.name) {
      case "JobRequested": {
        const a = ev.args;
        requested.push(jobId);
        tx.prepare(
          `INSERT INTO jobs (job_id, model_id, kind, requester, input_hash, input_uri, fee, deadline, params, seen_block,
             state, requested_at_ms, updated_at_ms, request_tx, request_log_index)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'seen', ?, ?, ?, ?)
           ON CONFLICT(job_id) DO UPDATE SET
             model_id = excluded.model_id, kind = excluded.kind, requester = excluded.requester,
             input_hash = excluded.input_hash, input_uri = excluded.input_uri, fee = excluded.fee,
             deadline = excluded.deadline, params = excluded.params, seen_block = excluded.seen_block, state = 'seen',
             worker = NULL, input_artifact = NULL, result_artifact = NULL, output_hash = NULL, receipt = NULL,
             child_model_id = NULL, error_code = NULL, error_message = NULL, progress = NULL, run_ms = NULL,
             claimed_at_ms = NULL, submitted_at_ms = NULL, final_block = NULL, request_tx = excluded.request_tx,
             request_log_index = excluded.request_log_index, estimate_sec = NULL, input_refused = 0,
             requested_at_ms = excluded.requested_at_ms, updated_at_ms = excluded.updated_at_ms
           WHERE jobs.state = 'vanished'`,
        ).run(
          jobId,
          String(a.modelId),
          KIND_NAMES[Number(a.kind)],
          String(a.requester),
          String(a.inputHash).toLowerCase(),
          String(a.inputURI),
          String(a.fee),
          Number(a.deadline),
          String(a.params),
          log.blockNumber,
          Date.now(),
          Date.now(),
          log.transactionHash,
          log.index,
        );
        break;
      }
      case "JobClaimed": {
        const worker = String(ev.args.worker);
        tx.prepare("UPDATE jobs SET worker = ? WHERE job_id = ?").run(worker, jobId);
        if (worker.toLowerCase() !== self) setState(tx, jobId, "lost", log.blockNumber);
        break;
      }
      case "ReceiptSubmitted":
        tx.prepare("UPDATE jobs SET child_model_id = ? WHERE job_id = ?").run(String(ev.args.childModelId), jobId);
        break;
      case "JobSettled":
        setState(tx, jobId, "settled", log.blockNumber);
        break;
      case "JobCancelled":
        setState(tx, jobId, "cancelled", log.blockNumber);
        break;
      case "JobFailed":
        setState(tx, jobId, "failed", log.blockNumber);
        break;
      case "JobReclaimed":
        setState(tx, jobId, "reclaimed", log.blockNumber);
        break;
      case "ChallengeResolved":
        if (ev.args.upheld) setState(tx, jobId, "slashed", log.blockNumber);
        break;
    }
  };

  const onRegistry = (log: EthLog, tx: SqliteTx) => {
    const ev = registryInterface.parseLog(log);
    if (!ev) return;
    const insert = tx.prepare(
      `INSERT INTO models (model_id, owner, weights_root, datatoken, parent_id, frozen, seen_block)
       VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT(model_id) DO NOTHING`,
    );
    if (ev.name === "ModelPublished") {
      const a = ev.args;
      insert.run(
        String(a.modelId),
        String(a.owner),
        String(a.weightsRoot).toLowerCase(),
        String(a.datatoken),
        "0",
        log.blockNumber,
      );
    } else if (ev.name === "ModelDerived") {
      const a = ev.args;
      insert.run(
        String(a.modelId),
        String(a.owner),
        String(a.weightsRoot).toLowerCase(),
        String(a.datatoken),
        String(a.parentId),
        log.blockNumber,
      );
    } else if (ev.name === "ModelFrozen") {
      tx.prepare("UPDATE models SET frozen = 1 WHERE model_id = ?").run(String(ev.args.modelId));
    }
  };

  return {
    apply(logs, tx) {
      const requested: string[] = [];
      for (const log of logs) {
        const address = log.address.toLowerCase();
        if (address === market) onMarket(log, tx, requested);
        else if (address === registry) onRegistry(log, tx);
      }
      // Microtasks run once the ingestion transaction has committed.
      if (logs.length) queueMicrotask(() => o.onChange?.());
      for (const id of requested) queueMicrotask(() => crashPoint("seen", id));
    },
    rollback(ancestorBlock, tx) {
      // Requests and models from replaced blocks vanish, whatever became of them there (a request mined again after
      // the reorg, possibly under the same id with other content, brings its row back as new).
      tx.prepare(
        `UPDATE jobs SET state = 'vanished', updated_at_ms = ? WHERE seen_block > ? AND state <> 'vanished'`,
      ).run(Date.now(), ancestorBlock);
      // Jobs requested earlier whose end (settled, failed, …, or another worker's claim) was in a replaced block are
      // open again for the pipeline, from the furthest point of its own work: it re-reads their on-chain status and
      // acts on it (settles again, submits its stored receipt again, claims again). Active jobs need nothing: the
      // pipeline re-reads their status before each action.
      const reopened = [...CHAIN_FINAL_STATES, "lost"].map((x) => `'${x}'`).join(",");
      tx.prepare(
        `UPDATE jobs SET state = CASE WHEN receipt IS NOT NULL THEN 'output_stored' ELSE 'seen' END, final_block = NULL,
           updated_at_ms = ? WHERE seen_block <= ? AND final_block > ? AND state IN (${reopened})`,
      ).run(Date.now(), ancestorBlock, ancestorBlock);
      tx.prepare("DELETE FROM models WHERE seen_block > ?").run(ancestorBlock);
      queueMicrotask(() => o.onChange?.());
    },
  };
}
