/**
 * A marketplace with a child model for the CLI's tests: `posthuman up --no-worker` (real chain, real contracts), the
 * worker staked, alice's root M1 published, bob's finetune of it requested, claimed and its Train receipt submitted by
 * the test as the worker (contract calls: no model is trained). M2 exists, its receipt Submitted and challengeable for
 * `window` seconds. With `as(who, args)` running the CLI as a dev account against it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { devWallet } from "../../offchain/deploy/accounts";
import { publishModel, requestJob, submitReceipt } from "../../offchain/deploy/posthuman";
import { attachPostHuman, datatokenAt, type PostHumanContracts } from "../../offchain/protocol/contracts";
import { ERC20Template__factory } from "../../typechain-types";
import { TRAIN_PARAMS, trainReceiptFor } from "../contracts/helpers";
import { cli, startUp, type CliRun, type UpProcess } from "./cli-process";

const E = ethers.parseEther;
const [ALICE, BOB, WORKER] = [1, 2, 6];

export interface ChildModelWorld {
  tmp: string;
  up: UpProcess;
  provider: ethers.JsonRpcProvider;
  ph: PostHumanContracts;
  /** A dev account (by index) signing on the chain, its nonces kept locally. */
  wallet(i: number): ethers.NonceManager;
  /** The CLI as dev account `who` (its own data dir), with --json unless `json` is false. */
  as<T>(who: string, args: string[], json?: boolean): Promise<CliRun<T>>;
  /** An address's OCEAN balance. */
  ocean(address: string): Promise<bigint>;
  /** The OCEAN token, signed by `w` (or read through the provider). */
  token(w: ethers.ContractRunner): ReturnType<typeof ERC20Template__factory.connect>;
  /** M2's training job, and M2. */
  jobId: bigint;
  m2: bigint;
  stop(): Promise<void>;
}

/** `name` names the temporary folder and the weights roots; bob gets `bobTokens` M1 datatokens (one for the job). */
export async function startWithChildModel(name: string, window: number, bobTokens: bigint): Promise<ChildModelWorld> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `ph-${name}-`));
  const deployment = path.join(tmp, "deployment.json");
  const up = await startUp(path.join(tmp, "up"), deployment, 180_000, [
    "--no-worker",
    "--challenge-window",
    String(window),
  ]);
  const provider = new ethers.JsonRpcProvider(up.up.rpc, up.up.chainId, { cacheTimeout: -1, staticNetwork: true });
  const ph = attachPostHuman(up.up.contracts as never, provider);
  const wallet = (i: number) => new ethers.NonceManager(devWallet(i).connect(provider));
  const token = (w: ethers.ContractRunner) => ERC20Template__factory.connect(up.up.contracts.OceanToken, w);
  const worker = wallet(WORKER);
  await (await token(worker).approve(ph.jobMarket, E("1000"))).wait();
  await (await ph.jobMarket.connect(worker).stake(E("1000"))).wait();
  const alice = wallet(ALICE);
  const m1Root = ethers.id(`${name} M1 weights`);
  const m1 = await publishModel(ph.registry, alice, {
    name: "M1",
    symbol: "M1",
    weightsRoot: m1Root,
    configHash: ethers.id("config"),
    dataHash: ethers.id("data"),
    metadataURI: "ipfs://m1",
    pricing: { kind: "FixedRate", rate: E("1") },
    initialSupply: E("10"),
  });
  await (await datatokenAt(m1.datatoken, alice).transfer(devWallet(BOB).address, bobTokens)).wait();
  const block = await provider.getBlock("latest");
  const jobId = await requestJob(ph, wallet(BOB), {
    modelId: m1.modelId,
    kind: "Train",
    inputHash: ethers.id("input"),
    inputURI: "ipfs://input",
    fee: E("5"),
    deadline: BigInt(Math.max(block!.timestamp, Math.floor(Date.now() / 1000)) + 3600),
    params: TRAIN_PARAMS,
  });
  await (await ph.jobMarket.connect(worker).claimJob(jobId)).wait();
  const m2 = await submitReceipt(ph.jobMarket, worker, jobId, trainReceiptFor(m1Root, ethers.id(`${name} M2 weights`)));
  return {
    tmp,
    up,
    provider,
    ph,
    wallet,
    token,
    jobId,
    m2,
    as: <T>(who: string, args: string[], json = true) =>
      cli<T>([
        ...(json ? ["--json"] : []),
        ...["--rpc", up.up.rpc, "--deployment", deployment, "--data-dir", path.join(tmp, who), "--account", who],
        ...args,
      ]),
    ocean: (address: string) => token(provider).balanceOf(address),
    async stop() {
      provider.destroy();
      await up.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
