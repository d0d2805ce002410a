/**
 * Client of a worker's HTTP API (offchain/worker/api.ts), browser-safe (fetch, bytes, ethers): health, job status,
 * a job's quote and signed input check (before paying), input upload and result download, model folder inspection and upload. The EIP-712 messages are the
 * protocol's (offchain/protocol/auth.ts). The SDK's Node entry adds reading a model folder from disk
 * (worker-client.ts); the web app uses this class as it is.
 */
import { ethers, type TypedDataDomain } from "ethers";
import { sha256Hex, signAuth, signFresh } from "../protocol/auth";
import { MODEL_FILE_NAMES, manifestHash, type ManifestEntry } from "../protocol/model-upload";
import { encodeJobParams, type JobParams } from "../protocol/params";
import { promptCount } from "../ml/input-check";
import type { JobQuote } from "../protocol/quote";

/** How long a requester waits for a worker's quote before it requests a job without one. */
export const QUOTE_TIMEOUT_MS = 10_000;
/**
 * How long a job's status, and its result, may take to come: the claimant's API is whatever its worker registered on
 * chain, and one that accepts the connection and never answers must not hold a follow (or a page) up.
 */
export const STATUS_TIMEOUT_MS = 10_000;
export const RESULT_TIMEOUT_MS = 120_000;
/** How long a requester waits for the worker to see a job and take its input, in all. */
export const INPUT_UPLOAD_TIMEOUT_MS = 60_000;
/** How long a signed result request stays valid. */
export const RESULT_REQUEST_TTL_SEC = 300;

/** The worker's API answered with an error, or did not answer at all (status 0, code UNREACHABLE). */
export class WorkerApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** For BUSY: the seconds the worker asked to wait (its retry-after header). */
    readonly retryAfterSec?: number,
  ) {
    super(message);
    this.name = "WorkerApiError";
  }
}

/** The longest wait for a busy worker that a request makes before asking again, once. */
const BUSY_RETRY_MAX_SEC = 10;

/**
 * Runs `attempt`; when the worker answers BUSY (its limits on checks, quotes and inspections, api-limits.ts) with a
 * short retry-after, waits that long and runs it once more. Each attempt signs afresh, so nothing is replayed.
 */
async function onceMoreIfBusy<T>(attempt: () => Promise<T>): Promise<T> {
  try {
    return await attempt();
  } catch (e) {
    const wait = e instanceof WorkerApiError && e.code === "BUSY" ? e.retryAfterSec : undefined;
    if (wait === undefined || wait > BUSY_RETRY_MAX_SEC) throw e;
    await sleep(wait * 1000);
    return attempt();
  }
}

/** One file of a model folder: its name in the folder and its bytes. */
export interface ModelFile {
  name: string;
  bytes: Uint8Array;
}

/** A model upload: the accepted files sorted by name, their manifest, and their bytes concatenated in that order. */
export interface ModelBundle {
  entries: ManifestEntry[];
  body: Uint8Array;
  /** The manifest as the x-posthuman-manifest header (base64 JSON). */
  header: string;
  /** Files given that are not part of a model upload (posthuman.json, a README, …): left out. */
  skipped: string[];
}

/** sha256 of bytes as 0x hex: the platform's native digest where there is one (browsers, Node ≥ 20), ethers' otherwise. */
export async function sha256Of(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return sha256Hex(bytes);
  return ethers.hexlify(new Uint8Array(await subtle.digest("SHA-256", new Uint8Array(bytes))));
}

function base64(text: string): string {
  const bytes = ethers.toUtf8Bytes(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** Bundles a model folder's files for `inspectModel` and `uploadModel`; other files are skipped and named. */
export async function modelBundle(files: ModelFile[]): Promise<ModelBundle> {
  const kept = files.filter((f) => MODEL_FILE_NAMES.includes(f.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
  const skipped = files.filter((f) => !MODEL_FILE_NAMES.includes(f.name)).map((f) => f.name);
  const entries: ManifestEntry[] = [];
  for (const f of kept) entries.push({ path: f.name, size: f.bytes.length, sha256: await sha256Of(f.bytes) });
  const body = new Uint8Array(kept.reduce((n, f) => n + f.bytes.length, 0));
  let at = 0;
  for (const f of kept) {
    body.set(f.bytes, at);
    at += f.bytes.length;
  }
  return { entries, body, header: base64(JSON.stringify(entries)), skipped };
}

/** What `GET /jobs/:id` answers. */
export interface JobStatusView {
  jobId: string;
  state?: string;
  error?: { code: string; message: string } | null;
  outputHash?: string | null;
  childModelId?: string | null;
  progress?: {
    phase?: string;
    step?: number;
    totalSteps?: number;
    loss?: number;
    etaSec?: number;
    note?: string;
    /** Waiting before a claim: for the job's input (upload it to this worker now), or for its queue. */
    waitsFor?: "input" | "queue" | "worker";
  } | null;
}

/** What `GET /healthz` answers (the fields this client reads). */
export interface WorkerHealth {
  ok?: boolean;
  worker?: string;
  chainId?: number;
  ingestion?: { checkpoint?: { number?: number } };
  /** The largest job input the worker accepts, in bytes (workers since the limit was published). */
  limits?: { maxInputBytes?: number };
  /** Whether it claims jobs at all (its stake, its endpoint): ok null when the chain could not be read. */
  standing?: { ok: boolean | null; code?: string | null; reason?: string };
  [k: string]: unknown;
}

/** What `GET /models/:id` answers: a served model's context, vocabulary and (newer workers) longest token in bytes. */
export interface ModelShape {
  modelId: string;
  nPositions: number;
  vocabSize: number;
  maxTokenBytes?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Socket errors of a connection the server closed while a request body was still being sent (Node's fetch). */
const CLOSED_WHILE_SENDING = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

export class WorkerApi {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    readonly domain: TypedDataDomain,
  ) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
  }

  protected async call(path: string, init: RequestInit, what: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, init);
    } catch (e) {
      // A worker refusing an upload answers at once and closes the connection; a large body still being sent then
      // meets the closed socket before the answer is read. That is not a worker that is down.
      const code = ((e as Error).cause as { code?: unknown } | undefined)?.code;
      if (init.body && typeof code === "string" && CLOSED_WHILE_SENDING.has(code)) {
        throw new WorkerApiError(
          0,
          "CONNECTION_CLOSED",
          `${what}: the worker at ${this.baseUrl} closed the connection while the request was sent (${code}): it ` +
            `does so when it refuses an upload (too large, over its quota, or not signed by whom it expects)`,
        );
      }
      throw new WorkerApiError(
        0,
        "UNREACHABLE",
        `${what}: the worker at ${this.baseUrl} does not answer (${(e as Error).message}).`,
      );
    }
    if (res.ok) return res;
    let code = `HTTP_${res.status}`;
    let message = res.statusText;
    let fromWorker = false;
    try {
      const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
      // The worker's own error is {code, message}; a proxy's JSON ({"error": "Bad Gateway"}) is not.
      const e = body.error;
      fromWorker = typeof e?.code === "string" && typeof e.message === "string";
      if (fromWorker) ({ code, message } = e as { code: string; message: string });
    } catch {
      /* not JSON */
    }
    if (!fromWorker && (res.status === 502 || res.status === 503 || res.status === 504)) {
      // A proxy in front of a worker that is down (a worker's own 503, e.g. BUSY, says so in its JSON).
      throw new WorkerApiError(
        0,
        "UNREACHABLE",
        `${what}: the worker at ${this.baseUrl} does not answer (${message}).`,
      );
    }
    const retryAfter = Number(res.headers.get("retry-after") ?? NaN);
    const retryAfterSec = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
    throw new WorkerApiError(res.status, code, `${what}: ${message}`, retryAfterSec);
  }

  async health(): Promise<WorkerHealth> {
    return (await (await this.call("/healthz", { cache: "no-store" }, "health check")).json()) as WorkerHealth;
  }

  /** The public shape of a model this worker serves (its context length…); UNKNOWN_MODEL when it does not serve it. */
  async modelShape(modelId: bigint): Promise<ModelShape> {
    const res = await this.call(`/models/${modelId}`, { cache: "no-store" }, `shape of model ${modelId}`);
    return (await res.json()) as ModelShape;
  }

  async jobStatus(jobId: bigint): Promise<JobStatusView> {
    const init = { cache: "no-store", signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) } as const;
    const res = await this.call(`/jobs/${jobId}`, init, `status of job ${jobId}`);
    return (await res.json()) as JobStatusView;
  }

  /**
   * What the worker would decide now for the job `params` on model `modelId` with this fee, lifetime and input, before
   * it is requested: take it, or why not (its code, whether for good), with the least fee and lifetime it would take.
   * A WorkerApiError UNKNOWN_MODEL: the worker does not serve the model (or, NOT_FOUND, gives no quotes).
   */
  async quote(
    modelId: bigint,
    params: JobParams,
    job: { fee: bigint; ttlSec: number; input: Uint8Array },
    o: { askAgainIfBusy?: boolean } = {},
  ): Promise<JobQuote> {
    const query = new URLSearchParams({
      kind: params.kind,
      params: encodeJobParams(params),
      fee: job.fee.toString(),
      ttl: String(job.ttlSec),
      inputBytes: String(job.input.length),
      ...(params.kind === "Infer" ? { prompts: String(promptCount(job.input)) } : {}),
    });
    // (A registered endpoint is anyone's: one that never answers must not hold the request up.)
    const ask = async () => {
      const init = { cache: "no-store", signal: AbortSignal.timeout(QUOTE_TIMEOUT_MS) } as const;
      const res = await this.call(`/models/${modelId}/quote?${query}`, init, "the worker's quote");
      return (await res.json()) as JobQuote;
    };
    return o.askAgainIfBusy === false ? ask() : onceMoreIfBusy(ask);
  }

  /**
   * Asks the worker whether `bytes` meet the input rules of the job `params` on model `modelId`, counted with the
   * model's own tokenizer (signed InputCheck), before the job is requested. Resolves when they do; a WorkerApiError
   * carries the rule broken (PROMPT_TOO_LONG, DATASET_TOO_SHORT, …) or UNKNOWN_MODEL (a worker without the model).
   */
  async checkInput(signer: ethers.Signer, modelId: bigint, params: JobParams, bytes: Uint8Array): Promise<void> {
    const inputHash = sha256Hex(bytes);
    const query = new URLSearchParams({ kind: params.kind, params: encodeJobParams(params) });
    await onceMoreIfBusy(async () => {
      const headers = await signFresh(signer, this.domain, { type: "InputCheck", value: { modelId, inputHash } });
      await this.call(
        `/models/${modelId}/check-input?${query}`,
        {
          method: "POST",
          body: new Blob([new Uint8Array(bytes)]),
          headers: { ...headers, "x-posthuman-input-hash": inputHash },
        },
        "check of the input",
      );
    });
  }

  /**
   * Uploads the input of a job (signed InputUpload); the worker checks it hashes to the job's on-chain commitment.
   * With `requestBlock` (the block of the JobRequested event) it first waits until the worker's ingestion has passed
   * that block, so that the upload is not refused as an unknown job; a refusal as unknown is still retried until
   * `timeoutMs` (a worker that reports no ingestion).
   */
  async uploadInput(
    signer: ethers.Signer,
    jobId: bigint,
    bytes: Uint8Array,
    o: { requestBlock?: number; timeoutMs?: number } = {},
  ): Promise<{ inputAck?: string }> {
    const end = Date.now() + (o.timeoutMs ?? INPUT_UPLOAD_TIMEOUT_MS);
    if (o.requestBlock !== undefined) await this.waitForBlock(o.requestBlock, end);
    for (;;) {
      // Each attempt is signed afresh: the worker takes each (expiry, nonce) once.
      const headers = await signFresh(signer, this.domain, {
        type: "InputUpload",
        value: { jobId, inputHash: sha256Hex(bytes) },
      });
      try {
        const res = await this.call(
          `/jobs/${jobId}/input`,
          { method: "PUT", body: new Blob([new Uint8Array(bytes)]), headers },
          `upload of job ${jobId}'s input`,
        );
        // The claimant's signed "input received": proof against a later failure that blames the input.
        const body = (await res.json().catch(() => ({}))) as { inputAck?: unknown };
        return typeof body.inputAck === "string" ? { inputAck: body.inputAck } : {};
      } catch (e) {
        if (!(e instanceof WorkerApiError) || e.code !== "UNKNOWN_JOB" || Date.now() > end) throw e;
        await sleep(250);
      }
    }
  }

  /** Waits until the worker's ingestion checkpoint reaches `block` (or `end`, or a worker that reports none). */
  async waitForBlock(block: number, end: number): Promise<void> {
    for (;;) {
      const seen = (await this.health()).ingestion?.checkpoint?.number;
      if (typeof seen !== "number" || seen >= block || Date.now() > end) return;
      await sleep(200);
    }
  }

  /** The job's result (requester only, signed ResultRequest); the caller compares its sha256 with the receipt. */
  async result(signer: ethers.Signer, jobId: bigint, ttlSec = RESULT_REQUEST_TTL_SEC): Promise<Uint8Array> {
    const expiry = BigInt(Math.floor(Date.now() / 1000) + ttlSec);
    const sig = await signAuth(signer, this.domain, { type: "ResultRequest", value: { jobId, expiry } });
    const res = await this.call(
      `/jobs/${jobId}/result`,
      {
        headers: { "x-posthuman-signature": sig, "x-posthuman-expiry": expiry.toString() },
        cache: "no-store",
        signal: AbortSignal.timeout(RESULT_TIMEOUT_MS),
      },
      `result of job ${jobId}`,
    );
    return new Uint8Array(await res.arrayBuffer());
  }

  /** The weights root and config hash the worker computes for a model folder, before anything is registered. */
  async inspectModel(
    signer: ethers.Signer,
    b: ModelBundle,
  ): Promise<{ weightsRoot: string; configHash: string; tokenizerHash?: string }> {
    return onceMoreIfBusy(async () => {
      const signed = await signFresh(signer, this.domain, {
        type: "ModelInspect",
        value: { manifestHash: manifestHash(b.entries) },
      });
      const res = await this.call(
        "/models/inspect",
        {
          method: "POST",
          body: new Blob([new Uint8Array(b.body)]),
          headers: { ...signed, "x-posthuman-manifest": b.header },
        },
        "inspection of the model folder",
      );
      return (await res.json()) as { weightsRoot: string; configHash: string; tokenizerHash?: string };
    });
  }

  /** Uploads a model folder (signed ModelUpload) for a model the signer registered on chain. */
  async uploadModel(signer: ethers.Signer, modelId: bigint, b: ModelBundle): Promise<{ weightsRoot: string }> {
    const signed = await signFresh(signer, this.domain, {
      type: "ModelUpload",
      value: { modelId, manifestHash: manifestHash(b.entries) },
    });
    const res = await this.call(
      `/models/${modelId}`,
      {
        method: "PUT",
        body: new Blob([new Uint8Array(b.body)]),
        headers: { ...signed, "x-posthuman-manifest": b.header },
      },
      `upload of model ${modelId}`,
    );
    return (await res.json()) as { weightsRoot: string };
  }
}
