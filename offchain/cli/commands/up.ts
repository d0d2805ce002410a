/** `posthuman up` (a local marketplace: chain, contracts, worker, web app) and `posthuman demo` (the story). */
import type { Command } from "commander";
import { DEFAULT_API_PORT, untilSignal, type Wiring } from "./shared";
import { int } from "../context";

export function addUpCommand(program: Command, w: Wiring): void {
  program
    .command("up")
    .description(
      "start a local chain (on --host and --chain-port, 127.0.0.1:8545 by default), deploy Ocean + PostHuman, and run " +
        "a worker with its API (on --api-port)",
    )
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option("--chain-port <port>", "JSON-RPC port of the local chain", "8545")
    .option("--api-port <port>", "port of the worker's API", String(DEFAULT_API_PORT))
    .option("--no-worker", "start the chain and the contracts only")
    .option("--device <device>", "the worker's device: cpu, or gpu (onnxruntime's bundled WebGPU provider)")
    .option(
      "--challenge-window <sec>",
      "seconds anyone may challenge a receipt, on a fresh chain (default 30, so that jobs settle within a minute; " +
        "give yourself time to verify before challenging, e.g. 600; the arbiter's window is then the longer of " +
        "600 s and twice this)",
    )
    .action(
      async (
        opts: {
          host: string;
          chainPort: string;
          apiPort: string;
          worker: boolean;
          device?: string;
          challengeWindow?: string;
        },
        cmd: Command,
      ) =>
        w.run(async (out) => {
          const g = w.context(cmd);
          const { up, describeUp } = await import("../up");
          const handle = await up(
            {
              dataDir: g.dataDir,
              host: opts.host,
              chainPort: Number(opts.chainPort),
              apiPort: Number(opts.apiPort),
              noWorker: !opts.worker,
              device: opts.device,
              challengeWindow:
                opts.challengeWindow === undefined ? undefined : int(opts.challengeWindow, "--challenge-window", 1),
              deploymentFile: g.deployment,
            },
            out,
          );
          out.result(
            {
              rpc: handle.chain.url,
              worker: handle.worker?.apiUrl,
              device: handle.device,
              web: handle.webUrl,
              workerLog: handle.workerLog,
              deployment: handle.deploymentFile,
              ...handle.book,
            },
            () => describeUp(handle),
          );
          const signal = await untilSignal();
          out.info(`${signal}: stopping…`);
          await handle.stop();
        }, cmd),
    );
}

export function addDemoCommand(program: Command, w: Wiring): void {
  program
    .command("demo")
    .description(
      "the five-person story (Alice, Bob, Charlie, Derek, Elena) on a fresh embedded chain, every receipt verified",
    )
    .option("--steps <n>", "training steps of each finetune (Bob's, Charlie's)", "16")
    .option("--base-steps <n>", "training steps of Alice's M1 from its seed", "32")
    .option("--keep <dir>", "keep the demo's chain, models and worker data in this folder (default: a temp folder)")
    .action(async (opts: { steps: string; baseSteps: string; keep?: string }, cmd: Command) =>
      w.run(async (out) => {
        const { runDemo } = await import("../demo");
        const summary = await runDemo(out, {
          steps: Number(opts.steps),
          baseSteps: Number(opts.baseSteps),
          dataDir: opts.keep,
        });
        out.result(summary, () => `Demo complete in ${summary.seconds} s.`);
      }, cmd),
    );
}
