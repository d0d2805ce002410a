/**
 * The operator's HTTP API. Buyers upload job inputs and fetch results here; publishers upload model folders.
 * Every write and every result read is authenticated by an EIP-712 signature (see auth.ts) and checked against
 * the chain: an input must hash to the job's on-chain commitment, a result goes only to the job's requester,
 * a model folder only from the model's owner. Model weights are never served.
 *
 *   GET  /healthz                      liveness and ingestion status
 *   GET  /metrics                      Prometheus text
 *   GET  /jobs/:id                     public status and progress of a job
 *   PUT  /jobs/:id/input               body: the input bytes; header x-posthuman-signature (InputUpload)
 *   GET  /jobs/:id/result              headers x-posthuman-signature + x-posthuman-expiry (ResultRequest)
 *   PUT  /models/:id                   body: the files of the manifest, concatenated in its order;
 *                                      headers x-posthuman-manifest (base64 JSON) + x-posthuman-signature
 *   POST /models/inspect               same body and manifest, unsigned: the folder's weights root and config hash,
 *                                      computed and forgotten (a publisher registers that root, then uploads)
 *   GET  /, /assets/*, /web-config.json  the marketplace web app (offchain/web), when the server is given one
 */
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import type { TypedDataDomain } from "ethers";
import { authDigest, recoverAuth, type AuthMessage } from "../protocol/auth";
import { MODEL_FILES, manifestHash, type ManifestEntry } from "../protocol/model-upload";
import type { ArtifactStore } from "./store";

/** What the API needs to know about a job, read from the worker's state (which mirrors the chain). */
export interface JobView {
  requester: string;
  /** 0x sha256 commitment of the input, from the request on chain. */
  inputHash: string;
  /** True while the worker wants the input (claimed or claimable, input not yet received). */
  acceptsInput: boolean;
  /** Artifact hash (sha256 hex, no 0x) of result.json once stored. */
  resultArtifact?: string;
  /** Public status: state name, progress, failure reason. No secrets, no weights. */
  status: Record<string, unknown>;
}

export interface ApiDeps {
  domain: TypedDataDomain;
  store: ArtifactStore;
  getJob(jobId: bigint): Promise<JobView | undefined>;
  /** Called once an input is stored and verified; `artifact` is its store hash. */
  inputReceived(jobId: bigint, artifact: string, size: number): Promise<void>;
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
  health(): Record<string, unknown>;
  metrics(): string;
  limits: { maxInputBytes: number; maxModelBytes: number };
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
  ) {
    super(message);
  }
}

/** Files a model folder may hold (Hugging Face GPT-2 layout). Anything else is refused. */

function parseId(raw: string): bigint {
  if (!/^\d{1,78}$/.test(raw)) throw new ApiError(400, "BAD_ID", `"${raw}" is not a decimal id`);
  return BigInt(raw);
}

function header(req: http.IncomingMessage, name: string): string {
  const v = req.headers[name];
  if (typeof v !== "string" || !v) throw new ApiError(401, "UNSIGNED", `missing header ${name}`);
  return v;
}

function recover(domain: TypedDataDomain, msg: Parameters<typeof recoverAuth>[1], sig: string): string {
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
async function signedByRequester(
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

/**
 * Streams a request body through sha256 into the store, refusing it past `maxBytes` and refusing anything that
 * is not UTF-8 text (inputs are datasets and prompts) as soon as the offending bytes arrive.
 */
async function* textChunks(body: Readable, maxBytes: number, seen: { size: number }): AsyncGenerator<Uint8Array> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for await (const chunk of body) {
    const bytes = chunk as Buffer;
    seen.size += bytes.length;
    if (seen.size > maxBytes) throw new ApiError(413, "INPUT_TOO_LARGE", `input larger than ${maxBytes} bytes`);
    if (bytes.includes(0)) throw new ApiError(415, "INPUT_BINARY", "input holds NUL bytes: text (UTF-8) only");
    try {
      decoder.decode(bytes, { stream: true });
    } catch {
      throw new ApiError(415, "INPUT_INVALID_UTF8", "input is not valid UTF-8 text");
    }
    yield bytes;
  }
  try {
    decoder.decode();
  } catch {
    throw new ApiError(415, "INPUT_INVALID_UTF8", "input ends inside a UTF-8 sequence");
  }
}

async function putInput(deps: ApiDeps, req: http.IncomingMessage, jobId: bigint): Promise<Record<string, unknown>> {
  const sig = header(req, "x-posthuman-signature");
  const job = await deps.getJob(jobId);
  if (!job) throw new ApiError(404, "UNKNOWN_JOB", `job ${jobId} is not known to this worker (yet): retry shortly`);
  const msg: AuthMessage = { type: "InputUpload", value: { jobId, inputHash: job.inputHash } };
  const auth = await signedByRequester(deps, msg, sig, job.requester);
  if (!auth.ok) {
    throw new ApiError(
      403,
      "NOT_REQUESTER",
      `the signature does not come from the job's requester ${job.requester} over the job's input commitment ${job.inputHash} (recovered ${auth.recovered ?? "no ECDSA signer"}): sign InputUpload{jobId, inputHash} for the bytes the job committed to, with the requester's key or, for a contract requester, a key its ERC-1271 isValidSignature accepts`,
    );
  }
  if (!job.acceptsInput) throw new ApiError(409, "INPUT_CLOSED", `job ${jobId} does not take input any more`);
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > deps.limits.maxInputBytes) {
    throw new ApiError(413, "INPUT_TOO_LARGE", `input of ${declared} bytes exceeds ${deps.limits.maxInputBytes}`);
  }
  const seen = { size: 0 };
  const put = await deps.store.put(textChunks(req, deps.limits.maxInputBytes, seen), {
    maxBytes: deps.limits.maxInputBytes,
  });
  if (`0x${put.hash}` !== job.inputHash.toLowerCase()) {
    throw new ApiError(
      422,
      "INPUT_HASH_MISMATCH",
      `input hashes to 0x${put.hash}, the job commits to ${job.inputHash}`,
    );
  }
  await deps.inputReceived(jobId, put.hash, put.size);
  return { jobId: jobId.toString(), inputHash: job.inputHash, size: put.size };
}

async function getResult(deps: ApiDeps, req: http.IncomingMessage, res: http.ServerResponse, jobId: bigint) {
  const sig = header(req, "x-posthuman-signature");
  const expiryRaw = header(req, "x-posthuman-expiry");
  if (!/^\d{1,12}$/.test(expiryRaw)) throw new ApiError(400, "BAD_EXPIRY", "x-posthuman-expiry is unix seconds");
  const expiry = BigInt(expiryRaw);
  if (expiry < BigInt(Math.floor(Date.now() / 1000))) throw new ApiError(401, "EXPIRED", "the signature has expired");
  const job = await deps.getJob(jobId);
  if (!job) throw new ApiError(404, "UNKNOWN_JOB", `job ${jobId} is not known to this worker`);
  const auth = await signedByRequester(deps, { type: "ResultRequest", value: { jobId, expiry } }, sig, job.requester);
  if (!auth.ok) {
    throw new ApiError(403, "NOT_REQUESTER", "only the job's requester may read its result");
  }
  if (!job.resultArtifact) throw new ApiError(404, "NO_RESULT", `job ${jobId} has no result yet`);
  const bytes = await deps.store.getBuffer(job.resultArtifact);
  res.writeHead(200, { "content-type": "application/json", "content-length": bytes.length });
  res.end(bytes);
}

/** Splits the body into the manifest's files in a fresh temp folder, checking sizes and hashes as it goes. */
async function receiveBundle(req: http.IncomingMessage, entries: ManifestEntry[], dir: string): Promise<void> {
  let i = 0;
  let left = entries[0]?.size ?? 0;
  let hash = crypto.createHash("sha256");
  let fd = entries.length ? fs.openSync(path.join(dir, entries[0].path), "w") : -1;
  const finish = () => {
    fs.closeSync(fd);
    const got = hash.digest("hex");
    if (`0x${got}` !== entries[i].sha256) {
      throw new ApiError(
        422,
        "MODEL_FILE_HASH",
        `${entries[i].path} hashes to 0x${got}, the manifest says ${entries[i].sha256}`,
      );
    }
    i++;
    if (i < entries.length) {
      left = entries[i].size;
      hash = crypto.createHash("sha256");
      fd = fs.openSync(path.join(dir, entries[i].path), "w");
    }
  };
  if (entries.length && left === 0) finish();
  for await (const chunk of req) {
    let buf = chunk as Buffer;
    while (buf.length) {
      if (i >= entries.length) throw new ApiError(413, "MODEL_BODY_TOO_LONG", "body is longer than the manifest says");
      const take = buf.subarray(0, left);
      fs.writeSync(fd, take);
      hash.update(take);
      left -= take.length;
      buf = buf.subarray(take.length);
      while (left === 0 && i < entries.length) finish();
    }
  }
  if (i < entries.length) throw new ApiError(400, "MODEL_BODY_SHORT", "body is shorter than the manifest says");
}

/** Reads and checks the x-posthuman-manifest header: allowed names, sizes, hashes and the size limit. */
function readManifest(deps: ApiDeps, req: http.IncomingMessage): ManifestEntry[] {
  let entries: ManifestEntry[];
  try {
    entries = JSON.parse(
      Buffer.from(header(req, "x-posthuman-manifest"), "base64").toString("utf8"),
    ) as ManifestEntry[];
  } catch {
    throw new ApiError(400, "BAD_MANIFEST", "x-posthuman-manifest is not base64 JSON");
  }
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MODEL_FILES.size) {
    throw new ApiError(400, "BAD_MANIFEST", "the manifest must list the model's files");
  }
  let total = 0;
  const names = new Set<string>();
  for (const e of entries) {
    if (typeof e.path !== "string" || !MODEL_FILES.has(e.path) || names.has(e.path)) {
      throw new ApiError(
        400,
        "BAD_MANIFEST",
        `file "${String(e.path)}" is not allowed (allowed: ${[...MODEL_FILES].join(", ")})`,
      );
    }
    if (!Number.isSafeInteger(e.size) || e.size < 0 || !/^0x[0-9a-f]{64}$/.test(String(e.sha256))) {
      throw new ApiError(400, "BAD_MANIFEST", `bad size or sha256 for ${e.path}`);
    }
    names.add(e.path);
    total += e.size;
  }
  if (total > deps.limits.maxModelBytes) {
    throw new ApiError(413, "MODEL_TOO_LARGE", `model of ${total} bytes exceeds ${deps.limits.maxModelBytes}`);
  }
  return entries;
}

/** Receives a manifest's files into a fresh temp folder, hands it to `use`, and removes it. */
async function withBundle<T>(req: http.IncomingMessage, entries: ManifestEntry[], use: (dir: string) => Promise<T>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-model-upload-"));
  try {
    await receiveBundle(req, entries, dir);
    return await use(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function putModel(deps: ApiDeps, req: http.IncomingMessage, modelId: bigint): Promise<Record<string, unknown>> {
  const sig = header(req, "x-posthuman-signature");
  const entries = readManifest(deps, req);
  const uploader = recover(
    deps.domain,
    { type: "ModelUpload", value: { modelId, manifestHash: manifestHash(entries) } },
    sig,
  );
  return withBundle(req, entries, async (dir) => {
    const { weightsRoot } = await deps.acceptModel(modelId, uploader, dir);
    return { modelId: modelId.toString(), weightsRoot };
  });
}

async function inspectModel(deps: ApiDeps, req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const inspect = deps.inspectModel;
  if (!inspect) throw new ApiError(404, "NOT_FOUND", "this worker does not inspect model folders");
  const entries = readManifest(deps, req);
  return withBundle(req, entries, (dir) => inspect(dir));
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

/**
 * Serves the web app: "/" (and "/index.html") is index.html, "/assets/<name>" a file of dist/assets. Names are one
 * path segment of [A-Za-z0-9._-] not starting with a dot, and the resolved file must lie inside the assets folder:
 * nothing else of the disk can be reached. Assets carry content hashes in their names and are cached for good.
 */
function serveWeb(web: WebApp, res: http.ServerResponse, parts: string[]): boolean {
  let file: string;
  let immutable = false;
  if (parts.length === 0 || (parts.length === 1 && parts[0] === "index.html")) {
    file = path.join(web.dir, "index.html");
  } else if (parts.length === 2 && parts[0] === "assets" && /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(parts[1])) {
    const assets = path.resolve(web.dir, "assets");
    file = path.resolve(assets, parts[1]);
    if (path.dirname(file) !== assets) return false;
    immutable = true;
  } else {
    return false;
  }
  let bytes: Buffer;
  try {
    if (!fs.statSync(file).isFile()) return false;
    bytes = fs.readFileSync(file);
  } catch {
    return false;
  }
  const csp = [
    "default-src 'self'",
    `connect-src 'self' ${(web.connectSrc ?? []).join(" ")}`.trim(),
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream",
    "content-length": bytes.length,
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "x-content-type-options": "nosniff",
    "content-security-policy": csp,
  });
  res.end(bytes);
  return true;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
  res.writeHead(status, {
    "content-type": "application/json",
    "access-control-allow-origin": "*",
  });
  res.end(text);
}

export function createApiServer(deps: ApiDeps, onError?: (e: unknown) => void): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const parts = url.pathname.split("/").filter(Boolean);
    const route = async (): Promise<void> => {
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "access-control-allow-origin": "*",
          "access-control-allow-methods": "GET, PUT, POST",
          "access-control-allow-headers":
            "content-type, x-posthuman-signature, x-posthuman-expiry, x-posthuman-manifest",
        });
        return void res.end();
      }
      if (req.method === "GET" && url.pathname === "/healthz") return sendJson(res, 200, deps.health());
      if (req.method === "GET" && url.pathname === "/metrics") {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        return void res.end(deps.metrics());
      }
      if (parts[0] === "jobs" && parts.length >= 2) {
        const jobId = parseId(parts[1]);
        if (req.method === "GET" && parts.length === 2) {
          const job = await deps.getJob(jobId);
          if (!job) throw new ApiError(404, "UNKNOWN_JOB", `job ${jobId} is not known to this worker`);
          return sendJson(res, 200, { jobId: jobId.toString(), ...job.status });
        }
        if (req.method === "PUT" && parts[2] === "input" && parts.length === 3) {
          return sendJson(res, 200, await putInput(deps, req, jobId));
        }
        if (req.method === "GET" && parts[2] === "result" && parts.length === 3) {
          return getResult(deps, req, res, jobId);
        }
      }
      if (parts[0] === "models" && parts.length === 2 && req.method === "POST" && parts[1] === "inspect") {
        return sendJson(res, 200, await inspectModel(deps, req));
      }
      if (parts[0] === "models" && parts.length === 2 && req.method === "PUT") {
        return sendJson(res, 200, await putModel(deps, req, parseId(parts[1])));
      }
      if (deps.web && req.method === "GET") {
        if (url.pathname === "/web-config.json") return sendJson(res, 200, deps.web.config);
        if (serveWeb(deps.web, res, parts)) return;
      }
      throw new ApiError(404, "NOT_FOUND", `no route ${req.method} ${url.pathname}`);
    };
    route().catch((e: unknown) => {
      const err =
        e instanceof ApiError
          ? e
          : (e as { kind?: string }).kind === "too-large"
            ? new ApiError(413, "TOO_LARGE", (e as Error).message)
            : new ApiError(500, "INTERNAL", "internal error (see the worker's log)");
      if (!(e instanceof ApiError)) onError?.(e);
      if (!res.headersSent) sendJson(res, err.status, { error: { code: err.code, message: err.message } });
      else res.destroy();
      // Stop reading an upload we refused; the client sees the error response.
      req.resume();
    });
  });
}

export async function listen(server: http.Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  return `http://${host}:${addr.port}`;
}
