/** An ERC20 of the marketplace: the base token (OCEAN) or a model's Ocean datatoken. */
import { ERC20Template__factory, type ERC20Template } from "../../typechain-types";
import { ContractClient, type SdkContext, type Sent, type UnsignedTx, unsigned } from "./base";

export class TokenClient extends ContractClient<ERC20Template> {
  constructor(ctx: SdkContext, address: string) {
    super(ctx, ERC20Template__factory.connect(address, ctx.runner));
  }

  balanceOf(account: string): Promise<bigint> {
    return this.contract.balanceOf(account);
  }

  allowance(owner: string, spender: string): Promise<bigint> {
    return this.contract.allowance(owner, spender);
  }

  symbol(): Promise<string> {
    return this.contract.symbol();
  }

  async buildApproveTx(spender: string, amount: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.approve.populateTransaction(spender, amount));
  }

  async approve(spender: string, amount: bigint): Promise<Sent> {
    const r = await this.send(await this.buildApproveTx(spender, amount), "approve");
    return { txHash: r.hash };
  }

  async buildTransferTx(to: string, amount: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.transfer.populateTransaction(to, amount));
  }

  async transfer(to: string, amount: bigint): Promise<Sent> {
    const r = await this.send(await this.buildTransferTx(to, amount), "transfer");
    return { txHash: r.hash };
  }

  /** Approves `spender` for `amount` unless the signer's allowance already covers it; returns the approval, if any. */
  async ensureAllowance(spender: string, amount: bigint): Promise<Sent | undefined> {
    const owner = await this.signer.getAddress();
    if ((await this.allowance(owner, spender)) >= amount) return undefined;
    return this.approve(spender, amount);
  }
}
