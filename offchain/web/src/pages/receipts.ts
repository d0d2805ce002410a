/**
 * Every job's receipt: model, weights root that served it, input and output hashes, a link to verify it, and one to
 * challenge it while it can be (the job's page says until when).
 */
import { JobStatus } from "../../../protocol/params";
import { who, type App } from "../app";
import { fill, h, table } from "../dom";
import { KIND_LABEL, short, STATUS_LABEL } from "../format";
import type { JobInfo, Snapshot } from "../chain";

/** The connected account's own jobs, newest first, each a link to its page (progress, result, receipt). */
function myJobs(app: App, jobs: JobInfo[], snap: Snapshot): HTMLElement | null {
  const me = app.account?.address.toLowerCase();
  if (!me) return null;
  const mine = jobs.filter((j) => j.requester.toLowerCase() === me);
  return h(
    "section",
    { class: "panel", "aria-labelledby": "my-jobs-title", id: "my-jobs" },
    h("h2", { id: "my-jobs-title" }, "Your jobs"),
    mine.length
      ? h(
          "ul",
          { class: "my-jobs" },
          mine.map((j) =>
            h(
              "li",
              null,
              h("a", { href: `#/job/${j.id}` }, `Job ${j.id}`),
              ` · ${KIND_LABEL[j.kind]} on ${snap.byId.get(j.modelId.toString())?.name ?? `model #${j.modelId}`} · `,
              h("span", { class: "state" }, STATUS_LABEL[j.status]),
            ),
          ),
        )
      : h("p", null, "You have requested no job yet: open a model and run one."),
  );
}

export async function receiptsPage(app: App, main: HTMLElement): Promise<void> {
  const snap = await app.snapshot();
  const jobs = [...snap.jobs.values()].sort((a, b) => Number(b.id - a.id));
  const code = (label: string, v: string) => h("code", { class: "hash", title: `${label} ${v}` }, short(v, 6));
  fill(
    main,
    h("h1", { tabindex: -1 }, "Receipts"),
    h(
      "p",
      { class: "lead" },
      "Your jobs first, then every job's receipt. Every job leaves a receipt on chain: the weights root of the model that served it, the hash of its input and of its output, the runtime and the seed. Open a job to verify its receipt.",
    ),
    myJobs(app, jobs, snap),
    jobs.length
      ? table(
          "All jobs",
          ["Job", "Kind", "Model", "Requester", "Status", "Weights root", "Input hash", "Output hash", "Verify"],
          jobs.map((j) => [
            h("a", { href: `#/job/${j.id}` }, `Job ${j.id}`),
            KIND_LABEL[j.kind],
            h("a", { href: `#/model/${j.modelId}` }, snap.byId.get(j.modelId.toString())?.name ?? `#${j.modelId}`),
            who(app, j.requester),
            j.status === JobStatus.Submitted
              ? [STATUS_LABEL[j.status], h("br"), h("a", { href: `#/job/${j.id}/challenge` }, `Challenge job ${j.id}`)]
              : STATUS_LABEL[j.status],
            j.receipt ? code("served weights root", j.receipt.servedWeightsRoot) : "—",
            code("input hash", j.inputHash),
            j.receipt ? code("output hash", j.receipt.outputHash) : "—",
            j.receipt ? h("a", { href: `#/job/${j.id}/verify`, class: "button small" }, `Verify job ${j.id}`) : "",
          ]),
          { class: "receipts" },
        )
      : h("p", null, "No job has been requested yet."),
  );
}
