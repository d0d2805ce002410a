/**
 * `posthuman demo` (`npm run demo`): the five-person story on a fresh embedded chain of its own, through the SDK, as
 * the people would live it. Alice trains M1 from a seed on her corpus and publishes it; Bob buys M1 datatokens on
 * Ocean's exchange and finetunes M1 into M2; Charlie buys M2 datatokens from Bob and trains M3; Derek buys M3
 * datatokens from Charlie and runs inference; Elena evaluates M1, M2 and M3 against the baseline Alice declared;
 * then revenue moves up the lineage and everyone claims. Each step prints who did what, its transactions and the
 * balances that changed; every receipt is verified by re-running its job locally.
 *
 * The model runtime runs in child processes (the worker's, and the demo's own training and verification), so the
 * chain and the worker stay responsive and the two cores work at once: a receipt is verified while the next job runs.
 *
 * The stage (people, ledger, receipts) is demo-scene.ts, each person's step demo-steps.ts, the closing tables
 * demo-summary.ts.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { fromFixedLoss } from "../protocol/params";
import { PEOPLE, setScene, type ReceiptCheck, type Scene } from "./demo-scene";
import {
  aliceMakesM1,
  alicePublishesM1,
  bobFinetunesM1,
  charlieTrainsM3,
  derekInfersOnM3,
  derekPaysM3,
  elenaEvaluates,
  everyoneClaims,
  type AliceWork,
  type Evaluation,
} from "./demo-steps";
import {
  baseOf,
  conservation,
  modelsOf,
  personShares,
  printEvaluation,
  printLineage,
  printRewards,
  type Conservation,
} from "./demo-summary";
import type { Output } from "./output";
import { up } from "./up";
import { rpcFetchRequest } from "../worker/rpc";

export { DEMO_BENCHMARK } from "./demo-scene";

export interface DemoSummary {
  models: {
    name: string;
    id: string;
    parent: string;
    generation: number;
    owner: string;
    parentSide: string;
    trainingJob: string;
    weightsRoot: string;
  }[];
  /** Validation loss on each trainer's data: the parent's (before) and the child's (after), from the receipts. */
  finetunes: { child: string; trainer: string; valLossBefore: number; valLossAfter: number }[];
  receipts: ReceiptCheck[];
  evaluation: Evaluation[];
  /** Base-token wei per person: before, after, claimed from vaults; datatokens claimed, per model name. */
  people: Record<
    string,
    {
      address: string;
      before: string;
      after: string;
      claimedBase: string;
      claimedDatatokens: Record<string, string>;
      shares: Record<string, number>;
    }
  >;
  /**
   * Every base-token holder of the story (people, worker, treasury, contracts): the changes add up to `total` (0:
   * nothing appeared or vanished), and each contract holds exactly what it owes.
   */
  conservation: Conservation;
  generations: string[];
  seconds: number;
}

/** The story on a running chain, step by step; then the closing tables and the summary. */
async function tell(
  s: Scene,
  alice: AliceWork,
  baseSteps: number,
  started: number,
  stopWorker: () => Promise<void>,
): Promise<DemoSummary> {
  const m1 = await alicePublishesM1(s, alice, baseSteps);
  const { m2, r2 } = await bobFinetunesM1(s, m1);
  const { l2, m3, r3 } = await charlieTrainsM3(s, m2);
  const { l3, generations } = await derekInfersOnM3(s, m3);
  const modelIds = [m1.modelId, m2.id, m3.id];
  const evaluation = await elenaEvaluates(
    s,
    [
      ["M1", m1.modelId],
      ["M2", m2.id],
      ["M3", m3.id],
    ],
    { l2: l2.listingId, l3: l3.listingId },
    alice.baseline,
  );
  await derekPaysM3(s, m3);
  const claimed = await everyoneClaims(s);

  // Verifications still running finish here.
  if (s.verifications.length) s.out.info(`\nWaiting for the last re-executions…   [${s.elapsed()}]`);
  await Promise.all(s.verifications);
  // The worker would go on settling jobs whose windows pass while the balances are read: stop it, so the accounting
  // below reads one state of the chain (jobs still in their challenge window are counted as the market's to pay).
  await stopWorker();

  const final = await s.ledger.snapshot();
  await printLineage(s, m3.id);
  const shares = await personShares(s, modelIds);
  printRewards(s, shares, claimed, final);
  printEvaluation(s, evaluation);
  const conserved = await conservation(s, m1, modelIds, final);
  const verdicts = s.receipts.filter((r) => r.verified).length;
  s.out.info(`\nReceipts verified by re-execution: ${verdicts}/${s.receipts.length}. Demo done in ${s.elapsed()}.`);

  const nats = fromFixedLoss;
  return {
    models: await modelsOf(s, modelIds),
    finetunes: [
      {
        child: "M2",
        trainer: "bob",
        valLossBefore: nats(r2.metrics.valLossBefore),
        valLossAfter: nats(r2.metrics.valLossAfter),
      },
      {
        child: "M3",
        trainer: "charlie",
        valLossBefore: nats(r3.metrics.valLossBefore),
        valLossAfter: nats(r3.metrics.valLossAfter),
      },
    ],
    receipts: [...s.receipts].sort((a, b) => Number(BigInt(a.job) - BigInt(b.job))),
    evaluation,
    people: Object.fromEntries(
      PEOPLE.map((p) => [
        p,
        {
          address: s.addr[p],
          before: baseOf(p, s.ledger.first).toString(),
          after: baseOf(p, final).toString(),
          claimedBase: claimed[p].base.toString(),
          claimedDatatokens: Object.fromEntries(
            [...claimed[p].datatokens].map(([m, v]) => [s.ledger.modelName.get(m) as string, v.toString()]),
          ),
          shares: shares[p],
        },
      ]),
    ),
    conservation: conserved,
    generations,
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

export async function runDemo(
  out: Output,
  o: { dataDir?: string; steps?: number; baseSteps?: number } = {},
): Promise<DemoSummary> {
  const started = Date.now();
  const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "posthuman-demo-"));
  fs.mkdirSync(dataDir, { recursive: true });
  const baseSteps = o.baseSteps ?? 32;

  // Alice's training runs while the chain starts: she needs no chain to make a model.
  const where = o.dataDir ? dataDir : `${dataDir} (removed at the end; --keep <dir> keeps it)`;
  out.info(`Starting a fresh chain and worker in ${where}, while Alice trains M1 on her machine…`);
  const aliceWork = aliceMakesM1(dataDir, baseSteps);
  // Collect its failure now; it is rethrown where awaited.
  aliceWork.catch(() => undefined);

  const world = await up(
    {
      dataDir,
      host: "127.0.0.1",
      chainPort: 0,
      apiPort: 0,
      deploymentFile: path.join(dataDir, "deployment.json"),
      // The story needs no web pages (and a fresh clone would build them first).
      webDir: false,
    },
    { ...out, info: (l) => out.info(`  [up] ${l}`) },
  );
  const provider = new ethers.JsonRpcProvider(rpcFetchRequest(world.chain.url), world.book.chainId, {
    cacheTimeout: -1,
    staticNetwork: true,
  });
  let scene: Scene | undefined;
  try {
    scene = await setScene(out, {
      provider,
      book: world.book,
      workerUrl: world.worker?.apiUrl,
      dataDir,
      steps: o.steps ?? 16,
      started,
    });
    return await tell(scene, await aliceWork, baseSteps, started, () => world.stopWorker());
  } finally {
    await Promise.allSettled([aliceWork, ...(scene?.verifications ?? [])]);
    provider.destroy();
    await world.stop();
    // A folder of its own making is the demo's scratch space (`--keep <dir>` keeps one).
    if (!o.dataDir) fs.rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
  }
}
