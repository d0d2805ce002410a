import { ethers, type Provider, type Signer } from "ethers";
import { OceanToken__factory } from "../../typechain-types";
import type { AddressBook } from "../protocol/address-book";
import { deployOcean, publishedOceanAddresses, type OceanAddresses } from "./ocean";
import { DEMO_EVAL_SET, benchmarkId, toFixedLoss } from "../protocol/params";
import { deployFinetuneBounty, type PostHumanParams, deployPostHuman } from "./posthuman";
import { type FinetuneBountyTerms } from "../protocol/structs";

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

/** Chains where the example consumer is deployed: Hardhat's and other local development chains. */
export const LOCAL_CHAIN_IDS: readonly number[] = [31337, 1337];
/** Address-book name of the example consumer (contracts/examples/FinetuneBounty.sol). */
export const EXAMPLE_CONSUMER_KEY = "FinetuneBounty";

/**
 * Terms of the example bounty on a local chain, written for the demo (`posthuman demo`): the first model published
 * on the chain is the demo's M1, and its finetunes compete on Elena's evaluation set
 * (offchain/cli/demo-data/elena-eval.txt, benchmark "posthuman-demo/elena-eval"). Override any of them with
 * `DeployOptions.exampleBounty`.
 */
export function localBountyTerms(now: number): FinetuneBountyTerms {
  return {
    baseModelId: 1n,
    maxGenerations: 8,
    datasetHash: DEMO_EVAL_SET.dataHash,
    datasetURI: "",
    benchmarkId: benchmarkId(DEMO_EVAL_SET.name),
    contextLength: 64,
    maxTokens: 100_000,
    targetLoss: toFixedLoss(6),
    reward: ethers.parseEther("100"),
    evalFee: ethers.parseEther("2"),
    callbackGasLimit: 200_000,
    callbackFee: ethers.parseEther("0.1"),
    evalLease: 3_600,
    expiresAt: now + 365 * 86_400,
  };
}
/** Evaluations the local example bounty is funded for, besides its reward. */
export const LOCAL_BOUNTY_EVALUATIONS = 10n;

export interface DeployOptions {
  /** Existing address book of this network, if any. */
  existing?: AddressBook;
  /** Receives the protocol fee (default: the deployer). */
  treasury?: string;
  /** Decides challenges (default: the deployer). */
  arbiter?: string;
  /** Protocol parameters other than the defaults of ./posthuman.ts (e.g. a short challenge window). */
  params?: Partial<PostHumanParams>;
  /**
   * The example consumer (FinetuneBounty), deployed on local chains only (LOCAL_CHAIN_IDS): terms other than
   * `localBountyTerms`, or false to skip it. It is funded by minting the base token when the deployer can.
   */
  exampleBounty?: Partial<FinetuneBountyTerms> | false;
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

  if (LOCAL_CHAIN_IDS.includes(chainId) && opts.exampleBounty !== false) {
    // A new job market needs a new bounty (the bounty is bound to its market).
    if (deployed.includes("JobMarket") || !(await allHaveCode(provider, [contracts[EXAMPLE_CONSUMER_KEY]]))) {
      log("Deploying the example consumer FinetuneBounty (local chains only)…");
      contracts[EXAMPLE_CONSUMER_KEY] = await deployExampleBounty(deployer, contracts, opts.exampleBounty ?? {}, log);
      deployed.push(EXAMPLE_CONSUMER_KEY);
    } else {
      log("Example consumer already deployed: nothing to do.");
    }
  }

  return { book: { chainId, startBlock, contracts }, deployed };
}

/** Deploys the example bounty on the job market of `contracts` and funds it when the deployer may mint the base token. */
async function deployExampleBounty(
  deployer: Signer,
  contracts: Record<string, string>,
  overrides: Partial<FinetuneBountyTerms>,
  log: (line: string) => void,
): Promise<string> {
  const provider = deployer.provider as Provider;
  const now = (await provider.getBlock("latest"))?.timestamp ?? Math.floor(Date.now() / 1000);
  const terms = { ...localBountyTerms(now), ...overrides };
  const bounty = await deployFinetuneBounty(deployer, contracts.JobMarket, terms);
  const address = await bounty.getAddress();
  const funds = terms.reward + LOCAL_BOUNTY_EVALUATIONS * (terms.evalFee + terms.callbackFee);
  const token = OceanToken__factory.connect(contracts.OceanToken, deployer);
  // Checked first rather than tried: a failed send would leave a nonce manager's count ahead of the chain.
  if ((await token.owner()) === (await deployer.getAddress())) {
    await (await token.mint(address, funds)).wait();
    log(`FinetuneBounty at ${address}, funded with ${ethers.formatEther(funds)} OCEAN.`);
  } else {
    log(`FinetuneBounty at ${address}, not funded (the deployer cannot mint OCEAN here): send it the base token.`);
  }
  return address;
}

/** The Ocean part of an address book, typed; throws naming the missing entries. */
export function oceanAddressesOf(book: AddressBook): OceanAddresses {
  const missing = OCEAN_KEYS.filter((k) => !book.contracts[k]);
  if (missing.length) {
    throw new Error(`The address book lacks Ocean contracts: ${missing.join(", ")}. Run the deploy script again.`);
  }
  return Object.fromEntries(OCEAN_KEYS.map((k) => [k, book.contracts[k]])) as unknown as OceanAddresses;
}
