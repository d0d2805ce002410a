/**
 * The `posthuman` command: the global options, and the commands of each noun wired in from commands/ (model,
 * market, buy/balance/pay, train, infer, eval, job, rewards, up, demo, worker). Modules that are heavy to load (the
 * chain, the worker, the model runtime, the SDK) are imported by the commands that use them, so that every other
 * command starts fast.
 */
import path from "node:path";
import { Command, Option } from "commander";
import { createOutput, reportError } from "./output";
import type { CommandContext } from "./context";
import { addEvalCommand } from "./commands/eval";
import { addInferCommand } from "./commands/infer";
import { addJobCommands } from "./commands/job";
import { addMarketCommands } from "./commands/market";
import { addModelCommands } from "./commands/model";
import { addRewardsCommand } from "./commands/rewards";
import { DEFAULT_API_PORT, type Run, type Wiring } from "./commands/shared";
import { addTokenCommands } from "./commands/tokens";
import { addTrainCommand } from "./commands/train";
import { addDemoCommand, addUpCommand } from "./commands/up";
import { addWorkerCommand } from "./commands/worker";

export type { Run } from "./commands/shared";
export type GlobalOptions = CommandContext;

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

function globalOptions(program: Command): Command {
  return program
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
    );
}

/**
 * The program. `workerFlags` declares the `worker` command's options (from worker-cmd.ts, which loads the whole
 * worker: main() passes them only when the command line names the worker).
 */
export function buildProgram(run: Run, workerFlags: readonly [string, string][] = []): Command {
  const program = globalOptions(
    new Command("posthuman").description(
      "PostHuman: pay on chain for training, inference and evaluation of language models (Ocean Protocol).",
    ),
  ).showHelpAfterError();
  const w: Wiring = { run, context: globals };
  addUpCommand(program, w);
  addModelCommands(program, w);
  addTokenCommands(program, w);
  addMarketCommands(program, w);
  addTrainCommand(program, w);
  addInferCommand(program, w);
  addEvalCommand(program, w);
  addJobCommands(program, w);
  addRewardsCommand(program, w);
  addDemoCommand(program, w);
  addWorkerCommand(program, w, workerFlags);
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
