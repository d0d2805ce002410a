/**
 * The operator's HTTP API. Buyers upload job inputs and fetch results here; publishers upload model folders.
 * Every write and every result read is authenticated by an EIP-712 signature (see auth.ts) and checked against
 * the chain: an input must hash to the job's on-chain commitment, a result goes only to the job's requester,
 * a model folder only from the model's owner. Model weights are never served.
 *
 *   GET  /healthz                      liveness and ingestion status
 *   GET  /metrics                      Prometheus text
 *   GET  /jobs/:id                     public status and progress of a job
 *   PUT  /jobs/:id/input               body: the input bytes; InputUpload signed (signature, expiry, nonce headers)
 *   GET  /jobs/:id/result              headers x-posthuman-signature + x-posthuman-expiry (ResultRequest)
 *   GET  /models/:id                   a served model's public shape (context length, vocabulary), for checks before paying
 *   PUT  /models/:id                   body: the files of the manifest, concatenated in its order;
 *                                      headers x-posthuman-manifest (base64 JSON) + a signed ModelUpload
 *   POST /models/:id/check-input       body: a job's input, before it is requested; query kind + params (the job's
 *                                      ABI hex), header x-posthuman-input-hash and a signed InputCheck (anyone, under
 *                                      quota and the shared budget of api-limits.ts): the input rules with the model's
 *                                      own tokenizer, { ok } or 422
 *   GET  /models/:id/quote             query kind, params (ABI hex), fee (wei), ttl (s), inputBytes, prompts: what
 *                                      this worker would decide now for that job (take it, or why not, its least fee
 *                                      and lifetime), before it is requested (rate-limited, api-limits.ts)
 *   POST /models/inspect               same body and manifest, with a signed ModelInspect (anyone, under quota):
 *                                      the folder's weights root and config hash, computed and forgotten
 *
 * Who may send a body is decided from the headers alone, before a byte of it is read: a refused request is answered
 * at once and its connection closed. Signatures of writes carry an expiry (at most MAX_AUTH_TTL_SEC ahead) and a
 * nonce accepted once per signer; each signer has a quota of requests and bytes per window. The routes anyone may
 * call before paying (check-input, quote, inspect) also have budgets shared by all clients and quotas per client address
 * (api-limits.ts): beyond them, 429 BUSY with retry-after, never a queue. Uploads go to a private
 * temporary file first and reach the store only once they are known good: refused content is never stored.
 *   GET  /, /assets/*, /web-config.json  the marketplace web app (offchain/web), when the server is given one
 */
import fs from "node:fs";
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { ApiError, declaredLength, parseId, queryQuote, type ApiDeps, type WebApp } from "./api-core";
import { createAnonymousGate, gatedCheck, gatedInspect } from "./api-limits";
import { isDiskFull } from "./disk";
import { MAX_CHECKED_INPUT_BYTES } from "../ml/input-check";
import { DEFAULT_BODY_PACE, startWall } from "./body-pace";
import { checkInputBeforeJob, declaredModelBytes, getResult, inspectModel, putInput, putModel } from "./uploads";

export { ApiError, type ApiDeps, type JobView, type ModelShapeView, type WebApp } from "./api-core";

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
    // Any http(s) origin too: a job's input goes to, and its result comes from, whichever worker claimed it, at the
    // endpoint it registered on chain (other operators', registered at any time). Scripts still come only from here.
    `connect-src 'self' ${[...(web.connectSrc ?? []), "http:", "https:"].join(" ")}`,
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
  // What clients that pay nothing yet (check-input, quote) may make the worker spend, all of them together.
  const gate = createAnonymousGate(deps.anonymousLimits);
  // Node's limit on a whole request (300 s) would cut off a slow publisher's large upload: body-pace.ts keeps it for
  // every other request instead, and holds signed uploads to a pace.
  const wholeRequestMs = deps.bodyPace?.wholeRequestMs ?? DEFAULT_BODY_PACE.wholeRequestMs;
  const server = http.createServer((req, res) => {
    startWall(req, wholeRequestMs);
    const url = new URL(req.url ?? "/", "http://localhost");
    const parts = url.pathname.split("/").filter(Boolean);
    const route = async (): Promise<void> => {
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "access-control-allow-origin": "*",
          "access-control-allow-methods": "GET, PUT, POST",
          "access-control-allow-headers":
            "content-type, x-posthuman-signature, x-posthuman-expiry, x-posthuman-nonce, x-posthuman-manifest, " +
            "x-posthuman-input-hash",
        });
        return void res.end();
      }
      if (req.method === "GET" && url.pathname === "/healthz") return sendJson(res, 200, await deps.health());
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
        // Admitted (or 429 BUSY) from the client's address, before the signature is checked; the folder must come in
        // at a minimum rate (gatedInspect).
        const bytes = declaredModelBytes(req, deps.limits.maxInspectBytes ?? deps.limits.maxModelBytes);
        return sendJson(res, 200, await gatedInspect(gate, req, bytes, () => inspectModel(deps, req)));
      }
      if (parts[0] === "models" && parts.length === 3 && req.method === "POST" && parts[2] === "check-input") {
        // Admitted (or 429 BUSY) from the client's address and declared size alone, before the signature is checked.
        const most = Math.min(deps.limits.maxInputBytes, MAX_CHECKED_INPUT_BYTES);
        const bytes = Math.min(declaredLength(req) ?? most, most);
        const modelId = parseId(parts[1]);
        return sendJson(
          res,
          200,
          await gatedCheck(gate, req, bytes, () => checkInputBeforeJob(deps, req, url, modelId)),
        );
      }
      if (parts[0] === "models" && parts.length === 3 && req.method === "GET" && parts[2] === "quote") {
        gate.admitQuote(req);
        const modelId = parseId(parts[1]);
        // A worker built without quotes says so (NOT_FOUND), not that it lacks the model: a client then decides nothing.
        if (!deps.quoteJob) throw new ApiError(404, "NOT_FOUND", "this worker gives no quotes");
        const quote = await deps.quoteJob(modelId, queryQuote(url));
        if (!quote) throw new ApiError(404, "UNKNOWN_MODEL", `this worker does not serve model ${modelId}`);
        return sendJson(res, 200, quote);
      }
      if (parts[0] === "models" && parts.length === 2 && req.method === "GET") {
        const modelId = parseId(parts[1]);
        const shape = await deps.modelShape?.(modelId);
        if (!shape) throw new ApiError(404, "UNKNOWN_MODEL", `this worker does not serve model ${modelId}`);
        return sendJson(res, 200, shape);
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
            : isDiskFull(e)
              ? new ApiError(507, "DISK_FULL", "the worker's disk is full: try again later, or use another worker")
              : new ApiError(500, "INTERNAL", "internal error (see the worker's log)");
      if (!(e instanceof ApiError)) onError?.(e);
      if (res.headersSent) return void res.destroy();
      // A refused upload is not read on: the answer goes out at once and the connection is closed behind it.
      const unread = !req.complete;
      const socket = req.socket;
      if (unread) res.setHeader("connection", "close");
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      res.once("finish", () => {
        if (unread && socket && !socket.destroyed) socket.destroySoon();
      });
      sendJson(res, err.status, { error: { code: err.code, message: err.message } });
    });
  });
  server.requestTimeout = 0;
  return server;
}

export async function listen(server: http.Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  return `http://${host}:${addr.port}`;
}
