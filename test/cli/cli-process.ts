/**
 * Runs the `posthuman` command as a user would: a spawned `node offchain/cli/posthuman.js …` process, its one JSON
 * document read from stdout (--json), its logs from stderr. `startUp` runs `posthuman up` in the background on free
 * ports with its own data directory and address book. POSTHUMAN_TEST_TIMING=1 prints how long each command took.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export const BIN = path.join(__dirname, "..", "..", "offchain", "cli", "posthuman.js");

export interface CliRun<T = unknown> {
  args: string[];
  code: number | null;
  /** The JSON document printed on stdout, when there was one. */
  json: T;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs one command to its end. Never rejects on a non-zero exit: callers assert the code. `ctrlCWhen`: sends it SIGINT,
 * as Ctrl-C does, once its stderr matches.
 */
export function cli<T = unknown>(
  args: string[],
  o: { timeoutMs?: number; env?: NodeJS.ProcessEnv; ctrlCWhen?: RegExp } = {},
): Promise<CliRun<T>> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...o.env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    let interrupted = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (o.ctrlCWhen && !interrupted && o.ctrlCWhen.test(stderr)) interrupted = child.kill("SIGINT");
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 900_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      let json: unknown;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      const ms = Date.now() - started;
      if (process.env.POSTHUMAN_TEST_TIMING)
        process.stderr.write(
          `[${new Date().toISOString().slice(11, 19)}] ${(ms / 1000).toFixed(1)} s  ${args.filter((a) => !a.startsWith("/") && !a.startsWith("http")).join(" ")}\n`,
        );
      resolve({ args, code, json: json as T, stdout, stderr, ms });
    });
  });
}

/** Throws with the command's output unless it exited 0 with a JSON document. */
export function ok<T>(r: CliRun<T>): T {
  if (r.code !== 0 || r.json === undefined)
    throw new Error(
      `posthuman ${r.args.join(" ")} exited ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-5000)}`,
    );
  return r.json;
}

export interface UpJson {
  rpc: string;
  worker: string;
  /** The device the worker's builtin runtime runs jobs on. */
  device: string;
  /** The worker's log file (JSON lines, info and above). */
  workerLog: string;
  deployment: string;
  chainId: number;
  startBlock: number;
  contracts: Record<string, string>;
}

export interface UpProcess {
  up: UpJson;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts `posthuman up --json` on free ports; resolves once it printed its JSON document. With `terminal`, it runs in
 * a process group of its own and `stop()` sends SIGINT to that group, as Ctrl-C in a terminal does. `env` adds to the
 * environment (its worker reads POSTHUMAN_WORKER_* settings there).
 */
export function startUp(
  dataDir: string,
  deployment: string,
  timeoutMs = 180_000,
  extra: string[] = [],
  terminal = false,
  env: NodeJS.ProcessEnv = {},
): Promise<UpProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...[BIN, "--json", "--data-dir", dataDir, "--deployment", deployment, "up"],
        ...["--chain-port", "0", "--api-port", "0", ...extra],
      ],
      { stdio: ["ignore", "pipe", "pipe"], detached: terminal, env: { ...process.env, ...env } },
    );
    let stdout = "";
    let stderr = "";
    let done = false;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        if (terminal) process.kill(-child.pid!, "SIGINT");
        else child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      }
    };
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      void stop();
      reject(new Error(`posthuman up did not start in ${timeoutMs / 1000} s:\n${stderr.slice(-5000)}`));
    }, timeoutMs);
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (done) return;
      try {
        const up = JSON.parse(stdout) as UpJson;
        done = true;
        clearTimeout(timer);
        resolve({ up, child, stderr: () => stderr, stop });
      } catch {
        // not the whole document yet
      }
    });
    child.once("exit", (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`posthuman up exited ${code}:\n${stderr.slice(-5000)}`));
    });
  });
}
