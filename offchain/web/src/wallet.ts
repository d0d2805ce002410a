/**
 * Who signs. Two ways in:
 *  - an injected EIP-1193 wallet (MetaMask and the like), on any chain; the page refuses to write while the wallet
 *    is on another chain than the marketplace's, and offers to switch;
 *  - on a local chain only (31337, 1337), one of the named development accounts (alice … elena), derived in the page
 *    from Hardhat's public test mnemonic and signing locally, so the marketplace works without an extension.
 * These keys are public test data: the page never offers them on any other chain.
 */
import { ethers, type Eip1193Provider } from "ethers";
import { UserError } from "./errors";

/** Hardhat's well-known development mnemonic (offchain/cli/accounts.ts). Public test data, never a secret. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";
/** The five people, at their Hardhat account indexes (offchain/cli/accounts.ts DEV_ACCOUNTS). */
export const DEV_PEOPLE = { alice: 1, bob: 2, charlie: 3, derek: 4, elena: 5 } as const;
export type DevName = keyof typeof DEV_PEOPLE;
/** Chains where the development accounts may be used. */
export const LOCAL_CHAIN_IDS: ReadonlySet<number> = new Set([31337, 1337]);

declare global {
  interface Window {
    ethereum?: Eip1193Provider & {
      on?(event: string, handler: (...args: unknown[]) => void): void;
    };
  }
}

export interface Account {
  kind: "dev" | "injected";
  /** alice … elena, or "wallet". */
  label: string;
  address: string;
  /** The chain the signer is on. */
  chainId: number;
  signer: ethers.Signer;
}

let devRoot: ethers.HDNodeWallet | undefined;

/** The address of a dev account (derivation is done once per page). */
export function devAddress(name: DevName): string {
  devRoot ??= ethers.HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0");
  return devRoot.deriveChild(DEV_PEOPLE[name]).address;
}

/** A dev account signing locally through the page's own RPC connection; refused outside local chains. */
export function devAccount(name: DevName, provider: ethers.JsonRpcProvider, chainId: number): Account {
  if (!LOCAL_CHAIN_IDS.has(chainId)) {
    throw new UserError(
      `The development accounts are public keys and are refused on chain ${chainId}.`,
      "Connect your own wallet instead.",
    );
  }
  devRoot ??= ethers.HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0");
  const wallet = new ethers.Wallet(devRoot.deriveChild(DEV_PEOPLE[name]).privateKey, provider);
  return { kind: "dev", label: name, address: wallet.address, chainId, signer: wallet };
}

/** The name of a dev account by address, for display. */
export function devNameOf(address: string): DevName | undefined {
  return (Object.keys(DEV_PEOPLE) as DevName[]).find((n) => devAddress(n).toLowerCase() === address.toLowerCase());
}

/** The dev accounts that are roles, not people to act as (`posthuman up`: the deployer is the arbiter). */
const DEV_ROLES = { deployer: 0, worker: 6, treasury: 7 } as const;

/** A dev account's name by address, people and roles (deployer, worker, treasury), for display only. */
export function devLabelOf(address: string): string | undefined {
  devRoot ??= ethers.HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, "m/44'/60'/0'/0");
  const role = Object.entries(DEV_ROLES).find(
    ([, i]) => devRoot!.deriveChild(i).address.toLowerCase() === address.toLowerCase(),
  );
  return devNameOf(address) ?? role?.[0];
}

/** Connects the injected wallet; asks for its accounts (the wallet shows its own prompt). */
export async function connectInjected(): Promise<Account> {
  const eth = window.ethereum;
  if (!eth) {
    throw new UserError(
      "No wallet extension was found in this browser.",
      "Install MetaMask (or another EIP-1193 wallet) and reload; on the local chain you can also pick a dev account.",
    );
  }
  await eth.request({ method: "eth_requestAccounts" });
  const provider = new ethers.BrowserProvider(eth);
  provider.pollingInterval = 500;
  const signer = await provider.getSigner();
  const { chainId } = await provider.getNetwork();
  return { kind: "injected", label: "wallet", address: await signer.getAddress(), chainId: Number(chainId), signer };
}

/** Asks the injected wallet to switch to (or add) the marketplace's chain. */
export async function switchNetwork(chainId: number, rpcUrl: string): Promise<void> {
  const eth = window.ethereum;
  if (!eth) return;
  const hex = ethers.toQuantity(chainId);
  try {
    await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: hex }] });
  } catch (e) {
    if ((e as { code?: number }).code !== 4902) throw e;
    await eth.request({
      method: "wallet_addEthereumChain",
      params: [
        {
          chainId: hex,
          chainName: LOCAL_CHAIN_IDS.has(chainId) ? "PostHuman local chain" : `Chain ${chainId}`,
          rpcUrls: [rpcUrl],
          nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
        },
      ],
    });
  }
}
