/** The catalogue: every model with its name, generation, price, latest evaluation and jobs served; search and sort. */
import type { App } from "../app";
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

function card(m: ModelInfo): HTMLElement {
  const e = m.evals[m.evals.length - 1];
  const r = m.record;
  return h(
    "li",
    { class: "card", "data-model": m.id.toString() },
    h(
      "article",
      null,
      h("h2", null, h("a", { href: `#/model/${m.id}` }, m.name)),
      h(
        "dl",
        { class: "facts" },
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
        h("dt", null, "Declared baseline"),
        h("dd", null, r.baselineMetric > 0n ? `loss ${loss(r.baselineMetric)}` : "none"),
        h("dt", null, "Jobs served"),
        h("dd", { class: "served" }, m.served.toString()),
      ),
    ),
  );
}

export async function cataloguePage(app: App, main: HTMLElement): Promise<void> {
  const snap = await app.snapshot();
  const search = h("input", { type: "search", id: "search", placeholder: "name, #id or owner", autocomplete: "off" });
  const sort = h(
    "select",
    { id: "sort" },
    (Object.keys(SORTS) as SortKey[]).map((k) => h("option", { value: k }, SORTS[k].label)),
  );
  const list = h("ul", { class: "cards", "aria-label": "Models" });
  const count = h("p", { class: "count", "aria-live": "polite" });
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = snap.models
      .filter(
        (m) =>
          !q ||
          m.name.toLowerCase().includes(q) ||
          `#${m.id}` === q ||
          m.id.toString() === q ||
          m.record.owner.toLowerCase().includes(q),
      )
      .sort(SORTS[sort.value as SortKey].cmp);
    fill(list, shown.map(card));
    fill(count, `${shown.length} of ${snap.models.length} models`);
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
