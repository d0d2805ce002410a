/**
 * A model's page: lineage graph, evaluations against the baseline, contributors and their shares, price and the buy
 * and sell forms, the three job forms, and its recent receipts.
 */
import { errorBox, runAction, who, type App } from "../app";
import type { ListingInfo, ModelInfo, Snapshot } from "../chain";
import { field, fill, h, id, table, type Child } from "../dom";
import { UserError } from "../errors";
import {
  bpsPercent,
  datatokens,
  KIND_LABEL,
  loss,
  parseTokens,
  percent,
  perplexity,
  short,
  STATUS_LABEL,
  tokens,
} from "../format";
import { settlementNote } from "./settlement-note";
import { jobForms } from "./job-forms";
import { payPanel } from "./pay";
import { modelServed, unservedWarning } from "../serving";
import { baselineOf, benchmarkLabel, evalCaption, evalChart, evalRows, lineageGraph } from "./graphs";
import { baselineLabel, priceDetail, size } from "./catalogue";

/** How a datatoken amount is written: whole ones (each job consumes exactly one). */
const WHOLE = "1 or 2";

function section(idAttr: string, title: string, ...children: Child[]): HTMLElement {
  const hid = `${idAttr}-title`;
  return h("section", { id: idAttr, "aria-labelledby": hid, class: "panel" }, h("h2", { id: hid }, title), children);
}

function hash(label: string, value: string): HTMLElement {
  return h("code", { class: "hash", title: `${label} ${value}` }, short(value, 8));
}

/** The model card: description, licence, size and README (a root's from its publisher, a child's from its trainer). */
function modelCard(m: ModelInfo): HTMLElement {
  const c = m.card;
  return h(
    "section",
    { class: "panel model-card", "aria-labelledby": "card-title" },
    h("h2", { id: "card-title" }, "About this model"),
    h("p", null, c.description ?? "No description was given."),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Licence"),
      h("dd", null, c.license ?? "not stated"),
      h("dt", null, "Size"),
      h("dd", null, m.record.parentId > 0n && !c.sizeBytes ? "as its parent (same architecture)" : size(c.sizeBytes)),
    ),
    c.readme ? h("details", null, h("summary", null, "README"), h("pre", { class: "readme" }, c.readme)) : null,
  );
}

/** A message shown in a freshly rendered buy panel after an action that re-rendered it. */
interface Flash {
  where: "sell" | "own" | "listings";
  message: Child;
}

/** "Your listings": the account's open listings of the model, each with a cancel button. */
function ownListings(
  app: App,
  m: ModelInfo,
  mine: ListingInfo[],
  ownFlash: Child,
  refresh: (next: Flash) => Promise<void>,
): HTMLElement {
  return h(
    "div",
    { class: "own-listings" },
    h("h3", null, "Your listings"),
    ownFlash,
    mine.length
      ? [
          h(
            "p",
            { class: "hint" },
            m.record.frozen
              ? "This model is frozen: your listings can no longer be bought. Cancel them to get your datatokens back."
              : "The market holds these datatokens for you. Cancel a listing to get back what is left in it.",
          ),
          table(
            "Your open listings",
            ["Listing", "Left (held by the market)", "Price each", "Cancel"],
            mine.map((l) => {
              const status = h("div", { class: "status", "aria-live": "polite" });
              const button = h("button", { type: "button", class: "small secondary" }, `Cancel listing ${l.id}`);
              button.addEventListener("click", () => {
                void runAction(
                  button,
                  status,
                  (say) => app.actions(say).cancelListing(l.id),
                  (r) => `Cancelled: ${datatokens(r.returned)} came back to you.`,
                ).then(
                  (r) =>
                    r &&
                    refresh({
                      where: "own",
                      message: `Listing ${l.id} is cancelled: ${datatokens(r.returned)} came back to you.`,
                    }),
                );
              });
              return [
                `#${l.id}`,
                tokens(l.remaining),
                `${tokens(l.pricePerToken)} OCEAN`,
                h("div", { class: "inline", "data-own-listing": l.id.toString() }, button, status),
              ];
            }),
          ),
        ]
      : h("p", null, "You have no open listing of this model."),
  );
}

/** Said before anyone buys: no worker serves the model (registered, its files never uploaded), so it takes no job. */
function servingNote(app: App, modelId: bigint): HTMLElement {
  const el = h("p", { class: "unserved", "aria-live": "polite" });
  void modelServed(app.market, app.worker, modelId).then((served) => {
    if (served === false) fill(el, h("strong", null, "Not served. "), unservedWarning(modelId));
  });
  return el;
}

function buyPanel(app: App, snap: Snapshot, m: ModelInfo, flash?: Flash): HTMLElement {
  const parts: Child[] = [];
  const me = app.account?.address.toLowerCase();
  const balance = h("p", { class: "balance-line", "aria-live": "polite" });
  const reload = () => {
    const a = app.account;
    if (!a) return fill(balance, "Connect an account to buy or sell.");
    app.market
      .datatoken(m.record.datatoken)
      .balanceOf(a.address)
      .then((b) => fill(balance, `You hold ${datatokens(b)} of this model.`))
      .catch(() => undefined);
  };
  reload();
  /** Reads the chain again and replaces this panel (listings, price, balance), showing `next` in it. */
  const refresh = async (next: Flash) => {
    try {
      const fresh = await app.snapshot();
      const fm = fresh.byId.get(m.id.toString()) ?? m;
      const replacement = buyPanel(app, fresh, fm, next);
      panel.replaceWith(replacement);
      replacement.querySelector<HTMLElement>(".flash")?.focus({ preventScroll: true });
    } catch {
      reload(); // the chain did not answer: the action's own status line stays, the balance is read again
    }
  };
  const flashOf = (where: Flash["where"]) =>
    flash?.where === where ? h("p", { class: "ok flash", tabindex: -1 }, flash.message) : null;
  parts.push(h("p", null, h("strong", null, "Price: "), priceDetail(m), ". Each job consumes 1 datatoken."), balance);
  if (m.record.parentId > 0n) parts.push(settlementNote(app, m.id));
  parts.push(servingNote(app, m.id));

  if (m.exchangePrice !== undefined) {
    const amount = h("input", { type: "text", inputmode: "decimal", value: "1", name: "exchange-amount" });
    const status = h("div", { class: "status", "aria-live": "polite" });
    const button = h("button", { type: "submit" }, "Buy on the exchange");
    const form = h(
      "form",
      { class: "buy-exchange" },
      h("h3", null, "From Ocean's exchange"),
      field("Datatokens to buy", amount, "Whole datatokens: each job consumes one."),
      button,
      status,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void runAction(
        button,
        status,
        (say) => app.actions(say).buyFromExchange(m.id, parseTokens(amount.value, "The amount", WHOLE)),
        (r) => [`Bought for ${tokens(r.cost)} OCEAN. `, h("a", { href: `#/model/${m.id}/jobs` }, "Run a job with it")],
      ).then((r) => r && reload());
    });
    parts.push(form);
  }

  const listings = snap.listings.filter((l) => l.modelId === m.id);
  const mine = listings.filter((l) => l.seller.toLowerCase() === me);
  parts.push(h("h3", null, "From holders"), flashOf("listings"));
  if (!listings.length) parts.push(h("p", null, "No holder lists this model's datatokens right now."));
  else {
    const rows = listings.map((l) => {
      if (l.seller.toLowerCase() === me) {
        return [
          `#${l.id}`,
          who(app, l.seller),
          tokens(l.remaining),
          `${tokens(l.pricePerToken)} OCEAN`,
          h("span", { class: "hint" }, "Yours: cancel it under “Your listings”"),
        ];
      }
      const amount = h("input", {
        type: "text",
        inputmode: "decimal",
        value: "1",
        size: 5,
        "aria-label": `Datatokens to buy from listing ${l.id}`,
      });
      const status = h("div", { class: "status", "aria-live": "polite" });
      const button = h("button", { type: "button", class: "small" }, "Buy");
      button.addEventListener("click", () => {
        void runAction(
          button,
          status,
          (say) => app.actions(say).buyListing(l.id, parseTokens(amount.value, "The amount", WHOLE)),
          (r) => `Bought for ${tokens(r.cost)} OCEAN.`,
        ).then(
          (r) =>
            r && refresh({ where: "listings", message: `Bought from listing ${l.id} for ${tokens(r.cost)} OCEAN.` }),
        );
      });
      return [
        `#${l.id}`,
        who(app, l.seller),
        tokens(l.remaining),
        `${tokens(l.pricePerToken)} OCEAN`,
        h("div", { class: "inline", "data-listing": l.id.toString() }, amount, button, status),
      ];
    });
    parts.push(table("Holder listings", ["Listing", "Seller", "Left", "Price each", "Buy"], rows));
  }

  const sellAmount = h("input", { type: "text", inputmode: "decimal", value: "5", name: "sell-amount" });
  const sellPrice = h("input", { type: "text", inputmode: "decimal", value: "2", name: "sell-price" });
  const sellStatus = h("div", { class: "status", "aria-live": "polite" }, flashOf("sell"));
  const sellButton = h("button", { type: "submit", class: "secondary" }, "List for sale");
  const sell = h(
    "form",
    { class: "sell" },
    h("h3", null, "Sell yours"),
    h("p", { class: "hint" }, "Your datatokens are held by the market until someone buys them or you cancel."),
    field("Datatokens to list", sellAmount, "Whole datatokens: each job consumes one, so a fraction pays for no job."),
    field("Price per datatoken (OCEAN)", sellPrice),
    sellButton,
    sellStatus,
  );
  sell.addEventListener("submit", (e) => {
    e.preventDefault();
    void runAction(
      sellButton,
      sellStatus,
      (say) =>
        app
          .actions(say)
          .list(m.id, parseTokens(sellAmount.value, "The amount", WHOLE), parseTokens(sellPrice.value, "The price")),
      (r) => `Listed as listing ${r.listingId}.`,
    ).then((r) => r && refresh({ where: "sell", message: `Listed as listing ${r.listingId}.` }));
  });
  parts.push(sell);

  const ownFlash = flashOf("own");
  if (mine.length || ownFlash) parts.push(ownListings(app, m, mine, ownFlash, refresh));
  const panel = section("buy", "Buy datatokens", parts);
  return panel;
}

async function contributors(app: App, m: ModelInfo, el: HTMLElement, parentBps: number): Promise<void> {
  try {
    const holders = await app.market.shareHolders(m.record.vault);
    const total = holders.reduce((a, b) => a + b.shares, 0n);
    const role = (a: string) =>
      a.toLowerCase() === m.record.owner.toLowerCase()
        ? m.record.parentId > 0n
          ? "trainer"
          : "publisher"
        : a.toLowerCase() === m.record.parentSide.toLowerCase()
          ? "parent's side"
          : "holder";
    fill(
      el,
      h(
        "p",
        { class: "hint" },
        "Shares of the model's royalty vault: they receive its revenue (sales and consumed datatokens)",
        m.record.parentId > 0n
          ? `, after ${bpsPercent(parentBps)} of the base token goes up to the parent's vault.`
          : ".",
      ),
      table(
        "Contributors and their shares",
        ["Who", "Role", "Share"],
        holders.map((x) => [who(app, x.holder), role(x.holder), percent(x.shares, total)]),
      ),
    );
  } catch (e) {
    fill(el, errorBox(e));
  }
}

function receiptsTable(app: App, m: ModelInfo): HTMLElement {
  const jobs = m.jobs.slice(0, 20);
  if (!jobs.length) return h("p", null, "No job has run on this model yet.");
  return table(
    "Recent jobs and receipts",
    ["Job", "Kind", "Requester", "Status", "Output hash", "Outcome"],
    jobs.map((j) => {
      const r = j.receipt;
      const outcome = !r
        ? "—"
        : j.kind === 0
          ? [
              `val. loss ${loss(r.metrics.valLossBefore)} → ${loss(r.metrics.valLossAfter)}; child `,
              h("a", { href: `#/model/${r.childModelId}` }, `#${r.childModelId}`),
            ]
          : j.kind === 2
            ? `loss ${loss(r.metrics.evalLoss)}, perplexity ${perplexity(r.metrics.evalLoss)}`
            : "text generated";
      return [
        h("a", { href: `#/job/${j.id}` }, `Job ${j.id}`),
        KIND_LABEL[j.kind],
        who(app, j.requester),
        STATUS_LABEL[j.status],
        r ? hash("output hash", r.outputHash) : "—",
        outcome,
      ];
    }),
  );
}

export async function modelPage(app: App, main: HTMLElement, params: string[]): Promise<void> {
  if (!/^\d+$/.test(params[0] ?? "")) throw new UserError(`"${params[0]}" is not a model id.`);
  const snap = await app.snapshot();
  const m = snap.byId.get(params[0]);
  if (!m) {
    throw new UserError(`There is no model ${params[0]} on this chain.`, "Pick one in the catalogue.", {
      label: "Go to the catalogue",
      href: "#/",
    });
  }
  const r = m.record;
  const parent = r.parentId > 0n ? snap.byId.get(r.parentId.toString()) : undefined;
  const chartCaption = id("chart-caption");
  const contributorsEl = h("div", null, h("p", null, "Reading the vault…"));
  void contributors(app, m, contributorsEl, snap.parentRoyaltyBps);
  const base = baselineOf(snap, m);
  fill(
    main,
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Models"), " / ", `#${m.id}`),
    h("h1", { tabindex: -1 }, m.name, r.frozen ? h("span", { class: "badge danger" }, "frozen") : null),
    h(
      "dl",
      { class: "facts wide" },
      h("dt", null, "Model"),
      h("dd", null, `#${m.id}, generation ${r.generation}`),
      h("dt", null, r.parentId > 0n ? "Trained by" : "Published by"),
      h("dd", null, who(app, r.owner)),
      h("dt", null, "Weights root"),
      h("dd", null, h("code", { class: "hash wrap" }, r.weightsRoot)),
      h("dt", null, "Datatoken"),
      h("dd", null, h("code", { class: "hash" }, short(r.datatoken, 6))),
      h("dt", null, "Jobs served"),
      h("dd", null, m.served.toString()),
    ),
    modelCard(m),
    section(
      "lineage",
      "Lineage",
      h(
        "p",
        null,
        parent
          ? ["Parent: ", h("a", { href: `#/model/${parent.id}` }, `${parent.name} (#${parent.id})`)]
          : "A root model.",
        " ",
        m.children.length
          ? [
              "Children: ",
              m.children.map((c, i) => [
                i ? ", " : "",
                h("a", { href: `#/model/${c}` }, `${snap.byId.get(c.toString())?.name ?? "model"} (#${c})`),
              ]),
              ".",
            ]
          : "No children yet: finetune it below to make one.",
      ),
      h("div", { class: "figure" }, lineageGraph(snap, m)),
    ),
    section(
      "evaluations",
      "Evaluations",
      r.baselineMetric > 0n
        ? h(
            "p",
            null,
            `${baselineLabel(m)}${r.parentId === 0n && base?.benchmarkName ? ` on ${base.benchmarkName}` : ""}: loss ${loss(r.baselineMetric)} (perplexity ${perplexity(r.baselineMetric)}).`,
            r.parentId > 0n
              ? " The trainer's own figure on its validation split, not a run on a benchmark; compare evaluations with the parent's on the same data."
              : "",
          )
        : h("p", null, "No baseline was declared."),
      m.evals.length
        ? [
            h("div", { class: "figure" }, evalChart(m, chartCaption, base)),
            evalCaption(m, chartCaption, base),
            table(
              "Evaluation runs",
              ["Job", "Benchmark", "Loss", "Perplexity", "Tokens", "vs baseline"],
              evalRows(m, base, (id) => benchmarkLabel(snap, id)),
            ),
          ]
        : h("p", null, "Not evaluated yet: run an evaluation below."),
    ),
    section("contributors", "Contributors", contributorsEl),
    buyPanel(app, snap, m),
    payPanel(app, snap, m),
    section(
      "jobs",
      "Run a job",
      r.frozen
        ? h("p", null, "This model is frozen and takes no new jobs.")
        : [
            h(
              "p",
              { class: "hint" },
              "Each job consumes 1 datatoken and escrows the fee. Your input is uploaded to the worker, signed by you, and must hash to the commitment in your request.",
            ),
            jobForms(app, m, base),
          ],
    ),
    section("receipts", "Recent receipts", receiptsTable(app, m)),
  );
}
