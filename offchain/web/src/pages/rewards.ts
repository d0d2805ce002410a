/** Rewards: the account's vault shares per model, what it can claim now, what waits to be booked, and claim buttons. */
import { ethers } from "ethers";
import { errorBox, runAction, type App } from "../app";
import { fill, h, table, type Child } from "../dom";
import { bpsPercent, percent, tokens } from "../format";
import type { ModelInfo } from "../chain";
import { forwardTarget, frozenFlows } from "../../../sdk/revenue";

interface Position {
  shares: bigint;
  total: bigint;
  base: bigint;
  dt: bigint;
  /**
   * The account's share of what waits to be booked: sales in the exchange, the vault's unbooked revenue and what
   * frozen descendants' vaults forward to it. Always 0 on a frozen model, whose vault pays its holders nothing.
   */
  waitingBase: bigint;
  waitingDt: bigint;
  /** A frozen model's: base token its vault sends to its parent's vault at its next distribution (all of it). */
  forwarding: bigint;
  /** A frozen model's: its datatokens in its vault, burned at its next distribution. */
  burning: bigint;
}

/**
 * What frozen models' vaults hold (the SDK's `frozenFlows`): a frozen vault sends its whole base-token balance to its
 * parent's vault at its next distribution (the parent's Claim sends it) and burns its datatokens.
 */
async function frozenNow(app: App, models: ModelInfo[]) {
  const frozen = models.filter((m) => m.record.frozen);
  const held = await Promise.all(
    frozen.map(async (m) => {
      const v = app.market.vault(m.record.vault);
      const [[pBase, pDt], [oBase, oDt]] = await Promise.all([v.pending(), v.owed()]);
      return { base: pBase + oBase, dt: pDt + oDt };
    }),
  );
  const links = models.map((m) => ({ id: m.id, parentId: m.record.parentId, frozen: m.record.frozen }));
  const flows = frozenFlows(links, new Map(frozen.map((m, i) => [m.id, held[i].base])));
  return { ...flows, burning: new Map(frozen.map((m, i) => [m.id, held[i].dt])) };
}

async function position(
  app: App,
  m: ModelInfo,
  account: string,
  frozen: Awaited<ReturnType<typeof frozenNow>>,
): Promise<Position> {
  const v = app.market.vault(m.record.vault);
  const [shares, total, [base, dt], [pBase, pDt]] = await Promise.all([
    v.balanceOf(account),
    v.totalSupply(),
    v.claimable(account),
    v.pending(),
  ]);
  if (m.record.frozen)
    return {
      shares,
      total,
      base,
      dt,
      waitingBase: 0n,
      waitingDt: 0n,
      forwarding: frozen.forwarding.get(m.id) ?? 0n,
      burning: frozen.burning.get(m.id) ?? 0n,
    };
  const unsold =
    m.record.exchangeId === ethers.ZeroHash ? 0n : (await app.market.fre.getExchange(m.record.exchangeId)).btBalance;
  const fromFrozen = frozen.incoming.get(m.id) ?? 0n;
  return {
    shares,
    total,
    base,
    dt,
    waitingBase: ((pBase + unsold + fromFrozen) * shares) / (total || 1n),
    waitingDt: (pDt * shares) / (total || 1n),
    forwarding: 0n,
    burning: 0n,
  };
}

/** A frozen model's "waiting" cell: nothing for its holders, and where its vault's balance goes. */
function frozenWaiting(m: ModelInfo, p: Position): Child[] {
  const parent = m.record.parentId;
  return [
    h("span", { class: "badge danger" }, "frozen"),
    ` Forwarded to model #${parent}: nothing here is paid to this model's holders.`,
    p.forwarding > 0n || p.burning > 0n
      ? h(
          "span",
          { class: "hint block" },
          p.forwarding > 0n
            ? `${tokens(p.forwarding)} OCEAN in its vault moves to model #${parent}'s vault when model #${parent} is claimed.`
            : "",
          p.burning > 0n ? ` ${tokens(p.burning)} of its datatokens are burned then.` : "",
        )
      : null,
  ];
}

export async function rewardsPage(app: App, main: HTMLElement): Promise<void> {
  const a = app.account;
  fill(main, h("h1", { tabindex: -1 }, "Rewards"));
  if (!a) {
    main.appendChild(
      h(
        "p",
        null,
        "Connect an account to see your shares of the models' royalty vaults and claim what they earned.",
        app.local ? " On the local chain, pick a dev account at the top of the page." : "",
      ),
    );
    return;
  }
  const snap = await app.snapshot();
  const frozenFirst = await frozenNow(app, snap.models);
  const links = snap.models.map((m) => ({ id: m.id, parentId: m.record.parentId, frozen: m.record.frozen }));
  const reaches = (id: bigint) => forwardTarget(links, id);
  const rows: Child[][] = [];
  // After a claim every row is read again: a claim may have forwarded a frozen model's vault to its parent's.
  const refresh: (() => Promise<void>)[] = [];
  for (const m of snap.models) {
    const first = await position(app, m, a.address, frozenFirst);
    if (first.shares === 0n && first.base === 0n && first.dt === 0n) continue;
    const status = h("div", { class: "status", "aria-live": "polite" });
    const claimable = h("span", { class: "claimable" });
    const waiting = h("span", { class: "waiting" });
    const show = (p: Position) => {
      fill(claimable, `${tokens(p.base)} OCEAN + ${tokens(p.dt)} datatokens`);
      if (m.record.frozen) {
        fill(waiting, ...frozenWaiting(m, p));
        return;
      }
      const waits = p.waitingBase > 0n || p.waitingDt > 0n;
      fill(
        waiting,
        waits ? `about ${tokens(p.waitingBase)} OCEAN + ${tokens(p.waitingDt)} datatokens` : "nothing",
        waits && p.base === 0n && p.dt === 0n
          ? h("span", { class: "hint block" }, "Not claimable yet, but Claim books it first and pays it to you.")
          : null,
      );
    };
    show(first);
    refresh.push(async () => show(await position(app, m, a.address, await frozenNow(app, snap.models))));
    const action = m.record.frozen
      ? h("span", { class: "hint" }, `Frozen: no claims. Claim model #${reaches(m.id)} instead.`)
      : h("button", { type: "button", class: "small" }, `Claim model #${m.id}`);
    if (action instanceof HTMLButtonElement)
      action.addEventListener("click", () => {
        void runAction(
          action,
          status,
          (say) => app.actions(say).claim(m.id),
          (r) => `Claimed ${tokens(r.base)} OCEAN and ${tokens(r.datatokens)} datatokens.`,
        ).then(async (r) => {
          if (r) for (const again of refresh) await again(); // the figures are read again from the chain
        });
      });
    rows.push([
      h("a", { href: `#/model/${m.id}` }, `${m.name} (#${m.id})`),
      percent(first.shares, first.total),
      claimable,
      waiting,
      h("div", { class: "inline", "data-model": m.id.toString() }, action, status),
    ]);
  }
  main.appendChild(
    h(
      "p",
      { class: "lead" },
      `A model's vault receives its sales and the datatokens its jobs consume; a derived model sends ${bpsPercent(snap.parentRoyaltyBps)} of its base-token revenue up to its parent's vault. “Claimable now” is what the vault has booked for you. “Waiting to be booked” is your share of sales still in Ocean's exchange and of revenue the vault has not booked yet: the Claim button first collects and books it (anyone may), then pays everything to you. A frozen model (its training was proved wrong) pays its holders nothing: everything its vault holds goes to its parent's vault, and the parent's Claim moves it there.`,
    ),
  );
  try {
    main.appendChild(
      rows.length
        ? table("Your vault shares", ["Model", "Your share", "Claimable now", "Waiting to be booked", "Claim"], rows, {
            class: "rewards",
          })
        : h("p", null, "You hold no vault shares yet. Publish a model or finetune one to earn a share of its revenue."),
    );
  } catch (e) {
    main.appendChild(errorBox(e));
  }
}
