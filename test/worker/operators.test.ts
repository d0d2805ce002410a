/**
 * Two operators, one requester (issue 11, item 10), and a requester's own bad input (item 9), through the SDK as a
 * requester uses it, against two real workers with separate stores on a real hardhat node.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { PostHuman } from "../../offchain/sdk/client";
import { isSdkError } from "../../offchain/sdk/errors";
import type { FollowProgress } from "../../offchain/sdk/job-types";
import { encodeJobParams, type JobParams } from "../../offchain/protocol/params";
import { sha256Hex } from "../../offchain/protocol/auth";
import { requestJob } from "../../offchain/deploy/posthuman";
import {
  publishTinyModel,
  startWorker,
  startWorld,
  uploadWhenSeen,
  type RunningWorker,
  type World,
} from "../../offchain/devnet/world";

const PROMPTS = Buffer.from("The harbour town woke\n");
const INFER: JobParams = { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } };

describe("two operators and a requester's client (real hardhat node, two real workers, separate stores)", function () {
  this.timeout(300_000);
  let w: World;
  let op1: RunningWorker;
  let op2: RunningWorker;
  let op2Stopped = false;
  /** The job operator 2 ran (its result is there). */
  let ranByOp2: bigint;
  let m1: Awaited<ReturnType<typeof publishTinyModel>>;
  let derek: PostHuman;
  const steps: string[] = [];

  before(async () => {
    w = await startWorld();
    // Operator 1 takes no inference jobs at this price; operator 2 does. Each has its own data dir and store.
    op1 = await startWorker(w, "worker", { POSTHUMAN_WORKER_MIN_FEE_INFER: "1000ether" });
    op2 = await startWorker(w, "worker2");
    m1 = await publishTinyModel(w, "alice", 31);
    // Alice publishes her weights to both operators.
    await op1.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
    await op2.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
    const dt = w.ocean.erc20Template.attach(m1.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), ethers.parseEther("5"))).wait();
    // Derek's client knows only operator 1's URL.
    derek = await PostHuman.init({
      runner: w.wallet("derek"),
      book: w.book,
      workerUrl: op1.worker.apiUrl,
      onStep: (line) => steps.push(line),
    });
  });
  after(async () => {
    await op1?.worker.stop();
    if (!op2Stopped) await op2?.worker.stop();
    await w?.stop();
  });

  /** Derek's inference of `input` at a fee of 2, requested on the bare contracts (no checks, no upload), 15 min to run. */
  const requestBare = async (input: Buffer) => {
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const jobId = await requestJob(w.ph, w.wallet("derek"), {
      modelId: m1.modelId,
      kind: "Infer",
      inputHash: sha256Hex(input),
      fee: ethers.parseEther("2"),
      deadline: now + 900,
      params: encodeJobParams(INFER),
    });
    return { jobId, now };
  };

  it("each worker registers its API on chain with its stake", async () => {
    expect(await w.ph.jobMarket.endpointOf(w.address("worker"))).to.equal(op1.worker.apiUrl);
    expect(await w.ph.jobMarket.endpointOf(w.address("worker2"))).to.equal(op2.worker.apiUrl);
  });

  it("uploads to the claimant's API found on chain, not to the one worker URL the client was given", async () => {
    const job = await derek.requestJob(m1.modelId, INFER, PROMPTS, { fee: ethers.parseEther("2") });
    ranByOp2 = job.jobId;
    const row = await op2.worker.pipeline.until(job.jobId, ["submitted", "settled"], 180_000);
    expect(row.state).to.be.oneOf(["submitted", "settled"]);
    expect((await w.ph.jobMarket.getJob(job.jobId)).worker).to.equal(w.address("worker2"));
    // Operator 1 skipped it by price and never received the input.
    expect(op1.worker.jobs.get(job.jobId)?.error_code).to.equal("UNDERPRICED");
    expect(op1.worker.jobs.get(job.jobId)?.input_artifact).to.equal(null);
    // The client reads the job's state, and fetches its result, at the claimant's API.
    const result = await derek.fetchResult(job.jobId);
    expect(result.verified).to.equal(true);
    expect((await derek.jobOverview(job.jobId)).worker?.state).to.be.oneOf(["submitted", "settled"]);
    // Before paying, operator 1's quote said no, for good; operator 2's, found on chain, said yes.
    expect(steps.join("\n")).to.include(
      `The worker at ${op1.worker.apiUrl} would not take this job (UNDERPRICED); the one at ${op2.worker.apiUrl} would`,
    );
  });

  it("refuses before paying a job that no worker registered on chain would take, saying what the configured one needs", async () => {
    const jobsBefore = await w.ph.jobMarket.jobCount();
    const balanceBefore = await w.provider.getBalance(w.address("derek"));
    const long = { kind: "Train" as const, params: { ...trainParams().params, steps: 400 } } as JobParams;
    const err = await derek.requestJob(m1.modelId, long, Buffer.from("Some text. ".repeat(200)), { ttlSec: 120 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSdkError(err, "WORKER_DECLINES"), String(err)).to.equal(true);
    const e = err as Error & { hint?: string; data: Record<string, unknown> };
    expect(e.message).to.match(
      new RegExp(
        `^The worker at ${op1.worker.apiUrl} would not take this job: it needs about \\d+ s here .*\\(WOULD_MISS_DEADLINE\\); nor would any other worker registered on chain\\.$`,
      ),
    );
    expect(e.hint).to.equal(
      `give the job a lifetime of at least ${e.data.minTtlSec as number} s (it has 120 s): nothing was paid`,
    );
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobsBefore);
    expect(await w.provider.getBalance(w.address("derek"))).to.equal(balanceBefore); // not even gas
    // And a fee under operator 1's price, quoted alone (operator 2 is not asked): the least fee it takes.
    const alone = await op1.client.quote(m1.modelId, INFER, {
      fee: ethers.parseEther("2"),
      ttlSec: 900,
      input: PROMPTS,
    });
    expect(alone).to.include({
      take: false,
      final: true,
      code: "UNDERPRICED",
      minFee: ethers.parseEther("1000").toString(),
    });
  });

  it("refuses a bad input before any transaction, naming the user's file", async () => {
    const jobsBefore = await w.ph.jobMarket.jobCount();
    const balanceBefore = await w.provider.getBalance(w.address("derek"));
    const cases: [Buffer, JobParams, RegExp][] = [
      [Buffer.alloc(0), INFER, /notes\.txt is empty/],
      [Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01]), INFER, /notes\.txt is binary data \(NUL byte at offset 4\)/],
      [Buffer.from([0x61, 0xc3, 0x28]), INFER, /notes\.txt is not valid UTF-8/],
      [Buffer.from('{"body": "no text"}\n'), trainParams(), /notes\.txt line 1 has no string field "text"/],
      [Buffer.from("Too short.\n"), trainParams(), /notes\.txt has at most \d+ tokens; training with context 32/],
    ];
    for (const [input, params, message] of cases) {
      const err = await derek.requestJob(m1.modelId, params, input, { inputName: "notes.txt" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isSdkError(err, "INPUT_INVALID"), String(err)).to.equal(true);
      expect((err as Error).message).to.match(message);
      expect((err as { hint?: string }).hint).to.match(/nothing was paid/);
    }
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobsBefore); // no request was sent
    expect(await w.provider.getBalance(w.address("derek"))).to.equal(balanceBefore); // not even gas
  });

  it("fails at once, and refunds fee and datatoken, a job whose committed input the worker refuses anyway", async () => {
    // A prompt too long for the tiny model's context of 64 tokens, as only the model's tokenizer counts (the SDK asks
    // the worker before paying: admission.test.ts). The request goes through the bare contracts, as a client without
    // checks would.
    const long = Buffer.from(`${"word ".repeat(120)}\n`);
    const dt = w.ocean.erc20Template.attach(m1.datatoken) as typeof w.ocean.erc20Template;
    const tokensBefore = await dt.balanceOf(w.address("derek"));
    const baseBefore = await w.ocean.oceanToken.balanceOf(w.address("derek"));
    const { jobId, now } = await requestBare(long);
    await op2.worker.pipeline.until(jobId, ["claimed"], 60_000);
    await expect(uploadWhenSeen(op2, w.wallet("derek"), jobId, long)).to.be.rejectedWith(
      /prompt 1 of the uploaded input has \d+ tokens.*fails it on chain now/,
    );
    const row = await op2.worker.pipeline.until(jobId, ["failed"], 60_000);
    expect(row.error_code).to.equal("PROMPT_TOO_LONG");
    const now2 = (await w.provider.getBlock("latest"))!.timestamp;
    expect(now + 900 - now2).to.be.greaterThan(600); // long before the deadline
    expect(await dt.balanceOf(w.address("derek"))).to.equal(tokensBefore);
    expect(await w.ocean.oceanToken.balanceOf(w.address("derek"))).to.equal(baseBefore);
  });

  // Last: it stops operator 2.
  it("keeps following a job the configured worker skipped while another registered worker may still take it", async () => {
    // Operator 2 is down (its endpoint still registered): it may take the job once back, so the follow goes on.
    await op2.worker.stop();
    op2Stopped = true;
    const { jobId } = await requestBare(PROMPTS);
    expect((await op1.worker.pipeline.until(jobId, ["skipped"], 60_000)).error_code).to.equal("UNDERPRICED");
    const err = await derek.followJob(jobId, { timeoutMs: 3_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSdkError(err, "JOB_TIMEOUT"), String(err)).to.equal(true);
    await (await w.ph.jobMarket.connect(w.wallet("derek")).cancelJob(jobId)).wait();
    // A job operator 2 claimed before it went away: the follow says its worker does not answer, and until when.
    const claimed = (await requestBare(PROMPTS)).jobId;
    w.wallet("worker2").reset();
    await (await w.ph.jobMarket.connect(w.wallet("worker2")).claimJob(claimed)).wait();
    const seen: FollowProgress[] = [];
    const timeout = await derek
      .followJob(claimed, { timeoutMs: 3_000, workerDownMs: 500, onProgress: (p) => seen.push(p) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isSdkError(timeout, "JOB_TIMEOUT"), String(timeout)).to.equal(true);
    expect(seen[0].workerDown).to.equal(undefined);
    expect(seen.at(-1)!.workerDown).to.match(
      new RegExp(
        `^its worker at ${op2.worker.apiUrl} has not answered for \\d+ s; the job is claimed by it until its ` +
          "deadline \\(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d UTC, chain time\\): if no receipt comes by then, reclaim it",
      ),
    );
    // The result of the job operator 2 ran is there only: said so, naming it, not the configured worker.
    await expect(derek.fetchResult(ranByOp2)).to.be.rejectedWith(
      `The worker that ran job ${ranByOp2} does not answer at ${op2.worker.apiUrl}, where its result is. The job has its receipt.`,
    );
  });
});

function trainParams(): JobParams {
  return {
    kind: "Train",
    params: { steps: 2, batchSize: 2, contextLength: 32, learningRate: 1_000_000n, warmupSteps: 0, weightDecay: 0n },
  };
}
