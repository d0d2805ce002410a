/**
 * The page's read side: typed contracts over the page's own RPC connection, and a snapshot of the marketplace built
 * from the chain alone (the registry's models, the job market's requests and receipts, the listings). Events are read
 * from the address book's start block; on a busy public network an indexer would take this place (docs/web.md).
 */
import { ethers } from "ethers";
import {
  attachPostHuman,
  datatokenAt,
  vaultAt,
  type PostHumanAddresses,
  type PostHumanContracts,
} from "../../protocol/contracts";
import { decodeJobParams, JobKind } from "../../protocol/params";
import {
  ERC20Template__factory,
  ERC721Template__factory,
  FixedRateExchange__factory,
  type ERC20Template,
  type FixedRateExchange,
  type ModelRegistry,
} from "../../../typechain-types";
import type { ListingRecord } from "../../sdk/datatoken-market";
import { chainNow, JobMarketClient } from "../../sdk/browser";
import { toReceipt, type OnChainReceipt, type ReceiptLog } from "../../protocol/receipt";
import type { WebConfig } from "./config";
import { modelCard, type ModelCard } from "../../sdk/model-card";
import { logsInRanges } from "../../protocol/logs";

export type ModelRecord = Awaited<ReturnType<ModelRegistry["getModel"]>>;

/** A receipt (the SDK's shape, from the same event) and the block it was mined in. */
export type ReceiptView = OnChainReceipt & { block: number };

export interface JobInfo {
  id: bigint;
  modelId: bigint;
  requester: string;
  /** 0 Train, 1 Infer, 2 Evaluate. */
  kind: number;
  inputHash: string;
  fee: bigint;
  deadline: bigint;
  params: string;
  /** The request's free string: a card (the child's name and description, the benchmark's name), or "". */
  inputURI: string;
  requestTx: string;
  block: number;
  /** IJobMarket.JobStatus. */
  status: number;
  worker: string;
  receipt?: ReceiptView;
}

export interface EvalRun {
  jobId: bigint;
  benchmarkId: string;
  loss: bigint;
  tokens: bigint;
  block: number;
}

/** An open holder listing (the SDK's shape). */
export type ListingInfo = ListingRecord;

export interface ModelInfo {
  id: bigint;
  name: string;
  record: ModelRecord;
  /** Base token paid for one datatoken on Ocean's exchange (fees included); undefined without an exchange. */
  exchangePrice?: bigint;
  /** The part of `exchangePrice` that is fees (Ocean's community fee and the market fees), not the model's price. */
  exchangeFee?: bigint;
  /** Cheapest open holder listing, per datatoken. */
  cheapestListing?: bigint;
  children: bigint[];
  /** Jobs requested on this model, newest first. */
  jobs: JobInfo[];
  /** Jobs that left a receipt. */
  served: number;
  /** Description, licence, README, size: the model card (offchain/sdk/model-card.ts). */
  card: ModelCard;
  /** Evaluation runs on this model, oldest first. */
  evals: EvalRun[];
}

export interface Snapshot {
  models: ModelInfo[];
  byId: Map<string, ModelInfo>;
  jobs: Map<string, JobInfo>;
  listings: ListingInfo[];
  block: number;
  /** The share of a derived model's base-token revenue its vault sends up to its parent's (the registry's config). */
  parentRoyaltyBps: number;
}

/** The benchmark id an evaluation job's params name. */
export function benchmarkOf(params: string): string {
  const p = decodeJobParams(JobKind.Evaluate, params);
  return p.kind === "Evaluate" ? p.params.benchmarkId : ethers.ZeroHash;
}

export class Market {
  readonly provider: ethers.JsonRpcProvider;
  readonly ph: PostHumanContracts;
  readonly fre: FixedRateExchange;
  readonly base: ERC20Template;

  constructor(readonly cfg: WebConfig) {
    this.provider = new ethers.JsonRpcProvider(cfg.rpcUrl, cfg.book.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    });
    this.provider.pollingInterval = 250;
    this.ph = attachPostHuman(cfg.book.contracts as unknown as PostHumanAddresses, this.provider);
    this.fre = FixedRateExchange__factory.connect(cfg.book.contracts.FixedRateExchange, this.provider);
    this.base = ERC20Template__factory.connect(cfg.book.contracts.OceanToken, this.provider);
  }

  get chainId(): number {
    return this.cfg.book.chainId;
  }

  /** The chain's time now, in seconds (the SDK's chainNow): windows are measured in it. */
  async chainTime(): Promise<number> {
    return Number(await chainNow(this.provider));
  }

  datatoken(address: string, runner: ethers.ContractRunner = this.provider) {
    return datatokenAt(address, runner);
  }

  vault(address: string, runner: ethers.ContractRunner = this.provider) {
    return vaultAt(address, runner);
  }

  /** Everything the catalogue, model and receipt pages show, read from the chain in a few batched rounds. */
  async snapshot(): Promise<Snapshot> {
    const { registry, jobMarket, datatokenMarket } = this.ph;
    const [count, listingCount, block, requested, receipts, config] = await Promise.all([
      registry.modelCount(),
      datatokenMarket.listingCount(),
      this.provider.getBlockNumber(),
      this.logs((a, b) => jobMarket.queryFilter(jobMarket.filters.JobRequested(), a, b)),
      this.logs((a, b) => jobMarket.queryFilter(jobMarket.filters.ReceiptSubmitted(), a, b)),
      registry.config(),
    ]);
    const ids = Array.from({ length: Number(count) }, (_, i) => BigInt(i + 1));
    const records = await Promise.all(ids.map((i) => registry.getModel(i)));
    const names = await Promise.all(
      records.map((r) =>
        ERC721Template__factory.connect(r.nft, this.provider)
          .name()
          .catch(() => ""),
      ),
    );
    const prices = await Promise.all(
      records.map((r) =>
        r.exchangeId === ethers.ZeroHash
          ? Promise.resolve(undefined)
          : this.fre
              .calcBaseInGivenOutDT(r.exchangeId, ethers.parseEther("1"), 0)
              .then((x) => ({
                total: x.baseTokenAmount,
                fee: x.oceanFeeAmount + x.publishMarketFeeAmount + x.consumeMarketFeeAmount,
              }))
              .catch(() => undefined),
      ),
    );
    const listings = (
      await Promise.all(
        Array.from({ length: Number(listingCount) }, (_, i) => BigInt(i + 1)).map(async (id) => {
          const l = await datatokenMarket.getListing(id);
          return {
            id,
            seller: l.seller,
            modelId: l.modelId,
            datatoken: l.datatoken,
            remaining: l.remaining,
            pricePerToken: l.pricePerToken,
          };
        }),
      )
    ).filter((l) => l.remaining > 0n);

    const receiptOf = new Map<string, ReceiptView>();
    for (const log of receipts) {
      receiptOf.set(log.args.jobId.toString(), { ...toReceipt(log as ReceiptLog), block: log.blockNumber });
    }
    const onChainJobs = await Promise.all(requested.map((log) => jobMarket.getJob(log.args.jobId)));
    const jobs = new Map<string, JobInfo>();
    requested.forEach((log, i) => {
      const a = log.args;
      jobs.set(a.jobId.toString(), {
        id: a.jobId,
        modelId: a.modelId,
        requester: a.requester,
        kind: Number(a.kind),
        inputHash: a.inputHash,
        fee: a.fee,
        deadline: a.deadline,
        params: a.params,
        inputURI: a.inputURI,
        requestTx: log.transactionHash,
        block: log.blockNumber,
        status: Number(onChainJobs[i].status),
        worker: onChainJobs[i].worker,
        receipt: receiptOf.get(a.jobId.toString()),
      });
    });

    // Each model's card, read as the CLI reads it: its owner's naming in Ocean's metadata, else its trainer's card.
    const cards = await Promise.all(
      records.map((r) =>
        modelCard(
          { provider: this.provider, book: this.cfg.book },
          r,
          async () => jobs.get(r.jobId.toString())?.inputURI,
        ),
      ),
    );
    const models: ModelInfo[] = ids.map((id, i) => {
      const own = [...jobs.values()].filter((j) => j.modelId === id).reverse();
      const evals = own
        .filter((j) => j.kind === JobKind.Evaluate && j.receipt)
        .map((j) => ({
          jobId: j.id,
          benchmarkId: benchmarkOf(j.params),
          loss: (j.receipt as ReceiptView).metrics.evalLoss,
          tokens: (j.receipt as ReceiptView).metrics.evalTokens,
          block: (j.receipt as ReceiptView).block,
        }))
        .reverse();
      const forSale = listings.filter((l) => l.modelId === id).map((l) => l.pricePerToken);
      const card = cards[i];
      return {
        id,
        name: card.name || names[i] || `Model ${id}`,
        card,
        record: records[i],
        exchangePrice: prices[i]?.total,
        exchangeFee: prices[i]?.fee,
        cheapestListing: forSale.length ? forSale.reduce((a, b) => (a < b ? a : b)) : undefined,
        children: ids.filter((c, k) => records[k].parentId === id && c !== id),
        jobs: own,
        served: own.filter((j) => j.receipt).length,
        evals,
      };
    });
    const parentRoyaltyBps = Number(config.parentRoyaltyBps);
    return { models, byId: new Map(models.map((m) => [m.id.toString(), m])), jobs, listings, block, parentRoyaltyBps };
  }

  /** Logs since the deployment's start block, read in ranges the node accepts (protocol/logs.ts). */
  logs<T>(read: (from: number, to: number) => Promise<T[]>): Promise<T[]> {
    return logsInRanges(this.provider, this.cfg.book.startBlock, read);
  }

  /** Whether `account` challenged job `jobId`, first or by joining (its `JobChallenged` logs). */
  challengedBy(jobId: bigint, account: string): Promise<boolean> {
    const ctx = { runner: this.provider, provider: this.provider, book: this.cfg.book };
    return new JobMarketClient(ctx).challengedBy(jobId, account);
  }

  /** Holders of a model's vault shares, from the vault's Transfer events (its contributors and later buyers). */
  async shareHolders(vault: string): Promise<{ holder: string; shares: bigint }[]> {
    const v = this.vault(vault);
    const logs = await this.logs((a, b) => v.queryFilter(v.filters.Transfer(), a, b));
    const bal = new Map<string, bigint>();
    for (const l of logs) {
      const { from, to, value } = l.args;
      if (from !== ethers.ZeroAddress) bal.set(from, (bal.get(from) ?? 0n) - value);
      if (to !== ethers.ZeroAddress) bal.set(to, (bal.get(to) ?? 0n) + value);
    }
    return [...bal.entries()]
      .filter(([, s]) => s > 0n)
      .map(([holder, shares]) => ({ holder, shares }))
      .sort((a, b) => (a.shares > b.shares ? -1 : 1));
  }
}
