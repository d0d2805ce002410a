/**
 * `posthuman worker`: runs a worker against any network from its configuration (file, POSTHUMAN_WORKER_* variables,
 * flags). `posthuman up` runs one in-process with the dev account "worker" on the embedded chain.
 */
import path from "node:path";
import type { Command } from "commander";
import { ethers } from "ethers";
import { JobMarket__factory, OceanToken__factory } from "../../typechain-types";
import { describeWorkerConfig, loadRunnerConfig, loadWorkerConfig, type WorkerFlags } from "../worker/config";
import { createLogger } from "../worker/log";
import { createWorker, type Worker, type WorkerOptions } from "../worker/worker";

/** Worker settings as flags (each also has a POSTHUMAN_WORKER_* variable; see docs/operator.md). */
export const WORKER_FLAGS: [string, string][] = [
  ["--config <file>", "JSON configuration file (or POSTHUMAN_WORKER_CONFIG)"],
  ["--network <name>", "network whose address book deployments/<name>.json to use"],
  ["--address-book <file>", "address book file (overrides --network)"],
  ["--start-block <n>", "first block to ingest (default: the address book's startBlock)"],
  ["--rpc-url <url>", "RPC node (or POSTHUMAN_WORKER_RPC_URL)"],
  ["--ws-url <url>", "WebSocket endpoint for new heads (optional)"],
  ["--rpc-timeout <duration>", "longest wait for one RPC answer, e.g. 15s"],
  [
    "--worker-key-file <file>",
    "file holding the worker's private key (or POSTHUMAN_WORKER_KEY_FILE; or the key itself in POSTHUMAN_WORKER_PRIVATE_KEY)",
  ],
  ["--confirmations <n>", "blocks on top before an event is acted on"],
  ["--poll-interval <duration>", "time between polls, e.g. 2s"],
  ["--max-chunk-blocks <n>", "largest getLogs range"],
  [
    "--worker-data-dir <dir>",
    "the worker's database and artifacts (default: <data-dir>/worker when --data-dir or POSTHUMAN_HOME is given, else the config's dataDir, else .posthuman/worker)",
  ],
  [
    "--store-dir <dir>",
    "the artifact store (default: <worker-data-dir>/artifacts); an operator's workers may share one",
  ],
  ["--executor <kind>", "builtin, pytorch or external"],
  ["--executor-train <kind>", "executor of training jobs (default: --executor)"],
  ["--executor-infer <kind>", "executor of inference jobs (default: --executor)"],
  ["--executor-evaluate <kind>", "executor of evaluation jobs (default: --executor)"],
  ["--device <device>", "cpu|gpu|cuda: the builtin runtime's device (gpu: onnxruntime's bundled WebGPU provider)"],
  ["--threads <n>", "onnxruntime threads of the builtin runtime (default 2; part of its runtime id)"],
  ["--torch-python <python>", "Python with torch for the pytorch executor (default: python3, else /usr/bin/python3)"],
  ["--torch-device <device>", "auto|cpu|cuda for the pytorch executor"],
  ["--torch-precision <p>", "bf16|fp32: training precision of the pytorch executor on CUDA"],
  ["--torch-gpus <n>", "GPUs the pytorch executor trains on (torchrun, data parallel)"],
  ["--torch-threads <n>", "CPU threads of the pytorch executor"],
  ["--executor-command <cmd>", "program of the external executor"],
  ["--executor-args <list>", "its arguments, comma-separated"],
  ["--job-kinds <list>", "kinds served: train,infer,evaluate"],
  ["--max-model-size <size>", "largest model accepted, e.g. 2GiB"],
  ["--job-timeout <duration>", "longest run of one job, e.g. 30m"],
  ["--max-memory <size>", "memory a job may use"],
  ["--max-upload <size>", "largest input upload"],
  ["--model-cache <size>", "disk kept for the builtin runtime's model exports (least recently used go first)"],
  ["--run-slots <n>", "jobs run at once (admission control)"],
  ["--input-wait <duration>", "how long a claimed job waits for its input, e.g. 2m"],
  ["--safety-factor <x>", "run-time estimates are multiplied by it before they meet a deadline (default 2)"],
  ["--min-fee-train <amount>", "smallest fee of a training job, e.g. 1ether"],
  ["--min-fee-infer <amount>", "smallest fee of an inference job"],
  ["--min-fee-evaluate <amount>", "smallest fee of an evaluation job"],
  ["--fee-per-compute-second <amount>", "fee asked per estimated second of compute"],
  ["--callback-gas-price <amount>", "callback fee asked per gas of a callback's limit"],
  ["--quota-window <duration>", "window of the per-address API quotas, e.g. 1m"],
  ["--quota-requests <n>", "signed API requests per address and window"],
  ["--quota-bytes <size>", "bytes uploaded per address and window, e.g. 4GiB"],
  ["--max-inspect <size>", "largest folder POST /models/inspect loads, e.g. 1GiB"],
  ["--http-host <host>", "API host"],
  ["--public-url <url>", "URL requesters reach the API at (registered on chain; default: the listening URL)"],
  ["--http-port <port>", "API port (0: any free port)"],
  ["--log-level <level>", "fatal|error|warn|info|debug|trace|silent"],
];

export function addWorkerFlags(cmd: Command): Command {
  for (const [flag, help] of WORKER_FLAGS) cmd.option(flag, help);
  return cmd;
}

/**
 * Maps the command's options onto the worker configuration's flag names, and the environment it reads. The global
 * --data-dir (`home`) puts the worker in <home>/worker at its own level: a flag when given on the command line, a
 * variable when it came from POSTHUMAN_HOME, nothing by default (so that a config file's dataDir applies).
 */
export function workerFlags(
  opts: Record<string, unknown>,
  home?: { dir: string; from: "cli" | "env" },
  env: NodeJS.ProcessEnv = process.env,
): { flags: WorkerFlags; env: NodeJS.ProcessEnv } {
  const flags: WorkerFlags = {};
  for (const [k, v] of Object.entries(opts)) if (typeof v === "string") flags[k] = v;
  if (flags.workerKeyFile) flags.keyFile = flags.workerKeyFile;
  if (flags.workerDataDir) flags.dataDir = flags.workerDataDir;
  else if (home?.from === "cli") flags.dataDir = path.join(home.dir, "worker");
  delete flags.workerKeyFile;
  delete flags.workerDataDir;
  const inHome = home?.from === "env" && !env.POSTHUMAN_WORKER_DATA_DIR;
  return { flags, env: inHome ? { ...env, POSTHUMAN_WORKER_DATA_DIR: path.join(home.dir, "worker") } : env };
}

export async function startWorkerFromFlags(
  flags: WorkerFlags,
  env: NodeJS.ProcessEnv = process.env,
  extra: Pick<WorkerOptions, "web"> & { logFile?: string } = {},
): Promise<Worker> {
  const config = loadWorkerConfig({ env, flags });
  const log = createLogger({ level: config.logLevel, file: extra.logFile });
  for (const w of config.warnings) log.warn(w);
  log.info(describeWorkerConfig(config), "worker configuration");
  const worker = await createWorker({ config, log, web: extra.web });
  await worker.start();
  return worker;
}

/** `posthuman worker --calibrate <model-dir>`: the worker's configuration, its throughput measured on the model. */
export async function calibrateFromFlags(
  flags: WorkerFlags,
  modelDir: string,
  onRun: (kind: string) => void,
  env: NodeJS.ProcessEnv = process.env,
) {
  // No chain and no key: the runs are local.
  const config = loadRunnerConfig({ env, flags });
  const { calibrateWorker } = await import("../worker/calibrate");
  return calibrateWorker(config, modelDir, onRun);
}

/**
 * Tops up `wallet`'s stake on the job market to `amount` base token when it is below (local chains, `up`): only the
 * shortfall is staked (after a slash, say). Returns what it staked, 0 when nothing was needed.
 */
export async function ensureStake(wallet: ethers.Signer, jobMarket: string, amount: bigint): Promise<bigint> {
  const market = JobMarket__factory.connect(jobMarket, wallet);
  const who = await wallet.getAddress();
  const s = await market.stakeOf(who);
  const short = amount - (s.free + s.locked);
  if (short <= 0n) return 0n;
  const base = OceanToken__factory.connect((await market.config()).baseToken, wallet);
  await (await base.approve(jobMarket, short)).wait();
  await (await market.stake(short)).wait();
  return short;
}
