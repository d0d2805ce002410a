/**
 * The five people of PostHuman, end to end, through the protocol contracts alone. Reads as documentation:
 * every step is one thing a person does, with what the chain then says.
 *
 *   Alice publishes M1 → Bob buys M1 datatokens and pays for a finetune → M2 (Bob 70%, Alice 30%)
 *   → Bob sells M2 datatokens to Charlie → Charlie finetunes M2 → M3 (Charlie 70%, Bob 30%)
 *   → Derek buys M3 datatokens from Charlie and pays for inference → Elena evaluates M3 against M1's baseline
 *   → jobs settle → M3's revenue flows up M3 → M2 → M1 and Charlie, Bob and Alice claim it.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { oceanFixture } from "../fixtures/ocean";
import {
  JobStatus,
  ONE_DATATOKEN,
  TOTAL_SHARES,
  benchmarkId,
  encodeEvaluateParams,
  encodeInferParams,
  encodeTrainParams,
  toFixedLoss,
} from "../../offchain/protocol/params";
import { datatokenAt, vaultAt } from "../../offchain/protocol/contracts";
import { deployPostHuman, publishModel, requestJob, submitReceipt } from "../../offchain/deploy/posthuman";

const ether = ethers.parseEther;
const sha256 = (text: string) => ethers.sha256(ethers.toUtf8Bytes(text));
const RUNTIME = ethers.id("posthuman-builtin/1 tfjs-wasm 4.22 fp32 cpu");
const WIKITEXT = benchmarkId("wikitext-2/loss");

describe("The PostHuman story: Alice, Bob, Charlie, Derek and Elena", () => {
  it("publishes, finetunes twice, sells, serves, evaluates, settles and pays everyone up the lineage", async () => {
    const { deployer, alice, bob, charlie, derek, elena, worker, treasury, others, ocean } =
      await loadFixture(oceanFixture);
    const OCEAN = ocean.oceanToken;
    const arbiter = others[4];

    // The protocol is deployed once; nobody owns it afterwards. A worker stakes to be allowed to claim jobs.
    const ph = await deployPostHuman(deployer, ocean.addresses, {
      treasury: treasury.address,
      arbiter: arbiter.address,
    });
    const { registry, jobMarket, datatokenMarket } = ph;
    const params = await jobMarket.config();
    await OCEAN.connect(worker).approve(await jobMarket.getAddress(), ether("1000"));
    await jobMarket.connect(worker).stake(ether("1000"));
    const afterWindow = () => time.increase(Number(params.challengeWindow) + 1);

    // ── 1. Alice publishes M1: an Ocean data NFT + datatoken, sold at 2 OCEAN on Ocean's FixedRateExchange ─────
    const m1Root = ethers.id("M1 weights root");
    const m1 = await publishModel(registry, alice, {
      name: "Alice GPT-2",
      symbol: "M1",
      weightsRoot: m1Root,
      configHash: sha256('{"model_type":"gpt2","n_layer":2}'),
      dataHash: sha256("alice corpus"),
      metadataURI: "ipfs://alice-gpt2-card",
      baseline: { benchmarkId: WIKITEXT, metric: toFixedLoss(3.25) },
      pricing: { kind: "FixedRate", rate: ether("2") },
      initialSupply: ether("10"),
    });
    expect((await registry.getModel(m1.modelId)).owner).to.equal(alice.address);

    // ── 2. Bob buys one M1 datatoken on the exchange and pays 50 OCEAN for a finetune on his recipes ─────────────
    const [price] = await ocean.fixedRate.calcBaseInGivenOutDT(m1.exchangeId, ONE_DATATOKEN, 0);
    await OCEAN.connect(bob).approve(ocean.addresses.FixedRateExchange, price);
    await ocean.fixedRate.connect(bob).buyDT(m1.exchangeId, ONE_DATATOKEN, price, ethers.ZeroAddress, 0);
    const bobJob = await requestJob(ph, bob, {
      modelId: m1.modelId,
      kind: "Train",
      inputHash: sha256("bob-recipes.jsonl"),
      inputURI: "ipfs://bob-recipes",
      fee: ether("50"),
      deadline: (await time.latest()) + 3_600,
      params: encodeTrainParams({
        steps: 200,
        batchSize: 8,
        contextLength: 64,
        learningRate: 300_000n,
        warmupSteps: 20,
        weightDecay: 10_000_000n,
      }),
    });
    // The market escrows Bob's datatoken until the job settles (a failed job would give it back).
    expect(await datatokenAt(m1.datatoken, bob).balanceOf(await jobMarket.getAddress())).to.equal(ether("1"));

    // ── 3. The worker claims the job, trains, and its receipt creates M2 with parent M1 ─────────────────────────
    await jobMarket.connect(worker).claimJob(bobJob);
    const m2Root = ethers.id("M2 weights root");
    const m2Id = await submitReceipt(jobMarket, worker, bobJob, {
      outputHash: sha256("M2 checkpoint manifest"),
      outputURI: "ipfs://m2-card",
      servedWeightsRoot: m1Root,
      runtimeId: RUNTIME,
      seed: 1n,
      metrics: {
        trainLossBefore: toFixedLoss(3.4),
        trainLossAfter: toFixedLoss(2.6),
        valLossBefore: toFixedLoss(3.41),
        valLossAfter: toFixedLoss(2.7),
      },
      childWeightsRoot: m2Root,
      childConfigHash: sha256('{"model_type":"gpt2","n_layer":2}'),
    });
    const m2 = await registry.getModel(m2Id);
    expect([m2.parentId, m2.generation, m2.jobId, m2.owner, m2.parentSide]).to.deep.equal([
      m1.modelId,
      1n,
      bobJob,
      bob.address,
      alice.address,
    ]);
    // Bob (the trainer) and Alice (the parent's side) got M2's reward datatokens and vault shares, 70/30.
    const m2Token = datatokenAt(m2.datatoken, bob);
    expect(await m2Token.balanceOf(bob.address)).to.equal(ether("70"));
    expect(await m2Token.balanceOf(alice.address)).to.equal(ether("30"));
    expect(await vaultAt(m2.vault, bob).balanceOf(alice.address)).to.equal((TOTAL_SHARES * 3n) / 10n);

    // After the challenge window anyone settles: the worker gets 50 OCEAN minus the 2.5% protocol fee.
    await afterWindow();
    await expect(jobMarket.connect(elena).settleJob(bobJob)).to.changeTokenBalances(
      OCEAN,
      [worker, treasury],
      [ether("48.75"), ether("1.25")],
    );
    // Settling made the genuine Ocean order: M1's vault (its payment collector) received 0.97 of Bob's datatoken.
    expect(await datatokenAt(m1.datatoken, bob).balanceOf(m1.vault)).to.equal(ether("0.97"));

    // ── 4. Bob lists 20 M2 datatokens at 5 OCEAN; Charlie buys 10 ───────────────────────────────────────────────
    await m2Token.connect(bob).approve(await datatokenMarket.getAddress(), ether("20"));
    await datatokenMarket.connect(bob).createListing(m2Id, ether("20"), ether("5"));
    await OCEAN.connect(charlie).approve(await datatokenMarket.getAddress(), ether("50"));
    await expect(datatokenMarket.connect(charlie).buy(1n, ether("10"), ether("50"))).to.changeTokenBalances(
      OCEAN,
      [charlie, bob],
      [-ether("50"), ether("50")],
    );

    // ── 5. Charlie finetunes M2 on his logbook: M3, generation 2; Charlie and M2's owner Bob are rewarded ───────
    const charlieJob = await requestJob(ph, charlie, {
      modelId: m2Id,
      kind: "Train",
      inputHash: sha256("charlie-logbook.txt"),
      fee: ether("60"),
      deadline: (await time.latest()) + 3_600,
      params: encodeTrainParams({
        steps: 100,
        batchSize: 8,
        contextLength: 64,
        learningRate: 200_000n,
        warmupSteps: 10,
        weightDecay: 0n,
      }),
    });
    await jobMarket.connect(worker).claimJob(charlieJob);
    const m3Root = ethers.id("M3 weights root");
    const m3Id = await submitReceipt(jobMarket, worker, charlieJob, {
      outputHash: sha256("M3 checkpoint manifest"),
      outputURI: "ipfs://m3-card",
      servedWeightsRoot: m2Root,
      runtimeId: RUNTIME,
      seed: 2n,
      metrics: { valLossBefore: toFixedLoss(2.9), valLossAfter: toFixedLoss(2.4) },
      childWeightsRoot: m3Root,
    });
    const m3 = await registry.getModel(m3Id);
    expect(await registry.ancestors(m3Id, 64n)).to.deep.equal([m2Id, m1.modelId]);
    const m3Token = datatokenAt(m3.datatoken, charlie);
    expect(await m3Token.balanceOf(charlie.address)).to.equal(ether("70"));
    expect(await m3Token.balanceOf(bob.address)).to.equal(ether("30"));

    // ── 6. Charlie lists M3 datatokens; Derek buys 2 and pays for inference on his prompts ───────────────────────
    await m3Token.approve(await datatokenMarket.getAddress(), ether("10"));
    await datatokenMarket.connect(charlie).createListing(m3Id, ether("10"), ether("8"));
    await OCEAN.connect(derek).approve(await datatokenMarket.getAddress(), ether("16"));
    await datatokenMarket.connect(derek).buy(2n, ether("2"), ether("16"));
    const derekJob = await requestJob(ph, derek, {
      modelId: m3Id,
      kind: "Infer",
      inputHash: sha256("derek-prompts.txt"),
      inputURI: "ipfs://derek-prompts",
      fee: ether("5"),
      deadline: (await time.latest()) + 3_600,
      params: encodeInferParams({ maxTokens: 256, temperature: 800_000, topK: 40 }),
    });
    await jobMarket.connect(worker).claimJob(derekJob);
    // The receipt proves which weights answered: M3's recorded root, nothing else is accepted.
    await submitReceipt(jobMarket, worker, derekJob, {
      outputHash: sha256("derek generations"),
      outputURI: "ipfs://derek-generations",
      servedWeightsRoot: m3Root,
      runtimeId: RUNTIME,
      seed: 3n,
      metrics: { evalTokens: 256n },
    });

    // ── 7. Elena buys one M3 datatoken and evaluates M3 on her set, against M1's declared WikiText-2 baseline ───
    await OCEAN.connect(elena).approve(await datatokenMarket.getAddress(), ether("8"));
    await datatokenMarket.connect(elena).buy(2n, ONE_DATATOKEN, ether("8"));
    const elenaJob = await requestJob(ph, elena, {
      modelId: m3Id,
      kind: "Evaluate",
      inputHash: sha256("elena-eval.txt"),
      fee: ether("4"),
      deadline: (await time.latest()) + 3_600,
      params: encodeEvaluateParams({ benchmarkId: WIKITEXT, contextLength: 64, maxTokens: 4_096 }),
    });
    await jobMarket.connect(worker).claimJob(elenaJob);
    await submitReceipt(jobMarket, worker, elenaJob, {
      outputHash: sha256("elena eval report"),
      servedWeightsRoot: m3Root,
      runtimeId: RUNTIME,
      seed: 4n,
      metrics: { evalLoss: toFixedLoss(2.45), evalTokens: 4_096n },
    });
    const baseline = (await registry.getModel(m1.modelId)).baselineMetric;
    expect(toFixedLoss(2.45)).to.be.lessThan(baseline); // M3 beats the baseline M1's publisher declared

    // ── 8. The windows pass; anyone settles the remaining jobs ───────────────────────────────────────────────────
    await afterWindow();
    for (const job of [charlieJob, derekJob, elenaJob]) await jobMarket.connect(deployer).settleJob(job);
    for (const job of [bobJob, charlieJob, derekJob, elenaJob]) {
      expect((await jobMarket.getJob(job)).status).to.equal(JobStatus.Settled);
    }

    // ── 9. Revenue: M1's exchange sales are collected into M1's vault; Derek also pays M3 100 OCEAN for a licence ─
    const { btBalance } = await ocean.fixedRate.getExchange(m1.exchangeId);
    await ocean.fixedRate.connect(elena).collectBT(m1.exchangeId, btBalance);
    const v1 = vaultAt(m1.vault, alice);
    const v2 = vaultAt(m2.vault, alice);
    const v3 = vaultAt(m3.vault, alice);
    await OCEAN.connect(derek).approve(m3.vault, ether("100"));
    await v3.connect(derek).pay(ether("100"));

    // Distribution moves revenue one level at a time, each step O(1): M3 keeps 80 and sends 20 up to M2,
    // M2 keeps 16 and sends 4 up to M1, M1 keeps everything.
    await expect(v3.distribute()).to.changeTokenBalances(OCEAN, [m3.vault, m2.vault], [-ether("20"), ether("20")]);
    await expect(v2.distribute()).to.changeTokenBalances(OCEAN, [m2.vault, m1.vault], [-ether("4"), ether("4")]);
    await v1.distribute();

    // ── 10. Everyone claims what their shares earned ───────────────────────────────────────────────────────────
    // Charlie: 70% of M3's 80 OCEAN, and 70% of the 1.94 M3 datatokens Derek's and Elena's orders consumed.
    await expect(v3.claim(charlie.address)).to.changeTokenBalances(OCEAN, [charlie], [ether("56")]);
    expect(await m3Token.balanceOf(charlie.address)).to.equal(ether("70") - ether("10") + (ether("1.94") * 7n) / 10n);
    // Bob: 30% of M3's 80 (as M2's owner, the parent's side of M3) and 70% of M2's 16.
    await expect(v3.claim(bob.address)).to.changeTokenBalances(OCEAN, [bob], [ether("24")]);
    await expect(v2.claim(bob.address)).to.changeTokenBalances(OCEAN, [bob], [ether("11.2")]);
    // Alice: 30% of M2's 16, and all of M1's: the 4 from upstream plus her exchange sales.
    await expect(v2.claim(alice.address)).to.changeTokenBalances(OCEAN, [alice], [ether("4.8")]);
    await expect(v1.claim(alice.address)).to.changeTokenBalances(OCEAN, [alice], [ether("4") + btBalance]);

    // Nothing is left owed or stuck: every vault paid out everything it booked, and the job market holds only stakes.
    for (const v of [v1, v2, v3]) expect(await v.owed()).to.deep.equal([0n, 0n]);
    expect(await OCEAN.balanceOf(await jobMarket.getAddress())).to.equal(ether("1000"));
    expect(await OCEAN.balanceOf(await datatokenMarket.getAddress())).to.equal(0n);
  });
});
