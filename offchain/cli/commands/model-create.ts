/**
 * `posthuman model create <folder>`: a GPT-2 model folder made locally with the builtin runtime, from a seed and
 * optionally trained and measured, ready for `model publish`. No chain is needed.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { absolute, int, num, readFile } from "../context";
import { CliError, type Output } from "../output";
import type { Wiring } from "./shared";
import type { Device } from "../../ml";
import { isMlError } from "../../ml/errors";
import { checkJobInput } from "../../ml/input-check";

const NOTHING_MADE = "fix the file and try again: no model folder was made";

/**
 * Refuses (before any weights are made) a --train or --eval file the runtime would refuse: empty, binary, not UTF-8,
 * JSONL that does not parse, fewer bytes than the context needs tokens. Said as the job commands say it: the file, the problem, its code.
 */
function checkDataFile(file: string, kind: "train" | "evaluate", context: number): void {
  const verdict = checkJobInput(kind, readFile(file), { file, nPositions: context, contextLength: context });
  if (!verdict.ok)
    throw new CliError(`${verdict.message} (${verdict.code})`, NOTHING_MADE, 1, { code: verdict.code, data: { file } });
}

/** The runtime's refusal of a file (a dataset too short for the context…) in the same words; other errors unchanged. */
function dataRefused(e: unknown): unknown {
  if (!isMlError(e)) return e;
  return new CliError(`${e.message.replace(/^[A-Z0-9_]+: /, "")} (${e.code})`, NOTHING_MADE, 1, {
    code: e.code,
    data: e.details,
  });
}

interface CreateOptions {
  preset: "tiny" | "small";
  seed: string;
  train?: string;
  steps: string;
  lr: string;
  batch: string;
  context: string;
  eval?: string;
  device: string;
}

interface Training {
  steps: number;
  trainLossBefore: number;
  trainLossAfter: number;
  valLossBefore: number;
  valLossAfter: number;
}

export function addModelCreate(model: Command, w: Wiring): void {
  model
    .command("create <folder>")
    .description("make a GPT-2 model folder locally with the builtin runtime, optionally trained on a text file")
    .option("--preset <name>", "tiny (2 layers, width 64, 3.3 M parameters) or small (GPT-2 small, 124 M)", "tiny")
    .option("--seed <n>", "seed of the initial weights (the same seed gives the same weights)", "1")
    .option("--train <file>", "then train it on this text or JSONL file")
    .option("--steps <n>", "training steps", "40")
    .option("--lr <x>", "learning rate (at most 1)", "0.003")
    .option("--batch <n>", "batch size", "8")
    .option("--context <n>", "context length", "64")
    .option("--device <device>", "train on cpu, or gpu (onnxruntime's bundled WebGPU provider)", "cpu")
    .option("--eval <file>", "then measure its loss on this file (what to declare with `model publish --baseline`)")
    .action((folder: string, o: CreateOptions, cmd: Command) => w.run((out) => createModelFolder(folder, o, out), cmd));
}

/** Trains a fresh model from its seed into `folder` (through a temporary folder beside it). */
async function trainFromSeed(folder: string, o: CreateOptions, seed: number, out: Output): Promise<Training> {
  const ml = await import("../../ml");
  const init = `${folder.replace(/\/$/, "")}.init-${process.pid}`;
  await ml.createModel(init, { preset: o.preset, seed });
  out.info(`created ${o.preset} weights from seed ${seed}; training on ${o.train}…`);
  try {
    const r = await ml.trainModel({
      modelDir: init,
      outDir: folder,
      datasets: [o.train as string],
      steps: int(o.steps, "--steps"),
      lr: num(o.lr, "--lr"),
      batchSize: int(o.batch, "--batch"),
      contextLength: int(o.context, "--context"),
      seed,
      device: ml.normalizeDevice(o.device) as Device,
      onProgress: (p) => {
        if (p.phase === "train" && (p.step % 10 === 0 || p.step === p.totalSteps))
          out.info(`  step ${p.step}/${p.totalSteps} loss ${p.loss?.toFixed(3) ?? ""}`);
      },
    });
    return {
      steps: r.stepsDone,
      trainLossBefore: r.trainLossBefore,
      trainLossAfter: r.trainLossAfter,
      valLossBefore: r.valLossBefore,
      valLossAfter: r.valLossAfter,
    };
  } finally {
    fs.rmSync(init, { recursive: true, force: true });
  }
}

async function createModelFolder(folder: string, o: CreateOptions, out: Output): Promise<void> {
  if ((o.preset as string) !== "tiny" && (o.preset as string) !== "small")
    throw new CliError(`unknown preset "${o.preset}"`, "use --preset tiny or --preset small");
  if (fs.existsSync(folder) && fs.readdirSync(folder).length)
    throw new CliError(`${folder} exists and is not empty`, "choose a new folder");
  const context = int(o.context, "--context");
  if (o.eval) checkDataFile(o.eval, "evaluate", context);
  if (o.train) checkDataFile(o.train, "train", context);
  const existed = fs.existsSync(folder);
  const ml = await import("../../ml");
  const device = ml.normalizeDevice(o.device);
  if (device !== "cpu" && device !== "webgpu")
    throw new CliError(`--device ${o.device}: model create trains on the CPU or on WebGPU`, "use --device cpu or gpu");
  const st = ml.deviceStatus(device);
  if (!st.available) throw new CliError(st.reason as string, "train with --device cpu, or install what is missing");
  const seed = int(o.seed, "--seed", 0);
  let training: Training | undefined;
  try {
    if (o.train) training = await trainFromSeed(folder, o, seed, out);
  } catch (e) {
    throw dataRefused(e);
  }
  if (!o.train) await ml.createModel(folder, { preset: o.preset, seed });
  // The same evaluation a worker runs (the CPU, one thread, this context length), so a declared baseline is
  // reproducible whatever device trained the model.
  const evaluation = o.eval
    ? await ml.evaluate(folder, { datasets: [o.eval], contextLength: context, threads: 1 }).catch((e: unknown) => {
        // The folder this command made goes with it, as the hint says.
        for (const f of fs.readdirSync(folder)) fs.rmSync(path.join(folder, f), { recursive: true, force: true });
        if (!existed) fs.rmSync(folder, { recursive: true, force: true });
        throw dataRefused(e);
      })
    : undefined;
  const summary = {
    folder: absolute(folder),
    preset: o.preset,
    seed,
    weightsRoot: await ml.weightsRoot(folder),
    configHash: await ml.configHash(folder),
    training,
    evaluation: evaluation && {
      file: o.eval,
      loss: evaluation.loss,
      perplexity: evaluation.perplexity,
      tokens: evaluation.tokenCount,
    },
  };
  out.result(summary, () =>
    [
      `model folder ${summary.folder}`,
      `  weights root ${summary.weightsRoot}`,
      ...(training
        ? [
            `  trained ${training.steps} steps: loss ${training.trainLossBefore.toFixed(3)} → ${training.trainLossAfter.toFixed(3)} (validation ${training.valLossBefore.toFixed(3)} → ${training.valLossAfter.toFixed(3)})`,
          ]
        : []),
      ...(summary.evaluation
        ? [
            `  loss on ${o.eval}: ${summary.evaluation.loss.toFixed(4)} (perplexity ${summary.evaluation.perplexity.toFixed(1)}, ${summary.evaluation.tokens} tokens)`,
          ]
        : []),
      `next: posthuman --account <you> model publish ${folder} --name <name> --price 1 --supply 20${summary.evaluation ? ` --baseline <benchmark>=${summary.evaluation.loss.toFixed(4)}` : ""}`,
    ].join("\n"),
  );
}
