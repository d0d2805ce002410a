import type { Provider, Signer } from "ethers";
import type { AddressBook } from "./address-book";
import { deployOcean, publishedOceanAddresses, type OceanAddresses } from "./ocean";
import { deployPostHuman, type PostHumanParams } from "./posthuman";

export const OCEAN_KEYS: (keyof OceanAddresses)[] = [
  "OceanToken",
  "OPFCommunityFeeCollector",
  "FactoryRouter",
  "FixedRateExchange",
  "Dispenser",
  "ERC20Template",
  "ERC721Template",
  "ERC721Factory",
];

export const POSTHUMAN_KEYS = ["ModelRegistry", "JobMarket", "DatatokenMarket", "RoyaltyVaultImplementation"] as const;

export interface DeployOptions {
  /** Existing address book of this network, if any. */
  existing?: AddressBook;
  /** Receives the protocol fee (default: the deployer). */
  treasury?: string;
  /** Decides challenges (default: the deployer). */
  arbiter?: string;
  /** Protocol parameters other than the defaults of scripts/lib/posthuman.ts (e.g. a short challenge window). */
  params?: Partial<PostHumanParams>;
  log?: (line: string) => void;
}

export interface DeployOutcome {
  book: AddressBook;
  /** Names of the contracts deployed by this run (empty when everything was already there). */
  deployed: string[];
}

async function allHaveCode(provider: Provider, addresses: (string | undefined)[]): Promise<boolean> {
  for (const a of addresses) {
    if (!a || (await provider.getCode(a)) === "0x") return false;
  }
  return true;
}

/**
 * Brings a chain to a full PostHuman deployment and returns its address book. Idempotent: contracts named in
 * `existing` that have code on this chain are kept; only missing groups are deployed. Ocean's published
 * addresses are used on chains listed in `@oceanprotocol/contracts` (no Ocean deploy there).
 */
export async function deployAll(deployer: Signer, opts: DeployOptions = {}): Promise<DeployOutcome> {
  const log = opts.log ?? (() => undefined);
  const provider = deployer.provider;
  if (!provider) throw new Error("The deployer signer has no provider.");
  const chainId = Number((await provider.getNetwork()).chainId);
  let existing = opts.existing; // cleared when Ocean is redeployed: PostHuman must then be redeployed on top
  if (existing && existing.chainId !== chainId) {
    throw new Error(`The address book is for chain ${existing.chainId} but the RPC node is chain ${chainId}.`);
  }
  const deployed: string[] = [];
  const startBlock = existing?.startBlock ?? (await provider.getBlockNumber());
  const contracts: Record<string, string> = { ...(existing?.contracts ?? {}) };

  const published = publishedOceanAddresses(chainId);
  if (published) {
    log(`Ocean Protocol is deployed on chain ${chainId}: using its published addresses.`);
    Object.assign(contracts, published);
  } else if (
    !(await allHaveCode(
      provider,
      OCEAN_KEYS.map((k) => contracts[k]),
    ))
  ) {
    log("Deploying Ocean Protocol from @oceanprotocol/contracts artifacts…");
    const ocean = await deployOcean(deployer);
    Object.assign(contracts, ocean.addresses);
    deployed.push(...OCEAN_KEYS);
    existing = undefined;
  } else {
    log("Ocean Protocol already deployed: nothing to do.");
  }

  if (
    !existing ||
    !(await allHaveCode(
      provider,
      POSTHUMAN_KEYS.map((k) => contracts[k]),
    ))
  ) {
    log("Deploying PostHuman (ModelRegistry, JobMarket, DatatokenMarket, RoyaltyVault)…");
    const owner = await deployer.getAddress();
    const ph = await deployPostHuman(deployer, oceanAddressesOf({ chainId, startBlock, contracts }), {
      ...opts.params,
      treasury: opts.treasury ?? owner,
      arbiter: opts.arbiter ?? owner,
    });
    for (const k of POSTHUMAN_KEYS) contracts[k] = ph.addresses[k];
    deployed.push(...POSTHUMAN_KEYS);
  } else {
    log("PostHuman already deployed: nothing to do.");
  }

  return { book: { chainId, startBlock, contracts }, deployed };
}

/** The Ocean part of an address book, typed; throws naming the missing entries. */
export function oceanAddressesOf(book: AddressBook): OceanAddresses {
  const missing = OCEAN_KEYS.filter((k) => !book.contracts[k]);
  if (missing.length) {
    throw new Error(`The address book lacks Ocean contracts: ${missing.join(", ")}. Run the deploy script again.`);
  }
  return Object.fromEntries(OCEAN_KEYS.map((k) => [k, book.contracts[k]])) as unknown as OceanAddresses;
}
