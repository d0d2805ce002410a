/**
 * The job page's "Dispute the failure" panel, for the requester of a job its claimant failed blaming the input
 * (missing, broken, not what was committed) within the failure's dispute window: the claimant's collateral is held
 * then, and the claimant's signed acknowledgement that it received the input (kept in this browser at the request,
 * acks.ts, or pasted) proves the blame false and slashes that collateral to the requester.
 */
import { failReasonName } from "../../../protocol/job-spec";
import { errorBox, runAction, type App } from "../app";
import { ackOf, browserStorage } from "../acks";
import { field, fill, h } from "../dom";
import { tokens } from "../format";

export function disputePanel(app: App, jobId: bigint, refreshed: () => Promise<void>) {
  const el = h("div");
  const status = h("div", { class: "status", "aria-live": "polite" });
  const ackInput = h("textarea", { rows: 2, class: "ack", spellcheck: false });
  const button = h("button", { type: "button" }, "Dispute this failure");
  let shown = "";
  button.addEventListener("click", () => {
    void runAction(
      button,
      status,
      (say) => app.actions(say).dispute(jobId, ackInput.value.trim()),
      (r) =>
        `Disputed: the worker failed job ${jobId} as ${r.reason} after acknowledging its input; its collateral of ${tokens(r.slashed)} OCEAN is yours.`,
    ).finally(() => void refreshed());
  });

  /** Shows the panel while the failure holds the claimant's collateral (else says why there is nothing to do). */
  const update = async (isRequester: boolean): Promise<void> => {
    if (!isRequester) return fill(el);
    let reason: bigint, held: boolean;
    try {
      [reason, held] = await app.market.ph.jobMarket.failureOf(jobId);
    } catch (e) {
      return fill(el, errorBox(e));
    }
    const name = failReasonName(reason) ?? `reason ${reason}`;
    const k = `${name}:${held}`;
    if (k === shown) return;
    shown = k;
    if (!held) {
      return fill(
        el,
        h("p", { class: "hint" }, `The job failed as ${name}; nothing is held for a dispute (there is nothing to do).`),
      );
    }
    const market = app.market.ph.jobMarket.target as string;
    const storage = browserStorage();
    const kept = storage ? ackOf(storage, market, jobId) : undefined;
    // The worker says the input never came, and it signed no acknowledgement of one here: nothing proves otherwise
    // from this browser (an acknowledgement kept elsewhere, by the CLI, is disputed from there).
    if (name === "INPUT_MISSING" && !kept) {
      return fill(
        el,
        h(
          "p",
          { class: "hint" },
          "The worker failed this job as INPUT_MISSING, and no acknowledgement of your input is kept in this browser: " +
            "the worker never signed that it received it, so there is nothing to dispute here. (If you uploaded it " +
            `with the command line, it kept the acknowledgement: posthuman job dispute ${jobId}.)`,
        ),
      );
    }
    ackInput.value = kept ?? "";
    fill(
      el,
      h(
        "section",
        { class: "panel", "aria-labelledby": "dispute-title", id: "dispute" },
        h("h2", { id: "dispute-title" }, "Dispute the failure"),
        h(
          "p",
          null,
          `The worker failed this job as ${name}, blaming your input, and its collateral is held for a dispute window. `,
          "If it had signed that it received your input, that acknowledgement proves the blame false: disputing slashes its collateral to you.",
        ),
        field(
          "The worker's acknowledgement of your input",
          ackInput,
          kept
            ? "Kept in this browser when you requested the job."
            : "None was kept in this browser: paste it if you have it (the CLI keeps it in its data dir).",
        ),
        button,
        status,
      ),
    );
  };
  return { el, update };
}
