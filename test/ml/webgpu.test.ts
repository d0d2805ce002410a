import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { Gpt2Config, initWeights, PRESETS, saveCheckpoint } from "../../offchain/ml";
import { deviceStatus, normalizeDevice, requireDevice } from "../../offchain/ml/device";
import { evaluate } from "../../offchain/ml/evaluate";
import { disposeServed, generate } from "../../offchain/ml/serve";
import { trainModel as train } from "../../offchain/ml/train";
import { webgpuStatus, WebgpuHost } from "../../offchain/ml/webgpu-device";
import { disposeEvalSessions, evaluateInGraph } from "../../offchain/ml/webgpu-eval";
import { vocabChunks } from "../../offchain/ml/webgpu-loss-graph";
import { CORPUS, expectMlError, tmpDir } from "./helpers";

function perturbedModel(dir: string, seed: string, config: Gpt2Config = PRESETS.tiny): string {
  const w = initWeights(config, seed);
  for (const [name, t] of w) {
    if (name.endsWith(".bias") || name.includes("ln_"))
      for (let i = 0; i < t.length; i++) t[i] += 0.1 * Math.sin(7 * i + name.length);
    else for (let i = 0; i < t.length; i++) t[i] *= 3;
  }
  saveCheckpoint(dir, config, w);
  return dir;
}

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

  it("the in-graph chunked loss over every position matches evaluate() (the head on scored rows only) within 1e-5 (CPU provider)", async function () {
    expect(vocabChunks(10, 4)).to.deep.equal([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    const ref = await evaluate(modelDir, { datasets: [CORPUS], cacheDir });
    for (const [vocabChunk, batchSize, ctx, headOp] of [
      [8192, 1, 64, "matmul"],
      [5000, 3, 64, "gemm"],
      [50257, 2, 16, "matmul"],
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
        contextLength: ctx,
        stride: ctx === 64 ? undefined : 8,
      });
      expect(got.tokenCount).to.equal(base.tokenCount);
      expect(got.windows).to.equal(base.windows);
      expect(Math.abs(got.loss - base.loss), `chunk ${vocabChunk} batch ${batchSize}`).to.be.lessThan(1e-5);
    }
  });
});
