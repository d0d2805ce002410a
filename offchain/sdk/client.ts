/**
 * The PostHuman SDK: a typed client for people and for other dApps, over the protocol contracts, Ocean's exchange
 * (through ocean.js) and a worker's API.
 *
 *   const ph = await PostHuman.init({ runner: signer, book, workerUrl, dataDir });
 *   const { jobId } = await ph.requestJob(modelId, { kind: "Infer", params }, input);
 *   const receipt = await ph.followJob(jobId, { onProgress });
 *   const { bytes, verified } = await ph.fetchResult(jobId);
 *
 * One class per contract on a typed base (`ph.registry`, `ph.jobs`, `ph.listings`, `ph.exchange`, `ph.vault(addr)`,
 * `ph.token(addr)`); every write there has an unsigned `buildXTx` form. This class composes them into the flows a
 * person goes through (approve, then act; request, then upload; follow, then fetch and check). Amounts are bigint.
 * Errors are SdkError: a code, what went wrong, and what to do.
 */
import { ethers } from "ethers";
import type { AddressBook } from "../protocol/address-book";
import {
  JobStatus,
  ONE_DATATOKEN,
  encodeJobParams,
  type JobKindName,
  type JobParams,
  type JobStatusName,
} from "../protocol/params";
import { type PublishedModel, type PublishModelOptions } from "../protocol/structs";
import { authDomain, sha256Hex } from "../protocol/auth";
import { failReasonName } from "../protocol/job-spec";
import { isSigner, signerOf, type SdkContext, type Sent, type UnsignedTx } from "./base";
import { DatatokenMarketClient } from "./datatoken-market";
import { SdkError } from "./errors";
import { FixedRateExchangeClient } from "./exchange";
import { JobMarketClient, type JobRecord, type OnChainReceipt } from "./job-market";
import { ModelRegistryClient, type LineageNode, type ModelRecord } from "./registry";
import { checkInputBeforePaying, explainInputRefusal } from "./input-check";
import { LocalStore } from "./store";
import { TokenClient } from "./token";
import { RoyaltyVaultClient, type ClaimRecord } from "./vault";
import type { Verdict, VerifyOptions } from "./verify";
import { WorkerApiError, WorkerClient } from "./worker-client";

export const DEFAULT_WORKER_URL = "http://127.0.0.1:8550";
/** Fee escrowed for the worker when none is given: 1 base token. */
export const DEFAULT_JOB_FEE = ethers.parseEther("1");
/** Time a worker has to deliver a receipt when none is given. */
export const DEFAULT_JOB_TTL_SEC = 15 * 60;

export interface InitOptions {
  /** A signer for writes, or a provider for reads only. */
  runner: ethers.Signer | ethers.Provider;
  /** The network's address book (deployments/<network>.json): chainId, startBlock, contracts. */
  book: AddressBook;
  /** The operator's worker API (default http://127.0.0.1:8550). */
  workerUrl?: string;
  /** Where inputs and model folders are kept so that receipts can be verified later; none: nothing is kept. */
  dataDir?: string;
}

export interface PublishFolderOptions extends Omit<PublishModelOptions, "weightsRoot" | "configHash"> {
  /** The model's Hugging Face folder: its weights root and config hash are read from it. */
  dir: string;
  /** Upload the folder to the worker so that it can serve jobs (default true). */
  upload?: boolean;
}

export interface RequestedJob extends Sent {
  jobId: bigint;
  modelId: bigint;
  kind: JobKindName;
  /** 0x sha256 of the input bytes: the on-chain commitment. */
  inputHash: string;
  fee: bigint;
  deadline: bigint;
  /** Approvals sent before the request (datatoken, base token). */
  approvals: string[];
  uploaded: boolean;
}

/** What `followJob` reports while a job runs. */
export interface FollowProgress {
  status: JobStatusName;
  /** The worker's own state (seen, claimed, input_ready, running, output_stored, …), when it answers. */
  state?: string;
  progress?: { phase?: string; step?: number; totalSteps?: number; loss?: number; etaSec?: number } | null;
}

export interface JobOverview {
  job: JobRecord;
  receipt?: OnChainReceipt;
  /** The worker's view (state, progress, failure), when it answers. */
  worker?: Record<string, unknown>;
  /** JobFailed's reason code and name, for a failed job. */
  failure?: { reason: number; name: string };
}

export interface ModelMetrics {
  model: ModelRecord;
  evaluations: { jobId: bigint; benchmarkId: string; loss: bigint; tokens: bigint; worker: string }[];
  finetunes: { jobId: bigint; childModelId: bigint; valLossBefore: bigint; valLossAfter: bigint }[];
  inferences: { jobId: bigint; outputHash: string }[];
}

export interface RewardRow {
  modelId: bigint;
  vault: string;
  shares: bigint;
  totalShares: bigint;
  claimableBase: bigint;
  claimableDatatokens: bigint;
  /** Base token the model received but nobody distributed yet (in its vault, or unsold in its exchange): `claimAll` books it. */
  undistributed: bigint;
  claims: ClaimRecord[];
}

export interface ClaimAllResult {
  collected: { modelId: bigint; amount: bigint; txHash: string }[];
  distributed: { modelId: bigint; toHolders: bigint; toParent: bigint; txHash: string }[];
  claimed: { modelId: bigint; base: bigint; datatokens: bigint; txHash: string }[];
}

function failHint(name: string, modelId: bigint): string {
  if (name === "MODEL_UNAVAILABLE")
    return `the worker has not got model ${modelId}'s weights: its publisher uploads them with posthuman model upload <folder> ${modelId}`;
  if (name.startsWith("DATASET_") || name.startsWith("PROMPT") || name === "PARAMS_INVALID")
    return "fix the input or the params and request again (the fee was refunded; the datatoken was consumed)";
  if (name === "INPUT_MISSING") return "the input never reached the worker: request again and keep the command running";
  return "the fee was refunded; see the worker's logs (docs/operator.md) or request again";
}

export class PostHuman {
  readonly registry: ModelRegistryClient;
  readonly jobs: JobMarketClient;
  readonly listings: DatatokenMarketClient;
  readonly exchange: FixedRateExchangeClient;
  readonly baseToken: TokenClient;
  readonly worker: WorkerClient;
  readonly store?: LocalStore;

  private constructor(
    private readonly ctx: SdkContext,
    workerUrl: string,
    dataDir: string | undefined,
  ) {
    this.registry = new ModelRegistryClient(ctx);
    this.jobs = new JobMarketClient(ctx);
    this.listings = new DatatokenMarketClient(ctx);
    this.exchange = new FixedRateExchangeClient(ctx);
    this.baseToken = new TokenClient(ctx, ctx.book.contracts.OceanToken);
    this.worker = new WorkerClient(
      workerUrl.replace(/\/$/, ""),
      authDomain(ctx.book.chainId, ctx.book.contracts.JobMarket),
    );
    this.store = dataDir ? new LocalStore(dataDir) : undefined;
  }

  /** Connects to the network of `book`, checking that the node is that chain and that the contracts are there. */
  static async init(o: InitOptions): Promise<PostHuman> {
    const provider = isSigner(o.runner) ? o.runner.provider : o.runner;
    if (!provider) throw new SdkError("READ_ONLY", "The signer has no provider: connect it to an RPC node first.");
    for (const k of ["ModelRegistry", "JobMarket", "DatatokenMarket", "FixedRateExchange", "OceanToken"]) {
      if (!o.book.contracts[k])
        throw new SdkError(
          "NO_CONTRACTS",
          `The address book has no ${k}.`,
          "pass the address book `posthuman up` or scripts/deploy.ts wrote",
        );
    }
    const { chainId } = await provider.getNetwork();
    if (Number(chainId) !== o.book.chainId)
      throw new SdkError(
        "WRONG_CHAIN",
        `The RPC node is chain ${chainId} but the address book is for chain ${o.book.chainId}.`,
        "pass the matching --rpc and --deployment",
      );
    if ((await provider.getCode(o.book.contracts.ModelRegistry)) === "0x")
      throw new SdkError(
        "NO_CONTRACTS",
        `No ModelRegistry at ${o.book.contracts.ModelRegistry} on this chain: the address book is stale.`,
        "a restarted local chain needs its own address book: use the one `posthuman up` printed",
      );
    return new PostHuman({ runner: o.runner, provider, book: o.book }, o.workerUrl ?? DEFAULT_WORKER_URL, o.dataDir);
  }

  get book(): AddressBook {
    return this.ctx.book;
  }

  get provider(): ethers.Provider {
    return this.ctx.provider;
  }

  get signer(): ethers.Signer {
    return signerOf(this.ctx);
  }

  address(): Promise<string> {
    return this.signer.getAddress();
  }

  token(address: string): TokenClient {
    return new TokenClient(this.ctx, address);
  }

  vault(address: string): RoyaltyVaultClient {
    return new RoyaltyVaultClient(this.ctx, address);
  }

  async datatokenOf(modelId: bigint): Promise<TokenClient> {
    return this.token((await this.registry.get(modelId)).datatoken);
  }

  // ─── Models ───────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Publishes a model folder: registers it on chain (an Ocean data NFT + datatoken, priced, with its vault), uploads
   * the folder to the worker (which checks its weights root against the chain) and keeps a copy for verification.
   */
  async publishModel(o: PublishFolderOptions): Promise<PublishedModel & { weightsRoot: string; uploaded: boolean }> {
    const { weightsRoot, configHash } = await import("../ml/checkpoint");
    const root = await weightsRoot(o.dir);
    if (o.upload !== false) await this.workerHealth();
    const published = await this.registry.publish({ ...o, weightsRoot: root, configHash: await configHash(o.dir) });
    await this.store?.saveModel(o.dir);
    if (o.upload !== false) await this.uploadModel(published.modelId, o.dir);
    return { ...published, weightsRoot: root, uploaded: o.upload !== false };
  }

  /** Uploads a model folder to the worker (the signer must own the model on chain). */
  async uploadModel(modelId: bigint, dir: string): Promise<{ weightsRoot: string }> {
    try {
      return await this.worker.uploadModel(this.signer, modelId, dir);
    } catch (e) {
      throw this.workerError(e);
    }
  }

  /** A model's lineage and the metrics its receipts carry (evaluations, finetunes, inferences). */
  async metrics(modelId: bigint): Promise<ModelMetrics> {
    const model = await this.registry.get(modelId);
    const receipts = await this.jobs.receiptsOfModel(modelId);
    const out: ModelMetrics = { model, evaluations: [], finetunes: [], inferences: [] };
    for (const r of receipts) {
      const req = await this.jobs.requested(r.jobId);
      if (req.decoded.kind === "Evaluate")
        out.evaluations.push({
          jobId: r.jobId,
          benchmarkId: req.decoded.params.benchmarkId,
          loss: r.metrics.evalLoss,
          tokens: r.metrics.evalTokens,
          worker: r.worker,
        });
      else if (req.decoded.kind === "Train")
        out.finetunes.push({
          jobId: r.jobId,
          childModelId: r.childModelId,
          valLossBefore: r.metrics.valLossBefore,
          valLossAfter: r.metrics.valLossAfter,
        });
      else out.inferences.push({ jobId: r.jobId, outputHash: r.outputHash });
    }
    return out;
  }

  lineage(modelId: bigint): Promise<LineageNode> {
    return this.registry.lineage(modelId);
  }

  // ─── Datatokens ───────────────────────────────────────────────────────────────────────────────────────────

  /** Buys datatokens of a root model on Ocean's FixedRateExchange (through ocean.js), approving the cost first. */
  async buyDatatokens(
    modelId: bigint,
    amount: bigint,
    o: { maxBase?: bigint } = {},
  ): Promise<{ cost: bigint; approvals: string[] } & Sent> {
    const m = await this.registry.get(modelId);
    if (m.exchangeId === ethers.ZeroHash)
      throw new SdkError(
        "NO_EXCHANGE",
        `Model ${modelId} is not sold on the exchange: its datatokens are held by its contributors.`,
        `buy from a holder: posthuman market list --model ${modelId}, then posthuman market buy <listing> --amount <n>`,
      );
    const { cost } = await this.exchange.quote(m.exchangeId, amount);
    const max = o.maxBase ?? cost;
    const approvals = await this.ensureBase(max, this.exchange.address);
    const sent = await this.exchange.buy(m.exchangeId, amount, max);
    return { cost, approvals, txHash: sent.txHash };
  }

  /** Lists datatokens for sale to other holders (they are escrowed by the market until bought or cancelled). */
  async sellDatatokens(
    modelId: bigint,
    amount: bigint,
    pricePerToken: bigint,
  ): Promise<{ listingId: bigint; approvals: string[] } & Sent> {
    const dt = await this.datatokenOf(modelId);
    const have = await dt.balanceOf(await this.address());
    if (have < amount)
      throw new SdkError(
        "NOT_ENOUGH_DATATOKENS",
        `You hold ${ethers.formatEther(have)} datatokens of model ${modelId}, not ${ethers.formatEther(amount)}.`,
        `list at most ${ethers.formatEther(have)}`,
      );
    const approval = await dt.ensureAllowance(this.listings.address, amount);
    const r = await this.listings.createListing(modelId, amount, pricePerToken);
    return { ...r, approvals: approval ? [approval.txHash] : [] };
  }

  /** Buys from a holder's listing, approving its cost first. */
  async buyFromListing(
    listingId: bigint,
    amount: bigint,
    o: { maxCost?: bigint } = {},
  ): Promise<{ cost: bigint; seller: string; modelId: bigint; approvals: string[] } & Sent> {
    const l = await this.listings.get(listingId);
    if (l.remaining < amount)
      throw new SdkError(
        "UNKNOWN_LISTING",
        `Listing ${listingId} has ${ethers.formatEther(l.remaining)} datatokens left, not ${ethers.formatEther(amount)}.`,
        `take less, or see the others: posthuman market list --model ${l.modelId}`,
      );
    const quote = await this.listings.quote(listingId, amount);
    const max = o.maxCost ?? quote;
    const approvals = await this.ensureBase(max, this.listings.address);
    const r = await this.listings.buy(listingId, amount, max);
    return { ...r, approvals };
  }

  private async ensureBase(amount: bigint, spender: string): Promise<string[]> {
    const me = await this.address();
    const have = await this.baseToken.balanceOf(me);
    if (have < amount)
      throw new SdkError(
        "NOT_ENOUGH_BASE",
        `Not enough OCEAN: ${ethers.formatEther(have)} held, ${ethers.formatEther(amount)} needed.`,
        "get base token first (on the local chain `posthuman up` gives every dev account 10000 OCEAN)",
      );
    const approval = await this.baseToken.ensureAllowance(spender, amount);
    return approval ? [approval.txHash] : [];
  }

  // ─── Jobs ─────────────────────────────────────────────────────────────────────────────────────────────────

  /** The unsigned request (the caller approves one datatoken and the fee for the job market first). */
  async buildRequestJobTx(
    modelId: bigint,
    params: JobParams,
    input: Uint8Array,
    o: { fee?: bigint; deadline: bigint },
  ): Promise<UnsignedTx> {
    return this.jobs.buildRequestTx({
      modelId,
      kind: params.kind,
      inputHash: sha256Hex(input),
      fee: o.fee ?? DEFAULT_JOB_FEE,
      deadline: o.deadline,
      params: encodeJobParams(params),
    });
  }

  /**
   * Requests a job and delivers its input: checks the datatoken and the fee are there and that the worker answers
   * (before paying), approves, requests on chain (one datatoken is ordered on Ocean, the fee escrowed), keeps a copy
   * of the input, and uploads it once the worker has seen the request.
   */
  async requestJob(
    modelId: bigint,
    params: JobParams,
    input: Uint8Array,
    o: { fee?: bigint; ttlSec?: number; upload?: boolean; inputName?: string; nPositions?: number } = {},
  ): Promise<RequestedJob> {
    const fee = o.fee ?? DEFAULT_JOB_FEE;
    const inputName = o.inputName ?? "the input";
    checkInputBeforePaying(params, input, inputName, o.nPositions); // before any transaction
    const upload = o.upload !== false;
    const m = await this.registry.get(modelId);
    if (m.frozen)
      throw new SdkError(
        "MODEL_FROZEN",
        `Model ${modelId} is frozen (its training was proved wrong): it takes no jobs.`,
      );
    const me = await this.address();
    const dt = this.token(m.datatoken);
    if ((await dt.balanceOf(me)) < ONE_DATATOKEN) {
      const where =
        m.exchangeId !== ethers.ZeroHash
          ? `posthuman buy ${modelId} --amount 1`
          : `posthuman market list --model ${modelId}, then posthuman market buy <listing> --amount 1`;
      throw new SdkError(
        "NOT_ENOUGH_DATATOKENS",
        `You hold no datatoken of model ${modelId}: a job consumes one.`,
        `buy one first: ${where}`,
      );
    }
    if (upload) await this.workerHealth();
    const approvals: string[] = [];
    const a = await dt.ensureAllowance(this.jobs.address, ONE_DATATOKEN);
    if (a) approvals.push(a.txHash);
    approvals.push(...(await this.ensureBase(fee, this.jobs.address)));
    const latest = await this.provider.getBlock("latest");
    const deadline = BigInt(
      Math.max(latest?.timestamp ?? 0, Math.floor(Date.now() / 1000)) + (o.ttlSec ?? DEFAULT_JOB_TTL_SEC),
    );
    const inputHash = sha256Hex(input);
    this.store?.saveInput(input);
    const { jobId, txHash } = await this.jobs.request({
      modelId,
      kind: params.kind,
      inputHash,
      fee,
      deadline,
      params: encodeJobParams(params),
    });
    if (upload)
      await this.uploadInput(jobId, input).catch((e: unknown) => {
        throw explainInputRefusal(e, jobId, inputName);
      });
    return { jobId, txHash, modelId, kind: params.kind, inputHash, fee, deadline, approvals, uploaded: upload };
  }

  /**
   * Uploads a job's input (signed by the requester) to the API of the worker that claimed it, as that worker
   * registered it on chain with its stake (waiting up to `claimWaitMs` for a claim; else, or without a registered
   * endpoint, the configured worker), retrying while the worker has not ingested the request yet.
   */
  async uploadInput(jobId: bigint, input: Uint8Array, timeoutMs = 60_000, inputName = "the input"): Promise<void> {
    const end = Date.now() + timeoutMs;
    const target = await this.claimantWorker(jobId, Math.min(timeoutMs / 2, 30_000));
    for (;;) {
      try {
        await target.uploadInput(this.signer, jobId, input);
        return;
      } catch (e) {
        if (!(e instanceof WorkerApiError) || e.code !== "UNKNOWN_JOB" || Date.now() > end)
          throw this.workerError(explainInputRefusal(e, jobId, inputName));
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** The API of the job's claimant from the chain (endpointOf), once claimed; else the configured worker. */
  async claimantWorker(jobId: bigint, claimWaitMs = 30_000): Promise<WorkerClient> {
    const end = Date.now() + claimWaitMs;
    for (;;) {
      const job = await this.jobs.contract.getJob(jobId);
      if (job.worker !== ethers.ZeroAddress) {
        const url = await this.jobs.contract.endpointOf(job.worker).catch(() => "");
        if (!url || url === this.worker.baseUrl) return this.worker;
        return new WorkerClient(url, this.worker.domain);
      }
      if (Date.now() > end) return this.worker;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Everything known about a job: the chain's record, its receipt, the worker's view, a failure's reason. */
  async jobOverview(jobId: bigint): Promise<JobOverview> {
    const job = await this.jobs.get(jobId);
    const out: JobOverview = { job, receipt: await this.jobs.receipt(jobId) };
    try {
      out.worker = await this.worker.jobStatus(jobId);
    } catch {
      out.worker = undefined;
    }
    if (job.status === "Failed") {
      const [log] = await this.jobs.contract.queryFilter(
        this.jobs.contract.filters.JobFailed(jobId),
        this.book.startBlock,
      );
      const reason = log ? Number(log.args.reason) : 0;
      out.failure = { reason, name: failReasonName(reason) ?? `reason ${reason}` };
    }
    return out;
  }

  /**
   * Follows a job until it has a receipt, reporting the worker's progress; resolves with the receipt. Rejects with
   * an SdkError saying why and what to do when the job ends without one (failed, cancelled, reclaimed, slashed) or
   * when its deadline passes unclaimed.
   */
  async followJob(
    jobId: bigint,
    o: { onProgress?: (p: FollowProgress) => void; timeoutMs?: number; pollMs?: number } = {},
  ): Promise<OnChainReceipt> {
    const end = Date.now() + (o.timeoutMs ?? 30 * 60_000);
    for (;;) {
      const job = await this.jobs.get(jobId);
      const status = JobStatus[job.status];
      if (status === JobStatus.Submitted || status === JobStatus.Challenged || status === JobStatus.Settled) {
        const r = await this.jobs.receipt(jobId);
        if (r) return r;
      }
      if (status === JobStatus.Slashed)
        throw new SdkError(
          "JOB_ENDED",
          `Job ${jobId}'s receipt was proved wrong: the worker was slashed, the fee refunded.`,
        );
      if (status === JobStatus.Failed) {
        const { failure, worker } = await this.jobOverview(jobId);
        const name = failure?.name ?? "unknown";
        const message = (worker?.error as { message?: string } | null | undefined)?.message;
        throw new SdkError(
          "JOB_ENDED",
          `Job ${jobId} failed: ${name}${message ? ` (${message})` : ""}.`,
          failHint(name, job.modelId),
        );
      }
      if (status === JobStatus.Cancelled || status === JobStatus.Reclaimed)
        throw new SdkError(
          "JOB_ENDED",
          `Job ${jobId} was ${job.status.toLowerCase()}: its fee went back to the requester.`,
        );
      // The deadline is the chain's time, not this machine's.
      const now = BigInt((await this.provider.getBlock("latest"))?.timestamp ?? Math.floor(Date.now() / 1000));
      if (now > job.deadline)
        throw new SdkError(
          "JOB_TIMEOUT",
          `Job ${jobId} passed its deadline without a receipt (${job.status === "Open" ? "no worker claimed it" : "its worker did not deliver"}).`,
          `get the fee back (and the claimant's collateral): posthuman job reclaim ${jobId}`,
        );
      if (o.onProgress) {
        let state: string | undefined;
        let progress: FollowProgress["progress"];
        try {
          const s = await this.worker.jobStatus(jobId);
          state = typeof s.state === "string" ? s.state : undefined;
          progress = (s.progress as FollowProgress["progress"]) ?? null;
        } catch {
          state = undefined;
        }
        o.onProgress({ status: job.status, state, progress });
      }
      if (Date.now() > end)
        throw new SdkError(
          "JOB_TIMEOUT",
          `Job ${jobId} has no receipt yet; it is ${job.status}.`,
          `look again later: posthuman job show ${jobId}`,
        );
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
    }
  }

  /** Downloads a job's result (requester only) and checks it against the receipt's output hash. */
  async fetchResult(jobId: bigint): Promise<{ bytes: Buffer; verified: boolean; receipt: OnChainReceipt }> {
    const receipt = await this.jobs.receipt(jobId);
    if (!receipt)
      throw new SdkError("NO_RECEIPT", `Job ${jobId} has no receipt yet.`, `follow it: posthuman job show ${jobId}`);
    let bytes: Buffer;
    try {
      bytes = await this.worker.result(this.signer, jobId);
    } catch (e) {
      if (e instanceof WorkerApiError && e.code === "NOT_REQUESTER")
        throw new SdkError(
          "NOT_REQUESTER",
          `Only job ${jobId}'s requester may read its result.`,
          "pass the requester's --account or --key-file",
        );
      throw this.workerError(e);
    }
    return { bytes, verified: sha256Hex(bytes) === receipt.outputHash.toLowerCase(), receipt };
  }

  /** Verifies a receipt by re-running the job locally with the builtin runtime (see verify.ts). */
  async verify(jobId: bigint, o: VerifyOptions = {}): Promise<Verdict> {
    const { verifyJob } = await import("./verify");
    return verifyJob(this, jobId, o);
  }

  private async workerHealth(): Promise<void> {
    try {
      await this.worker.health();
    } catch (e) {
      throw this.workerError(e);
    }
  }

  private workerError(e: unknown): unknown {
    if (e instanceof WorkerApiError && e.code === "UNREACHABLE")
      return new SdkError(
        "WORKER_UNREACHABLE",
        `No worker answers at ${this.worker.baseUrl}.`,
        "start one: `npm start` (posthuman up) runs a local marketplace with its worker, `posthuman worker` runs one " +
          "against any network; or pass --worker <url>",
      );
    if (e instanceof WorkerApiError)
      return new SdkError("WORKER_REFUSED", `The worker refused: ${e.message} (${e.code}).`);
    return e;
  }

  // ─── Revenue ──────────────────────────────────────────────────────────────────────────────────────────────

  /** Sends a root model's exchange sales waiting in the exchange to its vault (anyone may). */
  async collectSales(modelId: bigint): Promise<{ amount: bigint; txHash?: string }> {
    const m = await this.registry.get(modelId);
    if (m.exchangeId === ethers.ZeroHash) return { amount: 0n };
    const { btBalance } = await this.exchange.get(m.exchangeId);
    if (btBalance === 0n) return { amount: 0n };
    return { amount: btBalance, txHash: (await this.exchange.collect(m.exchangeId, btBalance)).txHash };
  }

  /** Challenges a receipt within its window, putting up the challenge bond (the job market's config). */
  async challengeReceipt(jobId: bigint): Promise<{ bond: bigint; approvals: string[] } & Sent> {
    const { challengeBond } = await this.jobs.config();
    const approvals = await this.ensureBase(challengeBond, this.jobs.address);
    return { ...(await this.jobs.challenge(jobId)), bond: challengeBond, approvals };
  }

  /** Pays base token straight into a model's vault (a licence, a tip): it is shared like any revenue. */
  async pay(modelId: bigint, amount: bigint): Promise<{ approvals: string[] } & Sent> {
    const m = await this.registry.get(modelId);
    const approvals = await this.ensureBase(amount, m.vault);
    return { ...(await this.vault(m.vault).pay(amount)), approvals };
  }

  /** Shares, claimable revenue and past claims of `account` in every vault it has a stake in. */
  async rewards(account?: string): Promise<RewardRow[]> {
    const who = account ?? (await this.address());
    const rows: RewardRow[] = [];
    for (const m of await this.registry.list()) {
      const v = this.vault(m.vault);
      const p = await v.position(who);
      const claims = await v.claims(who);
      if (p.shares === 0n && p.claimableBase === 0n && p.claimableDatatokens === 0n && claims.length === 0) continue;
      const pending = await v.pending();
      const sales = m.exchangeId === ethers.ZeroHash ? 0n : (await this.exchange.get(m.exchangeId)).btBalance;
      rows.push({ modelId: m.id, vault: m.vault, ...p, undistributed: pending.base + sales, claims });
    }
    return rows;
  }

  /**
   * Claims everything `account` has earned: first moves revenue along (collects exchange sales of the models it
   * holds shares in and of their descendants, and distributes their vaults from the youngest up, so that royalties
   * reach the parents), then claims in each vault where something is claimable. Anyone may move revenue along; the
   * claims always pay `account`.
   */
  async claimAll(account?: string): Promise<ClaimAllResult> {
    const who = account ?? (await this.address());
    const models = await this.registry.list();
    const held = new Set<bigint>();
    for (const m of models) if ((await this.vault(m.vault).position(who)).shares > 0n) held.add(m.id);
    // Descendants send royalties up: include every model whose ancestry reaches a held one.
    const relevant = new Set(held);
    for (const m of models) if (m.parentId !== 0n && relevant.has(m.parentId)) relevant.add(m.id);
    const out: ClaimAllResult = { collected: [], distributed: [], claimed: [] };
    for (const m of [...models].reverse()) {
      if (!relevant.has(m.id) || m.frozen) continue;
      const c = await this.collectSales(m.id);
      if (c.txHash) out.collected.push({ modelId: m.id, amount: c.amount, txHash: c.txHash });
      const v = this.vault(m.vault);
      const pending = await v.pending();
      if (pending.base > 0n || pending.datatokens > 0n)
        out.distributed.push({ modelId: m.id, ...(await v.distribute()) });
    }
    for (const m of models) {
      if (!held.has(m.id) || m.frozen) continue;
      const v = this.vault(m.vault);
      const p = await v.position(who);
      if (p.claimableBase > 0n || p.claimableDatatokens > 0n)
        out.claimed.push({ modelId: m.id, ...(await v.claim(who)) });
    }
    return out;
  }
}
