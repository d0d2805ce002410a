/**
 * Executors run a job on a model folder with inputs into an output folder (compute-to-data layout):
 *   <jobDir>/job.json   { kind, params, seed, modelDir?, inputs? }
 *   <jobDir>/inputs/    the job's data (datasets, prompts)
 *   <jobDir>/model/     the model folder (read-only), unless job.json names another modelDir
 *   <jobDir>/outputs/   result.json (canonical JSON, hashed into the receipt), model/ for train
 * What they share is in exec-job.ts; the in-process executor in builtin-executor.ts; the one that runs a program (and
 * the builtin one in a child process) in external-executor.ts. This module exports all three.
 */

export * from "./exec-job";
export * from "./builtin-executor";
export * from "./external-executor";
