import * as tf from "@tensorflow/tfjs-core";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import * as path from "path";

export { tf };

let ready: Promise<void> | null = null;

/** Initialises TensorFlow.js on its wasm backend (SIMD, one thread) from the installed package files. */
export function ensureWasmBackend(): Promise<void> {
  if (!ready) {
    ready = (async () => {
      const dist =
        path.join(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + path.sep;
      setWasmPaths(dist);
      const ok = await tf.setBackend("wasm");
      if (!ok) throw new Error("could not initialise the TensorFlow.js wasm backend");
      await tf.ready();
    })();
  }
  return ready;
}
