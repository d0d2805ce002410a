import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { encodeJobParams } from "../../offchain/protocol/params";
import { requestJob } from "../../offchain/deploy/posthuman";
import { devWallet } from "../../offchain/deploy/accounts";
import { sha256Hex } from "../../offchain/protocol/auth";
import { loadWorkerConfig, WorkerConfigError } from "../../offchain/worker/config";
import { Writable } from "node:stream";
import { createLogger, silentLogger } from "../../offchain/worker/log";
import { builtinRuntimeId } from "../../offchain/ml";
import { createWorker, type Worker } from "../../offchain/worker/worker";
import { WorkerClient } from "../../offchain/sdk/worker-client";
import { PostHuman } from "../../offchain/sdk";
import { authDomain } from "../../offchain/protocol/auth";
import { TorchExecutor } from "../../offchain/ml/torch-executor";
import {
  publishTinyModel,
  startWorld,
  uploadWhenSeen,
  type RunningWorker,
  type World,
} from "../../offchain/devnet/world";
import { TORCH_PYTHON, torchProbe } from "./pytorch-support";

const BASE_ENV = {
  POSTHUMAN_WORKER_PRIVATE_KEY: devWallet(6).privateKey,
  POSTHUMAN_WORKER_CONFIRMATIONS: "0",
  POSTHUMAN_WORKER_POLL_INTERVAL: "200ms",
  POSTHUMAN_WORKER_HTTP_PORT: "0",
};

describe("worker with the PyTorch executor: configuration, start-up, and a training job to a settled receipt", function () {
  this.timeout(300_000);

  it("routes job kinds to executors from its configuration, naming bad values with their source", function () {
    const book = path.join(__dirname, "..", "..", "deployments");
    const env = {
      ...BASE_ENV,
      POSTHUMAN_WORKER_EXECUTOR_TRAIN: "pytorch",
      POSTHUMAN_WORKER_TORCH_PYTHON: "python3.12",
    };
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-torch-cfg-"));
    const bookFile = path.join(tmp, "book.json");
    fs.writeFileSync(
      bookFile,
      JSON.stringify({
        chainId: 31337,
        startBlock: 0,
        contracts: { JobMarket: "0x" + "11".repeat(20), ModelRegistry: "0x" + "22".repeat(20) },
      }),
    );
    const c = loadWorkerConfig({ env: { ...env, POSTHUMAN_WORKER_ADDRESS_BOOK: bookFile }, deploymentsDir: book });
    expect(c.executor).to.deep.equal({
      kind: "builtin",
      byKind: { train: "pytorch" },
      torch: { python: "python3.12" },
    });
    const file = path.join(tmp, "worker.json");
    fs.writeFileSync(
      file,
      JSON.stringify({ executor: { kind: "pytorch", byKind: { infer: "builtin" }, torch: { gpus: 4 } } }),
    );
    const f = loadWorkerConfig({ file, env: { ...BASE_ENV, POSTHUMAN_WORKER_ADDRESS_BOOK: bookFile } });
    expect(f.executor).to.deep.equal({ kind: "pytorch", byKind: { infer: "builtin" }, torch: { gpus: 4 } });
    expect(() =>
      loadWorkerConfig({
        env: { ...env, POSTHUMAN_WORKER_ADDRESS_BOOK: bookFile, POSTHUMAN_WORKER_EXECUTOR_EVALUATE: "torch" },
      }),
    )
      .to.throw(WorkerConfigError)
      .with.property("message")
      .that.matches(
        /executor\.byKind\.evaluate = "torch" \(env POSTHUMAN_WORKER_EXECUTOR_EVALUATE\) must be "builtin", "pytorch" or "external"/,
      );
    expect(() =>
      loadWorkerConfig({
        env: { ...env, POSTHUMAN_WORKER_ADDRESS_BOOK: bookFile, POSTHUMAN_WORKER_EXECUTOR_INFER: "external" },
      }),
    )
      .to.throw(WorkerConfigError)
      .with.property("message")
      .that.matches(/executor\.command is not set but executor is "external" \(env POSTHUMAN_WORKER_EXECUTOR_INFER\)/);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe("on a real chain", function () {
    let w: World;
    let worker: Worker | undefined;

    before(async function () {
      const probe = torchProbe();
      if (typeof probe === "string") {
        console.log(`    skipped: ${probe}`);
        this.skip();
      }
      w = await startWorld();
    });
    after(async () => {
      await worker?.stop();
      await w?.stop();
    });

    function config(extra: Record<string, string>) {
      return loadWorkerConfig({
        env: {
          ...BASE_ENV,
          POSTHUMAN_WORKER_RPC_URL: w.node.url,
          POSTHUMAN_WORKER_ADDRESS_BOOK: w.bookFile,
          POSTHUMAN_WORKER_DATA_DIR: fs.mkdtempSync(path.join(w.tmp, "torch-worker-")),
          ...extra,
        },
      });
    }

    it("refuses to start when the Python it is told to use has no torch, saying which and how to install it", async () => {
      const cfg = config({
        POSTHUMAN_WORKER_EXECUTOR: "pytorch",
        POSTHUMAN_WORKER_TORCH_PYTHON: "/nonexistent/python3",
      });
      let err: Error | undefined;
      try {
        await createWorker({ config: cfg, log: silentLogger() });
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/DEVICE_UNAVAILABLE: the PyTorch executor needs a Python with torch/);
      expect(err?.message).to.include("/nonexistent/python3: not found");
      expect(err?.message).to.include("apt-get install python3-torch");
    });

    it("runs a training job with PyTorch from request to a settled receipt naming the PyTorch runtime", async () => {
      const cfg = config({ POSTHUMAN_WORKER_EXECUTOR_TRAIN: "pytorch", POSTHUMAN_WORKER_TORCH_PYTHON: TORCH_PYTHON });
      const lines: string[] = [];
      const destination = new Writable({
        write: (chunk: Buffer, _enc, done) => void (lines.push(String(chunk)), done()),
      });
      worker = await createWorker({
        config: cfg,
        log: createLogger({ destination, level: "info" }),
        pipelinePollMs: 200,
      });
      // The start-up log names the runtime each kind's receipts will carry.
      const ready = lines.map((l) => JSON.parse(l) as { msg: string; runtimes?: Record<string, string> });
      const { runtimes } = ready.find((l) => l.msg.startsWith("executors ready")) ?? {};
      expect(runtimes?.train).to.equal(`pytorch ${new TorchExecutor({ python: TORCH_PYTHON }).runtimeId}`);
      expect(runtimes?.infer).to.equal(`builtin ${builtinRuntimeId()}`);
      await worker.start();
      const rw = {
        worker,
        client: new WorkerClient(worker.apiUrl as string, authDomain(31337, w.book.contracts.JobMarket)),
      } as RunningWorker;
      const m1 = await publishTinyModel(w, "alice", 3);
      await rw.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
      const dt = w.ocean.erc20Template.attach(m1.datatoken) as typeof w.ocean.erc20Template;
      await (await dt.connect(w.wallet("alice")).transfer(w.address("bob"), ethers.parseEther("5"))).wait();
      const text = Buffer.from("The keeper lit the lamp at dusk and watched the boats come home. ".repeat(20));
      const now = (await w.provider.getBlock("latest"))!.timestamp;
      const jobId = await requestJob(w.ph, w.wallet("bob"), {
        modelId: m1.modelId,
        kind: "Train",
        inputHash: sha256Hex(text),
        fee: ethers.parseEther("2"),
        deadline: now + 600,
        params: encodeJobParams({
          kind: "Train",
          params: {
            steps: 3,
            batchSize: 2,
            contextLength: 32,
            learningRate: 1_000_000n,
            warmupSteps: 1,
            weightDecay: 0n,
          },
        }),
      });
      await uploadWhenSeen(rw, w.wallet("bob"), jobId, text);
      const row = await worker.pipeline.until(jobId, ["settled"], 240_000);
      expect(row.state).to.equal("settled");
      const receipt = JSON.parse(row.receipt!) as { runtimeId: string; childWeightsRoot: string };
      const torch = new TorchExecutor({ python: TORCH_PYTHON });
      expect(receipt.runtimeId).to.equal(torch.runtimeId);
      const job = await w.ph.jobMarket.getJob(jobId);
      expect(job.childModelId).to.be.greaterThan(0n);
      const child = await w.ph.registry.getModel(job.childModelId);
      expect(child.weightsRoot).to.equal(receipt.childWeightsRoot);
      expect(worker.jobs.treeOf(child.weightsRoot)).to.be.a("string");
      const result = JSON.parse(Buffer.from(await rw.client.result(w.wallet("bob"), jobId)).toString()) as {
        lossCurve: number[];
      };
      expect(result.lossCurve).to.have.length(3);

      // `job verify` picks the runtime the receipt names (PyTorch here) and reproduces the child byte for byte.
      const bob = await PostHuman.init({ runner: w.wallet("bob"), book: w.book, workerUrl: worker.apiUrl });
      const steps: string[] = [];
      const v = await bob.verify(jobId, { input: text, modelDir: m1.dir, onStep: (l) => steps.push(l) });
      expect(v.verified, JSON.stringify(v.checks) + steps.join("\n")).to.equal(true);
      expect(v.checks.map((c) => c.name)).to.include.members(["runtime id", "output hash", "child weights root"]);
    });
  });
});
