/**
 * RoyaltyVault of one model: its shares (an ERC20 held by the model's contributors), the revenue it received and
 * books (`distribute`, which also sends the parent's royalty up the lineage), and pull-based claims.
 */
import { RoyaltyVault__factory, type RoyaltyVault } from "../../typechain-types";
import { ContractClient, type SdkContext, type Sent, type UnsignedTx, unsigned } from "./base";

export interface VaultPosition {
  shares: bigint;
  totalShares: bigint;
  /** What the account can claim now: base token and the model's datatoken. */
  claimableBase: bigint;
  claimableDatatokens: bigint;
}

export interface ClaimRecord {
  account: string;
  base: bigint;
  datatokens: bigint;
  txHash: string;
}

export class RoyaltyVaultClient extends ContractClient<RoyaltyVault> {
  constructor(ctx: SdkContext, address: string) {
    super(ctx, RoyaltyVault__factory.connect(address, ctx.runner));
  }

  async position(account: string): Promise<VaultPosition> {
    const [shares, totalShares, [claimableBase, claimableDatatokens]] = await Promise.all([
      this.contract.balanceOf(account),
      this.contract.totalSupply(),
      this.contract.claimable(account),
    ]);
    return { shares, totalShares, claimableBase, claimableDatatokens };
  }

  /** Tokens received and not yet booked by `distribute`. */
  async pending(): Promise<{ base: bigint; datatokens: bigint }> {
    const [base, datatokens] = await this.contract.pending();
    return { base, datatokens };
  }

  /** Tokens booked for holders and not yet claimed: what the vault owes. */
  async owed(): Promise<{ base: bigint; datatokens: bigint }> {
    const [base, datatokens] = await this.contract.owed();
    return { base, datatokens };
  }

  /**
   * Everything the vault holds, booked or not (its token balances): what a frozen vault's `distribute` sends to the
   * parent's vault (base token) and burns (datatokens).
   */
  async holdings(): Promise<{ base: bigint; datatokens: bigint }> {
    const [pending, owed] = await Promise.all([this.pending(), this.owed()]);
    return { base: pending.base + owed.base, datatokens: pending.datatokens + owed.datatokens };
  }

  /** The share (basis points) of each base-token distribution that goes up to the parent's vault: 0 for a root. */
  async parentBps(): Promise<number> {
    return Number(await this.contract.parentBps());
  }

  /** Claims paid to `account` so far (RevenueClaimed events). */
  async claims(account?: string): Promise<ClaimRecord[]> {
    const filter = this.contract.filters.RevenueClaimed(undefined, account);
    const logs = await this.logs((a, b) => this.contract.queryFilter(filter, a, b));
    return logs.map((l) => ({
      account: l.args.account,
      base: l.args.baseAmount,
      datatokens: l.args.datatokenAmount,
      txHash: l.transactionHash,
    }));
  }

  async buildDistributeTx(): Promise<UnsignedTx> {
    return unsigned(await this.contract.distribute.populateTransaction());
  }

  /**
   * Books what arrived since the last call; a derived model's vault sends the parent's share up. Anyone may. A frozen
   * vault instead sends its whole base-token balance to the parent's vault (`toParent`) and burns its datatokens.
   */
  async distribute(): Promise<{ toHolders: bigint; toParent: bigint } & Sent> {
    const receipt = await this.send(await this.buildDistributeTx(), "distribute");
    const base = (await this.contract.baseToken()).toLowerCase();
    let toHolders = 0n;
    let toParent = 0n;
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== this.address.toLowerCase()) continue;
      const parsed = this.contract.interface.parseLog(log);
      if (parsed?.name !== "RevenueDistributed") continue;
      // Base-token entries carry the parent's part; datatoken entries are counted in datatoken wei and kept apart.
      if ((parsed.args.token as string).toLowerCase() === base) {
        toHolders += parsed.args.toHolders as bigint;
        toParent += parsed.args.toParent as bigint;
      }
    }
    return { toHolders, toParent, txHash: receipt.hash };
  }

  async buildClaimTx(account: string): Promise<UnsignedTx> {
    return unsigned(await this.contract.claim.populateTransaction(account));
  }

  /** Pays `account` what its shares earned (anyone may send it; the tokens always go to `account`). */
  async claim(account: string): Promise<{ base: bigint; datatokens: bigint } & Sent> {
    const receipt = await this.send(await this.buildClaimTx(account), "claim");
    const ev = this.event(receipt, "RevenueClaimed");
    return { base: ev.args.baseAmount as bigint, datatokens: ev.args.datatokenAmount as bigint, txHash: receipt.hash };
  }

  /** Needs an allowance of `amount` base token for the vault. */
  async buildPayTx(amount: bigint): Promise<UnsignedTx> {
    return unsigned(await this.contract.pay.populateTransaction(amount));
  }

  /** Pays the model directly (a licence, a tip): shared like any revenue, royalties included. */
  async pay(amount: bigint): Promise<Sent> {
    return { txHash: (await this.send(await this.buildPayTx(amount), "pay")).hash };
  }
}
