/**
 * The end of `posthuman demo`: the lineage as the chain records it, each person's rewards and revenue, the
 * evaluation against Alice's baseline, and where the OCEAN went (the changes add up to zero, and every contract
 * holds exactly what it owes).
 */
import { devWallet, DEV_ACCOUNTS } from "../deploy/accounts";
import { JobStatus, toFixedLoss } from "../protocol/params";
import type { LineageNode } from "../sdk/registry";
import { DEMO_BENCHMARK, PEOPLE, type Person, type Scene, type Snapshot } from "./demo-scene";
import type { Claimed, Evaluation } from "./demo-steps";
import { delta, lossDelta, short, table, tokens, tree } from "./render";

const indent = (text: string) =>
  text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");

/** Prints the lineage of M3 from its root, who trained each model and who shares it. */
export async function printLineage(s: Scene, m3: bigint): Promise<void> {
  const lineage: LineageNode = await s.reader.lineage(m3);
  const nameOf = (a: string) => PEOPLE.find((p) => s.addr[p].toLowerCase() === a.toLowerCase()) ?? short(a);
  s.out.info("\nLineage (on chain)");
  for (const l of tree(
    lineage,
    (n) =>
      `${s.ledger.modelName.get(n.model.id)} (model ${n.model.id}) · ${n.model.generation ? `trained by ${nameOf(n.model.owner)} in job ${n.model.jobId} · shares: ${nameOf(n.model.owner)} and ${nameOf(n.model.parentSide)}` : `published by ${nameOf(n.model.owner)}`}`,
  ))
    s.out.info(`  ${l}`);
}

/** Each person's vault shares (percent) per model name. */
export async function personShares(s: Scene, modelIds: bigint[]): Promise<Record<Person, Record<string, number>>> {
  const shares = {} as Record<Person, Record<string, number>>;
  for (const p of PEOPLE) {
    shares[p] = {};
    for (const id of modelIds) {
      const m = await s.reader.registry.get(id);
      const pos = await s.reader.vault(m.vault).position(s.addr[p]);
      if (pos.shares > 0n)
        shares[p][s.ledger.modelName.get(id) as string] = Number((pos.shares * 10_000n) / pos.totalShares) / 100;
    }
  }
  return shares;
}

/** A person's base-token balance in a snapshot. */
export const baseOf = (p: Person, snap: Snapshot) => snap.get(`${p[0].toUpperCase()}${p.slice(1)}|OCEAN`) ?? 0n;

export function printRewards(
  s: Scene,
  shares: Record<Person, Record<string, number>>,
  claimed: Claimed,
  final: Snapshot,
): void {
  const first = s.ledger.first;
  s.out.info("\nRewards and revenue per person (OCEAN)");
  s.out.info(
    indent(
      table(
        ["person", "vault shares", "claimed OCEAN", "claimed datatokens", "before", "after", "change"],
        PEOPLE.map((p) => [
          p,
          Object.entries(shares[p])
            .map(([m, v]) => `${m} ${v}%`)
            .join(", ") || "—",
          tokens(claimed[p].base),
          [...claimed[p].datatokens]
            .filter(([, v]) => v > 0n)
            .map(([m, v]) => `${tokens(v)} ${s.ledger.modelName.get(m)}`)
            .join(", ") || "—",
          tokens(baseOf(p, first)),
          tokens(baseOf(p, final)),
          delta(baseOf(p, final) - baseOf(p, first)),
        ]),
      ),
    ),
  );
}

export function printEvaluation(s: Scene, evaluation: Evaluation[]): void {
  s.out.info(`\nEvaluation on Elena's set ("${DEMO_BENCHMARK}", mean cross-entropy in nats)`);
  s.out.info(
    indent(
      table(
        ["model", "eval loss", "perplexity", "declared baseline (Alice)", "vs baseline"],
        evaluation.map((e) => [
          e.model,
          e.loss.toFixed(4),
          e.perplexity.toFixed(1),
          e.baseline.toFixed(4),
          lossDelta(toFixedLoss(e.loss) - toFixedLoss(e.baseline)),
        ]),
      ),
    ),
  );
}

/** What the JobMarket owes: the worker's stake, and the fees of jobs not settled yet. */
async function owedByMarket(s: Scene): Promise<bigint> {
  const jobs = s.reader.jobs;
  const stake = await jobs.stakeOf(devWallet(DEV_ACCOUNTS.indexOf("worker")).address);
  let owes = stake.free + stake.locked + stake.unstaking;
  const n = await jobs.count();
  for (let j = 1n; j <= n; j++) {
    const job = await jobs.get(j);
    const st = JobStatus[job.status];
    if (st === JobStatus.Open || st === JobStatus.Claimed || st === JobStatus.Submitted || st === JobStatus.Challenged)
      owes += job.fee + (await jobs.contract.callbackOf(j)).fee;
  }
  return owes;
}

export interface Conservation {
  total: string;
  changes: Record<string, string>;
  contracts: { name: string; balance: string; owes: string }[];
}

/** The base token moved only between the story's holders, and each contract holds what it owes. */
export async function conservation(
  s: Scene,
  m1: { exchangeId: string },
  modelIds: bigint[],
  final: Snapshot,
): Promise<Conservation> {
  const changes: Record<string, string> = {};
  let total = 0n;
  for (const h of s.ledger.holders) {
    const k = `${h.name}|OCEAN`;
    const d = (final.get(k) ?? 0n) - (s.ledger.first.get(k) ?? 0n);
    total += d;
    if (d !== 0n) changes[h.name] = d.toString();
  }
  const contracts = s.book.contracts;
  const exchange = await s.reader.exchange.get(m1.exchangeId);
  const contractsOwe = [
    { name: "JobMarket (stakes + fees of unsettled jobs)", address: contracts.JobMarket, owes: await owedByMarket(s) },
    {
      name: "exchange (M1 sales + Ocean's fees)",
      address: contracts.FixedRateExchange,
      owes: exchange.btBalance + exchange.oceanFeeAvailable + exchange.marketFeeAvailable,
    },
    ...(await Promise.all(
      modelIds.map(async (id) => {
        const m = await s.reader.registry.get(id);
        const v = s.reader.vault(m.vault);
        const [owed, pending] = await Promise.all([v.owed(), v.pending()]);
        return {
          name: `${s.ledger.modelName.get(id)} vault (owed + pending)`,
          address: m.vault,
          owes: owed.base + pending.base,
        };
      }),
    )),
  ];
  const rows = await Promise.all(
    contractsOwe.map(async (c) => ({
      name: c.name,
      balance: await s.reader.baseToken.balanceOf(c.address),
      owes: c.owes,
    })),
  );
  s.out.info("\nWhere the OCEAN went (changes over the story; they add up to zero)");
  for (const [k, v] of Object.entries(changes)) s.out.info(`  ${k.padEnd(24)} ${delta(BigInt(v))}`);
  s.out.info(`  total                    ${tokens(total)}`);
  for (const c of rows) s.out.info(`  ${c.name}: holds ${tokens(c.balance)}, owes ${tokens(c.owes)}`);
  return {
    total: total.toString(),
    changes,
    contracts: rows.map((c) => ({ name: c.name, balance: c.balance.toString(), owes: c.owes.toString() })),
  };
}

/** The three models as the chain records them, for the summary. */
export async function modelsOf(s: Scene, modelIds: bigint[]) {
  const models = [];
  for (const id of modelIds) {
    const m = await s.reader.registry.get(id);
    models.push({
      name: s.ledger.modelName.get(id) as string,
      id: id.toString(),
      parent: m.parentId.toString(),
      generation: m.generation,
      owner: m.owner,
      parentSide: m.parentSide,
      trainingJob: m.jobId.toString(),
      weightsRoot: m.weightsRoot,
    });
  }
  return models;
}
