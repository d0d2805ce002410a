import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const HARDHAT_BIN = path.join(ROOT, "node_modules", ".bin", "hardhat");
/** Preloaded into the node: it exits when its stdin pipe closes, i.e. when this process ends, even by SIGKILL. */
const EXIT_WITH_PARENT = path.join(__dirname, "exit-with-parent.cjs");

/** Private keys of the default accounts of `hardhat node` (public test mnemonic "test test … junk"; never fund them). */
export const HARDHAT_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
] as const;

export interface HardhatNode {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** ws://127.0.0.1:<port> (the same server) */
  readonly wsUrl: string;
  readonly port: number;
  readonly pid: number;
  /** The last lines the node printed, for a failing test's message. */
  output(): string;
  /** Stops the node (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

/**
 * Starts a real `hardhat node` (this repository's config, chain 31337) on a free port of 127.0.0.1 and resolves once
 * it serves JSON-RPC. The process is `node node_modules/.bin/hardhat` itself (not an npx wrapper), so stopping its pid
 * stops the node. Nodes left running are killed when the test process exits, and exit by themselves when it is killed
 * (their stdin, a pipe from this process, closes: see exit-with-parent.cjs).
 */
export async function startHardhatNode(opts: { port?: number; timeoutMs?: number } = {}): Promise<HardhatNode> {
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await launch(port, opts.timeoutMs ?? 60_000);
    } catch (e) {
      // Another process may have taken the port between freePort() and the node's bind: try another one.
      if (opts.port !== undefined || attempt >= 2 || !/EADDRINUSE|address already in use/i.test(String(e))) throw e;
    }
  }
}

function launch(port: number, timeoutMs: number): Promise<HardhatNode> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("HARDHAT_")) delete env[k]; // the parent's `hardhat test` settings
  env.POSTHUMAN_CHAIN_ONLY = "1"; // a bare chain: hardhat.config.ts loads no toolbox plugin
  const child = spawn(
    process.execPath,
    ["--require", EXIT_WITH_PARENT, HARDHAT_BIN, "node", "--hostname", "127.0.0.1", "--port", String(port)],
    { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] },
  );
  child.stdin?.on("error", () => undefined); // nothing is ever written to it
  running.add(child);
  let tail = "";
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString("utf8")).slice(-8000); // the node logs every call: read it all, keep the end
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  exited.then(() => running.delete(child));

  const node: HardhatNode = {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    output: () => tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };

  return new Promise<HardhatNode>((resolve, reject) => {
    const deadline = setTimeout(() => {
      void node.stop();
      reject(new Error(`hardhat node did not start within ${timeoutMs} ms on port ${port}:\n${tail}`));
    }, timeoutMs);
    const onData = (): void => {
      if (tail.includes("Started HTTP and WebSocket JSON-RPC server")) {
        clearTimeout(deadline);
        child.stdout?.off("data", onData);
        resolve(node);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(deadline);
      reject(
        new Error(`hardhat node exited (code ${code}, signal ${signal}) before serving on port ${port}:\n${tail}`),
      );
    });
  });
}
