/**
 * `posthuman train <model>`: finetune a model on your data. A worker trains it, the chain records the child model,
 * and with --name (and --description) the trainer names it in Ocean's metadata once it is born.
 */
import type { Command } from "commander";
import type { PostHuman } from "../../sdk/client";
import type { ModelCard } from "../../sdk/model-card";
import { id, int, num, readFile, sdk } from "../context";
import type { Output } from "../output";
import { describeReceipt } from "../render";
import { cardFromOptions } from "./model";
import { jobJson, notWaiting, requestAndFinish, trainParams, withJobOptions, type JobOptions } from "./requests";
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
      .option("--name <name>", 'the child model\'s name (else it is "PostHuman model <id>"), set once it is born')
      .option("--description <text>", "the child model's description (with --name)")
      .option("--steps <n>", "training steps", "24")
      .option("--lr <x>", "learning rate", "0.003")
      .option("--batch <n>", "batch size", "8")
      .option("--context <n>", "context length (at most the model's)", "64"),
  ).action((raw: string, o: TrainOptions, cmd: Command) => w.run((out) => train(w, cmd, out, raw, o), cmd));
}

/** Names the child model its trainer now owns: one transaction on ModelRegistry.updateOceanMetadata. */
async function nameChild(client: PostHuman, out: Output, child: bigint, card: ModelCard): Promise<string> {
  const { describeModel } = await import("../../sdk/model-card");
  const r = await sdk(describeModel(client, child, card));
  out.info(`model ${child} named "${card.name}" in Ocean's metadata (tx ${r.txHash})`);
  return r.txHash;
}

async function train(w: Wiring, cmd: Command, out: Output, raw: string, o: TrainOptions): Promise<void> {
  const card = await cardFromOptions(o);
  const params = trainParams({
    steps: int(o.steps, "--steps"),
    lr: num(o.lr, "--lr"),
    batch: int(o.batch, "--batch"),
    context: int(o.context, "--context"),
  });
  const { client, run: r } = await requestAndFinish(w, cmd, out, id(raw), params, readFile(o.data), o, o.data);
  const child = r.receipt?.childModelId;
  const nameTx = card && child ? await nameChild(client, out, child, card) : undefined;
  out.result({ ...jobJson(r), childModelId: child, name: card?.name, description: card?.description, nameTx }, () =>
    r.receipt
      ? [
          `job ${r.job.jobId} done: model ${child}${card ? ` "${card.name}"` : ""} is born (parent ${raw})`,
          ...describeReceipt(r.receipt).map((l) => `  ${l}`),
        ].join("\n")
      : [
          notWaiting(r.job),
          ...(card
            ? [`once it is born, name it: posthuman model describe <child> --name ${JSON.stringify(card.name)}`]
            : []),
        ].join("\n"),
  );
}
