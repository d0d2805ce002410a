/**
 * Ocean's FixedRateExchange, where root models' datatokens are sold for the base token: reads, unsigned transactions
 * and purchases through the typed binding of the contract (browser-safe). The SDK's Node entry buys through ocean.js
 * instead (ocean-exchange.ts), the library Ocean's own markets use.
 */
import { ethers } from "ethers";
import { FixedRateExchange__factory, type FixedRateExchange } from "../../typechain-types";
import { ContractClient, type SdkContext, type Sent, type UnsignedTx, unsigned } from "./base";

export interface ExchangeState {
  exchangeId: string;
  owner: string;
  datatoken: string;
  baseToken: string;
  /** Base-token wei per whole datatoken. */
  rate: bigint;
  active: boolean;
  /** Base token from sales waiting in the exchange, until `collect` sends it to the model's vault. */
  btBalance: bigint;
  /** Ocean's and the publishing market's fees waiting in the exchange. */
  oceanFeeAvailable: bigint;
  marketFeeAvailable: bigint;
}

export interface BuyQuote {
  /** What the buyer pays in all (price and fees). */
  cost: bigint;
  oceanFee: bigint;
  marketFee: bigint;
}

export class FixedRateExchangeClient extends ContractClient<FixedRateExchange> {
  constructor(ctx: SdkContext) {
    super(ctx, FixedRateExchange__factory.connect(ctx.book.contracts.FixedRateExchange, ctx.runner));
  }

  async get(exchangeId: string): Promise<ExchangeState> {
    const [e, f] = await Promise.all([this.contract.getExchange(exchangeId), this.contract.getFeesInfo(exchangeId)]);
    return {
      exchangeId,
      owner: e.exchangeOwner,
      datatoken: e.datatoken,
      baseToken: e.baseToken,
      rate: e.fixedRate,
      active: e.active,
      btBalance: e.btBalance,
      oceanFeeAvailable: f.oceanFeeAvailable,
      marketFeeAvailable: f.marketFeeAvailable,
    };
  }

  async quote(exchangeId: string, amount: bigint): Promise<BuyQuote> {
    const q = await this.read(() => this.contract.calcBaseInGivenOutDT(exchangeId, amount, 0), "quote");
    return { cost: q.baseTokenAmount, oceanFee: q.oceanFeeAmount, marketFee: q.publishMarketFeeAmount };
  }

  /** Needs an allowance of `maxBase` base token for the exchange. */
  async buildBuyTx(exchangeId: string, amount: bigint, maxBase: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.buyDT.populateTransaction(exchangeId, amount, maxBase, ethers.ZeroAddress, 0));
  }

  /** Buys `amount` datatoken wei, paying at most `maxBase` (the exchange needs an allowance of `maxBase`). */
  async buy(exchangeId: string, amount: bigint, maxBase: bigint): Promise<Sent> {
    return { txHash: (await this.send(await this.buildBuyTx(exchangeId, amount, maxBase), "buyDT")).hash };
  }

  async buildCollectTx(exchangeId: string, amount: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.collectBT.populateTransaction(exchangeId, amount));
  }

  /** Sends base token waiting in the exchange to the datatoken's payment collector (the model's vault). */
  async collect(exchangeId: string, amount: bigint): Promise<Sent> {
    return { txHash: (await this.send(await this.buildCollectTx(exchangeId, amount), "collectBT")).hash };
  }
}
