/** Drawn figures: the lineage tree of a model and the chart of its evaluations against the declared baseline. */
import { benchmarkId, knownBenchmarkName, LOSS_SCALE } from "../../../protocol/params";
import { readCard } from "../../../sdk/model-card";
import type { ModelInfo, Snapshot } from "../chain";
import { h, s, type Child } from "../dom";
import { loss, perplexity, short } from "../format";

const BOX_W = 144;
const BOX_H = 46;
const GAP_X = 20;
const GAP_Y = 44;
const MAX_NODES = 60;

interface Placed {
  m: ModelInfo;
  x: number;
  y: number;
}

/**
 * The lineage as a tree drawn top-down from the root ancestor: every node is a link to its model page, the current
 * model is outlined. Large families are cut to the ancestors and the direct children.
 */
export function lineageGraph(snap: Snapshot, current: ModelInfo): SVGSVGElement {
  const get = (id: bigint) => snap.byId.get(id.toString());
  const path: ModelInfo[] = [current];
  for (let p = current.record.parentId; p > 0n;) {
    const m = get(p);
    if (!m) break;
    path.unshift(m);
    p = m.record.parentId;
  }
  const root = path[0];
  const family = new Set<string>();
  const walk = (m: ModelInfo) => {
    family.add(m.id.toString());
    for (const c of m.children) {
      const cm = get(c);
      if (cm) walk(cm);
    }
  };
  walk(root);
  const keep =
    family.size <= MAX_NODES
      ? family
      : new Set([...path.map((m) => m.id.toString()), ...current.children.map((c) => c.toString())]);
  const kids = (m: ModelInfo) => m.children.filter((c) => keep.has(c.toString())).map((c) => get(c) as ModelInfo);

  const placed: Placed[] = [];
  let nextX = 0;
  const place = (m: ModelInfo, depth: number): number => {
    const cs = kids(m);
    const xs = cs.map((c) => place(c, depth + 1));
    const x = xs.length ? (xs[0] + xs[xs.length - 1]) / 2 : nextX++;
    placed.push({ m, x, y: depth });
    return x;
  };
  place(root, 0);
  const cols = Math.max(1, nextX);
  const rows = Math.max(...placed.map((p) => p.y)) + 1;
  const width = cols * (BOX_W + GAP_X) + GAP_X;
  const height = 24 + (rows - 1) * (BOX_H + GAP_Y) + BOX_H;
  const cx = (p: Placed) => GAP_X + p.x * (BOX_W + GAP_X) + BOX_W / 2;
  const cy = (p: Placed) => 12 + p.y * (BOX_H + GAP_Y);
  const byId = new Map(placed.map((p) => [p.m.id.toString(), p]));

  const edges = placed
    .filter((p) => p.m.record.parentId > 0n && byId.has(p.m.record.parentId.toString()))
    .map((p) => {
      const parent = byId.get(p.m.record.parentId.toString()) as Placed;
      const x1 = cx(parent);
      const y1 = cy(parent) + BOX_H;
      const x2 = cx(p);
      const y2 = cy(p);
      const mid = (y1 + y2) / 2;
      return s("path", { d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`, class: "edge" });
    });
  const nodes = placed.map((p) => {
    const isCurrent = p.m.id === current.id;
    const name = p.m.name.length > 16 ? `${p.m.name.slice(0, 15)}…` : p.m.name;
    return s(
      "a",
      {
        href: `#/model/${p.m.id}`,
        "aria-current": isCurrent ? "page" : null,
        class: `node${isCurrent ? " current" : ""}`,
        "data-model": p.m.id.toString(),
      },
      s("rect", { x: cx(p) - BOX_W / 2, y: cy(p), width: BOX_W, height: BOX_H, rx: 8 }),
      s("text", { x: cx(p), y: cy(p) + 19, "text-anchor": "middle", class: "node-name" }, name),
      s(
        "text",
        { x: cx(p), y: cy(p) + 36, "text-anchor": "middle", class: "node-sub" },
        `#${p.m.id} · gen ${p.m.record.generation}`,
      ),
    );
  });
  const svg = s(
    "svg",
    {
      class: "lineage",
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "group",
      "aria-label": `Lineage of ${current.name}: ${placed.length} models from ${root.name}`,
    },
    edges,
    nodes,
  );
  svg.style.maxWidth = `${width}px`; // CSSOM: the page's Content-Security-Policy forbids style attributes
  return svg;
}

/**
 * What a model's evaluations are compared with: its lineage root's declared baseline (what the publisher measured, on
 * its benchmark; a child inherits the benchmark), and only for runs on that benchmark. A child's own declared figure
 * is its trainer's validation loss on their data, not a benchmark run: never compared. Undefined without a baseline.
 */
export interface Baseline {
  metric: bigint;
  benchmarkId: string;
  rootId: bigint;
  /** The benchmark's name, as its publisher wrote it in the root's card (only its hash is on chain). */
  benchmarkName?: string;
}
export function baselineOf(snap: Snapshot, m: ModelInfo): Baseline | undefined {
  let root = m;
  for (let up = snap.byId.get(m.record.parentId.toString()); up && root.record.parentId > 0n;) {
    root = up;
    up = snap.byId.get(root.record.parentId.toString());
  }
  if (root.record.parentId > 0n || root.record.baselineMetric === 0n) return undefined;
  const named = root.card.benchmark;
  const benchmarkName = named && benchmarkId(named) === root.record.benchmarkId ? named : undefined;
  return { metric: root.record.baselineMetric, benchmarkId: root.record.benchmarkId, rootId: root.id, benchmarkName };
}

/**
 * A benchmark's name for a person: the one the lineage roots' cards declare (their publishers named it), else one an
 * evaluation request named, else a known benchmark's; "custom" runs (an evaluation that named none, on data that is
 * no known benchmark's) say they are compared with nothing; else the id, shortened.
 */
export function benchmarkLabel(snap: Snapshot, id: string): string {
  if (id === CUSTOM) return "custom (not compared)";
  for (const m of snap.models) {
    const name = m.record.parentId === 0n ? m.card.benchmark : undefined;
    if (name && m.record.benchmarkId === id && benchmarkId(name) === id) return name;
  }
  for (const j of snap.jobs.values()) {
    const name = readCard(j.inputURI).benchmark;
    if (name && benchmarkId(name) === id) return name;
  }
  return knownBenchmarkName(id) ?? `unnamed (${short(id, 4)})`;
}
const CUSTOM = benchmarkId("custom");

/** The runs of a model that are comparable with the baseline (on its benchmark). */
const onBaseline = (m: ModelInfo, b: Baseline | undefined) =>
  b ? m.evals.filter((e) => e.benchmarkId === b.benchmarkId) : [];

/**
 * Every evaluation run on the model as a bar (its loss), against the lineage root's declared baseline as a dashed
 * line: only runs on the baseline's benchmark are marked better or not. Lower is better. The table below the chart
 * carries the same figures for screen readers.
 */
export function evalChart(m: ModelInfo, captionId: string, b: Baseline | undefined): SVGSVGElement {
  const runs = m.evals;
  const base = b?.metric ?? 0n;
  const max = Math.max(Number(base), ...runs.map((r) => Number(r.loss)), 1) * 1.15;
  const W = Math.max(320, 70 + runs.length * 64);
  const H = 220;
  const top = 16;
  const bottom = 34;
  const left = 48;
  const y = (v: number) => top + (H - top - bottom) * (1 - v / max);
  const ticks = [0, max / 3, (2 * max) / 3].map((v) =>
    s(
      "g",
      { class: "tick" },
      s("line", { x1: left, x2: W - 8, y1: y(v), y2: y(v) }),
      s("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, (v / Number(LOSS_SCALE)).toFixed(2)),
    ),
  );
  const bars = runs.map((r, i) => {
    const x = left + 14 + i * 64;
    const v = Number(r.loss);
    return s(
      "g",
      { class: `bar${b && r.benchmarkId === b.benchmarkId && r.loss <= base ? " better" : ""}` },
      s("rect", { x, y: y(v), width: 36, height: Math.max(1, y(0) - y(v)) }),
      s("text", { x: x + 18, y: y(v) - 4, "text-anchor": "middle" }, loss(r.loss)),
      s("text", { x: x + 18, y: H - bottom + 16, "text-anchor": "middle" }, `job ${r.jobId}`),
    );
  });
  const baseline =
    base > 0n
      ? s(
          "g",
          { class: "baseline" },
          s("line", { x1: left, x2: W - 8, y1: y(Number(base)), y2: y(Number(base)) }),
          s("text", { x: W - 10, y: y(Number(base)) - 5, "text-anchor": "end" }, `baseline ${loss(base)}`),
        )
      : null;
  const svg = s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${W} ${H}`,
      width: W,
      height: H,
      role: "img",
      "aria-labelledby": captionId,
    },
    ticks,
    s("line", { class: "axis", x1: left, x2: W - 8, y1: y(0), y2: y(0) }),
    bars,
    baseline,
  );
  svg.style.maxWidth = `${W}px`;
  return svg;
}

/** The table's rows of the chart's runs: a run on the baseline's benchmark with its difference from it (as `posthuman eval`). */
export function evalRows(m: ModelInfo, b: Baseline | undefined, label: (id: string) => string): Child[][] {
  return m.evals.map((e) => {
    const on = b && e.benchmarkId === b.benchmarkId ? b.metric : undefined;
    const delta = on === undefined ? "—" : e.loss < on ? `−${loss(on - e.loss)}` : `+${loss(e.loss - on)}`;
    return [
      h("a", { href: `#/job/${e.jobId}` }, `Job ${e.jobId}`),
      on === undefined ? label(e.benchmarkId) : (b?.benchmarkName ?? "the baseline's"),
      loss(e.loss),
      perplexity(e.loss),
      e.tokens.toString(),
      on !== undefined && loss(e.loss) === loss(on) ? "equal" : delta,
    ];
  });
}

/** The chart's caption: what it shows in one sentence. */
export function evalCaption(m: ModelInfo, id: string, b: Baseline | undefined): HTMLElement {
  const comparable = onBaseline(m, b);
  const best = comparable.reduce<bigint | undefined>((x, r) => (x === undefined || r.loss < x ? r.loss : x), undefined);
  const others = m.evals.length - comparable.length;
  return h(
    "p",
    { id, class: "caption" },
    `Evaluation loss (nats, lower is better) of ${m.evals.length} run${m.evals.length === 1 ? "" : "s"}`,
    b
      ? ` against the baseline declared for model #${b.rootId} on its benchmark${b.benchmarkName ? ` (${b.benchmarkName})` : ""}, ${loss(b.metric)}` +
          (best !== undefined ? `; best on that benchmark ${loss(best)}` : "") +
          (others ? `; ${others} run${others === 1 ? "" : "s"} on other data, not compared.` : ".")
      : "; no baseline was declared on this lineage.",
  );
}
