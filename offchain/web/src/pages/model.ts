/**
 * A model's page: lineage graph, evaluations against the baseline, contributors and their shares, price and the buy
 * and sell forms, the three job forms, and its recent receipts.
 */
import { ethers } from "ethers";
import { evaluationBenchmark, TEMPERATURE_SCALE, trainParams, type JobParams } from "../../../protocol/params";
import { sha256Hex } from "../../../protocol/auth";
import { CHAIN_CHANGED, errorBox, runAction, who, type App } from "../app";
import type { ListingInfo, ModelInfo, Snapshot } from "../chain";
import { field, fill, h, id, table, type Child } from "../dom";
import { UserError } from "../errors";
import { CARD_LIMITS, cardURI } from "../../../sdk/model-card";
import { DEFAULT_JOB_TTL_SEC, MAX_JOB_TTL_SEC } from "../../../sdk/browser";
import { datatokens, KIND_LABEL, loss, parseTokens, percent, perplexity, short, STATUS_LABEL, tokens } from "../format";
import { settlementNote } from "./settlement-note";
import { baselineOf, evalCaption, evalChart, evalRows, lineageGraph } from "./graphs";
import { baselineLabel, priceDetail, size } from "./catalogue";

function section(idAttr: string, title: string, ...children: Child[]): HTMLElement {
  const hid = `${idAttr}-title`;
  return h("section", { id: idAttr, "aria-labelledby": hid, class: "panel" }, h("h2", { id: hid }, title), children);
}

function hash(label: string, value: string): HTMLElement {
  return h("code", { class: "hash", title: `${label} ${value}` }, short(value, 8));
}

/** Reads the chosen file, or else the typed text, as the job's input bytes. */
async function inputOf(file: HTMLInputElement, text: HTMLTextAreaElement, lineEnd = false): Promise<Uint8Array> {
  const f = file.files?.[0];
  if (f) return new Uint8Array(await f.arrayBuffer());
  let t = text.value;
  if (!t.trim()) throw new UserError("The input is empty.", "Type some text or choose a file.");
  if (lineEnd && !t.endsWith("\n")) t += "\n";
  return ethers.toUtf8Bytes(t);
}

function intField(value: number, min: number, max: number): HTMLInputElement {
  return h("input", { type: "number", inputmode: "numeric", min, max, step: 1, value });
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

function numberOf(input: HTMLInputElement, what: string, min: number, max: number): number {
  const v = Number(input.value);
  if (!Number.isFinite(v) || v < min || v > max) throw new UserError(`${what} must be between ${min} and ${max}.`);
  return v;
}

/** What a job costs in all, before anything is sent: one datatoken (and what buying it costs) and the fee. */
function costText(m: ModelInfo, feeText: string): Child {
  let fee: bigint;
  try {
    fee = parseTokens(feeText, "The fee");
  } catch (e) {
    return `Total cost: 1 datatoken + the fee (${feeText.trim() ? (e as Error).message : "type a fee above."})`;
  }
  const dt = m.exchangePrice ?? m.cheapestListing;
  return [
    h("strong", null, "Total cost: "),
    `1 datatoken + ${tokens(fee)} OCEAN fee`,
    dt !== undefined ? ` (about ${tokens(dt + fee)} OCEAN if you buy the datatoken at ${tokens(dt)} OCEAN)` : "",
    ". Both are escrowed: the datatoken is spent when the job settles; if the job fails or is cancelled, the fee and the datatoken come back.",
  ];
}

function jobForms(app: App, m: ModelInfo): HTMLElement {
  const feeInput = () => h("input", { type: "text", inputmode: "decimal", value: "1" });
  const make = (
    kind: "train" | "infer" | "evaluate",
    title: string,
    blurb: string,
    textLabel: string,
    placeholder: string,
    extra: HTMLElement[],
    params: (input: Uint8Array) => JobParams,
    lineEnd = false,
    inputURI: () => string = () => "",
  ) => {
    const text = h("textarea", { rows: 5, placeholder, name: `${kind}-text` });
    const file = h("input", { type: "file", accept: ".txt,.jsonl,.json,text/plain", name: `${kind}-file` });
    const fee = feeInput();
    const minutes = intField(DEFAULT_JOB_TTL_SEC / 60, 1, MAX_JOB_TTL_SEC / 60);
    const cost = h("p", { class: "total-cost", "aria-live": "polite" });
    const status = h("div", { class: "status", "aria-live": "polite" });
    const button = h("button", { type: "submit" }, title);
    const form = h(
      "form",
      { class: `job-form ${kind}`, "data-kind": kind },
      h("h3", null, title),
      h("p", { class: "hint" }, blurb),
      field(textLabel, text),
      field("…or upload a file", file, "A chosen file is used instead of the typed text."),
      extra,
      field("Fee for the worker (OCEAN)", fee, "Escrowed on chain; paid when the job settles, refunded if it fails."),
      field(
        "Time to deliver (minutes)",
        minutes,
        "The job's deadline. A worker claims it only if it can deliver by then; unclaimed, you cancel it and get everything back.",
      ),
      cost,
      button,
      status,
    );
    const showCost = () => fill(cost, costText(m, fee.value));
    fee.addEventListener("input", showCost);
    showCost();
    // A refusal ("you hold no datatoken") is stale once another action succeeded (a purchase): it goes.
    document.addEventListener(CHAIN_CHANGED, () => status.querySelector(".error")?.remove());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void runAction(
        button,
        status,
        async (say) => {
          const input = await inputOf(file, text, lineEnd);
          const p = params(input);
          const a = app.actions(say);
          const ttlSec = numberOf(minutes, "Time to deliver", 1, MAX_JOB_TTL_SEC / 60) * 60;
          return a.requestJob(m.id, p, input, parseTokens(fee.value, "The fee"), ttlSec, inputURI());
        },
        (jobId) => [`Job ${jobId} is requested. `, h("a", { href: `#/job/${jobId}` }, `Follow job ${jobId}`)],
      ).then((jobId) => {
        if (jobId !== undefined) window.location.hash = `#/job/${jobId}`;
      });
    });
    return form;
  };

  const childName = h("input", { type: "text", name: "child-name", maxlength: CARD_LIMITS.name, autocomplete: "off" });
  const childAbout = h("textarea", { rows: 2, name: "child-description", maxlength: CARD_LIMITS.description });
  const steps = intField(16, 1, 10_000);
  const lr = h("input", { type: "text", inputmode: "decimal", value: "0.003" });
  const train = make(
    "train",
    "Finetune",
    "Train this model further on your text. The result is a new child model, yours for 70% of its datatokens and shares.",
    "Training text",
    'Your corpus: plain text, or JSONL records {"text": …}',
    [
      field("Name of the new model", childName, "Shown on its card and in the lineage; stored with your request."),
      field("Description of the new model (optional)", childAbout),
      field("Training steps", steps),
      field("Learning rate", lr),
    ],
    () => {
      const rate = Number(lr.value);
      if (!(rate > 0 && rate < 1)) throw new UserError("The learning rate must be between 0 and 1, e.g. 0.003.");
      return trainParams({ steps: numberOf(steps, "Training steps", 1, 10_000), lr: rate, batch: 8, context: 64 });
    },
    false,
    () => cardURI({ name: childName.value, description: childAbout.value }),
  );

  const maxTokens = intField(24, 1, 1024);
  const temperature = h("input", { type: "text", inputmode: "decimal", value: "0" });
  const infer = make(
    "infer",
    "Run inference",
    "Generate text: one prompt per line. Temperature 0 is greedy and reproducible.",
    "Prompts (one per line)",
    "Day seven. Left the harbour",
    [field("New tokens per prompt", maxTokens), field("Temperature", temperature)],
    () => {
      const t = Number(temperature.value);
      if (!(t >= 0 && t <= 4)) throw new UserError("The temperature must be between 0 and 4.");
      return {
        kind: "Infer",
        params: {
          maxTokens: numberOf(maxTokens, "New tokens per prompt", 1, 1024),
          temperature: Math.round(t * Number(TEMPERATURE_SCALE)),
          topK: 0,
        },
      };
    },
    true,
  );

  const declared = m.record.benchmarkId !== ethers.ZeroHash;
  const bench = h("input", { type: "text", value: declared ? "" : "custom" });
  const independent = h("input", { type: "checkbox" });
  const evaluate = make(
    "evaluate",
    "Evaluate",
    "Measure the model's loss and perplexity on your text.",
    "Evaluation text",
    "Held-out text the model has not seen",
    [
      field(
        "Benchmark name",
        bench,
        declared
          ? "The benchmark your text is, to compare its loss with the baseline declared on it. Left empty, it is compared only when your text is the baseline's known benchmark data (the demo's evaluation set)."
          : "The name the figure is recorded under.",
      ),
      field(
        "Independent evaluation",
        independent,
        "Only a worker that neither owns nor trained the model may take it.",
      ),
    ],
    (input) => ({
      kind: "Evaluate",
      params: {
        benchmarkId: evaluationBenchmark(m.record.benchmarkId, sha256Hex(input), bench.value.trim() || undefined),
        contextLength: 64,
        maxTokens: 1_000_000,
        independent: independent.checked,
      },
    }),
    false,
    () => cardURI({ benchmark: bench.value.trim() || undefined }),
  );
  return h("div", { class: "job-forms" }, train, infer, evaluate);
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

  if (m.exchangePrice !== undefined) {
    const amount = h("input", { type: "text", inputmode: "decimal", value: "1", name: "exchange-amount" });
    const status = h("div", { class: "status", "aria-live": "polite" });
    const button = h("button", { type: "submit" }, "Buy on the exchange");
    const form = h(
      "form",
      { class: "buy-exchange" },
      h("h3", null, "From Ocean's exchange"),
      field("Datatokens to buy", amount),
      button,
      status,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void runAction(
        button,
        status,
        (say) => app.actions(say).buyFromExchange(m.id, parseTokens(amount.value, "The amount")),
        (r) => [`Bought for ${tokens(r.cost)} OCEAN. `, h("a", { href: "#/rewards" }, "See your rewards")],
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
          (say) => app.actions(say).buyListing(l.id, parseTokens(amount.value, "The amount")),
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
    field("Datatokens to list", sellAmount),
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
          .list(m.id, parseTokens(sellAmount.value, "The amount"), parseTokens(sellPrice.value, "The price")),
      (r) => `Listed as listing ${r.listingId}.`,
    ).then((r) => r && refresh({ where: "sell", message: `Listed as listing ${r.listingId}.` }));
  });
  parts.push(sell);

  const ownFlash = flashOf("own");
  if (mine.length || ownFlash) parts.push(ownListings(app, m, mine, ownFlash, refresh));
  const panel = section("buy", "Buy datatokens", parts);
  return panel;
}

async function contributors(app: App, m: ModelInfo, el: HTMLElement): Promise<void> {
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
        m.record.parentId > 0n ? ", after 20% of the base token goes up to the parent's vault." : ".",
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
  void contributors(app, m, contributorsEl);
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
            `${baselineLabel(m)}: loss ${loss(r.baselineMetric)} (perplexity ${perplexity(r.baselineMetric)}).`,
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
              evalRows(m, base),
            ),
          ]
        : h("p", null, "Not evaluated yet: run an evaluation below."),
    ),
    section("contributors", "Contributors", contributorsEl),
    buyPanel(app, snap, m),
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
            jobForms(app, m),
          ],
    ),
    section("receipts", "Recent receipts", receiptsTable(app, m)),
  );
}
