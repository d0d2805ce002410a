/** The builtin executor: training, inference and evaluation in this process, on onnxruntime. */
import * as fs from "fs";
import * as path from "path";
import { configHash as configHashOfDir, weightsRoot } from "./checkpoint";
import { evaluate } from "./evaluate";
import {
  builtinRuntimeId,
  evalParamsSchema,
  inferParamsSchema,
  inputDigests,
  loadCheckpointConfigOnly,
  parseParams,
  openJob,
  readPrompts,
  seedU32,
  trainParamsSchema,
  writeResult,
  type BuiltinSettings,
  type ExecJob,
  type ExecMetrics,
  type ExecResult,
  type Executor,
} from "./exec-job";
import { generate } from "./serve";
import { trainModel } from "./train";

/** Runs jobs in this process: training, inference and evaluation on onnxruntime. */
export class BuiltinExecutor implements Executor {
  readonly id = "builtin";
  readonly runtimeId: string;

  constructor(private readonly settings: BuiltinSettings = {}) {
    this.runtimeId = builtinRuntimeId(settings);
  }

  async run(job: ExecJob): Promise<ExecResult> {
    const s = this.settings;
    const { jf, modelDir, files, modelLimits, datasetLimits } = openJob(job, s);
    loadCheckpointConfigOnly(modelDir, modelLimits);
    const model = { weightsRoot: await weightsRoot(modelDir), configHash: await configHashOfDir(modelDir) };
    const base = { kind: jf.kind, runtimeId: this.runtimeId, model, seed: jf.seed };
    const serve = {
      device: s.device,
      threads: s.threads,
      cacheDir: s.cacheDir,
      cacheMaxBytes: s.cacheMaxBytes,
      limits: modelLimits,
      onProgress: job.onProgress,
      signal: job.signal,
    };

    if (jf.kind === "train") {
      const p = parseParams(trainParamsSchema, jf.params, "train");
      const outDir = path.join(job.jobDir, "outputs", "model");
      fs.rmSync(outDir, { recursive: true, force: true });
      const r = await trainModel({
        ...p,
        modelDir,
        outDir,
        datasets: files.map((f) => f.file),
        seed: jf.seed,
        onProgress: job.onProgress,
        signal: job.signal,
        datasetLimits,
        modelLimits,
        device: s.device,
        threads: s.threads,
      });
      const metrics: ExecMetrics = {
        trainLossBefore: r.trainLossBefore,
        trainLossAfter: r.trainLossAfter,
        valLossBefore: r.valLossBefore,
        valLossAfter: r.valLossAfter,
      };
      const child = { weightsRoot: r.weightsRoot, configHash: r.configHash };
      const written = writeResult(job.jobDir, {
        ...base,
        inputs: inputDigests(files),
        params: p,
        metrics,
        child,
        lossCurve: r.lossCurve,
        stepsPlanned: r.stepsPlanned,
        stepsDone: r.stepsDone,
        stoppedBy: r.stoppedBy,
        trainTokens: r.trainTokens,
        valTokens: r.valTokens,
        tokensPerStep: r.tokensPerStep,
      });
      return { ...written, metrics, child: { dir: r.outDir, ...child }, runtimeId: this.runtimeId };
    }
    if (jf.kind === "infer") {
      const p = parseParams(inferParamsSchema, jf.params, "infer");
      const prompts = readPrompts(files, datasetLimits, s.maxPrompts ?? 1024);
      const g = await generate(modelDir, prompts, { ...p, seed: seedU32(jf.seed) }, serve);
      const metrics: ExecMetrics = { generatedTokens: g.generatedTokens };
      const written = writeResult(job.jobDir, {
        ...base,
        inputs: inputDigests(files),
        params: p,
        metrics,
        generations: g.generations.map((x) => ({
          prompt: x.prompt,
          text: x.text,
          tokens: x.tokens,
          finishReason: x.finishReason,
        })),
      });
      return { ...written, metrics, runtimeId: this.runtimeId };
    }
    const p = parseParams(evalParamsSchema, jf.params, "evaluate");
    const e = await evaluate(modelDir, {
      ...p,
      ...serve,
      datasets: files.map((f) => f.file),
      datasetLimits,
      modelLimits,
    });
    const metrics: ExecMetrics = { evalLoss: e.loss, perplexity: e.perplexity, tokenCount: e.tokenCount };
    const written = writeResult(job.jobDir, {
      ...base,
      inputs: inputDigests(files),
      params: { ...p, contextLength: e.contextLength, stride: e.stride },
      metrics,
      windows: e.windows,
    });
    return { ...written, metrics, runtimeId: this.runtimeId };
  }
}
