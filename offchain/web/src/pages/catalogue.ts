/**
 * The catalogue: every model as a card (name, description, owner, licence, size, generation, price, latest evaluation,
 * jobs served); search by name, description, #id or owner (the names shown, or the address); sort.
 */
import { benchmarkId } from "../../../protocol/params";
import { who, type App } from "../app";
import type { ModelInfo } from "../chain";
import { field, fill, h } from "../dom";
import { loss, perplexity, tokens } from "../format";

type SortKey = "newest" | "eval" | "price" | "jobs" | "generation";

const SORTS: Record<SortKey, { label: string; cmp: (a: ModelInfo, b: ModelInfo) => number }> = {
  newest: { label: "Newest first", cmp: (a, b) => Number(b.id - a.id) },
  eval: {
    label: "Best evaluation loss (lowest first)",
    cmp: (a, b) => latestLoss(a) - latestLoss(b) || Number(a.id - b.id),
  },
  price: { label: "Price (lowest first)", cmp: (a, b) => priceOf(a) - priceOf(b) || Number(a.id - b.id) },
  jobs: { label: "Jobs served (most first)", cmp: (a, b) => b.served - a.served || Number(a.id - b.id) },
  generation: {
    label: "Generation (deepest first)",
    cmp: (a, b) => Number(b.record.generation) - Number(a.record.generation) || Number(a.id - b.id),
  },
};

function latestLoss(m: ModelInfo): number {
  const e = m.evals[m.evals.length - 1];
  return e ? Number(e.loss) : Number.POSITIVE_INFINITY;
}

function priceOf(m: ModelInfo): number {
  const p = m.exchangePrice ?? m.cheapestListing;
  return p === undefined ? Number.POSITIVE_INFINITY : Number(p);
}

export function priceText(m: ModelInfo): string {
  if (m.exchangePrice !== undefined) return `${tokens(m.exchangePrice)} OCEAN per datatoken`;
  if (m.cheapestListing !== undefined) return `from ${tokens(m.cheapestListing)} OCEAN (holders)`;
  return "not for sale now";
}

/** The price with its parts: what the model asks and what Ocean's exchange adds as fees. */
export function priceDetail(m: ModelInfo): string {
  if (m.exchangePrice !== undefined && m.exchangeFee) {
    return `${tokens(m.exchangePrice)} OCEAN per datatoken on Ocean's exchange: the model's price ${tokens(m.exchangePrice - m.exchangeFee)} OCEAN + ${tokens(m.exchangeFee)} OCEAN of exchange fees (Ocean's community fee), paid by the buyer`;
  }
  if (m.exchangePrice !== undefined) return `${tokens(m.exchangePrice)} OCEAN per datatoken`;
  if (m.cheapestListing !== undefined) return `from ${tokens(m.cheapestListing)} OCEAN (holders)`;
  return "not for sale now";
}

/** Bytes for a person: "13.2 MB". */
export function size(bytes: number | undefined): string {
  if (!bytes) return "unknown";
  const units = ["bytes", "kB", "MB", "GB"];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** The baseline's label: a root's is its publisher's claim, a child's is its trainer's validation loss. */
export function baselineLabel(m: ModelInfo): string {
  return m.record.parentId > 0n ? "Trainer's validation loss (declared, not a benchmark run)" : "Declared baseline";
}

/** " on <benchmark>" for a root whose card names the benchmark of its declared baseline (the chain keeps its hash). */
function declaredOn(m: ModelInfo): string {
  const name = m.card.benchmark;
  return m.record.parentId === 0n && name && benchmarkId(name) === m.record.benchmarkId ? ` on ${name}` : "";
}

function card(app: App, m: ModelInfo): HTMLElement {
  const e = m.evals[m.evals.length - 1];
  const r = m.record;
  return h(
    "li",
    { class: "card", "data-model": m.id.toString() },
    h(
      "article",
      null,
      h("h2", null, h("a", { href: `#/model/${m.id}` }, m.name)),
      h("p", { class: "description" }, m.card.description ?? h("em", null, "No description.")),
      h(
        "dl",
        { class: "facts" },
        h("dt", null, r.parentId > 0n ? "Trained by" : "Published by"),
        h("dd", { class: "owner" }, who(app, r.owner)),
        h("dt", null, "Licence"),
        h("dd", null, m.card.license ?? "not stated"),
        h("dt", null, "Size"),
        h("dd", null, m.record.parentId > 0n && !m.card.sizeBytes ? "as its parent" : size(m.card.sizeBytes)),
        h("dt", null, "Model"),
        h("dd", null, `#${m.id}`, r.frozen ? h("span", { class: "badge danger" }, "frozen") : null),
        h("dt", null, "Generation"),
        h("dd", null, r.generation.toString(), r.parentId > 0n ? ` (child of #${r.parentId})` : " (root)"),
        h("dt", null, "Price"),
        h("dd", null, priceText(m)),
        h("dt", null, "Latest evaluation"),
        h(
          "dd",
          { class: "eval" },
          e ? `loss ${loss(e.loss)} · perplexity ${perplexity(e.loss)} · ${e.tokens} tokens` : "not evaluated yet",
        ),
        h("dt", null, baselineLabel(m)),
        h("dd", null, r.baselineMetric > 0n ? `loss ${loss(r.baselineMetric)}${declaredOn(m)}` : "none"),
        h("dt", null, "Jobs served"),
        h("dd", { class: "served" }, m.served.toString()),
      ),
    ),
  );
}

export async function cataloguePage(app: App, main: HTMLElement): Promise<void> {
  const snap = await app.snapshot();
  const search = h("input", {
    type: "search",
    id: "search",
    placeholder: "name, description, #id or owner",
    autocomplete: "off",
  });
  const sort = h(
    "select",
    { id: "sort" },
    (Object.keys(SORTS) as SortKey[]).map((k) => h("option", { value: k }, SORTS[k].label)),
  );
  const list = h("ul", { class: "cards", "aria-label": "Models" });
  const count = h("p", { class: "count", "aria-live": "polite" });
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const text = (m: ModelInfo) =>
      [m.name, m.card.description ?? "", m.record.owner, who(app, m.record.owner)].join("\n").toLowerCase();
    const shown = snap.models
      .filter((m) => !q || `#${m.id}` === q || m.id.toString() === q || text(m).includes(q))
      .sort(SORTS[sort.value as SortKey].cmp);
    fill(
      list,
      shown.map((m) => card(app, m)),
    );
    fill(
      count,
      shown.length === 0
        ? `No model matches “${search.value.trim()}”: search by name, description, #id or owner.`
        : `${shown.length} of ${snap.models.length} models`,
    );
  };
  search.addEventListener("input", draw);
  sort.addEventListener("change", draw);
  fill(
    main,
    h("h1", { tabindex: -1 }, "Models"),
    h(
      "p",
      { class: "lead" },
      "Pay on chain for a finetune, an inference or an evaluation of any model below. Weights stay with the workers; every job leaves a receipt.",
    ),
    snap.models.length === 0
      ? h("p", null, "No model is published yet. ", h("a", { href: "#/publish" }, "Publish the first one"), ".")
      : [
          h(
            "form",
            { class: "toolbar", role: "search", onsubmit: (e: Event) => e.preventDefault() },
            field("Search models", search),
            field("Sort by", sort),
          ),
          count,
          list,
        ],
  );
  draw();
}
