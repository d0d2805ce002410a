/**
 * Node only: purchases on Ocean's FixedRateExchange through ocean.js (`@oceanprotocol/lib`), the library Ocean's own
 * markets use, with the deployment's Ocean addresses. Everything else is the browser-safe client's.
 */
import { ethers } from "ethers";
import { oceanAddressesOf } from "../deploy/deploy";
import { oceanJsConfig } from "../deploy/ocean";
import type { Sent } from "./base";
import { SdkError } from "./errors";
import { FixedRateExchangeClient } from "./exchange";

export class OceanJsExchangeClient extends FixedRateExchangeClient {
  /** Buys `amount` datatoken wei through ocean.js, paying at most `maxBase`. */
  override async buy(exchangeId: string, amount: bigint, maxBase: bigint): Promise<Sent> {
    const { FixedRateExchange: OceanJsFixedRateExchange } = await import("@oceanprotocol/lib");
    const book = this.ctx.book;
    const fre = new OceanJsFixedRateExchange(
      this.address,
      this.signer,
      book.chainId,
      oceanJsConfig(oceanAddressesOf(book), book.chainId),
    );
    try {
      const sent = await fre.buyDatatokens(exchangeId, ethers.formatEther(amount), ethers.formatEther(maxBase));
      const receipt = await sent.wait();
      if (!receipt) throw new Error(`buy: transaction ${sent.hash} was not mined`);
      return { txHash: receipt.hash };
    } catch (e) {
      if (e instanceof SdkError) throw e;
      throw new SdkError("REVERTED", `Buying on the exchange failed: ${(e as Error).message.split("\n")[0]}`);
    }
  }
}
