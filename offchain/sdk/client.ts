/**
 * The PostHuman SDK for Node: the browser-safe core (core.ts `PostHumanCore`) plus what needs a file system or
 * Node-only libraries: model folders on disk (their weights root computed locally), a local store of inputs and
 * models so that receipts can be verified later by re-running the job (verify.ts), and purchases on Ocean's exchange
 * through ocean.js.
 *
 *   const ph = await PostHuman.init({ runner: signer, book, workerUrl, dataDir });
 *   const { jobId } = await ph.requestJob(modelId, { kind: "Infer", params }, input);
 *   const receipt = await ph.followJob(jobId, { onProgress });
 *   const { bytes, verified } = await ph.fetchResult(jobId);
 *
 * One class per contract on a typed base (`ph.registry`, `ph.jobs`, `ph.listings`, `ph.exchange`, `ph.vault(addr)`,
 * `ph.token(addr)`); every write there has an unsigned `buildXTx` form. Amounts are bigint. Errors are SdkError.
 */
import type { ethers } from "ethers";
import type { JobParams } from "../protocol/params";
import type { PublishedModel } from "../protocol/structs";
import type { SdkContext } from "./base";
import { PostHumanCore, connectContext, type CoreOptions, type PublishFilesOptions, type RequestedJob } from "./core";
import type { JobRequestOptions } from "./input-check";
import type { FixedRateExchangeClient } from "./exchange";
import type { OnChainReceipt } from "./job-market";
import { OceanJsExchangeClient } from "./ocean-exchange";
import { SdkError } from "./errors";
import { registeredAs, uploadCutShort } from "./publish";
import { LocalStore } from "./store";
import type { Verdict, VerifyOptions } from "./verify";
import { WorkerClient } from "./worker-client";

export {
  DEFAULT_JOB_FEE,
  DEFAULT_JOB_TTL_SEC,
  MAX_JOB_TTL_SEC,
  DEFAULT_WORKER_URL,
  type ClaimAllResult,
  type FollowProgress,
  type JobOverview,
  type ModelMetrics,
  type RequestedJob,
  type RewardRow,
} from "./core";

export interface InitOptions extends CoreOptions {
  /** Where inputs and model folders are kept so that receipts can be verified later; none: nothing is kept. */
  dataDir?: string;
}

export interface PublishFolderOptions extends PublishFilesOptions {
  /** The model's Hugging Face folder: its weights root and config hash are read from it. */
  dir: string;
  /** Upload the folder to the worker so that it can serve jobs (default true). */
  upload?: boolean;
}

export class PostHuman extends PostHumanCore {
  declare readonly worker: WorkerClient;
  readonly store?: LocalStore;

  private constructor(ctx: SdkContext, o: InitOptions) {
    super(ctx, o);
    this.store = o.dataDir ? new LocalStore(o.dataDir) : undefined;
  }

  /** Connects to the network of `book`, checking that the node is that chain and that the contracts are there. */
  static override async init(o: InitOptions): Promise<PostHuman> {
    return new PostHuman(await connectContext(o), o);
  }

  protected override makeExchange(ctx: SdkContext): FixedRateExchangeClient {
    return new OceanJsExchangeClient(ctx);
  }

  protected override makeWorker(url: string, domain: ethers.TypedDataDomain): WorkerClient {
    return new WorkerClient(url, domain);
  }

  /**
   * Publishes a model folder: registers it on chain (an Ocean data NFT + datatoken, priced, with its vault), uploads
   * the folder to the worker (which checks its weights root against the chain) and keeps a copy for verification.
   * A publish cut short after the registration resumes, as publish.ts's: the same folder published again by the same
   * account is uploaded to the model it is already (`resumed`; nothing is registered or paid again); another account's
   * is refused before anything is sent. An upload that fails after the registration says so (`data.registered`,
   * `data.modelId`, `data.dir`).
   */
  async publishModel(
    o: PublishFolderOptions,
  ): Promise<PublishedModel & { weightsRoot: string; uploaded: boolean; resumed?: boolean }> {
    const { weightsRoot, configHash, onChainTokenizerHash, loadCheckpoint, servableProblem } =
      await import("../ml/checkpoint");
    // What every worker would refuse (it could run no job on it) is refused before the model is registered.
    let problem: string | undefined;
    try {
      problem = servableProblem(loadCheckpoint(o.dir));
    } catch (e) {
      problem = (e as Error).message;
    }
    if (problem)
      throw new SdkError(
        "MODEL_UNSERVABLE",
        `${o.dir} is not a GPT-2 checkpoint a worker can serve: ${problem}. Nothing was registered or paid.`,
        "fix the model's folder (or export it again), then publish it",
        { data: { dir: o.dir } },
      );
    const root = await weightsRoot(o.dir);
    const upload = o.upload !== false;
    if (upload) await this.workerHealth();
    const earlier = await registeredAs(this, root);
    if (earlier) {
      this.onStep(
        `These weights are your model ${earlier.modelId} already (an earlier publish, perhaps cut short): ` +
          (upload ? "uploading its files to the worker, without registering again…" : "nothing is registered again."),
      );
      await this.store?.saveModel(o.dir);
      if (upload) await this.uploadAfterRegistration(earlier.modelId, o.dir);
      return { ...earlier, weightsRoot: root, uploaded: upload, resumed: true };
    }
    this.onStep("Registering the model on chain (a commitment to its weights root, then the publish)…");
    const published = await this.registry.publish({
      ...o,
      weightsRoot: root,
      configHash: await configHash(o.dir),
      tokenizerHash: await onChainTokenizerHash(o.dir),
    });
    await this.store?.saveModel(o.dir);
    if (upload) {
      this.onStep(`Model ${published.modelId} registered. Uploading its files to the worker…`);
      await this.uploadAfterRegistration(published.modelId, o.dir);
    }
    return { ...published, weightsRoot: root, uploaded: upload };
  }

  /** The upload of a model just registered: its failure says that the model is on chain (publish.ts uploadCutShort). */
  private async uploadAfterRegistration(modelId: bigint, dir: string): Promise<void> {
    await this.uploadModel(modelId, dir).catch((e: unknown) => {
      throw uploadCutShort(e, modelId, { dir });
    });
  }

  /** Uploads a model folder on disk to the worker (the signer must own the model on chain). */
  async uploadModel(modelId: bigint, dir: string): Promise<{ weightsRoot: string }> {
    return this.workerCall(() => this.worker.uploadModel(this.signer, modelId, dir));
  }

  /**
   * As the core's, keeping a copy of the input in the store first (verification re-runs the job on it), and the
   * claimant's acknowledgement of it after (`job dispute` presents it if the job is then failed for its input).
   */
  override async requestJob(
    modelId: bigint,
    params: JobParams,
    input: Uint8Array,
    o: JobRequestOptions = {},
  ): Promise<RequestedJob> {
    if (input.length > 0) this.store?.saveInput(input);
    return super.requestJob(modelId, params, input, o); // its upload goes through uploadInput below
  }

  /** As the core's, keeping the worker's acknowledgement of the input in the store (a dispute needs it). */
  override async uploadInput(
    jobId: bigint,
    input: Uint8Array,
    requestBlock?: number,
    inputName?: string,
  ): Promise<{ inputAck?: string }> {
    const r = await super.uploadInput(jobId, input, requestBlock, inputName);
    if (r.inputAck) this.store?.saveAck(this.jobs.address, jobId, r.inputAck);
    return r;
  }

  /** As the core's, with the result as a Buffer. */
  override async fetchResult(jobId: bigint): Promise<{ bytes: Buffer; verified: boolean; receipt: OnChainReceipt }> {
    const r = await super.fetchResult(jobId);
    return { ...r, bytes: Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength) };
  }

  /** Verifies a receipt by re-running the job locally with the runtime it names (see verify.ts). */
  async verify(jobId: bigint, o: VerifyOptions = {}): Promise<Verdict> {
    const { verifyJob } = await import("./verify");
    return verifyJob(this, jobId, o);
  }
}
