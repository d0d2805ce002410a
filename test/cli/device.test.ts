/**
 * `--device` on the commands that run the builtin runtime here. `posthuman model create --device`: training on the CPU
 * or on WebGPU ("gpu"); any other device, or a GPU this host does not have, is refused before anything is written,
 * with what is missing. `posthuman up --device`: checked before the chain starts. (Training on Mesa's software WebGPU
 * is tested in test/ml/webgpu-software.test.ts; here the host's own WebGPU status decides which case runs.)
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { webgpuStatus } from "../../offchain/ml/webgpu-device";
import { cli } from "./cli-process";

const CORPUS = path.join(__dirname, "..", "..", "offchain", "cli", "demo-data", "alice-corpus.txt");

describe("posthuman model create --device, posthuman up --device", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-model-create-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  type Refusal = { error: { message: string; hint: string } };

  it("refuses a device it cannot train on, writing nothing", async () => {
    const folder = path.join(tmp, "tpu");
    const r = await cli<Refusal>(["--json", "model", "create", folder, "--train", CORPUS, "--device", "tpu"]);
    expect(r.code).to.equal(1);
    expect(r.json.error.message).to.equal("--device tpu: model create trains on the CPU or on WebGPU");
    expect(r.json.error.hint).to.equal("use --device cpu or gpu");
    expect(fs.existsSync(folder)).to.equal(false);
  });

  it("without a GPU, --device gpu names what is missing and writes nothing", async function () {
    const st = webgpuStatus();
    if (st.available) this.skip(); // a host with WebGPU trains: the GPU check covers it
    const folder = path.join(tmp, "gpu");
    const r = await cli<Refusal>(["--json", "model", "create", folder, "--train", CORPUS, "--device", "gpu"]);
    expect(r.code).to.equal(1);
    expect(r.json.error.message).to.match(/^WebGPU is unavailable: /);
    expect(r.json.error.message).to.include(st.missing[0]);
    expect(r.json.error.hint).to.match(/--device cpu/);
    expect(fs.existsSync(folder)).to.equal(false);
  });

  it("up refuses a device the worker cannot run on before it starts a chain or writes its data folder", async () => {
    const dataDir = path.join(tmp, "up");
    const r = await cli<Refusal>(["--json", "--data-dir", dataDir, "up", "--device", "tpu", "--chain-port", "0"]);
    expect(r.code).to.equal(1);
    expect(r.json.error.message).to.match(/the builtin runtime cannot run on device "tpu": unknown device "tpu"/);
    expect(r.json.error.message).to.include("--device cpu");
    expect(fs.existsSync(dataDir)).to.equal(false);
  });
});
