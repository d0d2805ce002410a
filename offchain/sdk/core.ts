/**
 * The PostHuman SDK's browser-safe core: a typed client over the protocol contracts, Ocean's exchange (the typed
 * binding) and a worker's API (fetch). It reads no file and needs no Node module, so the web app is built on it;
 * the Node entry (client.ts `PostHuman`) extends it with model folders on disk, a local store for verification by
 * re-execution, and purchases through ocean.js.
 *
 *   const ph = await PostHumanCore.init({ runner: signer, book, workerUrl, onStep: console.log });
 *   const { jobId } = await ph.requestJob(modelId, { kind: "Infer", params }, input);
 *   const receipt = await ph.followJob(jobId);
 *
 * Errors are SdkError: a code, what went wrong, what is needed, and the facts (`data`) a front end words its own way.
 */
import { ethers } from "ethers";
import type { AddressBook } from "../protocol/address-book";
import { ONE_DATATOKEN, encodeJobParams, type JobParams } from "../protocol/params";
import { type PublishedModel } from "../protocol/structs";
import { authDomain, sha256Hex } from "../protocol/auth";
import { chainNow, isSigner, signerOf, type SdkContext, type Sent, type UnsignedTx } from "./base";
import { DatatokenMarketClient, refuseBuyMore, refuseListMore } from "./datatoken-market";
import { SdkError, amountText, costAboveMax } from "./errors";

export { amountText };
import { FixedRateExchangeClient } from "./exchange";
import { type ModelCard } from "./model-card";
import { JobMarketClient, type OnChainReceipt } from "./job-market";
import { ModelRegistryClient, type LineageNode } from "./registry";
import { fetchResult, followJob, jobOverview } from "./follow";
import { claimAll, claimModel, payModel, rewardsOf, type ClaimAllResult, type RewardRow } from "./revenue";
import { publishFiles, type PublishFilesOptions } from "./publish";
import { disputeFailure } from "./dispute";
import { TokenClient } from "./token";
import { RoyaltyVaultClient } from "./vault";
import { WorkerApi, WorkerApiError, type ModelFile, type WorkerHealth } from "./worker-api";
import { claimantApi, otherWorkerApis, requireIndependentWorker } from "./claimant";
import { checkWorkerTerms } from "./worker-terms";
import { challengeReceipt, resolveChallenge } from "./challenge";
import { refuseUnsettled } from "./settlement";
import { refuseBuyFraction, refuseListFraction, type FractionOption } from "./whole-datatokens";
import {
  checkInputBeforePaying,
  checkWithWorker,
  decidedWithoutWorker,
  explainInputRefusal,
  refuseUploadIfEnded,
  type JobRequestOptions,
} from "./input-check";
import {
  DEFAULT_JOB_FEE,
  DEFAULT_JOB_TTL_SEC,
  checkJobParams,
  checkJobTtl,
  type JobOverview,
  type ModelMetrics,
  type RequestedJob,
} from "./job-types";

export {
  DEFAULT_JOB_FEE,
  DEFAULT_JOB_TTL_SEC,
  MAX_JOB_TTL_SEC,
  type FollowProgress,
  type JobOverview,
  type ModelMetrics,
  type RequestedJob,
} from "./job-types";

export const DEFAULT_WORKER_URL = "http://127.0.0.1:8550";

export interface CoreOptions {
  /** A signer for writes, or a provider for reads only. */
  runner: ethers.Signer | ethers.Provider;
  /** The network's address book (deployments/<network>.json): chainId, startBlock, contracts. */
  book: AddressBook;
  /** The operator's worker API (default http://127.0.0.1:8550). */
  workerUrl?: string;
  /** Told each step of a multi-step flow before it happens ("Approving …", "Requesting the job…"). */
  onStep?: (line: string) => void;
}

export type { PublishFilesOptions } from "./publish";

/** Checks that `o.runner` reaches the address book's chain and that the contracts are there. */
export async function connectContext(o: CoreOptions): Promise<SdkContext> {
  const provider = isSigner(o.runner) ? o.runner.provider : o.runner;
  if (!provider) throw new SdkError("READ_ONLY", "The signer has no provider: connect it to an RPC node first.");
  for (const k of ["ModelRegistry", "JobMarket", "DatatokenMarket", "FixedRateExchange", "OceanToken"]) {
    if (!o.book.contracts[k])
      throw new SdkError("NO_CONTRACTS", `The address book has no ${k}.`, "use the address book of the deployment");
  }
  const { chainId } = await provider.getNetwork();
  if (Number(chainId) !== o.book.chainId)
    throw new SdkError(
      "WRONG_CHAIN",
      `The RPC node is chain ${chainId} but the address book is for chain ${o.book.chainId}.`,
      "use an RPC node and an address book of the same chain",
      { data: { nodeChainId: Number(chainId), bookChainId: o.book.chainId } },
    );
  if ((await provider.getCode(o.book.contracts.ModelRegistry)) === "0x")
    throw new SdkError(
      "NO_CONTRACTS",
      `No ModelRegistry at ${o.book.contracts.ModelRegistry} on this chain: the address book is stale.`,
      "a restarted local chain needs the address book of its new deployment",
    );
  return { runner: o.runner, provider, book: o.book };
}

export class PostHumanCore {
  readonly registry: ModelRegistryClient;
  readonly jobs: JobMarketClient;
  readonly listings: DatatokenMarketClient;
  readonly exchange: FixedRateExchangeClient;
  readonly baseToken: TokenClient;
  readonly worker: WorkerApi;
  protected readonly onStep: (line: string) => void;

  protected constructor(
    protected readonly ctx: SdkContext,
    o: { workerUrl?: string; onStep?: (line: string) => void },
  ) {
    this.registry = new ModelRegistryClient(ctx);
    this.jobs = new JobMarketClient(ctx);
    this.listings = new DatatokenMarketClient(ctx);
    this.exchange = this.makeExchange(ctx);
    this.baseToken = new TokenClient(ctx, ctx.book.contracts.OceanToken);
    this.worker = this.makeWorker(
      o.workerUrl ?? DEFAULT_WORKER_URL,
      authDomain(ctx.book.chainId, ctx.book.contracts.JobMarket),
    );
    this.onStep = o.onStep ?? (() => undefined);
  }

  /** Connects to the network of `book`, checking that the node is that chain and that the contracts are there. */
  static async init(o: CoreOptions): Promise<PostHumanCore> {
    return new PostHumanCore(await connectContext(o), o);
  }

  /** A client over a context already checked (a page that connected once makes one per account and action). */
  static connected(ctx: SdkContext, o: { workerUrl?: string; onStep?: (line: string) => void } = {}): PostHumanCore {
    return new PostHumanCore(ctx, o);
  }

  protected makeExchange(ctx: SdkContext): FixedRateExchangeClient {
    return new FixedRateExchangeClient(ctx);
  }

  protected makeWorker(url: string, domain: ethers.TypedDataDomain): WorkerApi {
    return new WorkerApi(url, domain);
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

  /** Publishes a model folder given as files (a browser's file input): see publish.ts. */
  publishFiles(
    files: ModelFile[],
    o: PublishFilesOptions,
    card?: ModelCard,
  ): Promise<PublishedModel & { weightsRoot: string; skipped: string[] }> {
    const d = {
      registry: this.registry,
      worker: this.worker,
      signer: this.signer,
      onStep: this.onStep,
      health: () => this.workerHealth(),
      call: <T>(f: () => Promise<T>) => this.workerCall(f),
    };
    return publishFiles(d, files, o, card);
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
  // Purchases and listings refuse, before anything is sent, a fraction that would pay for no job (each job consumes a
  // whole datatoken: whole-datatokens.ts) unless `allowFraction`.

  /** Buys datatokens of a root model on Ocean's FixedRateExchange, approving the cost first. */
  async buyDatatokens(
    modelId: bigint,
    amount: bigint,
    o: { maxBase?: bigint } & FractionOption = {},
  ): Promise<{ cost: bigint; approvals: string[] } & Sent> {
    const m = await this.registry.get(modelId);
    if (m.exchangeId === ethers.ZeroHash)
      throw new SdkError(
        "NO_EXCHANGE",
        `Model ${modelId} is not sold on the exchange: its datatokens are held by its contributors.`,
        "buy from a holder's listing of the model",
        { data: { modelId } },
      );
    if (!o.allowFraction)
      refuseBuyFraction(amount, await this.token(m.datatoken).balanceOf(await this.address()), modelId);
    const { cost } = await this.exchange.quote(m.exchangeId, amount);
    const max = o.maxBase ?? cost;
    if (cost > max) throw costAboveMax(cost, max, { modelId });
    const approvals = await this.ensureBase(max, this.exchange.address, `buy ${datatokens(amount)}`);
    this.onStep(`Buying ${datatokens(amount)} for ${amountText(cost)} OCEAN…`);
    const sent = await this.exchange.buy(m.exchangeId, amount, max);
    return { cost, approvals, txHash: sent.txHash };
  }

  /** Lists datatokens for sale to other holders (they are escrowed by the market until bought or cancelled). */
  async sellDatatokens(
    modelId: bigint,
    amount: bigint,
    pricePerToken: bigint,
    o: FractionOption = {},
  ): Promise<{ listingId: bigint; approvals: string[] } & Sent> {
    const dt = await this.datatokenOf(modelId);
    const have = await dt.balanceOf(await this.address());
    refuseListMore(amount, have, modelId);
    if (!o.allowFraction) refuseListFraction(amount, have, modelId);
    this.onStep("Allowing the market to hold your datatokens…");
    const approval = await dt.ensureAllowance(this.listings.address, amount);
    this.onStep(`Listing ${datatokens(amount)}…`);
    const r = await this.listings.createListing(modelId, amount, pricePerToken);
    return { ...r, approvals: approval ? [approval.txHash] : [] };
  }

  /**
   * Buys from a holder's listing, approving its cost first. A model whose creating training receipt can still be
   * challenged (frozen if a challenge is upheld, the seller keeping the payment) is refused (MODEL_UNSETTLED, its
   * warning as the message) unless `acceptUnsettled`; `unsettled` is then the warning the buyer accepted.
   */
  async buyFromListing(
    listingId: bigint,
    amount: bigint,
    o: { maxCost?: bigint; acceptUnsettled?: boolean } & FractionOption = {},
  ): Promise<{ cost: bigint; seller: string; modelId: bigint; approvals: string[]; unsettled?: string } & Sent> {
    const l = await this.listings.get(listingId);
    const unsettled = await refuseUnsettled(this, l, o.acceptUnsettled === true);
    refuseBuyMore(l, listingId, amount);
    if (!o.allowFraction)
      refuseBuyFraction(amount, await this.token(l.datatoken).balanceOf(await this.address()), l.modelId);
    const quote = await this.listings.quote(listingId, amount);
    const max = o.maxCost ?? quote;
    if (quote > max) throw costAboveMax(quote, max, { listingId, modelId: l.modelId });
    const approvals = await this.ensureBase(max, this.listings.address, `buy ${datatokens(amount)}`);
    this.onStep(`Buying ${datatokens(amount)} from listing ${listingId}…`);
    const r = await this.listings.buy(listingId, amount, max);
    return { ...r, approvals, ...(unsettled ? { unsettled } : {}) };
  }

  /** Cancels one of the signer's open listings (another's, or a closed one, refused before sending). */
  async cancelListing(listingId: bigint): Promise<{ returned: bigint } & Sent> {
    const { seller, modelId } = await this.listings.get(listingId);
    const data = { listingId, modelId, seller, error: "DatatokenMarketNotSeller" };
    if (seller.toLowerCase() !== (await this.address()).toLowerCase()) {
      const why = `Listing ${listingId} is not yours (its seller is ${seller}): only its seller can cancel it.`;
      throw new SdkError("REVERTED", `${why} Nothing was sent.`, "sign as its seller", { data });
    }
    this.onStep(`Cancelling listing ${listingId}…`);
    return this.listings.cancelListing(listingId); // a closed one: refused, saying how it closed
  }

  /**
   * Checks the signer holds `amount` base token (the error names what is missing) and approves `spender` for it when
   * the allowance is short. `what` completes "Not enough OCEAN to …".
   */
  async ensureBase(amount: bigint, spender: string, what: string, spenderName = spender): Promise<string[]> {
    const me = await this.needBase(amount, what);
    if ((await this.baseToken.allowance(me, spender)) >= amount) return [];
    const named = { [this.jobs.address]: "the job market", [this.exchange.address]: "Ocean's exchange" };
    const name = { ...named, [this.listings.address]: "the datatoken market" }[spender] ?? spenderName;
    this.onStep(`Allowing ${name} to take ${amountText(amount)} OCEAN, to ${what}…`);
    return [(await this.baseToken.approve(spender, amount)).txHash];
  }

  /** Checks the signer holds `amount` base token; returns its address. */
  async needBase(amount: bigint, what: string): Promise<string> {
    const me = await this.address();
    const have = await this.baseToken.balanceOf(me);
    if (have < amount)
      throw new SdkError(
        "NOT_ENOUGH_BASE",
        `Not enough OCEAN to ${what}: you hold ${amountText(have)}, it needs ${amountText(amount)}.`,
        `get ${amountText(amount - have)} more OCEAN (the base token) into ${me}`,
        { data: { have, need: amount, address: me } },
      );
    return me;
  }

  // ─── Jobs ─────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * The deadline of a job requested now: the later of the chain's time and the clock, plus `ttlSec` (whole seconds,
   * 1 to MAX_JOB_TTL_SEC; else SdkError PARAMS_INVALID, before any request).
   */
  async jobDeadline(ttlSec = DEFAULT_JOB_TTL_SEC): Promise<bigint> {
    checkJobTtl(ttlSec);
    return (await this.chainNow()) + BigInt(ttlSec);
  }

  /** The chain's time as its next block will see it: the later of the latest block's and this machine's clock. */
  chainNow(): Promise<bigint> {
    return chainNow(this.provider);
  }

  /** The unsigned request (the caller approves one datatoken and the fee for the job market first). */
  async buildRequestJobTx(
    modelId: bigint,
    params: JobParams,
    input: Uint8Array,
    o: { fee?: bigint; deadline?: bigint; inputURI?: string } = {},
  ): Promise<UnsignedTx> {
    checkJobParams(params);
    return this.jobs.buildRequestTx({
      modelId,
      kind: params.kind,
      inputHash: sha256Hex(input),
      fee: o.fee ?? DEFAULT_JOB_FEE,
      deadline: o.deadline ?? (await this.jobDeadline()),
      params: encodeJobParams(params),
      inputURI: o.inputURI,
    });
  }

  /**
   * Requests a job and delivers its input: checks the datatoken and the fee are there and that the worker answers
   * (before paying), approves, requests on chain (one datatoken and the fee escrowed; the datatoken is ordered on Ocean when the job settles), and uploads
   * the input once the worker has seen the request. `inputURI` is stored with the request (JobRequested).
   */
  async requestJob(
    modelId: bigint,
    params: JobParams,
    input: Uint8Array,
    o: JobRequestOptions = {},
  ): Promise<RequestedJob> {
    const fee = o.fee ?? DEFAULT_JOB_FEE;
    const upload = o.upload !== false;
    const inputName = o.inputName ?? "the input";
    checkJobParams(params);
    if (o.ttlSec !== undefined) checkJobTtl(o.ttlSec);
    // The worker's own rules, before any transaction; with the model's context when the worker tells it (a worker
    // that does not serve the model yet, or an older one, tells nothing: its rules then apply at the upload).
    const shape =
      o.nPositions !== undefined
        ? { nPositions: o.nPositions }
        : upload
          ? await this.worker.modelShape(modelId).catch(() => undefined)
          : undefined;
    checkInputBeforePaying(params, input, inputName, shape);
    if (upload && !decidedWithoutWorker(params, input, shape)) {
      this.onStep("Asking the worker to count the input's tokens with the model's tokenizer (nothing is paid)…");
      await checkWithWorker(this.worker, this.signer, modelId, params, input, inputName);
    }
    const m = await this.registry.get(modelId);
    if (m.frozen)
      throw new SdkError(
        "MODEL_FROZEN",
        `Model ${modelId} is frozen (its training was proved wrong): it takes no jobs.`,
      );
    // (Without the upload, the caller delivers the input to workers it knows itself.)
    if (upload && params.kind === "Evaluate" && params.params.independent) {
      const configured = (await this.worker.health().catch(() => undefined))?.worker;
      await requireIndependentWorker(this.jobs, this.registry.contract, modelId, fee, configured);
    }
    const me = await this.address();
    const dt = this.token(m.datatoken);
    const held = await dt.balanceOf(me);
    if (held < ONE_DATATOKEN) {
      const onExchange = m.exchangeId !== ethers.ZeroHash;
      throw new SdkError(
        "NOT_ENOUGH_DATATOKENS",
        `You hold ${held ? `only ${amountText(held)} datatoken` : "no datatoken"} of model ${modelId}: every job consumes 1.`,
        onExchange
          ? "buy one on the exchange, then request the job again"
          : "buy one from a holder's listing, then request the job again",
        { data: { modelId, onExchange, missing: ONE_DATATOKEN - held } },
      );
    }
    await this.needBase(fee, "escrow the job's fee");
    if (upload) {
      this.onStep("Checking that the worker answers, and would take the job…");
      const terms = { modelId, params, input, inputName, fee, ttlSec: o.ttlSec ?? DEFAULT_JOB_TTL_SEC };
      const others = () => otherWorkerApis(this.jobs, this.worker);
      const latestBlock = () => this.provider.getBlockNumber();
      await checkWorkerTerms(this.worker, await this.workerHealth(), terms, {
        onStep: this.onStep,
        others,
        latestBlock,
      });
    }
    const approvals: string[] = [];
    if ((await dt.allowance(me, this.jobs.address)) < ONE_DATATOKEN) {
      this.onStep("Allowing the job market to order 1 datatoken…");
      approvals.push((await dt.approve(this.jobs.address, ONE_DATATOKEN)).txHash);
    }
    approvals.push(...(await this.ensureBase(fee, this.jobs.address, "escrow the job's fee")));
    const deadline = await this.jobDeadline(o.ttlSec);
    const inputHash = sha256Hex(input);
    this.onStep("Requesting the job…");
    o.onSending?.();
    const { jobId, txHash, blockNumber } = await this.jobs.request({
      modelId,
      kind: params.kind,
      inputHash,
      fee,
      deadline,
      params: encodeJobParams(params),
      inputURI: o.inputURI,
    });
    o.onRequested?.(jobId);
    let inputAck: string | undefined;
    if (upload) {
      this.onStep(`Job ${jobId} requested. Uploading its input to the worker…`);
      ({ inputAck } = await this.uploadInput(jobId, input, blockNumber, inputName));
    }
    const job = { jobId, txHash, modelId, kind: params.kind, inputHash, fee, deadline, approvals, uploaded: upload };
    return { ...job, inputAck };
  }

  /**
   * Uploads a job's input (signed) to its claimant's registered API (else the worker's), once it saw the request. The
   * job is paid for: an upload that fails says which job, and how its fee comes back (`inputName`: the user's file).
   */
  async uploadInput(
    jobId: bigint,
    input: Uint8Array,
    requestBlock?: number,
    inputName = "the input",
  ): Promise<{ inputAck?: string }> {
    const block = requestBlock ?? (await this.jobs.requested(jobId)).blockNumber;
    refuseUploadIfEnded(jobId, (await this.jobs.get(jobId)).status, inputName);
    const target = await claimantApi(this.jobs.contract, this.worker, jobId);
    return this.workerCall(() => target.uploadInput(this.signer, jobId, input, { requestBlock: block })).catch(
      async (e: unknown) => {
        throw explainInputRefusal(e, jobId, inputName, (await this.jobs.get(jobId).catch(() => undefined))?.status);
      },
    );
  }

  /**
   * Disputes a failure that blamed the input the claimant had acknowledged (`inputAck`, from `requestJob` or
   * `uploadInput`): within the dispute window the market slashes the claimant's collateral to the requester.
   */
  disputeFailure(jobId: bigint, inputAck: string): Promise<{ slashed: bigint; reason: string } & Sent> {
    return disputeFailure(this, jobId, inputAck);
  }

  /** Everything known about a job: the chain's record, its receipt, the worker's view, a failure's reason. */
  jobOverview(jobId: bigint): Promise<JobOverview> {
    return jobOverview(this, jobId);
  }

  /**
   * Follows a job until it has a receipt, reporting the worker's progress; resolves with the receipt. Rejects with
   * an SdkError saying why and what to do when the job ends without one (failed, cancelled, reclaimed, slashed),
   * when its deadline passes unclaimed, or when no worker will take it (JOB_NOT_TAKEN; see follow.ts).
   */
  followJob(jobId: bigint, o: Parameters<typeof followJob>[2] = {}): Promise<OnChainReceipt> {
    return followJob(this, jobId, o);
  }

  /** Downloads a job's result (requester only) from its claimant's API, checked against the receipt's output hash. */
  fetchResult(jobId: bigint): Promise<{ bytes: Uint8Array; verified: boolean; receipt: OnChainReceipt }> {
    return fetchResult(this, jobId);
  }

  protected async workerHealth(): Promise<WorkerHealth> {
    return this.workerCall(() => this.worker.health());
  }

  /** Runs a worker call, turning its failure into an SdkError (WORKER_UNREACHABLE or WORKER_REFUSED). */
  protected async workerCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw this.workerError(e);
    }
  }

  private workerError(e: unknown): unknown {
    if (e instanceof WorkerApiError && e.code === "UNREACHABLE")
      return new SdkError(
        "WORKER_UNREACHABLE",
        `No worker answers at ${this.worker.baseUrl}. Nothing was paid.`,
        "start a worker for this marketplace, or use another worker's URL",
        { cause: e, data: { workerUrl: this.worker.baseUrl } },
      );
    if (e instanceof WorkerApiError)
      return new SdkError("WORKER_REFUSED", `The worker refused: ${e.message} (${e.code}).`, undefined, {
        cause: e,
        data: { code: e.code, status: e.status },
      });
    return e;
  }

  // ─── Revenue (revenue.ts) ─────────────────────────────────────────────────────────────────────────────────

  /** Sends a root model's exchange sales waiting in the exchange to its vault (anyone may). */
  async collectSales(modelId: bigint): Promise<{ amount: bigint; txHash?: string }> {
    const m = await this.registry.get(modelId);
    if (m.exchangeId === ethers.ZeroHash) return { amount: 0n };
    const { btBalance } = await this.exchange.get(m.exchangeId);
    if (btBalance === 0n) return { amount: 0n };
    this.onStep(`Collecting ${amountText(btBalance)} OCEAN of sales into the model's vault…`);
    return { amount: btBalance, txHash: (await this.exchange.collect(m.exchangeId, btBalance)).txHash };
  }

  /** Challenges a receipt within its window, putting up the challenge bond; refused first where the chain would. */
  challengeReceipt(jobId: bigint): Promise<{ bond: bigint; approvals: string[] } & Sent> {
    return challengeReceipt(this, jobId, this.onStep);
  }

  /** The arbiter's decision on a challenged receipt; refused first where the chain would. */
  resolveChallenge(jobId: bigint, upheld: boolean): Promise<{ upheld: boolean; slashed: bigint } & Sent> {
    return resolveChallenge(this, jobId, upheld);
  }

  /** Pays base token straight into a model's vault (a licence, a tip): it is shared like any revenue. */
  pay(modelId: bigint, amount: bigint, o: { toFrozen?: boolean } = {}) {
    return payModel(this, modelId, amount, o.toFrozen === true, this.onStep);
  }

  /** Shares, claimable revenue and past claims of `account` in every vault it has a stake in. */
  async rewards(account?: string): Promise<RewardRow[]> {
    return rewardsOf(this, account ?? (await this.address()));
  }

  /** Collects, books and claims what the signer earned on one model (see revenue.ts `claimModel`). */
  claimModel(modelId: bigint): Promise<{ base: bigint; datatokens: bigint } & Sent> {
    return claimModel(this, modelId, this.onStep);
  }

  /** Claims everything `account` has earned, moving revenue along first (see revenue.ts `claimAll`). */
  async claimAll(account?: string): Promise<ClaimAllResult> {
    return claimAll(this, account ?? (await this.address()));
  }
}

/** "1 datatoken", "2.5 datatokens". */
function datatokens(amount: bigint): string {
  return `${amountText(amount)} datatoken${amount === ONE_DATATOKEN ? "" : "s"}`;
}

export type { ClaimAllResult, RewardRow };
