/**
 * A model card: what a person reads about a model beyond its numbers (name, description, licence, README, size) and,
 * for an evaluation, the benchmark's name. The contracts offer two free strings: a model's `metadataURI` (set at
 * publication, and mirrored in the Ocean DDO) and a job's `inputURI` (JobRequested). A card travels in either as a
 * `data:application/json,` URI, so a trainer names and describes the child in its finetune request and an evaluator
 * names the benchmark. Browser-safe.
 */

export interface ModelCard {
  name?: string;
  description?: string;
  /** An SPDX id or a few words: "Apache-2.0", "MIT", "CC-BY-4.0". */
  license?: string;
  /** The model folder's README.md, cut to `CARD_LIMITS.readme` characters. */
  readme?: string;
  /** Bytes of the model's files. */
  sizeBytes?: number;
  /** For an evaluation: the benchmark's name (its id is keccak256 of it). */
  benchmark?: string;
}

/** Characters kept of each text: the URI is stored on chain, so it stays short. */
export const CARD_LIMITS = { name: 64, description: 500, license: 64, readme: 2000, benchmark: 120 } as const;

const PREFIX = "data:application/json,";

/** The card trimmed to its limits, without empty fields. */
export function cleanCard(c: ModelCard): ModelCard {
  const out: ModelCard = {};
  for (const k of ["name", "description", "license", "readme", "benchmark"] as const) {
    const v = c[k]?.trim();
    if (v) out[k] = v.slice(0, CARD_LIMITS[k]);
  }
  if (typeof c.sizeBytes === "number" && Number.isFinite(c.sizeBytes) && c.sizeBytes > 0)
    out.sizeBytes = Math.round(c.sizeBytes);
  return out;
}

/** The card as a URI for `metadataURI` or `inputURI` ("" when the card is empty). */
export function cardURI(c: ModelCard): string {
  const clean = cleanCard(c);
  return Object.keys(clean).length ? PREFIX + encodeURIComponent(JSON.stringify(clean)) : "";
}

/** The card a URI carries; {} for anything else (an empty string, an https:// or ipfs:// URI, bad JSON). */
export function readCard(uri: string | undefined | null): ModelCard {
  if (!uri || !uri.startsWith(PREFIX)) return {};
  try {
    const v = JSON.parse(decodeURIComponent(uri.slice(PREFIX.length))) as unknown;
    return v && typeof v === "object" ? cleanCard(v as ModelCard) : {};
  } catch {
    return {};
  }
}
