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
