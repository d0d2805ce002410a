import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import * as ort from "onnxruntime-node";
import { PRESETS } from "../../offchain/ml";
import { deviceStatus, normalizeDevice, requireDevice } from "../../offchain/ml/device";
import { evaluate } from "../../offchain/ml/evaluate";
import { disposeServed, generate, prepareServingDir } from "../../offchain/ml/serve";
import { trainModel as train } from "../../offchain/ml/train";
import { webgpuStatus, WebgpuHost } from "../../offchain/ml/webgpu-device";
import { disposeEvalSessions, evaluateInGraph, lossGraphFile, ortSession } from "../../offchain/ml/webgpu-eval";
import { decode } from "../../offchain/ml/decode";
import { decodeGraphFile } from "../../offchain/ml/decode-graph";
import { buildFusedGraph, webgpuDecodeGraphFile } from "../../offchain/ml/webgpu-decode-graph";
import { profileGraph, summarizeProfile } from "../../offchain/bench/ort-profile";
import { buildLossGraph, vocabChunks } from "../../offchain/ml/webgpu-loss-graph";
import { CORPUS, expectMlError, perturbedModel, tmpDir } from "./helpers";

/** A fake host root: folders for libraries, driver manifests and device nodes. */
function hostRoot(files: string[]): { root: string; host: (env?: NodeJS.ProcessEnv) => WebgpuHost } {
  const root = tmpDir("vk");
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), "{}");
  }
  return {
    root,
    host: (env = {}) => ({
      env,
      platform: "linux",
      arch: "x64",
      libDirs: [path.join(root, "lib")],
      icdDirs: [path.join(root, "icd.d")],
      gpuNodes: [path.join(root, "dev", "nvidiactl")],
    }),
  };
}

describe("ml/webgpu: device selection, clear errors, the in-graph loss on the CPU provider", function () {
  let modelDir: string;
  let cacheDir: string;

  before(function () {
    modelDir = perturbedModel(path.join(tmpDir("wg"), "m"), "webgpu");
    cacheDir = tmpDir("wgcache");
  });

  after(async function () {
    await disposeEvalSessions();
    await disposeServed();
  });

  it("device names: gpu is webgpu, unknown names are refused with the list", function () {
    expect(normalizeDevice("gpu")).to.equal("webgpu");
    expect(normalizeDevice(" GPU ")).to.equal("webgpu");
    expect(normalizeDevice(undefined)).to.equal("cpu");
    expect(requireDevice("cpu")).to.equal("cpu");
    const st = deviceStatus("tpu");
    expect(st.available).to.equal(false);
    expect(st.reason).to.include('"webgpu" (alias "gpu")');
  });

  it("names each missing piece: loader, driver manifest, kernel driver, software-only Vulkan", function () {
    const none = hostRoot([]);
    const st = webgpuStatus(none.host());
    expect(st.available).to.equal(false);
    expect(st.missing.join("\n")).to.include("libvulkan.so.1").and.include("apt-get install libvulkan1");
    expect(st.missing.join("\n")).to.include("no Vulkan driver manifest").and.include("VK_DRIVER_FILES");
    expect(st.missing.join("\n")).to.include("no GPU kernel driver");

    const lvp = hostRoot(["lib/libvulkan.so.1", "icd.d/lvp_icd.x86_64.json", "dev/nvidiactl"]);
    const s2 = webgpuStatus(lvp.host());
    expect(s2.loader).to.equal(path.join(lvp.root, "lib", "libvulkan.so.1"));
    expect(s2.missing).to.have.length(1);
    expect(s2.missing[0]).to.include("only a software Vulkan driver").and.include("lvp_icd.x86_64.json");
    expect(s2.missing[0]).to.include("POSTHUMAN_WEBGPU_SOFTWARE=1");
    // For tests: a software driver accepted on request, with no GPU kernel driver either.
    const lvpOnly = hostRoot(["lib/libvulkan.so.1", "icd.d/lvp_icd.x86_64.json"]);
    expect(webgpuStatus(lvpOnly.host({ POSTHUMAN_WEBGPU_SOFTWARE: "1" }))).to.deep.include({
      available: true,
      missing: [],
    });
    expect(webgpuStatus(lvpOnly.host()).missing).to.have.length(2);

    const nv = hostRoot(["lib/libvulkan.so.1", "nv/nvidia_icd.json", "dev/nvidiactl"]);
    const bad = webgpuStatus(nv.host({ VK_DRIVER_FILES: path.join(nv.root, "nv", "missing.json") }));
    expect(bad.missing.join()).to.include("VK_DRIVER_FILES names Vulkan driver manifests that do not exist");
    const ok = webgpuStatus(nv.host({ VK_DRIVER_FILES: path.join(nv.root, "nv", "nvidia_icd.json") }));
    expect(ok).to.deep.include({ available: true, missing: [] });
    const mac = webgpuStatus({ ...nv.host(), platform: "darwin", arch: "arm64" });
    expect(mac.missing[0]).to.include("linux/x64").and.include("darwin/arm64");
  });

  it("without an adapter, generate/evaluate/train on webgpu fail with DEVICE_UNAVAILABLE naming what is missing", async function () {
    const st = webgpuStatus();
    if (st.available) this.skip(); // a host with a GPU: the GPU check (npm run gpu-check) covers it
    const what = st.missing[0].slice(0, 20);
    await expectMlError(
      () => generate(modelDir, ["a"], { maxNewTokens: 2 }, { cacheDir, device: "gpu" }),
      "DEVICE_UNAVAILABLE",
      "WebGPU is unavailable",
      what,
    );
    await expectMlError(
      () => evaluate(modelDir, { datasets: [CORPUS], cacheDir, device: "webgpu" }),
      "DEVICE_UNAVAILABLE",
      what,
    );
    await expectMlError(
      () =>
        train({
          modelDir,
          outDir: path.join(tmpDir("wgt"), "out"),
          datasets: [CORPUS],
          seed: 1,
          steps: 1,
          lr: 1e-3,
          batchSize: 1,
          device: "webgpu",
        }),
      "DEVICE_UNAVAILABLE",
      what,
    );
  });

  it("the in-graph chunked loss over every position, on the serving or the fused forward, matches evaluate() (the head on scored rows only) within 1e-5 (CPU provider)", async function () {
    expect(vocabChunks(10, 4)).to.deep.equal([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    const ref = await evaluate(modelDir, { datasets: [CORPUS], cacheDir });
    for (const [vocabChunk, batchSize, ctx, headOp, forward] of [
      [8192, 1, 64, "matmul", "serving"],
      [5000, 3, 64, "gemm", "serving"],
      [50257, 2, 16, "matmul", "serving"],
      [8192, 3, 64, "matmul", "fused"],
      [8192, 2, 16, "gemm", "fused"],
    ] as const) {
      const base =
        ctx === 64 ? ref : await evaluate(modelDir, { datasets: [CORPUS], cacheDir, contextLength: 16, stride: 8 });
      const got = await evaluateInGraph(modelDir, {
        datasets: [CORPUS],
        cacheDir,
        provider: "cpu",
        vocabChunk,
        batchSize,
        headOp,
        forward,
        contextLength: ctx,
        stride: ctx === 64 ? undefined : 8,
      });
      expect(got.tokenCount).to.equal(base.tokenCount);
      expect(got.windows).to.equal(base.windows);
      expect(Math.abs(got.loss - base.loss), `chunk ${vocabChunk} batch ${batchSize} ${forward}`).to.be.lessThan(1e-5);
    }
  });

  for (const attention of ["mha", "gqa"] as const)
    it(`the WebGPU decoding graph (fused kernels, ${attention === "mha" ? "MultiHeadAttention" : "GroupQueryAttention"}) gives the CPU decoding graph's logits within 1e-4 and its tokens (CPU provider)`, async function () {
      await checkFusedDecodeGraph(attention);
    });

  async function checkFusedDecodeGraph(attention: "mha" | "gqa"): Promise<void> {
    const c = PRESETS.tiny;
    const { dir } = await prepareServingDir(modelDir, { cacheDir });
    const plain = await ortSession(decodeGraphFile(dir, c.vocab_size), "cpu");
    const fused =
      attention === "mha"
        ? await ortSession(webgpuDecodeGraphFile(dir, c), "cpu")
        : await ort.InferenceSession.create(
            buildFusedGraph(fs.readFileSync(path.join(dir, "onnx", "model.onnx")), c, "decode", "gqa"),
          );
    expect(fused.inputNames).to.have.members(plain.inputNames);
    expect(fused.outputNames).to.have.members(plain.outputNames);
    const prompt = [464, 2068, 286, 262, 1499, 11];
    const t = prompt.length;
    const hd = c.n_embd / c.n_head;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(prompt, BigInt), [1, t]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(t).fill(1n), [1, t]),
      position_ids: new ort.Tensor(
        "int64",
        BigInt64Array.from(prompt, (_, j) => BigInt(j)),
        [1, t],
      ),
    };
    for (let l = 0; l < c.n_layer; l++)
      for (const kv of ["key", "value"])
        feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [1, c.n_head, 0, hd]);
    const [a, b] = [await plain.run(feeds), await fused.run(feeds)];
    const la = a.logits.data as Float32Array;
    const lb = b.logits.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < la.length; i++) worst = Math.max(worst, Math.abs(la[i] - lb[i]));
    expect(worst).to.be.lessThan(1e-4);
    for (let l = 0; l < c.n_layer; l++) {
      const pa = a[`present.${l}.value`].data as Float32Array;
      const pb = b[`present.${l}.value`].data as Float32Array;
      expect(pb.length).to.equal(pa.length);
      pa.forEach((v, i) => expect(Math.abs(v - pb[i])).to.be.lessThan(1e-4));
    }
    const settings = { maxNewTokens: 16, sample: false, temperature: 1, topK: 0, processors: [] };
    expect(await decode(fused, c, prompt, settings)).to.deep.equal(await decode(plain, c, prompt, settings));
  }

  it("the fused forward with GroupQueryAttention under the loss graph gives the serving forward's losses within 1e-5 (CPU provider)", async function () {
    const c = PRESETS.tiny;
    const { dir } = await prepareServingDir(modelDir, { cacheDir });
    const serving = fs.readFileSync(path.join(dir, "onnx", "model.onnx"));
    const [b, t] = [3, 40];
    const tok = (i: number, j: number): number => (7919 * (i * t + j) + 13) % c.vocab_size;
    const ids = (f: (i: number, j: number) => number) =>
      new ort.Tensor(
        "int64",
        BigInt64Array.from({ length: b * t }, (_, k) => BigInt(f(Math.floor(k / t), k % t))),
        [b, t],
      );
    const feeds = {
      input_ids: ids(tok),
      attention_mask: ids(() => 1),
      position_ids: ids((_, j) => j),
      labels: ids((i, j) => tok(i, j + 1)),
    };
    const nll = async (graph: Uint8Array) =>
      (await (await ort.InferenceSession.create(buildLossGraph(graph, c.vocab_size, 8192))).run(feeds)).nll
        .data as Float32Array;
    const want = await nll(serving);
    const got = await nll(buildFusedGraph(serving, c, "forward", "gqa"));
    expect(got.length).to.equal(b * t);
    got.forEach((v, i) => expect(Math.abs(v - want[i]), `position ${i}`).to.be.lessThan(1e-5));
  });

  it("the GPU check's profile of the loss graph: every node's provider, time by operator, the trace kept (CPU provider)", async function () {
    const { dir } = await prepareServingDir(modelDir, { cacheDir });
    const t = 16;
    const ids = (f: (j: number) => number) =>
      new ort.Tensor(
        "int64",
        BigInt64Array.from({ length: 2 * t }, (_, k) => BigInt(f(k % t))),
        [2, t],
      );
    const keepTrace = path.join(tmpDir("prof"), "trace.json");
    const file = lossGraphFile(dir, PRESETS.tiny);
    const feeds = {
      input_ids: ids((j) => 100 + j),
      attention_mask: ids(() => 1),
      position_ids: ids((j) => j),
      labels: ids((j) => 101 + j),
    };
    const s = await profileGraph(file, "cpu", feeds, { runs: 2, keepTrace });
    expect(s.runs).to.equal(2);
    expect(Object.keys(s.providers)).to.deep.equal(["CPUExecutionProvider"]);
    // Every node of the optimised graph ran once a run; MatMul (one per block and projection) leads the time.
    const layers = PRESETS.tiny.n_layer;
    expect(s.providers.CPUExecutionProvider.nodes).to.be.greaterThan(10 * layers);
    expect(s.nodeOps.map((o) => o.name)).to.include("MatMul");
    expect(s.nodeOps.find((o) => o.name === "LayerNormalization")?.count).to.equal(2 * layers + 1);
    expect(s.lastRunMs).to.be.greaterThan(0);
    expect(s.cpuFallbackOps).to.deep.equal([]);
    expect(s.cpuFloatOps).to.deep.equal([]);
    expect(s.gpuPrograms).to.deep.equal([]);
    const trace = JSON.parse(fs.readFileSync(keepTrace, "utf8")) as Array<{ name?: string }>;
    expect(trace.filter((e) => e.name === "model_run")).to.have.length(2);
  });

  it("a profile summary of a WebGPU trace: CPU fallbacks named, GPU time grouped by kernel and shader program", function () {
    const node = (op: string, provider: string, dur: number) => ({
      cat: "Node",
      name: `${op}_1_kernel_time`,
      dur,
      args: { op_name: op, provider, output_type_shape: [{ [op === "Range" ? "int64" : "float"]: [2] }] },
    });
    const gpu = (name: string, dur: number) => ({ cat: "Api", name, dur, args: { shapes: "", cache_key: "k" } });
    const events = [
      { cat: "Session", name: "model_run", dur: 9000 },
      node("MatMul", "WebGpuExecutionProvider", 300),
      node("Range", "CPUExecutionProvider", 50),
      node("MatMul", "WebGpuExecutionProvider", 100),
      gpu("m_1&MatMul&MatMulPacked", 4000),
      gpu("m_2&MatMul&MatMulPacked", 2000),
      gpu("s_1&Softmax&Softmax", 1000),
      { cat: "Session", name: "model_run", dur: 7000 },
    ];
    const s = summarizeProfile(events, "webgpu", 2);
    expect(s.lastRunMs).to.equal(7);
    expect(s.providers).to.deep.equal({
      WebGpuExecutionProvider: { nodes: 1, ms: 0.2 },
      CPUExecutionProvider: { nodes: 1, ms: 0.025 },
    });
    expect(s.cpuFallbackOps).to.deep.equal(["Range"]);
    expect(s.cpuFloatOps).to.deep.equal([]);
    expect(s.gpuPrograms).to.deep.equal([
      { name: "MatMul/MatMulPacked", count: 1, ms: 3 },
      { name: "Softmax/Softmax", count: 1, ms: 0.5 },
    ]);
    expect(s.gpuMs).to.equal(3.5);
  });
});
