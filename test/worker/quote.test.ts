/**
 * A worker's quote before paying (GET /models/:id/quote) against what its claim then does, through the SDK as a
 * requester uses it: a job requested on the terms a quote names is claimed and run. Real hardhat node, real worker
 * that prices its compute by the second.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { benchmarkId, encodeJobParams, JobStatus, type JobParams } from "../../offchain/protocol/params";
import { sha256Hex } from "../../offchain/protocol/auth";
import { requestJob } from "../../offchain/deploy/posthuman";
import { claimantApi } from "../../offchain/sdk/claimant";
import { PostHuman } from "../../offchain/sdk/client";
import { isSdkError } from "../../offchain/sdk/errors";
import { modelShape } from "../../offchain/worker/pipeline-steps";
import { sizeBucket } from "../../offchain/worker/policy";
import { QUOTE_SLACK_SEC } from "../../offchain/worker/quote";
import { publishTinyModel, startWorker, startWorld, type RunningWorker, type World } from "../../offchain/devnet/world";

/** An evaluation of a small input: its price depends on the input, which a claim sees only once it comes. */
const EVALUATE: JobParams = {
  kind: "Evaluate",
  params: { benchmarkId: benchmarkId("demo/loss"), contextLength: 32, maxTokens: 100_000, independent: false },
};
const EVAL_INPUT = Buffer.from("harbour town ".repeat(100));
const TEXT = Buffer.from("The fishing boats came home at dusk, heavy with the day's catch. ".repeat(40));

describe("a worker's quote and its claim agree (real hardhat node, real worker pricing by the second)", function () {
  this.timeout(300_000);
  let w: World;
  let rw: RunningWorker;
  let m1: Awaited<ReturnType<typeof publishTinyModel>>;
  let bob: PostHuman;

  before(async () => {
    w = await startWorld();
    rw = await startWorker(w, "worker", { POSTHUMAN_WORKER_FEE_PER_COMPUTE_SECOND: "0.001ether" });
    m1 = await publishTinyModel(w, "alice", 41);
    await rw.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
    const dt = w.ocean.erc20Template.attach(m1.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("bob"), ethers.parseEther("5"))).wait();
    bob = await PostHuman.init({ runner: w.wallet("bob"), book: w.book, workerUrl: rw.worker.apiUrl });
  });
  /** Bob's evaluation of EVAL_INPUT, requested on the bare contracts (no quote, no upload), an hour to run. */
  const requestBare = async (fee: bigint) => {
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    return requestJob(w.ph, w.wallet("bob"), {
      modelId: m1.modelId,
      kind: "Evaluate",
      inputHash: sha256Hex(EVAL_INPUT),
      fee,
      deadline: now + 3600,
      params: encodeJobParams(EVALUATE),
    });
  };
  /** How many times the worker weighed an evaluation job for a claim (its /metrics). */
  const weighings = async () => {
    const text = await (await fetch(`${rw.worker.apiUrl}/metrics`)).text();
    return Number(/^posthuman_claim_weighings_total\{kind="evaluate"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  after(async () => {
    await rw?.worker.stop();
    await w?.stop();
  });

  it("prices an evaluation for its input, and claims it at that fee once the input is here", async () => {
    // A slow measured evaluation rate (200 tokens a second), as a slow worker's database holds after real runs: the
    // price of a large input assumed before it comes is far above that of this small one.
    const params = modelShape(m1.dir).params;
    rw.worker.db
      .prepare("INSERT OR REPLACE INTO throughput (kind, size_bucket, work_per_sec, runs) VALUES ('evaluate', ?, ?, 3)")
      .run(sizeBucket(params), params * 200);
    const quote = await rw.client.quote(m1.modelId, EVALUATE, { fee: 1n, ttlSec: 3600, input: EVAL_INPUT });
    expect(quote).to.include({ take: false, final: true, code: "UNDERPRICED" });
    const fee = BigInt(quote.minFee!);
    expect(fee).to.be.greaterThan(0n);
    const requested = await bob.requestJob(m1.modelId, EVALUATE, EVAL_INPUT, { fee, ttlSec: 3600 });
    const row = await rw.worker.pipeline.until(requested.jobId, ["submitted", "settled", "skipped", "failed"], 120_000);
    expect(row.state, `${row.error_code}: ${row.error_message}`).to.be.oneOf(["submitted", "settled"]);
    // What it waited for, and how far its run got, went with the states it left.
    expect((await rw.client.jobStatus(requested.jobId)).progress).to.equal(null);
  });

  it("has a requester's client upload at once to a worker that waits for the input to price the job", async function () {
    // Without the input the worker prices an evaluation for a large one assumed, over this fee, and waits for it: the
    // client must not wait for a claim that cannot come before the upload (it would for its whole 10 minutes here).
    this.timeout(60_000);
    const fee = BigInt(
      (await rw.client.quote(m1.modelId, EVALUATE, { fee: 1n, ttlSec: 3600, input: EVAL_INPUT })).minFee!,
    );
    const jobId = await requestBare(fee);
    for (;;) {
      const seen = await rw.client.jobStatus(jobId).catch(() => undefined);
      if (seen?.progress?.waitsFor === "input") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await claimantApi(w.ph.jobMarket, rw.client, jobId, 600_000)).to.equal(rw.client);
    expect(Number((await w.ph.jobMarket.getJob(jobId)).status)).to.equal(JobStatus.Open);
    // Meanwhile the worker does not weigh the job again on every pass (200 ms here; a few chain reads each): it rests.
    const before = await weighings();
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await weighings()) - before).to.be.at.most(1);
    await (await w.ph.jobMarket.connect(w.wallet("bob")).cancelJob(jobId)).wait();
    // Once cancelled, an upload is refused for what it is, without waiting for a claim or asking the worker.
    await expect(bob.uploadInput(jobId, EVAL_INPUT, undefined, "eval.txt")).to.be.rejectedWith(
      `Job ${jobId} is cancelled (its fee and datatoken went back to the requester): it takes no input any more, so eval.txt was not sent.`,
    );
  });

  it("skips at once a job whose fee no input could meet, rather than wait for its input", async () => {
    const jobId = await requestBare(1n);
    const row = await rw.worker.pipeline.until(jobId, ["skipped", "claimed"], 60_000);
    expect([row.state, row.error_code]).to.deep.equal(["skipped", "UNDERPRICED"]);
    expect(row.error_message).to.match(
      /^fee 0\.000000000000000001 OCEAN is under this worker's price of [\d.]+ OCEAN for an evaluate job/,
    );
    // Its requester's follow ends there, saying so, rather than waiting for the deadline an hour away.
    const err = await bob.followJob(jobId, { timeoutMs: 30_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSdkError(err, "JOB_NOT_TAKEN"), String(err)).to.equal(true);
    const e = err as Error & { hint?: string; data: Record<string, unknown> };
    expect(e.message).to.match(
      new RegExp(
        `^No worker will take job ${jobId}: the worker at ${rw.worker.apiUrl} will not run it \\(UNDERPRICED: fee 0\\.000000000000000001 OCEAN is under .*\\)\\. The job stays open, its fee and datatoken escrowed, until you cancel it \\(or, after its deadline, reclaim it\\)\\.$`,
      ),
    );
    expect(e.hint).to.equal(
      "cancel the job to get the fee and the datatoken back, then request again with a higher fee (the worker's quote names the least it takes)",
    );
    expect(e.data).to.deep.include({ jobId, workerCode: "UNDERPRICED" });
    expect(Number((await w.ph.jobMarket.getJob(jobId)).status)).to.equal(JobStatus.Open);
    await (await w.ph.jobMarket.connect(w.wallet("bob")).cancelJob(jobId)).wait();
    // Once cancelled, an upload is refused for what it is, without waiting for a claim or asking the worker.
    await expect(bob.uploadInput(jobId, EVAL_INPUT, undefined, "eval.txt")).to.be.rejectedWith(
      `Job ${jobId} is cancelled (its fee and datatoken went back to the requester): it takes no input any more, so eval.txt was not sent.`,
    );
  });

  it("claims a job requested with the shortest lifetime a quote names", async () => {
    const job: JobParams = {
      kind: "Train",
      params: { steps: 2, batchSize: 2, contextLength: 32, learningRate: 1_000_000n, warmupSteps: 0, weightDecay: 0n },
    };
    const fee = ethers.parseEther("1");
    const short = await rw.client.quote(m1.modelId, job, { fee, ttlSec: 10, input: TEXT });
    expect(short).to.include({ take: false, final: true, code: "DEADLINE_TOO_CLOSE" });
    const minTtlSec = short.minTtlSec!;
    expect(minTtlSec).to.be.greaterThan(QUOTE_SLACK_SEC);
    const requested = await bob.requestJob(m1.modelId, job, TEXT, { fee, ttlSec: minTtlSec });
    const row = await rw.worker.pipeline.until(requested.jobId, ["claimed", "skipped", "failed"], 60_000);
    expect(row.state, `${row.error_code}: ${row.error_message}`).to.not.be.oneOf(["skipped", "failed"]);
    expect(Number((await w.ph.jobMarket.getJob(requested.jobId)).status)).to.not.equal(JobStatus.Open);
  });
});
