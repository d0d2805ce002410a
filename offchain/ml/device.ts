import * as fs from "fs";
import * as path from "path";
import { MlError } from "./errors";

export type Device = "cpu" | "cuda";

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
export function deviceStatus(device: string): DeviceStatus {
  if (device === "cpu") return { device: "cpu", available: true };
  if (device !== "cuda")
    return { device: "cpu", available: false, reason: `unknown device "${device}" (use "cpu" or "cuda")` };
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
  const d = device ?? "cpu";
  const st = deviceStatus(d);
  if (!st.available) throw new MlError("DEVICE_UNAVAILABLE", st.reason ?? `device ${d} is unavailable`, { device: d });
  return st.device;
}
