/** `posthuman infer <model>`: generate text from prompts (the job's seed is derived from its id and input). */
import type { Command } from "commander";
import { TEMPERATURE_SCALE, type JobParams } from "../../protocol/params";
import { id, int, num, readFile } from "../context";
import { CliError, type Output } from "../output";
import { describeReceipt } from "../render";
import { jobJson, notWaiting, requestAndFinish, withJobOptions, type JobOptions } from "./requests";
import type { Wiring } from "./shared";

interface InferOptions extends JobOptions {
  prompt?: string;
  prompts?: string;
  maxTokens: string;
  temperature: string;
  topK: string;
}

export function addInferCommand(program: Command, w: Wiring): void {
  withJobOptions(
    program
      .command("infer <model>")
      .description("generate text from prompts (the job's seed is derived from its id and input)")
      .option("--prompt <text>", "one prompt")
      .option("--prompts <file>", 'one prompt per line, or JSONL {"prompt": ...}')
      .option("--max-tokens <n>", "new tokens per prompt", "32")
      .option("--temperature <x>", "0 = greedy", "0")
      .option("--top-k <n>", "sample from the k likeliest tokens (0: all)", "0"),
  ).action((raw: string, o: InferOptions, cmd: Command) => w.run((out) => infer(w, cmd, out, raw, o), cmd));
}

async function infer(w: Wiring, cmd: Command, out: Output, raw: string, o: InferOptions): Promise<void> {
  if (!o.prompt && !o.prompts) throw new CliError("no prompt given", "pass --prompt <text> or --prompts <file>");
  const input = o.prompts ? readFile(o.prompts) : Buffer.from(`${o.prompt}\n`);
  const params: JobParams = {
    kind: "Infer",
    params: {
      maxTokens: int(o.maxTokens, "--max-tokens"),
      temperature: Math.round(num(o.temperature, "--temperature") * Number(TEMPERATURE_SCALE)),
      topK: int(o.topK, "--top-k", 0),
    },
  };
  const { run: r } = await requestAndFinish(w, cmd, out, id(raw), params, input, o, o.prompts ?? "the --prompt text");
  const gens = (r.result?.generations as { prompt: string; text: string }[] | undefined) ?? [];
  out.result({ ...jobJson(r), generations: gens }, () =>
    r.receipt
      ? [
          `job ${r.job.jobId} done`,
          ...describeReceipt(r.receipt).map((l) => `  ${l}`),
          // One line per generation (the JSON output and `job result` keep the text as generated).
          ...gens.map((g) => `» ${`${g.prompt}${g.text}`.replace(/\s+/g, " ").trim()}`),
        ].join("\n")
      : notWaiting(r.job),
  );
}
