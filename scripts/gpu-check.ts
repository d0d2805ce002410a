/**
 * npm run gpu-check -- [--out DIR]... [--rehearse]
 *
 * Builds the GPU check's payload (offchain/bench/gpu-payload.ts) into each --out folder (default
 * .gpu-payload, ignored by git), then on the GPU host: `bash .gpu-payload/run-on-host.sh`, which writes
 * $OUT/gpu.json (commit it as bench/results/gpu.json). --rehearse runs that same script here, from a
 * scratch copy, without a GPU (tiny model, Debian's PyTorch on the CPU; the builtin runtime on Mesa's software
 * WebGPU when scripts/software-webgpu.sh has set it up, else on onnxruntime's CPU provider). See docs/operator.md, "GPU".
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildPayload } from "../offchain/bench/gpu-payload";

const USAGE = `usage: npm run gpu-check -- [--out DIR]... [--rehearse]

Builds the GPU check's payload (Node, the bundled runtime, native libraries, the Vulkan loader, the executor's
Python) into each --out folder (default .gpu-payload). On a GPU host with Python and PyTorch, run
  OUT=<folder> bash .gpu-payload/run-on-host.sh
which writes gpu.json (commit it as bench/results/gpu.json), lines.jsonl, logs.txt and host.txt into <folder>
(without OUT: /dev/shm/posthuman-gpu-check/out, or /tmp/... where /dev/shm is small).

  --out DIR    build into DIR (repeatable; default .gpu-payload)
  --rehearse   then run that script here without a GPU: tiny model, PyTorch on the CPU, the builtin runtime on
               Mesa's software WebGPU when scripts/software-webgpu.sh set it up (else onnxruntime's CPU provider)
  -h, --help   this text`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) return void console.log(USAGE);
  const outs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--out" && args[i + 1]) outs.push(path.resolve(args[++i]));
    else if (args[i] !== "--rehearse") throw new Error(`unknown argument ${args[i]}\n\n${USAGE}`);
  }
  if (outs.length === 0) outs.push(path.resolve(".gpu-payload"));
  const root = path.resolve(__dirname, "..");
  const first = outs[0];
  const m = await buildPayload(first, { root, log: (s) => console.log(`gpu-check: ${s}`) });
  for (const o of outs.slice(1)) {
    fs.rmSync(o, { recursive: true, force: true });
    fs.cpSync(first, o, { recursive: true });
  }
  console.log(
    `gpu-check: payload ${(m.totalBytes / 2 ** 20).toFixed(1)} MiB in ${m.files.length} files -> ${outs.join(", ")}`,
  );
  if (args.includes("--rehearse")) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-check-rehearsal-"));
    const copy = path.join(work, "payload");
    fs.cpSync(first, copy, { recursive: true });
    const python = fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    // The builtin runtime's steps on a software WebGPU (lavapipe) where scripts/software-webgpu.sh set one up.
    const sw = spawnSync("bash", [path.join(root, "scripts", "software-webgpu.sh"), "--print"], { encoding: "utf8" });
    const icd = sw.status === 0 ? sw.stdout.trim() : "";
    const webgpu = icd ? { GPU_CHECK_DEVICE: "webgpu", VK_DRIVER_FILES: icd, POSTHUMAN_WEBGPU_SOFTWARE: "1" } : {};
    console.log(
      `gpu-check: rehearsal in ${work} (tiny model; builtin runtime on ${icd ? "lavapipe's WebGPU" : "the CPU"})`,
    );
    const r = spawnSync("bash", [path.join(copy, "run-on-host.sh")], {
      stdio: "inherit",
      env: {
        ...process.env,
        ...webgpu,
        GPU_CHECK_LOCAL: "1",
        GPU_CHECK_WORK: work,
        OUT: path.join(work, "out"),
        PYTHON: python,
      },
    });
    // Only the results stay (the payload's copy and the models come to about 300 MB a rehearsal).
    for (const f of fs.readdirSync(work))
      if (f !== "out") fs.rmSync(path.join(work, f), { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`rehearsal failed (${r.status}); its logs are in ${path.join(work, "out")}`);
    console.log(fs.readFileSync(path.join(work, "out", "gpu.json"), "utf8"));
    console.log(`gpu-check: the rehearsal's figures and logs are in ${path.join(work, "out")}`);
  }
}

main().catch((e) => {
  console.error(`gpu-check: ${(e as Error).message}`);
  process.exit(1);
});
