/**
 * The worker API client for Node: the browser-safe client (worker-api.ts) plus reading a model folder from disk.
 */
import fs from "node:fs";
import path from "node:path";
import type { ethers } from "ethers";
import { WorkerApi, modelBundle, type ModelBundle, type ModelFile } from "./worker-api";

export { WorkerApiError } from "./worker-api";

/** The files of a model folder on disk (every regular file at its top level; `modelBundle` keeps the model's). */
export function readModelFolder(dir: string): ModelFile[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => ({ name: d.name, bytes: fs.readFileSync(path.join(dir, d.name)) }));
}

export class WorkerClient extends WorkerApi {
  /** Uploads a model folder, given as a bundle or as the path of a folder on disk. */
  override async uploadModel(
    signer: ethers.Signer,
    modelId: bigint,
    folder: ModelBundle | string,
  ): Promise<{ weightsRoot: string }> {
    const b = typeof folder === "string" ? await modelBundle(readModelFolder(folder)) : folder;
    return super.uploadModel(signer, modelId, b);
  }
}
