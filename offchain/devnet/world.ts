/**
 * A whole PostHuman world on a real `hardhat node` for end-to-end tests: Ocean + PostHuman deployed, the named
 * accounts funded, workers staked, and helpers to publish real (tiny) models and to run workers in-process.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { deployAll, oceanAddressesOf } from "../deploy/deploy";
import { writeAddressBook } from "../deploy/address-book";
import { type AddressBook } from "../protocol/address-book";
import { attachOcean, type OceanContracts } from "../deploy/ocean";
import { attachPostHuman, type PostHumanAddresses, type PostHumanContracts } from "../protocol/contracts";
import { publishModel, type PostHumanParams } from "../deploy/posthuman";
import { benchmarkId, toFixedLoss } from "../protocol/params";
import { type PublishedModel } from "../protocol/structs";
import { builtinProcessExecutor, configHash, createModel, weightsRoot, type Executor } from "../ml";
import { devWallet } from "../deploy/accounts";
import { loadWorkerConfig } from "../worker/config";
import { silentLogger, createLogger, type Log } from "../worker/log";
import { createWorker, type Worker } from "../worker/worker";
import { rpcFetchRequest } from "../worker/rpc";
import { authDomain } from "../protocol/auth";
import { WorkerClient } from "../sdk/worker-client";
import { startHardhatNode, type HardhatNode } from "./hardhat-node";

export const NAMES = [
  "deployer",
  "alice",
  "bob",
  "charlie",
  "derek",
  "elena",
  "worker",
  "treasury",
  "worker2",
] as const;
export type Name = (typeof NAMES)[number];
const INDEX: Record<Name, number> = {
  deployer: 0,
  alice: 1,
  bob: 2,
  charlie: 3,
  derek: 4,
  elena: 5,
  worker: 6,
  treasury: 7,
  worker2: 8,
};

export interface World {
  node: HardhatNode;
  provider: ethers.JsonRpcProvider;
  book: AddressBook;
  bookFile: string;
  ocean: OceanContracts;
  ph: PostHumanContracts;
  wallet(name: Name): ethers.NonceManager;
  address(name: Name): string;
  /** The world's folder (address book, models, workers' data), removed by stop(). */
  tmp: string;
  /** Stops the chain and removes the world's folder: stop its workers first. */
  stop(): Promise<void>;
}

export const WORLD_PARAMS: Partial<PostHumanParams> = { challengeWindow: 3 };

export async function startWorld(params: Partial<PostHumanParams> = WORLD_PARAMS): Promise<World> {
  const node = await startHardhatNode();
  // rpcFetchRequest: a read whose kept-alive connection the node closed while this process was busy is asked again.
  // batchStallTime 0: a request goes out at once instead of waiting 10 ms (ethers' default) for others to batch with;
  // the deployment alone makes about 150 requests one after the other, and the tests' polls one each.
  const provider = new ethers.JsonRpcProvider(rpcFetchRequest(node.url), 31337, {
    cacheTimeout: -1,
    staticNetwork: true,
    batchStallTime: 0,
  });
  const wallets = new Map<Name, ethers.NonceManager>();
  const wallet = (name: Name) => {
    let w = wallets.get(name);
    if (!w) {
      w = new ethers.NonceManager(new ethers.Wallet(devWallet(INDEX[name]).privateKey, provider));
      wallets.set(name, w);
    }
    return w;
  };
  const address = (name: Name) => devWallet(INDEX[name]).address;
  const deployer = wallet("deployer");
  const { book } = await deployAll(deployer, { treasury: address("treasury"), params });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-world-"));
  const bookFile = path.join(tmp, "deployment.json");
  writeAddressBook(bookFile, book);
  const ocean = attachOcean(oceanAddressesOf(book), deployer);
  const ph = attachPostHuman(book.contracts as unknown as PostHumanAddresses, deployer);
  for (const n of ["alice", "bob", "charlie", "derek", "elena", "worker", "worker2"] as const) {
    await (await ocean.oceanToken.connect(deployer).mint(address(n), ethers.parseEther("10000"))).wait();
  }
  const stake = ethers.parseEther("1000");
  for (const n of ["worker", "worker2"] as const) {
    await (await ocean.oceanToken.connect(wallet(n)).approve(book.contracts.JobMarket, stake)).wait();
    await (await ph.jobMarket.connect(wallet(n)).stake(stake)).wait();
  }
  return {
    node,
    provider,
    book,
    bookFile,
    ocean,
    ph,
    wallet,
    address,
    tmp,
    async stop() {
      provider.destroy();
      await node.stop();
      fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

/** Creates a tiny GPT-2 (seeded), publishes it for `owner` on the fixed-rate exchange; returns its folder and ids. */
export async function publishTinyModel(
  w: World,
  owner: Name,
  seed: number,
  /** `config`: fields written over config.json before it is hashed (a folder published as it is, however wrong). */
  o: { supply?: bigint; rate?: bigint; config?: Record<string, unknown> } = {},
): Promise<PublishedModel & { dir: string; weightsRoot: string }> {
  const dir = path.join(w.tmp, `model-${owner}-${seed}`);
  await createModel(dir, { preset: "tiny", seed });
  if (o.config) {
    const file = path.join(dir, "config.json");
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), ...o.config }));
  }
  const root = await weightsRoot(dir);
  const published = await publishModel(w.ph.registry.connect(w.wallet(owner)), w.wallet(owner), {
    name: `Tiny ${seed}`,
    symbol: `T${seed}`,
    weightsRoot: root,
    configHash: await configHash(dir),
    dataHash: ethers.ZeroHash,
    metadataURI: "",
    baseline: { benchmarkId: benchmarkId("demo/loss"), metric: toFixedLoss(10.8) },
    pricing: { kind: "FixedRate", rate: o.rate ?? ethers.parseEther("1") },
    initialSupply: o.supply ?? ethers.parseEther("50"),
  });
  return { ...published, dir, weightsRoot: root };
}

export interface RunningWorker {
  worker: Worker;
  client: WorkerClient;
  dataDir: string;
  /** Executor runs per job folder name (the job id): proves that no job runs twice. */
  runs: Map<string, number>;
}

/**
 * Uploads a job's input to `rw`'s API, signed by `signer`, retrying while the worker has not ingested the job yet
 * (for up to about 10 s); any other refusal is thrown.
 */
export async function uploadWhenSeen(
  rw: RunningWorker,
  signer: ethers.Signer,
  jobId: bigint,
  input: Uint8Array,
): Promise<{ inputAck?: string }> {
  for (let i = 0; ; i++) {
    try {
      return await rw.client.uploadInput(signer, jobId, input);
    } catch (e) {
      if (i > 100 || !/UNKNOWN_JOB|not known/.test(String(e))) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Starts an in-process worker for `who` against the world, with its own data directory. */
export async function startWorker(
  w: World,
  who: "worker" | "worker2" = "worker",
  extraEnv: Record<string, string> = {},
  dataDir: string = fs.mkdtempSync(path.join(w.tmp, `${who}-`)),
  /** Runs jobs instead of the builtin runtime (the capacity benchmark's fixed-duration executor). */
  runtime?: Executor,
  /** Where the worker logs (default: nowhere, or the console with POSTHUMAN_TEST_LOGS). */
  logTo?: Log,
): Promise<RunningWorker> {
  const config = loadWorkerConfig({
    env: {
      POSTHUMAN_WORKER_RPC_URL: w.node.url,
      POSTHUMAN_WORKER_PRIVATE_KEY: devWallet(INDEX[who]).privateKey,
      POSTHUMAN_WORKER_ADDRESS_BOOK: w.bookFile,
      POSTHUMAN_WORKER_DATA_DIR: dataDir,
      POSTHUMAN_WORKER_CONFIRMATIONS: "0",
      POSTHUMAN_WORKER_POLL_INTERVAL: "200ms",
      POSTHUMAN_WORKER_HTTP_PORT: "0",
      ...extraEnv,
    },
  });
  const log = logTo ?? (process.env.POSTHUMAN_TEST_LOGS ? createLogger({ level: "debug" }) : silentLogger());
  const runs = new Map<string, number>();
  const inner =
    runtime ??
    builtinProcessExecutor({
      timeoutSec: 300,
      maxMemoryBytes: config.limits.maxMemoryBytes,
      cacheDir: path.join(dataDir, "ml-cache"),
    });
  const executor: Executor = {
    id: inner.id,
    runtimeId: inner.runtimeId,
    run: (job) => {
      const name = path.basename(job.jobDir);
      runs.set(name, (runs.get(name) ?? 0) + 1);
      return inner.run(job);
    },
  };
  const worker = await createWorker({ config, log, pipelinePollMs: 200, executor });
  await worker.start();
  const client = new WorkerClient(worker.apiUrl as string, authDomain(31337, w.book.contracts.JobMarket));
  return { worker, client, dataDir, runs };
}
