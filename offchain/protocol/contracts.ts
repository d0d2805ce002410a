/**
 * Typed bindings of the protocol's contracts: the addresses of a deployment (an address book's `contracts`) turned
 * into typechain contracts on a runner (a provider or a signer). Browser-safe: ethers and typechain only.
 */
import type { ContractRunner } from "ethers";
import {
  DatatokenMarket__factory,
  ERC20Template__factory,
  FinetuneBounty__factory,
  JobMarket__factory,
  ModelRegistry__factory,
  RoyaltyVault__factory,
  type DatatokenMarket,
  type ERC20Template,
  type FinetuneBounty,
  type JobMarket,
  type ModelRegistry,
  type RoyaltyVault,
} from "../../typechain-types";

export interface PostHumanAddresses {
  ModelRegistry: string;
  JobMarket: string;
  DatatokenMarket: string;
  RoyaltyVaultImplementation: string;
}

export interface PostHumanContracts {
  registry: ModelRegistry;
  jobMarket: JobMarket;
  datatokenMarket: DatatokenMarket;
  vaultImplementation: RoyaltyVault;
  addresses: PostHumanAddresses & Record<string, string>;
}

/** Binds typed contracts to an address book's PostHuman addresses. */
export function attachPostHuman(addresses: PostHumanAddresses, runner: ContractRunner): PostHumanContracts {
  return {
    registry: ModelRegistry__factory.connect(addresses.ModelRegistry, runner),
    jobMarket: JobMarket__factory.connect(addresses.JobMarket, runner),
    datatokenMarket: DatatokenMarket__factory.connect(addresses.DatatokenMarket, runner),
    vaultImplementation: RoyaltyVault__factory.connect(addresses.RoyaltyVaultImplementation, runner),
    addresses: { ...addresses },
  };
}

/**
 * Who made a model, as lowercase addresses: its owner (the publisher of a root, the requester of a derived model's
 * training) and the worker that ran that training (none for a root). Neither may claim an independent evaluation of it
 * (EvaluateParams.independent).
 */
export async function modelMakers(
  registry: ModelRegistry,
  market: JobMarket,
  modelId: bigint,
): Promise<{ owner: string; trainer?: string; trainingJob: bigint }> {
  const [owner, trainingJob] = await registry.makersOf(modelId);
  const trainer = trainingJob === 0n ? undefined : (await market.getJob(trainingJob)).worker.toLowerCase();
  return { owner: owner.toLowerCase(), trainer, trainingJob };
}

export function datatokenAt(address: string, runner: ContractRunner): ERC20Template {
  return ERC20Template__factory.connect(address, runner);
}

export function vaultAt(address: string, runner: ContractRunner): RoyaltyVault {
  return RoyaltyVault__factory.connect(address, runner);
}

export function finetuneBountyAt(address: string, runner: ContractRunner): FinetuneBounty {
  return FinetuneBounty__factory.connect(address, runner);
}

/**
 * Gas limit of a write over the node's estimate, in percent: the SDK's writes and the worker's sender (its default).
 * The estimate is exact for the state it ran on; another account's transaction mined first can make the write
 * dearer (a balance emptied in between costs 17,100 gas more to fill again), and a write sent with the bare estimate
 * then runs out of gas: a `posthuman eval 1 2 3` did so in CI while the worker was claiming and settling other jobs.
 * Unused gas is not paid for.
 */
export const GAS_LIMIT_PERCENT = 120;

/**
 * Gas added to every write's limit on top of GAS_LIMIT_PERCENT: a percentage of a cheap write's estimate is too little
 * when what another transaction changed first makes it do more. A vault's `distribute` estimated while nothing new
 * had arrived returns early (about 40,000 gas); mined after a job's settlement sent it datatokens, it books them
 * (two storage slots filled from zero, 44,200 gas more): a `posthuman rewards --claim` ran out of gas so in CI.
 */
export const GAS_LIMIT_HEADROOM = 100_000n;

/** The gas limit a write is sent with: `percent` of the node's estimate, plus GAS_LIMIT_HEADROOM. */
export function gasLimitOver(estimate: bigint, percent: bigint | number = GAS_LIMIT_PERCENT): bigint {
  return (estimate * BigInt(percent)) / 100n + GAS_LIMIT_HEADROOM;
}
