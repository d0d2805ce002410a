import { ethers, type Signer } from "ethers";
import type { Config } from "@oceanprotocol/lib";
import {
  BPool__factory,
  Dispenser__factory,
  ERC20Template__factory,
  ERC721Factory__factory,
  ERC721Template__factory,
  FactoryRouter__factory,
  FixedRateExchange__factory,
  OPFCommunityFeeCollector__factory,
  OceanToken__factory,
} from "../../typechain-types";
import type {
  Dispenser,
  ERC20Template,
  ERC721Factory,
  ERC721Template,
  FactoryRouter,
  FixedRateExchange,
  OceanToken,
} from "../../typechain-types";

/** Addresses of Ocean's contracts on one chain, as the address book stores them. */
export interface OceanAddresses {
  OceanToken: string;
  OPFCommunityFeeCollector: string;
  FactoryRouter: string;
  FixedRateExchange: string;
  Dispenser: string;
  ERC20Template: string;
  ERC721Template: string;
  ERC721Factory: string;
}

export interface OceanContracts {
  oceanToken: OceanToken;
  router: FactoryRouter;
  fixedRate: FixedRateExchange;
  dispenser: Dispenser;
  erc20Template: ERC20Template;
  erc721Template: ERC721Template;
  factory: ERC721Factory;
  addresses: OceanAddresses;
}

/** Binds typed contracts to an address book's Ocean addresses. */
export function attachOcean(addresses: OceanAddresses, runner: Signer | ethers.Provider): OceanContracts {
  return {
    oceanToken: OceanToken__factory.connect(addresses.OceanToken, runner),
    router: FactoryRouter__factory.connect(addresses.FactoryRouter, runner),
    fixedRate: FixedRateExchange__factory.connect(addresses.FixedRateExchange, runner),
    dispenser: Dispenser__factory.connect(addresses.Dispenser, runner),
    erc20Template: ERC20Template__factory.connect(addresses.ERC20Template, runner),
    erc721Template: ERC721Template__factory.connect(addresses.ERC721Template, runner),
    factory: ERC721Factory__factory.connect(addresses.ERC721Factory, runner),
    addresses,
  };
}

/**
 * Deploys Ocean Protocol's own contracts from the `@oceanprotocol/contracts` artifacts and wires them
 * the way Ocean's deployment does: router → factory, fixed-rate exchange and dispenser.
 * `deployer` owns the OceanToken (it can mint) and the router; `opfOwner` receives Ocean's fees.
 */
export async function deployOcean(deployer: Signer, opfOwner?: string): Promise<OceanContracts> {
  const owner = await deployer.getAddress();
  const feeOwner = opfOwner ?? owner;
  const deployed = async <T extends { waitForDeployment(): Promise<unknown>; getAddress(): Promise<string> }>(
    c: Promise<T>,
  ): Promise<string> => {
    const contract = await c;
    await contract.waitForDeployment();
    return contract.getAddress();
  };

  const OceanToken = await deployed(new OceanToken__factory(deployer).deploy(owner));
  const OPFCommunityFeeCollector = await deployed(
    new OPFCommunityFeeCollector__factory(deployer).deploy(feeOwner, feeOwner),
  );
  const bpool = await deployed(new BPool__factory(deployer).deploy());
  const FactoryRouter = await deployed(
    new FactoryRouter__factory(deployer).deploy(owner, OceanToken, bpool, OPFCommunityFeeCollector, []),
  );
  const FixedRateExchange = await deployed(new FixedRateExchange__factory(deployer).deploy(FactoryRouter));
  const Dispenser = await deployed(new Dispenser__factory(deployer).deploy(FactoryRouter));
  const ERC20Template = await deployed(new ERC20Template__factory(deployer).deploy());
  const ERC721Template = await deployed(new ERC721Template__factory(deployer).deploy());
  const ERC721Factory = await deployed(
    new ERC721Factory__factory(deployer).deploy(ERC721Template, ERC20Template, FactoryRouter),
  );

  const router = FactoryRouter__factory.connect(FactoryRouter, deployer);
  await (await router.addFactory(ERC721Factory)).wait();
  await (await router.addFixedRateContract(FixedRateExchange)).wait();
  await (await router.addDispenserContract(Dispenser)).wait();

  return attachOcean(
    {
      OceanToken,
      OPFCommunityFeeCollector,
      FactoryRouter,
      FixedRateExchange,
      Dispenser,
      ERC20Template,
      ERC721Template,
      ERC721Factory,
    },
    deployer,
  );
}

/**
 * Reads Ocean's published addresses for a chain from `@oceanprotocol/contracts/addresses/address.json`.
 * Returns undefined for chains where Ocean is not deployed (local chains), which must deploy it.
 */
export function publishedOceanAddresses(chainId: number): OceanAddresses | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const book = require("@oceanprotocol/contracts/addresses/address.json") as Record<string, Record<string, unknown>>;
  for (const entry of Object.values(book)) {
    if (entry.chainId !== chainId) continue;
    const templates20 = entry.ERC20Template as Record<string, string> | undefined;
    const templates721 = entry.ERC721Template as Record<string, string> | undefined;
    const ocean = entry.Ocean as string | undefined;
    if (!ocean || !templates20?.["1"] || !templates721?.["1"]) return undefined;
    return {
      OceanToken: ocean,
      OPFCommunityFeeCollector: entry.OPFCommunityFeeCollector as string,
      FactoryRouter: entry.Router as string,
      FixedRateExchange: entry.FixedPrice as string,
      Dispenser: entry.Dispenser as string,
      ERC20Template: templates20["1"],
      ERC721Template: templates721["1"],
      ERC721Factory: entry.ERC721Factory as string,
    };
  }
  return undefined;
}

/** An all-zero provider fee: passes ERC20Template's signature check because ecrecover returns address 0. */
export const ZERO_PROVIDER_FEE = {
  providerFeeAddress: ethers.ZeroAddress,
  providerFeeToken: ethers.ZeroAddress,
  providerFeeAmount: 0n,
  v: 0,
  r: ethers.ZeroHash,
  s: ethers.ZeroHash,
  validUntil: 0n,
  providerData: "0x",
} as const;

export const ZERO_CONSUME_MARKET_FEE = {
  consumeMarketFeeAddress: ethers.ZeroAddress,
  consumeMarketFeeToken: ethers.ZeroAddress,
  consumeMarketFeeAmount: 0n,
} as const;

export interface CreateAssetOptions {
  name: string;
  symbol: string;
  owner: string;
  /** Receives the base token of sales and consumed datatokens; defaults to the owner. */
  paymentCollector?: string;
  /** Initial datatokens minted to the owner (only possible while the owner is a minter). */
  tokenURI?: string;
}

const nftData = (o: CreateAssetOptions) => ({
  name: o.name,
  symbol: o.symbol,
  templateIndex: 1n,
  tokenURI: o.tokenURI ?? "",
  transferable: true,
  owner: o.owner,
});

const ercData = (o: CreateAssetOptions) => ({
  templateIndex: 1n,
  strings: [`${o.name} datatoken`, `${o.symbol}-DT`],
  // minter, payment collector, publish-market fee address, publish-market fee token
  addresses: [o.owner, o.paymentCollector ?? ethers.ZeroAddress, ethers.ZeroAddress, ethers.ZeroAddress],
  // cap (template 1 ignores it), publish-market fee amount
  uints: [ethers.MaxUint256, 0n],
  bytess: [],
});

/** Result of creating an Ocean asset: the data NFT, its datatoken and, when priced, the exchange id. */
export interface OceanAsset {
  nft: ERC721Template;
  datatoken: ERC20Template;
  exchangeId?: string;
}

async function parseCreated(
  ocean: OceanContracts,
  receipt: ethers.TransactionReceipt | null,
  signer: Signer,
): Promise<OceanAsset> {
  if (!receipt) throw new Error("Ocean asset creation was not mined");
  let nftAddress: string | undefined;
  let dtAddress: string | undefined;
  let exchangeId: string | undefined;
  for (const log of receipt.logs) {
    const parsed = ocean.factory.interface.parseLog(log);
    if (parsed?.name === "NFTCreated") nftAddress = parsed.args.newTokenAddress as string;
    if (parsed?.name === "TokenCreated") dtAddress = parsed.args.newTokenAddress as string;
    if (parsed?.name === "NewFixedRate") exchangeId = parsed.args.exchangeId as string;
    const fre = ocean.fixedRate.interface.parseLog(log);
    if (fre?.name === "ExchangeCreated") exchangeId = fre.args.exchangeId as string;
  }
  if (!nftAddress || !dtAddress) throw new Error("ERC721Factory did not emit NFTCreated and TokenCreated");
  return {
    nft: ERC721Template__factory.connect(nftAddress, signer),
    datatoken: ERC20Template__factory.connect(dtAddress, signer),
    exchangeId,
  };
}

/** Creates a data NFT with a datatoken through Ocean's ERC721Factory, unpriced. */
export async function createAsset(ocean: OceanContracts, signer: Signer, o: CreateAssetOptions): Promise<OceanAsset> {
  const tx = await ocean.factory.connect(signer).createNftWithErc20(nftData(o), ercData(o));
  return parseCreated(ocean, await tx.wait(), signer);
}

/** Creates a data NFT + datatoken priced on Ocean's FixedRateExchange: `rate` base-token wei per datatoken. */
export async function createAssetWithFixedRate(
  ocean: OceanContracts,
  signer: Signer,
  o: CreateAssetOptions & { baseToken: string; rate: bigint; baseTokenDecimals?: number; withMint?: boolean },
): Promise<OceanAsset & { exchangeId: string }> {
  const fixed = {
    fixedPriceAddress: ocean.addresses.FixedRateExchange,
    // base token, owner, market fee collector, allowed swapper (0 = anyone)
    addresses: [o.baseToken, o.owner, o.owner, ethers.ZeroAddress],
    // base token decimals, datatoken decimals, rate, market fee, with mint
    uints: [BigInt(o.baseTokenDecimals ?? 18), 18n, o.rate, 0n, o.withMint === false ? 0n : 1n],
  };
  const tx = await ocean.factory.connect(signer).createNftWithErc20WithFixedRate(nftData(o), ercData(o), fixed);
  const asset = await parseCreated(ocean, await tx.wait(), signer);
  if (!asset.exchangeId) throw new Error("ERC721Factory did not emit NewFixedRate");
  return { ...asset, exchangeId: asset.exchangeId };
}

/** Creates a data NFT + datatoken that is free through Ocean's Dispenser. */
export async function createAssetWithDispenser(
  ocean: OceanContracts,
  signer: Signer,
  o: CreateAssetOptions & { maxTokens: bigint; maxBalance: bigint },
): Promise<OceanAsset> {
  const dispenser = {
    dispenserAddress: ocean.addresses.Dispenser,
    maxTokens: o.maxTokens,
    maxBalance: o.maxBalance,
    withMint: true,
    allowedSwapper: ethers.ZeroAddress,
  };
  const tx = await ocean.factory.connect(signer).createNftWithErc20WithDispenser(nftData(o), ercData(o), dispenser);
  return parseCreated(ocean, await tx.wait(), signer);
}

/** An ocean.js Config for a chain whose Ocean addresses come from our address book (ocean.js knows only public chains). */
export function oceanJsConfig(addresses: OceanAddresses, chainId: number): Config {
  return {
    chainId,
    network: `chain-${chainId}`,
    explorerUri: "",
    oceanTokenSymbol: "OCEAN",
    oceanTokenAddress: addresses.OceanToken,
    nftFactoryAddress: addresses.ERC721Factory,
    routerFactoryAddress: addresses.FactoryRouter,
    fixedRateExchangeAddress: addresses.FixedRateExchange,
    dispenserAddress: addresses.Dispenser,
    opfCommunityFeeCollector: addresses.OPFCommunityFeeCollector,
    transactionBlockTimeout: 50,
    transactionConfirmationBlocks: 1,
    transactionPollingTimeout: 750,
    gasFeeMultiplier: 1,
  };
}
