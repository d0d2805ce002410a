/**
 * A job's page: its progress live (the chain's status and the worker's progress) until its receipt, then the
 * receipt, the result (generated text, evaluation table, or the new child model) and a verify button.
 */
import { JobKind, JobStatus, TERMINAL_STATUSES } from "../../../protocol/params";
import { baselineOf, benchmarkLabel } from "./graphs";
import { errorBox, who, type App } from "../app";
import { benchmarkOf, type JobInfo, type ModelInfo, type ReceiptView, type Snapshot } from "../chain";
import { fill, h, table, type Child } from "../dom";
import { UserError, WorkerApiError, withoutPaths } from "../errors";
import { KIND_LABEL, loss, perplexity, short, STATUS_LABEL, tokens } from "../format";
import { apiLookup, type JobStatusView } from "../../../sdk/browser";
import { LossTrace, progressView, resultView, type ResultDoc } from "./job-result";
import { cancelPanel } from "./cancel";
import { reclaimPanel } from "./reclaim";
import { uploadPanel } from "./upload";
import { endedAdvice, endedSteps, readEnding, type Ending } from "./job-end";
import { ackOf, browserStorage } from "../acks";
import { disputePanel } from "./dispute";
import { challengePanel, type JobMarketConfig, type OnChainJob } from "./challenge";
import { verifyPanel } from "./verify";

const FAILED = new Set<number>([JobStatus.Cancelled, JobStatus.Failed, JobStatus.Reclaimed, JobStatus.Slashed]);

function stepList(
  status: number,
  worker: JobStatusView | undefined,
  receipt: ReceiptView | undefined,
  ending: Ending | undefined,
): HTMLElement {
  // An ended job's steps are those that happened (its statuses are numerically above Submitted: never compared).
  if (ending) {
    return h(
      "ol",
      { class: "progress-steps ended" },
      endedSteps(ending).map(([label, state]) =>
        h(
          "li",
          { class: state },
          h("span", { class: "visually-hidden" }, state === "done" ? "Done: " : "Did not happen: "),
          label,
        ),
      ),
    );
  }
  const state = worker?.state ?? "";
  const steps: [string, boolean][] = [
    ["Requested on chain, fee escrowed", true],
    ["Claimed by a worker", status >= JobStatus.Claimed],
    [
      "Input received and checked against your commitment",
      status >= JobStatus.Submitted || /input_ready|running|output_stored|submitted/.test(state),
    ],
    ["Computed", status >= JobStatus.Submitted || /output_stored|submitted/.test(state)],
    ["Receipt on chain", receipt !== undefined],
    ...(status === JobStatus.Challenged || status === JobStatus.Slashed
      ? [["Challenged: the arbiter decides", status === JobStatus.Slashed] as [string, boolean]]
      : []),
    ["Settled: the worker is paid", status === JobStatus.Settled],
  ];
  const current = steps.findIndex(([, done]) => !done);
  return h(
    "ol",
    { class: "progress-steps" },
    steps.map(([label, done], i) =>
      h(
        "li",
        { class: done ? "done" : i === current ? "current" : "todo", "aria-current": i === current ? "step" : null },
        h("span", { class: "visually-hidden" }, done ? "Done: " : i === current ? "In progress: " : "Not yet: "),
        label,
      ),
    ),
  );
}

function receiptPanel(app: App, job: JobInfo, r: ReceiptView, model: ModelInfo | undefined): HTMLElement {
  const rows: [string, Child][] = [
    ["Worker", who(app, r.worker)],
    ["Served weights root", h("code", { class: "hash wrap" }, r.servedWeightsRoot)],
    ["Model's recorded weights root", model ? h("code", { class: "hash wrap" }, model.record.weightsRoot) : "—"],
    ["Input hash (your commitment)", h("code", { class: "hash wrap" }, job.inputHash)],
    ["Output hash", h("code", { class: "hash wrap" }, r.outputHash)],
    ["Runtime", h("code", { class: "hash wrap" }, r.runtimeId)],
    ["Seed", r.seed.toString()],
    ["Receipt transaction", h("code", { class: "hash" }, short(r.txHash, 8))],
  ];
  return h(
    "section",
    { class: "panel", "aria-labelledby": "receipt-title", id: "receipt" },
    h("h2", { id: "receipt-title" }, "Receipt"),
    h(
      "dl",
      { class: "facts wide receipt" },
      rows.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]),
    ),
  );
}

/** What the receipt itself tells, for everyone: the evaluation table or the new child model. */
function publicOutcome(job: JobInfo, r: ReceiptView, model: ModelInfo | undefined, snap: Snapshot): Child {
  if (job.kind === JobKind.Evaluate) {
    const m = r.metrics;
    const bench = benchmarkOf(job.params);
    const rows: Child[][] = [
      ["Benchmark", benchmarkLabel(snap, bench)],
      ["Loss (nats per token)", loss(m.evalLoss)],
      ["Perplexity", perplexity(m.evalLoss)],
      ["Tokens evaluated", m.evalTokens.toString()],
    ];
    // The parent on the same data (same input commitment) and the same benchmark: the fair comparison.
    const parent = model && model.record.parentId > 0n ? snap.byId.get(model.record.parentId.toString()) : undefined;
    if (parent) {
      const same = [...snap.jobs.values()].find(
        (j) =>
          j.modelId === parent.id &&
          j.kind === JobKind.Evaluate &&
          j.receipt &&
          j.inputHash === job.inputHash &&
          benchmarkOf(j.params) === bench,
      );
      rows.push([
        `Parent ${parent.name} (#${parent.id}) on the same data`,
        same?.receipt
          ? [
              `loss ${loss(same.receipt.metrics.evalLoss)} (job ${same.id}): this model is `,
              compared(m.evalLoss, same.receipt.metrics.evalLoss),
            ]
          : "not evaluated on this data yet: evaluate the parent with the same file to compare",
      ]);
    }
    // The lineage root's declared baseline, on its own benchmark only (as the model page compares): a child's own
    // figure is its trainer's validation loss, on other data, and compares with nothing here.
    const baseline = model ? baselineOf(snap, model) : undefined;
    if (baseline && baseline.benchmarkId === bench) {
      const root = snap.byId.get(baseline.rootId.toString());
      const whose = root && root.id !== model?.id ? ` of ${root.name} (#${root.id}), the lineage's root` : "";
      rows.push([`Declared baseline${whose}`, loss(baseline.metric)]);
      rows.push(["Compared with the baseline", compared(m.evalLoss, baseline.metric)]);
    }
    const others = (model?.evals ?? []).filter((e) => e.jobId !== job.id);
    return [
      table("Evaluation", ["Figure", "Value"], rows, { class: "eval-table" }),
      others.length
        ? h("p", null, `Other runs on this model: ${others.map((e) => `job ${e.jobId} ${loss(e.loss)}`).join(", ")}.`)
        : null,
    ];
  }
  if (job.kind === JobKind.Train) {
    const m = r.metrics;
    return [
      h(
        "p",
        { class: "child-link" },
        "New child model: ",
        h("a", { href: `#/model/${r.childModelId}` }, `model #${r.childModelId}`),
        ".",
      ),
      table(
        "Training",
        ["Figure", "Before", "After"],
        [
          ["Training loss", loss(m.trainLossBefore), loss(m.trainLossAfter)],
          ["Validation loss", loss(m.valLossBefore), loss(m.valLossAfter)],
        ],
      ),
    ];
  }
  return null;
}

/** "better by 0.1234", "worse by 0.0100", or "equal" (never "worse by 0.0000"); lower loss is better. */
function compared(value: bigint, reference: bigint): string {
  if (loss(value) === loss(reference)) return "equal (to 4 decimals)";
  return value < reference ? `better by ${loss(reference - value)}` : `worse by ${loss(value - reference)}`;
}

/** A worker's error as a line: its code and its message (if any), without the paths of the worker's disk. */
function workerWords(e: { code: string; message?: string | null }): string {
  return e.message ? `${e.code} — ${withoutPaths(e.message)}` : e.code;
}

/** What the job page knows of a job besides its status: how it ended, whether its deadline passed, who looks. */
interface LiveFacts {
  ending?: Ending;
  /** Open or claimed, and the deadline passed in chain time. */
  due: boolean;
  isRequester: boolean;
}

/** The job's state as the page polls it: status, steps, the worker's progress, or why it ended. */
function liveStatus(
  cur: JobInfo,
  workerView: JobStatusView | undefined,
  workerError: unknown,
  progress: Child,
  f: LiveFacts,
): Child {
  const failure = workerView?.error;
  const ended = FAILED.has(cur.status);
  return [
    h("p", { class: "state" }, h("strong", null, "Status: "), STATUS_LABEL[cur.status]),
    stepList(cur.status, workerView, cur.receipt, ended ? f.ending : undefined),
    cur.receipt || ended ? null : progress,
    // While a worker holds the job, its own note of what went wrong (it may be unable to fail it any more).
    !ended && cur.status === JobStatus.Claimed && failure
      ? h("p", { class: "worker-note" }, `The worker reports: ${workerWords(failure)}`)
      : null,
    f.due
      ? h(
          "p",
          { class: "deadline-passed" },
          h("strong", null, "The deadline passed without a receipt. "),
          "No worker can deliver this job any more: anyone may reclaim it (below).",
        )
      : null,
    workerError ? errorBox(workerError, "Progress unavailable:") : null,
    ended
      ? h(
          "div",
          { class: "error", role: "alert" },
          h("p", { class: "error-title" }, `The job ended without a result (${STATUS_LABEL[cur.status]}).`),
          failure ? h("p", null, `The worker says: ${workerWords(failure)}`) : null,
          f.ending
            ? h("p", { class: "error-fix" }, h("strong", null, "What now: "), endedAdvice(f.ending, f.isRequester))
            : null,
        )
      : null,
    cur.status === JobStatus.Submitted
      ? h(
          "p",
          { class: "hint" },
          "The receipt can be challenged while its window is open (see “Challenge the receipt”); the job then settles and the worker is paid.",
        )
      : null,
  ];
}

/** The job page's frame: where it belongs, who asked, and the panels the polling fills. */
function jobLayout(
  app: App,
  job: JobInfo,
  model: ModelInfo | undefined,
  isRequester: boolean,
  el: Record<
    | "live"
    | "cancelEl"
    | "reclaimEl"
    | "uploadEl"
    | "disputeEl"
    | "receiptEl"
    | "challengeEl"
    | "outcomeEl"
    | "resultEl"
    | "verifyEl",
    HTMLElement
  >,
): Child {
  const { live, cancelEl, reclaimEl, uploadEl, disputeEl, receiptEl, challengeEl, outcomeEl, resultEl, verifyEl } = el;
  return [
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: `#/model/${job.modelId}` }, model?.name ?? `Model ${job.modelId}`),
      " / ",
      `job ${job.id}`,
    ),
    h("h1", { tabindex: -1 }, `Job ${job.id}: ${KIND_LABEL[job.kind]} on ${model?.name ?? `model ${job.modelId}`}`),
    h(
      "p",
      null,
      `Requested by ${who(app, job.requester)} for a fee of ${tokens(job.fee)} OCEAN.`,
      isRequester ? " You requested it." : "",
    ),
    h(
      "section",
      { class: "panel", "aria-labelledby": "status-title" },
      h("h2", { id: "status-title" }, "Progress"),
      live,
    ),
    uploadEl,
    cancelEl,
    reclaimEl,
    disputeEl,
    receiptEl,
    challengeEl,
    h(
      "section",
      // Hidden until the job has a receipt (renderDone): a job that ended without one has no result to show.
      { class: "panel", "aria-labelledby": "outcome-title", id: "outcome", hidden: !job.receipt },
      h("h2", { id: "outcome-title" }, "Result"),
      outcomeEl,
      resultEl,
    ),
    verifyEl,
  ];
}

/** Whether the deadline passed (chain time) on a job still open or claimed, and how an ended job ended. */
async function liveFacts(app: App, cur: JobInfo, isRequester: boolean, known: Ending | undefined): Promise<LiveFacts> {
  const pending = cur.status === JobStatus.Open || cur.status === JobStatus.Claimed;
  // In chain time, which the contract goes by (never this machine's clock alone: a chain's clock may run ahead of it).
  const due = pending && (await app.market.chainTime().catch(() => 0)) > Number(cur.deadline);
  let ending = known?.status === cur.status ? known : undefined;
  if (FAILED.has(cur.status) && !ending) ending = await readEnding(app.market, cur).catch(() => undefined);
  return { ending, due, isRequester };
}

/**
 * Whether the requester should be offered to send the input again: the job open or claimed before its deadline, no
 * receipt, no acknowledgement of the input kept in this browser (a first upload that came through keeps one), and the
 * worker not past the input (received, running, done).
 */
function waitsForInput(app: App, cur: JobInfo, w: JobStatusView | undefined, f: LiveFacts): boolean {
  if (!f.isRequester || f.due || cur.receipt) return false;
  if (cur.status !== JobStatus.Open && cur.status !== JobStatus.Claimed) return false;
  if (/input_ready|running|output_stored|submitted/.test(w?.state ?? "")) return false;
  const storage = browserStorage();
  return !(storage && ackOf(storage, app.market.ph.jobMarket.target as string, cur.id));
}

/** A job with its receipt: the receipt, what it tells everyone, the requester's result (checked), and Verify. */
function renderDone(
  app: App,
  j: JobInfo,
  r: ReceiptView,
  model: ModelInfo | undefined,
  snap: Snapshot,
  isRequester: () => boolean,
  el: Record<"receiptEl" | "outcomeEl" | "resultEl" | "verifyEl", HTMLElement>,
): void {
  const { receiptEl, outcomeEl, resultEl, verifyEl } = el;
  outcomeEl.closest("section")?.removeAttribute("hidden");
  let result: { bytes: Uint8Array; hash: string; matches: boolean } | undefined;
  const fetchResult = async () => {
    try {
      result = await app.actions().result(j.id, r.outputHash);
      const doc = JSON.parse(new TextDecoder().decode(result.bytes)) as ResultDoc;
      fill(
        resultEl,
        h(
          "p",
          { class: result.matches ? "ok" : "bad" },
          result.matches
            ? "The result you downloaded hashes to the receipt's output hash."
            : "Warning: the result you downloaded does not hash to the receipt's output hash.",
        ),
        resultView(j, doc, result.bytes),
      );
    } catch (e) {
      fill(resultEl, errorBox(e));
    }
  };
  fill(receiptEl, receiptPanel(app, j, r, model));
  fill(outcomeEl, publicOutcome(j, r, model, snap));
  if (isRequester()) {
    if (app.account?.kind === "dev") void fetchResult();
    else {
      const b = h("button", { type: "button" }, "Show the result (your wallet signs the request)");
      b.addEventListener("click", () => void fetchResult());
      fill(resultEl, b);
    }
  } else if (j.kind === JobKind.Infer) {
    fill(
      resultEl,
      h("p", null, "Only the requester can read the generated text; the receipt above proves what was served."),
    );
  }
  fill(
    verifyEl,
    verifyPanel(app, j, r, model, () => result, isRequester),
  );
}

export async function jobPage(app: App, main: HTMLElement, params: string[]): Promise<() => void> {
  if (!/^\d+$/.test(params[0] ?? "")) throw new UserError(`"${params[0]}" is not a job id.`);
  const jobId = BigInt(params[0]);
  let snap = await app.snapshot();
  let job = snap.jobs.get(jobId.toString());
  if (!job) {
    throw new UserError(`There is no job ${jobId} on this chain.`, "See every job on the receipts page.", {
      label: "Go to the receipts",
      href: "#/receipts",
    });
  }
  const model = () => snap.byId.get((job as JobInfo).modelId.toString());
  const isRequester = () => app.account?.address.toLowerCase() === (job as JobInfo).requester.toLowerCase();

  const live = h("div", { class: "live", "aria-live": "polite" });
  const receiptEl = h("div");
  const challengeEl = h("div");
  const outcomeEl = h("div");
  const resultEl = h("div");
  const verifyEl = h("div");
  let workerView: JobStatusView | undefined;
  let workerError: unknown;
  // The claimant's API, registered on chain (another operator's, maybe); before a claim, the app's.
  const claimantApi = apiLookup(app.market.ph.jobMarket, app.worker);
  const workerApi = () => claimantApi((job as JobInfo).worker);
  const dispute = disputePanel(app, jobId, () => tick());
  const cancel = cancelPanel(app, jobId, () => tick());
  const reclaim = reclaimPanel(app, jobId, () => tick());
  const upload = uploadPanel(app, jobId, job.inputHash, () => tick());

  fill(
    main,
    jobLayout(app, job, model(), isRequester(), {
      live,
      cancelEl: cancel.el,
      reclaimEl: reclaim.el,
      uploadEl: upload.el,
      disputeEl: dispute.el,
      receiptEl,
      challengeEl,
      outcomeEl,
      resultEl,
      verifyEl,
    }),
  );

  // The losses the worker reports, step by step, for the chart; the request's time, for the elapsed time.
  const trace = new LossTrace();
  const requestedAt = (await app.market.provider.getBlock(job.block).catch(() => null))?.timestamp;
  const elapsed = () => (requestedAt === undefined ? undefined : Math.max(0, Date.now() / 1000 - requestedAt));
  let shown = false;
  let config: JobMarketConfig | undefined;
  let onChain: OnChainJob | undefined;
  const challenge = challengePanel(app, jobId, () => tick());
  let ending: Ending | undefined;
  const tick = async () => {
    const j = job as JobInfo;
    try {
      onChain = await app.market.ph.jobMarket.getJob(jobId);
      j.status = Number(onChain.status);
      j.worker = onChain.worker;
      if (j.status >= JobStatus.Submitted) config ??= await app.market.ph.jobMarket.config();
    } catch (e) {
      fill(live, errorBox(e));
      return;
    }
    try {
      workerView = await (await workerApi()).jobStatus(jobId);
      trace.add(workerView);
      workerError = undefined;
    } catch (e) {
      workerError = e instanceof WorkerApiError && e.code === "UNKNOWN_JOB" ? undefined : e;
    }
    if (j.status >= JobStatus.Submitted && !j.receipt) {
      snap = await app.snapshot();
      job = snap.jobs.get(jobId.toString()) ?? j;
    }
    const cur = job as JobInfo;
    const facts = await liveFacts(app, cur, isRequester(), ending);
    ending = facts.ending;
    fill(live, liveStatus(cur, workerView, workerError, progressView(workerView, elapsed(), trace), facts));
    cancel.update(cur.status === JobStatus.Open && !facts.due, isRequester(), workerView);
    reclaim.update({
      ...facts,
      deadline: cur.deadline,
      claimed: cur.status === JobStatus.Claimed,
      fee: cur.fee,
      collateral: onChain?.collateral ?? 0n,
    });
    upload.update(waitsForInput(app, cur, workerView, facts));
    if (cur.status === JobStatus.Failed) await dispute.update(isRequester());
    if (cur.receipt && !shown) {
      shown = true;
      renderDone(app, cur, cur.receipt, model(), snap, isRequester, { receiptEl, outcomeEl, resultEl, verifyEl });
      fill(challengeEl, challenge.el);
    }
    if (cur.receipt && config && onChain) {
      const clockNow = Math.floor(Date.now() / 1000);
      const now = cur.status === JobStatus.Submitted ? await app.market.chainTime().catch(() => clockNow) : clockNow;
      challenge.update(onChain, config, now);
    }
  };
  await tick();
  let stopped = false;
  const loop = async () => {
    while (!stopped && !TERMINAL_STATUSES.includes((job as JobInfo).status)) {
      await new Promise((r) => setTimeout(r, 700));
      if (!stopped) await tick().catch(() => undefined);
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}
