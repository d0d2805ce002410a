/**
 * The job page's "Cancel the job" panel, for the requester of a job no worker has claimed (Open): cancelling gives back
 * its fee and the datatoken. When the worker said it will not run the job (its price, its deadline, its params), the
 * panel says why: otherwise the requester would wait for the deadline with its fee escrowed.
 */
import type { JobStatusView } from "../../../sdk/browser";
import { runAction, type App } from "../app";
import { fill, h } from "../dom";
import { tokens } from "../format";

export function cancelPanel(app: App, jobId: bigint, refreshed: () => Promise<void>) {
  const el = h("div");
  const status = h("div", { class: "status", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "secondary" }, "Cancel this job");
  let shown = "";
  button.addEventListener("click", () => {
    void runAction(
      button,
      status,
      (say) => app.actions(say).cancel(jobId),
      (r) => `Job ${jobId} is cancelled: its fee of ${tokens(r.refund)} OCEAN and your datatoken came back to you.`,
    ).finally(() => void refreshed());
  });

  /** Shows the panel to the requester while the job is open, with the worker's reason when it skipped the job. */
  const update = (open: boolean, isRequester: boolean, worker: JobStatusView | undefined): void => {
    const why = worker?.state === "skipped" && worker.error ? (worker.error.message ?? worker.error.code) : "";
    const k = `${open && isRequester}:${why}`;
    if (k === shown) return;
    shown = k;
    // Once cancelled, what the cancellation did stays on the page.
    if (!open || !isRequester) return fill(el, status.textContent ? status : null);
    fill(
      el,
      h(
        "section",
        { class: "panel", "aria-labelledby": "cancel-title", id: "cancel" },
        h("h2", { id: "cancel-title" }, "Cancel the job"),
        h(
          "p",
          null,
          why ? `The worker will not run this job: ${why}. ` : "No worker has taken this job yet. ",
          "Cancelling it gives you back its fee and your datatoken; only the gas of the request is spent.",
        ),
        button,
        status,
      ),
    );
  };
  return { el, update };
}
