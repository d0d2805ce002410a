/** The worker's settings: one row per value, with where it may come from and what it must be. */
import { z } from "zod";
import { bytes, duration, list, urlOf, wei, wholeNumber } from "./config-values";

/** The kinds of job a worker can take. */
export const JOB_KINDS = ["train", "infer", "evaluate"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** The executors a worker can run jobs with: the builtin runtime, the PyTorch executor, or an external program. */
export const EXECUTOR_NAMES = ["builtin", "pytorch", "external"] as const;
export type ExecutorName = (typeof EXECUTOR_NAMES)[number];

// ---- the settings: one row per value, with where it may come from and what it must be ------------------------

export interface Setting {
  /** Dotted path in the config file and in WorkerConfig's input. */
  path: string;
  env?: string;
  /** camelCase flag name (commander's attribute for --kebab-case). */
  flag?: string;
  /** What a valid value looks like, for the error message. */
  expect: string;
  schema: z.ZodTypeAny;
  default?: unknown;
  /** A filesystem path: relative values resolve against the file's folder or the cwd. */
  isPath?: boolean;
  /** A URL that may carry an API key: a bad value is shown without its path and query. */
  isUrl?: boolean;
}

export const SETTINGS: Setting[] = [
  {
    path: "network",
    env: "POSTHUMAN_WORKER_NETWORK",
    flag: "network",
    expect: "a network name of letters, digits, - and _ (its address book is deployments/<network>.json)",
    schema: z.string().regex(/^[A-Za-z0-9_-]+$/),
    default: "localhost",
  },
  {
    path: "addressBook",
    env: "POSTHUMAN_WORKER_ADDRESS_BOOK",
    flag: "addressBook",
    expect: "the path of an address book JSON file",
    schema: z.string().min(1),
    isPath: true,
  },
  {
    path: "startBlock",
    env: "POSTHUMAN_WORKER_START_BLOCK",
    flag: "startBlock",
    expect: "a block number ≥ 0 (overrides the address book's startBlock)",
    schema: wholeNumber(0),
  },
  {
    path: "rpc.url",
    env: "POSTHUMAN_WORKER_RPC_URL",
    flag: "rpcUrl",
    expect: "an http:// or https:// URL of an RPC node",
    schema: urlOf("http:", "https:"),
    isUrl: true,
    default: "http://127.0.0.1:8545",
  },
  {
    path: "rpc.wsUrl",
    env: "POSTHUMAN_WORKER_WS_URL",
    flag: "wsUrl",
    expect: "a ws:// or wss:// URL (new heads wake the worker sooner; optional)",
    schema: urlOf("ws:", "wss:"),
    isUrl: true,
  },
  {
    path: "rpc.timeout",
    env: "POSTHUMAN_WORKER_RPC_TIMEOUT",
    flag: "rpcTimeout",
    expect: "a duration ≥ 100ms such as 15s",
    schema: duration(100),
    default: "15s",
  },
  {
    path: "keyFile",
    env: "POSTHUMAN_WORKER_KEY_FILE",
    flag: "keyFile",
    expect: "the path of a file holding the worker's private key",
    schema: z.string().min(1),
    isPath: true,
  },
  {
    path: "ingest.confirmations",
    env: "POSTHUMAN_WORKER_CONFIRMATIONS",
    flag: "confirmations",
    expect: "a whole number of blocks from 0 to 1000",
    schema: wholeNumber(0, 1000),
    default: 2,
  },
  {
    path: "ingest.pollInterval",
    env: "POSTHUMAN_WORKER_POLL_INTERVAL",
    flag: "pollInterval",
    expect: "a duration ≥ 100ms such as 2s",
    schema: duration(100),
    default: "2s",
  },
  {
    path: "ingest.maxChunkBlocks",
    env: "POSTHUMAN_WORKER_MAX_CHUNK_BLOCKS",
    flag: "maxChunkBlocks",
    expect: "a whole number of blocks from 1 to 100000 (the largest getLogs range)",
    schema: wholeNumber(1, 100_000),
    default: 2000,
  },
  {
    path: "dataDir",
    env: "POSTHUMAN_WORKER_DATA_DIR",
    flag: "dataDir",
    expect: "a folder path",
    schema: z.string().min(1),
    default: ".posthuman/worker",
    isPath: true,
  },
  {
    path: "storeDir",
    env: "POSTHUMAN_WORKER_STORE_DIR",
    flag: "storeDir",
    expect: "a folder path (the artifact store, default <dataDir>/artifacts; workers of one operator may share one)",
    schema: z.string().min(1),
    isPath: true,
  },
  {
    path: "executor.kind",
    env: "POSTHUMAN_WORKER_EXECUTOR",
    flag: "executor",
    expect: '"builtin", "pytorch" or "external"',
    schema: z.enum(EXECUTOR_NAMES),
    default: "builtin",
  },
  ...JOB_KINDS.map((k): Setting => ({
    path: `executor.byKind.${k}`,
    env: `POSTHUMAN_WORKER_EXECUTOR_${k.toUpperCase()}`,
    flag: `executor${k[0].toUpperCase()}${k.slice(1)}`,
    expect: `"builtin", "pytorch" or "external" (the executor of ${k} jobs; default: executor)`,
    schema: z.enum(EXECUTOR_NAMES),
  })),
  {
    path: "executor.builtin.device",
    env: "POSTHUMAN_WORKER_DEVICE",
    flag: "device",
    expect:
      "cpu, gpu (onnxruntime's bundled WebGPU provider, also named webgpu) or cuda (the builtin runtime's device; default: POSTHUMAN_ML_DEVICE, else cpu)",
    schema: z.enum(["cpu", "gpu", "webgpu", "cuda"]),
  },
  {
    path: "executor.builtin.threads",
    env: "POSTHUMAN_WORKER_THREADS",
    flag: "threads",
    expect:
      "a whole number of onnxruntime threads from 1 to 256 (the builtin runtime; part of its runtime id; default 2)",
    schema: wholeNumber(1, 256),
  },
  {
    path: "executor.torch.python",
    env: "POSTHUMAN_WORKER_TORCH_PYTHON",
    flag: "torchPython",
    expect: "the Python with torch and numpy the pytorch executor runs (default: python3, else /usr/bin/python3)",
    schema: z.string().min(1),
  },
  {
    path: "executor.torch.device",
    env: "POSTHUMAN_WORKER_TORCH_DEVICE",
    flag: "torchDevice",
    expect: "auto, cpu or cuda (the pytorch executor's device; auto: CUDA when torch sees a GPU)",
    schema: z.enum(["auto", "cpu", "cuda"]),
  },
  {
    path: "executor.torch.precision",
    env: "POSTHUMAN_WORKER_TORCH_PRECISION",
    flag: "torchPrecision",
    expect: "bf16 or fp32 (training precision of the pytorch executor on CUDA; default bf16)",
    schema: z.enum(["bf16", "fp32"]),
  },
  {
    path: "executor.torch.gpus",
    env: "POSTHUMAN_WORKER_TORCH_GPUS",
    flag: "torchGpus",
    expect: "a whole number of GPUs from 1 to 64 (training with torchrun, data parallel; default 1)",
    schema: wholeNumber(1, 64),
  },
  {
    path: "executor.torch.threads",
    env: "POSTHUMAN_WORKER_TORCH_THREADS",
    flag: "torchThreads",
    expect: "a whole number of CPU threads from 1 to 256 (the pytorch executor on the CPU; default 1)",
    schema: wholeNumber(1, 256),
  },
  {
    path: "executor.command",
    env: "POSTHUMAN_WORKER_EXECUTOR_COMMAND",
    flag: "executorCommand",
    expect: "the program an external executor runs (with executor external)",
    schema: z.string().min(1),
  },
  {
    path: "executor.args",
    env: "POSTHUMAN_WORKER_EXECUTOR_ARGS",
    flag: "executorArgs",
    expect: "a list of arguments (comma-separated in env and flags, an array in the file)",
    schema: list(z.string()),
  },
  {
    path: "capabilities.jobKinds",
    env: "POSTHUMAN_WORKER_JOB_KINDS",
    flag: "jobKinds",
    expect: `a non-empty list of ${JOB_KINDS.join(", ")} (comma-separated in env and flags)`,
    schema: list(z.enum(JOB_KINDS)).pipe(z.array(z.enum(JOB_KINDS)).min(1)),
    default: [...JOB_KINDS],
  },
  {
    path: "capabilities.maxModelSize",
    env: "POSTHUMAN_WORKER_MAX_MODEL_SIZE",
    flag: "maxModelSize",
    expect: "a size ≥ 1 byte such as 500MB or 2GiB (largest model weights the worker loads)",
    schema: bytes(1),
    default: "2GiB",
  },
  {
    path: "limits.jobTimeout",
    env: "POSTHUMAN_WORKER_JOB_TIMEOUT",
    flag: "jobTimeout",
    expect: "a duration ≥ 1s such as 30m or 2h",
    schema: duration(1000),
    default: "2h",
  },
  {
    path: "limits.maxMemory",
    env: "POSTHUMAN_WORKER_MAX_MEMORY",
    flag: "maxMemory",
    expect: "a size ≥ 64MiB such as 8GiB (memory a job may use)",
    schema: bytes(64 * 2 ** 20),
    default: "8GiB",
  },
  {
    path: "limits.maxUpload",
    env: "POSTHUMAN_WORKER_MAX_UPLOAD",
    flag: "maxUpload",
    expect:
      "a size ≥ 1 byte such as 16MiB (largest job input the API accepts; above 64MiB, the most the runtime reads, it counts as 64MiB)",
    schema: bytes(1),
    default: "64MiB",
  },
  {
    path: "limits.modelCache",
    env: "POSTHUMAN_WORKER_MODEL_CACHE",
    flag: "modelCache",
    expect: "a size such as 20GiB (disk kept for the builtin runtime's model exports; least recently used go first)",
    schema: bytes(0),
    default: "20GiB",
  },
  {
    path: "admission.runSlots",
    env: "POSTHUMAN_WORKER_RUN_SLOTS",
    flag: "runSlots",
    expect: "a whole number of jobs from 1 to 64 (jobs run at once)",
    schema: wholeNumber(1, 64),
    default: 1,
  },
  {
    path: "admission.inputWait",
    env: "POSTHUMAN_WORKER_INPUT_WAIT",
    flag: "inputWait",
    expect: "a duration ≥ 5s such as 2m (a claimed job whose input has not come by then is failed as INPUT_MISSING)",
    schema: duration(5000),
    default: "2m",
  },
  {
    path: "admission.safetyFactor",
    env: "POSTHUMAN_WORKER_SAFETY_FACTOR",
    flag: "safetyFactor",
    expect: "a number from 1 to 100 (run-time estimates are multiplied by it before they meet a deadline)",
    schema: z.preprocess((v) => (typeof v === "string" ? Number(v) : v), z.number().min(1).max(100)),
    default: 2,
  },
  ...JOB_KINDS.map((kind) => ({
    path: `policy.minFee.${kind}`,
    env: `POSTHUMAN_WORKER_MIN_FEE_${kind.toUpperCase()}`,
    flag: `minFee${kind[0].toUpperCase()}${kind.slice(1)}`,
    expect: `an amount of the base token such as 0.5ether or 1000000 (wei): the smallest fee of a ${kind} job`,
    schema: wei(),
    default: "0",
  })),
  {
    path: "policy.feePerComputeSecond",
    env: "POSTHUMAN_WORKER_FEE_PER_COMPUTE_SECOND",
    flag: "feePerComputeSecond",
    expect: "an amount of the base token per estimated second of compute, such as 0.001ether",
    schema: wei(),
    default: "0",
  },
  {
    path: "policy.callbackGasPrice",
    env: "POSTHUMAN_WORKER_CALLBACK_GAS_PRICE",
    flag: "callbackGasPrice",
    expect: "an amount of the base token per gas of a job's callback limit, such as 1gwei",
    schema: wei(),
    default: "0",
  },
  {
    path: "api.quota.window",
    env: "POSTHUMAN_WORKER_QUOTA_WINDOW",
    flag: "quotaWindow",
    expect: "a duration ≥ 1s such as 1m (the window of the per-address API quotas)",
    schema: duration(1000),
    default: "1m",
  },
  {
    path: "api.quota.requests",
    env: "POSTHUMAN_WORKER_QUOTA_REQUESTS",
    flag: "quotaRequests",
    expect: "a whole number ≥ 1 (signed API requests per address and window)",
    schema: wholeNumber(1),
    default: 60,
  },
  {
    path: "api.quota.bytes",
    env: "POSTHUMAN_WORKER_QUOTA_BYTES",
    flag: "quotaBytes",
    expect: "a size ≥ 1 byte such as 4GiB (bytes uploaded per address and window)",
    schema: bytes(1),
    default: "4GiB",
  },
  {
    path: "api.maxInspect",
    env: "POSTHUMAN_WORKER_MAX_INSPECT",
    flag: "maxInspect",
    expect: "a size ≥ 1 byte such as 1GiB (largest folder POST /models/inspect loads)",
    schema: bytes(1),
    default: "1GiB",
  },
  {
    path: "http.host",
    env: "POSTHUMAN_WORKER_HTTP_HOST",
    flag: "httpHost",
    expect: "a host name or IP address to listen on",
    schema: z.string().regex(/^[A-Za-z0-9.:_-]+$/),
    default: "127.0.0.1",
  },
  {
    path: "http.publicUrl",
    env: "POSTHUMAN_WORKER_PUBLIC_URL",
    flag: "publicUrl",
    expect: "an http:// or https:// URL at which requesters reach this API (registered on chain with the stake)",
    schema: urlOf("http:", "https:"),
    isUrl: true,
  },
  {
    path: "http.port",
    env: "POSTHUMAN_WORKER_HTTP_PORT",
    flag: "httpPort",
    expect: "a TCP port from 0 to 65535 (0: any free port)",
    schema: wholeNumber(0, 65535),
    default: 8550, // what the commands ask by default (--worker), and `posthuman up` listens on
  },
  {
    path: "logLevel",
    env: "POSTHUMAN_WORKER_LOG_LEVEL",
    flag: "logLevel",
    expect: "one of fatal, error, warn, info, debug, trace, silent",
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
    default: "info",
  },
];
