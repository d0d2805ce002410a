/**
 * The `posthuman` command: `up` (a local marketplace), the user commands (commands.ts), `demo` and `worker`.
 * Modules that are heavy to load (the chain, the worker, the model runtime) are imported by the commands that use
 * them, so that every other command starts in about a second.
 */
import path from "node:path";
import { Command, Option } from "commander";
import { createOutput, reportError } from "./output";
import { addUserCommands, type Run } from "./commands";

/** Port of the worker's API that `up` serves and the user commands call (up.ts DEFAULT_API_PORT). */
const DEFAULT_API_PORT = 8550;

export interface GlobalOptions {
  worker: string;
  rpc: string;
  deployment?: string;
  account?: string;
  keyFile?: string;
  json: boolean;
  dataDir: string;
}

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/** Waits for Ctrl-C or SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const done = (s: string) => resolve(s);
    process.once("SIGINT", () => done("SIGINT"));
    process.once("SIGTERM", () => done("SIGTERM"));
  });
}

/**
 * The program. `workerFlags` declares the `worker` command's options (from worker-cmd.ts, which loads the whole
 * worker: main() passes them only when the command line names the worker).
 */
export function buildProgram(run: Run, workerFlags: readonly [string, string][] = []): Command {
  const program = new Command("posthuman")
    .description("PostHuman: pay on chain for training, inference and evaluation of language models (Ocean Protocol).")
    .option("--rpc <url>", "JSON-RPC endpoint of the chain", process.env.POSTHUMAN_RPC_URL ?? "http://127.0.0.1:8545")
    .option("--deployment <file>", "address book (default: deployments/<network>.json)")
    .option(
      "--account <name|index>",
      "dev account on a local chain: deployer, alice, bob, charlie, derek, elena, worker, treasury or 0–19",
    )
    .option("--key-file <file>", "file holding the signer's private key (or set POSTHUMAN_PRIVATE_KEY)")
    .option("--json", "print one JSON document on stdout (logs go to stderr)", false)
    .option(
      "--worker <url>",
      "the worker's API (or POSTHUMAN_WORKER_URL)",
      process.env.POSTHUMAN_WORKER_URL ?? `http://127.0.0.1:${DEFAULT_API_PORT}`,
    )
    .addOption(
      new Option(
        "--data-dir <dir>",
        "where `up` keeps the chain and the worker, and the other commands your copies of inputs and models (what `job verify` needs)",
      )
        .env("POSTHUMAN_HOME")
        .default(path.join(process.cwd(), ".posthuman")),
    )
    .showHelpAfterError();

  program
    .command("up")
    .description("start a local chain on 127.0.0.1:8545, deploy Ocean + PostHuman, and run a worker with its API")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--chain-port <port>", "JSON-RPC port of the local chain", "8545")
    .option("--api-port <port>", "port of the worker's API", String(DEFAULT_API_PORT))
    .option("--no-worker", "start the chain and the contracts only")
    .action(async (opts: { host: string; chainPort: string; apiPort: string; worker: boolean }, cmd: Command) =>
      run(async (out) => {
        const g = globals(cmd);
        const { up, describeUp } = await import("./up");
        const handle = await up(
          {
            dataDir: g.dataDir,
            host: opts.host,
            chainPort: Number(opts.chainPort),
            apiPort: Number(opts.apiPort),
            noWorker: !opts.worker,
            deploymentFile: g.deployment,
          },
          out,
        );
        out.result(
          {
            rpc: handle.chain.url,
            worker: handle.worker?.apiUrl,
            web: handle.webUrl,
            deployment: handle.deploymentFile,
            ...handle.book,
          },
          () => describeUp(handle),
        );
        const signal = await untilSignal();
        out.info(`${signal}: stopping…`);
        await handle.stop();
      }, cmd),
    );

  addUserCommands(program, run, (cmd) => globals(cmd));

  program
    .command("demo")
    .description(
      "the five-person story (Alice, Bob, Charlie, Derek, Elena) on a fresh embedded chain, every receipt verified",
    )
    .option("--steps <n>", "training steps of each finetune (Bob's, Charlie's)", "16")
    .option("--base-steps <n>", "training steps of Alice's M1 from its seed", "32")
    .option("--keep <dir>", "keep the demo's chain, models and worker data in this folder (default: a temp folder)")
    .action(async (opts: { steps: string; baseSteps: string; keep?: string }, cmd: Command) =>
      run(async (out) => {
        const { runDemo } = await import("./demo");
        const summary = await runDemo(out, {
          steps: Number(opts.steps),
          baseSteps: Number(opts.baseSteps),
          dataDir: opts.keep,
        });
        out.result(summary, () => `Demo complete in ${summary.seconds} s.`);
      }, cmd),
    );

  const workerCmd = program
    .command("worker")
    .description("run a worker against any network from its configuration (file, POSTHUMAN_WORKER_* variables, flags)");
  for (const [flag, help] of workerFlags) workerCmd.option(flag, help);
  workerCmd.action(async (opts: Record<string, unknown>, cmd: Command) =>
    run(async (out) => {
      const g = globals(cmd);
      const { startWorkerFromFlags, workerFlags } = await import("./worker-cmd");
      const flags = workerFlags(opts, g.dataDir);
      if (g.deployment && !flags.addressBook) flags.addressBook = g.deployment;
      // The global --rpc applies when given explicitly; its default must not hide the worker's own configuration.
      if (!flags.rpcUrl && cmd.parent?.getOptionValueSource("rpc") === "cli") flags.rpcUrl = g.rpc;
      if (!flags.keyFile && g.keyFile) flags.keyFile = g.keyFile;
      const worker = await startWorkerFromFlags(flags);
      out.result({ worker: worker.address, api: worker.apiUrl }, () => `Worker ${worker.address} on ${worker.apiUrl}`);
      const signal = await untilSignal();
      out.info(`${signal}: stopping the worker…`);
      await worker.stop();
    }, cmd),
  );

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const flags = argv.slice(2).includes("worker") ? (await import("./worker-cmd")).WORKER_FLAGS : [];
  const program = buildProgram(async (fn, cmd) => {
    const out = createOutput(globals(cmd).json);
    try {
      exitCode = (await fn(out)) ?? 0;
    } catch (e) {
      exitCode = reportError(e, out.json);
    }
  }, flags);
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return typeof code === "number" ? code : 1;
  }
  return exitCode;
}
