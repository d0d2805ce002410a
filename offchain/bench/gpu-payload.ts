import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * The GPU check's payload: everything the GPU host needs (it has Python and PyTorch, but no Node,
 * no node_modules and no Vulkan loader), small enough to travel (at most 64 MiB with the checkout):
 *   run-on-host.sh, unpack.py, collect.py, torch_ref.py  the scripts (scripts/gpu-check/)
 *   bench.mjs               the builtin runtime's GPU entry point, bundled by rolldown
 *   node.xz                 this machine's Node binary
 *   runtime-modules.tar.xz  native addons and what the bundle resolves at run time: onnxruntime-node
 *                           (libonnxruntime.so.1 with its WebGPU provider), onnxruntime-common, webgpu
 *                           (dawn.node), tfjs-backend-wasm's .wasm files, a stand-in for sharp
 *   lib*.deb                Debian's Vulkan loader and libglvnd (NVIDIA's Vulkan driver needs it)
 *   executor/pytorch/       the PyTorch executor's Python files (its TypeScript side is in bench.mjs)
 *   manifest.json           every file with its size and SHA-256
 */

export const PAYLOAD_LIMIT_BYTES = 60 * 1024 * 1024;
export const REQUIRED_FILES = [
  "run-on-host.sh",
  "unpack.py",
  "collect.py",
  "torch_ref.py",
  "bench.mjs",
  "node.xz",
  "runtime-modules.tar.xz",
];
const SCRIPTS = ["run-on-host.sh", "unpack.py", "collect.py", "torch_ref.py"];

export interface PayloadFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  version: 1;
  node: string;
  files: PayloadFile[];
  totalBytes: number;
  limitBytes: number;
}

export interface BuildOptions {
  /** Repository root (node_modules, scripts/gpu-check). */
  root: string;
  /** Where compressed artefacts are kept between builds (xz of 70 MB takes a minute on 2 cores). */
  cacheDir?: string;
  log?: (s: string) => void;
}

function sha256File(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, encoding: "utf8", maxBuffer: 64 << 20, input: opts.input });
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || "").slice(-1500)}`,
    );
  }
  return r.stdout;
}

/** Lists every file of a payload folder (no links: the device tool does not carry them). */
export function listFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isSymbolicLink()) throw new Error(`payload holds a symbolic link: ${r}`);
    if (e.isDirectory()) out.push(...listFiles(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out.sort();
}

export function makeManifest(dir: string, node = process.version): Manifest {
  const files = listFiles(dir)
    .filter((f) => f !== "manifest.json")
    .map((f) => ({ path: f, bytes: fs.statSync(path.join(dir, f)).size, sha256: sha256File(path.join(dir, f)) }));
  return {
    version: 1,
    node,
    files,
    totalBytes: files.reduce((a, f) => a + f.bytes, 0),
    limitBytes: PAYLOAD_LIMIT_BYTES,
  };
}

/** Throws, naming the problem, when a payload is incomplete, too large or does not match its files. */
export function checkManifest(m: Manifest, dir?: string): void {
  const names = new Set(m.files.map((f) => f.path));
  const missing = REQUIRED_FILES.filter((f) => !names.has(f));
  if (!names.has("libvulkan1.deb") && !m.files.some((f) => /^libvulkan1_.*\.deb$/.test(f.path)))
    missing.push("libvulkan1_*.deb");
  if (missing.length > 0) throw new Error(`GPU payload is missing ${missing.join(", ")}`);
  const total = m.files.reduce((a, f) => a + f.bytes, 0);
  if (total !== m.totalBytes)
    throw new Error(`manifest totalBytes ${m.totalBytes} is not the sum of its files (${total})`);
  if (total > m.limitBytes) {
    const big = [...m.files].sort((a, b) => b.bytes - a.bytes).slice(0, 3);
    throw new Error(
      `GPU payload is ${(total / 2 ** 20).toFixed(1)} MiB, over its ${(m.limitBytes / 2 ** 20).toFixed(0)} MiB limit; largest: ${big.map((f) => `${f.path} ${(f.bytes / 2 ** 20).toFixed(1)} MiB`).join(", ")}`,
    );
  }
  if (dir) {
    for (const f of m.files) {
      const p = path.join(dir, f.path);
      if (!fs.existsSync(p) || fs.statSync(p).size !== f.bytes || sha256File(p) !== f.sha256)
        throw new Error(`GPU payload file ${f.path} does not match the manifest`);
    }
  }
}

/** xz -6 of a file or of a tar of a staged folder, cached by the inputs' names, sizes and mtimes. */
function cachedXz(cacheDir: string, key: string, make: (tmp: string) => void): string {
  const file = path.join(cacheDir, `${createHash("sha256").update(key).digest("hex").slice(0, 24)}.xz`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    make(tmp);
    fs.renameSync(tmp, file);
  }
  return file;
}

function statKey(files: string[]): string {
  return files.map((f) => `${f}:${fs.statSync(f).size}:${fs.statSync(f).mtimeMs}`).join("\n");
}

function xzFile(src: string, dest: string): void {
  run("sh", ["-c", 'xz -T2 -6 -c "$0" > "$1"', src, dest]);
}

/** Files of node_modules the bundle needs at run time (native addons, packages resolved by path). */
export function runtimeModuleFiles(root: string): string[] {
  const nm = path.join(root, "node_modules");
  const pick = (pkg: string, ...subs: string[]): string[] => {
    const base = path.join(nm, pkg);
    const out = [path.join(base, "package.json")];
    for (const s of subs) {
      const p = path.join(base, s);
      if (fs.statSync(p).isDirectory()) out.push(...listFiles(p).map((f) => path.join(p, f)));
      else out.push(p);
    }
    return out;
  };
  const wasm = path.join("dist");
  return [
    ...pick("onnxruntime-node", "dist", `bin/napi-v6/linux/x64`),
    ...pick("onnxruntime-common", "dist"),
    ...pick("webgpu", "dist/linux-x64/dawn.node"),
    ...pick("gpt-tokenizer", "data/r50k_base.tiktoken"),
    ...pick("@tensorflow/tfjs-backend-wasm").concat(
      fs
        .readdirSync(path.join(nm, "@tensorflow/tfjs-backend-wasm", wasm))
        .filter((f) => f.endsWith(".wasm"))
        .map((f) => path.join(nm, "@tensorflow/tfjs-backend-wasm", wasm, f)),
    ),
  ].filter((f) => !f.endsWith(".map") && !f.endsWith(".d.ts"));
}

const SHARP_STANDIN = `// The GPU check's bundle loads transformers.js, which imports sharp at load time for image
// inputs; GPT-2 needs none, so the payload carries this stand-in instead of libvips (15 MB).
function sharp() { throw new Error("sharp (image processing) is not part of the GPU check payload"); }
module.exports = sharp;
module.exports.default = sharp;
`;

function runtimeModules(root: string, cacheDir: string, dest: string): void {
  const files = runtimeModuleFiles(root);
  const xz = cachedXz(cacheDir, `modules-v1\n${statKey(files)}\n${SHARP_STANDIN}`, (tmp) => {
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), "gpu-payload-"));
    try {
      for (const f of files) {
        const rel = path.relative(root, f);
        fs.mkdirSync(path.dirname(path.join(stage, rel)), { recursive: true });
        fs.copyFileSync(f, path.join(stage, rel));
      }
      fs.mkdirSync(path.join(stage, "node_modules", "sharp"), { recursive: true });
      fs.writeFileSync(path.join(stage, "node_modules", "sharp", "index.js"), SHARP_STANDIN);
      fs.writeFileSync(
        path.join(stage, "node_modules", "sharp", "package.json"),
        JSON.stringify({ name: "sharp", version: "0.0.0-gpu-check-standin", main: "index.js" }),
      );
      run("sh", ["-c", 'tar -C "$0" -cf - node_modules | xz -T2 -6 > "$1"', stage, tmp]);
    } finally {
      fs.rmSync(stage, { recursive: true, force: true });
    }
  });
  fs.copyFileSync(xz, dest);
}

/**
 * Debian's Vulkan loader and the GL vendor-neutral dispatch libraries for amd64 (apt-get download, cached):
 * NVIDIA's Vulkan ICD is libGLX_nvidia.so.0, which returns no vkCreateInstance without libglvnd beside it.
 */
export const DEBS = ["libvulkan1", "libglvnd0", "libglx0", "libgl1", "libegl1", "libopengl0", "libgles2"];

function vulkanDebs(cacheDir: string, outDir: string): void {
  const dir = path.join(cacheDir, "deb");
  fs.mkdirSync(dir, { recursive: true });
  const have = (pkg: string): string | undefined =>
    fs.readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith("_amd64.deb"));
  const missing = DEBS.filter((p) => !have(p));
  if (missing.length > 0) {
    const lists = path.join(cacheDir, "apt-lists");
    fs.mkdirSync(path.join(lists, "partial"), { recursive: true });
    const o = ["-oAPT::Architecture=amd64", "-oAPT::Architectures=amd64", `-oDir::State::Lists=${lists}`];
    try {
      run("apt-get", [...o, "download", ...missing], { cwd: dir });
    } catch {
      run("apt-get", [...o, "update", "-qq"]);
      run("apt-get", [...o, "download", ...missing], { cwd: dir });
    }
  }
  for (const p of DEBS) {
    const f = have(p);
    if (!f) throw new Error(`apt-get download ${p} produced no amd64 .deb`);
    fs.copyFileSync(path.join(dir, f), path.join(outDir, f));
  }
}

/** Bundles the entry point (tree-shaking off: it would drop TensorFlow.js's kernel registrations). */
function bundle(root: string, outDir: string): void {
  run(
    path.join(root, "node_modules", ".bin", "rolldown"),
    [
      "scripts/gpu-check/bench-webgpu.ts",
      "-o",
      path.join(outDir, "bench.mjs"),
      "-f",
      "esm",
      "-p",
      "node",
      "--no-treeshake",
      // ESM has no __dirname (tfjs-backend-wasm's loader reads it) nor `module` (torch-bench.ts compares it with
      // require.main to run as a CLI): free variables, so globals will do; require.main is undefined here.
      "--banner",
      'import { fileURLToPath as __phUrl } from "node:url"; import { dirname as __phDir } from "node:path"; globalThis.__filename ??= __phUrl(import.meta.url); globalThis.__dirname ??= __phDir(globalThis.__filename); globalThis.module ??= { id: "bench.mjs", exports: {} };',
      ...["onnxruntime-node", "onnxruntime-common", "sharp", "webgpu"].flatMap((e) => ["-e", e]),
    ],
    { cwd: root },
  );
}

/** The PyTorch executor's Python files (offchain/ml/pytorch/); its TypeScript side is in the bundle. */
function executor(root: string, outDir: string): boolean {
  const src = path.join(root, "offchain", "ml", "pytorch");
  if (!fs.existsSync(path.join(src, "run.py"))) return false;
  const dest = path.join(outDir, "executor");
  for (const f of listFiles(src).filter((f) => f.endsWith(".py"))) {
    fs.mkdirSync(path.dirname(path.join(dest, "pytorch", f)), { recursive: true });
    fs.copyFileSync(path.join(src, f), path.join(dest, "pytorch", f));
  }
  return true;
}

export async function buildPayload(outDir: string, opts: BuildOptions): Promise<Manifest> {
  const log = opts.log ?? (() => undefined);
  const cacheDir = opts.cacheDir ?? path.join(os.homedir(), ".cache", "posthuman-gpu-check");
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  for (const s of SCRIPTS) fs.copyFileSync(path.join(opts.root, "scripts", "gpu-check", s), path.join(outDir, s));
  log("bundling scripts/gpu-check/bench-webgpu.ts (rolldown)");
  bundle(opts.root, outDir);
  log(`compressing ${process.execPath} (xz, cached)`);
  const node = cachedXz(cacheDir, `node-v1\n${statKey([process.execPath])}`, (tmp) => xzFile(process.execPath, tmp));
  fs.copyFileSync(node, path.join(outDir, "node.xz"));
  log("native addons and runtime modules (xz, cached)");
  runtimeModules(opts.root, cacheDir, path.join(outDir, "runtime-modules.tar.xz"));
  log(`Debian's ${DEBS.join(", ")} (apt-get download, cached)`);
  vulkanDebs(cacheDir, outDir);
  log(
    executor(opts.root, outDir)
      ? "the PyTorch executor"
      : "no PyTorch executor in this checkout: its figures will be missing",
  );
  const m = makeManifest(outDir);
  fs.writeFileSync(path.join(outDir, "manifest.json"), JSON.stringify(m, null, 2) + "\n");
  checkManifest(m, outDir);
  return m;
}
