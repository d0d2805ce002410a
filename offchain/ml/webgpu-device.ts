import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { MlError } from "./errors";

/**
 * WebGPU on a server: onnxruntime-node's bundled WebGPU provider and Dawn (the `webgpu` package)
 * both reach the GPU through Vulkan, so a host needs (1) the Vulkan loader libvulkan.so.1,
 * (2) a Vulkan driver (an ICD manifest: NVIDIA's ships with the driver, as nvidia_icd.json) and
 * (3) the GPU's kernel driver. This module finds what is missing without touching the GPU, so the
 * error names it, and asks Dawn for an adapter when it is asked to.
 */

/** Folders the Vulkan loader searches for driver manifests when VK_DRIVER_FILES is not set. */
export const ICD_DIRS = [
  "/etc/vulkan/icd.d",
  "/usr/local/etc/vulkan/icd.d",
  "/usr/local/share/vulkan/icd.d",
  "/usr/share/vulkan/icd.d",
];
/** Where NVIDIA's container toolkit puts the driver's manifest (not searched by the loader by default). */
export const NVIDIA_CONTAINER_ICD = "/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json";
const LIB_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/lib/x86_64-linux-gnu",
  "/usr/lib64",
  "/lib64",
  "/usr/lib",
  "/usr/local/lib",
];

/** Set to 1 to accept a software Vulkan driver (lavapipe): the WebGPU code paths on the CPU, for tests. */
export const SOFTWARE_ENV = "POSTHUMAN_WEBGPU_SOFTWARE";

/** What the check reads; tests pass their own. */
export interface WebgpuHost {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  arch: string;
  /** Library folders searched for libvulkan.so.1 after LD_LIBRARY_PATH (default: ldconfig's cache + the usual). */
  libDirs?: string[];
  icdDirs?: string[];
  /** Files whose presence shows a GPU kernel driver (default /dev/nvidiactl, /dev/dri/renderD*). */
  gpuNodes?: string[];
}

export interface WebgpuStatus {
  available: boolean;
  /** One sentence per missing piece, each saying what to install or set. */
  missing: string[];
  loader?: string;
  drivers: string[];
}

function ldconfigDirs(): string[] {
  try {
    const r = spawnSync("ldconfig", ["-p"], { encoding: "utf8", timeout: 5000 });
    const dirs = new Set<string>();
    for (const line of (r.stdout ?? "").split("\n")) {
      const m = /=>\s*(\S*libvulkan\.so\.1)\s*$/.exec(line);
      if (m) dirs.add(path.dirname(m[1]));
    }
    return [...dirs];
  } catch {
    return [];
  }
}

function defaultGpuNodes(): string[] {
  const out = ["/dev/nvidiactl", "/proc/driver/nvidia/version"];
  try {
    for (const f of fs.readdirSync("/dev/dri")) if (f.startsWith("renderD")) out.push(path.join("/dev/dri", f));
  } catch {
    // no DRM devices
  }
  return out;
}

function manifests(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** Finds the Vulkan loader and drivers a WebGPU adapter needs; never touches the GPU. */
export function webgpuStatus(
  host: WebgpuHost = { env: process.env, platform: process.platform, arch: process.arch },
): WebgpuStatus {
  const missing: string[] = [];
  if (host.platform !== "linux" || host.arch !== "x64") {
    missing.push(
      `the WebGPU device is supported on linux/x64 (onnxruntime-node's bundled provider and Dawn over Vulkan); this is ${host.platform}/${host.arch}`,
    );
    return { available: false, missing, drivers: [] };
  }
  const ld = (host.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean);
  const libDirs = [...ld, ...(host.libDirs ?? [...ldconfigDirs(), ...LIB_DIRS])];
  const loader = libDirs.map((d) => path.join(d, "libvulkan.so.1")).find((f) => fs.existsSync(f));
  if (!loader) {
    missing.push(
      "no Vulkan loader (libvulkan.so.1 is not in LD_LIBRARY_PATH or the linker cache): install it (Debian/Ubuntu: apt-get install libvulkan1)",
    );
  }
  const explicit = host.env.VK_DRIVER_FILES ?? host.env.VK_ICD_FILENAMES;
  let drivers: string[];
  if (explicit) {
    drivers = explicit.split(":").filter(Boolean);
    const absent = drivers.filter((f) => !fs.existsSync(f));
    if (absent.length > 0) {
      const name = host.env.VK_DRIVER_FILES ? "VK_DRIVER_FILES" : "VK_ICD_FILENAMES";
      missing.push(`${name} names Vulkan driver manifests that do not exist: ${absent.join(", ")}`);
    }
    drivers = drivers.filter((f) => fs.existsSync(f));
  } else {
    drivers = (host.icdDirs ?? ICD_DIRS).flatMap(manifests);
    if (drivers.length === 0) {
      const hint = fs.existsSync(NVIDIA_CONTAINER_ICD)
        ? `; NVIDIA's is at ${NVIDIA_CONTAINER_ICD}: export VK_DRIVER_FILES=${NVIDIA_CONTAINER_ICD}`
        : " (NVIDIA: the driver package's Vulkan part, e.g. libnvidia-gl; set VK_DRIVER_FILES to its nvidia_icd.json)";
      missing.push(`no Vulkan driver manifest (ICD) in ${(host.icdDirs ?? ICD_DIRS).join(", ")}${hint}`);
    }
  }
  // A software driver (Mesa's lavapipe) runs WebGPU on the CPU, far slower than the CPU provider: for tests only.
  const software = host.env[SOFTWARE_ENV] === "1";
  const hw = drivers.filter((f) => !/lvp_icd|lavapipe|swiftshader/i.test(path.basename(f)));
  if (drivers.length > 0 && hw.length === 0 && !software) {
    missing.push(
      `only a software Vulkan driver is installed (${drivers.map((f) => path.basename(f)).join(", ")}): WebGPU needs a GPU driver's Vulkan ICD (a software one, Mesa 24 or later, runs with ${SOFTWARE_ENV}=1, for tests; Debian bookworm's lavapipe 22.3 is too old for Dawn)`,
    );
  }
  const nodes = host.gpuNodes ?? defaultGpuNodes();
  if (!software && !nodes.some((f) => fs.existsSync(f))) {
    missing.push("no GPU kernel driver (no /dev/nvidiactl or /dev/dri/renderD*): install the GPU driver");
  }
  return { available: missing.length === 0, missing, loader, drivers };
}

/** DEVICE_UNAVAILABLE naming what is missing (or, when nothing is, the provider's own error). */
export function webgpuUnavailable(what: string, cause?: unknown, st: WebgpuStatus = webgpuStatus()): MlError {
  const parts = st.missing.length > 0 ? st.missing : [];
  const why = cause instanceof Error ? cause.message : cause === undefined ? "" : String(cause);
  const msg =
    parts.length > 0
      ? `${what}: ${parts.join("; ")}`
      : `${what}${why ? `: ${why.split("\n")[0]}` : ""} (the Vulkan loader and a driver were found: check that the driver's Vulkan part matches the kernel driver)`;
  return new MlError("DEVICE_UNAVAILABLE", msg, { device: "webgpu", missing: parts, cause: why.slice(0, 500) });
}

interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}
export interface GpuLike {
  requestAdapter(opts?: { powerPreference?: string }): Promise<AdapterLike | null>;
}
export interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  limits?: { maxBufferSize?: number; maxStorageBufferBindingSize?: number };
}

let dawn: DawnModule | null = null;

/** Loads Dawn's Node binding from the `webgpu` package (its ESM wrapper only adds buffer bookkeeping). */
export function loadDawn(): DawnModule {
  if (!dawn) {
    const root = path.dirname(require.resolve("webgpu/package.json"));
    const file = path.join(root, "dist", `${process.platform}-${process.arch}`, "dawn.node");
    if (!fs.existsSync(file)) {
      throw new MlError("DEVICE_UNAVAILABLE", `Dawn (the webgpu package) has no binary for this platform: ${file}`, {
        device: "webgpu",
      });
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    dawn = require(file) as DawnModule;
  }
  return dawn;
}

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** Asks Dawn for a high-performance adapter; DEVICE_UNAVAILABLE (naming what is missing) when there is none. */
export async function requestWebgpuAdapter(): Promise<{ gpu: GpuLike; adapter: AdapterLike; info: AdapterInfo }> {
  const gpu = loadDawn().create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw webgpuUnavailable("no WebGPU adapter", "Dawn found no Vulkan adapter");
  const i = adapter.info ?? {};
  return {
    gpu,
    adapter,
    info: {
      vendor: i.vendor ?? "",
      architecture: i.architecture ?? "",
      device: i.device ?? "",
      description: i.description ?? "",
      maxBufferSize: Number(adapter.limits?.maxBufferSize ?? 0),
      maxStorageBufferBindingSize: Number(adapter.limits?.maxStorageBufferBindingSize ?? 0),
    },
  };
}
