// Run by ingest.test.ts in a child process: ingests pings into a database and kills itself with SIGKILL in the middle
// of the handler's transaction when it meets ping `killAt`, the crash that the ingestor must survive.
// Usage: node -r ts-node/register/transpile-only ingest-child.ts <rpcUrl> <dbFile> <emitter> <startBlock> <killAt>
import { openWorkerDb } from "../../../offchain/worker/db";
import { createIngestor } from "../../../offchain/worker/ingest";
import { silentLogger } from "../../../offchain/worker/log";
import { createProvider } from "../../../offchain/worker/rpc";
import { pingHandler, PINGS_MIGRATIONS } from "./pings";

async function main(): Promise<void> {
  const [url, dbFile, emitter, startBlock, killAt] = process.argv.slice(2);
  const db = openWorkerDb({ file: dbFile });
  db.migrate("test_pings", PINGS_MIGRATIONS);
  const inner = pingHandler();
  const ingestor = createIngestor({
    provider: createProvider({ url, chainId: 31337 }),
    db,
    addresses: [emitter],
    startBlock: Number(startBlock),
    confirmations: 0,
    pollMs: 100,
    maxChunk: 2,
    handler: {
      apply(logs, tx, range) {
        inner.apply(logs, tx, range);
        if (inner.ids(tx).includes(Number(killAt))) process.kill(process.pid, "SIGKILL");
      },
      rollback: inner.rollback,
    },
    log: silentLogger(),
  });
  await ingestor.syncOnce();
  process.stdout.write("finished without being killed\n");
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
