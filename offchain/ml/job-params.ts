/**
 * A job's params checked against its model's config before any input is read: what the runtime refuses with
 * PARAMS_INVALID before it starts (both executors validate params this way). The params are on chain before anyone
 * claims the job, so a worker asks this first and leaves unclaimed a job it would fail: a failure for PARAMS_INVALID
 * is the claimant's own (it could have known) and costs it a share of its collateral.
 */
import type { Gpt2Config } from "./config";
import { evalParamsSchema, inferParamsSchema, parseParams, trainParamsSchema, type JobKind } from "./exec-job";
import { resolveEvalParams } from "./evaluate";
import { checkGenerateParams } from "./serve";
import { resolveTrainParams } from "./train";

/** Throws MlError PARAMS_INVALID, naming the parameter, when the runtime would refuse `params` for this model. */
export function checkJobParams(kind: JobKind, params: unknown, c: Gpt2Config): void {
  if (kind === "train") {
    const p = parseParams(trainParamsSchema, params, "train");
    resolveTrainParams({ ...p, steps: p.steps ?? 0 }, c); // epochs become steps once the data is read
  } else if (kind === "infer") {
    checkGenerateParams(c, parseParams(inferParamsSchema, params, "infer"));
  } else {
    resolveEvalParams(c, parseParams(evalParamsSchema, params, "evaluate"));
  }
}
