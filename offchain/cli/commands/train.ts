/**
 * `posthuman train <model>`: finetune a model on your data. A worker trains it, the chain records the child model,
 * and with --name (and --description) the trainer names it in the request, so it is born named (as the web app does).
 */
import type { Command } from "commander";
import { id, int, num, readFile } from "../context";
import { CliError, type Output } from "../output";
import { MAX_LR } from "../../ml/train-bounds";
import { describeReceipt } from "../render";
import { cardFromOptions } from "./model";
import { trainParams } from "../../protocol/params";
import { jobJson, notWaiting, requestAndFinish, withJobOptions, type JobOptions } from "./requests";
import type { Wiring } from "./shared";

interface TrainOptions extends JobOptions {
  data: string;
  steps: string;
  lr: string;
  batch: string;
  context: string;
  name?: string;
  description?: string;
}

export function addTrainCommand(program: Command, w: Wiring): void {
  withJobOptions(
    program
      .command("train <model>")
      .description(
        "finetune a model on your data: a worker trains it and the chain records the child model, whose datatokens and " +
          "revenue you share with the parent's owner (the job's seed is derived from its id and input, so anyone can re-run it)",
      )
      .requiredOption("--data <file>", "text, or JSONL with a text field per line")
      .option("--name <name>", 'the child model\'s name (else it is "PostHuman model <id>"), stored with the request')
      .option("--description <text>", "the child model's description (with --name)")
      .option("--steps <n>", "training steps", "24")
      .option("--lr <x>", "learning rate (at most 1)", "0.003")
      .option("--batch <n>", "batch size", "8")
      .option("--context <n>", "context length (at most the model's)", "64"),
  ).action((raw: string, o: TrainOptions, cmd: Command) => w.run((out) => train(w, cmd, out, raw, o), cmd));
}

async function train(w: Wiring, cmd: Command, out: Output, raw: string, o: TrainOptions): Promise<void> {
  const card = await cardFromOptions(o);
  const params = trainParams({
    steps: int(o.steps, "--steps"),
    lr: learningRate(o.lr),
    batch: int(o.batch, "--batch"),
    context: int(o.context, "--context"),
  });
  // The child's card travels in the request, as the web app sends it: the child is born named.
  const inputURI = card ? (await import("../../sdk/model-card")).cardURI(card) : undefined;
  const job = { ...o, inputURI };
  const r = await requestAndFinish(w, cmd, out, id(raw), params, readFile(o.data), job, o.data);
  const child = r.receipt?.childModelId;
  out.result({ ...jobJson(r), childModelId: child, name: card?.name, description: card?.description }, () =>
    r.receipt
      ? [
          `job ${r.job.jobId} done: model ${child}${card ? ` "${card.name}"` : ""} is born (parent ${raw})`,
          ...describeReceipt(r.receipt).map((l) => `  ${l}`),
        ].join("\n")
      : [
          notWaiting(r.job),
          ...(card ? [`the child will be born named "${card.name}" (the name is stored with the request)`] : []),
        ].join("\n"),
  );
}

/** --lr as the chain carries it (×1e9): above 0, at most MAX_LR, no finer than 1e-9. */
export function learningRate(raw: string): number {
  const lr = num(raw, "--lr");
  if (!(lr > 0 && lr <= MAX_LR))
    throw new CliError(
      `--lr ${raw}: the learning rate must be above 0 and at most ${MAX_LR}`,
      "fine-tuning uses 1e-5 … 1e-3 (the default is 0.003); nothing was paid",
    );
  if (lr < 1e-9) throw new CliError(`--lr ${raw} is finer than the 1e-9 the chain carries`, "pass 1e-9 or more");
  return lr;
}
