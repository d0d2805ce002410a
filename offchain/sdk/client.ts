/**
 * The PostHuman SDK: a typed client over the protocol contracts, Ocean's exchange (through ocean.js) and a worker's
 * API, for people and for other dApps. Created by `PostHuman.init` from a signer (or a provider, read-only) and an
 * address book. Amounts are bigint (wei of the base token / datatoken). Every write has a `build…Tx` form that
 * returns an unsigned transaction, and a sending form that waits for it to be mined.
 */
import fs from "node:fs";
import { ethers, type ContractRunner, type TransactionRequest } from "ethers";
import { FixedRateExchange as OceanJsFixedRateExchange } from "@oceanprotocol/lib";
import type { AddressBook } from "../../scripts/lib/address-book";
import { oceanAddressesOf } from "../../scripts/lib/deploy";
import { attachOcean, oceanJsConfig, type OceanContracts } from "../../scripts/lib/ocean";
import {
  attachPostHuman,
  encodeJobParams,
  findEvent,
  jobRequest,
  publishParams,
  ONE_DATATOKEN,
  type JobParams,
  type PostHumanAddresses,
  type PostHumanContracts,
  type PublishModelOptions,
} from "../../scripts/lib/posthuman";
import { ERC20Template__factory, RoyaltyVault__factory } from "../../typechain-types";
import type { IJobMarket } from "../../typechain-types/artifacts/contracts/JobMarket";
import { authDomain, sha256Hex } from "../worker/auth";
import { WorkerClient } from "./worker-client";

export interface InitOptions {
  /** A signer for writes, or a provider for reads only. */
  runner: ethers.Signer | ethers.Provider;
  book: AddressBook;
  /** The operator's worker API (default http://127.0.0.1:8550). */
  workerUrl?: string;
}

/** A receipt as submitted on chain (ReceiptSubmitted), with the child model a training job created. */
export interface OnChainReceipt {
  jobId: bigint;
  worker: string;
  outputHash: string;
  outputURI: string;
  servedWeightsRoot: string;
  runtimeId: string;
  seed: bigint;
  metrics: {
    trainLossBefore: bigint;
    trainLossAfter: bigint;
    valLossBefore: bigint;
    valLossAfter: bigint;
    evalLoss: bigint;
    evalTokens: bigint;
  };
  childWeightsRoot: string;
  childConfigHash: string;
  childModelId: bigint;
  txHash: string;
}

export interface RequestedJob {
  jobId: bigint;
  kind: JobParams["kind"];
  modelId: bigint;
  inputHash: string;
  params: string;
  txHash: string;
}

export class NotEnoughError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = "NotEnoughError";
  }
}

export class PostHuman {
  readonly ph: PostHumanContracts;
  readonly ocean: OceanContracts;
  readonly worker: WorkerClient;

  private constructor(
    readonly runner: ethers.Signer | ethers.Provider,
    readonly provider: ethers.Provider,
    readonly book: AddressBook,
    workerUrl: string,
  ) {
    this.ph = attachPostHuman(book.contracts as unknown as PostHumanAddresses, runner as ContractRunner);
    this.ocean = attachOcean(oceanAddressesOf(book), runner as ethers.Signer);
    this.worker = new WorkerClient(workerUrl, authDomain(book.chainId, book.contracts.JobMarket));
  }

  static async init(o: InitOptions): Promise<PostHuman> {
    const provider = "provider" in o.runner && o.runner.provider ? o.runner.provider : (o.runner as ethers.Provider);
    const { chainId } = await provider.getNetwork();
    if (Number(chainId) !== o.book.chainId) {
      throw new Error(
        `The RPC node is chain ${chainId} but the address book is for chain ${o.book.chainId}: pass the right --rpc or --deployment.`,
      );
    }
    return new PostHuman(o.runner, provider, o.book, o.workerUrl ?? "http://127.0.0.1:8550");
  }

  get signer(): ethers.Signer {
    if (!("signTransaction" in this.runner) && !("sendTransaction" in this.runner))
      throw new Error("This client is read-only: create it with a signer.");
    return this.runner as ethers.Signer;
  }

  async address(): Promise<string> {
    return this.signer.getAddress();
  }

  private async send(tx: TransactionRequest): Promise<ethers.TransactionReceipt> {
    const sent = await this.signer.sendTransaction(tx);
    const receipt = await sent.wait();
    if (!receipt) throw new Error(`Transaction ${sent.hash} was not mined`);
    return receipt;
  }

  datatoken(address: string) {
    return ERC20Template__factory.connect(address, this.runner as ContractRunner);
  }

  baseToken() {
    return ERC20Template__factory.connect(this.book.contracts.OceanToken, this.runner as ContractRunner);
  }

  // ─── Models ───────────────────────────────────────────────────────────────────────────────────────────────

  async buildPublishTx(o: PublishModelOptions): Promise<TransactionRequest> {
    return this.ph.registry.publishModel.populateTransaction(publishParams(o));
  }

  /** Registers a model on chain, then uploads its folder to the operator (who checks the weights root). */
  async publish(
    o: PublishModelOptions & { dir?: string },
  ): Promise<{ modelId: bigint; txHash: string; datatoken: string; exchangeId: string }> {
    const receipt = await this.send(await this.buildPublishTx(o));
    const ev = findEvent(this.ph.registry, receipt, "ModelPublished");
    const modelId = ev.args.modelId as bigint;
    if (o.dir) await this.worker.uploadModel(this.signer, modelId, o.dir);
    return {
      modelId,
      txHash: receipt.hash,
      datatoken: ev.args.datatoken as string,
      exchangeId: ev.args.exchangeId as string,
    };
  }

  async model(modelId: bigint) {
    return this.ph.registry.getModel(modelId);
  }

  async models(): Promise<{ id: bigint; model: Awaited<ReturnType<PostHuman["model"]>> }[]> {
    const n = await this.ph.registry.modelCount();
    const out = [];
    for (let id = 1n; id <= n; id++) out.push({ id, model: await this.model(id) });
    return out;
  }

  /** The ancestors of a model, nearest first (bounded on chain by the lineage depth). */
  async ancestors(modelId: bigint): Promise<bigint[]> {
    return [...(await this.ph.registry.ancestors(modelId, 64))];
  }

  // ─── Datatokens: exchange and holder listings ─────────────────────────────────────────────────────────────

  /** Buys datatokens of a model on Ocean's FixedRateExchange through ocean.js. */
  async buy(modelId: bigint, amount: bigint, maxBase?: bigint): Promise<{ cost: bigint; txHash: string }> {
    const m = await this.model(modelId);
    if (m.exchangeId === ethers.ZeroHash) {
      throw new NotEnoughError(
        `Model ${modelId} has no exchange`,
        "buy from a holder instead: posthuman market list --model " + modelId,
      );
    }
    const [cost] = await this.ocean.fixedRate.calcBaseInGivenOutDT(m.exchangeId, amount, 0);
    await this.ensureBase(cost, this.book.contracts.FixedRateExchange);
    const fre = new OceanJsFixedRateExchange(
      this.book.contracts.FixedRateExchange,
      this.signer,
      this.book.chainId,
      oceanJsConfig(oceanAddressesOf(this.book), this.book.chainId),
    );
    const res = await fre.buyDatatokens(m.exchangeId, ethers.formatEther(amount), ethers.formatEther(maxBase ?? cost));
    const hash = typeof res === "object" && res && "hash" in res ? String((res as { hash: string }).hash) : "";
    return { cost, txHash: hash };
  }

  async list(modelId: bigint, amount: bigint, pricePerToken: bigint): Promise<{ listingId: bigint; txHash: string }> {
    const m = await this.model(modelId);
    const market = this.book.contracts.DatatokenMarket;
    await this.ensureAllowance(this.datatoken(m.datatoken), market, amount);
    const receipt = await this.send(
      await this.ph.datatokenMarket.createListing.populateTransaction(modelId, amount, pricePerToken),
    );
    return {
      listingId: findEvent(this.ph.datatokenMarket, receipt, "ListingCreated").args.listingId as bigint,
      txHash: receipt.hash,
    };
  }

  async listings(modelId?: bigint) {
    const n = await this.ph.datatokenMarket.listingCount();
    const out = [];
    for (let id = 1n; id <= n; id++) {
      const l = await this.ph.datatokenMarket.getListing(id);
      if (l.remaining > 0n && (modelId === undefined || l.modelId === modelId)) out.push({ id, listing: l });
    }
    return out;
  }

  async buyListing(listingId: bigint, amount: bigint): Promise<{ cost: bigint; txHash: string }> {
    const cost = await this.ph.datatokenMarket.quote(listingId, amount);
    await this.ensureBase(cost, this.book.contracts.DatatokenMarket);
    const receipt = await this.send(await this.ph.datatokenMarket.buy.populateTransaction(listingId, amount, cost));
    return { cost, txHash: receipt.hash };
  }

  private async ensureAllowance(token: ReturnType<PostHuman["datatoken"]>, spender: string, amount: bigint) {
    const owner = await this.address();
    if ((await token.allowance(owner, spender)) < amount)
      await this.send(await token.approve.populateTransaction(spender, amount));
  }

  private async ensureBase(amount: bigint, spender: string) {
    const base = this.baseToken();
    const have = await base.balanceOf(await this.address());
    if (have < amount) {
      throw new NotEnoughError(
        `Not enough OCEAN: ${ethers.formatEther(have)} held, ${ethers.formatEther(amount)} needed`,
        "get base token first (on the local chain every dev account starts with 10000 OCEAN)",
      );
    }
    await this.ensureAllowance(base, spender, amount);
  }

  // ─── Jobs ─────────────────────────────────────────────────────────────────────────────────────────────────

  async buildRequestTx(
    modelId: bigint,
    params: JobParams,
    input: Uint8Array,
    fee: bigint,
    deadline: bigint,
  ): Promise<TransactionRequest> {
    return this.ph.jobMarket.requestJob.populateTransaction(
      jobRequest({
        modelId,
        kind: params.kind,
        inputHash: sha256Hex(input),
        fee,
        deadline,
        params: encodeJobParams(params),
      }),
    );
  }

  /**
   * Requests a job (1 datatoken is ordered on Ocean, the fee escrowed) and uploads its input to the worker.
   * Errors name the fix: not enough datatokens → the buy command; worker unreachable → how to start one.
   */
  async request(
    modelId: bigint,
    params: JobParams,
    input: Uint8Array,
    o: { fee?: bigint; ttlSec?: number } = {},
  ): Promise<RequestedJob> {
    const fee = o.fee ?? ethers.parseEther("1");
    const m = await this.model(modelId);
    const dt = this.datatoken(m.datatoken);
    const me = await this.address();
    if ((await dt.balanceOf(me)) < ONE_DATATOKEN) {
      throw new NotEnoughError(
        `You hold no datatoken of model ${modelId}: a job consumes 1`,
        `buy one: posthuman buy ${modelId} --amount 1 (or from a holder: posthuman market list --model ${modelId})`,
      );
    }
    await this.worker.health(); // fail before paying when no worker answers
    const market = this.book.contracts.JobMarket;
    await this.ensureAllowance(dt, market, ONE_DATATOKEN);
    await this.ensureBase(fee, market);
    const latest = await this.provider.getBlock("latest");
    const deadline = BigInt(Math.max(latest?.timestamp ?? 0, Math.floor(Date.now() / 1000)) + (o.ttlSec ?? 900));
    const receipt = await this.send(await this.buildRequestTx(modelId, params, input, fee, deadline));
    const ev = findEvent(this.ph.jobMarket, receipt, "JobRequested");
    const job: RequestedJob = {
      jobId: ev.args.jobId as bigint,
      kind: params.kind,
      modelId,
      inputHash: sha256Hex(input),
      params: encodeJobParams(params),
      txHash: receipt.hash,
    };
    await this.uploadInput(job.jobId, input);
    return job;
  }

  /** Uploads a job's input, waiting briefly for the worker to ingest the request. */
  async uploadInput(jobId: bigint, input: Uint8Array, timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.worker.uploadInput(this.signer, jobId, input);
      } catch (e) {
        if (!/UNKNOWN_JOB/.test((e as { code?: string }).code ?? "") || Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  async job(jobId: bigint): Promise<IJobMarket.JobStructOutput> {
    return this.ph.jobMarket.getJob(jobId);
  }

  /** The receipt of a job from its ReceiptSubmitted event, or undefined before one. */
  async receipt(jobId: bigint): Promise<OnChainReceipt | undefined> {
    const logs = await this.ph.jobMarket.queryFilter(
      this.ph.jobMarket.filters.ReceiptSubmitted(jobId),
      this.book.startBlock,
    );
    const log = logs[0];
    if (!log) return undefined;
    const r = log.args.receipt;
    return {
      jobId,
      worker: log.args.worker,
      outputHash: r.outputHash,
      outputURI: r.outputURI,
      servedWeightsRoot: r.servedWeightsRoot,
      runtimeId: r.runtimeId,
      seed: r.seed,
      metrics: {
        trainLossBefore: r.metrics.trainLossBefore,
        trainLossAfter: r.metrics.trainLossAfter,
        valLossBefore: r.metrics.valLossBefore,
        valLossAfter: r.metrics.valLossAfter,
        evalLoss: r.metrics.evalLoss,
        evalTokens: r.metrics.evalTokens,
      },
      childWeightsRoot: r.childWeightsRoot,
      childConfigHash: r.childConfigHash,
      childModelId: log.args.childModelId,
      txHash: log.transactionHash,
    };
  }

  /** The job's request event: kind, params bytes and input hash (what a verifier re-runs). */
  async requestOf(jobId: bigint) {
    const logs = await this.ph.jobMarket.queryFilter(
      this.ph.jobMarket.filters.JobRequested(jobId),
      this.book.startBlock,
    );
    if (!logs[0]) throw new Error(`Job ${jobId} was never requested on this chain`);
    return logs[0].args;
  }

  /**
   * Follows a job until it has a receipt (or ends without one), reporting the worker's progress.
   * Resolves with the receipt; rejects with the failure when the job failed, was reclaimed or cancelled.
   */
  async follow(
    jobId: bigint,
    onProgress?: (status: Record<string, unknown>) => void,
    timeoutMs = 900_000,
  ): Promise<OnChainReceipt> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.job(jobId);
      const status = Number(job.status);
      if (status >= 3 && status !== 6 && status !== 7 && status !== 8) {
        const r = await this.receipt(jobId);
        if (r) return r;
      }
      if (status === 6 || status === 7 || status === 8 || status === 9) {
        let why = "";
        try {
          const s = await this.worker.jobStatus(jobId);
          const err = s.error as { code?: string; message?: string } | null;
          if (err) why = `: ${err.code} — ${err.message}`;
        } catch {
          /* the worker may be gone */
        }
        throw new Error(
          `Job ${jobId} ended without a receipt (${["", "", "", "", "", "", "cancelled", "failed", "reclaimed", "slashed"][status]})${why}`,
        );
      }
      if (onProgress) {
        try {
          onProgress(await this.worker.jobStatus(jobId));
        } catch {
          /* progress is best effort */
        }
      }
      if (Date.now() > end) throw new Error(`Job ${jobId} has no receipt after ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Downloads the result (requester only) and checks it against the receipt's output hash. */
  async result(jobId: bigint): Promise<{ bytes: Buffer; verified: boolean; receipt: OnChainReceipt }> {
    const receipt = await this.receipt(jobId);
    if (!receipt) throw new Error(`Job ${jobId} has no receipt yet: follow it with posthuman job show ${jobId}`);
    const bytes = await this.worker.result(this.signer, jobId);
    return { bytes, verified: sha256Hex(bytes) === receipt.outputHash.toLowerCase(), receipt };
  }

  /** Settles a job whose challenge window is over (anyone may; the worker usually does). */
  async settle(jobId: bigint): Promise<string> {
    return (await this.send(await this.ph.jobMarket.settleJob.populateTransaction(jobId))).hash;
  }

  // ─── Revenue ──────────────────────────────────────────────────────────────────────────────────────────────

  vault(address: string) {
    return RoyaltyVault__factory.connect(address, this.runner as ContractRunner);
  }

  /** Moves base token waiting in the model's exchange to its vault (anyone may). */
  async collectSales(modelId: bigint): Promise<bigint> {
    const m = await this.model(modelId);
    if (m.exchangeId === ethers.ZeroHash) return 0n;
    const { btBalance } = await this.ocean.fixedRate.getExchange(m.exchangeId);
    if (btBalance > 0n)
      await this.send(await this.ocean.fixedRate.collectBT.populateTransaction(m.exchangeId, btBalance));
    return btBalance;
  }

  /** Pays base token straight into a model's vault (a licence, a tip): it is shared like any revenue. */
  async pay(modelId: bigint, amount: bigint): Promise<string> {
    const m = await this.model(modelId);
    await this.ensureBase(amount, m.vault);
    return (await this.send(await this.vault(m.vault).pay.populateTransaction(amount))).hash;
  }

  async distribute(modelId: bigint): Promise<string> {
    const m = await this.model(modelId);
    return (await this.send(await this.vault(m.vault).distribute.populateTransaction())).hash;
  }

  async claimable(modelId: bigint, account: string) {
    const m = await this.model(modelId);
    const v = this.vault(m.vault);
    const [base, dt] = await v.claimable(account);
    return { shares: await v.balanceOf(account), totalShares: await v.totalSupply(), base, datatokens: dt };
  }

  async claim(modelId: bigint, account?: string): Promise<{ base: bigint; datatokens: bigint; txHash: string }> {
    const m = await this.model(modelId);
    const who = account ?? (await this.address());
    const receipt = await this.send(await this.vault(m.vault).claim.populateTransaction(who));
    const ev = findEvent(this.vault(m.vault), receipt, "RevenueClaimed");
    return { base: ev.args.baseAmount as bigint, datatokens: ev.args.datatokenAmount as bigint, txHash: receipt.hash };
  }
}

/** Reads a file as an input; a clear error when it is missing. */
export function readInput(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`Cannot read ${file}: ${(e as Error).message}`);
  }
}
