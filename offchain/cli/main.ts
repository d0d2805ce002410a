/**
 * The `posthuman` command: the global options, and the commands of each noun wired in from commands/ (model,
 * market, buy/balance/pay, train, infer, eval, job, rewards, up, demo, worker). Modules that are heavy to load (the
 * chain, the worker, the model runtime, the SDK) are imported by the commands that use them, so that every other
 * command starts fast.
 */
import path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { CliError, createOutput, reportError } from "./output";
import type { CommandContext } from "./context";
import { addEvalCommand } from "./commands/eval";
import { addInferCommand } from "./commands/infer";
import { addJobCommands } from "./commands/job";
import { addMarketCommands } from "./commands/market";
import { addModelCommands } from "./commands/model";
import { addRewardsCommand } from "./commands/rewards";
import { DEFAULT_API_PORT, type Run, type Wiring } from "./commands/shared";
import { addStakeCommands } from "./commands/stake";
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
    .option(
      "--rpc <url>",
      "JSON-RPC endpoint of the chain (or POSTHUMAN_RPC_URL)",
      process.env.POSTHUMAN_RPC_URL ?? "http://127.0.0.1:8545",
    )
    .option(
      "--deployment <file>",
      "address book (or POSTHUMAN_DEPLOYMENT; default: deployments/<network>.json)",
      process.env.POSTHUMAN_DEPLOYMENT,
    )
    .option(
      "--account <name|index>",
      "dev account on a local chain: deployer, alice, bob, charlie, derek, elena, worker, treasury or 0–19 " +
        "(not with --key-file; used over POSTHUMAN_PRIVATE_KEY)",
    )
    .option(
      "--key-file <file>",
      "file holding the signer's private key (or set POSTHUMAN_PRIVATE_KEY; not with --account)",
    )
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
  addStakeCommands(program, w);
  addDemoCommand(program, w);
  addWorkerCommand(program, w, workerFlags);
  return program;
}

/** `posthuman model create`: the command's path from the program down. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * With --json, commander's own errors (an unknown option, a missing argument or option, a missing command) must come
 * out as the CLI's JSON error, not as commander's text: every command throws instead of exiting, remembering which
 * one failed, and commander writes nothing to stderr (neither the error nor the help it shows after one). Asked-for
 * help (--help) still prints as it does without --json. Returns the command that failed, once one did.
 */
function throwParseErrors(program: Command): () => Command {
  let failed = program;
  const visit = (cmd: Command): void => {
    cmd.exitOverride((e) => {
      failed = cmd;
      throw e;
    });
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
  // One output configuration is shared by the program and every command made from it.
  program.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  return () => failed;
}

/** A commander error as the CLI's error: commander's message without its "error: ", the usage and --help as the hint. */
function parseError(e: CommanderError, cmd: Command): CliError {
  const where = commandPath(cmd);
  const subs = cmd.commands.map((c) => c.name()).filter((n) => n !== "help");
  const message =
    e.code === "commander.help" // a command of commands given none (commander shows its help)
      ? `${where} needs a command: ${subs.join(", ")}`
      : e.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ");
  return new CliError(message, `usage: ${where} ${cmd.usage()} (see ${where} --help)`, e.exitCode);
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const args = argv.slice(2);
  const flags = args.includes("worker") ? (await import("./worker-cmd")).WORKER_FLAGS : [];
  const program = buildProgram(async (fn, cmd) => {
    const out = createOutput(globals(cmd).json);
    try {
      exitCode = (await fn(out)) ?? 0;
    } catch (e) {
      exitCode = reportError(e, out.json);
    }
  }, flags);
  program.exitOverride();
  const json = (args.includes("--") ? args.slice(0, args.indexOf("--")) : args).includes("--json");
  const failed = json ? throwParseErrors(program) : undefined;
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    if (failed && !(e instanceof CommanderError && e.exitCode === 0))
      return reportError(e instanceof CommanderError ? parseError(e, failed()) : e, true);
    return typeof code === "number" ? code : 1;
  }
  return exitCode;
}
