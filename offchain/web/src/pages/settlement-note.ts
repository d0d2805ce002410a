/**
 * A derived model's page says, before anyone presses Buy, when the training receipt that created it can still be
 * challenged (and the model frozen, its datatokens then unsellable): the SDK's own words (sdk/settlement.ts), the ones
 * its purchase check refuses with. Read once the page is shown, and again when the challenge window closes (a note
 * that said "until 14:58" is not left up after 14:58); nothing for a root or settled model.
 */
import { isUnsettled, modelSettlement, unsettledWarning, type PostHumanCore } from "../../../sdk/browser";
import type { App } from "../app";
import { fill, h } from "../dom";
import { clock } from "../format";

export function settlementNote(app: App, modelId: bigint): HTMLElement {
  const el = h("p", { class: "unsettled", "aria-live": "polite" });
  let ph: PostHumanCore;
  try {
    ph = app.actions().ph; // the core's reads (no account: no purchase, no note)
  } catch {
    return el;
  }
  const show = (): Promise<void> =>
    modelSettlement(ph, modelId)
      .then((s) => {
        if (!isUnsettled(s)) return fill(el);
        const closed = s.state === "challengeable" && Date.now() / 1000 > Number(s.closesAt);
        // The window closed by this machine's clock (the chain's next block is later still): no challenge can come.
        if (closed) {
          return fill(
            el,
            `The challenge window of job ${s.jobId}, which created model ${modelId}, closed at ${clock(s.closesAt)} ` +
              "without a challenge: the model stands (the job settles when its worker settles it).",
          );
        }
        fill(el, h("strong", null, "Not settled yet. "), unsettledWarning(s));
        if (s.state === "challengeable") {
          const wait = Math.max(1_000, (Number(s.closesAt) + 1) * 1000 - Date.now());
          // Read again when it closes, while the note is on the page (or is about to be: the page may still render).
          setTimeout(() => void (el.isConnected || Date.now() - started < 60_000 ? show() : undefined), wait);
        }
      })
      .catch(() => undefined);
  const started = Date.now();
  void show();
  return el;
}
