/**
 * Every job's receipt: model, weights root that served it, input and output hashes, a link to verify it, and one to
 * challenge it while it can be (the job's page says until when).
 */
import { JobStatus } from "../../../protocol/params";
import { who, type App } from "../app";
import { fill, h, table } from "../dom";
import { KIND_LABEL, short, STATUS_LABEL } from "../format";

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
      "Every job leaves a receipt on chain: the weights root of the model that served it, the hash of its input and of its output, the runtime and the seed. Open a job to verify its receipt.",
    ),
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
