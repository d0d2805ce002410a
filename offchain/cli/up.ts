import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import { addressBookPath, readAddressBook, writeAddressBook } from "../deploy/address-book";
import { type AddressBook } from "../protocol/address-book";
import { deployAll } from "../deploy/deploy";
import { devWallet, DEV_ACCOUNTS } from "../deploy/accounts";
import { JobMarket__factory, OceanToken__factory } from "../../typechain-types";
import { builtinDevice, type Worker } from "../worker/worker";
import { rpcFetchRequest } from "../worker/rpc";
import type { Device } from "../ml/device";
import { ensureStake, startWorkerFromFlags } from "./worker-cmd";
import { startLocalChain, type LocalChain } from "./local-chain";
import type { Output } from "./output";
import { DEFAULT_API_PORT } from "./commands/shared";
import { ensureWeb } from "../web/build";

/** Protocol parameters of the embedded chain: a short challenge window, so that jobs settle within a minute. */
export const LOCAL_PARAMS = { challengeWindow: 30, arbitrationWindow: 600, unstakeDelay: 60 };
/** Base token each named dev account receives on a fresh embedded chain. */
export const DEV_FUNDS = ethers.parseEther("10000");

export interface UpOptions {
  dataDir: string;
  host: string;
  chainPort: number;
  /** Port of the worker's API (0: any free port). */
  apiPort: number;
  /** Skip the worker (chain and contracts only). */
  noWorker?: boolean;
  /** Seconds a receipt can be challenged, on a fresh chain (default LOCAL_PARAMS.challengeWindow). */
  challengeWindow?: number;
  /** The worker's device (its --device: cpu, gpu/webgpu, cuda); default: POSTHUMAN_WORKER_DEVICE, else cpu. */
  device?: string;
  /** Where the address book is written for the other commands (deployments/localhost.json). */
  deploymentFile?: string;
  /** The web app's built folder to serve from the worker's API; false: none; default offchain/web/dist (built on demand). */
  webDir?: string | false;
}

export interface UpHandle {
  chain: LocalChain;
  worker?: Worker;
  /** The device the worker's builtin runtime runs its jobs on (checked before anything started). */
  device?: Device;
  book: AddressBook;
  deploymentFile: string;
  /** The marketplace's pages, when served. */
  webUrl?: string;
  /** The worker's log file (info and above; the terminal gets warnings only, unless POSTHUMAN_WORKER_LOG_LEVEL). */
  workerLog?: string;
  /** Stops the worker only (the chain keeps answering); safe to call more than once, and before stop(). */
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the embedded chain, deploys Ocean + PostHuman when missing, and returns what is running. */
export async function up(opts: UpOptions, out: Output): Promise<UpHandle> {
  // Checked before anything starts: a host without the GPU it is told to use is told so now.
  const device = opts.noWorker ? undefined : builtinDevice(opts.device ?? process.env.POSTHUMAN_WORKER_DEVICE);
  fs.mkdirSync(opts.dataDir, { recursive: true });
  out.info(`Data directory: ${path.resolve(opts.dataDir)}`);
  const ownBook = path.join(opts.dataDir, "deployments.json");
  const incomplete = path.join(opts.dataDir, INCOMPLETE_DEPLOYMENT);
  const chain = await startLocalChain({
    dataDir: opts.dataDir,
    host: opts.host,
    port: opts.chainPort,
    log: out.info,
    discard: () => discardHalfDeployed(incomplete, ownBook),
  });
  out.info(
    chain.replayed
      ? `Local chain restored from its journal (${chain.replayed} requests) on ${chain.url}`
      : `Fresh local chain on ${chain.url}`,
  );
  try {
    const provider = new ethers.JsonRpcProvider(rpcFetchRequest(chain.url), undefined, { cacheTimeout: -1 });
    const deployer = new ethers.NonceManager(devWallet(0).connect(provider));
    // A fresh chain's first deployment is marked until its record is written, complete (the dev accounts funded).
    if (chain.replayed === 0) fs.writeFileSync(incomplete, `${new Date().toISOString()} pid ${process.pid}\n`);
    const { book, deployed } = await deployAll(deployer, {
      existing: readAddressBook(ownBook, "Delete it to redeploy."),
      treasury: devWallet(DEV_ACCOUNTS.indexOf("treasury")).address,
      params: {
        ...LOCAL_PARAMS,
        // The arbitration window must outlast the challenge window (the requester's join period comes first).
        ...(opts.challengeWindow !== undefined
          ? {
              challengeWindow: opts.challengeWindow,
              arbitrationWindow: Math.max(LOCAL_PARAMS.arbitrationWindow, 2 * opts.challengeWindow),
            }
          : {}),
      },
      log: out.info,
    });
    if (opts.challengeWindow !== undefined && !deployed.includes("JobMarket")) {
      const { challengeWindow } = await JobMarket__factory.connect(book.contracts.JobMarket, provider).config();
      if (Number(challengeWindow) !== opts.challengeWindow) {
        out.info(
          `Note: --challenge-window ${opts.challengeWindow} applies to a fresh chain only: this one was deployed with ` +
            `${challengeWindow} s (start with another --data-dir for a fresh one)`,
        );
      }
    }
    out.info(deployed.length ? `Deployed: ${deployed.join(", ")}` : "Contracts already deployed: nothing to do.");
    if (deployed.includes("OceanToken")) {
      const token = OceanToken__factory.connect(book.contracts.OceanToken, deployer);
      for (const name of DEV_ACCOUNTS.slice(1)) {
        await (await token.mint(devWallet(DEV_ACCOUNTS.indexOf(name)).address, DEV_FUNDS)).wait();
      }
      out.info(`Funded ${DEV_ACCOUNTS.slice(1).join(", ")} with ${ethers.formatEther(DEV_FUNDS)} OCEAN each.`);
    }
    // The record, written (each file atomically) once the deployment is complete: a deployment cut short has none.
    writeAddressBook(ownBook, book);
    const deploymentFile = opts.deploymentFile ?? addressBookPath("localhost");
    writeAddressBook(deploymentFile, book);
    fs.rmSync(incomplete, { force: true });
    let worker: Worker | undefined;
    let logFile: string | undefined;
    const webDir = opts.noWorker || opts.webDir === false ? undefined : (opts.webDir ?? (await ensureWeb(out.info)));
    if (!opts.noWorker) {
      const workerWallet = new ethers.NonceManager(devWallet(DEV_ACCOUNTS.indexOf("worker")).connect(provider));
      const staked = await ensureStake(workerWallet, book.contracts.JobMarket, ethers.parseEther("1000"));
      if (staked) out.info(`Staked ${ethers.formatEther(staked)} OCEAN for the dev account 'worker' (1000 in all).`);
      logFile = workerLogFile(opts.dataDir);
      worker = await startWorkerFromFlags(
        {
          rpcUrl: chain.url,
          addressBook: deploymentFile,
          dataDir: path.join(opts.dataDir, "worker"),
          confirmations: "0",
          pollInterval: "500ms",
          httpHost: opts.host,
          httpPort: String(opts.apiPort),
          logLevel: process.env.POSTHUMAN_WORKER_LOG_LEVEL ?? "warn",
          ...(opts.device ? { device: opts.device } : {}),
        },
        { ...process.env, POSTHUMAN_WORKER_PRIVATE_KEY: devWallet(DEV_ACCOUNTS.indexOf("worker")).privateKey },
        {
          logFile,
          ...(webDir ? { web: { dir: webDir, config: { rpcUrl: chain.url, book }, connectSrc: [chain.url] } } : {}),
        },
      );
      out.info(`Worker ${worker.address} serving its API on ${worker.apiUrl}`);
      if (webDir) out.info(`Marketplace web app on ${worker.apiUrl}/`);
    }
    provider.destroy();
    let workerStopped: Promise<void> | undefined;
    const stopWorker = () => (workerStopped ??= worker?.stop() ?? Promise.resolve());
    return {
      chain,
      worker,
      device,
      book,
      deploymentFile,
      webUrl: webDir && worker?.apiUrl ? `${worker.apiUrl}/` : undefined,
      workerLog: logFile,
      stopWorker,
      async stop() {
        await stopWorker();
        await chain.stop();
      },
    };
  } catch (e) {
    await chain.stop();
    throw e;
  }
}

/** The file that marks a fresh chain's first deployment in `up`'s data directory while it is under way. */
export const INCOMPLETE_DEPLOYMENT = "deployment-incomplete";

/**
 * When the last `up` stopped during its fresh chain's first deployment (Ctrl-C, a crash: the mark is still there), the
 * reason to discard that chain, which holds nothing but part of a deployment: the next one starts afresh, at the
 * addresses an uninterrupted one has, rather than deploying a second set beside the first. Its record, if any, goes.
 */
function discardHalfDeployed(incomplete: string, ownBook: string): string | undefined {
  if (!fs.existsSync(incomplete)) return undefined;
  fs.rmSync(ownBook, { force: true });
  return (
    "The last `posthuman up` in this data directory stopped during its chain's first deployment (Ctrl-C or a crash): " +
    "that half-deployed chain is discarded, and a fresh one is deployed from the start (at the same addresses)."
  );
}

export function describeUp(h: UpHandle): string {
  // The flags other commands need to reach this marketplace, when it is not on the defaults.
  const flags = [
    h.chain.url !== "http://127.0.0.1:8545" ? `--rpc ${h.chain.url}` : "",
    h.worker?.apiUrl && h.worker.apiUrl !== `http://127.0.0.1:${DEFAULT_API_PORT}` ? `--worker ${h.worker.apiUrl}` : "",
    path.resolve(h.deploymentFile) !== path.resolve(addressBookPath("localhost"))
      ? `--deployment ${h.deploymentFile}`
      : "",
  ].filter(Boolean);
  const ph = ["./posthuman", ...flags].join(" ");
  const envs = [
    h.chain.url !== "http://127.0.0.1:8545" ? `POSTHUMAN_RPC_URL=${h.chain.url}` : "",
    h.worker?.apiUrl && h.worker.apiUrl !== `http://127.0.0.1:${DEFAULT_API_PORT}`
      ? `POSTHUMAN_WORKER_URL=${h.worker.apiUrl}`
      : "",
    path.resolve(h.deploymentFile) !== path.resolve(addressBookPath("localhost"))
      ? `POSTHUMAN_DEPLOYMENT=${JSON.stringify(path.resolve(h.deploymentFile))}`
      : "",
  ].filter(Boolean);
  const lines = [
    `PostHuman is up.`,
    `  chain      ${h.chain.url} (chain id ${h.book.chainId})`,
    `  worker API ${h.worker?.apiUrl ?? "(not started)"}${h.worker && h.device ? ` (builtin runtime on ${h.device})` : ""}`,
    `  web app    ${h.webUrl ?? "(not served)"}`,
    ...(h.workerLog ? [`  worker log ${h.workerLog} (each job claimed, run and delivered)`] : []),
    `  addresses  ${h.deploymentFile}`,
    ...Object.entries(h.book.contracts).map(([k, v]) => `    ${k.padEnd(26)} ${v}`),
    ``,
    `Dev accounts: ${DEV_ACCOUNTS.join(", ")} (pass --account <name> to any command).`,
    `Try, from another terminal (README.md has a guide per person):`,
    `  ${ph} model create .posthuman/m1 --seed 7 --train offchain/cli/demo-data/alice-corpus.txt --steps 40`,
    `  ${ph} --account alice model publish .posthuman/m1 --name "Harbour M1" --price 1 --supply 20`,
    `  ${ph} model list`,
    `  npm run demo      # the five-person story, on a chain of its own`,
    ...(envs.length
      ? [`Or once for this terminal, so that commands (and their hints) need no flags: export ${envs.join(" ")}`]
      : []),
    `Stop with Ctrl-C; the chain's state is kept in the data directory and restored by the next 'up'.`,
  ];
  return lines.join("\n");
}

/**
 * The worker's log file in `up`'s data directory: a file over 16 MiB is moved aside (worker.log.1, replacing an older
 * one) at start, so that a long-lived local marketplace keeps at most about twice that.
 */
function workerLogFile(dataDir: string): string {
  const file = path.join(dataDir, "worker", "worker.log");
  try {
    if (fs.statSync(file).size > 16 * 2 ** 20) fs.renameSync(file, `${file}.1`);
  } catch {
    // no log yet
  }
  return file;
}
