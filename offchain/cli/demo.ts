/**
 * `posthuman demo` (`npm run demo`): the five-person story on a fresh embedded chain of its own, through the SDK, as
 * the people would live it. Alice trains M1 from a seed on her corpus and publishes it; Bob buys M1 datatokens on
 * Ocean's exchange and finetunes M1 into M2; Charlie buys M2 datatokens from Bob and trains M3; Derek buys M3
 * datatokens from Charlie and runs inference; Elena evaluates M1, M2 and M3 against the baseline Alice declared;
 * then revenue moves up the lineage and everyone claims. Each step prints who did what, its transactions and the
 * balances that changed; every receipt is verified by re-running its job locally.
 *
 * The model runtime runs in child processes (the worker's, and the demo's own training and verification), so the
 * chain and the worker stay responsive and the two cores work at once: a receipt is verified while the next job runs.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { JobStatus, benchmarkId, encodeJobParams, toFixedLoss, type JobParams } from "../protocol/params";
import { builtinProcessExecutor, createModel, type ExecResult } from "../ml";
import { jobFolder } from "../protocol/job-spec";
import { writeJobDir } from "../ml";
import { PostHuman } from "../sdk/client";
import type { OnChainReceipt } from "../sdk/job-market";
import type { LineageNode } from "../sdk/registry";
import type { Verdict } from "../sdk/verify";
import { devWallet, DEV_ACCOUNTS } from "../deploy/accounts";
import { trainParams } from "./commands";
import type { Output } from "./output";
import { delta, loss, lossDelta, short, table, tokens, tree } from "./render";
import { up } from "./up";

const DATA = path.join(__dirname, "demo-data");
const PEOPLE = ["alice", "bob", "charlie", "derek", "elena"] as const;
type Person = (typeof PEOPLE)[number];
export const DEMO_BENCHMARK = "posthuman-demo/elena-eval";
const CONTEXT = 64;
const LR = 0.003;
const BATCH = 8;

export interface DemoSummary {
  models: {
    name: string;
    id: string;
    parent: string;
    generation: number;
    owner: string;
    parentSide: string;
    trainingJob: string;
    weightsRoot: string;
  }[];
  /** Validation loss on each trainer's data: the parent's (before) and the child's (after), from the receipts. */
  finetunes: { child: string; trainer: string; valLossBefore: number; valLossAfter: number }[];
  receipts: { job: string; kind: string; who: string; model: string; outputHash: string; verified: boolean }[];
  evaluation: { model: string; loss: number; perplexity: number; baseline: number }[];
  /** Base-token wei per person: before, after, claimed from vaults; datatokens claimed, per model name. */
  people: Record<
    string,
    {
      address: string;
      before: string;
      after: string;
      claimedBase: string;
      claimedDatatokens: Record<string, string>;
      shares: Record<string, number>;
    }
  >;
  /**
   * Every base-token holder of the story (people, worker, treasury, contracts): the changes add up to `total` (0:
   * nothing appeared or vanished), and each contract holds exactly what it owes.
   */
  conservation: {
    total: string;
    changes: Record<string, string>;
    contracts: { name: string; balance: string; owes: string }[];
  };
  generations: string[];
  seconds: number;
}

/** A holder of base token and datatokens whose changes the story prints. */
interface Holder {
  name: string;
  address: string;
}

export async function runDemo(
  out: Output,
  o: { dataDir?: string; steps?: number; baseSteps?: number } = {},
): Promise<DemoSummary> {
  const started = Date.now();
  const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "posthuman-demo-"));
  fs.mkdirSync(dataDir, { recursive: true });
  const steps = o.steps ?? 16;
  const baseSteps = o.baseSteps ?? 32;
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const say = (who: string, what: string) => out.info(`\n▶ ${who} ${what}   [${elapsed()}]`);
  const note = (line: string) => out.info(`    ${line}`);
  const executor = builtinProcessExecutor();
  const corpus = path.join(DATA, "alice-corpus.txt");
  const evalFile = path.join(DATA, "elena-eval.txt");

  /** Runs a job of the builtin runtime in a child process, outside any chain: Alice's own work on her machine. */
  const runLocal = async (kind: "train" | "evaluate", params: JobParams, modelDir: string, input: string) => {
    const jobDir = fs.mkdtempSync(path.join(dataDir, `local-${kind}-`));
    writeJobDir(
      jobDir,
      jobFolder({
        kind,
        params: encodeJobParams(params),
        seed: 7,
        modelDir: path.resolve(modelDir),
        input: fs.readFileSync(input),
      }),
    );
    return { jobDir, result: await executor.run({ kind, jobDir }) };
  };

  // Alice's training runs while the chain starts: she needs no chain to make a model.
  out.info(`Starting a fresh chain and worker in ${dataDir}, while Alice trains M1 on her machine…`);
  const m1Dir = path.join(dataDir, "alice", "M1");
  const aliceWork = (async () => {
    const seedDir = path.join(dataDir, "alice", "M1-seed");
    await createModel(seedDir, { preset: "tiny", seed: 7 });
    const trained = await runLocal(
      "train",
      trainParams({ steps: baseSteps, lr: LR, batch: BATCH, context: CONTEXT }),
      seedDir,
      corpus,
    );
    const child = trained.result.child as NonNullable<ExecResult["child"]>;
    fs.cpSync(child.dir, m1Dir, { recursive: true });
    fs.rmSync(trained.jobDir, { recursive: true, force: true });
    const evaluated = await runLocal(
      "evaluate",
      {
        kind: "Evaluate",
        params: { benchmarkId: benchmarkId(DEMO_BENCHMARK), contextLength: CONTEXT, maxTokens: 100_000 },
      },
      m1Dir,
      evalFile,
    );
    fs.rmSync(evaluated.jobDir, { recursive: true, force: true });
    return { metrics: trained.result.metrics, baseline: evaluated.result.metrics.evalLoss ?? 0 };
  })();
  // Collect its failure now; it is rethrown where awaited.
  aliceWork.catch(() => undefined);

  const world = await up(
    {
      dataDir,
      host: "127.0.0.1",
      chainPort: 0,
      apiPort: 0,
      deploymentFile: path.join(dataDir, "deployment.json"),
      // The story needs no web pages (and a fresh clone would build them first).
      webDir: false,
    },
    { ...out, info: (l) => out.info(`  [up] ${l}`) },
  );
  const provider = new ethers.JsonRpcProvider(world.chain.url, world.book.chainId, {
    cacheTimeout: -1,
    staticNetwork: true,
  });
  const verifications: Promise<unknown>[] = [];
  try {
    const clients = {} as Record<Person, PostHuman>;
    const addr = {} as Record<Person, string>;
    for (const p of PEOPLE) {
      const w = devWallet(DEV_ACCOUNTS.indexOf(p));
      addr[p] = w.address;
      clients[p] = await PostHuman.init({
        runner: new ethers.NonceManager(new ethers.Wallet(w.privateKey, provider)),
        book: world.book,
        workerUrl: world.worker?.apiUrl,
        // One machine, one store: what each person uploaded or made is kept for verification.
        dataDir: path.join(dataDir, "client"),
      });
    }
    const alice = clients.alice;
    const contracts = world.book.contracts;

    // ── The ledger: base token and datatokens of everyone the story touches ────────────────────────────────
    const holders: Holder[] = [
      ...PEOPLE.map((p) => ({ name: p[0].toUpperCase() + p.slice(1), address: addr[p] })),
      { name: "worker", address: devWallet(DEV_ACCOUNTS.indexOf("worker")).address },
      { name: "treasury", address: devWallet(DEV_ACCOUNTS.indexOf("treasury")).address },
      { name: "JobMarket escrow", address: contracts.JobMarket },
      { name: "exchange", address: contracts.FixedRateExchange },
      { name: "DatatokenMarket escrow", address: contracts.DatatokenMarket },
      { name: "Ocean fee collector", address: contracts.OPFCommunityFeeCollector },
    ];
    const tokensTracked: { name: string; address: string }[] = [{ name: "OCEAN", address: contracts.OceanToken }];
    const modelName = new Map<bigint, string>();
    const track = (name: string, id: bigint, m: { datatoken: string; vault: string }) => {
      modelName.set(id, name);
      tokensTracked.push({ name, address: m.datatoken });
      holders.push({ name: `${name} vault`, address: m.vault });
    };
    type Snapshot = Map<string, bigint>;
    const snapshot = async (): Promise<Snapshot> => {
      const s: Snapshot = new Map();
      await Promise.all(
        holders.flatMap((h) =>
          tokensTracked.map(async (t) =>
            s.set(`${h.name}|${t.name}`, await alice.token(t.address).balanceOf(h.address)),
          ),
        ),
      );
      return s;
    };
    let last = await snapshot();
    const firstSnapshot = last;
    /** Prints what changed since the last step, holder by holder. */
    const balances = async () => {
      const now = await snapshot();
      for (const h of holders) {
        const parts = tokensTracked
          .map((t) => {
            const k = `${h.name}|${t.name}`;
            const d = (now.get(k) ?? 0n) - (last.get(k) ?? 0n);
            return d === 0n ? "" : `${delta(d)} ${t.name === "OCEAN" ? "OCEAN" : `${t.name} DT`}`;
          })
          .filter(Boolean);
        if (parts.length) note(`  ${h.name.padEnd(24)} ${parts.join(", ")}`);
      }
      last = now;
    };
    const tx = (label: string, hash: string) => note(`${label}: tx ${hash}`);

    // ── Receipts: followed, fetched, verified by re-execution (in the background, while the story goes on) ──
    const receipts: DemoSummary["receipts"] = [];
    const follow = async (who: Person, jobId: bigint): Promise<OnChainReceipt> => {
      let shown = "";
      const receipt = await clients[who].followJob(jobId, {
        onProgress: (p) => {
          const pr = p.progress;
          const line = `${p.state ?? p.status.toLowerCase()}${pr?.phase ? ` · ${pr.phase}` : ""}${pr?.phase === "train" ? ` ${pr.step}/${pr.totalSteps}` : ""}`;
          // One line per state or phase, and every quarter of the training steps.
          const key =
            pr?.phase === "train"
              ? `${line.split(" ").slice(0, 3).join(" ")}|${Math.floor((4 * (pr.step ?? 0)) / (pr.totalSteps ?? 1))}`
              : line;
          if (key !== shown) note(`job ${jobId}: ${line}${pr?.loss ? ` loss ${pr.loss.toFixed(3)}` : ""}`);
          shown = key;
        },
      });
      const res = await clients[who].fetchResult(jobId);
      note(`receipt: tx ${receipt.txHash}`);
      note(
        `  output ${short(receipt.outputHash)} (the result ${who} fetched matches it: ${res.verified}), served weights ${short(receipt.servedWeightsRoot)}`,
      );
      return receipt;
    };
    // One re-execution at a time, in job order: each one's model (a parent's child) is rebuilt by the one before.
    let queue: Promise<unknown> = Promise.resolve();
    const verify = (who: Person, receipt: OnChainReceipt, kind: string, model: string) => {
      const p = queue.then(async () => {
        const v: Verdict = await clients[who].verify(receipt.jobId, { rebuild: false });
        note(
          `✓ ${who}'s job ${receipt.jobId} (${kind} on ${model}) re-executed locally in ${v.seconds.toFixed(0)} s: ${v.verified ? "VERIFIED" : "MISMATCH"} — ${v.checks.map((c) => `${c.name} ${c.ok ? "✓" : "✗"}`).join(", ")}`,
        );
        receipts.push({
          job: receipt.jobId.toString(),
          kind,
          who,
          model,
          outputHash: receipt.outputHash,
          verified: v.verified,
        });
      });
      queue = p.catch(() => undefined);
      verifications.push(p);
    };

    // ── 1. Alice ─────────────────────────────────────────────────────────────────────────────────────────
    const aliceDone = await aliceWork;
    say(
      "Alice",
      `made M1: a tiny GPT-2 (2 layers, 3.3 M parameters) from seed 7, trained ${baseSteps} steps on her corpus`,
    );
    note(
      `train loss ${aliceDone.metrics.trainLossBefore?.toFixed(3)} → ${aliceDone.metrics.trainLossAfter?.toFixed(3)}`,
    );
    note(
      `she measures it on "${DEMO_BENCHMARK}" (Elena's set, published): loss ${aliceDone.baseline.toFixed(4)}, her declared baseline`,
    );
    say(
      "Alice",
      "publishes M1: an Ocean data NFT + datatoken at 1 OCEAN on the exchange, 20 datatokens to her, weights to the worker",
    );
    const m1 = await alice.publishModel({
      dir: m1Dir,
      name: "Harbour M1",
      symbol: "M1",
      dataHash: ethers.sha256(fs.readFileSync(corpus)),
      metadataURI: "posthuman-demo://M1",
      baseline: { benchmarkId: benchmarkId(DEMO_BENCHMARK), metric: toFixedLoss(aliceDone.baseline) },
      pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
      initialSupply: ethers.parseEther("20"),
    });
    track("M1", m1.modelId, m1);
    tx(`published M1 = model ${m1.modelId}`, m1.txHash);
    await balances();

    // ── 2. Bob ───────────────────────────────────────────────────────────────────────────────────────────
    say("Bob", "buys 2 M1 datatokens on Ocean's exchange (through ocean.js)");
    const bobBuy = await clients.bob.buyDatatokens(m1.modelId, ethers.parseEther("2"));
    tx(`paid ${tokens(bobBuy.cost)} OCEAN (price + Ocean's fee)`, bobBuy.txHash);
    await balances();
    say("Bob", `finetunes M1 on his recipes (${steps} steps): 1 M1 datatoken ordered on Ocean, a 5 OCEAN fee escrowed`);
    const bobData = fs.readFileSync(path.join(DATA, "bob-recipes.jsonl"));
    const finetune = trainParams({ steps, lr: LR, batch: BATCH, context: CONTEXT });
    const j2 = await clients.bob.requestJob(m1.modelId, finetune, bobData, { fee: ethers.parseEther("5") });
    tx(`requested job ${j2.jobId}, input uploaded`, j2.txHash);
    const r2 = await follow("bob", j2.jobId);
    const m2 = await alice.registry.get(r2.childModelId);
    track("M2", m2.id, m2);
    note(
      `M2 = model ${m2.id}, child of M1: validation loss on Bob's data ${loss(r2.metrics.valLossBefore)} (M1) → ${loss(r2.metrics.valLossAfter)} (M2)`,
    );
    await balances();
    verify("bob", r2, "train", "M1");

    // ── 3. Charlie ───────────────────────────────────────────────────────────────────────────────────────
    say("Bob", "lists 10 M2 datatokens at 2 OCEAN each; Charlie buys 3");
    const l2 = await clients.bob.sellDatatokens(m2.id, ethers.parseEther("10"), ethers.parseEther("2"));
    tx(`listing ${l2.listingId}`, l2.txHash);
    const c2 = await clients.charlie.buyFromListing(l2.listingId, ethers.parseEther("3"));
    tx(`Charlie paid Bob ${tokens(c2.cost)} OCEAN`, c2.txHash);
    await balances();
    say("Charlie", `finetunes M2 on his sailing logbook (${steps} steps)`);
    const charlieData = fs.readFileSync(path.join(DATA, "charlie-logbook.txt"));
    const j3 = await clients.charlie.requestJob(m2.id, finetune, charlieData, { fee: ethers.parseEther("5") });
    tx(`requested job ${j3.jobId}`, j3.txHash);
    const r3 = await follow("charlie", j3.jobId);
    const m3 = await alice.registry.get(r3.childModelId);
    track("M3", m3.id, m3);
    note(
      `M3 = model ${m3.id}, child of M2: validation loss on Charlie's data ${loss(r3.metrics.valLossBefore)} (M2) → ${loss(r3.metrics.valLossAfter)} (M3)`,
    );
    await balances();
    verify("charlie", r3, "train", "M2");

    // ── 4. Derek ─────────────────────────────────────────────────────────────────────────────────────────
    say("Charlie", "lists 10 M3 datatokens at 3 OCEAN; Derek buys 2");
    const l3 = await clients.charlie.sellDatatokens(m3.id, ethers.parseEther("10"), ethers.parseEther("3"));
    tx(`listing ${l3.listingId}`, l3.txHash);
    const d3 = await clients.derek.buyFromListing(l3.listingId, ethers.parseEther("2"));
    tx(`Derek paid Charlie ${tokens(d3.cost)} OCEAN`, d3.txHash);
    await balances();
    say("Derek", "runs inference on M3 with his prompts (sampled at temperature 0.8, top-k 40, seeded by the job)");
    const prompts = fs.readFileSync(path.join(DATA, "derek-prompts.txt"));
    const j4 = await clients.derek.requestJob(
      m3.id,
      { kind: "Infer", params: { maxTokens: 24, temperature: 800_000, topK: 40 } },
      prompts,
    );
    tx(`requested job ${j4.jobId}`, j4.txHash);
    const r4 = await follow("derek", j4.jobId);
    const res4 = await clients.derek.fetchResult(j4.jobId);
    const generations = (
      JSON.parse(res4.bytes.toString("utf8")) as { generations: { prompt: string; text: string }[] }
    ).generations.map((g) => `${g.prompt}${g.text}`.replace(/\s+/g, " ").trim());
    for (const g of generations) note(`» ${g}`);
    await balances();
    verify("derek", r4, "infer", "M3");

    // ── 5. Elena ─────────────────────────────────────────────────────────────────────────────────────────
    say("Elena", "buys one datatoken of each: M1 on the exchange, M2 from Bob's listing, M3 from Charlie's");
    tx("M1", (await clients.elena.buyDatatokens(m1.modelId, ethers.parseEther("1"))).txHash);
    tx("M2", (await clients.elena.buyFromListing(l2.listingId, ethers.parseEther("1"))).txHash);
    tx("M3", (await clients.elena.buyFromListing(l3.listingId, ethers.parseEther("1"))).txHash);
    await balances();
    say("Elena", `evaluates M1, M2 and M3 on her held-out text ("${DEMO_BENCHMARK}")`);
    const evalInput = fs.readFileSync(evalFile);
    const evalJobs = [];
    for (const [name, m] of [
      ["M1", m1.modelId],
      ["M2", m2.id],
      ["M3", m3.id],
    ] as const) {
      const j = await clients.elena.requestJob(
        m,
        {
          kind: "Evaluate",
          params: { benchmarkId: benchmarkId(DEMO_BENCHMARK), contextLength: CONTEXT, maxTokens: 100_000 },
        },
        evalInput,
      );
      tx(`requested job ${j.jobId} on ${name}`, j.txHash);
      evalJobs.push({ name, job: j });
    }
    const evaluation: DemoSummary["evaluation"] = [];
    for (const { name, job } of evalJobs) {
      const r = await follow("elena", job.jobId);
      evaluation.push({
        model: name,
        loss: Number(r.metrics.evalLoss) / 1e6,
        perplexity: Math.exp(Number(r.metrics.evalLoss) / 1e6),
        baseline: aliceDone.baseline,
      });
      verify("elena", r, "evaluate", name);
    }
    await balances();

    // ── 6. Revenue ───────────────────────────────────────────────────────────────────────────────────────
    say("Derek", "pays M3 a 10 OCEAN licence for using its generations (straight into M3's vault)");
    tx("paid", (await clients.derek.pay(m3.id, ethers.parseEther("10"))).txHash);
    await balances();
    say(
      "Everyone",
      "claims: M1's exchange sales go to its vault; each vault books its revenue, sending its parent's royalty up (M3 → M2 → M1); holders claim OCEAN and consumed datatokens",
    );
    const claimed: Record<Person, { base: bigint; datatokens: Map<bigint, bigint> }> = {} as never;
    for (const p of PEOPLE) {
      const r = await clients[p].claimAll();
      for (const c of r.collected)
        tx(`${p} collected ${tokens(c.amount)} OCEAN of ${modelName.get(c.modelId)}'s sales into its vault`, c.txHash);
      for (const d of r.distributed)
        tx(
          `${p} distributed ${modelName.get(d.modelId)}'s vault: ${tokens(d.toHolders)} OCEAN to its holders, ${tokens(d.toParent)} up to its parent`,
          d.txHash,
        );
      claimed[p] = { base: 0n, datatokens: new Map() };
      for (const c of r.claimed) {
        tx(
          `${p} claimed ${tokens(c.base)} OCEAN + ${tokens(c.datatokens)} ${modelName.get(c.modelId)} DT from ${modelName.get(c.modelId)}'s vault`,
          c.txHash,
        );
        claimed[p].base += c.base;
        claimed[p].datatokens.set(c.modelId, (claimed[p].datatokens.get(c.modelId) ?? 0n) + c.datatokens);
      }
    }
    await balances();

    // ── Verifications still running finish here ──────────────────────────────────────────────────────────
    if (verifications.length) out.info(`\nWaiting for the last re-executions…   [${elapsed()}]`);
    await Promise.all(verifications);

    // ── Summary ──────────────────────────────────────────────────────────────────────────────────────────
    const finalSnapshot = await snapshot();
    const lineage: LineageNode = await alice.lineage(m3.id);
    const nameOf = (a: string) => PEOPLE.find((p) => addr[p].toLowerCase() === a.toLowerCase()) ?? short(a);
    out.info("\nLineage (on chain)");
    for (const l of tree(
      lineage,
      (n) =>
        `${modelName.get(n.model.id)} (model ${n.model.id}) · ${n.model.generation ? `trained by ${nameOf(n.model.owner)} in job ${n.model.jobId} · shares: ${nameOf(n.model.owner)} and ${nameOf(n.model.parentSide)}` : `published by ${nameOf(n.model.owner)}`}`,
    ))
      out.info(`  ${l}`);

    const modelIds = [m1.modelId, m2.id, m3.id];
    const shares: Record<Person, Record<string, number>> = {} as never;
    for (const p of PEOPLE) {
      shares[p] = {};
      for (const id of modelIds) {
        const m = await alice.registry.get(id);
        const pos = await alice.vault(m.vault).position(addr[p]);
        if (pos.shares > 0n)
          shares[p][modelName.get(id) as string] = Number((pos.shares * 10_000n) / pos.totalShares) / 100;
      }
    }
    const base = (p: Person, s: Snapshot) => s.get(`${p[0].toUpperCase()}${p.slice(1)}|OCEAN`) ?? 0n;
    out.info("\nRewards and revenue per person (OCEAN)");
    out.info(
      table(
        ["person", "vault shares", "claimed OCEAN", "claimed datatokens", "before", "after", "change"],
        PEOPLE.map((p) => [
          p,
          Object.entries(shares[p])
            .map(([m, s]) => `${m} ${s}%`)
            .join(", ") || "—",
          tokens(claimed[p].base),
          [...claimed[p].datatokens]
            .filter(([, v]) => v > 0n)
            .map(([m, v]) => `${tokens(v)} ${modelName.get(m)}`)
            .join(", ") || "—",
          tokens(base(p, firstSnapshot)),
          tokens(base(p, finalSnapshot)),
          delta(base(p, finalSnapshot) - base(p, firstSnapshot)),
        ]),
      )
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );

    out.info(`\nEvaluation on Elena's set ("${DEMO_BENCHMARK}", mean cross-entropy in nats)`);
    out.info(
      table(
        ["model", "eval loss", "perplexity", "declared baseline (Alice)", "vs baseline"],
        evaluation.map((e) => [
          e.model,
          e.loss.toFixed(4),
          e.perplexity.toFixed(1),
          e.baseline.toFixed(4),
          lossDelta(toFixedLoss(e.loss) - toFixedLoss(e.baseline)),
        ]),
      )
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );

    // Conservation: the base token moved only between these holders, and each contract holds what it owes.
    const changes: Record<string, string> = {};
    let total = 0n;
    for (const h of holders) {
      const k = `${h.name}|OCEAN`;
      const d = (finalSnapshot.get(k) ?? 0n) - (firstSnapshot.get(k) ?? 0n);
      total += d;
      if (d !== 0n) changes[h.name] = d.toString();
    }
    const owedByMarket = async () => {
      const stake = await alice.jobs.stakeOf(devWallet(DEV_ACCOUNTS.indexOf("worker")).address);
      let owes = stake.free + stake.locked + stake.unstaking;
      const n = await alice.jobs.count();
      for (let j = 1n; j <= n; j++) {
        const job = await alice.jobs.get(j);
        const s = JobStatus[job.status];
        if (s === JobStatus.Open || s === JobStatus.Claimed || s === JobStatus.Submitted || s === JobStatus.Challenged)
          owes += job.fee + (await alice.jobs.contract.callbackOf(j)).fee;
      }
      return owes;
    };
    const exchange = await alice.exchange.get(m1.exchangeId);
    const contractsOwe = [
      { name: "JobMarket (stakes + fees of unsettled jobs)", address: contracts.JobMarket, owes: await owedByMarket() },
      {
        name: "exchange (M1 sales + Ocean's fees)",
        address: contracts.FixedRateExchange,
        owes: exchange.btBalance + exchange.oceanFeeAvailable + exchange.marketFeeAvailable,
      },
      ...(await Promise.all(
        modelIds.map(async (id) => {
          const m = await alice.registry.get(id);
          const v = alice.vault(m.vault);
          const [owed, pending] = await Promise.all([v.owed(), v.pending()]);
          return {
            name: `${modelName.get(id)} vault (owed + pending)`,
            address: m.vault,
            owes: owed.base + pending.base,
          };
        }),
      )),
    ];
    const contractRows = await Promise.all(
      contractsOwe.map(async (c) => ({
        name: c.name,
        balance: await alice.baseToken.balanceOf(c.address),
        owes: c.owes,
      })),
    );
    out.info("\nWhere the OCEAN went (changes over the story; they add up to zero)");
    for (const [k, v] of Object.entries(changes)) out.info(`  ${k.padEnd(24)} ${delta(BigInt(v))}`);
    out.info(`  total                    ${tokens(total)}`);
    for (const c of contractRows) out.info(`  ${c.name}: holds ${tokens(c.balance)}, owes ${tokens(c.owes)}`);

    const verdicts = receipts.filter((r) => r.verified).length;
    out.info(`\nReceipts verified by re-execution: ${verdicts}/${receipts.length}. Demo done in ${elapsed()}.`);

    const models = [];
    for (const id of modelIds) {
      const m = await alice.registry.get(id);
      models.push({
        name: modelName.get(id) as string,
        id: id.toString(),
        parent: m.parentId.toString(),
        generation: m.generation,
        owner: m.owner,
        parentSide: m.parentSide,
        trainingJob: m.jobId.toString(),
        weightsRoot: m.weightsRoot,
      });
    }
    receipts.sort((a, b) => Number(BigInt(a.job) - BigInt(b.job)));
    return {
      models,
      finetunes: [
        {
          child: "M2",
          trainer: "bob",
          valLossBefore: Number(r2.metrics.valLossBefore) / 1e6,
          valLossAfter: Number(r2.metrics.valLossAfter) / 1e6,
        },
        {
          child: "M3",
          trainer: "charlie",
          valLossBefore: Number(r3.metrics.valLossBefore) / 1e6,
          valLossAfter: Number(r3.metrics.valLossAfter) / 1e6,
        },
      ],
      receipts,
      evaluation,
      people: Object.fromEntries(
        PEOPLE.map((p) => [
          p,
          {
            address: addr[p],
            before: base(p, firstSnapshot).toString(),
            after: base(p, finalSnapshot).toString(),
            claimedBase: claimed[p].base.toString(),
            claimedDatatokens: Object.fromEntries(
              [...claimed[p].datatokens].map(([m, v]) => [modelName.get(m) as string, v.toString()]),
            ),
            shares: shares[p],
          },
        ]),
      ),
      conservation: {
        total: total.toString(),
        changes,
        contracts: contractRows.map((c) => ({ name: c.name, balance: c.balance.toString(), owes: c.owes.toString() })),
      },
      generations,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await Promise.allSettled(verifications);
    provider.destroy();
    await world.stop();
  }
}
