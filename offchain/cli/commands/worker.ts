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
  workerCmd.action(async (opts: Record<string, unknown>, cmd: Command) =>
    w.run(async (out) => {
      const g = w.context(cmd);
      const { startWorkerFromFlags, workerFlags } = await import("../worker-cmd");
      const f = workerFlags(opts, g.dataDir);
      if (g.deployment && !f.addressBook) f.addressBook = g.deployment;
      // The global --rpc applies when given explicitly; its default must not hide the worker's own configuration.
      if (!f.rpcUrl && cmd.parent?.getOptionValueSource("rpc") === "cli") f.rpcUrl = g.rpc;
      if (!f.keyFile && g.keyFile) f.keyFile = g.keyFile;
      const worker = await startWorkerFromFlags(f);
      out.result({ worker: worker.address, api: worker.apiUrl }, () => `Worker ${worker.address} on ${worker.apiUrl}`);
      const signal = await untilSignal();
      out.info(`${signal}: stopping the worker…`);
      await worker.stop();
    }, cmd),
  );
}
