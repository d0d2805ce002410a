import { normalizeDevice, requireDevice } from "./device";
import { ensureWasmBackend, tf } from "./tf-backend";
import { loadDawn, webgpuUnavailable } from "./webgpu-device";

/**
 * TensorFlow.js on WebGPU in Node: Dawn (the `webgpu` package) provides navigator.gpu, then
 * @tensorflow/tfjs-backend-webgpu is loaded; it registers itself only if navigator.gpu exists
 * when its module is evaluated, hence the order here. The backend is process-wide: a process that
 * trains on WebGPU runs all its TensorFlow.js work there (workers run each job in its own process).
 */

let ready: Promise<void> | null = null;

export function ensureWebgpuTfBackend(): Promise<void> {
  if (!ready) {
    ready = (async () => {
      requireDevice("webgpu");
      const { create, globals } = loadDawn();
      const g = globalThis as Record<string, unknown>;
      for (const [k, v] of Object.entries(globals)) if (!(k in g)) g[k] = v;
      const gpu = create([]);
      const nav = (g.navigator ?? {}) as Record<string, unknown>;
      if (!nav.gpu) Object.defineProperty(nav, "gpu", { value: gpu, configurable: true });
      if (!g.navigator) Object.defineProperty(g, "navigator", { value: nav, configurable: true, writable: true });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require("@tensorflow/tfjs-backend-webgpu");
      let ok = false;
      try {
        ok = await tf.setBackend("webgpu");
      } catch (e) {
        throw webgpuUnavailable("TensorFlow.js could not start its WebGPU backend", e);
      }
      if (!ok) throw webgpuUnavailable("TensorFlow.js could not start its WebGPU backend", "no adapter");
      await tf.ready();
    })();
    ready.catch(() => (ready = null));
  }
  return ready;
}

/** The training backend of a device: WebGPU for webgpu/gpu, the wasm backend otherwise. */
export function ensureTrainBackend(device: string | undefined): Promise<void> {
  return normalizeDevice(device) === "webgpu" ? ensureWebgpuTfBackend() : ensureWasmBackend();
}
