import { expect } from "chai";
import { ethers } from "ethers";
import { encodeJobParams, JobStatus, benchmarkId } from "../../offchain/protocol/params";
import { requestJob } from "../../offchain/deploy/posthuman";
import { sha256Hex } from "../../offchain/protocol/auth";
import { PostHuman } from "../../offchain/sdk/client";
import type { SdkError } from "../../offchain/sdk/errors";
import {
  publishTinyModel,
  startWorker,
  startWorld,
  uploadWhenSeen,
  type Name,
  type RunningWorker,
  type World,
} from "../../offchain/devnet/world";

const PROMPTS = Buffer.from("The harbour town woke\nWind south-west, force\n");
const TEXT = Buffer.from(
  "The harbour town woke before the sun. Fishermen carried their nets down the stone steps, and the gulls " +
    "followed them in loose circles, calling to each other over the water. ".repeat(6),
);

describe("worker end to end (real hardhat node, real contracts, builtin runtime)", function () {
  this.timeout(300_000);
  let w: World;
  let rw: RunningWorker;
  let m1: Awaited<ReturnType<typeof publishTinyModel>>;

  before(async () => {
    w = await startWorld();
    rw = await startWorker(w);
    m1 = await publishTinyModel(w, "alice", 1);
    await rw.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
    // Bob, Derek and Elena hold M1 datatokens.
    const dt = w.ocean.erc20Template.attach(m1.datatoken) as typeof w.ocean.erc20Template;
    for (const n of ["bob", "derek", "elena"] as const) {
      await (await dt.connect(w.wallet("alice")).transfer(w.address(n), ethers.parseEther("5"))).wait();
    }
  });
  after(async () => {
    // Every job ran exactly once (a second run of a job would be wasted compute on a GPU host).
    expect(
      [...(rw?.runs.values() ?? [])].every((n) => n === 1),
      JSON.stringify([...(rw?.runs ?? [])]),
    ).to.equal(true);
    await rw?.worker.stop();
    await w?.stop();
  });

  /** The child model the training test created (trained by this worker). */
  let trained = 0n;

  async function request(who: Name, kind: "Train" | "Infer" | "Evaluate", input: Buffer, params: string) {
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const jobId = await requestJob(w.ph, w.wallet(who), {
      modelId: m1.modelId,
      kind,
      inputHash: sha256Hex(input),
      fee: ethers.parseEther("2"),
      deadline: now + 600,
      params,
    });
    await uploadWhenSeen(rw, w.wallet(who), jobId, input);
    return jobId;
  }

  it("runs an inference job from request to settlement and pays the worker", async () => {
    const before = await w.ocean.oceanToken.balanceOf(w.address("worker"));
    const jobId = await request(
      "derek",
      "Infer",
      PROMPTS,
      encodeJobParams({ kind: "Infer", params: { maxTokens: 8, temperature: 0, topK: 0 } }),
    );
    const row = await rw.worker.pipeline.until(jobId, ["settled"], 240_000);
    expect(row.state).to.equal("settled");
    const job = await w.ph.jobMarket.getJob(jobId);
    expect(Number(job.status)).to.equal(JobStatus.Settled);
    expect(await w.ocean.oceanToken.balanceOf(w.address("worker"))).to.be.greaterThan(before);
    const result = await rw.client.result(w.wallet("derek"), jobId);
    expect(sha256Hex(result)).to.equal(row.output_hash);
    const doc = JSON.parse(Buffer.from(result).toString()) as { generations: { text: string }[] };
    expect(doc.generations).to.have.length(2);
    await expect(rw.client.result(w.wallet("elena"), jobId)).to.be.rejectedWith(/requester/);
    // An upload of an input that arrived already (its first answer lost to a Ctrl-C, say) is acknowledged again.
    const again = await rw.client.uploadInput(w.wallet("derek"), jobId, PROMPTS);
    expect(again.inputAck).to.match(/^0x[0-9a-f]{130}$/);
  });

  it("runs an evaluation job and records loss and token count in the receipt", async () => {
    const jobId = await request(
      "elena",
      "Evaluate",
      TEXT,
      encodeJobParams({
        kind: "Evaluate",
        params: { benchmarkId: benchmarkId("demo/loss"), contextLength: 64, maxTokens: 100_000 },
      }),
    );
    const row = await rw.worker.pipeline.until(jobId, ["settled"], 240_000);
    expect(row.state).to.equal("settled");
    const receipt = JSON.parse(row.receipt!) as { metrics: { evalLoss: string; evalTokens: string } };
    expect(Number(receipt.metrics.evalLoss) / 1e6).to.be.within(8, 12); // a random tiny GPT-2: ≈ ln(50257)
    expect(Number(receipt.metrics.evalTokens)).to.be.greaterThan(100);
  });

  it("runs a training job whose receipt creates the child model, which the worker then serves", async () => {
    const jobId = await request(
      "bob",
      "Train",
      TEXT,
      encodeJobParams({
        kind: "Train",
        params: {
          steps: 4,
          batchSize: 2,
          contextLength: 32,
          learningRate: 1_000_000n,
          warmupSteps: 1,
          weightDecay: 0n,
        },
      }),
    );
    const row = await rw.worker.pipeline.until(jobId, ["settled"], 240_000);
    expect(row.state).to.equal("settled");
    const job = await w.ph.jobMarket.getJob(jobId);
    expect(job.childModelId).to.be.greaterThan(0n);
    const child = await w.ph.registry.getModel(job.childModelId);
    expect(child.parentId).to.equal(m1.modelId);
    expect(rw.worker.jobs.treeOf(child.weightsRoot)).to.be.a("string");
    trained = job.childModelId;
  });

  it("leaves unclaimed an independent evaluation of the model it trained; the SDK refuses to pay for one", async () => {
    const independent = {
      benchmarkId: benchmarkId("demo/loss"),
      contextLength: 32,
      maxTokens: 100_000,
      independent: true,
    };
    // Through the SDK: this worker trained the model and no other worker is known, so nothing is paid.
    const bob = await PostHuman.init({ runner: w.wallet("bob"), book: w.book, workerUrl: rw.worker.apiUrl });
    const jobsBefore = await w.ph.jobMarket.jobCount();
    const refused = (await bob.requestJob(trained, { kind: "Evaluate", params: independent }, TEXT).then(
      () => undefined,
      (e: unknown) => e,
    )) as SdkError | undefined;
    expect(refused?.code, String(refused)).to.equal("NO_INDEPENDENT_WORKER");
    expect(refused?.message).to.match(
      new RegExp(`independent evaluation of model ${trained}.*owns the model or trained it`),
    );
    expect(await w.ph.jobMarket.jobCount()).to.equal(jobsBefore);
    // The worker's own quote says no (a requester who knows of another worker is refused by this one before paying).
    const planned = { fee: ethers.parseEther("2"), ttlSec: 600, input: TEXT };
    const quote = await rw.client.quote(trained, { kind: "Evaluate", params: independent }, planned);
    expect(quote, JSON.stringify(quote)).to.include({ take: false, final: true, code: "NOT_INDEPENDENT" });
    expect(quote.reason).to.match(new RegExp(`this worker trained model ${trained} \\(job \\d+\\)`));
    // Straight on chain: the worker skips it rather than have its claim refused, and the job stays open.
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const jobId = await requestJob(w.ph, w.wallet("bob"), {
      modelId: trained,
      kind: "Evaluate",
      inputHash: sha256Hex(TEXT),
      fee: ethers.parseEther("2"),
      deadline: now + 600,
      params: encodeJobParams({ kind: "Evaluate", params: independent }),
    });
    const row = await rw.worker.pipeline.until(jobId, ["skipped"], 60_000);
    expect(row.error_code).to.equal("NOT_INDEPENDENT");
    expect(row.error_message).to.match(new RegExp(`this worker trained model ${trained} \\(job \\d+\\)`));
    expect(Number((await w.ph.jobMarket.getJob(jobId)).status)).to.equal(JobStatus.Open);
    await (await w.ph.jobMarket.connect(w.wallet("bob")).cancelJob(jobId)).wait();
  });
});
