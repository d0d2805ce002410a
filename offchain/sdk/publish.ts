/**
 * Publishing a model folder given as files (a browser's file input), for the SDK's core: the worker computes the
 * folder's weights root, config hash and tokenizer hash (it keeps nothing), the model is registered on chain with
 * them (an Ocean data NFT + datatoken on the exchange), then the signed folder is uploaded to the worker, which checks
 * them against the chain and serves the model. Files that are not part of a model folder (posthuman.json, a README)
 * are left out and named in `skipped`. A `card` (description, licence, README) is stored in the model's metadataURI
 * and its Ocean DDO, with the folder's size.
 */
import type { ethers } from "ethers";
import { plainOceanMetadata, type PublishedModel, type PublishModelOptions } from "../protocol/structs";
import { SdkError } from "./errors";
import { cardURI, cleanCard, type ModelCard } from "./model-card";
import type { ModelRegistryClient } from "./registry";
import { modelBundle, type ModelFile, type WorkerApi } from "./worker-api";

export type PublishFilesOptions = Omit<PublishModelOptions, "weightsRoot" | "configHash" | "tokenizerHash">;

/** What publishing needs of the core. */
export interface PublishDeps {
  registry: ModelRegistryClient;
  worker: WorkerApi;
  signer: ethers.Signer;
  onStep: (line: string) => void;
  /** Throws a clear error when the worker does not answer (before anything is paid). */
  health(): Promise<unknown>;
  /** Runs a worker call, turning its failures into the SDK's errors. */
  call<T>(f: () => Promise<T>): Promise<T>;
}

export async function publishFiles(
  d: PublishDeps,
  files: ModelFile[],
  o: PublishFilesOptions,
  card_?: ModelCard,
): Promise<PublishedModel & { weightsRoot: string; skipped: string[] }> {
  const missing = ["config.json", "model.safetensors"].filter((n) => !files.some((f) => f.name === n));
  if (missing.length > 0)
    throw new SdkError(
      "MODEL_FOLDER_MISSING",
      `The model folder lacks ${missing.join(" and ")}.`,
      "give every file of the model's folder",
      { data: { missing } },
    );
  const bundle = await modelBundle(files);
  await d.health();
  d.onStep("The worker computes the folder's weights root…");
  const { weightsRoot, configHash, tokenizerHash } = await d.call(() => d.worker.inspectModel(d.signer, bundle));
  d.onStep("Registering the model on chain (two transactions: a commitment to its weights root, then the publish)…");
  const card = card_ ? { ...card_, name: card_.name ?? o.name, sizeBytes: bundle.body.length } : undefined;
  const metadataURI = card ? cardURI(card) : o.metadataURI;
  const published = await d.registry.publish({
    ...o,
    weightsRoot,
    configHash,
    tokenizerHash,
    metadataURI,
    // Ocean's metadata (the data NFT's DDO) carries the card too, for Ocean's own tools.
    oceanMetadata:
      o.oceanMetadata ??
      plainOceanMetadata({
        name: o.name,
        symbol: o.symbol,
        weightsRoot,
        uri: metadataURI ?? "",
        ...cleanCard(card ?? {}),
      }),
  });
  d.onStep(`Model ${published.modelId} registered. Uploading its files to the worker…`);
  await d.call(() => d.worker.uploadModel(d.signer, published.modelId, bundle));
  return { ...published, weightsRoot, skipped: bundle.skipped };
}
