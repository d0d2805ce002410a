import fs from "node:fs";
import path from "node:path";
import { Wallet } from "ethers";
import { addressBookPath, readAddressBook, DEPLOYMENTS_DIR } from "../deploy/address-book";
import { DEFAULT_DATASET_LIMITS } from "../ml/data";
import { normalizeDevice } from "../ml/device";
import { Secret, redactUrl } from "./log";
import { JOB_KINDS, SETTINGS, type ExecutorName, type JobKind, type Setting } from "./config-settings";
import { DEFAULT_POLICY, type OperatorPolicy } from "./policy";

export { EXECUTOR_NAMES, JOB_KINDS, type ExecutorName, type JobKind } from "./config-settings";
export { parseBytes, parseDuration } from "./config-values";

/** Settings of the PyTorch executor (offchain/ml/torch-executor.ts). */
export interface TorchExecutorConfig {
  python?: string;
  device?: "auto" | "cpu" | "cuda";
  precision?: "bf16" | "fp32";
  gpus?: number;
  threads?: number;
}

/** Settings of the builtin runtime (offchain/ml): its device ("gpu" is read as "webgpu") and onnxruntime threads. */
export interface BuiltinExecutorConfig {
  device?: "cpu" | "webgpu" | "cuda";
  threads?: number;
}

export type ExecutorConfig = (
  { kind: "builtin" } | { kind: "pytorch" } | { kind: "external"; command: string; args: string[] }
) & {
  /** Executors for particular job kinds (present only when set); other kinds use `kind`. */
  byKind?: Partial<Record<JobKind, ExecutorName>>;
  /** Present only when set. */
  builtin?: BuiltinExecutorConfig;
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
  /** modelCacheBytes: disk the builtin runtime's serving exports may keep (<dataDir>/ml-cache, least recently used go). */
  limits: { jobTimeoutMs: number; maxMemoryBytes: number; maxUploadBytes: number; modelCacheBytes: number };
  /** Admission control and pricing (policy.ts). */
  policy: OperatorPolicy;
  /** Per-address quotas of the API, and the largest folder it inspects. */
  api: { quota: { windowMs: number; maxRequests: number; maxBytes: number }; maxInspectBytes: number };
  /** Where the API listens, and the URL registered on chain for requesters (default: the listening URL). */
  http: { host: string; port: number; publicUrl?: string };
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

const KEY_ENV = "POSTHUMAN_WORKER_PRIVATE_KEY";
const CONFIG_ENV = "POSTHUMAN_WORKER_CONFIG";
/** Keys that must never come from a file or the command line (a file can be committed, a flag is visible in ps). */
const FORBIDDEN_KEYS = ["privateKey", "key", "signerKey"];
/**
 * Flags that `posthuman worker` spells otherwise than --kebab-case of their setting: the worker's key file and data
 * folder are --worker-key-file and --worker-data-dir there, and the global --key-file and --data-dir (the
 * requester's signer, the CLI's folder) reach them too when those are not given (`posthuman up` passes its
 * --data-dir as well). A label names both, so that it is true whichever the operator typed.
 */
const FLAG_LABELS: Record<string, string> = {
  keyFile: "--worker-key-file or --key-file",
  dataDir: "--worker-data-dir or --data-dir",
};
/** The flag to advise for the worker's key file: the one `posthuman worker --help` shows. */
const KEY_FILE_FLAG = "--worker-key-file";

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
  const { c, kinds } = readSettings(opts);
  const warnings: string[] = [];
  // The signer key: env var, or a key file (env, flag or file).
  const signer = loadSigner(opts.env, c.get<string | undefined>("keyFile"), c.sources.keyFile, c.problems, warnings);
  const chain = loadChain(c, opts.deploymentsDir);
  if (c.problems.length > 0 || !signer || !chain) throw new WorkerConfigError(c.problems);
  const config = assembleConfig(c, kinds, chain, signer, warnings);
  const { executor, capabilities } = config;
  const usesBuiltin = capabilities.jobKinds.some((k) => (executor.byKind?.[k] ?? executor.kind) === "builtin");
  const maxInput = DEFAULT_DATASET_LIMITS.maxBytes;
  if (c.get<number>("limits.maxUpload") > maxInput)
    warnings.push(
      `limits.maxUpload (${c.sources["limits.maxUpload"]}) is above the ${maxInput / 2 ** 20} MiB a job's input may be: ` +
        `uploads over ${maxInput / 2 ** 20} MiB are refused`,
    );
  if (!usesBuiltin)
    for (const k of Object.keys(executor.builtin ?? {}))
      warnings.push(
        `executor.builtin.${k} (${c.sources[`executor.builtin.${k}`]}) is set, but no job kind runs on the builtin executor`,
      );
  return config;
}

/** What running a job needs (executors, limits, kinds, policy, data folder): a worker's configuration without its chain or key. */
export type RunnerConfig = Pick<WorkerConfig, "dataDir" | "executor" | "capabilities" | "limits" | "policy">;

/** The settings a run needs, read as loadWorkerConfig reads them, but no key or address book is asked for. */
export function loadRunnerConfig(opts: LoadWorkerConfigOptions): RunnerConfig {
  const { c, kinds } = readSettings(opts);
  if (c.problems.length > 0) throw new WorkerConfigError(c.problems);
  return runnerParts(c, kinds);
}

/** The config file, environment and flags resolved value by value, and the executors chosen (problems collected). */
function readSettings(opts: LoadWorkerConfigOptions): { c: ConfigKit; kinds: ExecutorKinds } {
  const flags = opts.flags ?? {};
  const cwd = opts.cwd ?? process.cwd();
  const problems: string[] = [];
  const file = readConfigFile(opts, flags, cwd, problems);
  checkFileKeys(file, flags, problems);
  const { resolved, sources } = resolveSettings(file, flags, opts.env, cwd, problems);
  const c: ConfigKit = { get: <T>(p: string): T => resolved[p] as T, sources, problems };
  return { c, kinds: executorKinds(c) };
}

/** The resolved settings by path, where each came from, and the problems found so far. */
interface ConfigKit {
  get<T>(p: string): T;
  sources: Record<string, string>;
  problems: string[];
}

/** The config file's values, its label for messages and its folder (relative paths in it resolve against it). */
interface ConfigFile {
  values: Record<string, unknown>;
  label: string;
  dir: string;
}

/** The executor chosen for every kind of job, and those chosen per kind. */
interface ExecutorKinds {
  executorKind: ExecutorName | undefined;
  byKind: Partial<Record<JobKind, ExecutorName>>;
}

/** Reads the config file named by the options, the flag or env POSTHUMAN_WORKER_CONFIG; none gives no values. */
function readConfigFile(
  opts: LoadWorkerConfigOptions,
  flags: WorkerFlags,
  cwd: string,
  problems: string[],
): ConfigFile {
  const fileArg =
    opts.file ?? (typeof flags.config === "string" ? flags.config : undefined) ?? (opts.env[CONFIG_ENV] || undefined);
  const out: ConfigFile = { values: {}, label: "", dir: cwd };
  if (fileArg !== undefined) {
    const file = path.resolve(cwd, fileArg);
    out.label = file;
    out.dir = path.dirname(file);
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        problems.push(`config file ${file} must hold a JSON object`);
      } else out.values = parsed as Record<string, unknown>;
    } catch (e) {
      problems.push(`config file ${file} cannot be read as JSON (${(e as Error).message})`);
    }
  }
  return out;
}

/** Refuses a key in the file or on the command line, and settings of the file that do not exist. */
function checkFileKeys(file: ConfigFile, flags: WorkerFlags, problems: string[]): void {
  const fileValues = file.values;
  const fileLabel = file.label;
  for (const k of FORBIDDEN_KEYS) {
    if (k in fileValues) {
      problems.push(
        `config file ${fileLabel} holds "${k}": never put the key in a file that may be shared; ` +
          `use "keyFile" or env ${KEY_ENV}`,
      );
    }
    if (flags[k] !== undefined) {
      problems.push(
        `flag --${kebab(k)} is refused (a key on the command line shows in ps): use ${KEY_FILE_FLAG} or env ${KEY_ENV}`,
      );
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
}

/** Value by value, the source with the highest precedence, parsed; a bad value is a problem naming its source. */
function resolveSettings(
  file: ConfigFile,
  flags: WorkerFlags,
  env: LoadWorkerConfigOptions["env"],
  cwd: string,
  problems: string[],
): { resolved: Record<string, unknown>; sources: Record<string, string> } {
  const resolved: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const s of SETTINGS) {
    const found = pick(s, flags, env, file.values, file.label, file.dir, cwd);
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
  return { resolved, sources };
}

/** The executors chosen; the external one needs a command, else a problem naming where it was chosen. */
function executorKinds(c: ConfigKit): ExecutorKinds {
  const { get, sources, problems } = c;
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
  return { executorKind, byKind };
}

/** The chain from the network's address book (or the one named); undefined, with a problem, when it is missing. */
function loadChain(c: ConfigKit, deploymentsDir: string | undefined): WorkerConfig["chain"] | undefined {
  const { get, sources, problems } = c;
  let chain: WorkerConfig["chain"] | undefined;
  const network = get<string | undefined>("network");
  if (network !== undefined) {
    const explicit = get<string | undefined>("addressBook");
    const bookFile = explicit ?? addressBookPath(network, deploymentsDir ?? DEPLOYMENTS_DIR);
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
  return chain;
}

/** The executor's settings: its kind, per-kind choices, the external command and the PyTorch settings given. */
function executorConfig(c: ConfigKit, { executorKind, byKind }: ExecutorKinds): ExecutorConfig {
  const { get } = c;
  const external = { command: get<string>("executor.command"), args: get<string[] | undefined>("executor.args") ?? [] };
  const executor: ExecutorConfig =
    executorKind === "external" ? { kind: "external", ...external } : { kind: executorKind ?? "builtin" };
  if (executorKind !== "external" && Object.values(byKind).includes("external")) Object.assign(executor, external);
  if (Object.keys(byKind).length > 0) executor.byKind = byKind;
  const builtin: BuiltinExecutorConfig = {};
  const device = get<string | undefined>("executor.builtin.device");
  if (device !== undefined) builtin.device = normalizeDevice(device) as BuiltinExecutorConfig["device"];
  const threads = get<number | undefined>("executor.builtin.threads");
  if (threads !== undefined) builtin.threads = threads;
  if (Object.keys(builtin).length > 0) executor.builtin = builtin;
  const torch: TorchExecutorConfig = {};
  for (const k of ["python", "device", "precision", "gpus", "threads"] as const) {
    const v = get<unknown>(`executor.torch.${k}`);
    if (v !== undefined) Object.assign(torch, { [k]: v });
  }
  if (Object.keys(torch).length > 0) executor.torch = torch;
  return executor;
}

/** The configuration from settings that all passed their checks. */
function assembleConfig(
  c: ConfigKit,
  kinds: ExecutorKinds,
  chain: WorkerConfig["chain"],
  signer: WorkerConfig["signer"],
  warnings: string[],
): WorkerConfig {
  const { get, sources } = c;
  const wsUrl = get<string | undefined>("rpc.wsUrl");
  return {
    ...runnerParts(c, kinds),
    network: get<string>("network"),
    rpc: { url: get<string>("rpc.url"), ...(wsUrl ? { wsUrl } : {}), timeoutMs: get<number>("rpc.timeout") },
    chain,
    signer,
    ingest: {
      confirmations: get<number>("ingest.confirmations"),
      pollIntervalMs: get<number>("ingest.pollInterval"),
      maxChunkBlocks: get<number>("ingest.maxChunkBlocks"),
    },
    api: {
      quota: {
        windowMs: get<number>("api.quota.window"),
        maxRequests: get<number>("api.quota.requests"),
        maxBytes: get<number>("api.quota.bytes"),
      },
      maxInspectBytes: get<number>("api.maxInspect"),
    },
    http: {
      host: get<string>("http.host"),
      port: get<number>("http.port"),
      ...(get<string | undefined>("http.publicUrl") ? { publicUrl: get<string>("http.publicUrl") } : {}),
    },
    storeDir: get<string | undefined>("storeDir") ?? path.join(get<string>("dataDir"), "artifacts"),
    logLevel: get<WorkerConfig["logLevel"]>("logLevel"),
    sources,
    warnings,
  };
}

/** The run's settings of a configuration (RunnerConfig). */
function runnerParts(c: ConfigKit, kinds: ExecutorKinds): RunnerConfig {
  const { get } = c;
  return {
    dataDir: get<string>("dataDir"),
    executor: executorConfig(c, kinds),
    capabilities: {
      jobKinds: [...new Set(get<JobKind[]>("capabilities.jobKinds"))],
      maxModelBytes: get<number>("capabilities.maxModelSize"),
    },
    limits: {
      jobTimeoutMs: get<number>("limits.jobTimeout"),
      maxMemoryBytes: get<number>("limits.maxMemory"),
      // No larger than what the runtime reads: an input accepted (and acknowledged) here that the runtime then refuses as
      // DATASET_TOO_LARGE would let its requester dispute the failure and take the worker's collateral.
      maxUploadBytes: Math.min(get<number>("limits.maxUpload"), DEFAULT_DATASET_LIMITS.maxBytes),
      modelCacheBytes: get<number>("limits.modelCache"),
    },
    policy: printable({
      ...DEFAULT_POLICY,
      minFee: {
        train: get<bigint>("policy.minFee.train"),
        infer: get<bigint>("policy.minFee.infer"),
        evaluate: get<bigint>("policy.minFee.evaluate"),
      },
      feePerComputeSecond: get<bigint>("policy.feePerComputeSecond"),
      callbackGasPrice: get<bigint>("policy.callbackGasPrice"),
      runSlots: get<number>("admission.runSlots"),
      inputWaitMs: get<number>("admission.inputWait"),
      safetyFactor: get<number>("admission.safetyFactor"),
    }),
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
    policy: c.policy,
    api: c.api,
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
    return { value: flags[s.flag], origin: `flag ${FLAG_LABELS[s.flag] ?? `--${kebab(s.flag)}`}`, baseDir: cwd };
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
      `no signer key: set POSTHUMAN_WORKER_KEY_FILE (or ${KEY_FILE_FLAG}, or "keyFile" in the config file) to a file ` +
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

/** The policy with a toJSON that writes its amounts (bigints, in wei) as decimal strings, so it can be logged. */
function printable(policy: OperatorPolicy): OperatorPolicy {
  const json = () =>
    JSON.parse(JSON.stringify({ ...policy }, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)));
  return Object.defineProperty(policy, "toJSON", { value: json, enumerable: false });
}
