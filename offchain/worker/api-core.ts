/**
 * The worker API's shared parts: what it needs from the worker (ApiDeps), its error type, and the checks every
 * signed request passes from its headers alone, before any body is read: the signature, its expiry and nonce, and
 * the signer's quota.
 */
import type http from "node:http";
import type { TypedDataDomain } from "ethers";
import { MAX_AUTH_TTL_SEC, authDigest, recoverAuth, type AuthMessage, type Freshness } from "../protocol/auth";
import type { InputCheck, InputProblem } from "../ml/input-check";
import { decodeJobParams, encodeJobParams, JobKind, type JobKindName, type JobParams } from "../protocol/params";
import { EXECUTOR_KIND_OF } from "../protocol/job-spec";
import { DEFAULT_QUOTA, createQuotas, memoryNonceBook, type NonceBook, type Quotas } from "./guard";
import type { JobQuote } from "../protocol/quote";
import type { ArtifactStore } from "./store";
import type { PlannedJob } from "./quote";
import type { AnonymousLimitsOverride } from "./api-limits";
import type { BodyPace } from "./body-pace";

/** What the API needs to know about a job, read from the worker's state (which mirrors the chain). */
export interface JobView {
  requester: string;
  /** 0x sha256 commitment of the input, from the request on chain. */
  inputHash: string;
  /** True while the worker wants the input (claimed or claimable, input not yet received). */
  acceptsInput: boolean;
  /** The input arrived already (an upload whose answer the requester may have lost). */
  hasInput?: boolean;
  /** Artifact hash (sha256 hex, no 0x) of result.json once stored. */
  resultArtifact?: string;
  /** Public status: state name, progress, failure reason. No secrets, no weights, no worker paths. */
  status: Record<string, unknown>;
}

/** The public shape of a model a worker serves: what a requester needs to check a job before paying for it. */
export interface ModelShapeView {
  modelId: string;
  /** The model's context (config n_positions): prompts plus new tokens, and training/evaluation windows, fit in it. */
  nPositions: number;
  vocabSize: number;
  /** The most input bytes one of its tokens covers (a bound the SDK counts tokens with before paying). */
  maxTokenBytes?: number;
}

export interface ApiDeps {
  domain: TypedDataDomain;
  store: ArtifactStore;
  getJob(jobId: bigint): Promise<JobView | undefined>;
  /** A model this worker serves (uploaded by its owner, or trained here), else undefined. Absent: none is told. */
  modelShape?(modelId: bigint): Promise<ModelShapeView | undefined>;
  /**
   * Checks an input that hashes to the job's commitment against ml/input-check.ts's rules, with the model's
   * context and tokenizer. Absent: every committed input is taken.
   */
  checkInput?(jobId: bigint, bytes: Buffer): Promise<InputCheck>;
  /**
   * The same rules for the input of a job not yet requested (POST /models/:id/check-input), with the model's own
   * tokenizer; undefined when this worker does not hold the model. Absent: the route answers 404.
   */
  checkModelInput?(modelId: bigint, params: JobParams, bytes: Buffer): Promise<InputCheck | undefined>;
  /**
   * What this worker would decide now for a job not yet requested (GET /models/:id/quote): take it, or why not, with
   * its least fee and lifetime; undefined when it does not hold the model. Absent: the route answers 404.
   */
  quoteJob?(modelId: bigint, job: PlannedJob): Promise<JobQuote | undefined>;
  /** The committed input breaks the rules: the worker fails the job on chain at once (the requester is refunded). */
  inputRefused?(jobId: bigint, problem: InputProblem): Promise<void>;
  /**
   * Called once an input is stored and verified; `artifact` is its store hash. May return the worker's signed
   * InputReceived acknowledgement (protocol/input-ack.ts), which the requester keeps: it proves the input arrived.
   */
  inputReceived(jobId: bigint, artifact: string, size: number): Promise<void | { inputAck: string }>;
  /** The acknowledgement of an input that arrived already, signed again. */
  inputAckAgain?(jobId: bigint): Promise<{ inputAck: string }>;
  /** The model's owner on chain (undefined: no such model); asked before a byte of an upload is read. */
  modelOwner?(modelId: bigint): Promise<string | undefined>;
  /** Verifies owner and weights root on chain, stores the folder; returns the weights root. Throws ApiError. */
  acceptModel(modelId: bigint, uploader: string, dir: string): Promise<{ weightsRoot: string }>;
  /** Weights root and config hash of an uploaded folder, without storing it (POST /models/inspect). Throws ApiError. */
  inspectModel?(dir: string): Promise<{ weightsRoot: string; configHash: string }>;
  /**
   * ERC-1271: whether the contract at `account` approves `signature` over `digest` (false for an account without
   * code, a revert or any other answer). Lets a contract requester's signer upload its inputs and read its results.
   * Absent: only ECDSA signatures of the requester itself are accepted.
   */
  contractSignatureValid?(account: string, digest: string, signature: string): Promise<boolean>;
  /** Each (signer, nonce) of a write is accepted once (default: remembered in memory only). */
  nonces?: NonceBook;
  /** Requests and bytes per signer and window (default: DEFAULT_QUOTA). */
  quotas?: Quotas;
  /**
   * Budgets of the routes anyone may call before paying (check-input, quote), shared by all clients and per client
   * address (default: api-limits.ts's DEFAULT_ANONYMOUS_LIMITS); read when the server is created.
   */
  anonymousLimits?: AnonymousLimitsOverride;
  /** How long request bodies may take, signed uploads' pace (default: body-pace.ts's DEFAULT_BODY_PACE). */
  bodyPace?: Partial<BodyPace>;
  health(): Record<string, unknown> | Promise<Record<string, unknown>>;
  metrics(): string;
  limits: { maxInputBytes: number; maxModelBytes: number; maxInspectBytes?: number };
  /** Where uploads wait while they are checked (default: the OS's temp directory). */
  tmpDir?: string;
  /** The built web app to serve on GET / and /assets/*; absent: no web routes. */
  web?: WebApp;
}

/** A built single-page app: `dir` holds index.html and assets/; `config` is served as /web-config.json. */
export interface WebApp {
  dir: string;
  config: Record<string, unknown>;
  /** Origins the page may connect to besides its own (the chain's RPC), for the Content-Security-Policy. */
  connectSrc?: string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function parseId(raw: string): bigint {
  if (!/^\d{1,78}$/.test(raw)) throw new ApiError(400, "BAD_ID", `"${raw}" is not a decimal id`);
  return BigInt(raw);
}

export function header(req: http.IncomingMessage, name: string): string {
  const v = req.headers[name];
  if (typeof v !== "string" || !v) throw new ApiError(401, "UNSIGNED", `missing header ${name}`);
  return v;
}

/** The body length the client declares (undefined when it streams without one). */
export function declaredLength(req: http.IncomingMessage): number | undefined {
  const raw = req.headers["content-length"];
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw new ApiError(400, "BAD_LENGTH", "content-length is not a byte count");
  return Number(raw);
}

/** The expiry and nonce headers of a write, refused when expired, too far ahead or malformed. */
export function readFreshness(req: http.IncomingMessage, nowSec = Math.floor(Date.now() / 1000)): Freshness {
  const expiryRaw = header(req, "x-posthuman-expiry");
  const nonce = header(req, "x-posthuman-nonce");
  if (!/^\d{1,12}$/.test(expiryRaw)) throw new ApiError(400, "BAD_EXPIRY", "x-posthuman-expiry is unix seconds");
  if (!/^0x[0-9a-fA-F]{64}$/.test(nonce)) throw new ApiError(400, "BAD_NONCE", "x-posthuman-nonce is 32 bytes hex");
  const expiry = Number(expiryRaw);
  if (expiry < nowSec) throw new ApiError(401, "EXPIRED", "the signature has expired: sign the request again");
  if (expiry > nowSec + MAX_AUTH_TTL_SEC) {
    throw new ApiError(401, "EXPIRY_TOO_FAR", `the signature's expiry is more than ${MAX_AUTH_TTL_SEC} s ahead`);
  }
  return { expiry: BigInt(expiry), nonce };
}

/**
 * Lets an authenticated signer in: its nonce must be new (a replay is refused) and the request must fit its quota of
 * requests and bytes. Called after the signature is checked and before the body is read.
 */
export function admit(deps: ApiDeps, signer: string, fresh: Freshness | undefined, bytes: number): void {
  const q = (deps.quotas ??= createQuotas(DEFAULT_QUOTA)).charge(signer, bytes);
  if (!q.ok) {
    throw new ApiError(
      429,
      "QUOTA",
      `${signer} has used its quota of ${q.what} for now: try again in ${q.retryAfterSec} s`,
      { "retry-after": String(q.retryAfterSec) },
    );
  }
  if (fresh && !(deps.nonces ??= memoryNonceBook()).use(signer, fresh.nonce, Number(fresh.expiry))) {
    throw new ApiError(409, "REPLAYED", "this signed request was already used: sign a new one (fresh nonce)");
  }
}

export function recover(domain: TypedDataDomain, msg: AuthMessage, sig: string): string {
  try {
    return recoverAuth(domain, msg, sig);
  } catch {
    throw new ApiError(401, "BAD_SIGNATURE", "the signature is malformed");
  }
}

/**
 * Whether `sig` over `msg` is the requester's: an ECDSA signature by the requester, or (for a contract requester)
 * one that the contract approves through ERC-1271. Returns the ECDSA signer (or undefined) for error messages.
 */
export async function signedByRequester(
  deps: ApiDeps,
  msg: AuthMessage,
  sig: string,
  requester: string,
): Promise<{ ok: boolean; recovered?: string }> {
  if (!/^0x[0-9a-fA-F]{2,2048}$/.test(sig)) throw new ApiError(401, "BAD_SIGNATURE", "the signature is malformed");
  let recovered: string | undefined;
  try {
    recovered = recoverAuth(deps.domain, msg, sig);
  } catch {
    // Not a valid ECDSA signature: it may still be a contract's (ERC-1271 signatures are arbitrary bytes).
  }
  if (recovered?.toLowerCase() === requester.toLowerCase()) return { ok: true, recovered };
  if (
    deps.contractSignatureValid &&
    (await deps.contractSignatureValid(requester, authDigest(deps.domain, msg), sig))
  ) {
    return { ok: true, recovered };
  }
  if (!recovered) throw new ApiError(401, "BAD_SIGNATURE", "the signature is malformed");
  return { ok: false, recovered };
}

/** The job, fee, lifetime and input size of GET /models/:id/quote's query. */
export function queryQuote(url: URL): PlannedJob {
  const q = url.searchParams;
  const count = (name: string, digits: number, required = false): string | undefined => {
    const v = q.get(name) ?? undefined;
    if ((v === undefined && !required) || (v !== undefined && new RegExp(`^\\d{1,${digits}}$`).test(v))) return v;
    throw new ApiError(
      400,
      "BAD_QUOTE",
      `${name} is ${required ? "required, " : ""}a whole number of at most ${digits} digits`,
    );
  };
  const fee = count("fee", 78, true)!;
  const ttl = count("ttl", 9, true)!;
  const inputBytes = count("inputBytes", 15);
  const prompts = count("prompts", 9);
  const job = queryJob(url);
  return {
    kind: EXECUTOR_KIND_OF[job.kind],
    params: encodeJobParams(job),
    fee: BigInt(fee),
    ttlSec: Number(ttl),
    inputBytes: inputBytes === undefined ? undefined : Number(inputBytes),
    prompts: prompts === undefined ? undefined : Number(prompts),
  };
}

/** The job a requester means to pay for, from the query: `kind` (Train, Infer, Evaluate) and `params` (its ABI hex). */
export function queryJob(url: URL): JobParams {
  const kind = url.searchParams.get("kind") ?? "";
  const params = url.searchParams.get("params") ?? "";
  if (!Object.hasOwn(JobKind, kind) || !/^0x(?:[0-9a-fA-F]{64}){1,16}$/.test(params)) {
    throw new ApiError(400, "BAD_PARAMS", "give the job as ?kind=Train|Infer|Evaluate&params=<its ABI-encoded params>");
  }
  try {
    return decodeJobParams(JobKind[kind as JobKindName], params);
  } catch {
    throw new ApiError(400, "BAD_PARAMS", `params do not decode as ${kind === "Train" ? "a" : "an"} ${kind} job's`);
  }
}
