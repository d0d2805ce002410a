/**
 * The embedded local chain of `posthuman up`: a `hardhat node` child process on an internal port, behind a
 * JSON-RPC proxy on the public port that journals every state-changing request. Hardhat cannot save its state,
 * so on the next start the journal is replayed onto a fresh node with the same genesis date and the same block
 * timestamps, which rebuilds the same chain (same blocks, same hashes, same addresses); then its clock is set to the
 * wall clock, so that the time it was down counts. The node exits with this process, however this one ends.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { processAlive } from "../ml/serving-cache";

const PROJECT_ROOT = path.join(__dirname, "..", "..");

/** Methods that only read; everything else may change the chain and is journaled. */
const READ_ONLY = new Set([
  "eth_chainId",
  "net_version",
  "web3_clientVersion",
  "eth_blockNumber",
  "eth_call",
  "eth_estimateGas",
  "eth_gasPrice",
  "eth_maxPriorityFeePerGas",
  "eth_feeHistory",
  "eth_accounts",
  "eth_getBalance",
  "eth_getCode",
  "eth_getStorageAt",
  "eth_getTransactionCount",
  "eth_getBlockByNumber",
  "eth_getBlockByHash",
  "eth_getTransactionByHash",
  "eth_getTransactionReceipt",
  "eth_getLogs",
  "eth_syncing",
  "eth_mining",
  "net_listening",
  "eth_newFilter",
  "eth_newBlockFilter",
  "eth_getFilterChanges",
  "eth_getFilterLogs",
  "eth_uninstallFilter",
  "eth_signTypedData_v4",
  "eth_sign",
  "personal_sign",
  "hardhat_metadata",
  "debug_traceTransaction",
]);

/** Largest JSON-RPC request body the proxy accepts. */
const MAX_BODY = 16 * 1024 * 1024;

interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: number | string | null;
  method: string;
  params?: unknown[];
}
interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}
interface JournalEntry {
  method: string;
  params: unknown[];
  /** Latest block after the call: its number, timestamp and hash. */
  block: number;
  timestamp: number;
  hash: string;
}
interface Genesis {
  initialDate: string;
}

export interface LocalChainOptions {
  dataDir: string;
  host?: string;
  port?: number;
  log?: (line: string) => void;
  /**
   * Asked once the chain's folder is locked (so never while another process runs this chain): a reason to discard the
   * recorded chain and start a fresh one (the reason is logged), or undefined to keep it.
   */
  discard?: () => string | undefined;
}

export interface LocalChain {
  url: string;
  /** Journal entries replayed at start (0 on a fresh chain). */
  replayed: number;
  /** True when the replay rebuilt exactly the recorded chain (same latest block hash). */
  restored: boolean;
  stop(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await res.json()) as JsonRpcResponse;
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

async function latestBlock(url: string): Promise<{ block: number; timestamp: number; hash: string }> {
  const b = (await rpc(url, "eth_getBlockByNumber", ["latest", false])) as {
    number: string;
    timestamp: string;
    hash: string;
  };
  return { block: Number(b.number), timestamp: Number(b.timestamp), hash: b.hash };
}

/**
 * Spawns the `hardhat node`. Its stdin is a pipe this process never writes to, and exit-with-parent.cjs makes it exit
 * when that pipe closes: it ends with this process however this one ends (a SIGKILL leaves no orphan holding its port),
 * though a Ctrl-C does not reach it (its own process group): `up` stops it after its worker.
 */
function startNode(port: number, initialDate: string): ChildProcess {
  const bin = path.join(PROJECT_ROOT, "node_modules", ".bin", "hardhat");
  const exitWithParent = path.join(PROJECT_ROOT, "offchain", "devnet", "exit-with-parent.cjs");
  const child = spawn(
    process.execPath,
    ["--require", exitWithParent, bin, "node", "--hostname", "127.0.0.1", "--port", String(port)],
    {
      cwd: PROJECT_ROOT,
      // POSTHUMAN_CHAIN_ONLY: a bare chain, hardhat.config.ts loads no toolbox plugin (a third of the start's CPU).
      env: {
        ...process.env,
        POSTHUMAN_CHAIN_INITIAL_DATE: initialDate,
        HARDHAT_NETWORK: "hardhat",
        POSTHUMAN_CHAIN_ONLY: "1",
      },
      stdio: ["pipe", "pipe", "pipe"],
      // A process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group) reaches `up` alone, which
      // stops its worker before the chain, instead of killing the chain under a worker still talking to it.
      detached: true,
    },
  );
  child.stdin?.on("error", () => undefined); // the node gone first: nothing is ever written
  return child;
}

/**
 * Sets the node's clock to the wall clock when it is behind, as a real chain's clock counts the time it was down: a
 * restored chain's clock otherwise runs on from its last replayed block (and a fresh one's from its genesis date,
 * taken a few seconds before the node started). The next block's timestamp is then the wall clock's (or its parent's
 * + 1). Nothing is mined and nothing journaled: every mined block's timestamp is journaled, and the replay pins it.
 * Returns the seconds the clock moved.
 */
async function catchUpWithWallClock(url: string): Promise<number> {
  // evm_increaseTime answers the node's offset from the wall clock (seconds), after the increase.
  const offset = Number(await rpc(url, "evm_increaseTime", [0]));
  if (!(offset < 0)) return 0; // on time, or ahead (a test's evm_increaseTime): kept
  await rpc(url, "evm_increaseTime", [-offset]);
  return -offset;
}

async function waitReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`hardhat node exited with ${child.exitCode}:\n${output().slice(-2000)}`);
    try {
      await rpc(url, "eth_chainId");
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  throw new Error(`hardhat node did not answer on ${url} within 90 s:\n${output().slice(-2000)}`);
}

function readJournal(file: string): JournalEntry[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const entries: JournalEntry[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      break; // a torn last line from a crash: everything before it is intact
    }
  }
  return entries;
}

/** Replays journaled requests with their original block timestamps; returns whether the chain matches. */
async function replay(url: string, entries: JournalEntry[]): Promise<boolean> {
  for (const e of entries) {
    const head = await latestBlock(url);
    if (e.block > head.block && e.method !== "evm_setNextBlockTimestamp") {
      // The call mined block(s): pin the timestamp of the first one to the recorded one. Calls that mine
      // several blocks (hardhat_mine) carry their own interval in their params.
      if (e.block === head.block + 1 && e.timestamp >= head.timestamp) {
        await rpc(url, "evm_setNextBlockTimestamp", [e.timestamp]);
      }
    }
    try {
      await rpc(url, e.method, e.params);
    } catch {
      // The original call failed too (a reverted transaction is still mined); the block check below decides.
    }
  }
  if (entries.length === 0) return true;
  const last = entries[entries.length - 1];
  const head = await latestBlock(url);
  return head.block === last.block && head.hash === last.hash;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error(`request body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Starts (or restores) the embedded chain and serves it on host:port (default 127.0.0.1:8545). */
export async function startLocalChain(opts: LocalChainOptions): Promise<LocalChain> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 8545;
  const log = opts.log ?? (() => undefined);
  const dir = path.join(opts.dataDir, "chain");
  fs.mkdirSync(dir, { recursive: true });
  // One chain per data directory: a second one would replay and rewrite the journal the first is appending to.
  const unlock = lockDir(dir, opts.dataDir);
  try {
    return await start(opts, host, port, log, dir, unlock);
  } catch (e) {
    unlock();
    throw e;
  }
}

/**
 * Takes the chain folder's lock file (the holder's pid), or refuses while a live process holds it; returns the
 * release. A lock left by a process that died is taken over.
 */
function lockDir(dir: string, dataDir: string): () => void {
  const file = path.join(dir, "lock");
  for (let tries = 0; ; tries++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || tries > 0) throw e;
      const pid = Number(fs.readFileSync(file, "utf8").trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new Error(
          `The data directory ${path.resolve(dataDir)} is in use by process ${pid} (a running posthuman up): ` +
            `stop it first, or pass another --data-dir (if process ${pid} is something else, delete ${file}).`,
        );
      }
      fs.rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  const release = () => {
    try {
      if (fs.readFileSync(file, "utf8").trim() === String(process.pid)) fs.rmSync(file, { force: true });
    } catch {
      /* already gone */
    }
  };
  process.once("exit", release);
  return () => {
    process.removeListener("exit", release);
    release();
  };
}

async function start(
  opts: LocalChainOptions,
  host: string,
  port: number,
  log: (line: string) => void,
  dir: string,
  unlock: () => void,
): Promise<LocalChain> {
  const genesisFile = path.join(dir, "genesis.json");
  const journalFile = path.join(dir, "journal.jsonl");

  const discarded = opts.discard?.();
  if (discarded) {
    log(discarded);
    fs.rmSync(genesisFile, { force: true });
    fs.rmSync(journalFile, { force: true });
  }
  let genesis: Genesis;
  if (fs.existsSync(genesisFile)) {
    genesis = JSON.parse(fs.readFileSync(genesisFile, "utf8")) as Genesis;
  } else {
    genesis = { initialDate: new Date().toISOString() };
    fs.writeFileSync(genesisFile, JSON.stringify(genesis) + "\n");
    fs.rmSync(journalFile, { force: true });
  }

  const internalPort = await freePort("127.0.0.1");
  const internal = `http://127.0.0.1:${internalPort}`;
  const child = startNode(internalPort, genesis.initialDate);
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const stopChild = () => {
    if (child.exitCode === null) child.kill("SIGTERM");
  };
  process.once("exit", stopChild);

  try {
    await waitReady(internal, child, () => output);
  } catch (e) {
    stopChild();
    throw e;
  }

  const entries = readJournal(journalFile);
  let restored = true;
  if (entries.length) {
    log(`Restoring the local chain: replaying ${entries.length} journaled requests…`);
    restored = await replay(internal, entries);
    if (!restored) {
      log(
        "WARNING: the replayed chain differs from the recorded one (its journal may be damaged). " +
          `Delete ${dir} to start a fresh chain.`,
      );
    }
  }
  const behind = await catchUpWithWallClock(internal);
  if (entries.length && behind > 1)
    log(`Chain clock moved ${behind} s forward to the wall clock: the time it was down counts, as on a real chain.`);
  // Rewrite the journal without a torn tail, then append to it.
  fs.writeFileSync(journalFile, entries.map((e) => JSON.stringify(e) + "\n").join(""));
  const journal = fs.openSync(journalFile, "a");

  // State-changing requests run one at a time so the journal's order is the execution order.
  let queue: Promise<unknown> = Promise.resolve();
  const forward = async (r: JsonRpcRequest): Promise<JsonRpcResponse> => {
    const call = async (): Promise<JsonRpcResponse> => {
      const res = await fetch(internal, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(r),
      });
      return (await res.json()) as JsonRpcResponse;
    };
    if (READ_ONLY.has(r.method)) return call();
    const run = queue.then(async () => {
      const response = await call();
      const head = await latestBlock(internal);
      const entry: JournalEntry = { method: r.method, params: r.params ?? [], ...head };
      fs.writeSync(journal, JSON.stringify(entry) + "\n");
      return response;
    });
    queue = run.catch(() => undefined);
    return run;
  };

  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json", "access-control-allow-origin": "*" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "access-control-allow-origin": "*",
        "access-control-allow-headers": "content-type",
        "access-control-allow-methods": "POST",
      });
      return res.end();
    }
    if (req.method !== "POST") return reply(405, { error: "JSON-RPC over POST only" });
    readBody(req)
      .then(async (body) => {
        const parsed = JSON.parse(body) as JsonRpcRequest | JsonRpcRequest[];
        if (Array.isArray(parsed)) {
          const out: JsonRpcResponse[] = [];
          for (const r of parsed) out.push(await forward(r));
          return reply(200, out);
        }
        return reply(200, await forward(parsed));
      })
      .catch((e: unknown) =>
        reply(200, { jsonrpc: "2.0", id: null, error: { code: -32700, message: (e as Error).message } }),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "EADDRINUSE"
          ? new Error(`Port ${port} on ${host} is in use: stop the other chain or pass --chain-port.`)
          : e,
      ),
    );
    server.listen(port, host, () => resolve());
  }).catch((e: unknown) => {
    stopChild();
    throw e;
  });

  return {
    url: `http://${host}:${(server.address() as net.AddressInfo).port}`,
    replayed: entries.length,
    restored,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await queue;
      fs.closeSync(journal);
      process.removeListener("exit", stopChild);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      unlock();
    },
  };
}
