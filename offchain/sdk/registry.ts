/** ModelRegistry: models as Ocean assets, and their lineage. */
import { ethers } from "ethers";
import { ERC721Template__factory, ModelRegistry__factory, type ModelRegistry } from "../../typechain-types";
import type { IModelRegistry } from "../../typechain-types/artifacts/contracts/ModelRegistry";
import { publishParams, publishedModelOf, type PublishedModel, type PublishModelOptions } from "../protocol/structs";
import { ContractClient, type SdkContext, type UnsignedTx, unsigned } from "./base";
import { SdkError } from "./errors";

/** A model as the registry records it, as plain values. */
export interface ModelRecord {
  id: bigint;
  /** Publisher of a root model, trainer of a derived one. */
  owner: string;
  generation: number;
  frozen: boolean;
  /** The parent's owner at derivation (the other contributor of a derived model); zero for roots. */
  parentSide: string;
  parentId: bigint;
  /** The training job that produced the model; 0 for roots. */
  jobId: bigint;
  nft: string;
  datatoken: string;
  vault: string;
  /** FixedRateExchange id (root models priced at a fixed rate), else the zero hash. */
  exchangeId: string;
  weightsRoot: string;
  configHash: string;
  dataHash: string;
  benchmarkId: string;
  /** Declared baseline on `benchmarkId`, loss ×1e6 (a derived model's: its validation loss after training). */
  baselineMetric: bigint;
  metadataURI: string;
}

export interface LineageNode {
  model: ModelRecord;
  children: LineageNode[];
}

export function toModelRecord(id: bigint, m: IModelRegistry.ModelStructOutput): ModelRecord {
  return {
    id,
    owner: m.owner,
    generation: Number(m.generation),
    frozen: m.frozen,
    parentSide: m.parentSide,
    parentId: m.parentId,
    jobId: m.jobId,
    nft: m.nft,
    datatoken: m.datatoken,
    vault: m.vault,
    exchangeId: m.exchangeId,
    weightsRoot: m.weightsRoot,
    configHash: m.configHash,
    dataHash: m.dataHash,
    benchmarkId: m.benchmarkId,
    baselineMetric: m.baselineMetric,
    metadataURI: m.metadataURI,
  };
}

export class ModelRegistryClient extends ContractClient<ModelRegistry> {
  constructor(ctx: SdkContext) {
    super(ctx, ModelRegistry__factory.connect(ctx.book.contracts.ModelRegistry, ctx.runner));
  }

  count(): Promise<bigint> {
    return this.contract.modelCount();
  }

  async get(modelId: bigint): Promise<ModelRecord> {
    const count = await this.count();
    if (modelId < 1n || modelId > count)
      throw new SdkError(
        "UNKNOWN_MODEL",
        `There is no model ${modelId} on this chain (${count} model${count === 1n ? "" : "s"} so far).`,
        count === 0n ? "publish a model first" : `pick an id from 1 to ${count}`,
      );
    return toModelRecord(modelId, await this.contract.getModel(modelId));
  }

  /** Every model, oldest first (ids are 1…count; a parent always has a smaller id than its children). */
  async list(): Promise<ModelRecord[]> {
    const n = await this.count();
    const ids = Array.from({ length: Number(n) }, (_, i) => BigInt(i + 1));
    return Promise.all(ids.map(async (id) => toModelRecord(id, await this.contract.getModel(id))));
  }

  /** The Ocean data NFT's name of a model. */
  async name(model: Pick<ModelRecord, "nft">): Promise<string> {
    return ERC721Template__factory.connect(model.nft, this.ctx.runner).name();
  }

  /** Ancestors of a model, nearest first (bounded on chain by the lineage depth). */
  async ancestors(modelId: bigint, max = 64): Promise<bigint[]> {
    await this.get(modelId);
    return [...(await this.contract.ancestors(modelId, max))];
  }

  /** The family tree a model belongs to: from its root ancestor down to every descendant. */
  async lineage(modelId: bigint): Promise<LineageNode> {
    const ancestors = await this.ancestors(modelId);
    const rootId = ancestors.length ? ancestors[ancestors.length - 1] : modelId;
    const all = await this.list();
    const build = (m: ModelRecord): LineageNode => ({
      model: m,
      children: all.filter((c) => c.parentId === m.id && c.generation > 0).map(build),
    });
    return build(all[Number(rootId) - 1]);
  }

  /** The model whose datatoken is `datatoken`, or undefined. */
  async modelOfDatatoken(datatoken: string): Promise<bigint | undefined> {
    const id = await this.contract.modelOfDatatoken(datatoken);
    return id === 0n ? undefined : id;
  }

  async buildPublishTx(o: PublishModelOptions): Promise<UnsignedTx> {
    // A tokenizer other than GPT-2's is recorded with the model, else the worker refuses to serve its upload.
    const tx =
      o.tokenizerHash && o.tokenizerHash !== ethers.ZeroHash
        ? await this.contract.publishModelWithTokenizer.populateTransaction(publishParams(o), o.tokenizerHash)
        : await this.contract.publishModel.populateTransaction(publishParams(o));
    return unsigned(tx);
  }

  /**
   * The first of a publish's two transactions: the signer's commitment to `weightsRoot` (the root stays hidden until
   * `publishModel`, which the registry accepts from the next block on). Nothing is sent when it is already made.
   */
  async buildCommitTx(publisher: string, weightsRoot: string): Promise<UnsignedTx | null> {
    const commitment = await this.contract.weightsRootCommitment(publisher, weightsRoot);
    if ((await this.contract.commitmentBlock(commitment)) !== 0n) return null;
    return unsigned(await this.contract.commitWeightsRoot.populateTransaction(commitment));
  }

  /**
   * Publishes a root model owned by the signer: an Ocean data NFT + datatoken, priced, with its vault. Two
   * transactions: the commitment to the weights root (`buildCommitTx`), then the publish, which is mined in a later
   * block, so nobody who sees the root in the mempool can publish it first.
   */
  async publish(o: PublishModelOptions): Promise<PublishedModel> {
    if (!o.weightsRoot || o.weightsRoot === ethers.ZeroHash)
      throw new SdkError("MODEL_FOLDER_MISSING", "A model needs its weights root to be published.");
    const commit = await this.buildCommitTx(await this.signer.getAddress(), o.weightsRoot);
    if (commit) await this.send(commit, "commitWeightsRoot");
    const receipt = await this.sendAfterCommitment(await this.buildPublishTx(o), "publishModel");
    return publishedModelOf(this.event(receipt, "ModelPublished"), receipt.hash);
  }

  /**
   * Sends a registration whose commitment may be from the latest block. A node that simulates against the latest
   * block (geth's `eth_estimateGas`) refuses it there, as too early; it goes through once a later block exists, which
   * this waits for (at most `waitMs`). A node that simulates against the pending block takes it at once.
   */
  private async sendAfterCommitment(
    tx: UnsignedTx,
    what: string,
    waitMs = 120_000,
  ): Promise<ethers.TransactionReceipt> {
    try {
      return await this.send(tx, what);
    } catch (e) {
      const committedAt = BigInt(
        e instanceof SdkError && e.data.error === "ModelRegistryWeightsRootNotCommitted"
          ? ((e.data.args as string[])[1] ?? "0")
          : "0",
      );
      const provider = this.contract.runner?.provider;
      if (committedAt === 0n || !provider) throw e;
      for (const end = Date.now() + waitMs; BigInt(await provider.getBlockNumber()) <= committedAt;) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
      return this.send(tx, what);
    }
  }

  config(): Promise<IModelRegistry.ConfigStructOutput> {
    return this.contract.config();
  }
}
