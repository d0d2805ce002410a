/**
 * `posthuman demo`: the five-person story on a fresh embedded chain, through the SDK, as a person would live it.
 * Alice trains and publishes M1; Bob buys M1 tokens and finetunes M2; Charlie buys M2 tokens from Bob and trains M3;
 * Derek buys M3 tokens from Charlie and runs inference; Elena evaluates M1, M2 and M3 against the declared baseline;
 * revenue is distributed up the lineage and claimed. Every receipt is verified by re-execution.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { benchmarkId, toFixedLoss, type JobParams } from "../../scripts/lib/posthuman";
import { configHash, createModel, evaluate, trainModel, weightsRoot } from "../ml";
import { PostHuman, verifyJob, type OnChainReceipt } from "../sdk";
import { devWallet, DEV_ACCOUNTS } from "./accounts";
import type { Output } from "./output";
import { up } from "./up";

const DATA = path.join(__dirname, "demo-data");
const PEOPLE = ["alice", "bob", "charlie", "derek", "elena"] as const;
type Person = (typeof PEOPLE)[number];
const BENCHMARK = "posthuman-demo/elena-eval";
const fmt = (wei: bigint) => Number(ethers.formatEther(wei)).toFixed(4);
const loss = (fixed: bigint) => (Number(fixed) / 1e6).toFixed(4);

export interface DemoSummary {
  models: { name: string; id: string; parent: string; generation: number; owner: string; weightsRoot: string }[];
  /** Validation loss on each trainer's data: the parent's (before) and the child's (after), from the receipts. */
  finetunes: { child: string; trainer: string; valLossBefore: number; valLossAfter: number }[];
  receipts: { job: string; kind: string; who: string; outputHash: string; verified: boolean }[];
  evaluation: { model: string; loss: number; baseline: number }[];
  balances: Record<string, { before: string; after: string; claimed: string }>;
  conservation: { accounts: string; contracts: string; total: string };
  generations: string[];
  seconds: number;
}

export async function runDemo(out: Output, o: { dataDir?: string; steps?: number } = {}): Promise<DemoSummary> {
  const started = Date.now();
  const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "posthuman-demo-"));
  const steps = o.steps ?? 24;
  const say = (who: string, what: string) => out.info(`\n▶ ${who}: ${what}`);
  const note = (line: string) => out.info(`    ${line}`);

  const world = await up(
    { dataDir, host: "127.0.0.1", chainPort: 0, apiPort: 0, deploymentFile: path.join(dataDir, "deployment.json") },
    { ...out, info: (l) => out.info(`  [up] ${l}`) },
  );
  try {
    const provider = new ethers.JsonRpcProvider(world.chain.url, world.book.chainId, {
      cacheTimeout: -1,
      staticNetwork: true,
    });
    const clients = {} as Record<Person, PostHuman>;
    const addr = {} as Record<Person, string>;
    for (const p of PEOPLE) {
      const w = devWallet(DEV_ACCOUNTS.indexOf(p));
      addr[p] = w.address;
      clients[p] = await PostHuman.init({
        runner: new ethers.NonceManager(w.connect(provider)),
        book: world.book,
        workerUrl: world.worker?.apiUrl,
      });
    }
    const alice = clients.alice;
    const base = alice.baseToken();
    const balance = async (p: Person) => base.balanceOf(addr[p]);
    const before = Object.fromEntries(await Promise.all(PEOPLE.map(async (p) => [p, await balance(p)]))) as Record<
      Person,
      bigint
    >;
    const holders = [
      ...PEOPLE.map((p) => addr[p]),
      devWallet(DEV_ACCOUNTS.indexOf("worker")).address,
      devWallet(DEV_ACCOUNTS.indexOf("treasury")).address,
    ];
    const contracts = [
      world.book.contracts.JobMarket,
      world.book.contracts.FixedRateExchange,
      world.book.contracts.DatatokenMarket,
    ];
    const totalHeld = async () => {
      let a = 0n;
      for (const h of holders) a += await base.balanceOf(h);
      let c = 0n;
      for (const x of contracts) c += await base.balanceOf(x);
      for (const m of await alice.models()) c += await base.balanceOf(m.model.vault);
      return { a, c };
    };
    const startTotal = await totalHeld();
    const receipts: DemoSummary["receipts"] = [];
    const followAndVerify = async (who: Person, jobId: bigint, input: Buffer, modelDir: string, childOut?: string) => {
      let last = "";
      const receipt: OnChainReceipt = await clients[who].follow(jobId, (s) => {
        const p = s.progress as { phase?: string; step?: number; totalSteps?: number; loss?: number } | null;
        const line = `${s.state}${p ? ` · ${p.phase} ${p.step ?? 0}/${p.totalSteps ?? 0}${p.loss ? ` loss ${p.loss.toFixed(3)}` : ""}` : ""}`;
        if (line !== last) note(`job ${jobId}: ${line}`);
        last = line;
      });
      note(
        `receipt in tx ${receipt.txHash}: output ${receipt.outputHash.slice(0, 18)}…, served weights ${receipt.servedWeightsRoot.slice(0, 18)}…`,
      );
      const verdict = await verifyJob(clients[who], jobId, { input, modelDir, childOut });
      note(
        `re-executed locally: ${verdict.verified ? "VERIFIED" : "MISMATCH"} (${verdict.checks.map((c) => `${c.name} ${c.ok ? "✓" : "✗"}`).join(", ")})`,
      );
      receipts.push({
        job: jobId.toString(),
        kind: "",
        who,
        outputHash: receipt.outputHash,
        verified: verdict.verified,
      });
      return { receipt, verdict };
    };

    // ── 1. Alice ─────────────────────────────────────────────────────────────────────────────────────────
    say("Alice", `creates a tiny GPT-2 from seed 7 and trains it ${steps} steps on her corpus`);
    const m1Dir = path.join(dataDir, "models", "M1");
    const seedDir = path.join(dataDir, "models", "M1-init");
    await createModel(seedDir, { preset: "tiny", seed: 7 });
    const trained = await trainModel({
      modelDir: seedDir,
      outDir: m1Dir,
      datasets: [path.join(DATA, "alice-corpus.txt")],
      steps,
      lr: 3e-3,
      batchSize: 8,
      contextLength: 64,
      seed: 7,
    });
    note(`train loss ${trained.trainLossBefore.toFixed(3)} → ${trained.trainLossAfter.toFixed(3)}`);
    const evalFile = path.join(DATA, "elena-eval.txt");
    const baseline = (await evaluate(m1Dir, { datasets: [evalFile], contextLength: 64 })).loss;
    note(`declares a baseline: loss ${baseline.toFixed(4)} on ${BENCHMARK}`);
    const m1 = await alice.publish({
      name: "Harbour M1",
      symbol: "M1",
      weightsRoot: await weightsRoot(m1Dir),
      configHash: await configHash(m1Dir),
      dataHash: ethers.sha256(fs.readFileSync(path.join(DATA, "alice-corpus.txt"))),
      metadataURI: "posthuman-demo://M1",
      baseline: { benchmarkId: benchmarkId(BENCHMARK), metric: toFixedLoss(baseline) },
      pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
      initialSupply: ethers.parseEther("20"),
      dir: m1Dir,
    });
    note(
      `published M1 = model ${m1.modelId} (tx ${m1.txHash}), datatoken ${m1.datatoken}, weights uploaded to the worker`,
    );

    // ── 2. Bob ───────────────────────────────────────────────────────────────────────────────────────────
    say("Bob", "buys 2 M1 datatokens on Ocean's exchange and finetunes M1 on his recipes");
    const bought = await clients.bob.buy(m1.modelId, ethers.parseEther("2"));
    note(`paid ${fmt(bought.cost)} OCEAN`);
    const bobData = fs.readFileSync(path.join(DATA, "bob-recipes.jsonl"));
    const trainParams = (): JobParams => ({
      kind: "Train",
      params: {
        steps,
        batchSize: 8,
        contextLength: 64,
        learningRate: 3_000_000n,
        warmupSteps: 2,
        weightDecay: 10_000_000n,
      },
    });
    const j2 = await clients.bob.request(m1.modelId, trainParams(), bobData, { fee: ethers.parseEther("5") });
    note(`requested training job ${j2.jobId} (tx ${j2.txHash}), fee 5 OCEAN escrowed, input uploaded`);
    const m2Dir = path.join(dataDir, "models", "M2");
    const r2 = await followAndVerify("bob", j2.jobId, bobData, m1Dir, m2Dir);
    receipts[receipts.length - 1].kind = "train";
    const m2Id = r2.receipt.childModelId;
    note(
      `M2 = model ${m2Id}: validation loss ${loss(r2.receipt.metrics.valLossBefore)} → ${loss(r2.receipt.metrics.valLossAfter)}`,
    );
    const m2 = await alice.model(m2Id);
    const dt2 = alice.datatoken(m2.datatoken);
    note(`M2 datatokens: Bob ${fmt(await dt2.balanceOf(addr.bob))}, Alice ${fmt(await dt2.balanceOf(addr.alice))}`);

    // ── 3. Charlie ───────────────────────────────────────────────────────────────────────────────────────
    say("Charlie", "buys 3 M2 datatokens from Bob's listing and trains M3 on his logbook");
    const l2 = await clients.bob.list(m2Id, ethers.parseEther("10"), ethers.parseEther("2"));
    note(`Bob listed 10 M2 at 2 OCEAN (listing ${l2.listingId})`);
    const c2 = await clients.charlie.buyListing(l2.listingId, ethers.parseEther("3"));
    note(`Charlie paid Bob ${fmt(c2.cost)} OCEAN`);
    const charlieData = fs.readFileSync(path.join(DATA, "charlie-logbook.txt"));
    const j3 = await clients.charlie.request(m2Id, trainParams(), charlieData, { fee: ethers.parseEther("5") });
    note(`requested training job ${j3.jobId} (tx ${j3.txHash})`);
    const m3Dir = path.join(dataDir, "models", "M3");
    const r3 = await followAndVerify("charlie", j3.jobId, charlieData, m2Dir, m3Dir);
    receipts[receipts.length - 1].kind = "train";
    const m3Id = r3.receipt.childModelId;
    note(
      `M3 = model ${m3Id}: validation loss ${loss(r3.receipt.metrics.valLossBefore)} → ${loss(r3.receipt.metrics.valLossAfter)}`,
    );

    // ── 4. Derek ─────────────────────────────────────────────────────────────────────────────────────────
    say("Derek", "buys 2 M3 datatokens from Charlie and runs inference");
    const l3 = await clients.charlie.list(m3Id, ethers.parseEther("10"), ethers.parseEther("3"));
    await clients.derek.buyListing(l3.listingId, ethers.parseEther("2"));
    const prompts = fs.readFileSync(path.join(DATA, "derek-prompts.txt"));
    const j4 = await clients.derek.request(
      m3Id,
      { kind: "Infer", params: { maxTokens: 24, temperature: 0, topK: 0 } },
      prompts,
    );
    note(`requested inference job ${j4.jobId} (tx ${j4.txHash})`);
    await followAndVerify("derek", j4.jobId, prompts, m3Dir);
    receipts[receipts.length - 1].kind = "infer";
    const res = await clients.derek.result(j4.jobId);
    const generations = (
      JSON.parse(res.bytes.toString()) as { generations: { prompt: string; text: string }[] }
    ).generations.map((g) => `${g.prompt}${g.text}`);
    note(`result matches the receipt's output hash: ${res.verified}`);
    for (const g of generations) note(`» ${g.replace(/\n/g, " ")}`);

    // ── 5. Elena ─────────────────────────────────────────────────────────────────────────────────────────
    say("Elena", "evaluates M1, M2 and M3 on her held-out text against M1's declared baseline");
    await clients.elena.buy(m1.modelId, ethers.parseEther("1"));
    await clients.elena.buyListing(l2.listingId, ethers.parseEther("1"));
    await clients.elena.buyListing(l3.listingId, ethers.parseEther("1"));
    const evalInput = fs.readFileSync(evalFile);
    const evaluation: DemoSummary["evaluation"] = [];
    for (const [name, id, dir] of [
      ["M1", m1.modelId, m1Dir],
      ["M2", m2Id, m2Dir],
      ["M3", m3Id, m3Dir],
    ] as const) {
      const j = await clients.elena.request(
        id,
        { kind: "Evaluate", params: { benchmarkId: benchmarkId(BENCHMARK), contextLength: 64, maxTokens: 100_000 } },
        evalInput,
      );
      const r = await followAndVerify("elena", j.jobId, evalInput, dir);
      receipts[receipts.length - 1].kind = "evaluate";
      evaluation.push({ model: name, loss: Number(r.receipt.metrics.evalLoss) / 1e6, baseline });
    }

    // ── 6. Revenue ───────────────────────────────────────────────────────────────────────────────────────
    say(
      "Everyone",
      "M1's exchange sales go to its vault; Derek pays M3 a 10 OCEAN licence; vaults distribute up the lineage; all claim",
    );
    const collected = await alice.collectSales(m1.modelId);
    note(`collected ${fmt(collected)} OCEAN of M1 sales into M1's vault`);
    await clients.derek.pay(m3Id, ethers.parseEther("10"));
    for (const id of [m3Id, m2Id, m1.modelId]) await alice.distribute(id);
    const claimed: Record<string, bigint> = {};
    for (const p of PEOPLE) {
      claimed[p] = 0n;
      for (const id of [m1.modelId, m2Id, m3Id]) {
        const c = await clients[p].claimable(id, addr[p]);
        if (c.base > 0n || c.datatokens > 0n) {
          const got = await clients[p].claim(id);
          claimed[p] += got.base;
        }
      }
    }
    // Jobs settle once their challenge window is over; the worker settles them, or anyone may.
    const after = Object.fromEntries(await Promise.all(PEOPLE.map(async (p) => [p, await balance(p)]))) as Record<
      Person,
      bigint
    >;
    const endTotal = await totalHeld();

    // ── Summary ──────────────────────────────────────────────────────────────────────────────────────────
    const models = [];
    for (const [name, id] of [
      ["M1", m1.modelId],
      ["M2", m2Id],
      ["M3", m3Id],
    ] as const) {
      const m = await alice.model(id);
      models.push({
        name,
        id: id.toString(),
        parent: m.parentId.toString(),
        generation: Number(m.generation),
        owner: m.owner,
        weightsRoot: m.weightsRoot,
      });
    }
    const nameOf = (a: string) => PEOPLE.find((p) => addr[p].toLowerCase() === a.toLowerCase()) ?? a;
    out.info("\nLineage");
    out.info(`  M1 (model ${m1.modelId}, ${nameOf(models[0].owner)})`);
    out.info(`  └─ M2 (model ${m2Id}, trained by ${nameOf(models[1].owner)})`);
    out.info(`     └─ M3 (model ${m3Id}, trained by ${nameOf(models[2].owner)})`);
    out.info("\nRewards and balances (OCEAN)");
    out.info(`  ${"person".padEnd(8)} ${"before".padStart(12)} ${"after".padStart(12)} ${"claimed".padStart(10)}`);
    for (const p of PEOPLE)
      out.info(
        `  ${p.padEnd(8)} ${fmt(before[p]).padStart(12)} ${fmt(after[p]).padStart(12)} ${fmt(claimed[p]).padStart(10)}`,
      );
    out.info("\nEvaluation on Elena's set (mean cross-entropy, nats)");
    for (const e of evaluation)
      out.info(
        `  ${e.model}  ${e.loss.toFixed(4)}   baseline ${e.baseline.toFixed(4)}   ${Math.abs(e.loss - e.baseline) < 1e-5 ? "(the declared baseline)" : e.loss < e.baseline ? "better" : "worse"}`,
      );
    out.info(`\nReceipts verified by re-execution: ${receipts.filter((r) => r.verified).length}/${receipts.length}`);
    provider.destroy();
    return {
      models,
      finetunes: [
        {
          child: "M2",
          trainer: "bob",
          valLossBefore: Number(r2.receipt.metrics.valLossBefore) / 1e6,
          valLossAfter: Number(r2.receipt.metrics.valLossAfter) / 1e6,
        },
        {
          child: "M3",
          trainer: "charlie",
          valLossBefore: Number(r3.receipt.metrics.valLossBefore) / 1e6,
          valLossAfter: Number(r3.receipt.metrics.valLossAfter) / 1e6,
        },
      ],
      receipts,
      evaluation,
      balances: Object.fromEntries(
        PEOPLE.map((p) => [
          p,
          { before: before[p].toString(), after: after[p].toString(), claimed: claimed[p].toString() },
        ]),
      ),
      conservation: {
        accounts: (endTotal.a - startTotal.a).toString(),
        contracts: (endTotal.c - startTotal.c).toString(),
        total: (endTotal.a + endTotal.c - startTotal.a - startTotal.c).toString(),
      },
      generations,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await world.stop();
  }
}
