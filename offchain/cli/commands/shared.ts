/**
 * What the command files share: how a command runs (`Run`), where it reads the global options (`Wiring`), and the
 * one-transaction command shape. Each file under commands/ adds the commands of one noun and their run functions;
 * main.ts only wires them.
 */
import type { Command } from "commander";
import type { PostHuman } from "../../sdk/client";
import { connect, id, sdk, type CommandContext } from "../context";
import type { Output } from "../output";
import { amountText, ONE_DATATOKEN } from "../../protocol/params";

/** Runs a command body with its output; a returned number is the exit code. */
export type Run = (fn: (out: Output) => Promise<number | void>, cmd: Command) => Promise<void>;

/** What every command file is given: the runner, and the global options as a command sees them. */
export interface Wiring {
  run: Run;
  context(cmd: Command): CommandContext;
}

/** Port of the worker's API that `up` serves and the user commands call. */
export const DEFAULT_API_PORT = 8550;

/** The benchmark the demo data declares its baseline on (offchain/cli/demo-data/elena-eval.txt). */
export const DEMO_BENCHMARK = "posthuman-demo/elena-eval";

/** A command that sends one transaction about the `<what>` it names and says what it did. */
export function txCommand<R extends { txHash: string }>(
  w: Wiring,
  parent: Command,
  what: "job" | "listing",
  name: string,
  description: string,
  send: (client: PostHuman, target: bigint) => Promise<R>,
  say: (raw: string, r: R) => string,
): void {
  parent
    .command(`${name} <${what}>`)
    .description(description)
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const r = await sdk(send(client, id(raw, what)));
        out.result(r, () => say(raw, r));
      }, cmd),
    );
}

/** Waits for Ctrl-C or SIGTERM. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
}

/** `--allow-fraction`'s help: the SDK refuses an amount that leaves a fraction paying for no job unless it is given. */
export const FRACTION_HELP =
  "take an amount that leaves a fraction of a datatoken paying for no job (each job consumes a whole one; refused otherwise)";

/** The options of `buy` and `market buy`. */
export interface BuyOptions {
  amount: string;
  maxCost?: string;
  allowFraction?: boolean;
}

/**
 * After a purchase, the warning when the buyer now holds a fraction of a datatoken of the model (said on stderr and
 * put in --json as `warning`): each job consumes a whole one, so the fraction pays for no job (the web app refuses a
 * fractional purchase before paying; the CLI does too, unless --allow-fraction).
 */
export async function fractionWarning(client: PostHuman, modelId: bigint): Promise<string | undefined> {
  const m = await client.registry.get(modelId);
  const held = await client.token(m.datatoken).balanceOf(await client.address());
  const part = held % ONE_DATATOKEN;
  if (part === 0n) return undefined;
  return (
    `you now hold ${amountText(held)} datatokens of model ${modelId}, and each job consumes a whole one: ` +
    `${amountText(part)} of it pays for no job (buy ${amountText(ONE_DATATOKEN - part)} more, or sell it: posthuman ` +
    `market sell ${modelId} --amount ${amountText(part)} --price <OCEAN each>)`
  );
}
