/**
 * Revenue flows of the SDK's core: what an account earned in each royalty vault, and claiming it. Revenue moves in
 * three steps, any of which anyone may send: a root model's exchange sales are collected into its vault, the vault
 * books (distributes) what arrived, and each holder claims its share.
 *
 * A frozen model's vault (an upheld challenge of the training that created it) pays its own holders nothing: its
 * `distribute` sends its whole base-token balance, booked or not, to its parent's vault and burns the frozen model's
 * datatokens it holds (RoyaltyVault `_forwardFrozen`). Only derived models can be frozen, so there is always a parent.
 * The views below show such a balance as forwarded, and the claims forward it before claiming in the parent.
 *
 * A live derived model's `distribute` sends its vault's parent share (`parentBps` of the base token that arrived since
 * the last booking; datatokens stay) up to its parent's vault. Revenue waiting in a descendant's vault is thus partly
 * an ancestor's: the views count it for the ancestor as `fromChildren` (what the descendants' distributions, children
 * first, would send it), and `claimAll` distributes those vaults before claiming.
 */
import { ethers } from "ethers";
import type { Sent } from "./base";
import type { PostHumanCore } from "./core";
import { SdkError, amountText } from "./errors";
import type { ModelRecord } from "./registry";
import type { ClaimRecord } from "./vault";

export interface RewardRow {
  modelId: bigint;
  vault: string;
  shares: bigint;
  totalShares: bigint;
  claimableBase: bigint;
  claimableDatatokens: bigint;
  /**
   * Base token the model received but nobody distributed yet (in its vault, or unsold in its exchange, or in frozen
   * descendants' vaults that forward it here: `fromFrozen`): `claimAll` books it. Always 0 on a frozen model.
   */
  undistributed: bigint;
  /** Datatokens the vault received but did not book yet (consumed by jobs). Always 0 on a frozen model. */
  undistributedDatatokens: bigint;
  claims: ClaimRecord[];
  /** The model is frozen: its vault pays its holders nothing, its balance goes to its parent's vault. */
  frozen: boolean;
  /** A frozen model's parent, whose vault receives what this one holds at its next `distribute`; else 0. */
  forwardsTo: bigint;
  /** A frozen model's base token bound for `forwardsTo`: its vault's balance and what frozen descendants send it. */
  forwarding: bigint;
  /** A frozen model's datatokens in its vault: burned at its next `distribute`, paid to nobody. */
  burning: bigint;
  /** Base token that frozen descendants' vaults forward into this (live) model's vault; part of `undistributed`. */
  fromFrozen: bigint;
  /**
   * Base token that live descendants' undistributed revenue sends into this (live) model's vault as royalties when
   * their vaults are distributed, children first (directly or through frozen vaults); part of `undistributed`, apart
   * from `fromFrozen`. `claimAll` (and anyone's `distribute` of those vaults) moves it here.
   */
  fromChildren: bigint;
  /** The live descendants whose undistributed revenue makes up `fromChildren`. */
  childrenWaiting: bigint[];
}

/** A frozen vault's distribution: its whole base-token balance sent to its parent's vault (its datatokens burned). */
export interface ForwardRecord {
  modelId: bigint;
  to: bigint;
  amount: bigint;
  txHash: string;
}

export interface ClaimAllResult {
  collected: { modelId: bigint; amount: bigint; txHash: string }[];
  /** Frozen vaults distributed, children first: what they held went up to their parents' vaults. */
  forwarded: ForwardRecord[];
  distributed: { modelId: bigint; toHolders: bigint; toParent: bigint; txHash: string }[];
  claimed: { modelId: bigint; base: bigint; datatokens: bigint; txHash: string }[];
}

/** What the frozen-vault arithmetic needs of a model. */
export type LineageLink = Pick<ModelRecord, "id" | "parentId" | "frozen">;

/**
 * Where frozen vaults' base token goes. `balances` holds each frozen model's vault balance (booked or not). Returns,
 * per model, what frozen children's vaults send into its vault at their next `distribute` (`incoming`, their own
 * balance and what their frozen children send them, along a chain of frozen models), and per frozen model what it
 * forwards to its parent (`forwarding`: its balance plus its `incoming`). Pure: the web app uses it too.
 */
export function frozenFlows(
  models: readonly LineageLink[],
  balances: ReadonlyMap<bigint, bigint>,
): { incoming: Map<bigint, bigint>; forwarding: Map<bigint, bigint> } {
  const incoming = new Map<bigint, bigint>();
  const forwarding = new Map<bigint, bigint>();
  // Children have larger ids than their parents: from the youngest up, a frozen model's incoming is complete.
  for (const m of [...models].sort((a, b) => (a.id < b.id ? 1 : -1))) {
    if (!m.frozen) continue;
    const total = (balances.get(m.id) ?? 0n) + (incoming.get(m.id) ?? 0n);
    forwarding.set(m.id, total);
    if (m.parentId !== 0n) incoming.set(m.parentId, (incoming.get(m.parentId) ?? 0n) + total);
  }
  return { incoming, forwarding };
}

/** What the royalty arithmetic needs of a model: its lineage and the share its vault sends to its parent's. */
export type RoyaltyLink = LineageLink & { parentBps: number };

/**
 * Royalties that reach each model's vault from live descendants' revenue not distributed yet, if the vaults are
 * distributed children first (as `claimAll` does). `incoming` holds, per live model, the base token its next
 * `distribute` books (vault `pending` and unsold exchange sales); per frozen model, its vault's whole balance. A live
 * model's distribution sends `parentBps` of what it books, its own revenue and what reached it from below, to its
 * parent's vault (RoyaltyVault `_book`, rounded down like it); a frozen one forwards all of it (`_forwardFrozen`).
 * Returns per model the part of what arrives that is live descendants' royalties (`royalties`: what frozen vaults hold
 * is `frozenFlows`' apart) and which live descendants it comes from (`from`). Pure: the web app can use it too.
 */
export function childRoyalties(
  models: readonly RoyaltyLink[],
  incoming: ReadonlyMap<bigint, bigint>,
): { royalties: Map<bigint, bigint>; from: Map<bigint, bigint[]> } {
  const arrives = new Map<bigint, bigint>();
  const royalties = new Map<bigint, bigint>();
  const from = new Map<bigint, bigint[]>();
  const add = (to: Map<bigint, bigint>, id: bigint, x: bigint) => to.set(id, (to.get(id) ?? 0n) + x);
  const byId = new Map(models.map((m) => [m.id, m]));
  // Children have larger ids than their parents: from the youngest up, what reaches a model is complete.
  for (const m of [...models].sort((a, b) => (a.id < b.id ? 1 : -1))) {
    if (m.parentId === 0n) continue;
    const own = incoming.get(m.id) ?? 0n;
    const total = own + (arrives.get(m.id) ?? 0n);
    const up = m.frozen ? total : (total * BigInt(m.parentBps)) / 10_000n;
    add(arrives, m.parentId, up);
    add(royalties, m.parentId, m.frozen ? (royalties.get(m.id) ?? 0n) : up);
    if (m.frozen || own === 0n || m.parentBps === 0) continue;
    for (let a = byId.get(m.parentId); a; a = byId.get(a.parentId)) from.set(a.id, [...(from.get(a.id) ?? []), m.id]);
  }
  return { royalties, from };
}

/** Where a frozen model's balance ends up: its first ancestor that is not frozen (0 if none: never on a real chain). */
export function forwardTarget(models: readonly LineageLink[], modelId: bigint): bigint {
  const byId = new Map(models.map((m) => [m.id, m]));
  let m = byId.get(modelId);
  while (m?.frozen && m.parentId !== 0n) m = byId.get(m.parentId);
  return m && !m.frozen ? m.id : 0n;
}

/** Balances (base token, datatokens) of the frozen models' vaults. */
async function frozenHoldings(
  ph: PostHumanCore,
  models: readonly ModelRecord[],
): Promise<Map<bigint, { base: bigint; datatokens: bigint }>> {
  const frozen = models.filter((m) => m.frozen);
  const held = await Promise.all(frozen.map((m) => ph.vault(m.vault).holdings()));
  return new Map(frozen.map((m, i) => [m.id, held[i]]));
}

/** `childRoyalties` from the chain: each derived model's parent share, and what its vault would book or forward. */
async function liveChildRoyalties(
  ph: PostHumanCore,
  models: readonly ModelRecord[],
  frozen: ReadonlyMap<bigint, { base: bigint }>,
): Promise<ReturnType<typeof childRoyalties>> {
  const derived = models.filter((m) => m.parentId !== 0n);
  const read = await Promise.all(
    derived.map(async (m) => {
      const v = ph.vault(m.vault);
      // Derived models have no exchange (only a publish creates one): their revenue is all in their vaults.
      const [parentBps, own] = await Promise.all([
        v.parentBps(),
        m.frozen ? Promise.resolve(frozen.get(m.id)?.base ?? 0n) : v.pending().then((p) => p.base),
      ]);
      return { ...m, parentBps, own };
    }),
  );
  const roots = models.filter((m) => m.parentId === 0n).map((m) => ({ ...m, parentBps: 0 }));
  return childRoyalties([...roots, ...read], new Map(read.map((m) => [m.id, m.own])));
}

/**
 * Shares, claimable revenue, revenue waiting to be booked and past claims of `who` in every vault it has a stake in. A
 * frozen model's row claims nothing and shows what its vault forwards to its parent; the live ancestor that receives
 * it counts it as waiting (`fromFrozen`), and royalties of live descendants' undistributed revenue as well
 * (`fromChildren`).
 */
export async function rewardsOf(ph: PostHumanCore, who: string): Promise<RewardRow[]> {
  const models = await ph.registry.list();
  const holdings = await frozenHoldings(ph, models);
  const flows = frozenFlows(models, new Map([...holdings].map(([id, h]) => [id, h.base])));
  const children = await liveChildRoyalties(ph, models, holdings);
  const rows: RewardRow[] = [];
  for (const m of models) {
    const v = ph.vault(m.vault);
    const p = await v.position(who);
    const claims = await v.claims(who);
    if (p.shares === 0n && p.claimableBase === 0n && p.claimableDatatokens === 0n && claims.length === 0) continue;
    const base = { modelId: m.id, vault: m.vault, ...p, claims, frozen: m.frozen };
    if (m.frozen) {
      rows.push({
        ...base,
        // The vault's claimable() is already 0 when frozen; nothing it holds will ever be booked for its holders.
        undistributed: 0n,
        undistributedDatatokens: 0n,
        forwardsTo: m.parentId,
        forwarding: flows.forwarding.get(m.id) ?? 0n,
        burning: holdings.get(m.id)?.datatokens ?? 0n,
        fromFrozen: 0n,
        fromChildren: 0n,
        childrenWaiting: [],
      });
      continue;
    }
    const pending = await v.pending();
    const sales = m.exchangeId === ethers.ZeroHash ? 0n : (await ph.exchange.get(m.exchangeId)).btBalance;
    const fromFrozen = flows.incoming.get(m.id) ?? 0n;
    const fromChildren = children.royalties.get(m.id) ?? 0n;
    rows.push({
      ...base,
      undistributed: pending.base + sales + fromFrozen + fromChildren,
      undistributedDatatokens: pending.datatokens,
      forwardsTo: 0n,
      forwarding: 0n,
      burning: 0n,
      fromFrozen,
      fromChildren,
      childrenWaiting: fromChildren === 0n ? [] : (children.from.get(m.id) ?? []),
    });
  }
  return rows;
}

/** Distributes a frozen model's vault when it holds base token: all of it goes to the parent's vault. */
async function forwardFrozen(
  ph: PostHumanCore,
  m: ModelRecord,
  onStep?: (line: string) => void,
): Promise<ForwardRecord | undefined> {
  const v = ph.vault(m.vault);
  const { base } = await v.holdings();
  // Datatokens alone are left: distributing would only burn them, paying nobody.
  if (base === 0n) return undefined;
  onStep?.(
    `Model ${m.id} is frozen: forwarding the ${amountText(base)} OCEAN its vault holds to model ${m.parentId}'s ` +
      "vault…",
  );
  const d = await v.distribute();
  return { modelId: m.id, to: m.parentId, amount: d.toParent, txHash: d.txHash };
}

/**
 * Claims what the signer's shares earned on one model: frozen descendants' vaults whose balance ends up in this
 * model's vault are first distributed (forwarding it here), sales waiting in the exchange are collected into the
 * vault and unbooked revenue distributed, so the claim includes everything so far. A frozen model's vault pays its
 * holders nothing: refused with MODEL_FROZEN.
 */
export async function claimModel(
  ph: PostHumanCore,
  modelId: bigint,
  onStep: (line: string) => void,
): Promise<{ base: bigint; datatokens: bigint } & Sent> {
  const m = await ph.registry.get(modelId);
  const models = await ph.registry.list();
  if (m.frozen) {
    const target = forwardTarget(models, modelId);
    throw new SdkError(
      "MODEL_FROZEN",
      `Model ${modelId} is frozen (the challenge of the training that created it was upheld): its vault pays its ` +
        "holders nothing.",
      target === 0n
        ? "a frozen vault sends what it holds to its parent's vault, and this model has none"
        : `what its vault holds goes to model ${target}'s vault, whose holders claim it there`,
      { data: { modelId, forwardsTo: m.parentId, reaches: target } },
    );
  }
  for (const f of [...models].reverse())
    if (f.frozen && forwardTarget(models, f.id) === modelId) await forwardFrozen(ph, f, onStep);
  await ph.collectSales(modelId);
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
 * parents; a frozen descendant's vault forwards its whole balance to its parent), then claims in each vault where
 * something is claimable. Anyone may move revenue along; the claims always pay `who`. A frozen vault is forwarded
 * only when it is below one `who` holds shares in: forwarding a frozen vault `who` merely holds would pay others.
 */
export async function claimAll(ph: PostHumanCore, who: string): Promise<ClaimAllResult> {
  const models = await ph.registry.list();
  const held = new Set<bigint>();
  for (const m of models) if ((await ph.vault(m.vault).position(who)).shares > 0n) held.add(m.id);
  // Descendants send royalties up: include every model whose ancestry reaches a held one (parents come first).
  const below = new Set<bigint>();
  for (const m of models) if (m.parentId !== 0n && (held.has(m.parentId) || below.has(m.parentId))) below.add(m.id);
  const out: ClaimAllResult = { collected: [], forwarded: [], distributed: [], claimed: [] };
  for (const m of [...models].reverse()) {
    if (m.frozen) {
      const f = below.has(m.id) ? await forwardFrozen(ph, m) : undefined;
      if (f) out.forwarded.push(f);
      continue;
    }
    if (!held.has(m.id) && !below.has(m.id)) continue;
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

/**
 * A payment to a frozen model: its vault pays its own holders nothing, and its `distribute` sends its whole balance to
 * the parent's vault (RoyaltyVault `_forwardFrozen`). Refused (MODEL_FROZEN, nothing paid) unless the payer means it
 * (`toFrozen`), and always when no live ancestor would receive it (the contracts freeze only a Train receipt's child,
 * so this does not happen). Returns, for a frozen model paid anyway, where the payment goes.
 */
export async function refuseFrozenPayment(
  ph: PostHumanCore,
  m: ModelRecord,
  toFrozen: boolean,
): Promise<string | undefined> {
  if (!m.frozen) return undefined;
  const reaches = forwardTarget(await ph.registry.list(), m.id);
  const why = `Model ${m.id} is frozen (the challenge of the training that created it was upheld)`;
  const data = { modelId: m.id, forwardsTo: m.parentId, reaches };
  if (m.parentId === 0n || reaches === 0n)
    throw new SdkError(
      "MODEL_FROZEN",
      `${why} and has no live ancestor: its vault pays its holders nothing and has no parent's vault to forward to, ` +
        "so a payment would stay locked in it. Nothing was paid.",
      undefined,
      { data },
    );
  const via = reaches === m.parentId ? "" : `, itself frozen, and on to model ${reaches}'s`;
  const where =
    `its vault pays its holders nothing and forwards everything it receives to its parent's vault (model ` +
    `${m.parentId}${via}), whose holders share it`;
  if (!toFrozen)
    throw new SdkError("MODEL_FROZEN", `${why}: ${where}. Nothing was paid.`, `pay model ${reaches} instead`, { data });
  return `${why}: ${where}.`;
}

/** Pays base token into a model's vault (PostHumanCore.pay): a frozen model only with `toFrozen` (refuseFrozenPayment). */
export async function payModel(
  ph: PostHumanCore,
  modelId: bigint,
  amount: bigint,
  toFrozen: boolean,
  onStep: (line: string) => void = () => undefined,
): Promise<{ approvals: string[]; frozen?: string } & Sent> {
  const m = await ph.registry.get(modelId);
  const frozen = await refuseFrozenPayment(ph, m, toFrozen);
  const vault = `model ${modelId}'s vault (${m.vault})`;
  const approvals = await ph.ensureBase(amount, m.vault, `pay ${amountText(amount)} OCEAN`, vault);
  onStep(`Paying ${amountText(amount)} OCEAN to model ${modelId}'s vault…`);
  return { ...(await ph.vault(m.vault).pay(amount)), approvals, ...(frozen ? { frozen } : {}) };
}
