/**
 * Runs one job with the builtin executor in this process and exits:
 *   node -r ./offchain/ml/ts-loader.js offchain/ml/run-job.ts <jobDir>
 * Settings from the environment: POSTHUMAN_ML_DEVICE (cpu|cuda), POSTHUMAN_ML_THREADS, POSTHUMAN_ML_CACHE,
 * POSTHUMAN_ML_MAX_PROMPTS; or, with POSTHUMAN_ML_EXECUTOR=pytorch, the PyTorch executor with the settings (and the
 * probe) of POSTHUMAN_TORCH_SETTINGS (torchProcessExecutor). Progress goes to stdout as `PROGRESS {json}` lines; an input error is written
 * to outputs/error.json {code, message} (exit 2); any other failure exits 1.
 * `run-job.ts --child <modelDir>` validates an external program's child checkpoint and prints `CHILD {weightsRoot,
 * configHash}` (exit 0), or its refusal on stderr (exit 2): the external executor's check, off the caller's event loop.
 */
import * as fs from "fs";
import * as path from "path";
import { configHash, loadCheckpoint, weightsRoot } from "./checkpoint";
import { Device } from "./device";
import { isMlError } from "./errors";
import { BuiltinExecutor, Executor, readJobFile } from "./executor";
import { decodeTorchSettings, TorchExecutor } from "./torch-executor";

/** `--child <dir>`: validates a training job's child checkpoint and prints its hashes (checkChildInProcess). */
async function checkChild(dir: string): Promise<number> {
  try {
    loadCheckpoint(dir, { limits: { maxParams: Infinity, maxContext: Infinity, maxVocab: Infinity } });
    const hashes = { weightsRoot: await weightsRoot(dir), configHash: await configHash(dir) };
    process.stdout.write(`CHILD ${JSON.stringify(hashes)}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
}

async function main(): Promise<number> {
  if (process.argv[2] === "--child" && process.argv[3]) return checkChild(process.argv[3]);
  const jobDir = process.argv[2];
  if (!jobDir) {
    process.stderr.write("usage: run-job.ts <jobDir> | run-job.ts --child <modelDir>\n");
    return 64;
  }
  const ac = new AbortController();
  process.on("SIGTERM", () => ac.abort());
  process.on("SIGINT", () => ac.abort());
  try {
    const job = readJobFile(jobDir);
    const exec: Executor =
      process.env.POSTHUMAN_ML_EXECUTOR === "pytorch"
        ? new TorchExecutor(decodeTorchSettings(process.env.POSTHUMAN_TORCH_SETTINGS ?? "{}"))
        : new BuiltinExecutor({
            device: (process.env.POSTHUMAN_ML_DEVICE ?? "cpu") as Device,
            threads: process.env.POSTHUMAN_ML_THREADS ? Number(process.env.POSTHUMAN_ML_THREADS) : undefined,
            cacheDir: process.env.POSTHUMAN_ML_CACHE || undefined,
            maxPrompts: process.env.POSTHUMAN_ML_MAX_PROMPTS ? Number(process.env.POSTHUMAN_ML_MAX_PROMPTS) : undefined,
          });
    const r = await exec.run({
      kind: job.kind,
      jobDir,
      signal: ac.signal,
      onProgress: (p) => process.stdout.write(`PROGRESS ${JSON.stringify(p)}\n`),
    });
    process.stdout.write(`RESULT ${JSON.stringify({ outputHash: r.outputHash, runtimeId: r.runtimeId })}\n`);
    return 0;
  } catch (e) {
    if (isMlError(e)) {
      const out = path.join(jobDir, "outputs");
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, "error.json"), JSON.stringify({ code: e.code, message: e.message }) + "\n");
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  },
);
