import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
  checkManifest,
  listFiles,
  makeManifest,
  PAYLOAD_LIMIT_BYTES,
  REQUIRED_FILES,
  runtimeModuleFiles,
} from "../../offchain/bench/gpu-payload";
import { tmpDir } from "./helpers";

function fakePayload(extra: Record<string, number> = {}): string {
  const dir = tmpDir("payload");
  const files: Record<string, number> = { "libvulkan1_1.3.239.0-1_amd64.deb": 10, ...extra };
  for (const f of REQUIRED_FILES) files[f] ??= 100;
  for (const [f, n] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), Buffer.alloc(n, f.length));
  }
  return dir;
}

describe("gpu-check payload: manifest, size limit, runtime files", function () {
  it("a complete payload passes; its manifest lists every file with size and SHA-256", function () {
    const dir = fakePayload({ "executor/pytorch/run.py": 5 });
    const m = makeManifest(dir);
    expect(m.files.map((f) => f.path)).to.include.members([...REQUIRED_FILES, "executor/pytorch/run.py"]);
    expect(m.totalBytes).to.equal(REQUIRED_FILES.length * 100 + 15);
    expect(m.limitBytes).to.equal(PAYLOAD_LIMIT_BYTES);
    for (const f of m.files) expect(f.sha256).to.match(/^[0-9a-f]{64}$/);
    checkManifest(m, dir);
  });

  it("refuses a missing file, a payload over the limit, a file changed after the manifest, a link", function () {
    const dir = fakePayload();
    fs.rmSync(path.join(dir, "node.xz"));
    expect(() => checkManifest(makeManifest(dir))).to.throw("missing node.xz");
    const big = fakePayload();
    const m = makeManifest(big);
    expect(() => checkManifest({ ...m, limitBytes: 500 })).to.throw(/over its 0 MiB limit; largest: /);
    expect(() => checkManifest({ ...m, totalBytes: m.totalBytes + 1 })).to.throw("not the sum");
    fs.writeFileSync(path.join(big, "bench.mjs"), Buffer.alloc(100, 0));
    expect(() => checkManifest(m, big)).to.throw("bench.mjs does not match the manifest");
    fs.symlinkSync(path.join(big, "bench.mjs"), path.join(big, "link.mjs"));
    expect(() => listFiles(big)).to.throw("symbolic link: link.mjs");
  });

  it("ships the native addons and what the bundle resolves at run time", function () {
    const root = path.resolve(__dirname, "..", "..");
    const files = runtimeModuleFiles(root).map((f) => path.relative(root, f));
    for (const want of [
      "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1",
      "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node",
      "node_modules/onnxruntime-node/package.json",
      "node_modules/webgpu/dist/linux-x64/dawn.node",
      "node_modules/gpt-tokenizer/data/r50k_base.tiktoken",
      "node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
    ])
      expect(files).to.include(want);
    expect(files.filter((f) => f.endsWith(".d.ts") || f.endsWith(".map"))).to.deep.equal([]);
  });

  it("npm run gpu-check -- --help says how to build and run the check; an unknown argument is refused with it", function () {
    const root = path.resolve(__dirname, "..", "..");
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ["-r", "./offchain/ml/ts-loader.js", "scripts/gpu-check.ts", ...args], {
        cwd: root,
        encoding: "utf8",
      });
    const out = path.join(tmpDir("help"), "payload");
    const help = run("--help", "--out", out);
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/^usage: npm run gpu-check -- \[--out DIR\]\.\.\. \[--rehearse\]/);
    for (const s of ["run-on-host.sh", "bench/results/gpu.json", "--rehearse", "--out DIR"])
      expect(help.stdout).to.include(s);
    expect(fs.existsSync(out), "--help builds nothing").to.equal(false);
    const bad = run("--gpu");
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.match(/^gpu-check: unknown argument --gpu\n\nusage: /);
  });

  it("collect.py names the figures as the issue asks: <kind> vs raw PyTorch (executor), <kind> vs PyTorch (WebGPU)", function () {
    const py = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "1"]).status === 0);
    if (!py) this.skip();
    const out = tmpDir("collect");
    const row = (o: Record<string, unknown>) => JSON.stringify({ config: "small", ...o });
    fs.writeFileSync(
      path.join(out, "steps.jsonl"),
      [
        row({ step: "torch-info", gpu: "NVIDIA H200", torch: "2.11", cuda: "13.0" }),
        row({ step: "torch-train", tokens_per_s: 100, device: "cuda", precision: "bf16", impl: "eager" }),
        row({ step: "torch-eval", tokens_per_s: 200, device: "cuda", precision: "fp32", impl: "eager" }),
        row({ step: "torch-generate", tokens_per_s: 50, device: "cuda" }),
        row({ step: "executor-train", tokens_per_s: 95 }),
        row({ step: "executor-eval", tokens_per_s: 190 }),
        row({ step: "executor-generate", error: "timed out" }),
        row({ step: "webgpu-eval", tokens_per_s: 100, device: "webgpu" }),
        row({ step: "webgpu-generate", tokens_per_s: 60, device: "webgpu" }),
        row({ step: "webgpu-repeat", what: "evaluation", same: true, device: "webgpu" }),
        row({ step: "webgpu-repeat", what: "generation", same: false, device: "webgpu" }),
      ].join("\n") + "\n",
    );
    const r = spawnSync(py as string, [path.join(__dirname, "..", "..", "scripts", "gpu-check", "collect.py"), out]);
    expect(r.status, String(r.stderr)).to.equal(0);
    type Fig = { name: string; value: number | null; unit: string; params: Record<string, unknown> };
    const figs = JSON.parse(fs.readFileSync(path.join(out, "gpu.json"), "utf8")) as Fig[];
    const ratio = (name: string, device: string) =>
      figs.find(
        (f) => f.name === name && f.unit === "ratio" && f.params.device === device && f.params.config === "small",
      );
    expect(ratio("train vs raw PyTorch", "cuda")?.value).to.be.closeTo(0.95, 1e-9);
    expect(ratio("evaluation vs raw PyTorch", "cuda")?.value).to.be.closeTo(0.95, 1e-9);
    expect(ratio("generation vs raw PyTorch", "cuda")).to.deep.include({ value: null });
    expect(ratio("generation vs raw PyTorch", "cuda")?.params.error).to.equal("timed out");
    expect(ratio("evaluation vs PyTorch", "webgpu")?.value).to.be.closeTo(0.5, 1e-9);
    expect(ratio("generation vs PyTorch", "webgpu")?.value).to.be.closeTo(1.2, 1e-9);
    expect(ratio("train vs PyTorch", "webgpu")).to.deep.include({ value: null });
    const repeats = figs.filter((f) => f.unit === "boolean").map((f) => [f.name, f.value]);
    expect(repeats).to.deep.equal([
      ["evaluation repeats bit for bit, builtin WebGPU (small)", 1],
      ["generation repeats bit for bit, builtin WebGPU (small)", 0],
    ]);
    expect(figs[0].params.run).to.deep.include({ gpu: "NVIDIA H200", torch: "2.11" });
    // The goals, judged on GPT-2 small, in the line the run prints last.
    const printed = JSON.parse(String(r.stdout).trim().split("\n").pop() as string) as {
      goals: Record<string, string>;
    };
    expect(printed.goals).to.deep.equal({
      "train vs raw PyTorch ≥ 0.9": "met (0.950)",
      "evaluation vs raw PyTorch ≥ 0.9": "met (0.950)",
      "generation vs raw PyTorch ≥ 0.9": "not measured",
      "evaluation vs PyTorch ≥ 0.5": "met (0.500)",
      "generation vs PyTorch ≥ 1.0": "met (1.200)",
      "PyTorch executor training ≥ 100k tokens/s": "missed (95)",
    });
  });
});
