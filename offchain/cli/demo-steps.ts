/**
 * The steps of `posthuman demo`, one function per thing a person does: Alice makes M1 on her machine and publishes
 * it, Bob finetunes M1 into M2, Charlie buys M2 from Bob and trains M3, Derek buys M3 from Charlie and runs
 * inference, Elena evaluates all three, Derek pays a licence, everyone claims.
 */
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import { builtinProcessExecutor, createModel, writeJobDir, type ExecResult } from "../ml";
import { jobFolder } from "../protocol/job-spec";
import { LOSS_SCALE, benchmarkId, encodeJobParams, toFixedLoss, type JobParams } from "../protocol/params";
import type { OnChainReceipt } from "../sdk/job-market";
import type { ModelRecord } from "../sdk/registry";
import { trainParams } from "../protocol/params";
import { BATCH, CONTEXT, DATA, DEMO_BENCHMARK, LR, PEOPLE, type Person, type Scene } from "./demo-scene";
import { loss, tokens } from "./render";

const CORPUS = path.join(DATA, "alice-corpus.txt");
export const EVAL_FILE = path.join(DATA, "elena-eval.txt");
const E = (x: string) => ethers.parseEther(x);
const EVALUATE: JobParams = {
  kind: "Evaluate",
  params: { benchmarkId: benchmarkId(DEMO_BENCHMARK), contextLength: CONTEXT, maxTokens: 100_000 },
};

export interface AliceWork {
  m1Dir: string;
  metrics: ExecResult["metrics"];
  /** M1's loss on Elena's published set: the baseline Alice declares. */
  baseline: number;
}

/**
 * Alice makes M1 on her machine, outside any chain (so it runs while the chain starts): a tiny GPT-2 from seed 7,
 * trained on her corpus by the builtin runtime in a child process, then measured on Elena's published set.
 */
export async function aliceMakesM1(dataDir: string, baseSteps: number): Promise<AliceWork> {
  const executor = builtinProcessExecutor();
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
  const m1Dir = path.join(dataDir, "alice", "M1");
  const seedDir = path.join(dataDir, "alice", "M1-seed");
  await createModel(seedDir, { preset: "tiny", seed: 7 });
  const trained = await runLocal(
    "train",
    trainParams({ steps: baseSteps, lr: LR, batch: BATCH, context: CONTEXT }),
    seedDir,
    CORPUS,
  );
  const child = trained.result.child as NonNullable<ExecResult["child"]>;
  fs.cpSync(child.dir, m1Dir, { recursive: true });
  fs.rmSync(trained.jobDir, { recursive: true, force: true });
  const evaluated = await runLocal("evaluate", EVALUATE, m1Dir, EVAL_FILE);
  fs.rmSync(evaluated.jobDir, { recursive: true, force: true });
  return { m1Dir, metrics: trained.result.metrics, baseline: evaluated.result.metrics.evalLoss ?? 0 };
}

export type M1 = Awaited<ReturnType<Scene["reader"]["publishModel"]>>;

/** Alice says what she made, then publishes M1: data NFT + datatoken at 1 OCEAN, 20 to her, weights to the worker. */
export async function alicePublishesM1(s: Scene, work: AliceWork, baseSteps: number): Promise<M1> {
  s.say(
    "Alice",
    `made M1: a tiny GPT-2 (2 layers, 3.3 M parameters) from seed 7, trained ${baseSteps} steps on her corpus`,
  );
  s.note(`train loss ${work.metrics.trainLossBefore?.toFixed(3)} → ${work.metrics.trainLossAfter?.toFixed(3)}`);
  s.note(
    `she measures it on "${DEMO_BENCHMARK}" (Elena's set, published): loss ${work.baseline.toFixed(4)}, her declared baseline`,
  );
  s.say(
    "Alice",
    "publishes M1: an Ocean data NFT + datatoken at 1 OCEAN on the exchange, 20 datatokens to her, weights to the worker",
  );
  const m1 = await s.clients.alice.publishModel({
    dir: work.m1Dir,
    name: "Harbour M1",
    symbol: "M1",
    dataHash: ethers.sha256(fs.readFileSync(CORPUS)),
    metadataURI: "posthuman-demo://M1",
    baseline: { benchmarkId: benchmarkId(DEMO_BENCHMARK), metric: toFixedLoss(work.baseline) },
    pricing: { kind: "FixedRate", rate: E("1") },
    initialSupply: E("20"),
  });
  s.ledger.track("M1", m1.modelId, m1);
  s.tx(`published M1 = model ${m1.modelId}`, m1.txHash);
  await s.balances();
  return m1;
}

/** A trainer's finetune of a parent, followed to its receipt: the child model, tracked, and its re-execution queued. */
async function finetune(
  s: Scene,
  who: Person,
  parent: { id: bigint; name: string },
  child: string,
  dataFile: string,
  dataName: string,
  requestNote: (jobId: bigint) => string,
): Promise<{ model: ModelRecord; receipt: OnChainReceipt }> {
  const data = fs.readFileSync(path.join(DATA, dataFile));
  const params = trainParams({ steps: s.steps, lr: LR, batch: BATCH, context: CONTEXT });
  const job = await s.clients[who].requestJob(parent.id, params, data, { fee: E("5") });
  s.tx(requestNote(job.jobId), job.txHash);
  const receipt = await s.follow(who, job.jobId);
  const model = await s.reader.registry.get(receipt.childModelId);
  s.ledger.track(child, model.id, model);
  s.note(
    `${child} = model ${model.id}, child of ${parent.name}: validation loss on ${dataName} ${loss(receipt.metrics.valLossBefore)} (${parent.name}) → ${loss(receipt.metrics.valLossAfter)} (${child})`,
  );
  await s.balances();
  s.verify(who, receipt, "train", parent.name);
  return { model, receipt };
}

/** Bob buys 2 M1 datatokens on Ocean's exchange and finetunes M1 on his recipes into M2. */
export async function bobFinetunesM1(s: Scene, m1: M1) {
  s.say("Bob", "buys 2 M1 datatokens on Ocean's exchange (through ocean.js)");
  const bought = await s.clients.bob.buyDatatokens(m1.modelId, E("2"));
  s.tx(`paid ${tokens(bought.cost)} OCEAN (price + Ocean's fee)`, bought.txHash);
  await s.balances();
  s.say(
    "Bob",
    `finetunes M1 on his recipes (${s.steps} steps): 1 M1 datatoken and a 5 OCEAN fee escrowed (the datatoken is ordered on Ocean when the job settles)`,
  );
  const { model: m2, receipt: r2 } = await finetune(
    s,
    "bob",
    { id: m1.modelId, name: "M1" },
    "M2",
    "bob-recipes.jsonl",
    "Bob's data",
    (j) => `requested job ${j}, input uploaded`,
  );
  return { m2, r2 };
}

/** Bob lists 10 M2 datatokens at 2 OCEAN, Charlie buys 3 and finetunes M2 on his logbook into M3. */
export async function charlieTrainsM3(s: Scene, m2: ModelRecord) {
  s.say(
    "Bob",
    "lists 10 M2 datatokens at 2 OCEAN each; Charlie buys 3 (accepting that M2's receipt may be challenged yet)",
  );
  const l2 = await s.clients.bob.sellDatatokens(m2.id, E("10"), E("2"));
  s.tx(`listing ${l2.listingId}`, l2.txHash);
  const bought = await s.clients.charlie.buyFromListing(l2.listingId, E("3"), { acceptUnsettled: true });
  s.tx(`Charlie paid Bob ${tokens(bought.cost)} OCEAN`, bought.txHash);
  await s.balances();
  s.say("Charlie", `finetunes M2 on his sailing logbook (${s.steps} steps)`);
  const { model: m3, receipt: r3 } = await finetune(
    s,
    "charlie",
    { id: m2.id, name: "M2" },
    "M3",
    "charlie-logbook.txt",
    "Charlie's data",
    (j) => `requested job ${j}`,
  );
  return { l2, m3, r3 };
}

/** Charlie lists 10 M3 datatokens at 3 OCEAN, Derek buys 2 and runs inference on M3 with his prompts. */
export async function derekInfersOnM3(s: Scene, m3: ModelRecord) {
  s.say(
    "Charlie",
    "lists 10 M3 datatokens at 3 OCEAN; Derek buys 2 (accepting that M3's receipt may be challenged yet)",
  );
  const l3 = await s.clients.charlie.sellDatatokens(m3.id, E("10"), E("3"));
  s.tx(`listing ${l3.listingId}`, l3.txHash);
  const bought = await s.clients.derek.buyFromListing(l3.listingId, E("2"), { acceptUnsettled: true });
  s.tx(`Derek paid Charlie ${tokens(bought.cost)} OCEAN`, bought.txHash);
  await s.balances();
  s.say("Derek", "runs inference on M3 with his prompts (sampled at temperature 0.8, top-k 40, seeded by the job)");
  const prompts = fs.readFileSync(path.join(DATA, "derek-prompts.txt"));
  const job = await s.clients.derek.requestJob(
    m3.id,
    { kind: "Infer", params: { maxTokens: 24, temperature: 800_000, topK: 40 } },
    prompts,
  );
  s.tx(`requested job ${job.jobId}`, job.txHash);
  const receipt = await s.follow("derek", job.jobId);
  const result = await s.clients.derek.fetchResult(job.jobId);
  const generations = (
    JSON.parse(result.bytes.toString("utf8")) as { generations: { prompt: string; text: string }[] }
  ).generations.map((g) => `${g.prompt}${g.text}`.replace(/\s+/g, " ").trim());
  for (const g of generations) s.note(`» ${g}`);
  await s.balances();
  s.verify("derek", receipt, "infer", "M3");
  return { l3, generations };
}

export interface Evaluation {
  model: string;
  loss: number;
  perplexity: number;
  baseline: number;
}

/** Elena buys one datatoken of each model and evaluates M1, M2 and M3 on her held-out text. */
export async function elenaEvaluates(
  s: Scene,
  models: [string, bigint][],
  listings: { l2: bigint; l3: bigint },
  baseline: number,
): Promise<Evaluation[]> {
  s.say("Elena", "buys one datatoken of each: M1 on the exchange, M2 from Bob's listing, M3 from Charlie's");
  s.tx("M1", (await s.clients.elena.buyDatatokens(models[0][1], E("1"))).txHash);
  const unsettled = { acceptUnsettled: true }; // (a receipt's challenge window may not have closed yet)
  s.tx("M2", (await s.clients.elena.buyFromListing(listings.l2, E("1"), unsettled)).txHash);
  s.tx("M3", (await s.clients.elena.buyFromListing(listings.l3, E("1"), unsettled)).txHash);
  await s.balances();
  s.say("Elena", `evaluates M1, M2 and M3 on her held-out text ("${DEMO_BENCHMARK}")`);
  const evalInput = fs.readFileSync(EVAL_FILE);
  const jobs = [];
  for (const [name, id] of models) {
    const j = await s.clients.elena.requestJob(id, EVALUATE, evalInput);
    s.tx(`requested job ${j.jobId} on ${name}`, j.txHash);
    jobs.push({ name, job: j });
  }
  const evaluation: Evaluation[] = [];
  for (const { name, job } of jobs) {
    const r = await s.follow("elena", job.jobId);
    const nats = Number(r.metrics.evalLoss) / Number(LOSS_SCALE);
    evaluation.push({ model: name, loss: nats, perplexity: Math.exp(nats), baseline });
    s.verify("elena", r, "evaluate", name);
  }
  await s.balances();
  return evaluation;
}

/** Derek pays M3 a licence: revenue straight into M3's vault. */
export async function derekPaysM3(s: Scene, m3: ModelRecord): Promise<void> {
  s.say("Derek", "pays M3 a 10 OCEAN licence for using its generations (straight into M3's vault)");
  s.tx("paid", (await s.clients.derek.pay(m3.id, E("10"))).txHash);
  await s.balances();
}

export type Claimed = Record<Person, { base: bigint; datatokens: Map<bigint, bigint> }>;

/** Everyone claims: sales collected into vaults, royalties distributed up the lineage, holders' claims. */
export async function everyoneClaims(s: Scene): Promise<Claimed> {
  s.say(
    "Everyone",
    "claims: M1's exchange sales go to its vault; each vault books its revenue, sending its parent's royalty up (M3 → M2 → M1); holders claim OCEAN and consumed datatokens",
  );
  const name = (id: bigint) => s.ledger.modelName.get(id);
  const claimed = {} as Claimed;
  for (const p of PEOPLE) {
    const r = await s.clients[p].claimAll();
    for (const c of r.collected)
      s.tx(`${p} collected ${tokens(c.amount)} OCEAN of ${name(c.modelId)}'s sales into its vault`, c.txHash);
    for (const d of r.distributed)
      s.tx(
        `${p} distributed ${name(d.modelId)}'s vault: ${tokens(d.toHolders)} OCEAN to its holders, ${tokens(d.toParent)} up to its parent`,
        d.txHash,
      );
    claimed[p] = { base: 0n, datatokens: new Map() };
    for (const c of r.claimed) {
      s.tx(
        `${p} claimed ${tokens(c.base)} OCEAN + ${tokens(c.datatokens)} ${name(c.modelId)} DT from ${name(c.modelId)}'s vault`,
        c.txHash,
      );
      claimed[p].base += c.base;
      claimed[p].datatokens.set(c.modelId, (claimed[p].datatokens.get(c.modelId) ?? 0n) + c.datatokens);
    }
  }
  await s.balances();
  return claimed;
}
