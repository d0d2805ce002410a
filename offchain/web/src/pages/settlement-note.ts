/**
 * A derived model's page says, before anyone presses Buy, when the training receipt that created it can still be
 * challenged (and the model frozen, its datatokens then unsellable): the SDK's own words (sdk/settlement.ts), the ones
 * its purchase check refuses with. Read once the page is shown; nothing for a root or settled model.
 */
import { isUnsettled, modelSettlement, unsettledWarning } from "../../../sdk/browser";
import type { App } from "../app";
import { fill, h } from "../dom";

export function settlementNote(app: App, modelId: bigint): HTMLElement {
  const el = h("p", { class: "unsettled", "aria-live": "polite" });
  let ph;
  try {
    ph = app.actions().ph; // the core's reads (no account: no purchase, no note)
  } catch {
    return el;
  }
  void modelSettlement(ph, modelId)
    .then((s) => {
      if (isUnsettled(s)) fill(el, h("strong", null, "Not settled yet. "), unsettledWarning(s));
    })
    .catch(() => undefined);
  return el;
}
