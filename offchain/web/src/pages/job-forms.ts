/**
 * A model's three job forms (finetune, inference, evaluation): the input typed or chosen as a file, the job's params,
 * the fee and time to deliver, the total cost before anything is sent, and the request, after which the page moves to
 * the job's own page.
 */
import { ethers } from "ethers";
import { evaluationBenchmark, TEMPERATURE_SCALE, trainParams, type JobParams } from "../../../protocol/params";
import { sha256Hex } from "../../../protocol/auth";
import { CHAIN_CHANGED, runAction, type App } from "../app";
import type { ModelInfo } from "../chain";
import { field, fill, h, type Child } from "../dom";
import { UserError } from "../errors";
import { CARD_LIMITS, cardURI } from "../../../sdk/model-card";
import { DEFAULT_JOB_TTL_SEC, MAX_JOB_TTL_SEC } from "../../../sdk/browser";
import { parseTokens, tokens } from "../format";
import type { Baseline } from "./graphs";

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

/** What makes one job form: its kind, words, extra fields, and how its params and request card are made. */
interface FormSpec {
  kind: "train" | "infer" | "evaluate";
  title: string;
  blurb: string;
  textLabel: string;
  placeholder: string;
  extra: HTMLElement[];
  params: (input: Uint8Array) => JobParams;
  /** Prompts: typed text gets a final newline. */
  lineEnd?: boolean;
  inputURI?: () => string;
}

/** One job form: input (typed or a file), the fee and time to deliver, the total cost, and the request. */
function jobForm(app: App, m: ModelInfo, o: FormSpec): HTMLFormElement {
  const { kind, title, blurb, textLabel, placeholder, extra, params, lineEnd = false, inputURI = () => "" } = o;
  const text = h("textarea", { rows: 5, placeholder, name: `${kind}-text` });
  const file = h("input", { type: "file", accept: ".txt,.jsonl,.json,text/plain", name: `${kind}-file` });
  const fee = h("input", { type: "text", inputmode: "decimal", value: "1" });
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
  // A refusal ("you hold no datatoken") is stale once another action succeeded (a purchase), or once the browser's own
  // check of a field blocks the next submit (it says what is wrong there): it goes.
  form.addEventListener("invalid", () => status.querySelector(".error")?.remove(), true);
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
}

export function jobForms(app: App, m: ModelInfo, base: Baseline | undefined): HTMLElement {
  const childName = h("input", { type: "text", name: "child-name", maxlength: CARD_LIMITS.name, autocomplete: "off" });
  const childAbout = h("textarea", { rows: 2, name: "child-description", maxlength: CARD_LIMITS.description });
  const steps = intField(16, 1, 10_000);
  const lr = h("input", { type: "text", inputmode: "decimal", value: "0.003" });
  const train = jobForm(app, m, {
    kind: "train",
    title: "Finetune",
    blurb:
      "Train this model further on your text. The result is a new child model, yours for 70% of its datatokens and shares.",
    textLabel: "Training text",
    placeholder: 'Your corpus: plain text, or JSONL records {"text": …}',
    extra: [
      field("Name of the new model", childName, "Shown on its card and in the lineage; stored with your request."),
      field("Description of the new model (optional)", childAbout),
      field("Training steps", steps),
      field("Learning rate", lr),
    ],
    params: () => {
      const rate = Number(lr.value);
      if (!(rate > 0 && rate < 1)) throw new UserError("The learning rate must be between 0 and 1, e.g. 0.003.");
      return trainParams({ steps: numberOf(steps, "Training steps", 1, 10_000), lr: rate, batch: 8, context: 64 });
    },
    inputURI: () => cardURI({ name: childName.value, description: childAbout.value }),
  });

  const maxTokens = intField(24, 1, 1024);
  const temperature = h("input", { type: "text", inputmode: "decimal", value: "0" });
  const topK = intField(0, 0, 100_000);
  const infer = jobForm(app, m, {
    kind: "infer",
    title: "Run inference",
    blurb: "Generate text: one prompt per line. Temperature 0 is greedy and reproducible.",
    textLabel: "Prompts (one per line)",
    placeholder: "Day seven. Left the harbour",
    extra: [
      field("New tokens per prompt", maxTokens),
      field("Temperature", temperature),
      field("Top-k", topK, "Sample among the k likeliest tokens only; 0 for all of them (with temperature 0, greedy)."),
    ],
    params: () => {
      const t = Number(temperature.value);
      if (!(t >= 0 && t <= 4)) throw new UserError("The temperature must be between 0 and 4.");
      return {
        kind: "Infer",
        params: {
          maxTokens: numberOf(maxTokens, "New tokens per prompt", 1, 1024),
          temperature: Math.round(t * Number(TEMPERATURE_SCALE)),
          topK: numberOf(topK, "Top-k", 0, 100_000),
        },
      };
    },
    lineEnd: true,
  });

  const declared = m.record.benchmarkId !== ethers.ZeroHash;
  // The benchmark the lineage's baseline was declared on, by the name its publisher gave it (only its hash is on chain).
  const declaredName = base?.benchmarkId === m.record.benchmarkId ? base.benchmarkName : undefined;
  const bench = h("input", { type: "text", value: declaredName ?? (declared ? "" : "custom") });
  const independent = h("input", { type: "checkbox" });
  const evaluate = jobForm(app, m, {
    kind: "evaluate",
    title: "Evaluate",
    blurb: "Measure the model's loss and perplexity on your text.",
    textLabel: "Evaluation text",
    placeholder: "Held-out text the model has not seen",
    extra: [
      field(
        "Benchmark name",
        bench,
        declaredName
          ? `Pre-filled with the benchmark the baseline was declared on, ${declaredName}: keep it only if your text is that benchmark's data (your loss is then compared with the baseline). For other data, name it or leave it empty: it is then recorded as custom and compared with nothing.`
          : declared
            ? "The benchmark your text is, to compare its loss with the baseline declared on it. Left empty, it is compared only when your text is the baseline's known benchmark data (the demo's evaluation set); otherwise it is recorded as custom and compared with nothing."
            : "The name the figure is recorded under (“custom”: compared with nothing).",
      ),
      field(
        "Independent evaluation",
        independent,
        "Only a worker that neither owns nor trained the model may take it.",
      ),
    ],
    params: (input) => ({
      kind: "Evaluate",
      params: {
        benchmarkId: evaluationBenchmark(m.record.benchmarkId, sha256Hex(input), bench.value.trim() || undefined),
        contextLength: 64,
        maxTokens: 1_000_000,
        independent: independent.checked,
      },
    }),
    inputURI: () => cardURI({ benchmark: bench.value.trim() || undefined }),
  });
  return h("div", { class: "job-forms" }, train, infer, evaluate);
}
