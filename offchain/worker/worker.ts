/**
 * A PostHuman worker: ingestion (events.ts) → job rows (jobs.ts) → pipeline (pipeline.ts) → chain (sender.ts),
 * with the operator API (api.ts) and metrics beside them. `createWorker` wires the parts; `start`/`stop` run them.
 */
import fs from "node:fs";
import path from "node:path";
import type http from "node:http";
import { ethers, type JsonRpcProvider } from "ethers";
import { JobMarket__factory, ModelRegistry__factory, type JobMarket, type ModelRegistry } from "../../typechain-types";
import {
  builtinProcessExecutor,
  cachedTokenizer,
  configHash,
  onChainTokenizerHash,
  ExternalExecutor,
  loadCheckpoint,
  servableProblem,
  deviceStatus,
  MlError,
  normalizeDevice,
  weightsRoot,
  type Device,
  type Executor,
} from "../ml";
import { KindRouter } from "../ml/kind-router";
import { torchProcessExecutor } from "../ml/torch-executor";
import { checkJobUpload, checkModelInput, heldModelDir } from "./held-models";
import { createNonceBook, createQuotas } from "./guard";
import { createThroughput } from "./policy";
import { inputAckDomain, signInputAck } from "../protocol/input-ack";
import { modelRef } from "./pipeline-run";
import { modelShape } from "./pipeline-steps";
import { ApiError, createApiServer, listen, type ApiDeps, type JobView, type WebApp } from "./api";
import { authDomain, erc1271Checker } from "../protocol/auth";
import type { ExecutorName, JobKind, RunnerConfig, WorkerConfig } from "./config";
import { DB_FILE_NAME, openWorkerDb, type WorkerDb } from "./db";
import { createEventHandler, ingestedTopics, jobMarketInterface, registryInterface } from "./events";
import { warnIfArmed } from "./faults";
import { createHeadsSubscriber, type HeadsSubscriber } from "./heads";
import { createIngestor, type Ingestor } from "./ingest";
import { createJobsRepo, inputRef, weightsRef, type JobsRepo } from "./jobs";
import type { Log } from "./log";
import { Counter, Gauge, Histogram, Registry } from "./metrics";
import { createStanding, type Standing } from "./standing";
import { createPipeline, type Pipeline } from "./pipeline";
import { createProvider, assertChainId, assertDeployment, automineWarning } from "./rpc";
import { createSender, type Sender } from "./sender";
import { createLocalArtifactStore, watchedStore, type ArtifactStore } from "./store";
import { createDiskGuard, type DiskGuard } from "./disk";
import { sweepJobDirs } from "./job-dirs";

export interface WorkerOptions {
  config: WorkerConfig;
  log: Log;
  /** The artifact store; several workers of one operator may share one (default: <dataDir>/artifacts). */
  store?: ArtifactStore;
  /** Overrides the executor of the configuration (tests). */
  executor?: Executor;
  /** Pipeline poll interval (default: the ingestion poll interval). */
  pipelinePollMs?: number;
  /** The marketplace web app to serve from the API (posthuman up). */
  web?: WebApp;
}

export interface Worker {
  readonly address: string;
  readonly apiUrl: string | undefined;
  readonly db: WorkerDb;
  readonly jobs: JobsRepo;
  readonly pipeline: Pipeline;
  readonly ingestor: Ingestor;
  /** New heads over the configured WebSocket, which wake ingestion early; undefined without `rpc.wsUrl`. */
  readonly heads: HeadsSubscriber | undefined;
  readonly sender: Sender;
  readonly store: ArtifactStore;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The builtin runtime's device (`executor.builtin.device`, else POSTHUMAN_ML_DEVICE, else cpu), checked now: a host
 * without the GPU it is told to use fails at start-up, naming what is missing, instead of failing every job.
 */
export function builtinDevice(device: string | undefined): Device {
  const name = device ?? process.env.POSTHUMAN_ML_DEVICE;
  const st = deviceStatus(normalizeDevice(name));
  if (st.available) return st.device;
  throw new MlError(
    "DEVICE_UNAVAILABLE",
    `the builtin runtime cannot run on device "${name}": ${st.reason}. Install what is missing, or start the worker ` +
      `with --device cpu (POSTHUMAN_WORKER_DEVICE=cpu; "executor": {"builtin": {"device": "cpu"}} in its config file)`,
    { device: st.device },
  );
}

/** The executor of each job kind the worker takes (config `executor.kind`, `executor.byKind.<kind>`). */
export function makeExecutor(cfg: RunnerConfig): Executor {
  const timeoutSec = Math.ceil(cfg.limits.jobTimeoutMs / 1000);
  const maxMemoryBytes = cfg.limits.maxMemoryBytes;
  const made = new Map<ExecutorName, Executor>();
  const make = (name: ExecutorName): Executor => {
    let e = made.get(name);
    if (e) return e;
    if (name === "external") {
      const x = cfg.executor as { command: string; args: string[] };
      e = new ExternalExecutor({ command: x.command, args: x.args, timeoutSec, maxMemoryBytes });
    } else if (name === "pytorch") {
      // Probes the Python now: a host without torch fails at start-up, naming the Python it tried. Jobs run in a child.
      e = torchProcessExecutor({ ...cfg.executor.torch, timeoutSec, maxMemoryBytes });
    } else {
      const device = builtinDevice(cfg.executor.builtin?.device);
      e = builtinProcessExecutor({
        device,
        threads: cfg.executor.builtin?.threads,
        timeoutSec,
        maxMemoryBytes,
        cacheDir: path.join(cfg.dataDir, "ml-cache"),
        cacheMaxBytes: cfg.limits.modelCacheBytes,
      });
    }
    made.set(name, e);
    return e;
  };
  const byKind: Partial<Record<JobKind, Executor>> = {};
  for (const k of cfg.capabilities.jobKinds) byKind[k] = make(cfg.executor.byKind?.[k] ?? cfg.executor.kind);
  return made.size === 1 ? [...made.values()][0] : new KindRouter(byKind);
}

export async function createWorker(o: WorkerOptions): Promise<Worker> {
  const cfg = o.config;
  const log = o.log;
  warnIfArmed(log);
  const marketAddress = cfg.chain.contracts.JobMarket;
  const registryAddress = cfg.chain.contracts.ModelRegistry;
  if (!marketAddress || !registryAddress) {
    throw new Error(
      `The address book ${cfg.chain.addressBookFile} has no JobMarket/ModelRegistry: deploy PostHuman first.`,
    );
  }
  const provider = createProvider({ url: cfg.rpc.url, chainId: cfg.chain.chainId, timeoutMs: cfg.rpc.timeoutMs });
  await assertChainId(provider, cfg.chain.chainId, cfg.rpc.url);
  fs.mkdirSync(cfg.dataDir, { recursive: true });
  const db = openWorkerDb({ file: path.join(cfg.dataDir, DB_FILE_NAME) });
  const jobs = createJobsRepo(db);
  const disk = createDiskGuard({ dir: cfg.dataDir, log, onFull: () => sweepJobDirs(cfg.dataDir, jobs, log) });
  sweepJobDirs(cfg.dataDir, jobs, log); // the folders of jobs that ended while the worker was down
  const store = watchedStore(o.store ?? createLocalArtifactStore({ dir: cfg.storeDir }), (e) => disk.noteFull(e));
  const wallet = new ethers.Wallet(cfg.signer.privateKey.reveal());
  const sender = createSender({
    provider,
    db,
    wallet,
    chainId: cfg.chain.chainId,
    log,
    interfaces: [jobMarketInterface, registryInterface],
  });
  const market = JobMarket__factory.connect(marketAddress, provider);
  const registry = ModelRegistry__factory.connect(registryAddress, provider);
  await assertDeployment(provider, market, registryAddress, cfg.chain.addressBookFile);
  // A dev chain that mines only on demand puts no block on a request: confirmations would wait for someone else's
  // transaction. It is ingested to its head (nothing there can reorg).
  const automine = await automineWarning(provider, cfg.ingest.confirmations);
  if (automine) log.warn({ confirmations: cfg.ingest.confirmations }, automine);
  const ingestCfg = automine ? { ...cfg, ingest: { ...cfg.ingest, confirmations: 0 } } : cfg;

  // The event handler wakes the pipeline, which is created after it.
  const late: { pipeline?: Pipeline } = {};
  const { ingestor, heads } = createIngestion(
    ingestCfg,
    log,
    provider,
    db,
    marketAddress,
    registryAddress,
    wallet.address,
    () => late.pipeline?.wake(),
  );
  const { metrics, jobDuration, weighed } = workerMetrics(jobs, ingestor, heads);
  for (const m of disk.metrics) metrics.add(m);
  const executor = o.executor ?? makeExecutor(cfg);
  const ofKind = (k: JobKind) => (executor instanceof KindRouter ? executor.byKind[k] : undefined) ?? executor;
  const runtimes = Object.fromEntries(
    cfg.capabilities.jobKinds.map((k) => [k, `${ofKind(k).id} ${ofKind(k).runtimeId}`]),
  );
  log.info({ runtimes }, "executors ready (each kind's receipts name this runtime id)");
  let apiUrl: string | undefined;
  const standing = createStanding({
    market,
    self: wallet.address,
    sender,
    log,
    url: () => cfg.http.publicUrl ?? apiUrl,
  });
  const pipeline = createPipeline({
    jobs,
    store,
    sender,
    market,
    registry,
    executor,
    self: wallet.address,
    dataDir: cfg.dataDir,
    kinds: cfg.capabilities.jobKinds,
    jobTimeoutMs: cfg.limits.jobTimeoutMs,
    policy: cfg.policy,
    throughput: createThroughput(db),
    pollMs: o.pipelinePollMs ?? cfg.ingest.pollIntervalMs,
    log,
    onJobDone: (row, runMs) => jobDuration.observe(runMs / 1000, { kind: row.kind }),
    onWeighed: (row) => weighed.inc({ kind: row.kind }),
    disk,
    standing: (fee) => standing.problem(fee),
  });
  late.pipeline = pipeline;

  const w: WorkerKit = {
    cfg,
    log,
    provider,
    db,
    jobs,
    store,
    wallet,
    sender,
    market,
    marketAddress,
    registry,
    metrics,
    ingestor,
    disk,
  };
  const server: http.Server = createApiServer(apiDeps(w, pipeline, o.web, standing), (e) =>
    log.error({ err: (e as Error).message }, "API error"),
  );

  return {
    address: wallet.address,
    get apiUrl() {
      return apiUrl;
    },
    db,
    jobs,
    pipeline,
    ingestor,
    heads,
    sender,
    store,
    async start() {
      await sender.init();
      apiUrl = await listen(server, cfg.http.host, cfg.http.port);
      log.info({ api: apiUrl, worker: wallet.address }, "worker API listening");
      await standing
        .register(true)
        .catch((e: Error) =>
          log.warn({ err: e.message }, "could not register the API endpoint on chain: it is tried again before claims"),
        );
      const problem = await standing.status().catch(() => undefined);
      if (problem) log.warn({ code: problem.code }, `this worker claims no job for now: ${problem.reason}`);
      ingestor.start();
      heads?.start();
      pipeline.start();
    },
    async stop() {
      server.close();
      server.closeAllConnections();
      const headsStopped = heads?.stop();
      // The pipeline's pass may wait on a chain action that is not getting mined: closing the sender ends that wait
      // (the action stays recorded and resumes at the next start), so stop() cannot hang on it.
      const pipelineStopped = pipeline.stop();
      sender.close();
      await pipelineStopped;
      await ingestor.stop();
      await headsStopped;
      db.close();
      provider.destroy();
    },
  };
}

/** The worker's parts that its API and its registration use. */
interface WorkerKit {
  cfg: WorkerConfig;
  log: Log;
  provider: JsonRpcProvider;
  db: WorkerDb;
  jobs: JobsRepo;
  store: ArtifactStore;
  wallet: ethers.Wallet;
  sender: Sender;
  market: JobMarket;
  marketAddress: string;
  registry: ModelRegistry;
  metrics: Registry;
  ingestor: Ingestor;
  disk: DiskGuard;
}

/**
 * The ingestor of the market's and the registry's events, and the optional new-heads subscriber (from `rpc.wsUrl`):
 * a block announced over the WebSocket starts an ingestion round at once; polling goes on regardless.
 */
function createIngestion(
  cfg: WorkerConfig,
  log: Log,
  provider: JsonRpcProvider,
  db: WorkerDb,
  marketAddress: string,
  registryAddress: string,
  self: string,
  onChange: () => void,
): { ingestor: Ingestor; heads: HeadsSubscriber | undefined } {
  const handler = createEventHandler({ jobMarket: marketAddress, registry: registryAddress, self, onChange });
  const ingestor = createIngestor({
    provider,
    db,
    addresses: [marketAddress, registryAddress],
    topics: [ingestedTopics()],
    startBlock: cfg.chain.startBlock,
    confirmations: cfg.ingest.confirmations,
    pollMs: cfg.ingest.pollIntervalMs,
    maxChunk: cfg.ingest.maxChunkBlocks,
    chainId: cfg.chain.chainId,
    handler,
    log,
  });
  const heads = cfg.rpc.wsUrl
    ? createHeadsSubscriber({ url: cfg.rpc.wsUrl, chainId: cfg.chain.chainId, onHead: () => ingestor.wake(), log })
    : undefined;
  return { ingestor, heads };
}

/**
 * The worker's metrics: job run time, new jobs weighed for a claim, the WebSocket's state, jobs by state, ingestion
 * lag and RPC errors.
 */
function workerMetrics(
  jobs: JobsRepo,
  ingestor: Ingestor,
  heads: HeadsSubscriber | undefined,
): { metrics: Registry; jobDuration: Histogram; weighed: Counter } {
  const metrics = new Registry();
  const jobDuration = metrics.add(
    new Histogram(
      "posthuman_job_run_seconds",
      "Executor time of completed jobs",
      [0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
    ),
  );
  const weighed = metrics.add(
    new Counter("posthuman_claim_weighings_total", "New jobs weighed for a claim (a few chain reads each), by kind"),
  );
  // Added to the registry after the lag gauge below, which brings it up to date when /metrics renders.
  const rpcErrors = new Counter("posthuman_rpc_errors_total", "Failed RPC calls and rounds of ingestion");
  if (heads) {
    const wsFailures = new Counter(
      "posthuman_ws_failures_total",
      "New-heads WebSocket connections that failed or dropped",
    );
    // The gauge renders first and brings the counter up to date.
    metrics.add(
      new Gauge("posthuman_ws_connected", "1 while subscribed to new heads over the WebSocket, else 0", (g) => {
        const s = heads.status();
        g.set(s.connected ? 1 : 0);
        const seen = wsFailures.get();
        if (s.failures > seen) wsFailures.inc({}, s.failures - seen);
      }),
    );
    metrics.add(wsFailures);
  }
  metrics.add(
    new Gauge("posthuman_jobs", "Jobs known to this worker, by local state", (g) => {
      g.reset();
      for (const [state, n] of Object.entries(jobs.countByState())) g.set(n, { state });
    }),
  );
  metrics.add(
    new Gauge("posthuman_ingestion_lag_blocks", "Blocks between the chain head and the last ingested block", (g) => {
      const s = ingestor.status();
      g.set(s.lagBlocks ?? 0);
      const seen = rpcErrors.get();
      if (s.rpcErrors > seen) rpcErrors.inc({}, s.rpcErrors - seen);
    }),
  );
  metrics.add(rpcErrors);
  return { metrics, jobDuration, weighed };
}

/** Failed ingestion rounds in a row after which /healthz says the worker is not ingesting (`ok: false`). */
const INGEST_DOWN_ROUNDS = 3;

/** What the operator API serves and calls: the job views, the upload hooks, health, metrics and limits. */
const unknownStanding = (e: Error) => ({ code: null, reason: e.message });

function apiDeps(w: WorkerKit, pipeline: Pipeline, web: WebApp | undefined, standing: Standing): ApiDeps {
  const { cfg, jobs, store, wallet, registry } = w;
  const held = { jobs, store, dataDir: cfg.dataDir };
  return {
    domain: authDomain(cfg.chain.chainId, w.marketAddress),
    store,
    getJob: async (jobId) => jobView(jobs, pipeline, jobId),
    contractSignatureValid: erc1271Checker(w.provider),
    checkInput: (jobId, bytes) => checkJobUpload(held, jobId, bytes),
    checkModelInput: (modelId, params, bytes) => checkModelInput(held, modelId, params, bytes),
    async quoteJob(modelId, job) {
      const dir = await heldModelDir(held, modelId);
      return dir ? pipeline.quote(modelId, dir, job) : undefined;
    },
    async modelShape(modelId) {
      const dir = await heldModelDir(held, modelId);
      if (!dir) return undefined;
      try {
        const { config } = modelShape(dir); // the pipeline's admission reads the same, cached per folder
        const { maxTokenBytes } = await cachedTokenizer(dir);
        return {
          modelId: modelId.toString(),
          nPositions: config.n_positions,
          vocabSize: config.vocab_size,
          maxTokenBytes,
        };
      } catch {
        return undefined; // not readable here: nothing is told
      }
    },
    async inputRefused(jobId, problem) {
      pipeline.refuseInput(jobId, problem);
    },
    inputReceived: (jobId, artifact) => inputReceived(w, pipeline, jobId, artifact),
    inputAckAgain: async (jobId) => ({ inputAck: await ackOf(w, jobId, w.jobs.get(jobId)?.input_hash as string) }),
    modelOwner: async (modelId) => {
      try {
        return (await registry.getModel(modelId)).owner;
      } catch {
        return undefined;
      }
    },
    acceptModel: (modelId, uploader, dir) => acceptModel(w, pipeline, modelId, uploader, dir),
    async inspectModel(dir) {
      const [weightsRoot, cfgHash, tokenizerHash] = [
        await loadableRoot(dir),
        await configHash(dir),
        await onChainTokenizerHash(dir),
      ];
      return { weightsRoot, configHash: cfgHash, tokenizerHash };
    },
    health: async () => {
      const ingestion = w.ingestor.status();
      // Whether it claims jobs at all (its stake against the market's minimum, its endpoint registered): a worker
      // that claims none is alive all the same, so this is no part of `ok`; a monitor reads `standing.ok`.
      // (not waiting on a slow RPC node longer than 2 s: /healthz answers all the same)
      const slow = new Promise<never>((_, no) => setTimeout(no, 2000, new Error("the chain took over 2 s")).unref());
      const problem = await Promise.race([standing.status(), slow]).catch(unknownStanding);
      // ok is false while the data dir is full (disk says which folder) or ingestion failed 3 rounds in a row (the
      // RPC node down, or a handler's error: ingestion.lastError says which)
      const ingesting = ingestion.consecutiveFailures < INGEST_DOWN_ROUNDS;
      return {
        ok: w.disk.writable() && ingesting,
        ingesting,
        disk: w.disk.status(),
        worker: wallet.address,
        chainId: cfg.chain.chainId,
        ingestion,
        jobs: jobs.countByState(),
        limits: { maxInputBytes: cfg.limits.maxUploadBytes }, // a client refuses a larger input before it pays
        standing: problem ? { ok: problem.code === null ? null : false, ...problem } : { ok: true },
      };
    },
    metrics: () => w.metrics.render(),
    limits: {
      maxInputBytes: cfg.limits.maxUploadBytes,
      maxModelBytes: cfg.capabilities.maxModelBytes,
      maxInspectBytes: cfg.api.maxInspectBytes,
    },
    nonces: createNonceBook(w.db),
    quotas: createQuotas(cfg.api.quota),
    tmpDir: path.join(cfg.dataDir, "uploads"),
    web,
  };
}

/** A job as the API shows it; undefined for a job this worker does not know, or one that vanished. */
async function jobView(jobs: JobsRepo, pipeline: Pipeline, jobId: bigint): Promise<JobView | undefined> {
  const row = jobs.get(jobId);
  // A vanished job is no job: its id may come back with another request, which the API must wait for.
  if (!row || row.state === "vanished") return undefined;
  return {
    requester: row.requester,
    inputHash: row.input_hash,
    // "lost": another worker claimed it, perhaps one of this operator's sharing the store (it reads the input ref).
    acceptsInput: (row.state === "seen" || row.state === "claimed" || row.state === "lost") && !row.input_artifact,
    hasInput: !!row.input_artifact,
    resultArtifact: row.result_artifact ?? undefined,
    status: {
      state: row.state,
      kind: row.kind,
      modelId: row.model_id,
      worker: row.worker,
      outputHash: row.output_hash,
      childModelId: row.child_model_id,
      error: row.error_code ? { code: row.error_code, message: publicMessage(row.error_message) } : null,
      progress: pipeline.progress(row.job_id) ?? null,
    },
  };
}

/** Records a job's uploaded input (and its ref in the store), wakes the pipeline, and signs the input's receipt. */
async function inputReceived(
  w: WorkerKit,
  pipeline: Pipeline,
  jobId: bigint,
  artifact: string,
): Promise<{ inputAck: string }> {
  const { jobs, store } = w;
  const row = jobs.get(jobId);
  jobs.update(jobId, { input_artifact: artifact });
  // The operator's other workers sharing the store find it there if one of them wins the claim.
  if (row) await store.setRef(inputRef(row), artifact);
  pipeline.inputArrived(jobId);
  // Proof for the requester that the input arrived: failing the job for its input after this is disputable.
  const inputHash = row?.input_hash ?? `0x${artifact}`;
  return { inputAck: await ackOf(w, jobId, inputHash) };
}

/** The worker's signed InputReceived acknowledgement of a job's input. */
function ackOf(w: WorkerKit, jobId: bigint, inputHash: string): Promise<string> {
  return signInputAck(w.wallet, inputAckDomain(w.cfg.chain.chainId, w.marketAddress), jobId, inputHash);
}

/**
 * Stores a model folder uploaded by the model's owner, once its weights root and config hash match the chain's
 * record, and serves it for that model id.
 */
async function acceptModel(
  w: WorkerKit,
  pipeline: Pipeline,
  modelId: bigint,
  uploader: string,
  dir: string,
): Promise<{ weightsRoot: string }> {
  const { jobs, store, registry } = w;
  let onChain;
  try {
    onChain = await registry.getModel(modelId);
  } catch {
    throw new ApiError(404, "UNKNOWN_MODEL", `model ${modelId} is not registered on chain`);
  }
  if (onChain.owner.toLowerCase() !== uploader.toLowerCase()) {
    throw new ApiError(403, "NOT_OWNER", `the upload is signed by ${uploader}, not by the model's owner`);
  }
  const root = await loadableRoot(dir);
  // The folder must be what the chain records: its tensors, its architecture and its tokenizer.
  const checks: [string, string, string, string][] = [
    ["WEIGHTS_ROOT_MISMATCH", "weights root", root, onChain.weightsRoot],
    ["CONFIG_HASH_MISMATCH", "config hash", await configHash(dir), onChain.configHash],
    ["TOKENIZER_HASH_MISMATCH", "tokenizer hash", await onChainTokenizerHash(dir), onChain.tokenizerHash],
  ];
  for (const [code, what, folder, chain] of checks) {
    if (folder.toLowerCase() === chain.toLowerCase()) continue;
    const tokenizerHint =
      code === "TOKENIZER_HASH_MISMATCH"
        ? " (0 stands for GPT-2's own tokenizer; a model with another one is published with publishModelWithTokenizer)"
        : "";
    throw new ApiError(422, code, `the folder's ${what} is ${folder}, the chain records ${chain}${tokenizerHint}`);
  }
  const tree = await store.putTree(dir, { maxBytes: w.cfg.capabilities.maxModelBytes });
  jobs.setTree(root, tree.root, `upload:${uploader}`);
  // Served for this model id only (never for another model that registers the same root), by every worker
  // of the operator sharing the store.
  jobs.setUpload(modelId, root, tree.root, uploader);
  await store.setRef(modelRef(modelId, root), tree.root);
  await store.setRef(weightsRef(root), tree.root);
  pipeline.wake();
  return { weightsRoot: root };
}

/** The weights root of an uploaded folder, refusing one that is not a GPT-2 checkpoint to serve (servableProblem). */
async function loadableRoot(dir: string): Promise<string> {
  let problem: string | undefined;
  try {
    problem = servableProblem(loadCheckpoint(dir));
  } catch (e) {
    problem = (e as Error).message;
  }
  if (problem) throw new ApiError(422, "MODEL_UNLOADABLE", `the folder is not a GPT-2 checkpoint to serve: ${problem}`);
  return weightsRoot(dir);
}

/**
 * A job's error message as the public may see it: absolute paths (the worker's folders, temp files) are cut to their
 * last component, so `GET /jobs/:id` never shows how the operator's disk is laid out.
 */
export function publicMessage(message: string | null): string | null {
  if (message === null) return null;
  return message.replace(/(?:[A-Za-z]:)?(?:[\\/][^\s"'`:,;()\\/]+){2,}[\\/]?/g, (p) => {
    const parts = p.split(/[\\/]/).filter(Boolean);
    return parts.length ? `…/${parts[parts.length - 1]}` : p;
  });
}
