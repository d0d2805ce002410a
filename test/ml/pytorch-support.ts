import { probeTorch, type TorchProbe } from "../../offchain/ml/torch-executor";

/** Debian's PyTorch (apt-get install python3-torch): CI installs it; the Python first on PATH may not have torch. */
export const TORCH_PYTHON = process.env.POSTHUMAN_TORCH_PYTHON ?? "/usr/bin/python3";

let memo: TorchProbe | string | undefined;

/** The probe of TORCH_PYTHON, or why the PyTorch tests cannot run here (probed once per test process). */
export function torchProbe(): TorchProbe | string {
  if (memo === undefined) {
    try {
      memo = probeTorch(TORCH_PYTHON);
    } catch (e) {
      memo = (e as Error).message;
    }
  }
  return memo;
}
