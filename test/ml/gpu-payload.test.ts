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
});
