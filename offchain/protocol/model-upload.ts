/**
 * The model-upload encoding of the worker's API (PUT /models/:id, POST /models/inspect), shared by the worker, the
 * SDK's client and the web app: the file names a model folder may hold and the manifest hash a ModelUpload signature
 * covers. Browser-safe (ethers only), unlike api.ts.
 */
import { ethers } from "ethers";

/** Files a model folder may hold (Hugging Face GPT-2 layout). Anything else is refused. */
export const MODEL_FILE_NAMES: readonly string[] = [
  "config.json",
  "model.safetensors",
  "tokenizer.json",
  "tokenizer_config.json",
  "generation_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
];

/** The same names as a set, for membership checks. */
export const MODEL_FILES: ReadonlySet<string> = new Set(MODEL_FILE_NAMES);

export interface ManifestEntry {
  path: string;
  size: number;
  sha256: string;
}

/** The manifest hash a ModelUpload signature covers: sha256 over the canonical manifest JSON. */
export function manifestHash(entries: ManifestEntry[]): string {
  return ethers.sha256(ethers.toUtf8Bytes(JSON.stringify(entries.map((e) => [e.path, e.size, e.sha256]))));
}
