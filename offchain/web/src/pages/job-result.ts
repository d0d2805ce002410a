/**
 * What a job's page shows of its work: the worker's progress while it runs (phase, elapsed time, ETA, a loss chart
 * drawn from the losses the worker reported), and the result once there is one (generated text apart from its prompt,
 * the training curve), with a download and a copy button.
 */
import { JobKind } from "../../../protocol/params";
import type { JobStatusView } from "../../../sdk/browser";
import type { JobInfo } from "../chain";
import { h, s, type Child } from "../dom";
import { duration } from "../format";

export interface Generation {
  prompt: string;
  text: string;
  /** The generated token ids (the worker's result document), or their count. */
  tokens?: number | number[];
  finishReason?: string;
}

export interface ResultDoc {
  generations?: Generation[];
  metrics?: Record<string, number>;
  child?: { weightsRoot: string; configHash: string };
  lossCurve?: number[];
}

/** How many tokens were generated: the document carries the ids, a count is what a person reads. */
export function tokenCount(g: Generation): number | undefined {
  if (Array.isArray(g.tokens)) return g.tokens.length;
  return typeof g.tokens === "number" ? g.tokens : undefined;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const FINISH: Record<string, string> = { eos: "the model ended the text", length: "the token limit was reached" };

function generationCard(g: Generation, i: number): HTMLElement {
  const n = tokenCount(g);
  const why = g.finishReason ? (FINISH[g.finishReason] ?? g.finishReason) : undefined;
  return h(
    "li",
    { class: "generation" },
    h("p", { class: "gen-label" }, `Prompt ${i + 1}`),
    h("blockquote", { class: "prompt" }, g.prompt),
    h(
      "p",
      { class: "gen-label" },
      "Generated",
      n !== undefined
        ? h("span", { class: "hint" }, ` · ${plural(n, "token")}${why ? `, stopped because ${why}` : ""}`)
        : null,
    ),
    h("p", { class: "completion" }, g.text.length ? g.text : h("em", null, "(nothing: the model ended at once)")),
  );
}

/** A line chart of losses by step, as SVG (an accessible figure with a text summary). */
export function lossChart(points: { step: number; loss: number }[], title: string): Child {
  if (points.length < 2) return null;
  const W = 480;
  const H = 160;
  const pad = { l: 44, r: 10, t: 10, b: 26 };
  const steps = points.map((p) => p.step);
  const losses = points.map((p) => p.loss);
  const [x0, x1] = [Math.min(...steps), Math.max(...steps)];
  const [y0, y1] = [Math.min(...losses), Math.max(...losses)];
  const x = (v: number) => pad.l + ((v - x0) / Math.max(1e-9, x1 - x0)) * (W - pad.l - pad.r);
  const y = (v: number) => pad.t + (1 - (v - y0) / Math.max(1e-9, y1 - y0)) * (H - pad.t - pad.b);
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(" ");
  const first = points[0];
  const last = points[points.length - 1];
  const summary = `${title}: from ${first.loss.toFixed(3)} at step ${first.step} to ${last.loss.toFixed(3)} at step ${last.step} (lowest ${y0.toFixed(3)}).`;
  return h(
    "figure",
    { class: "figure loss-figure" },
    s(
      "svg",
      { class: "chart loss-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": summary },
      s("path", { class: "axis", d: `M${pad.l},${pad.t} V${H - pad.b} H${W - pad.r}` }),
      s("text", { x: pad.l - 4, y: pad.t + 8, "text-anchor": "end", class: "tick-label" }, y1.toFixed(2)),
      s("text", { x: pad.l - 4, y: H - pad.b, "text-anchor": "end", class: "tick-label" }, y0.toFixed(2)),
      s("text", { x: pad.l, y: H - 8, class: "tick-label" }, `step ${x0}`),
      s("text", { x: W - pad.r, y: H - 8, "text-anchor": "end", class: "tick-label" }, `step ${x1}`),
      s("path", { class: "loss-line", d }),
    ),
    h("figcaption", { class: "caption" }, summary),
  );
}

/** The losses a running job reported, one per step, gathered across polls. */
export class LossTrace {
  readonly points: { step: number; loss: number }[] = [];

  add(w: JobStatusView | undefined): void {
    const p = w?.progress;
    if (!p || typeof p.loss !== "number" || typeof p.step !== "number") return;
    const last = this.points[this.points.length - 1];
    if (last && last.step === p.step) last.loss = p.loss;
    else if (!last || p.step > last.step) this.points.push({ step: p.step, loss: p.loss });
  }
}

/** The worker's progress while the job runs: phase and step, elapsed time, time left, and the loss so far. */
export function progressView(w: JobStatusView | undefined, elapsedSec: number | undefined, trace: LossTrace): Child {
  const p = w?.progress;
  const elapsed = elapsedSec !== undefined ? `Elapsed ${duration(elapsedSec)}` : undefined;
  if (!p || !p.phase) {
    const waiting = w?.state
      ? `The worker's state: ${w.state.replace(/_/g, " ")}.`
      : "Waiting for a worker to take the job.";
    return h("p", { class: "job-clock" }, elapsed ? `${elapsed}. ` : "", waiting);
  }
  if (p.phase === "waiting")
    return h(
      "p",
      { class: "job-clock" },
      elapsed ? `${elapsed}. ` : "",
      `The worker waits for ${p.note ?? "something"}.`,
    );
  const total = Math.max(1, p.totalSteps ?? 1);
  const step = p.step ?? 0;
  let eta = typeof p.etaSec === "number" ? p.etaSec : undefined;
  if (eta === undefined && elapsedSec !== undefined && step > 0 && step < total)
    eta = (elapsedSec / step) * (total - step);
  const label = `${p.phase} ${step}/${total}${typeof p.loss === "number" ? ` · loss ${p.loss.toFixed(3)}` : ""}`;
  return [
    h(
      "div",
      { class: "meter" },
      h("label", { for: "job-progress" }, `Worker: ${label}`),
      h("progress", { id: "job-progress", max: total, value: step }, label),
    ),
    h(
      "p",
      { class: "job-clock" },
      [elapsed, eta !== undefined && step < total ? `about ${duration(eta)} left` : undefined]
        .filter(Boolean)
        .join(" · "),
    ),
    lossChart(trace.points, "Training loss so far"),
  ];
}

/** A download link (a Blob URL) and a copy button for a result. */
function saveButtons(jobId: bigint, bytes: Uint8Array, copyText: string, copyLabel: string): HTMLElement {
  const url = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: "application/json" }));
  const note = h("span", { class: "hint", "aria-live": "polite" });
  const copy = h("button", { type: "button", class: "secondary" }, copyLabel);
  copy.addEventListener("click", () => {
    navigator.clipboard
      .writeText(copyText)
      .then(() => (note.textContent = " Copied."))
      .catch(() => (note.textContent = " Your browser refused the clipboard: use the download instead."));
  });
  return h(
    "p",
    { class: "result-actions" },
    h(
      "a",
      { class: "button", href: url, download: `posthuman-job-${jobId}-result.json` },
      "Download the result (JSON)",
    ),
    " ",
    copy,
    note,
  );
}

/** The result document as a person reads it, with a download and a copy button. */
export function resultView(job: JobInfo, doc: ResultDoc, bytes: Uint8Array): Child {
  if (job.kind === JobKind.Infer) {
    const gens = doc.generations ?? [];
    const all = gens.map((g) => `${g.prompt}\n---\n${g.text}`).join("\n\n");
    return [
      saveButtons(job.id, bytes, all, "Copy the generated texts"),
      h("ol", { class: "generations" }, gens.map(generationCard)),
    ];
  }
  const text = new TextDecoder().decode(bytes);
  if (job.kind === JobKind.Train && doc.lossCurve?.length) {
    return [
      saveButtons(job.id, bytes, text, "Copy the result (JSON)"),
      lossChart(
        doc.lossCurve.map((l, i) => ({ step: i + 1, loss: l })),
        "Training loss by step",
      ),
    ];
  }
  return saveButtons(job.id, bytes, text, "Copy the result (JSON)");
}
