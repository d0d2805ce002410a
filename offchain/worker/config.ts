import fs from "node:fs";
import path from "node:path";
import { Wallet } from "ethers";
import { z } from "zod";
import { addressBookPath, readAddressBook, DEPLOYMENTS_DIR } from "../../scripts/lib/address-book";
import { Secret, redactUrl } from "./log";

/** The kinds of job a worker can take. */
export const JOB_KINDS = ["train", "infer", "evaluate"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** The executors a worker can run jobs with: the builtin runtime, the PyTorch executor, or an external program. */
export const EXECUTOR_NAMES = ["builtin", "pytorch", "external"] as const;
export type ExecutorName = (typeof EXECUTOR_NAMES)[number];

/** Settings of the PyTorch executor (offchain/ml/torch-executor.ts). */
export interface TorchExecutorConfig {
  python?: string;
  device?: "auto" | "cpu" | "cuda";
  precision?: "bf16" | "fp32";
  gpus?: number;
  threads?: number;
}

export type ExecutorConfig = (
  { kind: "builtin" } | { kind: "pytorch" } | { kind: "external"; command: string; args: string[] }
) & {
  /** Executors for particular job kinds (present only when set); other kinds use `kind`. */
  byKind?: Partial<Record<JobKind, ExecutorName>>;
  /** Present only when set. */
  torch?: TorchExecutorConfig;
};

/** The worker's configuration once loaded and checked. Secrets are `Secret`s: logging this object leaks nothing. */
export interface WorkerConfig {
  network: string;
  rpc: { url: string; wsUrl?: string; timeoutMs: number };
  /** From the address book (startBlock may be overridden). */
  chain: { chainId: number; startBlock: number; contracts: Record<string, string>; addressBookFile: string };
  signer: {
    address: string;
    privateKey: Secret;
    source: { kind: "env"; variable: string } | { kind: "file"; file: string };
  };
  ingest: { confirmations: number; pollIntervalMs: number; maxChunkBlocks: number };
  /** Absolute path; the worker's database lives in it (and the artifact store, unless storeDir says otherwise). */
  dataDir: string;
  /** Absolute path of the artifact store (default <dataDir>/artifacts); the workers of one operator may share one. */
  storeDir: string;
  executor: ExecutorConfig;
  capabilities: { jobKinds: JobKind[]; maxModelBytes: number };
  limits: { jobTimeoutMs: number; maxMemoryBytes: number; maxUploadBytes: number };
  http: { host: string; port: number };
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Where each setting came from (`rpc.url` → `env POSTHUMAN_WORKER_RPC_URL`), for the start-up log. */
  sources: Record<string, string>;
  /** Things that work but deserve the operator's attention (a key file readable by others). */
  warnings: string[];
}

/** CLI flags as commander gives them (camelCase of the long option); flags that are not settings are ignored. */
export type WorkerFlags = Record<string, string | number | boolean | string[] | undefined>;

export interface LoadWorkerConfigOptions {
  /** A JSON config file; else `flags.config`, else env POSTHUMAN_WORKER_CONFIG; none is fine. */
  file?: string;
  env: NodeJS.ProcessEnv | Record<string, string | undefined>;
  flags?: WorkerFlags;
  /** Relative paths from env and flags resolve against this (default process.cwd()); those from a file, its folder. */
  cwd?: string;
  /** Where `deployments/<network>.json` is looked for (default the repository's deployments/). */
  deploymentsDir?: string;
}

export class WorkerConfigError extends Error {
  override readonly name = "WorkerConfigError";
  constructor(readonly problems: string[]) {
    super(
      `The worker configuration is invalid:\n  - ${problems.join("\n  - ")}\n` +
        `Fix each value where it comes from (flag, environment variable or config file).`,
    );
  }
}

// ---- value parsers shared by the schema ----------------------------------------------------------------------

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};
/** "512MiB", "2 GB", "1048576" or a number → bytes; undefined when unreadable. */
export function parseBytes(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  if (!m) return undefined;
  const unit = UNITS[(m[2] || "b").toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** "30s", "10m", "2h", "1500ms", "1500" or a number (milliseconds) → milliseconds; undefined when unreadable. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(v);
  if (!m) return undefined;
  const n = Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? "ms").toLowerCase()]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A URL that parses (a host, a port below 65536) with one of `protocols`. */
const urlOf = (...protocols: string[]) =>
  z.string().refine((v) => {
    try {
      const u = new URL(v);
      return protocols.includes(u.protocol) && u.hostname !== "" && !/\s/.test(v);
    } catch {
      return false;
    }
  });

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    (v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );
const bytes = (min: number) =>
  z.preprocess((v) => parseBytes(v) ?? (typeof v === "string" ? NaN : v), z.number().int().min(min));
const duration = (min: number) =>
  z.preprocess((v) => parseDuration(v) ?? (typeof v === "string" ? NaN : v), z.number().int().min(min));
const list = <T extends z.ZodTypeAny>(item: T) =>
  z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );

// ---- the settings: one row per value, with where it may come from and what it must be ------------------------

interface Setting {
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

const SETTINGS: Setting[] = [
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
    expect: "a size ≥ 1 byte such as 100MiB (largest upload the API accepts)",
    schema: bytes(1),
    default: "256MiB",
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
    path: "http.port",
    env: "POSTHUMAN_WORKER_HTTP_PORT",
    flag: "httpPort",
    expect: "a TCP port from 0 to 65535 (0: any free port)",
    schema: wholeNumber(0, 65535),
    default: 8080,
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

const KEY_ENV = "POSTHUMAN_WORKER_PRIVATE_KEY";
const CONFIG_ENV = "POSTHUMAN_WORKER_CONFIG";
/** Keys that must never come from a file or the command line (a file can be committed, a flag is visible in ps). */
const FORBIDDEN_KEYS = ["privateKey", "key", "signerKey"];

interface Found {
  value: unknown;
  origin: string;
  baseDir: string;
}

/** Every environment variable the worker reads, for `--help` texts and docs. */
export const WORKER_ENV_VARS: { name: string; setting: string; expect: string }[] = [
  { name: CONFIG_ENV, setting: "(config file)", expect: "the path of a JSON config file" },
  { name: KEY_ENV, setting: "(signer key)", expect: "0x followed by 64 hex digits (or use a key file)" },
  ...SETTINGS.filter((s) => s.env).map((s) => ({ name: s.env as string, setting: s.path, expect: s.expect })),
];

/**
 * Loads the worker's configuration: defaults < config file < environment < flags, value by value. Every bad value
 * is reported at once, each named with its source (`ingest.confirmations = "-1" (env POSTHUMAN_WORKER_CONFIRMATIONS)
 * must be ...`); the signer key's value is never shown. Reads the key file and the address book; starts nothing.
 */
export function loadWorkerConfig(opts: LoadWorkerConfigOptions): WorkerConfig {
  const env = opts.env;
  const flags = opts.flags ?? {};
  const cwd = opts.cwd ?? process.cwd();
  const problems: string[] = [];
  const warnings: string[] = [];

  // The file.
  const fileArg =
    opts.file ?? (typeof flags.config === "string" ? flags.config : undefined) ?? (env[CONFIG_ENV] || undefined);
  let fileValues: Record<string, unknown> = {};
  let fileLabel = "";
  let fileDir = cwd;
  if (fileArg !== undefined) {
    const file = path.resolve(cwd, fileArg);
    fileLabel = file;
    fileDir = path.dirname(file);
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        problems.push(`config file ${file} must hold a JSON object`);
      } else fileValues = parsed as Record<string, unknown>;
    } catch (e) {
      problems.push(`config file ${file} cannot be read as JSON (${(e as Error).message})`);
    }
  }
  for (const k of FORBIDDEN_KEYS) {
    if (k in fileValues) {
      problems.push(
        `config file ${fileLabel} holds "${k}": never put the key in a file that may be shared; ` +
          `use "keyFile" or env ${KEY_ENV}`,
      );
    }
    if (flags[k] !== undefined) {
      problems.push(`flag --${k} is refused (a key on the command line shows in ps): use --key-file or env ${KEY_ENV}`);
    }
  }
  const known = new Set(SETTINGS.map((s) => s.path));
  for (const p of leafPaths(fileValues)) {
    if (!known.has(p) && !FORBIDDEN_KEYS.includes(p)) {
      problems.push(
        `config file ${fileLabel} has an unknown setting "${p}": check its spelling (known: ${[...known].join(", ")})`,
      );
    }
  }

  // Value by value, the source with the highest precedence.
  const resolved: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const s of SETTINGS) {
    const found = pick(s, flags, env, fileValues, fileLabel, fileDir, cwd);
    if (!found) continue;
    const parsed = s.schema.safeParse(found.value);
    if (!parsed.success) {
      const shown = s.isUrl && typeof found.value === "string" ? showUrl(found.value) : show(found.value);
      problems.push(`${s.path} = ${shown} (${found.origin}) must be ${s.expect}`);
      continue;
    }
    resolved[s.path] =
      s.isPath && typeof parsed.data === "string" ? path.resolve(found.baseDir, parsed.data) : parsed.data;
    sources[s.path] = found.origin;
  }
  const get = <T>(p: string): T => resolved[p] as T;

  // Cross-field checks.
  const executorKind = get<ExecutorName | undefined>("executor.kind");
  const byKind: Partial<Record<JobKind, ExecutorName>> = {};
  for (const k of JOB_KINDS) {
    const e = get<ExecutorName | undefined>(`executor.byKind.${k}`);
    if (e !== undefined) byKind[k] = e;
  }
  if (
    (executorKind === "external" || Object.values(byKind).includes("external")) &&
    get<string | undefined>("executor.command") === undefined &&
    !problems.some((p) => p.startsWith("executor.command"))
  ) {
    problems.push(
      `executor.command is not set but executor is "external" (${
        executorKind === "external"
          ? sources["executor.kind"]
          : JOB_KINDS.filter((k) => byKind[k] === "external")
              .map((k) => sources[`executor.byKind.${k}`])
              .join(", ")
      }): ` + `set POSTHUMAN_WORKER_EXECUTOR_COMMAND, --executor-command or "executor": {"command": ...} in the file`,
    );
  }

  // The signer key: env var, or a key file (env, flag or file).
  const signer = loadSigner(env, get<string | undefined>("keyFile"), sources.keyFile, problems, warnings);

  // The address book.
  let chain: WorkerConfig["chain"] | undefined;
  const network = get<string | undefined>("network");
  if (network !== undefined) {
    const explicit = get<string | undefined>("addressBook");
    const bookFile = explicit ?? addressBookPath(network, opts.deploymentsDir ?? DEPLOYMENTS_DIR);
    try {
      const book = readAddressBook(bookFile);
      if (!book) {
        problems.push(
          `no address book at ${bookFile} (${explicit ? sources.addressBook : `network ${network}, ${sources.network}`}): ` +
            `deploy first (npx hardhat run scripts/deploy.ts --network ${network}) or set --address-book`,
        );
      } else {
        const startBlock = get<number | undefined>("startBlock") ?? book.startBlock;
        chain = { chainId: book.chainId, startBlock, contracts: book.contracts, addressBookFile: bookFile };
      }
    } catch (e) {
      problems.push((e as Error).message);
    }
  }

  if (problems.length > 0 || !signer || !chain) throw new WorkerConfigError(problems);

  const external = { command: get<string>("executor.command"), args: get<string[] | undefined>("executor.args") ?? [] };
  const executor: ExecutorConfig =
    executorKind === "external" ? { kind: "external", ...external } : { kind: executorKind ?? "builtin" };
  if (executorKind !== "external" && Object.values(byKind).includes("external")) Object.assign(executor, external);
  if (Object.keys(byKind).length > 0) executor.byKind = byKind;
  const torch: TorchExecutorConfig = {};
  for (const k of ["python", "device", "precision", "gpus", "threads"] as const) {
    const v = get<unknown>(`executor.torch.${k}`);
    if (v !== undefined) Object.assign(torch, { [k]: v });
  }
  if (Object.keys(torch).length > 0) executor.torch = torch;
  const wsUrl = get<string | undefined>("rpc.wsUrl");
  return {
    network: get<string>("network"),
    rpc: { url: get<string>("rpc.url"), ...(wsUrl ? { wsUrl } : {}), timeoutMs: get<number>("rpc.timeout") },
    chain,
    signer,
    ingest: {
      confirmations: get<number>("ingest.confirmations"),
      pollIntervalMs: get<number>("ingest.pollInterval"),
      maxChunkBlocks: get<number>("ingest.maxChunkBlocks"),
    },
    dataDir: get<string>("dataDir"),
    storeDir: get<string | undefined>("storeDir") ?? path.join(get<string>("dataDir"), "artifacts"),
    executor,
    capabilities: {
      jobKinds: [...new Set(get<JobKind[]>("capabilities.jobKinds"))],
      maxModelBytes: get<number>("capabilities.maxModelSize"),
    },
    limits: {
      jobTimeoutMs: get<number>("limits.jobTimeout"),
      maxMemoryBytes: get<number>("limits.maxMemory"),
      maxUploadBytes: get<number>("limits.maxUpload"),
    },
    http: { host: get<string>("http.host"), port: get<number>("http.port") },
    logLevel: get<WorkerConfig["logLevel"]>("logLevel"),
    sources,
    warnings,
  };
}

/** The configuration as it may be logged at start-up: no key, RPC URLs reduced to their origin. */
export function describeWorkerConfig(c: WorkerConfig): Record<string, unknown> {
  return {
    network: c.network,
    rpc: { url: redactUrl(c.rpc.url), wsUrl: c.rpc.wsUrl && redactUrl(c.rpc.wsUrl), timeoutMs: c.rpc.timeoutMs },
    chain: { chainId: c.chain.chainId, startBlock: c.chain.startBlock, addressBook: c.chain.addressBookFile },
    signer: { address: c.signer.address, source: c.signer.source },
    ingest: c.ingest,
    dataDir: c.dataDir,
    storeDir: c.storeDir,
    executor: c.executor,
    capabilities: c.capabilities,
    limits: c.limits,
    http: c.http,
    logLevel: c.logLevel,
    sources: c.sources,
  };
}

function pick(
  s: Setting,
  flags: WorkerFlags,
  env: LoadWorkerConfigOptions["env"],
  file: Record<string, unknown>,
  fileLabel: string,
  fileDir: string,
  cwd: string,
): Found | undefined {
  if (s.flag && flags[s.flag] !== undefined) {
    return { value: flags[s.flag], origin: `flag --${kebab(s.flag)}`, baseDir: cwd };
  }
  if (s.env && env[s.env] !== undefined && env[s.env] !== "") {
    return { value: env[s.env], origin: `env ${s.env}`, baseDir: cwd };
  }
  const fromFile = getPath(file, s.path);
  if (fromFile !== undefined) return { value: fromFile, origin: `file ${fileLabel}`, baseDir: fileDir };
  if (s.default !== undefined) return { value: s.default, origin: "default", baseDir: cwd };
  return undefined;
}

function loadSigner(
  env: LoadWorkerConfigOptions["env"],
  keyFile: string | undefined,
  keyFileOrigin: string | undefined,
  problems: string[],
  warnings: string[],
): WorkerConfig["signer"] | undefined {
  const fromEnv = env[KEY_ENV];
  if (fromEnv && keyFile) {
    problems.push(`both env ${KEY_ENV} and a key file (${keyFileOrigin}) are set: keep only one`);
    return undefined;
  }
  let raw: string;
  let source: WorkerConfig["signer"]["source"];
  if (fromEnv) {
    raw = fromEnv.trim();
    source = { kind: "env", variable: KEY_ENV };
  } else if (keyFile) {
    try {
      raw = fs.readFileSync(keyFile, "utf8").trim();
      const mode = fs.statSync(keyFile).mode & 0o777;
      if (mode & 0o077) {
        warnings.push(`key file ${keyFile} can be read by other users (mode ${mode.toString(8)}): chmod 600 it`);
      }
    } catch (e) {
      problems.push(
        `keyFile = ${keyFile} (${keyFileOrigin}) cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
      return undefined;
    }
    source = { kind: "file", file: keyFile };
  } else {
    problems.push(
      `no signer key: set POSTHUMAN_WORKER_KEY_FILE (or --key-file, or "keyFile" in the config file) to a file ` +
        `holding the worker's private key, or env ${KEY_ENV}`,
    );
    return undefined;
  }
  const hex = raw.startsWith("0x") ? raw : `0x${raw}`;
  const where = source.kind === "env" ? `env ${KEY_ENV}` : `key file ${source.file}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
    problems.push(`the signer key in ${where} is not 64 hex digits with or without 0x (its value is not shown)`);
    return undefined;
  }
  let address: string;
  try {
    address = new Wallet(hex).address;
  } catch {
    problems.push(`the signer key in ${where} is not a valid secp256k1 private key (its value is not shown)`);
    return undefined;
  }
  return { address, privateKey: new Secret(hex), source };
}

function getPath(obj: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = obj;
  for (const k of dotted.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function leafPaths(obj: Record<string, unknown>, prefix = ""): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      out.push(...leafPaths(v as Record<string, unknown>, p));
    else out.push(p);
  }
  return out;
}

function kebab(flag: string): string {
  return flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A URL as an error may show it: scheme and host only (an API key often sits in the path or the query). */
function showUrl(v: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?([^/?#@\s]*@)?([^/?#\s]*)(.*)$/i.exec(v.trim());
  if (!m) return "(a value not shown)";
  return JSON.stringify(`${m[1] ?? ""}${m[3]}${m[4] ? "/…" : ""}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
