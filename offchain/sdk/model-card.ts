/**
 * A model card: what a person reads about a model beyond its numbers (name, description, licence, README, size) and,
 * for an evaluation, the benchmark's name. The contracts offer two free strings: a model's `metadataURI` (set at
 * publication, and mirrored in the Ocean DDO) and a job's `inputURI` (JobRequested). A card travels in either as a
 * `data:application/json,` URI, so a trainer names and describes the child in its finetune request and an evaluator
 * names the benchmark. A model's owner can also name and describe it later in its Ocean metadata (the data NFT's DDO,
 * `describeModel`), which Ocean's own tools read; `readModelCard` reads that back. Browser-safe (ethers only).
 */
import { ethers } from "ethers";
import { ERC721Template__factory } from "../../typechain-types";
import { plainOceanMetadata } from "../protocol/structs";
import type { PostHumanCore as PostHuman } from "./core";
import { sendTx } from "./base";
import type { ModelRecord } from "./registry";
import { logsInRanges } from "../protocol/logs";

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

/** Control characters (terminal escapes included) never reach a card or a screen. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * What is wrong with a card a person wrote, or undefined: a name of 1–80 characters on one line, a description of
 * at most 2000 characters, no control characters (terminal escapes) in either.
 */
export function cardProblem(card: ModelCard): string | undefined {
  const name = card.name?.trim() ?? "";
  const description = card.description?.trim() ?? "";
  if (!name || name.length > CARD_LIMITS.name || /[\r\n\t]/.test(name) || new RegExp(CONTROL.source).test(name))
    return `a model name must be 1–${CARD_LIMITS.name} characters on one line, without control characters`;
  if (description.length > CARD_LIMITS.description || new RegExp(CONTROL.source).test(description))
    return `a model description must be at most ${CARD_LIMITS.description} characters of plain text`;
  return undefined;
}

/** The DDO a card is stored as: the same flat shape a published root model's DDO has, plus the description. */
export function cardDdo(model: Pick<ModelRecord, "id" | "parentId" | "weightsRoot">, card: ModelCard): unknown {
  return {
    name: card.name,
    ...(card.description ? { description: card.description } : {}),
    modelId: model.id.toString(),
    ...(model.parentId ? { parentId: model.parentId.toString() } : {}),
    weightsRoot: model.weightsRoot,
  };
}

/** Names and describes a model its owner holds (a trainer, their child model): one transaction. */
export async function describeModel(client: PostHuman, modelId: bigint, card: ModelCard): Promise<{ txHash: string }> {
  const problem = cardProblem(card);
  if (problem) throw new RangeError(problem);
  const checked = { name: (card.name ?? "").trim(), description: card.description?.trim() || undefined };
  const model = await client.registry.get(modelId);
  const registry = client.registry.contract;
  const tx = await registry.updateOceanMetadata.populateTransaction(
    modelId,
    plainOceanMetadata(cardDdo(model, checked)),
  );
  const receipt = await sendTx(
    { runner: registry.runner as ethers.Signer, provider: client.provider, book: client.book },
    { to: tx.to, data: tx.data },
    "updateOceanMetadata",
    [registry.interface],
  );
  return { txHash: receipt.hash };
}

type CardReader = Pick<PostHuman, "provider"> & { book: { startBlock?: number } };

/**
 * A model's card, read the same way by the CLI and the web app: the card written with the model (a root model's
 * metadataURI; for a child, the card its trainer wrote in the finetune request, the training job's inputURI, which
 * `trainingInputURI` reads), with the name and description of its owner's latest Ocean metadata (`model describe`, or
 * the DDO written at publication) on top.
 */
export async function modelCard(
  client: CardReader,
  m: Pick<ModelRecord, "nft" | "parentId" | "metadataURI">,
  trainingInputURI: () => Promise<string | undefined>,
): Promise<ModelCard> {
  const written = readCard(m.parentId > 0n ? await trainingInputURI() : m.metadataURI);
  const ddo = await readModelCard(client, m).catch(() => undefined);
  return { ...written, ...ddo };
}

/** The model's card from its latest Ocean metadata, or undefined when it has none (a child not named yet). */
export async function readModelCard(
  client: CardReader,
  model: Pick<ModelRecord, "nft">,
): Promise<ModelCard | undefined> {
  const nft = ERC721Template__factory.connect(model.nft, client.provider);
  const from = client.book.startBlock ?? 0;
  const logs = [
    ...(await logsInRanges(client.provider, from, (a, b) => nft.queryFilter(nft.filters.MetadataCreated(), a, b))),
    ...(await logsInRanges(client.provider, from, (a, b) => nft.queryFilter(nft.filters.MetadataUpdated(), a, b))),
  ].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  const last = logs[logs.length - 1];
  if (!last || ethers.hexlify(last.args.flags) !== "0x00") return undefined;
  let ddo: { name?: unknown; description?: unknown; metadata?: { name?: unknown; description?: unknown } };
  try {
    ddo = JSON.parse(ethers.toUtf8String(last.args.data)) as typeof ddo;
  } catch {
    return undefined;
  }
  const name = ddo.metadata?.name ?? ddo.name;
  const description = ddo.metadata?.description ?? ddo.description;
  if (typeof name !== "string" || !name.trim()) return undefined;
  return {
    name: name.replace(CONTROL, "").slice(0, CARD_LIMITS.name),
    ...(typeof description === "string" && description
      ? { description: description.replace(CONTROL, "").slice(0, CARD_LIMITS.description) }
      : {}),
  };
}
