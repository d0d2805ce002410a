/**
 * The job page's "Verify" panel: the receipt checked against what the page can see (the weights the chain records for
 * the model, the result's hash, the person's own input), and who can re-run the job with the command line.
 */
import { ethers } from "ethers";
import { errorBox, type App } from "../app";
import type { JobInfo, ModelInfo, ReceiptView } from "../chain";
import { field, fill, h } from "../dom";
import { short } from "../format";
import { apiOf } from "../../../sdk/browser";
import { sha256Hex } from "../../../protocol/auth";

export function verifyPanel(
  app: App,
  job: JobInfo,
  r: ReceiptView,
  model: ModelInfo | undefined,
  currentResult: () => { bytes: Uint8Array; hash: string; matches: boolean } | undefined,
  isRequester: () => boolean,
): HTMLElement {
  const inputFile = h("input", { type: "file", name: "verify-input" });
  const out = h("div", { class: "verdict", "aria-live": "polite" });
  const button = h("button", { type: "button" }, "Verify this receipt");
  button.addEventListener("click", () => {
    button.disabled = true;
    void (async () => {
      const checks: { name: string; ok: boolean; note: string }[] = [];
      const rec = model?.record.weightsRoot ?? ethers.ZeroHash;
      checks.push({
        name: "The worker served the model's recorded weights",
        ok: rec.toLowerCase() === r.servedWeightsRoot.toLowerCase(),
        note: `served ${short(r.servedWeightsRoot, 6)}, recorded ${short(rec, 6)}`,
      });
      if (isRequester()) {
        const res = currentResult() ?? (await app.actions().result(job.id, r.outputHash));
        checks.push({
          name: "The result downloaded from the worker hashes to the receipt's output hash",
          ok: res.matches,
          note: `sha256 ${short(res.hash, 6)}, receipt ${short(r.outputHash, 6)}`,
        });
      } else {
        const w = await apiOf(app.market.ph.jobMarket, app.worker, job.worker)
          .then((api) => api.jobStatus(job.id))
          .catch(() => undefined);
        if (w?.outputHash) {
          checks.push({
            name: "The worker's stored result is the one in the receipt",
            ok: String(w.outputHash).toLowerCase() === r.outputHash.toLowerCase(),
            note: "only the requester can download the result itself and hash it",
          });
        }
      }
      // The input's commitment is the one the request made, so a file that differs from it is the wrong file, never
      // the worker's doing: it must not lead anyone to a challenge (and its lost bond).
      const f = inputFile.files?.[0];
      const workerOk = checks.every((c) => c.ok);
      if (f) {
        const h2 = sha256Hex(new Uint8Array(await f.arrayBuffer()));
        checks.push({
          name: "Your input file is the one the job committed to",
          ok: h2.toLowerCase() === job.inputHash.toLowerCase(),
          note: `sha256 ${short(h2, 6)}, commitment ${short(job.inputHash, 6)}`,
        });
      }
      const ok = checks.every((c) => c.ok);
      const [verdict, advice] = ok
        ? ["Verified. ", "Every check below holds."]
        : !workerOk
          ? [
              "Mismatch. ",
              "What the worker serves is not what its receipt commits to. Before challenging (a right receipt " +
                `loses the bond), re-run the job: ./posthuman job verify ${job.id}; a challenge is decided on that.`,
            ]
          : [
              "Not your input. ",
              "The file you chose is not the one this job committed to when it was requested, which is no fault of " +
                "the worker's: choose the file you uploaded. Do not challenge on this (the bond would be lost).",
            ];
      fill(
        out,
        h("p", { class: `verdict-line ${ok ? "ok" : "bad"}` }, h("strong", null, verdict), advice),
        h(
          "ul",
          { class: "checks" },
          checks.map((c) =>
            h(
              "li",
              { class: c.ok ? "ok" : "bad" },
              h("strong", null, c.ok ? "✓ " : "✗ "),
              c.name,
              h("span", { class: "hint" }, ` (${c.note})`),
            ),
          ),
        ),
      );
    })()
      .catch((e: unknown) => fill(out, errorBox(e)))
      .finally(() => {
        button.disabled = false;
      });
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "verify-title", id: "verify" },
    h("h2", { id: "verify-title" }, "Verify"),
    h(
      "p",
      null,
      "The page checks the receipt against what it can see: the weights the chain records for the model, the result's hash, and, if you give it, your input. ",
      "Re-running the job to check that the worker computed it honestly is the command line's job: ",
      h("code", null, `./posthuman job verify ${job.id} --input <the job's input> --model <the model's folder>`),
      ".",
    ),
    h(
      "p",
      { class: "hint who-verifies" },
      "Who can run it: whoever holds the job's input (its requester) and the model's weights. Buyers get compute, " +
        "never the files: for a root model that is its publisher (the folder it published); for a derived model, its " +
        "root's folder and the training input of every finetune from the root down to it, since the command rebuilds " +
        "the model by re-running them. Anyone else can check what this page checks, and challenge a receipt on a " +
        "mismatch there.",
    ),
    field("Your input file (optional)", inputFile, "Its sha256 is compared with the job's input commitment."),
    button,
    out,
  );
}
