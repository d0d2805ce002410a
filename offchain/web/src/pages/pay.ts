/**
 * The model page's "Pay a licence" panel (the CLI's `posthuman pay`): OCEAN paid straight into the model's royalty
 * vault, shared by its holders like any revenue (a child's vault sends its parent's share up). The SDK checks first,
 * before any approval, that the account holds the amount and that the model is not frozen (a frozen model's vault pays
 * its holders nothing and forwards everything to its parent's: paid only when the box says so); the result names the
 * payment's transaction.
 */
import { runAction, type App } from "../app";
import type { ModelInfo, Snapshot } from "../chain";
import { field, h } from "../dom";
import { bpsPercent, parseTokens, tokens } from "../format";

export function payPanel(app: App, snap: Snapshot, m: ModelInfo): HTMLElement {
  const amount = h("input", { type: "text", inputmode: "decimal", value: "1", name: "pay-amount" });
  const toFrozen = h("input", { type: "checkbox", name: "pay-to-frozen" });
  const status = h("div", { class: "status", "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "secondary" }, "Pay the model");
  const form = h(
    "form",
    { class: "pay" },
    h(
      "p",
      { class: "hint" },
      "A licence fee or a tip, in OCEAN, paid straight into this model's royalty vault: its contributors share it ",
      "like any revenue",
      m.record.parentId > 0n ? `, and ${bpsPercent(snap.parentRoyaltyBps)} goes up to the parent's vault.` : ".",
      " You get no datatoken for it.",
    ),
    field("OCEAN to pay", amount),
    m.record.frozen
      ? field(
          "Pay it anyway",
          toFrozen,
          "This model is frozen: all of it goes to its parent's vault, none to its own holders.",
        )
      : null,
    button,
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void runAction(
      button,
      status,
      (say) => {
        const value = parseTokens(amount.value, "The amount");
        return app
          .actions(say)
          .pay(m.id, value, toFrozen.checked)
          .then((r) => ({ ...r, value }));
      },
      (r) => [
        `Paid ${tokens(r.value)} OCEAN to model ${m.id}'s vault`,
        r.frozen ? ": it goes to its parent's vault at its next distribution." : ": its holders share it.",
        " Transaction ",
        h("code", { class: "hash wrap tx" }, r.txHash),
      ],
    );
  });
  const hid = "pay-title";
  return h(
    "section",
    { id: "pay", "aria-labelledby": hid, class: "panel" },
    h("h2", { id: hid }, "Pay a licence"),
    form,
  );
}
