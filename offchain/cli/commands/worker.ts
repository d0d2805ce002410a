/** `posthuman worker`: run a worker against any network from its configuration (file, variables, flags). */
import type { Command } from "commander";
import { untilSignal, type Wiring } from "./shared";

/**
 * `flags` declares the worker's options (worker-cmd.ts WORKER_FLAGS, which loads the whole worker: main() passes
 * them only when the command line names the worker).
 */
export function addWorkerCommand(program: Command, w: Wiring, flags: readonly [string, string][]): void {
  const workerCmd = program
    .command("worker")
    .description("run a worker against any network from its configuration (file, POSTHUMAN_WORKER_* variables, flags)");
  for (const [flag, help] of flags) workerCmd.option(flag, help);
  workerCmd.option(
    "--calibrate <model-dir>",
    "measure this machine's throughput on a model folder (one short run of each kind served), record it for admission control, and exit",
  );
  workerCmd.action(async ({ calibrate, ...opts }: Record<string, unknown>, cmd: Command) =>
    w.run(async (out) => {
      const g = w.context(cmd);
      const { calibrateFromFlags, startWorkerFromFlags, workerFlags } = await import("../worker-cmd");
      const from = cmd.parent?.getOptionValueSource("dataDir");
      const home = from === "cli" || from === "env" ? { dir: g.dataDir, from: from as "cli" | "env" } : undefined;
      const { flags: f, env } = workerFlags(opts, home);
      if (typeof calibrate === "string") {
        const onRun = (kind: string) => out.info(`calibrating: a short ${kind} run…`);
        const rows = await calibrateFromFlags(f, calibrate, onRun, env);
        return out.result({ calibration: rows }, () =>
          rows
            .map(
              (r) =>
                `${r.kind.padEnd(8)} ${(r.runMs / 1000).toFixed(1)} s for ${r.work.toExponential(2)} work units: ` +
                `${r.rate.toExponential(2)} units/s recorded; a job of that shape is now estimated at ${Math.ceil(r.estimateSec)} s`,
            )
            .join("\n"),
        );
      }
      if (g.deployment && !f.addressBook) f.addressBook = g.deployment;
      // The global --rpc applies when given explicitly; its default must not hide the worker's own configuration.
      if (!f.rpcUrl && cmd.parent?.getOptionValueSource("rpc") === "cli") f.rpcUrl = g.rpc;
      if (!f.keyFile && g.keyFile) f.keyFile = g.keyFile;
      const worker = await startWorkerFromFlags(f, env);
      out.result({ worker: worker.address, api: worker.apiUrl }, () => `Worker ${worker.address} on ${worker.apiUrl}`);
      const signal = await untilSignal();
      out.info(`${signal}: stopping the worker…`);
      await worker.stop();
    }, cmd),
  );
}
