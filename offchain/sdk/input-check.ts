/**
 * The SDK's side of the input rules (ml/input-check.ts): a job's input is checked with the worker's own
 * validators before any transaction, so nothing is paid for an input a worker would refuse; where only the model's
 * tokenizer can tell (a prompt near the context, a dataset near one window), the worker is asked before paying; and a
 * refusal that comes anyway (a worker that could not tell) is told once, naming the user's file and what was paid back.
 */
import type { ethers } from "ethers";
import type { JobParams, JobStatusName } from "../protocol/params";
import { EXECUTOR_KIND_OF, inputRulesOf } from "../protocol/job-spec";
import {
  checkJobInput,
  decidedByBytes,
  MAX_CHECKED_INPUT_BYTES,
  type InputCheckCode,
  type InputCheckContext,
} from "../ml/input-check";
import { SdkError } from "./errors";
import { WorkerApiError, type WorkerApi } from "./worker-api";

/** Options of a job request (PostHumanCore.requestJob). */
export interface JobRequestOptions {
  fee?: bigint;
  ttlSec?: number;
  /** False: request only (upload later with `uploadInput`). */
  upload?: boolean;
  inputURI?: string;
  /** How the user names the input (their file), in errors about it. */
  inputName?: string;
  /** The model's context length, when known: enables the input rules that depend on it. */
  nPositions?: number;
  /** Told as the request's transaction is sent, then with its job's id once mined (before the upload). */
  onSending?: () => void;
  onRequested?: (jobId: bigint) => void;
}

/** What the input rules need to know of the model: its context, and the most bytes one of its tokens covers. */
export interface TokenShape {
  nPositions: number;
  /** Absent: GPT-2's (MAX_TOKEN_BYTES). */
  maxTokenBytes?: number;
}

/**
 * Refuses (SdkError INPUT_INVALID) an input that breaks the rules for its job, before anything is sent or paid.
 * `file` is how the user named the input (their file); the model's `shape`, when known, enables the context rules.
 */
export function checkInputBeforePaying(params: JobParams, input: Uint8Array, file: string, shape?: TokenShape): void {
  const nPositions = shape?.nPositions;
  const ctx = inputRulesOf(params).contextLength;
  // The params the worker would refuse for this model (it does not claim such a job): a context past the model's,
  // more new tokens than the model's context holds.
  const wanted = params.kind === "Infer" ? params.params.maxTokens : ctx;
  if (nPositions !== undefined && wanted !== undefined && wanted > nPositions) {
    const what = params.kind === "Infer" ? `${wanted} new tokens` : `a context of ${wanted} tokens`;
    throw new SdkError(
      "PARAMS_INVALID",
      `The model's context is ${nPositions} tokens: ${what} cannot fit in it (no worker would take the job).`,
      "ask for less, then try again: nothing was sent and nothing was paid",
      { data: { nPositions, param: params.kind === "Infer" ? "maxTokens" : "contextLength" } },
    );
  }
  const rules = rulesOf(params, file, { nPositions: nPositions ?? ctx, maxTokenBytes: shape?.maxTokenBytes });
  const verdict = checkJobInput(EXECUTOR_KIND_OF[params.kind], input, rules);
  if (!verdict.ok) {
    throw new SdkError(
      "INPUT_INVALID",
      `${sentence(verdict.message)} (${verdict.code}).`,
      `fix ${fixWhat(file)} and try again: nothing was sent and nothing was paid`,
    );
  }
}

/** What to fix: the user's file, or (text typed in a page: no file name given) the input. */
const fixWhat = (file: string) => (file === "the input" ? "the input" : "the file");
/** A message that starts a sentence: "the input line 6 …" → "The input line 6 …" (a file's name stays as it is). */
const sentence = (m: string) => m.replace(/^the input\b/, "The input");

function rulesOf(params: JobParams, file: string, shape: Partial<TokenShape>): InputCheckContext {
  return {
    file,
    nPositions: shape.nPositions,
    maxTokenBytes: shape.maxTokenBytes,
    ...inputRulesOf(params),
  };
}

/**
 * Whether to do without asking the worker: the byte bounds decide every input rule (or the model's context is not
 * known), or the input is larger than a worker checks before paying (its upload is checked).
 */
export function decidedWithoutWorker(params: JobParams, input: Uint8Array, shape: TokenShape | undefined): boolean {
  if (shape === undefined || input.length > MAX_CHECKED_INPUT_BYTES) return true;
  return decidedByBytes(EXECUTOR_KIND_OF[params.kind], input, rulesOf(params, "", shape));
}

/**
 * Where `decidedWithoutWorker` is false: asks the worker (signed InputCheck, no transaction) to check the input with
 * the model's tokenizer, and refuses (SdkError INPUT_INVALID) what it would refuse. A worker that cannot tell (it does
 * not hold the model, is older, or does not answer) leaves the rules to the upload's check.
 */
export async function checkWithWorker(
  worker: WorkerApi,
  signer: ethers.Signer,
  modelId: bigint,
  params: JobParams,
  input: Uint8Array,
  file: string,
): Promise<void> {
  try {
    // (A worker busy with others' checks is asked once more after its retry-after: WorkerApi.checkInput.)
    await worker.checkInput(signer, modelId, params, input);
  } catch (e) {
    if (!(e instanceof WorkerApiError) || !INPUT_CODES.has(e.code)) return;
    // In the worker's words, which call the input "the input": the user's file name instead.
    const reason = e.message.replace(/^[^:]*: /, "").replace(/\bthe input\b/g, file);
    throw new SdkError(
      "INPUT_INVALID",
      `${sentence(reason)} (${e.code}), counted by the worker with the model's tokenizer.`,
      `fix ${fixWhat(file)} and try again: nothing was paid`,
      { data: { modelId, code: e.code } },
    );
  }
}

/** The states of a job that still takes its input. */
const TAKES_INPUT: ReadonlySet<JobStatusName> = new Set<JobStatusName>(["Open", "Claimed"]);

/** Refuses (JOB_ENDED) to upload `file` for a job that no longer takes input, saying where its fee went. */
export function refuseUploadIfEnded(jobId: bigint, status: JobStatusName, file: string): void {
  if (!TAKES_INPUT.has(status)) throw jobEnded(jobId, status, file);
}

function jobEnded(jobId: bigint, status: JobStatusName, file: string): SdkError {
  const where =
    status === "Cancelled" || status === "Reclaimed" || status === "Failed" || status === "Slashed"
      ? "its fee and datatoken went back to the requester"
      : "it has its worker's receipt";
  return new SdkError(
    "JOB_ENDED",
    `Job ${jobId} is ${status.toLowerCase()} (${where}): it takes no input any more, so ${file} was not sent.`,
    "request a new job to run this input",
    { data: { jobId, status } },
  );
}

const INPUT_CODES: ReadonlySet<string> = new Set<InputCheckCode>([
  "DATASET_EMPTY",
  "DATASET_BINARY",
  "DATASET_INVALID_UTF8",
  "DATASET_INVALID_JSONL",
  "DATASET_TOO_LARGE",
  "DATASET_TOO_SHORT",
  "PROMPTS_INVALID",
  "PROMPT_TOO_LONG",
]);

/**
 * The worker refused a job's committed input after the request was on chain: said once, with the user's file name
 * in place of the worker's wording, and what was and was not paid. Other errors are returned unchanged.
 */
export function explainInputRefusal(e: unknown, jobId: bigint, file: string, status?: JobStatusName): unknown {
  // The worker call wraps the API's error (WORKER_REFUSED): the API's own code decides.
  const api =
    e instanceof WorkerApiError ? e : e instanceof Error && e.cause instanceof WorkerApiError ? e.cause : null;
  // A job that ended meanwhile (cancelled, reclaimed…) takes no input: nothing is escrowed any more.
  if (status && !TAKES_INPUT.has(status) && !(api && INPUT_CODES.has(api.code))) return jobEnded(jobId, status, file);
  if (api?.code === "INPUT_CLOSED") {
    return new SdkError(
      "JOB_NOT_TAKEN",
      `The worker does not take job ${jobId}'s input${/any more(: .*)$/.exec(api.message)?.[1] ?? ""}. The job ` +
        `stays open, its fee and datatoken escrowed, until you cancel it (or, after its deadline, reclaim it).`,
      "cancel the job to get the fee and the datatoken back",
      { data: { jobId } },
    );
  }
  if (!api || !INPUT_CODES.has(api.code)) {
    // Anything else (the worker gone, or refusing the upload for a reason of its own) happened after the request:
    // the job is on chain and paid for, so the error says which job, and how to get the money back.
    // In the worker API's own words (the SDK's wrapping of a worker call speaks of a call made before paying).
    const why = api ? `${api.message} (${api.code})` : e instanceof Error ? e.message : String(e);
    return new SdkError(
      "INPUT_NOT_DELIVERED",
      `Job ${jobId} is requested on chain, its fee and datatoken escrowed, but ${file} did not reach the worker: ${why}`,
      "cancel the job to get them back while no worker has claimed it; a worker that claimed it fails it " +
        "(INPUT_MISSING) once its input wait is over, which gives them back too",
      { cause: e, data: { jobId } },
    );
  }
  const reason = api.message
    .replace(/^[^:]*: /, "")
    .replace(/the uploaded input/g, file)
    .replace(/\. The input matches the job's commitment.*$/, "");
  return new SdkError(
    "INPUT_INVALID",
    `The worker refused ${file} for job ${jobId}: ${reason} (${api.code}). The worker fails the job on chain now: ` +
      `the fee and the datatoken come back to you; only the gas of the request was spent.`,
    `fix ${fixWhat(file)} and request a new job`,
  );
}
