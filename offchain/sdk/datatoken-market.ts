/** DatatokenMarket: holder-to-holder sales of model datatokens for the base token. */
import { DatatokenMarket__factory, type DatatokenMarket } from "../../typechain-types";
import { ContractClient, type SdkContext, type Sent, type UnsignedTx, unsigned } from "./base";
import { SdkError, amountText } from "./errors";

export interface ListingRecord {
  id: bigint;
  seller: string;
  modelId: bigint;
  datatoken: string;
  /** Datatoken wei still for sale. */
  remaining: bigint;
  /** Base-token wei per whole datatoken. */
  pricePerToken: bigint;
}

export class DatatokenMarketClient extends ContractClient<DatatokenMarket> {
  constructor(ctx: SdkContext) {
    super(ctx, DatatokenMarket__factory.connect(ctx.book.contracts.DatatokenMarket, ctx.runner));
  }

  count(): Promise<bigint> {
    return this.contract.listingCount();
  }

  async get(listingId: bigint): Promise<ListingRecord> {
    const count = await this.count();
    if (listingId < 1n || listingId > count)
      throw new SdkError(
        "UNKNOWN_LISTING",
        `There is no listing ${listingId} (${count} so far).`,
        count === 0n ? "nobody has listed datatokens yet" : `pick an id from 1 to ${count}`,
      );
    const l = await this.contract.getListing(listingId);
    return {
      id: listingId,
      seller: l.seller,
      modelId: l.modelId,
      datatoken: l.datatoken,
      remaining: l.remaining,
      pricePerToken: l.pricePerToken,
    };
  }

  /** Open listings (something left to buy), optionally of one model or one seller, cheapest first. */
  async list(filter: { modelId?: bigint; seller?: string } = {}): Promise<ListingRecord[]> {
    const n = Number(await this.count());
    const all = await Promise.all(Array.from({ length: n }, (_, i) => this.get(BigInt(i + 1))));
    return all
      .filter(
        (l) =>
          l.remaining > 0n &&
          (filter.modelId === undefined || l.modelId === filter.modelId) &&
          (filter.seller === undefined || l.seller.toLowerCase() === filter.seller.toLowerCase()),
      )
      .sort((a, b) => (a.pricePerToken < b.pricePerToken ? -1 : a.pricePerToken > b.pricePerToken ? 1 : 0));
  }

  /** Base-token cost of `amount` datatoken wei of a listing (rounded up). */
  quote(listingId: bigint, amount: bigint): Promise<bigint> {
    return this.read(() => this.contract.quote(listingId, amount), "quote");
  }

  /** Needs an allowance of `amount` of the model's datatoken for this market. */
  async buildCreateListingTx(modelId: bigint, amount: bigint, pricePerToken: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.createListing.populateTransaction(modelId, amount, pricePerToken));
  }

  async createListing(modelId: bigint, amount: bigint, pricePerToken: bigint): Promise<{ listingId: bigint } & Sent> {
    const receipt = await this.send(await this.buildCreateListingTx(modelId, amount, pricePerToken), "createListing");
    return { listingId: this.event(receipt, "ListingCreated").args.listingId as bigint, txHash: receipt.hash };
  }

  /** Needs an allowance of `maxCost` base token for this market. */
  async buildBuyTx(listingId: bigint, amount: bigint, maxCost: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.buy.populateTransaction(listingId, amount, maxCost));
  }

  async buy(
    listingId: bigint,
    amount: bigint,
    maxCost: bigint,
  ): Promise<{ cost: bigint; seller: string; modelId: bigint } & Sent> {
    const receipt = await this.send(await this.buildBuyTx(listingId, amount, maxCost), "buy listing");
    const ev = this.event(receipt, "ListingFilled");
    return {
      cost: ev.args.cost as bigint,
      seller: ev.args.seller as string,
      modelId: ev.args.modelId as bigint,
      txHash: receipt.hash,
    };
  }

  async buildCancelListingTx(listingId: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.cancelListing.populateTransaction(listingId));
  }

  /** How a listing with nothing left closed: "cancelled" (by its seller) or "sold out". */
  async closedHow(listingId: bigint): Promise<"cancelled" | "sold out"> {
    const cancelled = await this.logs((a, b) =>
      this.contract.queryFilter(this.contract.filters.ListingCancelled(listingId), a, b),
    );
    return cancelled.length ? "cancelled" : "sold out";
  }

  /** Refused before sending when the listing has nothing left (it was cancelled or sold out): nothing would come back. */
  async cancelListing(listingId: bigint): Promise<{ returned: bigint } & Sent> {
    const l = await this.get(listingId);
    if (l.remaining === 0n) {
      const how = await this.closedHow(listingId);
      throw new SdkError(
        "UNKNOWN_LISTING",
        `Listing ${listingId} is already ${how}: it holds no datatokens to take back. Nothing was sent.`,
        "read the open listings again",
        { data: { listingId, modelId: l.modelId, closed: how } },
      );
    }
    const receipt = await this.send(await this.buildCancelListingTx(listingId), "cancelListing");
    return { returned: this.event(receipt, "ListingCancelled").args.returned as bigint, txHash: receipt.hash };
  }
}

/** Refuses (NOT_ENOUGH_DATATOKENS, before anything is sent) listing more datatokens than the seller holds. */
export function refuseListMore(amount: bigint, have: bigint, modelId: bigint): void {
  if (have >= amount) return;
  throw new SdkError(
    "NOT_ENOUGH_DATATOKENS",
    have === 0n
      ? `You hold no datatokens of model ${modelId}: there are none to list. Nothing was sent.`
      : `You hold ${amountText(have)} datatokens of model ${modelId}; you cannot list ${amountText(amount)}.`,
    // (Not "list at most 0".)
    have === 0n ? "only datatokens you hold can be listed" : `list at most ${amountText(have)}`,
    { data: { modelId, have, need: amount } },
  );
}

/** Refuses (UNKNOWN_LISTING, before anything is paid) buying more than a listing has left. */
export function refuseBuyMore(l: ListingRecord, listingId: bigint, amount: bigint): void {
  if (l.remaining >= amount) return;
  throw new SdkError(
    "UNKNOWN_LISTING",
    `Listing ${listingId} has ${amountText(l.remaining)} datatokens left, you asked for ${amountText(amount)}.`,
    "ask for that much or less, or pick another listing",
    { data: { listingId, modelId: l.modelId, remaining: l.remaining } },
  );
}
