import * as ort from "onnxruntime-node";
import { MlError } from "./errors";
import { webgpuUnavailable } from "./webgpu-device";

/**
 * onnxruntime sessions of the graphs this runtime writes next to a serving export (the loss graph, the
 * decode graph), one per (graph file, provider, threads) in a process.
 */

export type OrtProvider = "webgpu" | "cpu" | "cuda";

/**
 * onnxruntime session options for a provider; WebGPU keeps onnxruntime's defaults but skips API validation.
 * `deviceOutputs` (WebGPU) stay on the GPU as `gpu-buffer` tensors (a KV cache fed back to the next run), to be
 * freed with dispose().
 */
export function ortSessionOptions(
  provider: OrtProvider,
  threads = 1,
  deviceOutputs: string[] = [],
): ort.InferenceSession.SessionOptions {
  const keep = provider === "webgpu" && deviceOutputs.length > 0;
  return {
    ...(keep
      ? { preferredOutputLocation: Object.fromEntries(deviceOutputs.map((n) => [n, "gpu-buffer" as const])) }
      : {}),
    executionProviders: provider === "webgpu" ? [{ name: "webgpu", validationMode: "disabled" } as never] : [provider],
    graphOptimizationLevel: "all",
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    enableMemPattern: provider !== "webgpu",
    logSeverityLevel: 3,
    // The intra-op threads block between parallel sections instead of spinning: on a machine whose cores
    // are busy with other work, a spinning worker took the core the next section needed (tiny-model decoding
    // at 2 threads: 520-680 tokens/s spinning, 1,000-1,460 not, same run). Results do not depend on it.
    ...(provider === "cpu" ? { extra: { session: { intra_op: { allow_spinning: "0" } } } } : {}),
  };
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** One session per (graph file, provider, threads, outputs kept on the device) in this process. */
export function ortSession(
  file: string,
  provider: OrtProvider,
  threads = 1,
  deviceOutputs: string[] = [],
): Promise<ort.InferenceSession> {
  const key = `${file}|${provider}|${threads}|${deviceOutputs.join(",")}`;
  let p = sessions.get(key);
  if (!p) {
    const opts = ortSessionOptions(provider, threads, deviceOutputs);
    p = ort.InferenceSession.create(file, opts)
      // An onnxruntime that does not know the WebGPU option gets a second try with the provider's defaults.
      .catch((e: unknown) => {
        if (provider !== "webgpu") throw e;
        return ort.InferenceSession.create(file, { ...opts, executionProviders: ["webgpu"] });
      })
      .catch((e: unknown) => {
        sessions.delete(key);
        if (provider === "webgpu") throw webgpuUnavailable("onnxruntime could not start its WebGPU provider", e);
        if (provider === "cuda") {
          const why = `onnxruntime could not start its CUDA provider: ${(e as Error).message}`;
          throw new MlError("DEVICE_UNAVAILABLE", why, { device: "cuda" });
        }
        throw e;
      });
    sessions.set(key, p);
  }
  return p;
}

/** Releases the sessions ortSession opened in this process. */
export async function disposeOrtSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const p of all) {
    try {
      await (await p).release();
    } catch {
      // failed to start, nothing to release
    }
  }
}
