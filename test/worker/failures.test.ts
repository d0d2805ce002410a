import { expect } from "chai";
import { ethers } from "ethers";
import { encodeJobParams, JobStatus } from "../../offchain/protocol/params";
import { publishModel, requestJob } from "../../offchain/deploy/posthuman";
import { BuiltinExecutor, initWeights, PRESETS, saveCheckpoint, type Executor } from "../../offchain/ml";
import { modelBundle, WorkerApiError } from "../../offchain/sdk/worker-api";
import { readModelFolder } from "../../offchain/sdk/worker-client";
import { PostHuman } from "../../offchain/sdk/client";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../../offchain/worker/log";
import { sha256Hex } from "../../offchain/protocol/auth";
import { FAIL_REASONS } from "../../offchain/protocol/job-spec";
import {
  publishTinyModel,
  startWorker,
  startWorld,
  uploadWhenSeen,
  type RunningWorker,
  type World,
} from "../../offchain/devnet/world";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INFER = encodeJobParams({ kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } });
const TRAIN = encodeJobParams({
  kind: "Train",
  params: { steps: 2, batchSize: 2, contextLength: 64, learningRate: 1_000_000n, warmupSteps: 0, weightDecay: 0n },
});

describe("worker failure paths (real hardhat node, real contracts)", function () {
  this.timeout(300_000);
  let w: World;
  let rw: RunningWorker;
  let m1: Awaited<ReturnType<typeof publishTinyModel>>;

  before(async () => {
    w = await startWorld();
    rw = await startWorker(w, "worker", { POSTHUMAN_WORKER_MAX_UPLOAD: "2KiB", POSTHUMAN_WORKER_INPUT_WAIT: "10s" });
    m1 = await publishTinyModel(w, "alice", 11);
    await rw.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
    const dt = w.ocean.erc20Template.attach(m1.datatoken) as typeof w.ocean.erc20Template;
    for (const n of ["bob", "derek"] as const) {
      await (await dt.connect(w.wallet("alice")).transfer(w.address(n), ethers.parseEther("12"))).wait();
    }
  });
  after(async () => {
    await rw?.worker.stop();
    await w?.stop();
  });

  async function request(who: "bob" | "derek", kind: "Train" | "Infer", inputHash: string, params: string, ttl = 600) {
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    return requestJob(w.ph, w.wallet(who), {
      modelId: m1.modelId,
      kind,
      inputHash,
      fee: ethers.parseEther("2"),
      deadline: now + ttl,
      params,
    });
  }

  const upload = (who: "bob" | "derek", jobId: bigint, input: Buffer) =>
    uploadWhenSeen(rw, w.wallet(who), jobId, input);

  it("fails a training job on a dataset shorter than one window with DATASET_TOO_SHORT at its upload, refunds the fee, and carries on", async () => {
    const short = Buffer.from("Too short to train on.\n");
    const balance = () => w.ocean.oceanToken.balanceOf(w.address("bob"));
    const before = await balance();
    const jobId = await request("bob", "Train", sha256Hex(short), TRAIN);
    // The upload is the committed input: refused with the reason, and the job failed at once (not at its deadline).
    await expect(upload("bob", jobId, short)).to.be.rejectedWith(/has \d+ tokens; training with context 64/);
    const row = await rw.worker.pipeline.until(jobId, ["failed"], 60_000);
    expect(row.state).to.equal("failed");
    expect(row.error_code).to.equal("DATASET_TOO_SHORT");
    const failed = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobFailed(jobId));
    expect(Number(failed[0].args.reason)).to.equal(FAIL_REASONS.DATASET_TOO_SHORT);
    expect(Number((await w.ph.jobMarket.getJob(jobId)).status)).to.equal(JobStatus.Failed);
    // The fee came back (the 2 OCEAN left at the request and returned at the failure).
    expect(await balance()).to.equal(before);

    // The worker is not affected: the next job runs to its receipt.
    const prompts = Buffer.from("The harbour\n");
    const next = await request("derek", "Infer", sha256Hex(prompts), INFER);
    await upload("derek", next, prompts);
    expect((await rw.worker.pipeline.until(next, ["submitted", "settled"], 120_000)).state).to.be.oneOf([
      "submitted",
      "settled",
    ]);
  });

  it("refuses to inspect a folder no job could run on (a weight not finite, a padded vocabulary), before it is registered", async () => {
    // Such a model would fail every job on it on the worker's account: a trap its publisher could farm penalties with.
    const c = { ...PRESETS.tiny, n_positions: 32 };
    const inspect = async (w8: Map<string, Float32Array>, config = c) => {
      const dir = path.join(w.tmp, `trap-${config.vocab_size}-${Math.random().toString(36).slice(2)}`);
      saveCheckpoint(dir, config, w8);
      const bundle = await modelBundle(readModelFolder(dir));
      return rw.client.inspectModel(w.wallet("alice"), bundle).then(
        () => expect.fail("inspected"),
        (e: WorkerApiError) => [e.code, e.message],
      );
    };
    const nan = initWeights(c, "trap");
    nan.get("h.0.mlp.c_fc.weight")![5] = NaN;
    expect(await inspect(nan)).to.deep.equal([
      "MODEL_UNLOADABLE",
      "inspection of the model folder: the folder is not a GPT-2 checkpoint to serve: tensor h.0.mlp.c_fc.weight " +
        "holds a weight that is not finite (NaN at 5)",
    ]);
    const padded = { ...c, vocab_size: 50304 };
    expect(await inspect(initWeights(padded, "trap"), padded)).to.deep.equal([
      "MODEL_UNLOADABLE",
      "inspection of the model folder: the folder is not a GPT-2 checkpoint to serve: its config has 50304 " +
        "vocabulary rows and its tokenizer 50257 tokens: they must be equal (export the model without vocabulary padding)",
    ]);
  });

  it("refuses, before paying, to publish such a folder from the SDK, and to request a job on a model no worker serves", async () => {
    const alice = await PostHuman.init({ runner: w.wallet("alice"), book: w.book, workerUrl: rw.worker.apiUrl });
    const c = { ...PRESETS.tiny, n_positions: 32 };
    const nan = initWeights(c, "trap-sdk");
    nan.get("wte.weight")![7] = Infinity;
    const dir = path.join(w.tmp, "trap-sdk");
    saveCheckpoint(dir, c, nan);
    const models = await w.ph.registry.modelCount();
    const nonce = await w.provider.getTransactionCount(w.address("alice"));
    const pricing = { kind: "FixedRate" as const, rate: ethers.parseEther("1") };
    const e = await alice.publishModel({ dir, name: "trap", symbol: "TRAP", pricing }).then(
      () => expect.fail("published"),
      (x: Error & { code?: string }) => x,
    );
    expect(e.code).to.equal("MODEL_UNSERVABLE");
    expect(e.message).to.contain("tensor wte.weight holds a weight that is not finite (Infinity at 7)");
    expect(e.message).to.contain("Nothing was registered or paid.");
    expect(await w.ph.registry.modelCount()).to.equal(models);
    expect(await w.provider.getTransactionCount(w.address("alice"))).to.equal(nonce);
    // A model registered whose folder no worker holds: a job on it is refused before paying (it used to wait on
    // "the model's weights" until its requester cancelled it).
    const dark = await publishTinyModel(w, "alice", 12);
    const dt = w.ocean.erc20Template.attach(dark.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), ethers.parseEther("1"))).wait();
    const derek = await PostHuman.init({ runner: w.wallet("derek"), book: w.book, workerUrl: rw.worker.apiUrl });
    const jobs = await w.ph.jobMarket.jobCount();
    const refusal = await derek
      .requestJob(
        dark.modelId,
        { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } },
        Buffer.from("Hi\n"),
      )
      .then(
        () => expect.fail("requested"),
        (x: Error & { code?: string; hint?: string }) => x,
      );
    expect(refusal.code).to.equal("WORKER_DECLINES");
    expect(refusal.message).to.match(
      new RegExp(`it does not serve model ${dark.modelId} .*\\(MODEL_NOT_SERVED\\); nor would any other worker`),
    );
    expect(refusal.hint).to.equal(
      "ask the model's publisher to upload its folder to a worker, or choose another model: nothing was paid",
    );
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobs);
  });

  it("refuses a mismatched input, then accepts the right one for the same job", async () => {
    const prompts = Buffer.from("Wind south-west, force\n");
    const jobId = await request("derek", "Infer", sha256Hex(prompts), INFER);
    await expect(upload("derek", jobId, Buffer.from("something else\n"))).to.be.rejectedWith(/input commitment/);
    await expect(rw.client.uploadInput(w.wallet("bob"), jobId, prompts)).to.be.rejectedWith(/requester/);
    await upload("derek", jobId, prompts);
    expect((await rw.worker.pipeline.until(jobId, ["submitted", "settled"], 120_000)).state).to.be.oneOf([
      "submitted",
      "settled",
    ]);
  });

  it("refuses invalid UTF-8 (failing the job at once) and oversized inputs, fails the latter (and a copy of another job's commitment) with INPUT_MISSING and refunds them all; other jobs run", async () => {
    const market = w.ph.jobMarket;
    const balance = () => w.ocean.oceanToken.balanceOf(w.address("derek"));
    const before = await balance();
    const invalid = Buffer.from([0x54, 0x68, 0x65, 0x20, 0xff, 0xfe, 0x0a]); // "The " then bytes no UTF-8 text has
    const large = Buffer.from("The harbour at dawn.\n".repeat(200)); // text, but over the worker's 2 KiB limit
    // The worker claims them (their deadlines leave room for its estimate), then gives up on a missing input after
    // its input wait (10 s here), long before the deadline.
    const bad = [
      {
        input: invalid,
        refusal: /not valid UTF-8/,
        code: "DATASET_INVALID_UTF8",
        jobId: await request("derek", "Infer", sha256Hex(invalid), INFER, 400),
      },
      {
        input: large,
        refusal: /exceeds|larger than/,
        code: "INPUT_MISSING",
        jobId: await request("derek", "Infer", sha256Hex(large), INFER, 400),
      },
    ];
    const prompts = Buffer.from("The fishing boats came home\n");
    const good = await request("derek", "Infer", sha256Hex(prompts), INFER);
    // Bob copies the commitment of Derek's job (it is public) without having the bytes: the worker holds them, for
    // Derek's request only, so Bob's job waits for an input that never comes.
    const copycat = await request("bob", "Infer", sha256Hex(prompts), INFER, 400);
    for (const b of bad) await expect(upload("derek", b.jobId, b.input)).to.be.rejectedWith(b.refusal);
    await upload("derek", good, prompts);

    for (const b of bad) {
      const row = await rw.worker.pipeline.until(b.jobId, ["failed"], 120_000);
      expect(row, `job ${b.jobId}`).to.deep.include({ state: "failed", error_code: b.code });
      const failed = await market.queryFilter(market.filters.JobFailed(b.jobId));
      expect(failed.map((f) => Number(f.args.reason))).to.deep.equal([FAIL_REASONS[b.code]]);
      expect(Number((await market.getJob(b.jobId)).status)).to.equal(JobStatus.Failed);
    }
    expect((await rw.worker.pipeline.until(good, ["submitted", "settled"], 120_000)).state).to.be.oneOf([
      "submitted",
      "settled",
    ]);
    const stolen = await rw.worker.pipeline.until(copycat, ["failed"], 120_000);
    expect(stolen).to.deep.include({ state: "failed", error_code: "INPUT_MISSING" });
    expect(rw.runs.get(String(copycat)), "runs of the copycat job").to.equal(undefined);
    // Both refused jobs' fees came back; only the job that ran costs Derek its fee.
    expect(await balance()).to.equal(before - ethers.parseEther("2"));
    // Its result is Derek's alone: a download signed by anyone else is refused.
    await expect(rw.client.result(w.wallet("bob"), good)).to.be.rejectedWith(/requester/);
    expect((await rw.client.result(w.wallet("derek"), good)).length).to.be.greaterThan(0);
  });

  it("forgets a request that a reorg removed: no claim survives and no receipt is ever submitted for it", async () => {
    const snapshot = (await w.provider.send("evm_snapshot", [])) as string;
    const prompts = Buffer.from("The old men by the lighthouse\n");
    const jobId = await request("derek", "Infer", sha256Hex(prompts), INFER);
    // The worker sees it (confirmations 0) before the reorg; no input is uploaded, so it never runs.
    await rw.worker.pipeline.until(jobId, ["seen", "claimed"], 60_000).catch(() => undefined);
    for (let i = 0; i < 100 && !rw.worker.jobs.get(jobId); i++) await new Promise((r) => setTimeout(r, 100));
    expect(rw.worker.jobs.get(jobId), "the worker saw the request").to.not.equal(undefined);
    await w.provider.send("evm_revert", [snapshot]);
    for (const n of ["bob", "derek", "alice"] as const) w.wallet(n).reset();
    await w.provider.send("hardhat_mine", ["0x5"]);
    for (let i = 0; i < 100 && rw.worker.jobs.get(jobId)?.state !== "vanished"; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(rw.worker.jobs.get(jobId)?.state).to.equal("vanished");
    expect(await w.ph.jobMarket.jobCount()).to.be.lessThan(jobId);
    expect(await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.ReceiptSubmitted(jobId))).to.have.length(0);
  });

  it("serves a new request that a reorg gave the id of a vanished job, with its own claim and receipt", async () => {
    const market = w.ph.jobMarket;
    const snapshot = (await w.provider.send("evm_snapshot", [])) as string;
    // On the fork about to vanish, the job is claimed, run and its receipt mined.
    const before = Buffer.from("The ferry to the island\n");
    const jobId = await request("derek", "Infer", sha256Hex(before), INFER);
    await upload("derek", jobId, before);
    expect((await rw.worker.pipeline.until(jobId, ["submitted"], 120_000)).state).to.equal("submitted");
    await w.provider.send("evm_revert", [snapshot]);
    for (const n of ["bob", "derek", "alice"] as const) w.wallet(n).reset();
    await w.provider.send("hardhat_mine", ["0x3"]);
    for (let i = 0; i < 100 && rw.worker.jobs.get(jobId)?.state !== "vanished"; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(rw.worker.jobs.get(jobId)?.state).to.equal("vanished");

    // On the new chain the job counter rewound: another request takes the same id, with another input.
    const after = Buffer.from("The lighthouse keeper's log\n");
    const reused = await request("derek", "Infer", sha256Hex(after), INFER);
    expect(reused).to.equal(jobId);
    for (let i = 0; i < 100 && rw.worker.jobs.get(jobId)?.input_hash !== sha256Hex(after); i++)
      await new Promise((r) => setTimeout(r, 100));
    await upload("derek", jobId, after);
    const row = await rw.worker.pipeline.until(jobId, ["submitted", "settled"], 120_000);
    expect(row.state).to.be.oneOf(["submitted", "settled"]);

    // The receipt on chain is this request's, not the one mined on the vanished fork.
    const result = await rw.client.result(w.wallet("derek"), jobId);
    const receipts = await market.queryFilter(market.filters.ReceiptSubmitted(jobId));
    expect(receipts).to.have.length(1);
    const job = await market.getJob(jobId);
    expect(job.inputHash).to.equal(sha256Hex(after));
    expect(row.output_hash).to.equal(sha256Hex(result));
    const submitted = market.interface.decodeFunctionData(
      "submitReceipt",
      (await w.provider.getTransaction(receipts[0].transactionHash))!.data,
    );
    expect(submitted[1].outputHash).to.equal(sha256Hex(result));
    expect(await market.queryFilter(market.filters.JobClaimed(jobId))).to.have.length(1);

    // And the worker goes on with the next job.
    const next = Buffer.from("Gulls over the harbour\n");
    const nextId = await request("derek", "Infer", sha256Hex(next), INFER);
    await upload("derek", nextId, next);
    expect((await rw.worker.pipeline.until(nextId, ["submitted", "settled"], 120_000)).state).to.be.oneOf([
      "submitted",
      "settled",
    ]);
  });

  it("fails a job whose run passes the worker's memory limit with MEMORY_LIMIT, refunds it with the worker's penalty, and serves no partial result", async () => {
    // The same worker restarted with a 64 MiB limit: the builtin runtime (node, onnxruntime) needs more.
    await rw.worker.stop();
    rw = await startWorker(w, "worker", { POSTHUMAN_WORKER_MAX_MEMORY: "64MiB" }, rw.dataDir);
    const prompts = Buffer.from("Fog over the harbour\n");
    const balance = () => w.ocean.oceanToken.balanceOf(w.address("derek"));
    const before = await balance();
    const jobId = await request("derek", "Infer", sha256Hex(prompts), INFER);
    await upload("derek", jobId, prompts);
    const row = await rw.worker.pipeline.until(jobId, ["failed"], 120_000);
    expect([row.state, row.error_code]).to.deep.equal(["failed", "MEMORY_LIMIT"]);
    expect(row.error_message).to.match(/over its limit of 64 MiB/);
    const failed = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobFailed(jobId));
    expect(failed.map((f) => Number(f.args.reason))).to.deep.equal([FAIL_REASONS.MEMORY_LIMIT]);
    // A failure of the worker's own: derek got the fee back and failPenaltyBps of the worker's collateral on top.
    const { collateral } = await w.ph.jobMarket.getJob(jobId);
    const penalty = (collateral * (await w.ph.jobMarket.config()).failPenaltyBps) / 10_000n;
    expect(failed[0].args.refund).to.equal((await w.ph.jobMarket.getJob(jobId)).fee + penalty);
    expect(await balance()).to.equal(before + penalty);
    expect(await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.ReceiptSubmitted(jobId))).to.have.length(0);
  });

  it("fails at once, with its penalty, a training job whose child root someone registered before its receipt", async () => {
    // Someone who can compute the child root first (the requester, holding the parent's weights and the same runtime)
    // registers it as a root model of its own while the worker's run ends. Played here by publishing the root the
    // run returns before the worker sees the result. The receipt can never be submitted (training is deterministic):
    // failing now costs the penalty, where waiting for the deadline would cost the whole collateral.
    await rw.worker.stop();
    const inner = new BuiltinExecutor();
    const trap: Executor = {
      id: inner.id,
      runtimeId: inner.runtimeId,
      run: async (job) => {
        const result = await inner.run(job);
        if (result.child) {
          const alice = w.wallet("alice");
          await publishModel(w.ph.registry.connect(alice), alice, {
            name: "Copy",
            symbol: "CP",
            weightsRoot: result.child.weightsRoot,
            pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
            initialSupply: 0n,
          });
        }
        return result;
      },
    };
    rw = await startWorker(w, "worker2", {}, undefined, trap);
    await rw.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
    const text = Buffer.from("The fishing boats came home at dusk, heavy with the day's catch. ".repeat(40));
    const stakeBefore = await w.ph.jobMarket.stakeOf(w.address("worker2"));
    const treasury = (await w.ph.jobMarket.config()).treasury;
    const treasuryBefore = await w.ocean.oceanToken.balanceOf(treasury);
    const jobId = await request("bob", "Train", sha256Hex(text), TRAIN);
    await upload("bob", jobId, text);
    const row = await rw.worker.pipeline.until(jobId, ["failed", "submitted"], 240_000);
    expect([row.state, row.error_code]).to.deep.equal(["failed", "WEIGHTS_ROOT_TAKEN"]);
    expect(row.error_message).to.match(/child weights root 0x[0-9a-f]{64} is model \d+'s already/);
    const [failed] = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobFailed(jobId));
    expect(Number(failed.args.reason)).to.equal(FAIL_REASONS.WEIGHTS_ROOT_TAKEN);
    const collateral = await w.ph.jobMarket.collateralFor(ethers.parseEther("2"));
    const penalty = (collateral * BigInt((await w.ph.jobMarket.config()).failPenaltyBps)) / 10_000n;
    const stake = await w.ph.jobMarket.stakeOf(w.address("worker2"));
    expect(stake.free + stake.locked).to.equal(stakeBefore.free + stakeBefore.locked - penalty);
    // The penalty went to the treasury: whoever registered the root first (here the requester could have) earns nothing.
    expect(failed.args.refund).to.equal(ethers.parseEther("2"));
    expect((await w.ocean.oceanToken.balanceOf(treasury)) - treasuryBefore).to.equal(penalty);
  });

  it("fails with its penalty, at its last margin before the deadline, a job whose receipt the market keeps refusing for a reason the worker does not know", async () => {
    // A runtime that returns a child without a weights root: the market refuses the receipt (JobMarketMissingChildWeights),
    // a refusal the worker has no rule for. It sends it again each pass; near the deadline it fails the job for the
    // penalty, where the requester's reclaim after the deadline would take its whole collateral.
    await rw.worker.stop();
    const inner = new BuiltinExecutor();
    const broken: Executor = {
      id: inner.id,
      runtimeId: inner.runtimeId,
      run: async (job) => {
        const result = await inner.run(job);
        return { ...result, child: result.child && { ...result.child, weightsRoot: ethers.ZeroHash } };
      },
    };
    rw = await startWorker(w, "worker2", {}, undefined, broken);
    await rw.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
    const text = Buffer.from("Gulls wheeled over the quay while the nets were mended for the morning. ".repeat(40));
    const stakeBefore = await w.ph.jobMarket.stakeOf(w.address("worker2"));
    const jobId = await request("bob", "Train", sha256Hex(text), TRAIN);
    await upload("bob", jobId, text);
    const jobs = rw.worker.jobs;
    for (let t = Date.now(); jobs.get(jobId)?.error_code !== "SUBMIT_REFUSED";) {
      if (Date.now() - t > 240_000) throw new Error(`job ${jobId} never refused: ${JSON.stringify(jobs.get(jobId))}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(jobs.get(jobId)!.state).to.equal("output_stored"); // still trying, well before the deadline
    expect(jobs.get(jobId)!.error_message).to.match(/JobMarketMissingChildWeights/);
    const { deadline } = await w.ph.jobMarket.getJob(jobId);
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    await w.provider.send("evm_increaseTime", [Number(deadline) - now - 15]);
    await w.provider.send("evm_mine", []);
    const row = await rw.worker.pipeline.until(jobId, ["failed"], 60_000);
    expect([row.state, row.error_code]).to.deep.equal(["failed", "SUBMIT_REFUSED"]);
    const [failed] = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobFailed(jobId));
    expect(Number(failed.args.reason)).to.equal(FAIL_REASONS.SUBMIT_REFUSED);
    const collateral = await w.ph.jobMarket.collateralFor(ethers.parseEther("2"));
    const penalty = (collateral * BigInt((await w.ph.jobMarket.config()).failPenaltyBps)) / 10_000n;
    expect(penalty).to.be.lessThan(collateral);
    const stake = await w.ph.jobMarket.stakeOf(w.address("worker2"));
    expect(stake.free + stake.locked).to.equal(stakeBefore.free + stakeBefore.locked - penalty);
    expect(failed.args.refund).to.equal(ethers.parseEther("2") + penalty); // the fee back, and the penalty
  });

  // Last: it moves the chain's clock past this job's deadline.
  it("stops failing a claimed job once its deadline has passed (the market refuses it): says so once, and follows it to its reclaim", async () => {
    await rw.worker.stop();
    const lines: { msg: string; jobId?: string; code?: string }[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[0]);
        done();
      },
    });
    const env = { POSTHUMAN_WORKER_MAX_UPLOAD: "2KiB", POSTHUMAN_WORKER_INPUT_WAIT: "1h" };
    rw = await startWorker(w, "worker", env, rw.dataDir, undefined, createLogger({ destination, name: "test" }));
    const input = Buffer.from("never sent\n");
    const jobId = await request("derek", "Infer", sha256Hex(input), INFER, 600);
    const status = async () => Number((await w.ph.jobMarket.getJob(jobId)).status);
    for (let i = 0; i < 100 && (await status()) !== JobStatus.Claimed; i++) await sleep(100);
    expect(await status()).to.equal(JobStatus.Claimed);
    // Its input never comes; the chain's clock passes its deadline before the worker's input wait runs out.
    await w.provider.send("evm_increaseTime", [700]);
    await w.provider.send("evm_mine", []);
    await sleep(3000); // about 15 passes of the worker's loop
    const mine = lines.filter((l) => l.jobId === jobId.toString());
    expect(mine.filter((l) => l.code === "DEADLINE_PASSED")).to.have.length(1);
    expect(mine.filter((l) => l.msg === "could not fail the job on chain")).to.deep.equal([]);
    expect(await status()).to.equal(JobStatus.Claimed);
    // Derek reclaims it (his fee, his datatoken and the worker's collateral), and the worker's record follows.
    await (await w.ph.jobMarket.connect(w.wallet("derek")).reclaimJob(jobId)).wait();
    for (let i = 0; i < 100 && rw.worker.jobs.get(jobId)?.state !== "reclaimed"; i++) await sleep(100);
    expect(rw.worker.jobs.get(jobId)?.state).to.equal("reclaimed");
  });
});
