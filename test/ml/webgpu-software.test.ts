import { expect } from "chai";
import * as path from "path";
import * as ort from "onnxruntime-node";
import * as fs from "fs";
import { ethers } from "ethers";
import {
  BuiltinExecutor,
  builtinRuntimeId,
  initWeights,
  PRESETS,
  tensorSpecs,
  writeJobDir,
  type Executor,
} from "../../offchain/ml";
import { verifierExecutor } from "../../offchain/sdk/verify";
import { jobFolder } from "../../offchain/protocol/job-spec";
import { encodeJobParams } from "../../offchain/protocol/params";
import { decodeStepFeeds, profileGraph } from "../../offchain/bench/ort-profile";
import { evaluate } from "../../offchain/ml/evaluate";
import { buildTrainGraph } from "../../offchain/ml/onnx-train";
import { decode } from "../../offchain/ml/decode";
import { decodingSession, disposeServed, generate, prepareServingDir } from "../../offchain/ml/serve";
import { trainModel } from "../../offchain/ml/train";
import { webgpuDecodeGraphFile } from "../../offchain/ml/webgpu-decode-graph";
import { lossGraphFile } from "../../offchain/ml/webgpu-eval";
import { CORPUS, perturbedModel, tmpDir, useSoftwareWebgpu } from "./helpers";

const ids = (b: number, t: number, f: (i: number, j: number) => number): ort.Tensor =>
  new ort.Tensor(
    "int64",
    BigInt64Array.from({ length: b * t }, (_, k) => BigInt(f(Math.floor(k / t), k % t))),
    [b, t],
  );

/**
 * The WebGPU code paths run for real here, on Mesa's lavapipe (a Vulkan driver on the CPU, set up by
 * scripts/software-webgpu.sh): Dawn and onnxruntime's WebGPU provider as on a GPU host, only slower.
 */
describe("ml/webgpu on a software adapter (lavapipe): the WebGPU paths agree with the CPU's", function () {
  this.timeout(300_000);
  const c = PRESETS.tiny;
  let restore = (): void => {};
  let modelDir: string;
  let cacheDir: string;

  before(function () {
    const sw = useSoftwareWebgpu();
    if ("why" in sw) {
      console.log(`      skipped: ${sw.why}`);
      this.skip();
    }
    restore = sw.restore;
    modelDir = perturbedModel(path.join(tmpDir("wgsw"), "m"), "webgpu-software");
    cacheDir = tmpDir("wgswcache");
  });

  after(async function () {
    await disposeServed();
    restore();
  });

  it("evaluation: the loss graph on WebGPU gives the CPU's evaluate() within 1e-5", async function () {
    const cpu = await evaluate(modelDir, { datasets: [CORPUS], cacheDir });
    const gpu = await evaluate(modelDir, { datasets: [CORPUS], cacheDir, device: "gpu" });
    expect(gpu.tokenCount).to.equal(cpu.tokenCount);
    expect(gpu.windows).to.equal(cpu.windows);
    expect(Math.abs(gpu.loss - cpu.loss)).to.be.lessThan(1e-5);
  });

  it("generation: greedy and seeded sampling on WebGPU (fused decoding graph, KV cache on the device) give the CPU's tokens", async function () {
    const prompts = ["The keeper of the light", "Bells in fog"];
    for (const params of [{ maxNewTokens: 12 }, { maxNewTokens: 12, temperature: 0.9, topK: 20, seed: 7 }]) {
      const cpu = await generate(modelDir, prompts, params, { cacheDir });
      const gpu = await generate(modelDir, prompts, params, { cacheDir, device: "webgpu" });
      expect(gpu.generations.map((g) => g.tokens)).to.deep.equal(cpu.generations.map((g) => g.tokens));
      if ("seed" in params) expect(new Set(cpu.generations[0].tokens).size, "varied tokens").to.be.greaterThan(2);
    }
  });

  it("generation frees the KV cache it kept on the device: every GPU buffer a step returned is disposed", async function () {
    const { session, tokenizer, onDevice } = await decodingSession(modelDir, { cacheDir, device: "webgpu" });
    expect(onDevice).to.equal(true);
    const returned: ort.Tensor[] = [];
    const spy = {
      outputNames: session.outputNames,
      run: async (...args: Parameters<typeof session.run>) => {
        const r = await session.run(...args);
        returned.push(...Object.values(r));
        return r;
      },
    } as unknown as typeof session;
    const prompt = tokenizer.encode("The keeper of the light");
    for (const sample of [false, true]) {
      returned.length = 0;
      const settings = { maxNewTokens: 6, sample, temperature: 1, topK: 0, processors: [], onDevice };
      expect(await decode(spy, c, prompt, settings)).to.have.length(6);
      // Each step's present.* came back as GPU buffers, all disposed since (location "none").
      expect(returned.filter((t) => t.location === "none")).to.have.length(6 * 2 * c.n_layer);
      expect(returned.filter((t) => t.location === "gpu-buffer")).to.deep.equal([]);
    }
  });

  it("training: the step graph on WebGPU follows the CPU's loss curve within 1e-4", async function () {
    const run = (device: "cpu" | "webgpu") =>
      trainModel({
        modelDir,
        outDir: path.join(tmpDir(`wgsw-${device}`), "out"),
        datasets: [CORPUS],
        seed: 3,
        steps: 3,
        lr: 3e-3,
        batchSize: 2,
        contextLength: 32,
        device,
      });
    const cpu = await run("cpu");
    const gpu = await run("webgpu");
    expect(gpu.lossCurve).to.have.length(3);
    gpu.lossCurve.forEach((l, i) => expect(Math.abs(l - cpu.lossCurve[i]), `step ${i}`).to.be.lessThan(1e-4));
    expect(gpu.lossCurve[2]).to.be.lessThan(gpu.lossCurve[0]);
    expect(Math.abs(gpu.valLossAfter - cpu.valLossAfter)).to.be.lessThan(1e-4);
  });

  it("verify re-runs a WebGPU receipt on WebGPU (threads as named) in a child process to the same output hash; without WebGPU it says what is missing", async function () {
    const params = encodeJobParams({
      kind: "Evaluate",
      params: { benchmarkId: ethers.ZeroHash, contextLength: 32, maxTokens: 0 },
    });
    const input = fs.readFileSync(CORPUS).subarray(0, 1500);
    const run = async (executor: Executor) => {
      const jobDir = tmpDir("wgverify");
      writeJobDir(jobDir, jobFolder({ kind: "evaluate", params, seed: 7, modelDir, input }));
      return executor.run({ kind: "evaluate", jobDir });
    };
    const worker = await run(new BuiltinExecutor({ device: "webgpu", threads: 1, cacheDir }));
    expect(worker.runtimeId).to.equal(builtinRuntimeId({ device: "webgpu", threads: 1 }));
    const steps: string[] = [];
    const chosen = verifierExecutor(worker.runtimeId, (l) => steps.push(l));
    expect(chosen.runtimeId).to.equal(worker.runtimeId);
    expect(steps).to.deep.equal([]);
    expect((await run(chosen)).outputHash).to.equal(worker.outputHash);

    restore(); // this machine without its (software) WebGPU
    const onCpu = verifierExecutor(worker.runtimeId, (l) => steps.push(l));
    expect(onCpu.runtimeId).to.equal(builtinRuntimeId({ device: "cpu", threads: 1 }));
    expect(steps.join()).to.match(
      /the receipt names the builtin runtime on webgpu \(1 thread\), which this machine cannot run: WebGPU is unavailable: /,
    );
    restore = (useSoftwareWebgpu() as { restore: () => void }).restore;
  });

  it("profiles: both loss graphs, the training step and both decoding graphs compute nothing on the CPU (shape arithmetic only)", async function () {
    const { dir } = await prepareServingDir(modelDir, { cacheDir });
    const t = 32;
    const tok = (i: number, j: number): number => (97 * (i * t + j) + 5) % c.vocab_size;
    const w = initWeights(c, "profile");
    const trainFeeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor(
        "int64",
        BigInt64Array.from({ length: 2 * t }, (_, k) => BigInt(tok(0, k))),
        [2 * t],
      ),
      targets: new ort.Tensor(
        "int64",
        BigInt64Array.from({ length: 2 * t }, (_, k) => BigInt(tok(0, k + 1))),
        [2 * t, 1],
      ),
    };
    for (const [name, shape] of tensorSpecs(c))
      trainFeeds[`w.${name}`] = new ort.Tensor("float32", w.get(name) as Float32Array, shape);
    const decodeFeeds = decodeStepFeeds(c, 8);
    const lossFeeds = {
      input_ids: ids(2, t, tok),
      attention_mask: ids(2, t, () => 1),
      position_ids: ids(2, t, (_, j) => j),
      labels: ids(2, t, (i, j) => tok(i, j + 1)),
    };
    const graphs: Array<[string, string | Uint8Array, Record<string, ort.Tensor>]> = [
      ["loss", lossGraphFile(dir, c), lossFeeds],
      ["fused loss", lossGraphFile(dir, c, { forward: "fused" }), lossFeeds],
      ["train step", buildTrainGraph({ config: c, batch: 2, ctx: t, backward: true }), trainFeeds],
      ["decode step", path.join(dir, "onnx", "model.onnx"), decodeFeeds],
      ["fused decode step", webgpuDecodeGraphFile(dir, c), decodeFeeds],
    ];
    const nodes: Record<string, number> = {};
    for (const [name, graph, feeds] of graphs) {
      const s = await profileGraph(graph, "webgpu", feeds, { runs: 1 });
      nodes[name] = s.providers.WebGpuExecutionProvider?.nodes ?? 0;
      expect(s.providers.WebGpuExecutionProvider?.nodes, name).to.be.greaterThan(20);
      expect(s.cpuFloatOps, `${name}: float work on the CPU`).to.deep.equal([]);
      // lavapipe offers timestamp queries: the GPU's own time per shader program, matrix products first.
      expect(s.gpuMs, name).to.be.greaterThan(0);
      expect(s.gpuPrograms[0].name, name).to.match(/MatMul|Gemm|MultiHeadAttention/);
    }
    // The fused decoding graph runs half as many kernels a step as the serving graph (72 → 36 for this model).
    expect(nodes["fused decode step"]).to.be.at.most(nodes["decode step"] / 2);
  });
});
