/**
 * Client of a worker's HTTP API (offchain/worker/api.ts): upload a job's input, read a job's status and result,
 * upload a model folder. Every call is signed with EIP-712 by the caller's signer.
 */
import fs from "node:fs";
import path from "node:path";
import { ethers, type TypedDataDomain } from "ethers";
import { MODEL_FILES, manifestHash, type ManifestEntry } from "../protocol/model-upload";
import { sha256Hex, signAuth, signFresh } from "../protocol/auth";

export class WorkerApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "WorkerApiError";
  }
}

async function check(res: Response, what: string): Promise<Response> {
  if (res.ok) return res;
  let code = "HTTP_" + res.status;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code: string; message: string } };
    if (body.error) ({ code, message } = body.error);
  } catch {
    /* not JSON */
  }
  throw new WorkerApiError(res.status, code, `${what}: ${message}`);
}

async function call(url: string, init: RequestInit, what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new WorkerApiError(
      0,
      "UNREACHABLE",
      `${what}: the worker at ${new URL(url).origin} does not answer (${(e as Error).message}). Is a worker running? Start one with \`posthuman up\` or \`posthuman worker\`.`,
    );
  }
  return check(res, what);
}

export class WorkerClient {
  constructor(
    readonly baseUrl: string,
    readonly domain: TypedDataDomain,
  ) {}

  async health(): Promise<Record<string, unknown>> {
    return (await (await call(`${this.baseUrl}/healthz`, {}, "health")).json()) as Record<string, unknown>;
  }

  async jobStatus(jobId: bigint): Promise<Record<string, unknown>> {
    return (await (await call(`${this.baseUrl}/jobs/${jobId}`, {}, `status of job ${jobId}`)).json()) as Record<
      string,
      unknown
    >;
  }

  /** Uploads the input of a job; the worker checks it hashes to the job's on-chain commitment. */
  async uploadInput(signer: ethers.Signer, jobId: bigint, bytes: Uint8Array): Promise<void> {
    const inputHash = sha256Hex(bytes);
    const headers = await signFresh(signer, this.domain, { type: "InputUpload", value: { jobId, inputHash } });
    await call(
      `${this.baseUrl}/jobs/${jobId}/input`,
      { method: "PUT", body: new Uint8Array(bytes), headers },
      `upload of job ${jobId}'s input`,
    );
  }

  /** Downloads a job's result (requester only); the caller checks it against the receipt's output hash. */
  async result(signer: ethers.Signer, jobId: bigint, ttlSec = 300): Promise<Buffer> {
    const expiry = BigInt(Math.floor(Date.now() / 1000) + ttlSec);
    const sig = await signAuth(signer, this.domain, { type: "ResultRequest", value: { jobId, expiry } });
    const res = await call(
      `${this.baseUrl}/jobs/${jobId}/result`,
      { headers: { "x-posthuman-signature": sig, "x-posthuman-expiry": expiry.toString() } },
      `result of job ${jobId}`,
    );
    return Buffer.from(await res.arrayBuffer());
  }

  /** Uploads a model folder (its Hugging Face files) for a model registered on chain by the signer. */
  async uploadModel(signer: ethers.Signer, modelId: bigint, dir: string): Promise<{ weightsRoot: string }> {
    const names = fs
      .readdirSync(dir)
      .filter((n) => MODEL_FILES.has(n))
      .sort();
    const entries: ManifestEntry[] = names.map((n) => {
      const bytes = fs.readFileSync(path.join(dir, n));
      return { path: n, size: bytes.length, sha256: sha256Hex(bytes) };
    });
    const signed = await signFresh(signer, this.domain, {
      type: "ModelUpload",
      value: { modelId, manifestHash: manifestHash(entries) },
    });
    const body = Buffer.concat(names.map((n) => fs.readFileSync(path.join(dir, n))));
    const res = await call(
      `${this.baseUrl}/models/${modelId}`,
      {
        method: "PUT",
        body: new Uint8Array(body),
        headers: {
          ...signed,
          "x-posthuman-manifest": Buffer.from(JSON.stringify(entries)).toString("base64"),
        },
      },
      `upload of model ${modelId}`,
    );
    return (await res.json()) as { weightsRoot: string };
  }
}
