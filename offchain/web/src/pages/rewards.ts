/** Rewards: the account's vault shares per model, what it can claim now, what waits to be booked, and claim buttons. */
import { ethers } from "ethers";
import { errorBox, runAction, type App } from "../app";
import { fill, h, table, type Child } from "../dom";
import { percent, tokens } from "../format";
import type { ModelInfo } from "../chain";

interface Position {
  shares: bigint;
  total: bigint;
  base: bigint;
  dt: bigint;
  /** The account's share of what waits to be booked: sales in the exchange and the vault's unbooked revenue. */
  waitingBase: bigint;
  waitingDt: bigint;
}

async function position(app: App, m: ModelInfo, account: string): Promise<Position> {
  const v = app.market.vault(m.record.vault);
  const [shares, total, [base, dt], [pBase, pDt]] = await Promise.all([
    v.balanceOf(account),
    v.totalSupply(),
    v.claimable(account),
    v.pending(),
  ]);
  const unsold =
    m.record.exchangeId === ethers.ZeroHash ? 0n : (await app.market.fre.getExchange(m.record.exchangeId)).btBalance;
  return {
    shares,
    total,
    base,
    dt,
    waitingBase: ((pBase + unsold) * shares) / (total || 1n),
    waitingDt: (pDt * shares) / (total || 1n),
  };
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
  const rows: Child[][] = [];
  for (const m of snap.models) {
    const read = () => position(app, m, a.address);
    const first = await read();
    if (first.shares === 0n && first.base === 0n && first.dt === 0n) continue;
    const status = h("div", { class: "status", "aria-live": "polite" });
    const claimable = h("span", { class: "claimable" });
    const waiting = h("span", { class: "waiting" });
    const show = (p: Position) => {
      fill(claimable, `${tokens(p.base)} OCEAN + ${tokens(p.dt)} datatokens`);
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
    const button = h("button", { type: "button", class: "small" }, `Claim model #${m.id}`);
    button.addEventListener("click", () => {
      void runAction(
        button,
        status,
        (say) => app.actions(say).claim(m.id),
        (r) => `Claimed ${tokens(r.base)} OCEAN and ${tokens(r.datatokens)} datatokens.`,
      ).then(async (r) => {
        if (r) show(await read()); // the row's figures are read again from the chain
      });
    });
    rows.push([
      h("a", { href: `#/model/${m.id}` }, `${m.name} (#${m.id})`),
      percent(first.shares, first.total),
      claimable,
      waiting,
      h("div", { class: "inline", "data-model": m.id.toString() }, button, status),
    ]);
  }
  main.appendChild(
    h(
      "p",
      { class: "lead" },
      "A model's vault receives its sales and the datatokens its jobs consume; a derived model sends 20% of its base-token revenue up to its parent's vault. “Claimable now” is what the vault has booked for you. “Waiting to be booked” is your share of sales still in Ocean's exchange and of revenue the vault has not booked yet: the Claim button first collects and books it (anyone may), then pays everything to you.",
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
