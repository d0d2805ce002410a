/**
 * The SDK refuses, before anything is paid, exactly the params every worker's runtime refuses whatever the model: a job
 * requested with them is one no worker claims, and its requester would get the fee back only by cancelling.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { PRESETS } from "../../offchain/ml/config";
import { isMlError } from "../../offchain/ml/errors";
import { commandHint } from "../../offchain/cli/hints";
import { checkJobParams as runtimeCheck } from "../../offchain/ml/job-params";
import { EXECUTOR_KIND_OF, executorParams } from "../../offchain/protocol/job-spec";
import { encodeJobParams, JobKind, toRate, type JobParams } from "../../offchain/protocol/params";
import { isSdkError } from "../../offchain/sdk/errors";
import { checkJobParams } from "../../offchain/sdk/job-types";

const config = { ...PRESETS.tiny, n_positions: 64 };
const train = (o: Partial<Record<"steps" | "batchSize" | "contextLength", number>>): JobParams => ({
  kind: "Train",
  params: {
    steps: 4,
    batchSize: 2,
    contextLength: 16,
    learningRate: toRate(1e-3),
    warmupSteps: 0,
    weightDecay: toRate(0.01),
    ...o,
  },
});
const infer = (o: Partial<Record<"maxTokens" | "temperature" | "topK", number>>): JobParams => ({
  kind: "Infer",
  params: { maxTokens: 8, temperature: 0, topK: 0, ...o },
});
const evaluate = (contextLength: number): JobParams => ({
  kind: "Evaluate",
  params: { benchmarkId: ethers.ZeroHash, contextLength, maxTokens: 0 },
});

const refusedBySdk = (p: JobParams): boolean => {
  try {
    checkJobParams(p);
    return false;
  } catch (e) {
    if (!isSdkError(e, "PARAMS_INVALID")) throw e;
    expect((e as Error).message).to.match(/No job was requested and nothing was paid\.$/);
    return true;
  }
};
const refusedByRuntime = (p: JobParams): boolean => {
  try {
    runtimeCheck(EXECUTOR_KIND_OF[p.kind], executorParams(JobKind[p.kind], encodeJobParams(p)), config);
    return false;
  } catch (e) {
    if (!isMlError(e) || e.code !== "PARAMS_INVALID") throw e; // only the runtime's refusal counts
    return true;
  }
};

describe("sdk: job params no worker runs are refused before paying, as the runtime refuses them", function () {
  it("agrees with the runtime at each bound: batch, steps, context, new tokens, temperature", function () {
    const cases: [string, JobParams, boolean][] = [
      ["batch 0", train({ batchSize: 0 }), true],
      ["batch 1", train({ batchSize: 1 }), false],
      ["batch 1024", train({ batchSize: 1024 }), false],
      ["batch 1025", train({ batchSize: 1025 }), true],
      ["10 million steps", train({ steps: 10_000_000 }), false],
      ["a step more", train({ steps: 10_000_001 }), true],
      ["train context 0 (the model's)", train({ contextLength: 0 }), false],
      ["train context 1", train({ contextLength: 1 }), true],
      ["train context 2", train({ contextLength: 2 }), false],
      ["no new tokens", infer({ maxTokens: 0 }), true],
      ["one new token", infer({ maxTokens: 1 }), false],
      ["temperature 100", infer({ temperature: 100_000_000 }), false],
      ["temperature 100.000001", infer({ temperature: 100_000_001 }), true],
      ["temperature 200", infer({ temperature: 200_000_000 }), true],
      ["eval context 0 (the model's)", evaluate(0), false],
      ["eval context 1", evaluate(1), true],
      ["eval context 2", evaluate(2), false],
    ];
    for (const [what, p, refused] of cases) {
      expect(refusedByRuntime(p), `runtime: ${what}`).to.equal(refused);
      expect(refusedBySdk(p), `sdk: ${what}`).to.equal(refused);
    }
  });

  it("says which param, what it must be, and that nothing was paid", function () {
    try {
      checkJobParams(infer({ temperature: 200_000_000 }));
      expect.fail("no refusal");
    } catch (e) {
      expect((e as Error).message).to.equal(
        "An Infer job's temperature of 200 is one no worker runs: it must be at most 100. No job was requested and " +
          "nothing was paid.",
      );
      expect(commandHint("PARAMS_INVALID", (e as { data?: Record<string, unknown> }).data)).to.equal(
        "pass --temperature at most 100 (nothing was paid)",
      );
    }
  });
});
