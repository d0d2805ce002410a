import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { createModel, isMlError } from "../../offchain/ml";
import type { Executor } from "../../offchain/ml/executor";
import { TorchExecutor, type TorchProbe } from "../../offchain/ml/torch-executor";
import { loadRunnerConfig } from "../../offchain/worker/config";
import { makeExecutor } from "../../offchain/worker/worker";
import { CORPUS, tmpDir } from "./helpers";
import { TORCH_PYTHON, torchProbe } from "./pytorch-support";

/** A job folder: the model, one input, job.json. */
function makeJob(model: string, kind: string, params: Record<string, unknown>, input: Buffer | string): string {
  const dir = tmpDir(`torch-proc-${kind}`);
  fs.mkdirSync(path.join(dir, "inputs"));
  fs.cpSync(model, path.join(dir, "model"), { recursive: true });
  fs.writeFileSync(path.join(dir, "inputs", "data.txt"), input);
  fs.writeFileSync(path.join(dir, "job.json"), JSON.stringify({ kind, params, seed: 5 }));
  return dir;
}

/** Runs `fn` with a 10 ms timer going; returns its result and the longest the timer waited past its due time. */
async function withTimer<T>(fn: () => Promise<T>): Promise<{ value: T; longestMs: number }> {
  let last = Date.now();
  let longestMs = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    longestMs = Math.max(longestMs, now - last - 10);
    last = now;
  }, 10);
  try {
    return { value: await fn(), longestMs };
  } finally {
    clearInterval(timer);
  }
}

/** Processes whose command line names `dir` (a job's child, its python). */
function processesNaming(dir: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(dir)) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The process group of a process (field 5 of /proc/<pid>/stat). */
function processGroup(pid: string): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2];
}

describe("worker's PyTorch executor: the whole job in a child process (preparation off the worker's event loop)", function () {
  this.timeout(600_000);
  let model: string;

  before(async function () {
    const probe = torchProbe();
    if (typeof probe === "string") {
      console.log(`    skipped: ${probe}`);
      this.skip();
    }
    model = (await createModel(path.join(tmpDir("torch-proc-model"), "model"), { preset: "tiny", seed: 9 })).dir;
  });

  /** The executor a worker makes for PyTorch jobs with these settings (POSTHUMAN_WORKER_* variables). */
  const workerExecutor = (env: Record<string, string> = {}): Executor =>
    makeExecutor(
      loadRunnerConfig({
        env: {
          POSTHUMAN_WORKER_EXECUTOR: "pytorch",
          POSTHUMAN_WORKER_TORCH_PYTHON: TORCH_PYTHON,
          POSTHUMAN_WORKER_DATA_DIR: tmpDir("torch-proc-worker"),
          ...env,
        },
      }),
    );

  it("tokenizes a large dataset while the caller's timers keep firing, and writes the in-process executor's result byte for byte", async function () {
    // 8 MiB of prose with words that vary (the tokenizer's cache does not make it free).
    const base = fs.readFileSync(CORPUS, "utf8");
    let text = "";
    for (let i = 0; text.length < 8 * 2 ** 20; i++) text += base.replace(/ the /g, ` the${i % 9973} `);
    const params = { steps: 1, lr: 1e-3, batchSize: 2, contextLength: 32 };
    const exec = workerExecutor();
    const inProcess = new TorchExecutor({ python: TORCH_PYTHON, probe: torchProbe() as TorchProbe });
    expect(exec.id).to.equal("pytorch");
    expect(exec.runtimeId).to.equal(inProcess.runtimeId);

    const here = await withTimer(() => inProcess.run({ kind: "train", jobDir: makeJob(model, "train", params, text) }));
    const child = await withTimer(() => exec.run({ kind: "train", jobDir: makeJob(model, "train", params, text) }));
    console.log(
      `      longest timer delay: in process ${here.longestMs} ms, through the worker's executor ${child.longestMs} ms`,
    );
    expect(child.longestMs, "the worker's event loop was held").to.be.below(400);
    expect(here.longestMs, "in process, the preparation holds the loop (what the child avoids)").to.be.above(
      2 * child.longestMs,
    );
    expect(fs.readFileSync(child.value.resultPath, "utf8")).to.equal(fs.readFileSync(here.value.resultPath, "utf8"));
    expect(child.value.outputHash).to.equal(here.value.outputHash);
    expect(child.value.runtimeId).to.equal(here.value.runtimeId);
    expect(child.value.child?.weightsRoot).to.equal(here.value.child?.weightsRoot);
    expect(child.value.child?.dir).to.equal(path.join(path.dirname(child.value.resultPath), "model"));
  });

  it("refuses bad input with the in-process executor's code and message", async function () {
    const probe = torchProbe() as TorchProbe;
    const failure = (exec: Executor) => {
      const dir = makeJob(model, "evaluate", { contextLength: 32 }, "a few words");
      return exec.run({ kind: "evaluate", jobDir: dir }).then(
        () => "no error",
        (e: unknown) => (isMlError(e) ? e.message.replace(dir, "<job>") : String(e)),
      );
    };
    const child = await failure(workerExecutor());
    expect(child).to.match(/^DATASET_TOO_SHORT: <job>\/inputs\/data\.txt has \d+ tokens/);
    expect(child).to.equal(await failure(new TorchExecutor({ python: TORCH_PYTHON, probe })));
  });

  it("kills a job whose preparation runs past the job's time limit (nothing left running, run.py never started)", async function () {
    // One 12 MiB word: seconds of byte-pair merging, past a 4 s limit.
    const word = Buffer.alloc(12 * 2 ** 20);
    for (let i = 0, x = 1; i < word.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      word[i] = 97 + ((x >>> 16) % 26);
    }
    const exec = workerExecutor({ POSTHUMAN_WORKER_JOB_TIMEOUT: "4s" });
    const dir = makeJob(model, "evaluate", { contextLength: 32 }, word);
    const started = Date.now();
    const err = await exec.run({ kind: "evaluate", jobDir: dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    expect(isMlError(err) && err.code, String(err)).to.equal("EXECUTOR_FAILED");
    expect((err as Error).message).to.include("pytorch ran past 4 s and was killed");
    expect(took, "killed at the limit (SIGKILL 2 s after SIGTERM), not after the preparation").to.be.below(9000);
    // Killed while preparing: the work folder was made, the plan for run.py never written.
    expect(fs.existsSync(path.join(dir, ".torch"))).to.equal(true);
    expect(fs.existsSync(path.join(dir, ".torch", "plan.json"))).to.equal(false);
    expect(processesNaming(dir)).to.deep.equal([]);
  });

  it("kills run.py with it when the limit falls during training (run.py runs in the child's process group)", async function () {
    const exec = workerExecutor({ POSTHUMAN_WORKER_JOB_TIMEOUT: "10s" });
    const params = { steps: 1_000_000, lr: 1e-3, batchSize: 2, contextLength: 32 };
    const dir = makeJob(model, "train", params, fs.readFileSync(CORPUS));
    const phases: string[] = [];
    let groups: Set<string> | undefined;
    let running = 0;
    const onProgress = (p: { phase: string }): void => {
      phases.push(p.phase);
      // The node child and run.py: one process group, which the executor kills as a whole.
      if (p.phase === "train" && !groups) {
        const named = processesNaming(dir);
        running = named.length;
        groups = new Set(named.map((l) => processGroup(l.split(":")[0])));
      }
    };
    const err = await exec.run({ kind: "train", jobDir: dir, onProgress }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.include("pytorch ran past 10 s and was killed");
    expect(phases, "run.py was training").to.include("train");
    expect(running, "the node child and run.py").to.be.at.least(2);
    expect(groups?.size, "the job's processes were in one group").to.equal(1);
    expect(processesNaming(dir)).to.deep.equal([]);
  });
});
