import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { devWallet } from "../../../offchain/deploy/accounts";
import { CRASH_ENV } from "../../../offchain/worker/faults";
import { NAMES, type World } from "../../../offchain/devnet/world";

const ROOT = path.join(__dirname, "..", "..", "..");
const CLI = path.join(ROOT, "offchain", "cli", "posthuman.js");

export interface WorkerProcess {
  readonly pid: number;
  readonly apiUrl: string;
  /** Resolves when the process has exited, with its exit code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines it printed (its pino logs), for a failing test's message. */
  output(): string;
  /** SIGTERM (a clean stop), then SIGKILL after 10 s; resolves once it has exited. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

/**
 * Runs `posthuman worker` as its own process, configured the way an operator would (POSTHUMAN_WORKER_* variables),
 * for the account `who`, with its state in `dataDir` and its API on `port`. `crashAt` arms the fault-injection switch
 * (offchain/worker/faults.ts). Resolves once the API answers /healthz.
 */
export async function spawnWorker(
  w: World,
  o: { who: "worker" | "worker2"; dataDir: string; port: number; crashAt?: string; env?: Record<string, string> },
): Promise<WorkerProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("HARDHAT_") && !k.startsWith("POSTHUMAN_")) env[k] = v;
  }
  Object.assign(env, {
    POSTHUMAN_WORKER_RPC_URL: w.node.url,
    POSTHUMAN_WORKER_PRIVATE_KEY: devWallet(NAMES.indexOf(o.who)).privateKey,
    POSTHUMAN_WORKER_ADDRESS_BOOK: w.bookFile,
    POSTHUMAN_WORKER_DATA_DIR: o.dataDir,
    POSTHUMAN_WORKER_CONFIRMATIONS: "0",
    POSTHUMAN_WORKER_POLL_INTERVAL: "200ms",
    POSTHUMAN_WORKER_HTTP_PORT: String(o.port),
    POSTHUMAN_WORKER_LOG_LEVEL: "info",
    ...(o.crashAt ? { [CRASH_ENV]: o.crashAt } : {}),
    ...o.env,
  });
  const child = spawn(process.execPath, [CLI, "worker"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let tail = "";
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString("utf8")).slice(-6000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const apiUrl = `http://127.0.0.1:${o.port}`;
  const wp: WorkerProcess = {
    pid: child.pid as number,
    apiUrl,
    exited,
    output: () => tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  let dead = false;
  void exited.then(() => (dead = true));
  for (const end = Date.now() + 60_000; ;) {
    if (dead) throw new Error(`the worker process exited before serving its API:\n${tail}`);
    try {
      if ((await fetch(`${apiUrl}/healthz`)).ok) return wp;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) {
      await wp.stop();
      throw new Error(`the worker process did not serve its API within 60 s:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
