/**
 * The job page's "Reclaim the job" panel: once a job's deadline passed (in chain time) while it is still open or
 * claimed, no worker can deliver it any more, and anyone may reclaim it: the fee and the datatoken go back to its
 * requester, and a claimant's collateral too (its penalty for missing the deadline).
 */
import { runAction, who, type App } from "../app";
import { fill, h } from "../dom";
import { clock, tokens } from "../format";

export function reclaimPanel(app: App, jobId: bigint, refreshed: () => Promise<void>) {
  const el = h("div");
  const status = h("div", { class: "status", "aria-live": "polite" });
  const button = h("button", { type: "button" }, "Reclaim this job");
  let shown = "";
  button.addEventListener("click", () => {
    void runAction(
      button,
      status,
      (say) => app.actions(say).reclaim(jobId),
      (r) =>
        `Job ${jobId} is reclaimed: its fee of ${tokens(r.refund)} OCEAN and the datatoken went back to ` +
        `${who(app, r.requester)}` +
        (r.slashed > 0n ? `, with the claimant's collateral of ${tokens(r.slashed)} OCEAN.` : "."),
    ).finally(() => void refreshed());
  });

  /**
   * Shows the panel while the job is open or claimed past its deadline (`due`); `claimant` is its worker (the zero
   * address when unclaimed) and `collateral` what its claim locked.
   */
  const update = (o: { due: boolean; deadline: bigint; claimed: boolean; collateral: bigint; fee: bigint }) => {
    const k = `${o.due}:${o.claimed}`;
    if (k === shown) return;
    shown = k;
    // Once reclaimed, what the reclaim did stays on the page.
    if (!o.due) return fill(el, status.textContent ? status : null);
    fill(
      el,
      h(
        "section",
        { class: "panel", "aria-labelledby": "reclaim-title", id: "reclaim" },
        h("h2", { id: "reclaim-title" }, "Reclaim the job"),
        h(
          "p",
          null,
          `The deadline passed at ${clock(o.deadline)} without a receipt: no worker can deliver this job any more. `,
          "Anyone may reclaim it: ",
          `its fee (${tokens(o.fee)} OCEAN) and the datatoken go back to its requester`,
          o.claimed
            ? `, and so does the claimant's collateral (${tokens(o.collateral)} OCEAN), its penalty for missing the deadline.`
            : " (no worker claimed it, so there is no collateral).",
          " Only the gas of the transaction is spent.",
        ),
        button,
        status,
      ),
    );
  };
  return { el, update };
}
