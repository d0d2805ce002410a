/** `posthuman rewards [--claim]`: vault shares, claimable revenue per model, past claims; claiming moves revenue up. */
import type { Command } from "commander";
import type { PostHuman } from "../../sdk/client";
import type { RewardRow } from "../../sdk/revenue";
import { connect, sdk } from "../context";
import type { Output } from "../output";
import { table, tokens } from "../render";
import type { Wiring } from "./shared";

export function addRewardsCommand(program: Command, w: Wiring): void {
  program
    .command("rewards")
    .description(
      "your vault shares, claimable revenue per model and past claims; --claim moves revenue along the lineage " +
        "(exchange sales into vaults, children's royalties up to parents, frozen models' vaults to their parents) " +
        "and claims it",
    )
    .option("--claim", "collect, distribute and claim everything claimable")
    .action((o: { claim?: boolean }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        await showRewards(client, out, Boolean(o.claim));
      }, cmd),
    );
}

type Claimed = Awaited<ReturnType<PostHuman["claimAll"]>>;

/** Claims everything claimable, saying on stderr what moved where. */
async function claim(client: PostHuman, me: string, out: Output): Promise<Claimed> {
  const claimed = await sdk(client.claimAll(me));
  for (const c of claimed.collected)
    out.info(`collected ${tokens(c.amount)} OCEAN of model ${c.modelId}'s sales into its vault (tx ${c.txHash})`);
  for (const f of claimed.forwarded)
    out.info(
      `forwarded frozen model ${f.modelId}'s vault: ${tokens(f.amount)} OCEAN to model ${f.to}'s vault (tx ${f.txHash})`,
    );
  for (const d of claimed.distributed)
    out.info(
      `distributed model ${d.modelId}'s vault: ${tokens(d.toHolders)} OCEAN to holders, ${tokens(d.toParent)} up to its parent (tx ${d.txHash})`,
    );
  return claimed;
}

async function showRewards(client: PostHuman, out: Output, claiming: boolean): Promise<void> {
  const me = await client.address();
  const claimed = claiming ? await claim(client, me, out) : undefined;
  const rows = await client.rewards(me);
  const totals = {
    claimedBase: claimed?.claimed.reduce((a, c) => a + c.base, 0n) ?? 0n,
    claimedDatatokens: claimed?.claimed.reduce((a, c) => a + c.datatokens, 0n) ?? 0n,
  };
  // A frozen model's vault pays its own holders nothing: only the others' figures can reach this account.
  const waiting = rows.some(
    (r) => !r.frozen && (r.undistributed > 0n || r.claimableBase > 0n || r.claimableDatatokens > 0n),
  );
  out.result({ account: me, models: rows, claimed, ...totals }, () =>
    [
      rows.length
        ? table(
            [
              "model",
              "vault share",
              "not distributed yet",
              "claimable OCEAN",
              "claimable DT",
              "claimed so far OCEAN",
              "claimed so far DT",
            ],
            rows.map((r) => [
              r.frozen ? `${r.modelId} FROZEN` : String(r.modelId),
              `${((Number(r.shares) * 100) / Number(r.totalShares)).toFixed(1)}%`,
              r.frozen ? `${tokens(r.forwarding)} forwarded to model ${r.forwardsTo}` : tokens(r.undistributed),
              tokens(r.claimableBase),
              tokens(r.claimableDatatokens),
              tokens(r.claims.reduce((a, c) => a + c.base, 0n)),
              tokens(r.claims.reduce((a, c) => a + c.datatokens, 0n)),
            ]),
          )
        : "no vault shares: publish a model, or finetune one",
      ...rows.filter((r) => r.frozen).map((r) => frozenLine(r, rows)),
      ...rows.filter((r) => r.fromChildren > 0n).map(childrenLine),
      ...(claimed
        ? [claimedLine(claimed.claimed, totals.claimedBase)]
        : waiting
          ? ["claim it with: posthuman rewards --claim (it distributes what is waiting first, children before parents)"]
          : []),
    ].join("\n"),
  );
}

/** What a frozen model's row means: its holders get nothing, what its vault holds goes to its parent's vault. */
function frozenLine(r: RewardRow, rows: RewardRow[]): string {
  const head =
    `model ${r.modelId} is FROZEN (the challenge of the training that created it was upheld): its vault pays its ` +
    `holders nothing and forwards everything it receives to model ${r.forwardsTo}'s vault`;
  if (r.forwarding === 0n && r.burning === 0n) return `${head}.`;
  const burn = r.burning > 0n ? `; its ${tokens(r.burning)} datatokens are burned then` : "";
  const yours = rows.some((x) => x.modelId === r.forwardsTo && !x.frozen && x.shares > 0n)
    ? "your posthuman rewards --claim moves it there and pays your share"
    : `the next posthuman rewards --claim of a holder of model ${r.forwardsTo} or of one of its ancestors moves it there`;
  return r.forwarding > 0n
    ? `${head}: it holds ${tokens(r.forwarding)} OCEAN bound for model ${r.forwardsTo}'s vault (${yours})${burn}.`
    : `${head}${burn.replace("then", "at its next distribution")}.`;
}

/** Royalties of a model's descendants still in their vaults: how much, from which, and how they come up. */
function childrenLine(r: RewardRow): string {
  const ids = r.childrenWaiting.map(String);
  const which = ids.length === 1 ? `model ${ids[0]}'s vault` : `the vaults of models ${ids.join(", ")}`;
  return (
    `model ${r.modelId}: ${tokens(r.fromChildren)} OCEAN of what is not distributed yet are royalties waiting in ` +
    `${which} (revenue of its descendants): distributing ${ids.length === 1 ? "it" : "them"} sends them up to ` +
    `model ${r.modelId}'s vault. Your posthuman rewards --claim distributes ${ids.length === 1 ? "it" : "them"} ` +
    "first, children before parents, then pays your share (anyone's distribution of those vaults, a claim by one of " +
    "their holders say, moves it up too)."
  );
}

/** What a claim paid: OCEAN in all, and each model's datatokens apart (they are different tokens). */
function claimedLine(claims: { modelId: bigint; datatokens: bigint }[], base: bigint): string {
  const dts = claims.filter((c) => c.datatokens > 0n).map((c) => `${tokens(c.datatokens)} of model ${c.modelId}`);
  return `claimed now: ${tokens(base)} OCEAN${dts.length ? `, and datatokens: ${dts.join(", ")}` : ""}`;
}
