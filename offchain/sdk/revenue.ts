/**
 * Revenue flows of the SDK's core: what an account earned in each royalty vault, and claiming it. Revenue moves in
 * three steps, any of which anyone may send: a root model's exchange sales are collected into its vault, the vault
 * books (distributes) what arrived, and each holder claims its share.
 */
import { ethers } from "ethers";
import type { Sent } from "./base";
import type { PostHumanCore } from "./core";
import { SdkError } from "./errors";
import type { ClaimRecord } from "./vault";

export interface RewardRow {
  modelId: bigint;
  vault: string;
  shares: bigint;
  totalShares: bigint;
  claimableBase: bigint;
  claimableDatatokens: bigint;
  /** Base token the model received but nobody distributed yet (in its vault, or unsold in its exchange): `claimAll` books it. */
  undistributed: bigint;
  /** Datatokens the vault received but did not book yet (consumed by jobs). */
  undistributedDatatokens: bigint;
  claims: ClaimRecord[];
}

export interface ClaimAllResult {
  collected: { modelId: bigint; amount: bigint; txHash: string }[];
  distributed: { modelId: bigint; toHolders: bigint; toParent: bigint; txHash: string }[];
  claimed: { modelId: bigint; base: bigint; datatokens: bigint; txHash: string }[];
}

/** Shares, claimable revenue, revenue waiting to be booked and past claims of `who` in every vault it has a stake in. */
export async function rewardsOf(ph: PostHumanCore, who: string): Promise<RewardRow[]> {
  const rows: RewardRow[] = [];
  for (const m of await ph.registry.list()) {
    const v = ph.vault(m.vault);
    const p = await v.position(who);
    const claims = await v.claims(who);
    if (p.shares === 0n && p.claimableBase === 0n && p.claimableDatatokens === 0n && claims.length === 0) continue;
    const pending = await v.pending();
    const sales = m.exchangeId === ethers.ZeroHash ? 0n : (await ph.exchange.get(m.exchangeId)).btBalance;
    rows.push({
      modelId: m.id,
      vault: m.vault,
      ...p,
      undistributed: pending.base + sales,
      undistributedDatatokens: pending.datatokens,
      claims,
    });
  }
  return rows;
}

/**
 * Claims what the signer's shares earned on one model: sales waiting in the exchange are first collected into the
 * vault and unbooked revenue distributed, so the claim includes everything so far.
 */
export async function claimModel(
  ph: PostHumanCore,
  modelId: bigint,
  onStep: (line: string) => void,
): Promise<{ base: bigint; datatokens: bigint } & Sent> {
  await ph.collectSales(modelId);
  const m = await ph.registry.get(modelId);
  const vault = ph.vault(m.vault);
  const pending = await vault.pending();
  if (pending.base > 0n || pending.datatokens > 0n) {
    onStep("Booking the vault's new revenue…");
    await vault.distribute();
  }
  const me = await ph.address();
  const p = await vault.position(me);
  if (p.claimableBase === 0n && p.claimableDatatokens === 0n)
    throw new SdkError(
      "REVERTED",
      `Nothing to claim on model ${modelId} yet.`,
      "revenue arrives when someone buys the model's datatokens or runs a job on it (or on one of its children)",
      { data: { modelId } },
    );
  onStep("Claiming…");
  return vault.claim(me);
}

/**
 * Claims everything `who` has earned: first moves revenue along (collects exchange sales of the models it holds
 * shares in and of their descendants, and distributes their vaults from the youngest up, so that royalties reach the
 * parents), then claims in each vault where something is claimable. Anyone may move revenue along; the claims always
 * pay `who`.
 */
export async function claimAll(ph: PostHumanCore, who: string): Promise<ClaimAllResult> {
  const models = await ph.registry.list();
  const held = new Set<bigint>();
  for (const m of models) if ((await ph.vault(m.vault).position(who)).shares > 0n) held.add(m.id);
  // Descendants send royalties up: include every model whose ancestry reaches a held one.
  const relevant = new Set(held);
  for (const m of models) if (m.parentId !== 0n && relevant.has(m.parentId)) relevant.add(m.id);
  const out: ClaimAllResult = { collected: [], distributed: [], claimed: [] };
  for (const m of [...models].reverse()) {
    if (!relevant.has(m.id) || m.frozen) continue;
    const c = await ph.collectSales(m.id);
    if (c.txHash) out.collected.push({ modelId: m.id, amount: c.amount, txHash: c.txHash });
    const v = ph.vault(m.vault);
    const pending = await v.pending();
    if (pending.base > 0n || pending.datatokens > 0n)
      out.distributed.push({ modelId: m.id, ...(await v.distribute()) });
  }
  for (const m of models) {
    if (!held.has(m.id) || m.frozen) continue;
    const v = ph.vault(m.vault);
    const p = await v.position(who);
    if (p.claimableBase > 0n || p.claimableDatatokens > 0n)
      out.claimed.push({ modelId: m.id, ...(await v.claim(who)) });
  }
  return out;
}
