/**
 * Callbacks end to end: contracts request jobs from a real worker (in-process, builtin runtime, tiny GPT-2 models) on
 * a real `hardhat node`, and are called back with what the worker submitted.
 *
 * The worker's API authenticates input uploads by the requester's signature. A contract has no key: FinetuneBounty
 * answers ERC-1271 for its sponsor, so the sponsor signs the uploads of the bounty's jobs and the worker asks the
 * contract. CallbackConsumerMock does not implement ERC-1271; its input reaches the worker out of band, as IJobMarket
 * allows ("delivered out of band against inputHash"): put into the worker's artifact store and marked received, which
 * is what the API does after checking the hash.
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import { JobStatus, benchmarkId, encodeJobParams, toFixedLoss } from "../../offchain/protocol/params";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { deployFinetuneBounty, requestJob } from "../../offchain/deploy/posthuman";
import { findEvent, jobCallback, jobRequest } from "../../offchain/protocol/structs";
import { EXAMPLE_CONSUMER_KEY } from "../../offchain/deploy/deploy";
import { sha256Hex } from "../../offchain/protocol/auth";
import { evaluate } from "../../offchain/ml";
import { CallbackConsumerMock__factory } from "../../typechain-types";
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
/** The named dataset of the bounty, and what finetune A is trained on (so that A beats the base model on it). */
const EVAL_TEXT = Buffer.from(
  "The harbour town woke before the sun. Fishermen carried their nets down the stone steps, and the gulls " +
    "followed them in loose circles, calling to each other over the water. ".repeat(6),
);
const ether = ethers.parseEther;

describe("callbacks end to end (real hardhat node, real worker, builtin runtime)", function () {
  this.timeout(300_000);
  let w: World;
  let rw: RunningWorker;
  let m1: Awaited<ReturnType<typeof publishTinyModel>>;

  before(async () => {
    w = await startWorld();
    rw = await startWorker(w);
    m1 = await publishTinyModel(w, "alice", 1);
    await rw.client.uploadModel(w.wallet("alice"), m1.modelId, m1.dir);
  });
  after(async () => {
    await rw?.worker.stop();
    await w?.stop();
    // The world's folder holds the worker's store and the models (~170 MB).
    if (w) fs.rmSync(w.tmp, { recursive: true, force: true });
  });

  const dt = () => datatokenAt(m1.datatoken, w.wallet("alice"));
  const now = async () => (await w.provider.getBlock("latest"))!.timestamp;

  /** Out-of-band delivery of a contract requester's input (see the header). */
  async function deliverInput(jobId: bigint, input: Buffer): Promise<void> {
    for (let i = 0; !rw.worker.jobs.get(jobId); i++) {
      if (i > 200) throw new Error(`the worker never saw job ${jobId}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sha256Hex(input)).to.equal(rw.worker.jobs.get(jobId)!.input_hash);
    const put = await rw.worker.store.put(input);
    rw.worker.jobs.update(jobId, { input_artifact: put.hash });
    rw.worker.pipeline.wake();
  }

  /** Requests a finetune of M1 on EVAL_TEXT from `who` and uploads its input; returns the job id. */
  async function requestTraining(who: Name, learningRate: bigint, steps: number): Promise<bigint> {
    await (await dt().transfer(w.address(who), ether("1"))).wait();
    const jobId = await requestJob(w.ph, w.wallet(who), {
      modelId: m1.modelId,
      kind: "Train",
      inputHash: sha256Hex(EVAL_TEXT),
      fee: ether("2"),
      deadline: (await now()) + 600,
      params: encodeJobParams({
        kind: "Train",
        params: { steps, batchSize: 2, contextLength: 32, learningRate, warmupSteps: 1, weightDecay: 0n },
      }),
    });
    await uploadWhenSeen(rw, w.wallet(who), jobId, EVAL_TEXT);
    return jobId;
  }

  async function childOf(jobId: bigint): Promise<bigint> {
    await rw.worker.pipeline.until(jobId, ["settled"], 240_000);
    return (await w.ph.jobMarket.getJob(jobId)).childModelId;
  }

  it("the deploy script put the example consumer on the local chain", async () => {
    const address = w.book.contracts[EXAMPLE_CONSUMER_KEY];
    expect(await w.provider.getCode(address)).to.not.equal("0x");
  });

  it("a contract requests inference and is called back with the worker's receipt, then with the settlement", async () => {
    const deployer = w.wallet("deployer");
    const consumer = await new CallbackConsumerMock__factory(deployer).deploy(w.book.contracts.JobMarket);
    const consumerAddress = await consumer.getAddress();
    await (await w.ocean.oceanToken.connect(deployer).mint(consumerAddress, ether("10"))).wait();
    await (await dt().transfer(consumerAddress, ether("1"))).wait();
    const tx = await consumer.request(
      jobRequest({
        modelId: m1.modelId,
        kind: "Infer",
        inputHash: sha256Hex(PROMPTS),
        fee: ether("2"),
        deadline: (await now()) + 600,
        params: encodeJobParams({ kind: "Infer", params: { maxTokens: 8, temperature: 0, topK: 0 } }),
      }),
      jobCallback({ gasLimit: 300_000, fee: ether("0.1") }),
      m1.datatoken,
    );
    const jobId = findEvent(w.ph.jobMarket, await tx.wait(), "JobRequested").args.jobId as bigint;
    await deliverInput(jobId, PROMPTS);
    const row = await rw.worker.pipeline.until(jobId, ["settled"], 240_000);

    // The hook received exactly what the worker submitted.
    const submitted = JSON.parse(row.receipt!) as {
      outputHash: string;
      outputURI: string;
      servedWeightsRoot: string;
      metrics: Record<string, string>;
    };
    const [seen] = await consumer.queryFilter(consumer.filters.ReceiptSeen(jobId));
    expect(seen.args.outputHash).to.equal(row.output_hash).and.to.equal(submitted.outputHash);
    expect(seen.args.outputURI).to.equal(submitted.outputURI);
    expect(seen.args.servedWeightsRoot).to.equal(m1.weightsRoot).and.to.equal(submitted.servedWeightsRoot);
    expect([seen.args.kind, seen.args.modelId, seen.args.childModelId]).to.deep.equal([1n, m1.modelId, 0n]);
    const mt = seen.args.metrics;
    const names = ["trainLossBefore", "trainLossAfter", "valLossBefore", "valLossAfter", "evalLoss", "evalTokens"];
    expect([
      mt.trainLossBefore,
      mt.trainLossAfter,
      mt.valLossBefore,
      mt.valLossAfter,
      mt.evalLoss,
      mt.evalTokens,
    ]).to.deep.equal(names.map((n) => BigInt(submitted.metrics[n])));
    const job = await w.ph.jobMarket.getJob(jobId);
    expect(job.status).to.equal(BigInt(JobStatus.Settled));
    const [outcome] = await consumer.queryFilter(consumer.filters.OutcomeSeen(jobId));
    expect([outcome.args.outcome, outcome.args.receiptHash]).to.deep.equal([
      BigInt(JobStatus.Settled),
      job.receiptHash,
    ]);
    const deliveries = await w.ph.jobMarket.queryFilter(w.ph.jobMarket.filters.CallbackDelivered(jobId));
    expect(deliveries.map((d) => [d.args.stage, d.args.success])).to.deep.equal([
      [BigInt(JobStatus.Submitted), true],
      [BigInt(JobStatus.Settled), true],
    ]);
  });

  it("FinetuneBounty pays the finetune of M1 that beats the target on the named dataset, once; its sponsor uploads the inputs (ERC-1271)", async () => {
    // A is trained on the dataset; B barely moves (learning rate 1e-9): only A can beat the base model on it.
    const trainA = await requestTraining("bob", 1_000_000n, 6);
    const trainB = await requestTraining("charlie", 1n, 1);
    const [a, b] = [await childOf(trainA), await childOf(trainB)];
    const evalFile = path.join(w.tmp, "named-dataset.txt");
    fs.writeFileSync(evalFile, EVAL_TEXT);
    const baseLoss = (await evaluate(m1.dir, { datasets: [evalFile], contextLength: 64 })).loss;
    const target = toFixedLoss(baseLoss - 0.02);

    const sponsor = w.wallet("elena");
    const bounty = await deployFinetuneBounty(sponsor, w.book.contracts.JobMarket, {
      baseModelId: m1.modelId,
      maxGenerations: 2,
      datasetHash: sha256Hex(EVAL_TEXT),
      benchmarkId: benchmarkId("demo/loss"),
      contextLength: 64,
      maxTokens: 100_000,
      targetLoss: target,
      reward: ether("50"),
      evalFee: ether("2"),
      callbackGasLimit: 250_000,
      callbackFee: ether("0.1"),
      evalLease: 600,
      expiresAt: (await now()) + 3_600,
    });
    const bountyAddress = await bounty.getAddress();
    await (await w.ocean.oceanToken.connect(sponsor).transfer(bountyAddress, ether("60"))).wait();

    // A worker may not grade its own training: `worker` trained A and B, so `worker2` (same operator, same artifact
    // store, where the children's weights are) evaluates them.
    const store = path.join(rw.dataDir, "artifacts");
    await rw.worker.stop();
    rw = await startWorker(w, "worker2", { POSTHUMAN_WORKER_STORE_DIR: store });

    const jobs: Record<string, bigint> = {};
    for (const [who, model] of [
      ["charlie", b],
      ["bob", a],
    ] as const) {
      const token = datatokenAt((await w.ph.registry.getModel(model)).datatoken, w.wallet(who));
      await (await token.approve(bountyAddress, ether("1"))).wait();
      // Entrants pay their own evaluation.
      await (await w.ocean.oceanToken.connect(w.wallet(who)).approve(bountyAddress, ether("2.1"))).wait();
      const receipt = await (await bounty.connect(w.wallet(who)).enter(model)).wait();
      jobs[who] = findEvent(bounty, receipt, "EntryRequested").args.jobId as bigint;
      // The requester is the bounty contract: the entrant's own signature is refused, the sponsor's is the bounty's.
      await expect(uploadWhenSeen(rw, w.wallet(who), jobs[who], EVAL_TEXT)).to.be.rejectedWith(/requester/);
      await uploadWhenSeen(rw, sponsor, jobs[who], EVAL_TEXT);
    }
    const bobBefore = await w.ocean.oceanToken.balanceOf(w.address("bob"));
    for (const jobId of Object.values(jobs)) await rw.worker.pipeline.until(jobId, ["settled"], 240_000);

    const entryA = await bounty.entryOf(jobs.bob);
    const entryB = await bounty.entryOf(jobs.charlie);
    expect(entryA.loss).to.be.lessThan(target);
    expect(entryB.loss).to.be.greaterThanOrEqual(target);
    // The worker's evaluation of B is the base model's loss (B barely moved), computed here independently.
    expect(Number(entryB.loss) / 1e6).to.be.closeTo(baseLoss, 1e-3);
    const paid = await bounty.queryFilter(bounty.filters.BountyPaid());
    expect(paid.map((p) => [p.args.modelId, p.args.owner, p.args.jobId])).to.deep.equal([
      [a, w.address("bob"), jobs.bob],
    ]);
    expect(await bounty.status()).to.deep.equal([a, 0n]);
    // Bob received the reward (his evaluation was paid at entry, before this balance was read).
    expect(await w.ocean.oceanToken.balanceOf(w.address("bob"))).to.equal(bobBefore + ether("50"));
  });
});
