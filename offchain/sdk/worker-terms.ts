/**
 * The worker's terms, read before a job is paid for: the largest input it takes (GET /healthz) and what it would
 * decide for this very job (GET /models/:id/quote: the params it runs, its price, the lifetime the job needs behind its
 * queue). What it would not take, nor any other worker registered on chain, is refused here, before any
 * transaction: a job it would only claim once its queue drained too (by its estimate, the job would miss its
 * deadline). A configured worker that does not serve the model declines it (MODEL_NOT_SERVED); one that gives no
 * quote (an older one) or does not answer tells nothing: it decides once the job is on chain, as before.
 */
import type { JobParams } from "../protocol/params";
import { MAX_JOB_TTL_SEC } from "./job-types";
import { SdkError, amountText } from "./errors";
import { WORKER_STATE_CODES, type JobQuote } from "../protocol/quote";
import { WorkerApiError, type WorkerApi, type WorkerHealth } from "./worker-api";

export interface PlannedRequest {
  modelId: bigint;
  params: JobParams;
  input: Uint8Array;
  /** How the user names the input (their file). */
  inputName: string;
  fee: bigint;
  ttlSec: number;
}

/** The worker's own state keeps it from any job for now (worker/standing.ts, its disk): its reason is a sentence. */
const WORKER_STATE: ReadonlySet<string> = new Set(WORKER_STATE_CODES);
/** A refusal whose reason is what the job would wait for ("the queue", "its input"). */
const waitsFor = (q: JobQuote) => !q.final && !WORKER_STATE.has(q.code ?? "");

/** The code of a worker's refusal of a model it does not serve (its UNKNOWN_MODEL answer, as a quote). */
const NOT_SERVED = "MODEL_NOT_SERVED";
const notServed = (job: PlannedRequest): JobQuote => ({
  take: false,
  final: true,
  code: NOT_SERVED,
  reason: `it does not serve model ${job.modelId} (it holds no folder of it with the weights the chain records)`,
});

/** The user's answer to a quote's refusal: what to change (nothing was paid). */
function change(q: JobQuote, ttlSec: number): string {
  if (q.code === "UNDERPRICED" && q.minFee !== undefined) {
    return `offer a fee of at least ${amountText(BigInt(q.minFee))} OCEAN`;
  }
  if ((q.code === "WOULD_MISS_DEADLINE" || q.code === "DEADLINE_TOO_CLOSE") && q.minTtlSec !== undefined) {
    if (q.minTtlSec > MAX_JOB_TTL_SEC) return "ask another worker (this one needs a lifetime over the 7 days allowed)";
    return `give the job a lifetime of at least ${q.minTtlSec} s (it has ${ttlSec} s)`;
  }
  if (q.code === "PARAMS_INVALID") return "change the job's parameters";
  if (q.code === "TOO_LONG") return "ask for less work (fewer training steps, a smaller input), or another worker";
  if (q.code === "NOT_INDEPENDENT") return "ask a worker that neither owns nor trained the model, or drop independence";
  if (q.code === "MODEL_INVALID")
    return "choose another model: no worker can run this one as the chain records it (its publisher must publish a fixed one)";
  if (q.code === NOT_SERVED)
    return "ask the model's publisher to upload its folder to a worker, or choose another model";
  if (WORKER_STATE.has(q.code ?? "")) return "ask another worker, or this one later (its operator has to act)";
  return "ask another worker";
}

/**
 * Whether another registered worker would take the job: "would" (its quote), "may" (it gives no quotes: an older
 * worker), or "no" (its quote says no, it does not serve the model, it is too busy to quote, or it does not answer: it
 * could not take the job's input either).
 */
async function otherAnswer(other: WorkerApi, job: PlannedRequest): Promise<"would" | "may" | "no"> {
  try {
    // Anyone's endpoint: asked once, within QUOTE_TIMEOUT_MS.
    const q = await other.quote(job.modelId, job.params, job, { askAgainIfBusy: false });
    return q.take ? "would" : "no";
  } catch (e) {
    // An older worker (no quotes) may still take it; one too busy to quote counts as not taking it (nothing is paid
    // on its word: the user asks again later).
    return e instanceof WorkerApiError && e.code === "NOT_FOUND" ? "may" : "no";
  }
}

/**
 * Refuses (SdkError WORKER_DECLINES) a job the worker would not take, unless another worker registered on chain
 * (`others`, asked at once) would or may; says (onStep) when the job goes ahead all the same. A job the worker would
 * only claim once its queue drained is refused too: by the worker's own estimate it would not finish by its deadline,
 * and it would sit open, paid for, until the worker skips it; the hint names the lifetime that fits now.
 */
export async function checkWorkerTerms(
  worker: WorkerApi,
  health: WorkerHealth,
  job: PlannedRequest,
  o: { onStep: (line: string) => void; others: () => Promise<WorkerApi[]>; latestBlock?: () => Promise<number> },
): Promise<void> {
  const limit = health.limits?.maxInputBytes;
  if (typeof limit === "number" && job.input.length > limit)
    throw new SdkError(
      "INPUT_TOO_LARGE",
      `${job.inputName} is ${job.input.length} bytes; the worker at ${worker.baseUrl} takes job inputs of at most ` +
        `${limit} bytes.`,
      "use a smaller input, or another worker: nothing was sent and nothing was paid",
      { data: { size: job.input.length, limit } },
    );
  // A worker that does not serve the model declines it (no worker may hold its weights: a folder never uploaded, or
  // one every worker refused); one that gives no quote, or does not answer, tells nothing.
  // A model registered moments ago (a child its training receipt just created) is unknown to a worker that has not
  // ingested its block yet: asked again once it has (20 s at most).
  const ask = () => worker.quote(job.modelId, job.params, job).catch((e: unknown) => e);
  let answer = await ask();
  const unknown = (a: unknown) => a instanceof WorkerApiError && a.code === "UNKNOWN_MODEL";
  if (unknown(answer) && o.latestBlock) {
    await worker.waitForBlock(await o.latestBlock(), Date.now() + 20_000).catch(() => undefined);
    answer = await ask();
  }
  const quote = unknown(answer) ? notServed(job) : answer instanceof Error ? undefined : (answer as JobQuote);
  if (!quote || quote.take) return;
  const others = await o.others().catch(() => []);
  const answers = await Promise.all(others.map((other) => otherAnswer(other, job)));
  const taker = answers.findIndex((a) => a !== "no");
  if (taker >= 0) {
    o.onStep(
      `The worker at ${worker.baseUrl} would not take this job (${quote.code}); the one at ${others[taker].baseUrl} ` +
        `${answers[taker]}: requesting it…`,
    );
    return;
  }
  throw new SdkError(
    "WORKER_DECLINES",
    `The worker at ${worker.baseUrl} would not take this job${waitsFor(quote) ? " in time: it would wait for" : ":"} ` +
      `${quote.reason} (${quote.code}); nor would any other worker registered on chain.`,
    `${change(quote, job.ttlSec)}: nothing was paid`,
    {
      data: {
        modelId: job.modelId,
        workerCode: quote.code,
        minFee: quote.minFee === undefined ? undefined : BigInt(quote.minFee),
        minTtlSec: quote.minTtlSec,
      },
    },
  );
}
