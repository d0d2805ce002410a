/** The PostHuman model runtime: GPT-2 checkpoints, tokenizer, training, ONNX serving, evaluation, executors. */
export * from "./errors";
export * from "./config";
export * from "./tokenizer";
export * from "./safetensors";
export * from "./checkpoint";
export * from "./data";
export * from "./progress";
export { Rng } from "./rng";
export { canonicalJson, sha256Hex0x } from "./hash";
export * from "./device";
export { writeJobDir } from "./job-dir";
export { trainModel, resolveTrainParams, lrAt } from "./train";
export { checkJobParams } from "./job-params";
export type { TrainParams, TrainOptions, TrainResult, ResolvedTrainParams } from "./train";
export { exportOnnx, buildOnnxModel, ONNX_OPSET, ONNX_EXPORTER_VERSION } from "./onnx-export";
export type { ExportResult } from "./onnx-export";
export {
  generate,
  loadServed,
  disposeServed,
  prepareServingDir,
  defaultCacheDir,
  onnxLogits,
  cachedTokenizer,
} from "./serve";
export type { ServeOptions, ServedModel, GenerateParams, GenerateOptions, GenerateResult, Generation } from "./serve";
export { evaluate, evaluateTf, planWindows } from "./evaluate";
export type { EvalParams, EvalOptions, EvalResult, EvalWindow } from "./evaluate";
export {
  BuiltinExecutor,
  ExternalExecutor,
  builtinProcessExecutor,
  builtinRuntimeId,
  builtinSettingsOf,
  readJobFile,
  resolveInputs,
  resolveModelDir,
  seedU32,
  jobFileSchema,
  RUN_JOB_SCRIPT,
  RUNTIME_VERSION,
} from "./executor";
export type {
  JobKind,
  ExecJob,
  ExecMetrics,
  ExecResult,
  Executor,
  JobFile,
  BuiltinSettings,
  ExternalExecutorOptions,
} from "./executor";
