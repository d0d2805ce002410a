import fs from "node:fs";
import { ethers } from "ethers";

/** Hardhat's well-known development mnemonic: every local chain of this project funds its first 20 accounts. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** Named development accounts, in Hardhat's account order (the same order the test fixtures use). */
export const DEV_ACCOUNTS = ["deployer", "alice", "bob", "charlie", "derek", "elena", "worker", "treasury"] as const;
export type DevAccountName = (typeof DEV_ACCOUNTS)[number];

/** Chains where development accounts may be used: Hardhat's and the usual local-node ids. */
export const LOCAL_CHAIN_IDS = new Set([31337, 1337]);

export function devWallet(index: number): ethers.HDNodeWallet {
  return ethers.HDNodeWallet.fromMnemonic(ethers.Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${index}`);
}

export function devIndex(name: string): number | undefined {
  const i = DEV_ACCOUNTS.indexOf(name as DevAccountName);
  if (i >= 0) return i;
  if (/^\d+$/.test(name) && Number(name) < 20) return Number(name);
  return undefined;
}

export interface AccountSource {
  /** A dev account name (alice … treasury) or index (0–19); local chains only. */
  account?: string;
  /** A file holding a 0x-prefixed private key. */
  keyFile?: string;
  /** Environment, for POSTHUMAN_PRIVATE_KEY. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Resolves who signs: `--account <name|index>` on local chains, else `--key-file`, else POSTHUMAN_PRIVATE_KEY.
 * Errors say which option to use; key material is never echoed.
 */
export function resolveWallet(src: AccountSource, chainId: number, provider: ethers.Provider): ethers.Wallet {
  const env = src.env ?? process.env;
  if (src.account !== undefined) {
    const i = devIndex(src.account);
    if (i === undefined) {
      throw new Error(`Unknown account "${src.account}": use one of ${DEV_ACCOUNTS.join(", ")} or an index 0–19.`);
    }
    if (!LOCAL_CHAIN_IDS.has(chainId)) {
      throw new Error(
        `--account ${src.account} is a public development key and is refused on chain ${chainId}; ` +
          "use --key-file <file> or POSTHUMAN_PRIVATE_KEY.",
      );
    }
    return new ethers.Wallet(devWallet(i).privateKey, provider);
  }
  let key: string | undefined;
  if (src.keyFile) {
    try {
      key = fs.readFileSync(src.keyFile, "utf8").trim();
    } catch (e) {
      throw new Error(`Cannot read the key file ${src.keyFile}: ${(e as Error).message}`);
    }
  } else {
    key = env.POSTHUMAN_PRIVATE_KEY;
  }
  if (!key) {
    throw new Error(
      LOCAL_CHAIN_IDS.has(chainId)
        ? "No account given: pass --account alice (or bob, charlie, derek, elena, worker, an index 0–19)."
        : "No account given: pass --key-file <file> or set POSTHUMAN_PRIVATE_KEY.",
    );
  }
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new Error("The private key is not 0x followed by 64 hex digits.");
  return new ethers.Wallet(key, provider);
}
