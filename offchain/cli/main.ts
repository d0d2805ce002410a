import path from "node:path";
import { Command, Option } from "commander";
import { createOutput, reportError, type Output } from "./output";
import { DEFAULT_API_PORT, describeUp, up } from "./up";
import { addWorkerFlags, startWorkerFromFlags, workerFlags } from "./worker-cmd";
import { runDemo } from "./demo";
import { addUserCommands } from "./commands";

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

export function buildProgram(run: (fn: (out: Output) => Promise<void>, cmd: Command) => Promise<void>): Command {
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
    .option("--worker <url>", "the worker's API", process.env.POSTHUMAN_WORKER_URL ?? "http://127.0.0.1:8550")
    .addOption(
      new Option("--data-dir <dir>", "where the embedded chain, the worker and the artifacts keep their state")
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
        const handle = await up(
          {
            dataDir: g.dataDir,
            host: opts.host,
            chainPort: Number(opts.chainPort),
            apiPort: Number(opts.apiPort),
            noWorker: !opts.worker,
          },
          out,
        );
        out.result({ rpc: handle.chain.url, deployment: handle.deploymentFile, ...handle.book }, () =>
          describeUp(handle),
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
    .option("--steps <n>", "training steps of each finetune", "24")
    .option("--keep <dir>", "keep the demo's chain, models and worker data in this folder (default: a temp folder)")
    .action(async (opts: { steps: string; keep?: string }, cmd: Command) =>
      run(async (out) => {
        const summary = await runDemo(out, { steps: Number(opts.steps), dataDir: opts.keep });
        out.result(summary, () => `Demo complete in ${summary.seconds} s.`);
      }, cmd),
    );

  addWorkerFlags(
    program
      .command("worker")
      .description(
        "run a worker against any network from its configuration (file, POSTHUMAN_WORKER_* variables, flags)",
      ),
  ).action(async (opts: Record<string, unknown>, cmd: Command) =>
    run(async (out) => {
      const g = globals(cmd);
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
  const program = buildProgram(async (fn, cmd) => {
    const out = createOutput(globals(cmd).json);
    try {
      await fn(out);
    } catch (e) {
      exitCode = reportError(e, out.json);
    }
  });
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    return typeof code === "number" ? code : 1;
  }
  return exitCode;
}
