import * as fs from "fs";
import * as path from "path";
import { MlError } from "./errors";
import { webgpuStatus } from "./webgpu-device";

export type Device = "cpu" | "cuda" | "webgpu";

/** Device names users may type: "gpu" is WebGPU (bundled, no download); see docs/ml.md, "GPU". */
export function normalizeDevice(device: string | undefined): string {
  const d = (device ?? "cpu").trim().toLowerCase();
  return d === "gpu" ? "webgpu" : d;
}

/** Where onnxruntime-node looks for its execution-provider libraries. */
export function ortBinDir(): string {
  const root = path.dirname(require.resolve("onnxruntime-node/package.json"));
  return path.join(root, "bin", "napi-v6", process.platform, process.arch);
}

export interface DeviceStatus {
  device: Device;
  available: boolean;
  reason?: string;
}

/** Reports whether a device can be used, without touching it. */
export function deviceStatus(name: string): DeviceStatus {
  const device = normalizeDevice(name);
  if (device === "cpu") return { device: "cpu", available: true };
  if (device === "webgpu") {
    const st = webgpuStatus();
    return st.available
      ? { device, available: true }
      : { device, available: false, reason: `WebGPU is unavailable: ${st.missing.join("; ")}` };
  }
  if (device !== "cuda")
    return {
      device: "cpu",
      available: false,
      reason: `unknown device "${name}" (use "cpu", "webgpu" (alias "gpu") or "cuda")`,
    };
  if (process.platform !== "linux" || process.arch !== "x64") {
    return {
      device,
      available: false,
      reason: `onnxruntime-node's CUDA provider exists for linux/x64 only, this is ${process.platform}/${process.arch}`,
    };
  }
  const lib = path.join(ortBinDir(), "libonnxruntime_providers_cuda.so");
  if (!fs.existsSync(lib)) {
    return {
      device,
      available: false,
      reason: `onnxruntime-node's CUDA provider is not installed (${lib} is missing); see docs/ml.md, "CUDA"`,
    };
  }
  if (!fs.existsSync("/proc/driver/nvidia/version") && !fs.existsSync("/dev/nvidiactl")) {
    return {
      device,
      available: false,
      reason: "no NVIDIA driver on this host (/proc/driver/nvidia/version is missing)",
    };
  }
  return { device, available: true };
}

/** Throws DEVICE_UNAVAILABLE (never crashes) when the device cannot be used here. */
export function requireDevice(device: string | undefined): Device {
  const d = normalizeDevice(device);
  const st = deviceStatus(d);
  if (!st.available) throw new MlError("DEVICE_UNAVAILABLE", st.reason ?? `device ${d} is unavailable`, { device: d });
  return st.device;
}
