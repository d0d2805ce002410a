/**
 * Issue 11, attack 1: weights squatting. A stranger copies the weights root of Alice's M1 from ModelPublished and
 * publishes a "clone" (the worker looks weights up by root, so it would serve Alice's weights and pay the stranger's
 * vault); or a staked worker runs a 1-wei Train job on M1 for itself and reports M1's own root as the child's, minting
 * itself child datatokens for nothing. A weights root now belongs to exactly one model.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { M1_WEIGHTS_ROOT, WORKER_STAKE, posthumanFixture } from "../fixtures/posthuman";
import { JobStatus } from "../../offchain/protocol/params";
import { publishParams } from "../../offchain/protocol/structs";
import { commitWeightsRoot, publishModel } from "../../offchain/deploy/posthuman";
import { openJob, receiptFor, trainChild, trainReceiptFor, trainedFixture } from "./helpers";

const cloneOf = (root: string, name = "Clone") => ({
  name,
  symbol: name.toUpperCase(),
  weightsRoot: root,
  configHash: ethers.id("M1 config"),
  dataHash: ethers.id("alice corpus"),
  metadataURI: "ipfs://clone",
  baseline: { benchmarkId: ethers.ZeroHash, metric: 0n },
  pricing: { kind: "FixedRate" as const, rate: ethers.parseEther("1") },
  initialSupply: ethers.parseEther("1000"),
});

describe("Attack: weights squatting", () => {
  it("refuses a second root model with a known weights root", async () => {
    const f = await loadFixture(posthumanFixture);
    await commitWeightsRoot(f.ph.registry, f.derek, M1_WEIGHTS_ROOT);
    await expect(f.ph.registry.connect(f.derek).publishModel(publishParams(cloneOf(M1_WEIGHTS_ROOT))))
      .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryWeightsRootTaken")
      .withArgs(M1_WEIGHTS_ROOT, f.m1.modelId);
    expect(await f.ph.registry.modelOfWeightsRoot(M1_WEIGHTS_ROOT)).to.equal(f.m1.modelId);
  });

  it("refuses a root model with a derived model's weights root", async () => {
    const f = await loadFixture(trainedFixture);
    await commitWeightsRoot(f.ph.registry, f.derek, f.m2Root);
    await expect(f.ph.registry.connect(f.derek).publishModel(publishParams(cloneOf(f.m2Root))))
      .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryWeightsRootTaken")
      .withArgs(f.m2Root, f.m2Id);
  });

  it("refuses a self-job's 'child' whose root is its parent's: no child datatokens for a copy", async () => {
    const f = await loadFixture(posthumanFixture);
    // The worker requests a 1-wei Train job on M1 for itself and claims it.
    const jobId = await openJob(f, { requester: f.worker, kind: "Train", fee: 1n });
    await (await f.ph.jobMarket.connect(f.worker).claimJob(jobId)).wait();
    await commitWeightsRoot(f.ph.registry, f.worker, M1_WEIGHTS_ROOT);
    const copy = receiptFor(trainReceiptFor(M1_WEIGHTS_ROOT, M1_WEIGHTS_ROOT));
    await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(jobId, copy))
      .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryWeightsRootTaken")
      .withArgs(M1_WEIGHTS_ROOT, f.m1.modelId);
    expect(await f.ph.registry.modelCount()).to.equal(1n);
    expect((await f.ph.jobMarket.getJob(jobId)).status).to.equal(JobStatus.Claimed);
  });

  it("refuses a child whose root is any existing model's, not only its parent's", async () => {
    const f = await loadFixture(trainedFixture);
    const other = await publishModel(f.ph.registry, f.derek, cloneOf(ethers.id("derek's own weights"), "Derek"));
    const jobId = await openJob(f, { requester: f.charlie, kind: "Train", modelId: f.m2Id });
    await (await f.ph.jobMarket.connect(f.worker).claimJob(jobId)).wait();
    await commitWeightsRoot(f.ph.registry, f.worker, ethers.id("derek's own weights"));
    const copy = receiptFor(trainReceiptFor(f.m2Root, ethers.id("derek's own weights")));
    await expect(f.ph.jobMarket.connect(f.worker).submitReceipt(jobId, copy))
      .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryWeightsRootTaken")
      .withArgs(ethers.id("derek's own weights"), other.modelId);
  });

  /**
   * The honest worker committed to its child's root a block before its receipt; the copier sees the receipt pending
   * and sends, with a 50× tip, its commitment and then its registration of the same root (`register`): both are mined
   * before the receipt, in the same block, so the registration finds its commitment too recent. A block later the
   * root is the honest child's.
   */
  async function frontRun(
    f: Awaited<ReturnType<typeof posthumanFixture>>,
    register: (childRoot: string, tip: object) => Promise<{ hash: string }>,
  ) {
    const jobId = await openJob(f, { requester: f.charlie, kind: "Train" });
    await (await f.ph.jobMarket.connect(f.worker).claimJob(jobId)).wait();
    const childRoot = ethers.id("charlie's child weights");
    await commitWeightsRoot(f.ph.registry, f.worker, childRoot);
    const tip = { maxPriorityFeePerGas: ethers.parseUnits("1", "gwei"), gasLimit: 8_000_000 };
    const copierTip = { maxPriorityFeePerGas: ethers.parseUnits("50", "gwei"), gasLimit: 8_000_000 };
    await ethers.provider.send("evm_setAutomine", [false]);
    let copy;
    try {
      await f.ph.jobMarket
        .connect(f.worker)
        .submitReceipt(jobId, receiptFor(trainReceiptFor(M1_WEIGHTS_ROOT, childRoot)), tip);
      const commitment = await f.ph.registry.weightsRootCommitment(f.derek.address, childRoot);
      await f.ph.registry.connect(f.derek).commitWeightsRoot(commitment, copierTip);
      copy = await register(childRoot, copierTip);
      await ethers.provider.send("evm_mine", []);
    } finally {
      await ethers.provider.send("evm_setAutomine", [true]);
    }
    expect((await ethers.provider.getTransactionReceipt(copy.hash))?.status).to.equal(0);
    expect((await f.ph.jobMarket.getJob(jobId)).status).to.equal(JobStatus.Submitted);
    const childId = await f.ph.registry.modelOfWeightsRoot(childRoot);
    expect((await f.ph.registry.getModel(childId)).parentId).to.equal(f.m1.modelId);
    return { childRoot, childId };
  }

  it("a training receipt seen in the mempool cannot be front-run by publishing its child's root", async () => {
    const f = await loadFixture(posthumanFixture);
    const { childRoot, childId } = await frontRun(f, (root, tip) =>
      f.ph.registry.connect(f.derek).publishModel(publishParams(cloneOf(root)), tip),
    );
    await expect(f.ph.registry.connect(f.derek).publishModel(publishParams(cloneOf(childRoot))))
      .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryWeightsRootTaken")
      .withArgs(childRoot, childId);
  });

  it("nor by a staked copier's own Train receipt, from a 1-wei job it requested and claimed beforehand", async () => {
    const f = await loadFixture(posthumanFixture);
    // derek stakes and keeps a self-requested, self-claimed Train job ready for any root it sees.
    await (await f.ocean.oceanToken.connect(f.derek).approve(await f.ph.jobMarket.getAddress(), WORKER_STAKE)).wait();
    await (await f.ph.jobMarket.connect(f.derek).stake(WORKER_STAKE)).wait();
    const trap = await openJob(f, { requester: f.derek, kind: "Train", fee: 1n });
    await (await f.ph.jobMarket.connect(f.derek).claimJob(trap)).wait();
    const { childRoot, childId } = await frontRun(f, (root, tip) =>
      f.ph.jobMarket.connect(f.derek).submitReceipt(trap, receiptFor(trainReceiptFor(M1_WEIGHTS_ROOT, root)), tip),
    );
    await expect(
      f.ph.jobMarket.connect(f.derek).submitReceipt(trap, receiptFor(trainReceiptFor(M1_WEIGHTS_ROOT, childRoot))),
    )
      .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryWeightsRootTaken")
      .withArgs(childRoot, childId);
  });

  it("records a tokenizer hash at publication, and every descendant inherits it", async () => {
    const f = await loadFixture(posthumanFixture);
    const tokenizer = ethers.id("gpt2 tokenizer files");
    const opts = cloneOf(ethers.id("bob's weights"), "Bob");
    await commitWeightsRoot(f.ph.registry, f.bob, opts.weightsRoot);
    const tx = f.ph.registry.connect(f.bob).publishModelWithTokenizer(publishParams(opts), tokenizer);
    await expect(tx).to.emit(f.ph.registry, "TokenizerRecorded").withArgs(2n, tokenizer);
    expect((await f.ph.registry.getModel(2n)).tokenizerHash).to.equal(tokenizer);
    const { childId } = await trainChild(f, f.charlie, 2n, opts.weightsRoot, ethers.id("bob's child"));
    expect((await f.ph.registry.getModel(childId)).tokenizerHash).to.equal(tokenizer);
    // A model published without one records 0: workers treat its tokenizer as unchecked.
    expect((await f.ph.registry.getModel(f.m1.modelId)).tokenizerHash).to.equal(ethers.ZeroHash);
  });
});
