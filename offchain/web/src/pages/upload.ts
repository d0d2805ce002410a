/**
 * The job page's "Upload the input again" panel, for the requester of a job whose input did not reach the worker (the
 * page was reloaded or the connection lost during the first upload, or the upload failed): while the job is open or
 * claimed before its deadline and the worker has not acknowledged an input, the person chooses the file (or pastes the
 * text) again; the page checks it against the job's input commitment before sending it (actions.ts `uploadInput`), and
 * keeps the worker's acknowledgement as a first upload does.
 */
import { ethers } from "ethers";
import { runAction, type App } from "../app";
import { field, fill, h } from "../dom";
import { UserError } from "../errors";
import { sha256Hex } from "../../../protocol/auth";

export function uploadPanel(app: App, jobId: bigint, inputHash: string, refreshed: () => Promise<void>) {
  const el = h("div");
  const status = h("div", { class: "status", "aria-live": "polite" });
  const file = h("input", { type: "file", name: "reupload-file" });
  const text = h("textarea", { rows: 3, name: "reupload-text", spellcheck: false });
  const button = h("button", { type: "button" }, "Upload the input again");
  let shown: boolean | undefined;
  let uploaded = false;
  button.addEventListener("click", () => {
    void runAction(
      button,
      status,
      async (say) => {
        const f = file.files?.[0];
        let bytes: Uint8Array;
        if (f) bytes = new Uint8Array(await f.arrayBuffer());
        else if (text.value) {
          // Prompts typed in the form were sent with a final newline: the text as typed, or with it.
          bytes = ethers.toUtf8Bytes(text.value);
          const nl = ethers.toUtf8Bytes(`${text.value}\n`);
          if (sha256Hex(bytes) !== inputHash.toLowerCase() && sha256Hex(nl) === inputHash.toLowerCase()) bytes = nl;
        } else throw new UserError("Choose the input's file, or paste its text.", "Nothing was sent.");
        await app.actions(say).uploadInput(jobId, bytes, f ? f.name : "the text", inputHash);
      },
      () => `The worker received job ${jobId}'s input and acknowledged it: the job goes on.`,
    ).then((r) => {
      if (r === undefined) return;
      uploaded = true;
      void refreshed();
    });
  });

  /** Shows the panel while the job waits for an input the worker has not acknowledged (`waits`). */
  const update = (waits: boolean): void => {
    const show = waits && !uploaded;
    if (show === shown) return;
    shown = show;
    if (!show) return fill(el, status.textContent ? status : null);
    fill(
      el,
      h(
        "section",
        { class: "panel", "aria-labelledby": "upload-title", id: "upload" },
        h("h2", { id: "upload-title" }, "Upload the input again"),
        h(
          "p",
          null,
          "The worker has not received this job's input (no acknowledgement of it is kept in this browser). ",
          "Send it again while the worker waits for it: otherwise the worker fails the job (INPUT_MISSING) and the ",
          "fee and the datatoken come back to you. The page checks that it is the input the job committed to ",
          `(sha256 ${inputHash.slice(0, 10)}…) before sending it.`,
        ),
        field("The input's file", file, "The file you requested the job with."),
        field("…or its text", text, "The text you typed, if you typed it (a chosen file is used instead)."),
        button,
        status,
      ),
    );
  };
  return { el, update };
}
