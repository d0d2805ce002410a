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

/** The input of an inference, from --prompt or --prompts (not both: one would be ignored). */
export function inferInput(o: Pick<InferOptions, "prompt" | "prompts">): Buffer {
  if (o.prompt !== undefined && o.prompts !== undefined)
    throw new CliError(
      "--prompt and --prompts both give the prompts: the job would run one and ignore the other",
      "pass one of them: --prompt <text> for one prompt, --prompts <file> for one per line (nothing was paid)",
    );
  if (!o.prompt && !o.prompts) throw new CliError("no prompt given", "pass --prompt <text> or --prompts <file>");
  return o.prompts ? readFile(o.prompts) : Buffer.from(`${o.prompt}\n`);
}

/** The name the SDK's input errors give a --prompt (they say "fix the file" of a --prompts file). */
export const PROMPT_INPUT_NAME = "the --prompt text";

/**
 * An input error about a --prompt: what to change is the prompt, not a file ("shorten the prompt" when it is too long
 * for the model's context). Other errors pass.
 */
export function aboutThePrompt(e: unknown): unknown {
  if (!(e instanceof CliError) || e.code !== "INPUT_INVALID" || !e.hint?.startsWith("fix the file")) return e;
  const fix = /\((PROMPT_TOO_LONG|DATASET_TOO_LARGE)\)/.test(e.message)
    ? "shorten the prompt (or ask for fewer --max-tokens)"
    : "fix the prompt";
  return new CliError(e.message, e.hint.replace("fix the file", fix), e.exitCode, e);
}

async function infer(w: Wiring, cmd: Command, out: Output, raw: string, o: InferOptions): Promise<void> {
  const input = inferInput(o);
  const params: JobParams = {
    kind: "Infer",
    params: {
      maxTokens: int(o.maxTokens, "--max-tokens"),
      temperature: Math.round(num(o.temperature, "--temperature") * Number(TEMPERATURE_SCALE)),
      topK: int(o.topK, "--top-k", 0),
    },
  };
  const inputName = o.prompts ?? PROMPT_INPUT_NAME;
  const r = await requestAndFinish(w, cmd, out, id(raw), params, input, o, inputName).catch((e: unknown) => {
    throw o.prompts === undefined ? aboutThePrompt(e) : e;
  });
  const gens = (r.result?.generations as { prompt: string; text: string }[] | undefined) ?? [];
  // Without a receipt (--no-wait) there are no generations yet: none said, rather than an empty list.
  out.result({ ...jobJson(r), generations: r.receipt ? gens : undefined }, () =>
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
