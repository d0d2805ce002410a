/**
 * The worker's HTTP API from the browser (offchain/worker/api.ts): health, job status, signed input upload and
 * result download, model folder inspection and upload. The EIP-712 messages are the worker's own (auth.ts); the
 * Node client of the SDK (offchain/sdk/worker-client.ts) reads files from disk, this one takes bytes.
 */
import { ethers, type TypedDataDomain } from "ethers";
import { sha256Hex, signAuth, signFresh } from "../../protocol/auth";
import { MODEL_FILE_NAMES, manifestHash, type ManifestEntry } from "../../protocol/model-upload";
import { WorkerApiError } from "./errors";

/** One file of a model folder, as the page read it from a file input. */
export interface ModelFile {
  name: string;
  bytes: Uint8Array;
}

/** The files a model folder may hold. */
export const MODEL_FILES = MODEL_FILE_NAMES;
export { manifestHash, type ManifestEntry };

/** sha256 of bytes as 0x hex: the browser's native digest where it has one (secure contexts), ethers' otherwise. */
export async function sha256Of(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return sha256Hex(bytes);
  return ethers.hexlify(new Uint8Array(await subtle.digest("SHA-256", new Uint8Array(bytes))));
}

/** A model upload: the allowed files sorted by name, their manifest, and their bytes concatenated in that order. */
export interface ModelBundle {
  entries: ManifestEntry[];
  body: Uint8Array;
  /** The manifest as the x-posthuman-manifest header (base64 JSON). */
  header: string;
}

export async function modelBundle(files: ModelFile[]): Promise<ModelBundle> {
  const kept = files.filter((f) => MODEL_FILES.includes(f.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
  const entries: ManifestEntry[] = [];
  for (const f of kept) entries.push({ path: f.name, size: f.bytes.length, sha256: await sha256Of(f.bytes) });
  const body = new Uint8Array(kept.reduce((n, f) => n + f.bytes.length, 0));
  let at = 0;
  for (const f of kept) {
    body.set(f.bytes, at);
    at += f.bytes.length;
  }
  return { entries, body, header: btoa(JSON.stringify(entries)) };
}

/** A request body from bytes (copied into a plain ArrayBuffer, as Blob wants). */
function blob(bytes: Uint8Array): Blob {
  return new Blob([new Uint8Array(bytes)]);
}

export interface JobStatusView {
  jobId: string;
  state?: string;
  error?: { code: string; message: string } | null;
  outputHash?: string | null;
  childModelId?: string | null;
  progress?: { phase?: string; step?: number; totalSteps?: number; loss?: number; note?: string } | null;
}

export class WorkerApi {
  constructor(
    readonly baseUrl: string,
    readonly domain: TypedDataDomain,
  ) {}

  private async call(path: string, init: RequestInit, what: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, init);
    } catch (e) {
      throw new WorkerApiError(
        0,
        "UNREACHABLE",
        `${what}: the worker at ${this.baseUrl} does not answer (${(e as Error).message}).`,
      );
    }
    if (res.ok) return res;
    let code = `HTTP_${res.status}`;
    let message = res.statusText;
    try {
      const body = (await res.json()) as { error?: { code: string; message: string } };
      if (body.error) ({ code, message } = body.error);
    } catch {
      /* not JSON */
    }
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      throw new WorkerApiError(
        0,
        "UNREACHABLE",
        `${what}: the worker at ${this.baseUrl} does not answer (${message}).`,
      );
    }
    throw new WorkerApiError(res.status, code, `${what}: ${message}`);
  }

  async health(): Promise<Record<string, unknown>> {
    return (await (await this.call("/healthz", { cache: "no-store" }, "health check")).json()) as Record<
      string,
      unknown
    >;
  }

  async jobStatus(jobId: bigint): Promise<JobStatusView> {
    const res = await this.call(`/jobs/${jobId}`, { cache: "no-store" }, `status of job ${jobId}`);
    return (await res.json()) as JobStatusView;
  }

  async uploadInput(signer: ethers.Signer, jobId: bigint, bytes: Uint8Array): Promise<void> {
    const inputHash = sha256Hex(bytes);
    const headers = await signFresh(signer, this.domain, { type: "InputUpload", value: { jobId, inputHash } });
    await this.call(
      `/jobs/${jobId}/input`,
      { method: "PUT", body: blob(bytes), headers },
      `upload of job ${jobId}'s input`,
    );
  }

  /** The job's result document (requester only); the caller compares its sha256 with the receipt. */
  async result(signer: ethers.Signer, jobId: bigint, ttlSec = 300): Promise<Uint8Array> {
    const expiry = BigInt(Math.floor(Date.now() / 1000) + ttlSec);
    const sig = await signAuth(signer, this.domain, { type: "ResultRequest", value: { jobId, expiry } });
    const res = await this.call(
      `/jobs/${jobId}/result`,
      { headers: { "x-posthuman-signature": sig, "x-posthuman-expiry": expiry.toString() }, cache: "no-store" },
      `result of job ${jobId}`,
    );
    return new Uint8Array(await res.arrayBuffer());
  }

  /** The weights root and config hash the worker computes for a model folder, before anything is registered. */
  async inspectModel(signer: ethers.Signer, b: ModelBundle): Promise<{ weightsRoot: string; configHash: string }> {
    const signed = await signFresh(signer, this.domain, {
      type: "ModelInspect",
      value: { manifestHash: manifestHash(b.entries) },
    });
    const res = await this.call(
      "/models/inspect",
      { method: "POST", body: blob(b.body), headers: { ...signed, "x-posthuman-manifest": b.header } },
      "inspection of the model folder",
    );
    return (await res.json()) as { weightsRoot: string; configHash: string };
  }

  async uploadModel(signer: ethers.Signer, modelId: bigint, b: ModelBundle): Promise<{ weightsRoot: string }> {
    const signed = await signFresh(signer, this.domain, {
      type: "ModelUpload",
      value: { modelId, manifestHash: manifestHash(b.entries) },
    });
    const res = await this.call(
      `/models/${modelId}`,
      {
        method: "PUT",
        body: blob(b.body),
        headers: { ...signed, "x-posthuman-manifest": b.header },
      },
      `upload of model ${modelId}`,
    );
    return (await res.json()) as { weightsRoot: string };
  }
}
