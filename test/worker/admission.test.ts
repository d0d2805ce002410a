/**
 * Attacks on the worker's admission and bookkeeping (issue 11, items 1, 3 and 8), played on a real hardhat node
 * against the real contracts and a real in-process worker.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { encodeJobParams, JobStatus } from "../../offchain/protocol/params";
import { publishModel, requestJob } from "../../offchain/deploy/posthuman";
import { sha256Hex } from "../../offchain/protocol/auth";
import { benchmarkId, toFixedLoss } from "../../offchain/protocol/params";
import { FAIL_REASONS } from "../../offchain/protocol/job-spec";
import { publicMessage } from "../../offchain/worker/worker";
import { admit, createThroughput, DEFAULT_POLICY } from "../../offchain/worker/policy";
import { PostHuman } from "../../offchain/sdk/client";
import { explainInputRefusal } from "../../offchain/sdk/input-check";
import { MAX_TOKEN_BYTES } from "../../offchain/ml/input-check";
import type { SdkError } from "../../offchain/sdk/errors";
import { commandHint } from "../../offchain/cli/hints";
import { inputAckDomain, signInputAck } from "../../offchain/protocol/input-ack";
import { modelShape } from "../../offchain/worker/pipeline-steps";
import { deployBatch, requestBatch } from "./support/batch";

/** The pipeline's deadline margin (its default: the worker sets no other). */
const MARGIN_SEC = 20;
import { configHash, createModel, onChainTokenizerHash, weightsRoot } from "../../offchain/ml";
import fs from "node:fs";
import path from "node:path";
import {
  publishTinyModel,
  startWorker,
  startWorld,
  uploadWhenSeen,
  type Name,
  type RunningWorker,
  type World,
} from "../../offchain/devnet/world";

const PROMPTS = Buffer.from("The harbour town woke\n");
const TEXT = Buffer.from("The fishing boats came home at dusk, heavy with the day's catch. ".repeat(40));
const INFER_JOB = { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } } as const;
const infer = (maxTokens = 4) => encodeJobParams({ kind: "Infer", params: { maxTokens, temperature: 0, topK: 0 } });
const trainParams = (steps: number) => ({
  steps,
  batchSize: 2,
  contextLength: 32,
  learningRate: 1_000_000n,
  warmupSteps: 0,
  weightDecay: 0n,
});
const train = (steps: number) => encodeJobParams({ kind: "Train", params: trainParams(steps) });

describe("worker admission control and bookkeeping under attack (real hardhat node, real worker)", function () {
  this.timeout(300_000);
  let w: World;
  let rw: RunningWorker;
  let m1: Awaited<ReturnType<typeof publishTinyModel>>;

  before(async () => {
    // A challenge window long enough to challenge in, and a short arbitration window that the arbiter lets lapse
    // (the chain wants it longer than the challenge window: the requester's join period comes first).
    w = await startWorld({ challengeWindow: 60, arbitrationWindow: 90 });
    rw = await startWorker(w, "worker", {
      POSTHUMAN_WORKER_MIN_FEE_TRAIN: "0.5ether",
      POSTHUMAN_WORKER_MIN_FEE_INFER: "0.1ether",
      POSTHUMAN_WORKER_INPUT_WAIT: "20s",
    });
    m1 = await publishTinyModel(w, "alice", 21);
    await rw.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
    const dt = w.ocean.erc20Template.attach(m1.datatoken) as typeof w.ocean.erc20Template;
    for (const n of ["bob", "derek", "elena"] as const) {
      await (await dt.connect(w.wallet("alice")).transfer(w.address(n), ethers.parseEther("5"))).wait();
    }
  });
  after(async () => {
    await rw?.worker.stop();
    await w?.stop();
  });

  async function request(who: Name, kind: "Train" | "Infer", input: Buffer, params: string, fee: bigint, ttl: number) {
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    return requestJob(w.ph, w.wallet(who), {
      modelId: m1.modelId,
      kind,
      inputHash: sha256Hex(input),
      fee,
      deadline: now + ttl,
      params,
    });
  }
  const status = async (jobId: bigint) => Number((await w.ph.jobMarket.getJob(jobId)).status);
  const waitFor = async (what: () => boolean, ms = 150_000) => {
    for (const end = Date.now() + ms; !what();) {
      if (Date.now() > end) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it("skips a long 1-wei training job under the operator's price (reason logged), so a well-paid inference job runs at once", async () => {
    const starver = await request("bob", "Train", TEXT, train(100_000), 1n, 3600);
    const paid = await request("derek", "Infer", PROMPTS, infer(), ethers.parseEther("2"), 300);
    await uploadWhenSeen(rw, w.wallet("derek"), paid, PROMPTS);
    const skipped = await rw.worker.pipeline.until(starver, ["skipped"], 150_000);
    expect(skipped.error_code).to.equal("UNDERPRICED");
    expect(skipped.error_message).to.match(
      /fee 0\.000000000000000001 OCEAN is under this worker's price of [\d.]+ OCEAN for a train job/,
    );
    expect(await status(starver)).to.equal(JobStatus.Open); // never claimed: nothing of the worker's is at stake
    const row = await rw.worker.pipeline.until(paid, ["submitted", "settled"], 120_000);
    expect(row.state).to.be.oneOf(["submitted", "settled"]);
  });

  it("leaves unclaimed a job whose params its model refuses, so a requester's bad params cannot cost the worker its penalty", async () => {
    // Context 4,096, past the tiny model's positions: the runtime would fail it as PARAMS_INVALID, the claimant's reason.
    const long = encodeJobParams({
      kind: "Train",
      params: {
        steps: 2,
        batchSize: 2,
        contextLength: 4096,
        learningRate: 1_000_000n,
        warmupSteps: 0,
        weightDecay: 0n,
      },
    });
    const stakeBefore = await w.ph.jobMarket.stakeOf(rw.worker.address);
    const jobId = await request("bob", "Train", TEXT, long, ethers.parseEther("2"), 3600);
    const skipped = await rw.worker.pipeline.until(jobId, ["skipped"], 60_000);
    expect(skipped.error_code).to.equal("PARAMS_INVALID");
    expect(skipped.error_message).to.match(/contextLength is invalid: 4096/);
    expect(await status(jobId)).to.equal(JobStatus.Open); // never claimed: the requester cancels it for everything back
    expect((await w.ph.jobMarket.stakeOf(rw.worker.address)).free).to.equal(stakeBefore.free);
    // The requester's upload is told why, and the SDK says what to do.
    const err = await uploadWhenSeen(rw, w.wallet("bob"), jobId, TEXT).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(err), String(err)).to.match(
      /does not take input any more: this worker will not run it \(PARAMS_INVALID: train parameter contextLength is invalid: 4096\)/,
    );
    const sdkErr = explainInputRefusal(new Error("wrapped", { cause: err }), jobId, "data.txt") as SdkError;
    expect(sdkErr.code).to.equal("JOB_NOT_TAKEN");
    expect(sdkErr.message).to.match(/this worker will not run it .*The job stays open/);
    expect(commandHint(sdkErr.code, sdkErr.data, sdkErr.hint)).to.equal(`cancel it: posthuman job cancel ${jobId}`);
    await (await w.ph.jobMarket.connect(w.wallet("bob")).cancelJob(jobId)).wait();
  });

  it("skips at once, saying why, a job it could not finish by its deadline, or within its run limit, even with nothing queued", async () => {
    // A million training steps: more than the 2 h a run may take here (the job timeout), whatever the deadline (six
    // days here). Claimed before, it held the worker's one run slot for 2 h, refusing everyone else's jobs, and then
    // failed as TIMEOUT, sure from the start.
    const jobId = await request("bob", "Train", TEXT, train(1_000_000), ethers.parseEther("3"), 6 * 86_400);
    // Only a firm estimate refuses for good: without its input, an evaluation's assumes a large one (weighed again
    // when the input comes).
    const weigh = { policy: DEFAULT_POLICY, kind: "evaluate" as const, fee: 10n ** 24n, queuedSec: 0, marginSec: 20 };
    const late = { ...weigh, estimateSec: 1000, nowSec: 0, deadline: 900 };
    expect(admit(late)).to.include({ take: false, final: false, code: "WOULD_MISS_DEADLINE" });
    expect(admit({ ...late, estimateFirm: true })).to.include({
      take: false,
      final: true,
      code: "WOULD_MISS_DEADLINE",
    });
    const long = { ...weigh, estimateSec: 1000, nowSec: 0, deadline: 86_400, maxRunSec: 1000 };
    expect(admit(long)).to.include({ take: false, final: false, code: "TOO_LONG" });
    expect(admit({ ...long, estimateFirm: true })).to.include({ take: false, final: true, code: "TOO_LONG" });
    expect(admit({ ...long, maxRunSec: 1000 * DEFAULT_POLICY.safetyFactor })).to.include({ take: true });
    const skipped = await rw.worker.pipeline.until(jobId, ["skipped"], 60_000);
    expect(skipped.error_code).to.equal("TOO_LONG");
    expect(skipped.error_message).to.match(
      /^it would run about \d+ s here \(\d+ s × [\d.]+\), longer than the 7200 s this worker gives a run: ask for less work/,
    );
    expect(await status(jobId)).to.equal(JobStatus.Open);
    const err = await uploadWhenSeen(rw, w.wallet("bob"), jobId, TEXT).then(
      () => undefined,
      (e: unknown) => e,
    );
    const sdkErr = explainInputRefusal(new Error("wrapped", { cause: err }), jobId, "data.txt") as SdkError;
    expect(sdkErr.code).to.equal("JOB_NOT_TAKEN");
    expect(sdkErr.message).to.match(/this worker will not run it \(it would run about \d+ s here/);
    expect(commandHint(sdkErr.code, { ...sdkErr.data, workerCode: "TOO_LONG" }, sdkErr.hint)).to.equal(
      `cancel it: posthuman job cancel ${jobId}, then request again with fewer --steps or a smaller input`,
    );
    // Asked before paying, the worker says so: nothing is requested.
    const quote = await rw.client.quote(
      m1.modelId,
      { kind: "Train", params: trainParams(1_000_000) },
      {
        fee: ethers.parseEther("3"),
        ttlSec: 6 * 86_400,
        input: TEXT,
      },
    );
    expect(quote).to.include({ take: false, final: true, code: "TOO_LONG" });
    await (await w.ph.jobMarket.connect(w.wallet("bob")).cancelJob(jobId)).wait();
  });

  it("tells a requester the shape of a model it serves, so the SDK refuses before paying what no worker would run", async () => {
    const shape = await rw.client.modelShape(m1.modelId);
    const config = JSON.parse(fs.readFileSync(path.join(m1.dir, "config.json"), "utf8")) as Record<string, number>;
    expect(shape).to.deep.equal({
      modelId: String(m1.modelId),
      nPositions: config.n_positions,
      vocabSize: config.vocab_size,
      maxTokenBytes: MAX_TOKEN_BYTES, // GPT-2's tokenizer
    });
    await expect(rw.client.modelShape(999n)).to.be.rejectedWith(/UNKNOWN_MODEL|does not serve model 999/);
    const bob = await PostHuman.init({ runner: w.wallet("bob"), book: w.book, workerUrl: rw.worker.apiUrl });
    const jobsBefore = await w.ph.jobMarket.jobCount();
    const refused = async (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e as SdkError,
      );
    const ctx = config.n_positions * 2;
    const train = {
      steps: 2,
      batchSize: 2,
      contextLength: ctx,
      learningRate: 1_000_000n,
      warmupSteps: 0,
      weightDecay: 0n,
    };
    const tooLong = await refused(bob.requestJob(m1.modelId, { kind: "Train", params: train }, TEXT));
    expect(tooLong?.code, String(tooLong)).to.equal("PARAMS_INVALID");
    expect(tooLong?.message).to.match(
      new RegExp(`context is ${config.n_positions} tokens: a context of ${ctx} tokens`),
    );
    expect(commandHint("PARAMS_INVALID", tooLong?.data)).to.equal(`pass --context ${config.n_positions} or less`);
    // A prompt the model's context cannot hold is refused before paying too (the rule needs the context).
    // (Without the tokenizer the SDK counts at least one token per MAX_TOKEN_BYTES bytes.)
    const prompt = Buffer.from("harbour ".repeat((config.n_positions * MAX_TOKEN_BYTES) / 8 + 1));
    const infer = { maxTokens: 4, temperature: 0, topK: 0 };
    const longPrompt = await refused(bob.requestJob(m1.modelId, { kind: "Infer", params: infer }, prompt));
    expect(longPrompt?.code, String(longPrompt)).to.equal("INPUT_INVALID");
    expect(longPrompt?.message).to.match(/PROMPT_TOO_LONG/);
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobsBefore); // nothing was requested, nothing paid
  });

  it("asks the worker to count tokens where the bytes cannot tell, and refuses before paying what the model's tokenizer refuses", async () => {
    const steps: string[] = [];
    const bob = await PostHuman.init({
      runner: w.wallet("bob"),
      book: w.book,
      workerUrl: rw.worker.apiUrl,
      onStep: (s: string) => steps.push(s),
    });
    const { nPositions } = modelShape(m1.dir);
    const refused = async (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e as SdkError,
      );
    const jobsBefore = await w.ph.jobMarket.jobCount();
    const balance = async () => w.ocean.oceanToken.balanceOf(await w.wallet("bob").getAddress());
    const before = await balance();
    // Two bytes a token: too many tokens for the context, though far too few bytes for the byte bound to tell.
    const infer = { maxTokens: 4, temperature: 0, topK: 0 };
    const room = nPositions - infer.maxTokens;
    const dense = Buffer.from(`${"a b ".repeat(room)}\n`);
    const long = await refused(
      bob.requestJob(m1.modelId, { kind: "Infer", params: infer }, dense, { inputName: "prompts.txt" }),
    );
    expect(long?.code, String(long)).to.equal("INPUT_INVALID");
    expect(long?.message).to.match(
      new RegExp(
        `^prompt 1 of prompts.txt has \\d+ tokens; .* leaves room for ${room} \\(PROMPT_TOO_LONG\\), counted by the worker`,
      ),
    );
    expect(long?.hint).to.equal("fix the file and try again: nothing was paid");
    // Ten bytes a token: an evaluation set with more bytes than one window needs tokens, and fewer tokens.
    const evaluate = { benchmarkId: benchmarkId("demo/loss"), contextLength: nPositions, maxTokens: 0 };
    const short = Buffer.from("harbour ".repeat(nPositions / 2));
    const tooShort = await refused(
      bob.requestJob(m1.modelId, { kind: "Evaluate", params: evaluate }, short, { inputName: "eval.txt" }),
    );
    expect(tooShort?.code, String(tooShort)).to.equal("INPUT_INVALID");
    expect(tooShort?.message).to.match(/^eval.txt has \d+ tokens; evaluation with context .*\(DATASET_TOO_SHORT\)/);
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobsBefore); // nothing was requested, nothing paid
    expect(await balance()).to.equal(before);
    expect(steps.filter((s) => /count the input's tokens/.test(s))).to.have.length(2);
    // Four bytes a token: more bytes than the context, few enough tokens. The worker says so, the job is paid for
    // and runs.
    const sparse = Buffer.from(`${" the".repeat(room - 2)}\n`);
    const job = await bob.requestJob(m1.modelId, { kind: "Infer", params: infer }, sparse);
    const row = await rw.worker.pipeline.until(job.jobId, ["submitted", "settled", "failed"], 120_000);
    expect(row.state, String(row.error_message)).to.be.oneOf(["submitted", "settled"]);
    expect(steps.filter((s) => /count the input's tokens/.test(s))).to.have.length(3);
  });

  it("quotes a job before it is paid for: a training job its lifetime cannot hold is refused, with the lifetime that would do", async () => {
    const bob = await PostHuman.init({ runner: w.wallet("bob"), book: w.book, workerUrl: rw.worker.apiUrl });
    const jobsBefore = await w.ph.jobMarket.jobCount();
    const params = {
      kind: "Train" as const,
      params: {
        steps: 400,
        batchSize: 2,
        contextLength: 32,
        learningRate: 1_000_000n,
        warmupSteps: 0,
        weightDecay: 0n,
      },
    };
    const err = await bob.requestJob(m1.modelId, params, TEXT, { ttlSec: 120 }).then(
      () => undefined,
      (e: unknown) => e as SdkError,
    );
    expect(err?.code, String(err)).to.equal("WORKER_DECLINES");
    expect(err?.message).to.match(
      /would not take this job: it needs about \d+ s here .* and its deadline is \d+ s away \(WOULD_MISS_DEADLINE\); nor would any other worker/,
    );
    const minTtlSec = err?.data.minTtlSec as number;
    expect(minTtlSec).to.be.greaterThan(120);
    expect(err?.hint).to.equal(`give the job a lifetime of at least ${minTtlSec} s (it has 120 s): nothing was paid`);
    expect(commandHint("WORKER_DECLINES", err?.data)).to.equal(`pass --ttl ${minTtlSec} or more (nothing was paid)`);
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobsBefore); // nothing requested, nothing paid
    // The lifetime it names is one the worker takes now (asked again, without paying).
    const fee = ethers.parseEther("1"); // the SDK's default, above this worker's price
    const quote = await rw.client.quote(m1.modelId, params, { fee, ttlSec: minTtlSec, input: TEXT });
    expect(quote, JSON.stringify(quote)).to.include({ take: true, minTtlSec });
    // A quote is no claim: nothing is reserved in the worker's queue.
    expect(
      await rw.worker.pipeline.quote(m1.modelId, m1.dir, { kind: "train", params: train(400), fee, ttlSec: 120 }),
    ).to.include({
      take: false,
      final: true,
      code: "WOULD_MISS_DEADLINE",
      minTtlSec,
    });
  });

  it("claims only what it can finish before the deadline behind its queue, and fails a job whose input never comes long before its deadline", async () => {
    const derek = await PostHuman.init({ runner: w.wallet("derek"), book: w.book, workerUrl: rw.worker.apiUrl });
    // A well-paid training job of a few minutes' estimate, whose requester never uploads the input.
    const hog = await request("bob", "Train", TEXT, train(400), ethers.parseEther("3"), 1800);
    await rw.worker.pipeline.until(hog, ["claimed"], 150_000);
    const hogRow = rw.worker.jobs.get(hog)!;
    expect(hogRow.estimate_sec).to.be.greaterThan(60);
    // An inference job whose deadline the queue would make it miss: not claimed while the training job is queued.
    // Its lifetime comes from the worker's own estimate (measured on the first case's run, which is faster on a warm
    // machine): 45 s more than the job needs with an empty queue (× the safety factor, + the deadline margin), so
    // it misses behind the training job (over 60 s) and still fits once the queue is empty again.
    const { params: modelParams, nPositions } = modelShape(m1.dir);
    const inferShape = { kind: "infer" as const, params: infer(), modelParams, nPositions };
    const inferSec = createThroughput(rw.worker.db).estimateSec(inferShape, DEFAULT_POLICY);
    const ttl = Math.ceil(inferSec * DEFAULT_POLICY.safetyFactor + MARGIN_SEC + 45);
    // A requester's client asks first (while the training job holds the queue, within its input wait), and is told
    // before paying the lifetime that fits behind the queue now.
    const jobsBefore = await w.ph.jobMarket.jobCount();
    const declined = await derek
      .requestJob(m1.modelId, INFER_JOB, PROMPTS, { fee: ethers.parseEther("2"), ttlSec: ttl })
      .then(
        () => undefined,
        (e: unknown) => e as SdkError,
      );
    expect(declined?.code, String(declined)).to.equal("WORKER_DECLINES");
    expect(declined!.message).to.match(/would not take this job in time: it would wait for the queue to drain/);
    expect(declined!.data.minTtlSec).to.be.greaterThan(ttl);
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobsBefore);
    const urgent = await request("derek", "Infer", PROMPTS, infer(), ethers.parseEther("2"), ttl);
    await waitFor(() => /deadline/.test(rw.worker.pipeline.progress(String(urgent))?.note ?? ""));
    expect(await status(urgent)).to.equal(JobStatus.Open);
    // The training job's input never arrives: failed as the requester's fault after the input wait (20 s, so that
    // the inference job above is weighed while the training job still holds the queue, on a loaded machine too), not at
    // its deadline 30 minutes away.
    const failed = await rw.worker.pipeline.until(hog, ["failed"], 150_000);
    expect(failed.error_code).to.equal("INPUT_MISSING");
    const events = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobFailed(hog));
    expect(events.map((e) => Number(e.args.reason))).to.deep.equal([FAIL_REASONS.INPUT_MISSING]);
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    expect(Number((await w.ph.jobMarket.getJob(hog)).deadline) - now).to.be.greaterThan(1500);
    // The queue is empty again: the inference job now fits, is claimed and runs.
    await uploadWhenSeen(rw, w.wallet("derek"), urgent, PROMPTS);
    const row = await rw.worker.pipeline.until(urgent, ["submitted", "settled"], 120_000);
    expect(row.state).to.be.oneOf(["submitted", "settled"]);
    // What it measured is kept for the next estimate.
    const measured = rw.worker.db.prepare("SELECT kind, runs FROM throughput").all<{ kind: string; runs: number }>();
    expect(measured.map((m) => m.kind)).to.include("infer");
  });

  it("weighs a burst of six jobs from one transaction together, and claims only the three its queue can finish in time", async () => {
    // Six training jobs of one transaction (a contract's batch), weighed concurrently by one pass. Each decision
    // reserves its job's estimate in the queue in the same step, so the burst is not over-committed: with one run
    // slot and a deadline 2.5 estimates past what an empty queue needs, exactly three fit (k queued ahead ≤ 2.5).
    const { params: modelParams, nPositions } = modelShape(m1.dir);
    const shape = { kind: "train" as const, params: train(200), modelParams, nPositions };
    const est = createThroughput(rw.worker.db).estimateSec(shape, DEFAULT_POLICY);
    expect(DEFAULT_POLICY.runSlots).to.equal(1);
    const ttl = Math.ceil(MARGIN_SEC + est * (DEFAULT_POLICY.safetyFactor + 2.5));
    const owner = w.wallet("alice"); // (she holds the datatokens)
    const { batch } = await deployBatch(w, owner, m1.datatoken, 6, ethers.parseEther("0.6"));
    const deadline = (await w.provider.getBlock("latest"))!.timestamp + ttl;
    const inputs = Array.from({ length: 6 }, (_, i) => Buffer.from(`Batch text ${i}. `.repeat(40)));
    const o = { modelId: m1.modelId, datatoken: m1.datatoken, kind: "Train" as const, fee: ethers.parseEther("0.6") };
    const jobs = await requestBatch(w, batch, { ...o, deadline, params: train(200) }, inputs);
    expect(jobs).to.have.length(6);
    // Every job weighed: three claimed, three waiting for the queue to drain before their deadline.
    const weighed = (id: bigint) => {
      const row = rw.worker.jobs.get(id);
      return row?.state === "claimed" || /deadline/.test(rw.worker.pipeline.progress(String(id))?.note ?? "");
    };
    await waitFor(() => jobs.every(weighed));
    const onChain = await Promise.all(jobs.map(status));
    expect(
      onChain.filter((s) => s === JobStatus.Claimed),
      `statuses ${onChain.join(",")}`,
    ).to.have.length(3);
    expect(onChain.filter((s) => s === JobStatus.Open)).to.have.length(3);
    // The owner withdraws the three unclaimed (refunded to the contract); the three claimed get no input and fail
    // as the requester's fault after the input wait.
    for (const [i, id] of jobs.entries()) if (onChain[i] === JobStatus.Open) await (await batch.cancel(id)).wait();
    for (const [i, id] of jobs.entries()) {
      if (onChain[i] !== JobStatus.Claimed) continue;
      const failed = await rw.worker.pipeline.until(id, ["failed"], 150_000);
      expect(failed.error_code).to.equal("INPUT_MISSING");
    }
  });

  it("settles a job whose challenge the arbiter let lapse: the worker's pay and collateral are not locked", async () => {
    const jobId = await request("derek", "Infer", PROMPTS, infer(), ethers.parseEther("2"), 600);
    await uploadWhenSeen(rw, w.wallet("derek"), jobId, PROMPTS);
    await rw.worker.pipeline.until(jobId, ["submitted"], 120_000);
    // An accomplice of nobody challenges; the arbiter stays silent.
    const bond = (await w.ph.jobMarket.config()).challengeBond;
    await (await w.ocean.oceanToken.connect(w.wallet("elena")).approve(w.book.contracts.JobMarket, bond)).wait();
    await (await w.ph.jobMarket.connect(w.wallet("elena")).challengeReceipt(jobId)).wait();
    expect(await status(jobId)).to.equal(JobStatus.Challenged);
    const locked = (await w.ph.jobMarket.stakeOf(w.address("worker"))).locked;
    expect(locked).to.be.greaterThan(0n);
    await w.provider.send("evm_increaseTime", [91]);
    await w.provider.send("evm_mine", []);
    const row = await rw.worker.pipeline.until(jobId, ["settled"], 150_000);
    expect(row.state).to.equal("settled");
    expect(await status(jobId)).to.equal(JobStatus.Settled);
    expect((await w.ph.jobMarket.stakeOf(w.address("worker"))).locked).to.be.lessThan(locked);
  });

  it("serves a model only from its owner's upload for that id: a clone registered with Alice's weights root gets nothing", async () => {
    // Charlie copies M1's weights root and config hash from ModelPublished and publishes a clone of his own.
    const clone = await publishModel(w.ph.registry.connect(w.wallet("charlie")), w.wallet("charlie"), {
      name: "Clone",
      symbol: "CLN",
      weightsRoot: m1.weightsRoot,
      configHash: (await w.ph.registry.getModel(m1.modelId)).configHash,
      dataHash: ethers.ZeroHash,
      metadataURI: "",
      baseline: { benchmarkId: benchmarkId("demo/loss"), metric: toFixedLoss(10.8) },
      pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
      initialSupply: ethers.parseEther("50"),
    }).catch((e: unknown) => e as Error);
    if (clone instanceof Error) {
      // The contracts already refuse a second registration of a known root (issue 11's chain side).
      expect(clone.message).to.match(/revert|Root/i);
      return;
    }
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const jobId = await requestJob(w.ph, w.wallet("charlie"), {
      modelId: clone.modelId,
      kind: "Infer",
      inputHash: sha256Hex(PROMPTS),
      fee: ethers.parseEther("2"),
      deadline: now + 600,
      params: infer(),
    });
    await waitFor(() => rw.worker.pipeline.progress(String(jobId))?.note === "the model's weights");
    await new Promise((r) => setTimeout(r, 1500));
    expect(await status(jobId)).to.equal(JobStatus.Open); // not claimed, never served from Alice's upload
    expect(rw.runs.get(String(jobId))).to.equal(undefined);
  });

  it("refuses an owner's upload whose config does not hash to the one recorded on chain", async () => {
    const dir = path.join(w.tmp, "model-config-mismatch");
    await createModel(dir, { preset: "tiny", seed: 23 });
    const published = await publishModel(w.ph.registry.connect(w.wallet("alice")), w.wallet("alice"), {
      name: "Mislabelled",
      symbol: "MIS",
      weightsRoot: await weightsRoot(dir),
      configHash: ethers.keccak256(ethers.toUtf8Bytes("a config that is not the folder's")),
      dataHash: ethers.ZeroHash,
      metadataURI: "",
      baseline: { benchmarkId: benchmarkId("demo/loss"), metric: toFixedLoss(10.8) },
      pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
      initialSupply: ethers.parseEther("50"),
    });
    await expect(rw.client.uploadModel(w.wallet("alice"), published.modelId, dir)).to.be.rejectedWith(
      /config hash is 0x[0-9a-f]{64}, the chain records/,
    );
    expect(rw.worker.jobs.uploadOf(published.modelId)).to.equal(undefined);
  });

  it("fails at no cost, and refunds, a claimed job whose model was frozen after the claim", async () => {
    // Bob finetunes M1 into M2: the worker trains it, and its receipt registers M2, which the worker then serves.
    const trainJob = await request("bob", "Train", TEXT, train(2), ethers.parseEther("1"), 1800);
    await uploadWhenSeen(rw, w.wallet("bob"), trainJob, TEXT);
    await rw.worker.pipeline.until(trainJob, ["submitted"], 150_000);
    const m2 = (await w.ph.jobMarket.getJob(trainJob)).childModelId;
    const m2Token = w.ocean.erc20Template.attach(
      (await w.ph.registry.getModel(m2)).datatoken,
    ) as typeof w.ocean.erc20Template;
    // Derek (not Bob, whom the upheld challenge below refunds) asks for inference on M2 with a datatoken from Bob,
    // and holds his input back: the worker claims the job.
    await (await m2Token.connect(w.wallet("bob")).transfer(w.address("derek"), ethers.parseEther("1"))).wait();
    const oceanBefore = await w.ocean.oceanToken.balanceOf(w.address("derek"));
    const dtBefore = await m2Token.balanceOf(w.address("derek"));
    const fee = ethers.parseEther("2");
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const inferJob = await requestJob(w.ph, w.wallet("derek"), {
      modelId: m2,
      kind: "Infer",
      inputHash: sha256Hex(PROMPTS),
      fee,
      deadline: now + 1200,
      params: infer(),
    });
    await rw.worker.pipeline.until(inferJob, ["claimed"], 150_000);
    const locked = (await w.ph.jobMarket.stakeOf(w.address("worker"))).locked;
    // Elena challenges the receipt that made M2 and the arbiter upholds it: M2 is frozen after the claim.
    const bond = (await w.ph.jobMarket.config()).challengeBond;
    await (await w.ocean.oceanToken.connect(w.wallet("elena")).approve(w.book.contracts.JobMarket, bond)).wait();
    await (await w.ph.jobMarket.connect(w.wallet("elena")).challengeReceipt(trainJob)).wait();
    await w.provider.send("evm_increaseTime", [61]); // the requester's join period of elena's challenge
    await (await w.ph.jobMarket.connect(w.wallet("deployer")).resolveChallenge(trainJob, true)).wait();
    expect((await w.ph.registry.getModel(m2)).frozen).to.equal(true);
    const lockedAfterUpheld = (await w.ph.jobMarket.stakeOf(w.address("worker"))).locked;
    expect(lockedAfterUpheld).to.be.lessThan(locked); // the training job's collateral was slashed, that job's own
    // The input arrives: the worker does not run what can no longer be submitted, and fails it at once, unpenalized.
    await uploadWhenSeen(rw, w.wallet("derek"), inferJob, PROMPTS);
    const failed = await rw.worker.pipeline.until(inferJob, ["failed"], 120_000);
    expect(failed.error_code).to.equal("MODEL_UNAVAILABLE");
    expect(failed.error_message).to.match(/model is frozen/);
    expect(rw.runs.get(String(inferJob))).to.equal(undefined);
    const events = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.JobFailed(inferJob));
    expect(events.map((e) => Number(e.args.reason))).to.deep.equal([FAIL_REASONS.MODEL_UNAVAILABLE]);
    expect(await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.WorkerPenalized(inferJob))).to.have.length(0);
    expect((await w.ph.jobMarket.stakeOf(w.address("worker"))).locked).to.be.lessThan(lockedAfterUpheld);
    // Derek has his fee and his datatoken back.
    expect(await w.ocean.oceanToken.balanceOf(w.address("derek"))).to.equal(oceanBefore);
    expect(await m2Token.balanceOf(w.address("derek"))).to.equal(dtBefore);
  });

  it("lets the requester slash, through the SDK, a worker that fails as INPUT_MISSING an input it acknowledged", async () => {
    // A model only worker2 serves, so only worker2 claims its job.
    const m9 = await publishTinyModel(w, "alice", 33);
    const w2 = await startWorker(w, "worker2");
    let w2Stopped = false;
    try {
      await w2.client.uploadModel(w.wallet("alice"), m9.modelId, m9.dir);
      const dt = w.ocean.erc20Template.attach(m9.datatoken) as typeof w.ocean.erc20Template;
      await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), ethers.parseEther("1"))).wait();
      const before = await w.ocean.oceanToken.balanceOf(w.address("derek"));
      const fee = ethers.parseEther("2");
      const now = (await w.provider.getBlock("latest"))!.timestamp;
      const jobId = await requestJob(w.ph, w.wallet("derek"), {
        modelId: m9.modelId,
        kind: "Infer",
        inputHash: sha256Hex(PROMPTS),
        fee,
        deadline: now + 1200,
        params: infer(),
      });
      await w2.worker.pipeline.until(jobId, ["claimed"], 150_000);
      const { inputAck } = await uploadWhenSeen(w2, w.wallet("derek"), jobId, PROMPTS);
      expect(inputAck).to.match(/^0x[0-9a-f]{130}$/);
      // The operator turns dishonest: it stops its worker and blames the input it acknowledged.
      await w2.worker.stop();
      w2Stopped = true;
      const liar = w.wallet("worker2");
      liar.reset();
      await (await w.ph.jobMarket.connect(liar).failJob(jobId, FAIL_REASONS.INPUT_MISSING)).wait();
      const derek = await PostHuman.init({ runner: w.wallet("derek"), book: w.book });
      // An acknowledgement that the claimant did not sign is refused before any transaction.
      const forged = await signInputAck(
        w.wallet("derek"),
        inputAckDomain(31337, w.book.contracts.JobMarket),
        jobId,
        sha256Hex(PROMPTS),
      );
      await expect(derek.disputeFailure(jobId, forged)).to.be.rejectedWith(/not by its claimant/);
      const stakeBefore = (await w.ph.jobMarket.stakeOf(w.address("worker2"))).free;
      const r = await derek.disputeFailure(jobId, inputAck!);
      expect(r.reason).to.equal("INPUT_MISSING");
      expect(r.slashed).to.equal(await w.ph.jobMarket.collateralFor(fee));
      expect(await status(jobId)).to.equal(JobStatus.Slashed);
      // Derek has his fee back (at the failure) and the liar's collateral on top; the liar's stake lost it.
      expect(await w.ocean.oceanToken.balanceOf(w.address("derek"))).to.equal(before + r.slashed);
      expect((await w.ph.jobMarket.stakeOf(w.address("worker2"))).free).to.equal(stakeBefore);
      await expect(derek.disputeFailure(jobId, inputAck!)).to.be.rejectedWith(/no failure to dispute/);
    } finally {
      if (!w2Stopped) await w2.worker.stop();
    }
  });

  it("serves an upload only with the tokenizer the chain records (0: GPT-2's own), so it cannot change behind it", async () => {
    /** A tiny model whose tokenizer has two token ids swapped: same kind of weights, another model's behaviour. */
    const otherTokenizer = async (seed: number) => {
      const dir = path.join(w.tmp, `model-other-tokenizer-${seed}`);
      await createModel(dir, { preset: "tiny", seed });
      const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
      [tj.model.vocab.the, tj.model.vocab.and] = [tj.model.vocab.and, tj.model.vocab.the];
      fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tj));
      return dir;
    };
    const publish = async (dir: string, symbol: string, tokenizerHash?: string) =>
      publishModel(w.ph.registry.connect(w.wallet("alice")), w.wallet("alice"), {
        name: symbol,
        symbol,
        weightsRoot: await weightsRoot(dir),
        configHash: await configHash(dir),
        pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
        initialSupply: ethers.parseEther("5"),
        tokenizerHash,
      });
    // Published without recording its tokenizer: the chain vouches for GPT-2's, the folder holds another.
    const silentDir = await otherTokenizer(29);
    const silent = await publish(silentDir, "SIL");
    await expect(rw.client.uploadModel(w.wallet("alice"), silent.modelId, silentDir)).to.be.rejectedWith(
      /tokenizer hash is 0x[0-9a-f]{64}, the chain records 0x0{64}/,
    );
    expect(rw.worker.jobs.uploadOf(silent.modelId)).to.equal(undefined);
    // Published with its tokenizer recorded: served.
    const recordedDir = await otherTokenizer(31);
    const own = await onChainTokenizerHash(recordedDir);
    expect(own).to.not.equal(ethers.ZeroHash);
    const recorded = await publish(recordedDir, "REC", own);
    expect((await w.ph.registry.getModel(recorded.modelId)).tokenizerHash).to.equal(own);
    await rw.client.uploadModel(w.wallet("alice"), recorded.modelId, recordedDir);
    expect(rw.worker.jobs.uploadOf(recorded.modelId)).to.not.equal(undefined);
  });

  it("never shows the worker's absolute paths in a job's public error message", () => {
    const msg = "EXECUTOR_FAILED: cannot read /var/lib/posthuman/worker/jobs/7/inputs/input.txt (ENOENT)";
    expect(publicMessage(msg)).to.equal("EXECUTOR_FAILED: cannot read …/input.txt (ENOENT)");
    expect(publicMessage("C:\\data\\worker\\models\\abc failed")).to.equal("…/abc failed");
    expect(publicMessage("prompt 1 has 90 tokens; context 64")).to.equal("prompt 1 has 90 tokens; context 64");
  });
});
