/**
 * Deploying PostHuman's protocol contracts (ModelRegistry, JobMarket, RoyaltyVault clones, DatatokenMarket) and thin
 * typed helpers that send one transaction and return the parsed ids (publish, request, submit). Used by the deploy
 * script, `posthuman up`, the benchmarks and the tests. The parameters, their units and their defaults are documented
 * in docs/contracts.md ("Parameters"); the encodings are in ../protocol.
 */
import { ethers, type Signer } from "ethers";
import {
  DatatokenMarket__factory,
  ERC20Template__factory,
  FinetuneBounty__factory,
  JobMarket__factory,
  ModelRegistry__factory,
  RoyaltyVault__factory,
  type FinetuneBounty,
  type JobMarket,
  type ModelRegistry,
} from "../../typechain-types";
import {
  findEvent,
  finetuneBountyTerms,
  jobReceipt,
  jobRequest,
  publishedModelOf,
  publishParams,
  type FinetuneBountyTerms,
  type PublishedModel,
  type PublishModelOptions,
  type ReceiptOptions,
  type RequestJobOptions,
} from "../protocol/structs";
import { ONE_DATATOKEN } from "../protocol/params";
import { attachPostHuman, datatokenAt, gasLimitOver, type PostHumanContracts } from "../protocol/contracts";
import type { OceanAddresses } from "./ocean";

/** Protocol parameters, fixed at deployment (see docs/contracts.md). */
export interface PostHumanParams {
  /** Deepest generation a derived model may have. */
  maxDepth: number;
  /** Part (bps) of a derived model's reward datatokens and vault shares that goes to the trainer; the rest to the parent's side. */
  trainerShareBps: number;
  /** Part (bps) of the base token a derived model's vault receives that flows to its parent's vault. */
  parentRoyaltyBps: number;
  /** Datatokens (wei) minted for every derived model. */
  rewardSupply: bigint;
  /** Protocol fee (bps) taken from settled job fees for the treasury; at most 1000. */
  protocolFeeBps: number;
  /** Collateral a claim locks, in bps of the job's fee. */
  collateralBps: number;
  /** Part (bps) of a slashed collateral that a winning challenger receives; the rest goes to the requester. */
  challengerRewardBps: number;
  /** Seconds after a receipt during which it can be challenged. */
  challengeWindow: number;
  /** Seconds the arbiter has to decide a challenge before it lapses. */
  arbitrationWindow: number;
  /** Seconds between an unstake request and its withdrawal. */
  unstakeDelay: number;
  /** Base-token wei bonded by a challenger. */
  challengeBond: bigint;
  /** Base-token wei of stake (free + locked) a worker needs to claim, and keeps while it has claims. */
  minWorkerStake: bigint;
  /** Base-token wei per unit of callback gas: a callback fee must be at least 2 × gasLimit × this. */
  callbackGasPrice: bigint;
  /** Part (bps) of its collateral a claimant pays the requester when it fails a job for a reason of its own. */
  failPenaltyBps: number;
}

export const DEFAULT_PARAMS: PostHumanParams = {
  maxDepth: 64,
  trainerShareBps: 7_000,
  parentRoyaltyBps: 2_000,
  rewardSupply: ethers.parseEther("100"),
  protocolFeeBps: 250,
  collateralBps: 10_000,
  challengerRewardBps: 5_000,
  challengeWindow: 3_600,
  arbitrationWindow: 3 * 86_400,
  unstakeDelay: 7 * 86_400,
  challengeBond: ethers.parseEther("10"),
  minWorkerStake: ethers.parseEther("100"),
  callbackGasPrice: 100_000_000_000n,
  failPenaltyBps: 2_000,
};

export interface DeployPostHumanOptions extends Partial<PostHumanParams> {
  /** Receives the protocol fee. */
  treasury: string;
  /** Decides challenges. */
  arbiter: string;
  /** Base ERC20 of fees, stakes, prices and revenue; defaults to Ocean's OceanToken. */
  baseToken?: string;
}

/**
 * Deploys PostHuman on top of an Ocean deployment, in four transactions from `deployer` with consecutive nonces:
 * the vault implementation (told the registry's future address), the registry (told the job market's future address;
 * its constructor checks that the vault implementation names it), the job market (whose constructor checks that the
 * registry names it) and the datatoken market. Deterministic: the same deployer nonce gives the same
 * addresses. Nothing is owned afterwards: every parameter is immutable.
 */
export async function deployPostHuman(
  deployer: Signer,
  ocean: OceanAddresses,
  opts: DeployPostHumanOptions,
): Promise<PostHumanContracts> {
  const p: PostHumanParams = { ...DEFAULT_PARAMS, ...stripUndefined(opts) };
  // Checked before anything is deployed (the job market's constructor would refuse it after the first three).
  if (p.arbitrationWindow <= p.challengeWindow)
    throw new Error(
      `The arbitration window (${p.arbitrationWindow} s) must be longer than the challenge window ` +
        `(${p.challengeWindow} s): a third party's challenge is decided after the requester's join period, a ` +
        `challenge window long.`,
    );
  const from = await deployer.getAddress();
  const baseToken = opts.baseToken ?? ocean.OceanToken;
  const nonce = await deployer.getNonce("pending");

  // The vault implementation holds the registry's address (deployed next) and the base token every clone uses.
  const registryAddress = ethers.getCreateAddress({ from, nonce: nonce + 1 });
  const vault = await new RoyaltyVault__factory(deployer).deploy(registryAddress, baseToken, { nonce });
  const marketAddress = ethers.getCreateAddress({ from, nonce: nonce + 2 });
  const registry = await new ModelRegistry__factory(deployer).deploy(
    {
      oceanFactory: ocean.ERC721Factory,
      fixedRateExchange: ocean.FixedRateExchange,
      dispenser: ocean.Dispenser,
      baseToken,
      jobMarket: marketAddress,
      vaultImplementation: await vault.getAddress(),
      maxDepth: p.maxDepth,
      trainerShareBps: p.trainerShareBps,
      parentRoyaltyBps: p.parentRoyaltyBps,
      rewardSupply: p.rewardSupply,
    },
    { nonce: nonce + 1 },
  );
  const jobMarket = await new JobMarket__factory(deployer).deploy(
    {
      registry: await registry.getAddress(),
      baseToken,
      treasury: opts.treasury,
      arbiter: opts.arbiter,
      protocolFeeBps: p.protocolFeeBps,
      collateralBps: p.collateralBps,
      challengerRewardBps: p.challengerRewardBps,
      challengeWindow: p.challengeWindow,
      arbitrationWindow: p.arbitrationWindow,
      unstakeDelay: p.unstakeDelay,
      challengeBond: p.challengeBond,
      minWorkerStake: p.minWorkerStake,
      callbackGasPrice: p.callbackGasPrice,
      failPenaltyBps: p.failPenaltyBps,
    },
    { nonce: nonce + 2 },
  );
  const datatokenMarket = await new DatatokenMarket__factory(deployer).deploy(await registry.getAddress(), baseToken, {
    nonce: nonce + 3,
  });
  for (const c of [vault, registry, jobMarket, datatokenMarket]) await c.waitForDeployment();
  if ((await jobMarket.getAddress()) !== marketAddress) {
    throw new Error(`JobMarket landed at ${await jobMarket.getAddress()}, not at ${marketAddress}: redeploy.`);
  }
  return attachPostHuman(
    {
      ModelRegistry: await registry.getAddress(),
      JobMarket: marketAddress,
      DatatokenMarket: await datatokenMarket.getAddress(),
      RoyaltyVaultImplementation: await vault.getAddress(),
    },
    deployer,
  );
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The first step of a publish: `signer`'s commitment to `weightsRoot` (the registry takes a root only from a publisher
 * that committed to it in an earlier block). Does nothing when the commitment is already made.
 */
export async function commitWeightsRoot(registry: ModelRegistry, signer: Signer, weightsRoot: string): Promise<void> {
  const commitment = await registry.weightsRootCommitment(await signer.getAddress(), weightsRoot);
  if ((await registry.commitmentBlock(commitment)) === 0n)
    await (await registry.connect(signer).commitWeightsRoot(commitment)).wait();
}

/** Publishes a root model from `signer` (commitment, then publish) and returns its ids and addresses. */
export async function publishModel(
  registry: ModelRegistry,
  signer: Signer,
  o: PublishModelOptions,
): Promise<PublishedModel> {
  await commitWeightsRoot(registry, signer, o.weightsRoot);
  const tx =
    o.tokenizerHash && o.tokenizerHash !== ethers.ZeroHash
      ? await registry.connect(signer).publishModelWithTokenizer(publishParams(o), o.tokenizerHash)
      : await registry.connect(signer).publishModel(publishParams(o));
  const receipt = await tx.wait();
  return publishedModelOf(findEvent(registry, receipt, "ModelPublished"), tx.hash);
}

/**
 * Requests a job from `signer`: approves the job market for one datatoken of the model and the fee (unless
 * `approve` is false), then requests. Returns the job id.
 */
export async function requestJob(
  contracts: Pick<PostHumanContracts, "registry" | "jobMarket">,
  signer: Signer,
  o: RequestJobOptions,
  approve = true,
): Promise<bigint> {
  const market = await contracts.jobMarket.getAddress();
  if (approve) {
    const model = await contracts.registry.getModel(o.modelId);
    const base = (await contracts.jobMarket.config()).baseToken;
    await (await datatokenAt(model.datatoken, signer).approve(market, ONE_DATATOKEN)).wait();
    await (await ERC20Template__factory.connect(base, signer).approve(market, o.fee)).wait();
  }
  // With the SDK's headroom over the estimate: a worker's transaction mined between the estimate and the request
  // (a settlement moving the market's tokens) can make it cost more (a test's request ran out of gas so).
  const asRequester = contracts.jobMarket.connect(signer);
  const gasLimit = gasLimitOver(await asRequester.requestJob.estimateGas(jobRequest(o)));
  const receipt = await (await asRequester.requestJob(jobRequest(o), { gasLimit })).wait();
  return findEvent(contracts.jobMarket, receipt, "JobRequested").args.jobId as bigint;
}

/** Submits the claimant's receipt (a Train receipt after the commitment to its child root); returns the child model id a Train job created (0n otherwise). */
export async function submitReceipt(
  jobMarket: JobMarket,
  worker: Signer,
  jobId: bigint,
  o: ReceiptOptions,
): Promise<bigint> {
  // A Train receipt's child root is registered only after the worker's commitment to it from an earlier block.
  if (o.childWeightsRoot && o.childWeightsRoot !== ethers.ZeroHash) {
    const registry = ModelRegistry__factory.connect((await jobMarket.config()).registry, worker);
    await commitWeightsRoot(registry, worker, o.childWeightsRoot);
  }
  const receipt = await (await jobMarket.connect(worker).submitReceipt(jobId, jobReceipt(o))).wait();
  return findEvent(jobMarket, receipt, "ReceiptSubmitted").args.childModelId as bigint;
}

/** Deploys a FinetuneBounty whose sponsor is `sponsor`; fund it with the base token before anyone enters. */
export async function deployFinetuneBounty(
  sponsor: Signer,
  jobMarket: string,
  terms: FinetuneBountyTerms,
): Promise<FinetuneBounty> {
  const bounty = await new FinetuneBounty__factory(sponsor).deploy(jobMarket, finetuneBountyTerms(terms));
  await bounty.waitForDeployment();
  return bounty;
}
