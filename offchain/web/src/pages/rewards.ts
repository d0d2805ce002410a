/** Rewards: the account's vault shares per model, what it can claim now, what waits to be booked, and claim buttons. */
import { ethers } from "ethers";
import { errorBox, runAction, type App } from "../app";
import { fill, h, table, type Child } from "../dom";
import { percent, tokens } from "../format";

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
    const v = app.market.vault(m.record.vault);
    const [shares, total, [base, dt], [pBase, pDt]] = await Promise.all([
      v.balanceOf(a.address),
      v.totalSupply(),
      v.claimable(a.address),
      v.pending(),
    ]);
    if (shares === 0n && base === 0n && dt === 0n) continue;
    let unsold = 0n;
    if (m.record.exchangeId !== ethers.ZeroHash) {
      unsold = (await app.market.fre.getExchange(m.record.exchangeId)).btBalance;
    }
    const waitingBase = ((pBase + unsold) * shares) / (total || 1n);
    const waitingDt = (pDt * shares) / (total || 1n);
    const status = h("div", { class: "status", "aria-live": "polite" });
    const claimable = h("span", { class: "claimable" }, `${tokens(base)} OCEAN + ${tokens(dt)} datatokens`);
    const button = h("button", { type: "button", class: "small" }, `Claim model #${m.id}`);
    button.addEventListener("click", () => {
      void runAction(
        button,
        status,
        (say) => app.actions(say).claim(m.id),
        (r) => `Claimed ${tokens(r.base)} OCEAN and ${tokens(r.datatokens)} datatokens.`,
      ).then((r) => {
        if (r) fill(claimable, `0 OCEAN + 0 datatokens`);
      });
    });
    rows.push([
      h("a", { href: `#/model/${m.id}` }, `${m.name} (#${m.id})`),
      percent(shares, total),
      claimable,
      waitingBase > 0n || waitingDt > 0n
        ? `about ${tokens(waitingBase)} OCEAN + ${tokens(waitingDt)} datatokens`
        : "nothing",
      h("div", { class: "inline", "data-model": m.id.toString() }, button, status),
    ]);
  }
  main.appendChild(
    h(
      "p",
      { class: "lead" },
      "A model's vault receives its sales and the datatokens its jobs consume; a derived model sends 20% of its base-token revenue up to its parent's vault. Claiming first collects and books what is waiting (anyone may), then pays your share.",
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
