/**
 * Publishing a model folder given as files (a browser's file input), for the SDK's core: the worker computes the
 * folder's weights root, config hash and tokenizer hash (it keeps nothing), the model is registered on chain with
 * them (an Ocean data NFT + datatoken on the exchange), then the signed folder is uploaded to the worker, which checks
 * them against the chain and serves the model. Files that are not part of a model folder (posthuman.json, a README)
 * are left out and named in `skipped`. A `card` (description, licence, README) is stored in the model's metadataURI
 * and its Ocean DDO, with the folder's size.
 *
 * A publish cut short after the registration (a reload, a lost connection, the worker down during the upload) leaves
 * a model on chain that no worker serves: publishing the same folder again with the same account then resumes it,
 * uploading to that model instead of registering again (`resumed`; the name, price and card stay the registration's).
 * The same folder from another account is refused before anything is sent: a weights root belongs to one model.
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
): Promise<PublishedModel & { weightsRoot: string; skipped: string[]; resumed?: boolean }> {
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
  const earlier = await registeredAs(d, weightsRoot);
  if (earlier) {
    d.onStep(`These weights are your model ${earlier.modelId} already: uploading its files to the worker again…`);
    await d.call(() => d.worker.uploadModel(d.signer, earlier.modelId, bundle));
    return { ...earlier, weightsRoot, skipped: bundle.skipped, resumed: true };
  }
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
  await d
    .call(() => d.worker.uploadModel(d.signer, published.modelId, bundle))
    .catch((e: unknown) => {
      throw uploadCutShort(e, published.modelId);
    });
  return { ...published, weightsRoot, skipped: bundle.skipped };
}

/**
 * The model that `weightsRoot` is registered as already, when it is the signer's root model (its publish to resume);
 * undefined when it is none. Another's model (or a derived one) is refused (PARAMS_INVALID): nothing was sent.
 */
export async function registeredAs(
  d: Pick<PublishDeps, "registry" | "signer">,
  weightsRoot: string,
): Promise<PublishedModel | undefined> {
  const modelId = await d.registry.contract.modelOfWeightsRoot(weightsRoot);
  if (modelId === 0n) return undefined;
  const m = await d.registry.get(modelId);
  const me = await d.signer.getAddress();
  if (m.owner.toLowerCase() !== me.toLowerCase() || m.parentId !== 0n)
    throw new SdkError(
      "PARAMS_INVALID",
      `These weights are model ${modelId} already (${m.parentId !== 0n ? "trained" : "published"} by ${m.owner}): a ` +
        "weights root belongs to one model, so they cannot be published again. Nothing was registered or paid.",
      "publish a model of your own (other weights)",
      { data: { param: "weightsRoot", weightsRoot, modelId, owner: m.owner } },
    );
  const c = d.registry.contract;
  const [log] = await d.registry.logs((a, b) => c.queryFilter(c.filters.ModelPublished(modelId), a, b)).catch(() => []);
  const { nft, datatoken, vault, exchangeId } = m;
  return { modelId, nft, datatoken, vault, exchangeId, txHash: log?.transactionHash ?? "" };
}

/**
 * The upload after a registration failed: the model is on chain (gas was spent; no worker serves it yet), so the error
 * says so, and that publishing the same folder again resumes the upload, rather than a worker error's "nothing was
 * paid". Its code stays the worker call's (WORKER_UNREACHABLE, WORKER_REFUSED); `data.registered` marks it (with
 * `facts`: the Node SDK adds the folder's `dir`).
 */
export function uploadCutShort(e: unknown, modelId: bigint, facts: Record<string, unknown> = {}): unknown {
  if (!(e instanceof SdkError)) return e;
  const why = e.cause instanceof Error ? e.cause.message : e.message;
  return new SdkError(
    e.code,
    `Model ${modelId} is registered on chain, but its files did not reach the worker (${why}): no worker serves it ` +
      "yet, so it takes no job.",
    `publish the same folder again with the same account: the upload to model ${modelId} resumes (it is not registered twice)`,
    { cause: e, data: { ...e.data, ...facts, modelId, registered: true } },
  );
}
