/**
 * The API's routes that take or give bytes: job inputs (and their check before paying), job results, model folders
 * and their inspection. Each one
 * decides from the headers (signature, expiry, nonce, quota, declared size) before reading the body, writes the body
 * to a private temporary file that is closed and removed on every path, and moves it to the store only once it is
 * known good.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { MAX_AUTH_TTL_SEC, type AuthMessage } from "../protocol/auth";
import { MODEL_FILES, manifestHash, type ManifestEntry } from "../protocol/model-upload";
import { MAX_CHECKED_INPUT_BYTES } from "../ml/input-check";
import { DEFAULT_BODY_PACE, atUploadPace, type BodyPace } from "./body-pace";
import {
  ApiError,
  admit,
  declaredLength,
  header,
  queryJob,
  readFreshness,
  recover,
  signedByRequester,
  type ApiDeps,
} from "./api-core";

/** A fresh private folder under the deps' temp directory, handed to `use` and removed afterwards whatever happens. */
async function withTempDir<T>(deps: ApiDeps, use: (dir: string) => Promise<T>): Promise<T> {
  const base = deps.tmpDir ?? os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, "ph-upload-"));
  try {
    return await use(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The pace a signed upload is held to, its signer known (body-pace.ts). */
const paceOf = (deps: ApiDeps): BodyPace => ({ ...DEFAULT_BODY_PACE, ...deps.bodyPace });

/** Streams the body into `file` (closed on every path), refusing it past `maxBytes`; returns its size and sha256. */
async function receiveFile(req: http.IncomingMessage, file: string, maxBytes: number) {
  const fd = fs.openSync(file, "wx", 0o600);
  const hash = crypto.createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of req) {
      const bytes = chunk as Buffer;
      size += bytes.length;
      if (size > maxBytes) throw new ApiError(413, "INPUT_TOO_LARGE", `input larger than ${maxBytes} bytes`);
      hash.update(bytes);
      fs.writeSync(fd, bytes);
    }
  } finally {
    fs.closeSync(fd);
  }
  if (!req.complete) throw new ApiError(400, "BODY_SHORT", "the body ended before its declared length");
  return { size, hash: hash.digest("hex") };
}

export async function putInput(deps: ApiDeps, req: http.IncomingMessage, jobId: bigint) {
  const sig = header(req, "x-posthuman-signature");
  const fresh = readFreshness(req);
  const job = await deps.getJob(jobId);
  if (!job) throw new ApiError(404, "UNKNOWN_JOB", `job ${jobId} is not known to this worker (yet): retry shortly`);
  const msg: AuthMessage = { type: "InputUpload", value: { jobId, inputHash: job.inputHash, ...fresh } };
  const auth = await signedByRequester(deps, msg, sig, job.requester);
  if (!auth.ok) {
    throw new ApiError(
      403,
      "NOT_REQUESTER",
      `the signature does not come from the job's requester ${job.requester} over the job's input commitment ${job.inputHash} (recovered ${auth.recovered ?? "no ECDSA signer"}): sign InputUpload{jobId, inputHash, expiry, nonce} for the bytes the job committed to, with the requester's key or, for a contract requester, a key its ERC-1271 isValidSignature accepts`,
    );
  }
  if (job.hasInput && deps.inputAckAgain) {
    // It arrived already (an upload whose answer was lost to a Ctrl-C or a dropped connection): said so, with the
    // acknowledgement signed again, which a requester needs to dispute a failure blamed on the input.
    await new Promise<void>((done) =>
      req
        .on("end", done)
        .on("error", () => done())
        .resume(),
    );
    return { jobId: jobId.toString(), inputHash: job.inputHash, already: true, ...(await deps.inputAckAgain(jobId)) };
  }
  if (!job.acceptsInput) {
    // A job this worker skipped says why (its params, its price, its deadline…): the requester can cancel it.
    const error =
      job.status.state === "skipped" ? (job.status.error as { code: string; message?: string } | null) : null;
    const why = error ? `: this worker will not run it (${error.message ?? error.code})` : "";
    throw new ApiError(409, "INPUT_CLOSED", `job ${jobId} does not take input any more${why}`);
  }
  const max = deps.limits.maxInputBytes;
  const declared = declaredLength(req);
  if (declared !== undefined && declared > max) {
    throw new ApiError(413, "INPUT_TOO_LARGE", `input of ${declared} bytes exceeds ${max}`);
  }
  admit(deps, job.requester, fresh, declared ?? max);
  return withTempDir(deps, async (dir) => {
    const file = path.join(dir, "input");
    const got = await atUploadPace(req, paceOf(deps), "the input", () => receiveFile(req, file, max));
    if (`0x${got.hash}` !== job.inputHash.toLowerCase()) {
      throw new ApiError(
        422,
        "INPUT_HASH_MISMATCH",
        `input hashes to 0x${got.hash}, the job commits to ${job.inputHash}`,
      );
    }
    // The bytes are the ones the job committed to: if they break the rules, the job can never run. Say why, and
    // fail it on chain now (the requester is refunded) rather than at its deadline.
    const verdict = deps.checkInput ? await deps.checkInput(jobId, fs.readFileSync(file)) : { ok: true as const };
    if (!verdict.ok) {
      await deps.inputRefused?.(jobId, verdict);
      throw new ApiError(
        422,
        verdict.code,
        `${verdict.message}. The input matches the job's commitment, so the job cannot run: ` +
          `this worker fails it on chain now and the fee is refunded.`,
      );
    }
    const put = await deps.store.putFile(file, { maxBytes: max });
    const ack = await deps.inputReceived(jobId, put.hash, put.size);
    return { jobId: jobId.toString(), inputHash: job.inputHash, size: put.size, ...(ack ?? {}) };
  });
}

export async function getResult(deps: ApiDeps, req: http.IncomingMessage, res: http.ServerResponse, jobId: bigint) {
  const sig = header(req, "x-posthuman-signature");
  const expiryRaw = header(req, "x-posthuman-expiry");
  if (!/^\d{1,12}$/.test(expiryRaw)) throw new ApiError(400, "BAD_EXPIRY", "x-posthuman-expiry is unix seconds");
  const expiry = BigInt(expiryRaw);
  const nowSec = BigInt(Math.floor(Date.now() / 1000));
  if (expiry < nowSec) throw new ApiError(401, "EXPIRED", "the signature has expired");
  // A read carries no nonce: a signature that anyone who saw it could use for days is refused, as for writes.
  if (expiry > nowSec + BigInt(MAX_AUTH_TTL_SEC))
    throw new ApiError(401, "EXPIRY_TOO_FAR", `the signature's expiry is more than ${MAX_AUTH_TTL_SEC} s ahead`);
  const job = await deps.getJob(jobId);
  if (!job) throw new ApiError(404, "UNKNOWN_JOB", `job ${jobId} is not known to this worker`);
  const auth = await signedByRequester(deps, { type: "ResultRequest", value: { jobId, expiry } }, sig, job.requester);
  if (!auth.ok) {
    throw new ApiError(403, "NOT_REQUESTER", "only the job's requester may read its result");
  }
  // A read changes nothing, so it carries no nonce; it still counts against the requester's request quota.
  admit(deps, job.requester, undefined, 0);
  if (!job.resultArtifact) throw new ApiError(404, "NO_RESULT", `job ${jobId} has no result yet`);
  const bytes = await deps.store.getBuffer(job.resultArtifact);
  res.writeHead(200, { "content-type": "application/json", "content-length": bytes.length });
  res.end(bytes);
}

/** Splits the body into the manifest's files in `dir`, checking sizes and hashes as it goes; closes every file. */
async function receiveBundle(req: http.IncomingMessage, entries: ManifestEntry[], dir: string): Promise<void> {
  let i = 0;
  let left = entries[0]?.size ?? 0;
  let hash = crypto.createHash("sha256");
  let fd = entries.length ? fs.openSync(path.join(dir, entries[0].path), "wx", 0o600) : -1;
  const finish = () => {
    fs.closeSync(fd);
    fd = -1;
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
      fd = fs.openSync(path.join(dir, entries[i].path), "wx", 0o600);
    }
  };
  try {
    if (entries.length && left === 0) finish();
    for await (const chunk of req) {
      let buf = chunk as Buffer;
      while (buf.length) {
        if (i >= entries.length) {
          throw new ApiError(413, "MODEL_BODY_TOO_LONG", "body is longer than the manifest says");
        }
        const take = buf.subarray(0, left);
        fs.writeSync(fd, take);
        hash.update(take);
        left -= take.length;
        buf = buf.subarray(take.length);
        while (left === 0 && i < entries.length) finish();
      }
    }
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
  if (i < entries.length) throw new ApiError(400, "MODEL_BODY_SHORT", "body is shorter than the manifest says");
}

/** Reads and checks the x-posthuman-manifest header: allowed names, sizes, hashes and the size limit. */
function readManifest(req: http.IncomingMessage, maxBytes: number): ManifestEntry[] {
  let entries: ManifestEntry[];
  try {
    entries = JSON.parse(
      Buffer.from(header(req, "x-posthuman-manifest"), "base64").toString("utf8"),
    ) as ManifestEntry[];
  } catch (e) {
    if (e instanceof ApiError) throw e;
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
  if (total > maxBytes) throw new ApiError(413, "MODEL_TOO_LARGE", `model of ${total} bytes exceeds ${maxBytes}`);
  const declared = declaredLength(req);
  if (declared !== undefined && declared !== total) {
    throw new ApiError(400, "BAD_LENGTH", `the body is ${declared} bytes, the manifest's files ${total}`);
  }
  return entries;
}

const manifestBytes = (entries: ManifestEntry[]) => entries.reduce((n, e) => n + e.size, 0);

/**
 * The bytes a model upload's manifest declares (whatever its content-length, which a chunked body lacks), up to
 * `maxBytes`; 0 for a manifest that will be refused. Its body's time limit is reckoned from it (gatedInspect).
 */
export function declaredModelBytes(req: http.IncomingMessage, maxBytes: number): number {
  try {
    return manifestBytes(readManifest(req, maxBytes));
  } catch {
    return 0;
  }
}

export async function putModel(deps: ApiDeps, req: http.IncomingMessage, modelId: bigint) {
  const sig = header(req, "x-posthuman-signature");
  const fresh = readFreshness(req);
  const entries = readManifest(req, deps.limits.maxModelBytes);
  const uploader = recover(
    deps.domain,
    { type: "ModelUpload", value: { modelId, manifestHash: manifestHash(entries), ...fresh } },
    sig,
  );
  // The owner, from the chain, before a byte of the body: a stranger's upload is refused at once.
  if (deps.modelOwner) {
    const owner = await deps.modelOwner(modelId);
    if (!owner) throw new ApiError(404, "UNKNOWN_MODEL", `model ${modelId} is not registered on chain`);
    if (owner.toLowerCase() !== uploader.toLowerCase()) {
      throw new ApiError(403, "NOT_OWNER", `the upload is signed by ${uploader}, not by the model's owner`);
    }
  }
  admit(deps, uploader, fresh, manifestBytes(entries));
  return withTempDir(deps, async (dir) => {
    await atUploadPace(req, paceOf(deps), "the model folder", () => receiveBundle(req, entries, dir));
    const { weightsRoot } = await deps.acceptModel(modelId, uploader, dir);
    return { modelId: modelId.toString(), weightsRoot };
  });
}

/** Runs each task given after the previous one has settled, whatever its outcome. */
function serialQueue(): <T>(task: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return (task) => {
    const turn = last.then(task);
    last = turn.catch(() => undefined);
    return turn;
  };
}

/**
 * Input checks run one after another, each once its body has arrived (a slow sender holds nobody up): one input and
 * its tokens in memory at a time.
 */
const inTurn = serialQueue();

/**
 * POST /models/:id/check-input: the input rules of the job in the query, with the model's own tokenizer, for an input
 * that is not yet paid for (signed InputCheck over its sha256, under the signer's quota; at most MAX_CHECKED_INPUT_BYTES,
 * checked one at a time). Answers { ok: true }, or 422 with the rule it breaks; nothing is stored.
 */
export async function checkInputBeforeJob(deps: ApiDeps, req: http.IncomingMessage, url: URL, modelId: bigint) {
  const checker = deps.checkModelInput;
  if (!checker) throw new ApiError(404, "NOT_FOUND", "this worker does not check inputs before a job");
  const job = queryJob(url);
  const sig = header(req, "x-posthuman-signature");
  const fresh = readFreshness(req);
  const inputHash = header(req, "x-posthuman-input-hash");
  if (!/^0x[0-9a-fA-F]{64}$/.test(inputHash)) {
    throw new ApiError(400, "BAD_INPUT_HASH", "x-posthuman-input-hash is the input's sha256, 32 bytes hex");
  }
  const signer = recover(deps.domain, { type: "InputCheck", value: { modelId, inputHash, ...fresh } }, sig);
  const max = Math.min(deps.limits.maxInputBytes, MAX_CHECKED_INPUT_BYTES);
  const declared = declaredLength(req);
  if (declared !== undefined && declared > max) {
    throw new ApiError(
      413,
      "INPUT_TOO_LARGE",
      `input of ${declared} bytes exceeds ${max}: it is checked at its upload`,
    );
  }
  admit(deps, signer, fresh, declared ?? max);
  const verdict = await withTempDir(deps, async (dir) => {
    const file = path.join(dir, "input");
    const got = await receiveFile(req, file, max);
    if (`0x${got.hash}` !== inputHash.toLowerCase()) {
      throw new ApiError(422, "INPUT_HASH_MISMATCH", `input hashes to 0x${got.hash}, the signature names ${inputHash}`);
    }
    return inTurn(() => checker(modelId, job, fs.readFileSync(file)));
  });
  if (!verdict) {
    throw new ApiError(404, "UNKNOWN_MODEL", `this worker does not serve model ${modelId}: it cannot count its tokens`);
  }
  if (!verdict.ok) throw new ApiError(422, verdict.code, verdict.message);
  return { ok: true };
}

/** One inspection at a time per worker, each once its folder is in: loading a checkpoint takes memory and CPU. */
const inspectionTurn = serialQueue();

export async function inspectModel(deps: ApiDeps, req: http.IncomingMessage) {
  const inspect = deps.inspectModel;
  if (!inspect) throw new ApiError(404, "NOT_FOUND", "this worker does not inspect model folders");
  const sig = header(req, "x-posthuman-signature");
  const fresh = readFreshness(req);
  const entries = readManifest(req, deps.limits.maxInspectBytes ?? deps.limits.maxModelBytes);
  const signer = recover(
    deps.domain,
    { type: "ModelInspect", value: { manifestHash: manifestHash(entries), ...fresh } },
    sig,
  );
  admit(deps, signer, fresh, manifestBytes(entries));
  return withTempDir(deps, async (dir) => {
    await receiveBundle(req, entries, dir);
    return inspectionTurn(() => inspect(dir));
  });
}
