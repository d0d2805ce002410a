/**
 * The five-person story driven through the `posthuman` command as people would drive it: `posthuman up` in one
 * terminal, then every step a spawned command with --json, each person with their own data directory (their own
 * machine). The assertions read the commands' JSON and the chain.
 *
 * Doubles as documentation of the commands: README.md's guides are these steps.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { devWallet } from "../../offchain/deploy/accounts";
import {
  ERC20Template__factory,
  FixedRateExchange__factory,
  JobMarket__factory,
  ModelRegistry__factory,
  RoyaltyVault__factory,
} from "../../typechain-types";
import { toFixedLoss } from "../../offchain/protocol/params";
import { cli, ok, startUp, type CliRun, type UpProcess } from "./cli-process";

const DATA = path.join(__dirname, "..", "..", "offchain", "cli", "demo-data");
const PEOPLE = ["alice", "bob", "charlie", "derek", "elena"] as const;
type Person = (typeof PEOPLE)[number];
const INDEX: Record<Person | "worker" | "treasury", number> = {
  alice: 1,
  bob: 2,
  charlie: 3,
  derek: 4,
  elena: 5,
  worker: 6,
  treasury: 7,
};
const address = (who: keyof typeof INDEX) => devWallet(INDEX[who]).address;
const E = (x: string) => ethers.parseEther(x);
/**
 * Training steps of the story: enough for the validation loss to fall (it falls from the first step: the runs are
 * seeded, so it falls the same way every time), few enough for a quick test. Each step of a finetune is paid three
 * times (the worker's run, the re-run of its verification, on two cores beside the other test file).
 */
const STEPS = "4";
/** Alice's M1, trained from its seed before she publishes it. */
const BASE_STEPS = "6";

// The JSON documents of the commands (bigints are decimal strings).
interface ReceiptJson {
  jobId: string;
  outputHash: string;
  servedWeightsRoot: string;
  childModelId: string;
  metrics: { valLossBefore: string; valLossAfter: string; evalLoss: string; evalTokens: string };
}
interface JobJson {
  jobId: string;
  fee: string;
  receipt: ReceiptJson;
  resultVerified: boolean;
}
interface TrainJson extends JobJson {
  childModelId: string;
  name?: string;
  description?: string;
}
interface InferJson extends JobJson {
  generations: { prompt: string; text: string }[];
}
interface EvalJson {
  evaluations: {
    modelId: string;
    jobId: string;
    fee: string;
    loss: string;
    rootBaseline: string;
    resultVerified: boolean;
  }[];
}
interface CostJson {
  cost: string;
  seller?: string;
  txHash: string;
}
interface RewardsJson {
  account: string;
  claimedBase: string;
  claimed: { claimed: { modelId: string; base: string; datatokens: string }[] };
  models: { modelId: string; shares: string; totalShares: string }[];
}
interface VerifyJson {
  jobId: string;
  verified: boolean;
  checks: { name: string; ok: boolean }[];
}
interface TreeJson {
  id: string;
  name: string;
  owner: string;
  parentSide: string;
  generation: number;
  jobId: string;
  children: TreeJson[];
}
interface ErrorJson {
  error: { message: string; hint?: string };
}

describe("posthuman, driven as people would: the five-person story through spawned commands", function () {
  this.timeout(2_700_000); // generous: on a loaded machine these runs take many times longer (speed is `npm run bench`'s)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-story-"));
  const deployment = path.join(tmp, "deployment.json");
  let upProc: UpProcess | undefined;
  let provider: ethers.JsonRpcProvider;
  const dirOf = (p: Person) => path.join(tmp, p);

  /** Every command a person runs: their account, their data directory, the marketplace's endpoints. */
  const as = <T>(who: Person, args: string[]): Promise<CliRun<T>> => {
    const up = upProc?.up;
    if (!up) throw new Error("posthuman up is not running");
    return cli<T>([
      "--json",
      "--rpc",
      up.rpc,
      "--deployment",
      deployment,
      "--worker",
      up.worker,
      "--data-dir",
      dirOf(who),
      "--account",
      who,
      ...args,
    ]);
  };

  // What the story produced, for the assertions.
  const s = {} as {
    m1Folder: string;
    baseline: number;
    before: Map<string, bigint>;
    after: Map<string, bigint>;
    atBlock: number;
    bobBuy: CostJson;
    elenaBuy: CostJson;
    charlieFromBob: CostJson;
    derekFromCharlie: CostJson;
    elenaFromBob: CostJson;
    elenaFromCharlie: CostJson;
    train2: TrainJson;
    train3: TrainJson;
    infer: InferJson;
    evals: EvalJson;
    lineage: { tree: TreeJson };
    rewards: Record<"alice" | "bob" | "charlie", RewardsJson>;
    verdicts: CliRun<VerifyJson>[];
    missingInput: CliRun<ErrorJson>;
    mismatch: CliRun<VerifyJson>;
    noDatatoken: CliRun<ErrorJson>;
    noWorker: CliRun<ErrorJson>;
    notIndependent: CliRun<ErrorJson>;
  };

  /** Base-token balances of everyone and every contract the story touches, all read at one block. */
  const holders = (book: UpProcess["up"], vaults: string[]) => [
    ...PEOPLE.map((p) => address(p)),
    address("worker"),
    address("treasury"),
    book.contracts.JobMarket,
    book.contracts.FixedRateExchange,
    book.contracts.DatatokenMarket,
    book.contracts.OPFCommunityFeeCollector,
    ...vaults,
  ];
  const balancesAt = async (who: string[], blockTag: number) => {
    const token = ERC20Template__factory.connect((upProc as UpProcess).up.contracts.OceanToken, provider);
    const out = new Map<string, bigint>();
    for (const a of who) out.set(a, await token.balanceOf(a, { blockTag }));
    return out;
  };

  before(async () => {
    // Alice makes her model on her machine while the marketplace starts in another terminal.
    const [up, created] = await Promise.all([
      startUp(path.join(tmp, "marketplace"), deployment),
      cli<{ evaluation: { loss: number } }>([
        "--json",
        "--data-dir",
        dirOf("alice"),
        "model",
        "create",
        path.join(tmp, "alice-m1"),
        "--preset",
        "tiny",
        "--seed",
        "7",
        "--train",
        path.join(DATA, "alice-corpus.txt"),
        "--steps",
        BASE_STEPS,
        "--eval",
        path.join(DATA, "elena-eval.txt"),
      ]),
    ]);
    upProc = up;
    expect(up.up.device, "posthuman up reports where its worker runs jobs").to.equal("cpu");
    // She declares the loss she measured on Elena's published set as M1's baseline.
    const measured = ok(created).evaluation.loss;
    s.m1Folder = path.join(tmp, "alice-m1");
    s.baseline = measured;
    provider = new ethers.JsonRpcProvider(up.up.rpc, up.up.chainId, { cacheTimeout: -1, staticNetwork: true });
    const start = await provider.getBlockNumber();
    const vaultsLater: string[] = [];

    // Alice publishes M1.
    const pub = ok(
      await as<{ modelId: string; vault: string }>("alice", [
        "model",
        "publish",
        s.m1Folder,
        "--name",
        "Harbour M1",
        "--price",
        "1",
        "--supply",
        "20",
        "--baseline",
        `posthuman-demo/elena-eval=${measured}`,
        "--dataset",
        path.join(DATA, "alice-corpus.txt"),
      ]),
    );
    expect(pub.modelId).to.equal("1");
    vaultsLater.push(pub.vault);

    // Bob buys M1 datatokens on the exchange and finetunes M1 into M2.
    s.bobBuy = ok(await as<CostJson>("bob", ["buy", "1", "--amount", "2"]));
    s.train2 = ok(
      await as<TrainJson>("bob", [
        "train",
        "1",
        "--data",
        path.join(DATA, "bob-recipes.jsonl"),
        "--steps",
        STEPS,
        "--fee",
        "5",
        "--name",
        "Harbour M2 (recipes)",
        "--description",
        "M1 finetuned on Bob's recipes",
      ]),
    );
    // A verifier with M1's folder (Alice) re-runs every job in another terminal while the story goes on.
    const verifyQueue: Promise<CliRun<VerifyJson>>[] = [];
    let last: Promise<unknown> = Promise.resolve();
    const verifyLater = (jobId: string, input: string) => {
      const p = last.then(() => as<VerifyJson>("alice", ["job", "verify", jobId, "--input", path.join(DATA, input)]));
      last = p;
      verifyQueue.push(p);
    };
    s.missingInput = await as<ErrorJson>("alice", ["job", "verify", s.train2.jobId]);
    verifyLater(s.train2.jobId, "bob-recipes.jsonl");

    // Charlie buys M2 datatokens from Bob and trains M3.
    const listing2 = ok(
      await as<{ listingId: string }>("bob", ["market", "sell", "2", "--amount", "10", "--price", "2"]),
    );
    const listed = ok(await as<{ id: string; seller: string }[]>("charlie", ["market", "list", "--model", "2"]));
    expect(listed.map((l) => l.id)).to.deep.equal([listing2.listingId]);
    // Seconds after its training, M2's receipt may still be challengeable (a 30 s window here): buying then is
    // refused unless the buyer accepts that risk (test/cli/market-unsettled.test.ts); Charlie and Derek accept it.
    const buy = (listing: string, n: string) => ["market", "buy", listing, "--amount", n, "--accept-unsettled"];
    s.charlieFromBob = ok(await as<CostJson>("charlie", buy(listing2.listingId, "3")));
    s.train3 = ok(
      await as<TrainJson>("charlie", [
        "train",
        "2",
        "--data",
        path.join(DATA, "charlie-logbook.txt"),
        "--steps",
        STEPS,
        "--fee",
        "5",
      ]),
    );
    verifyLater(s.train3.jobId, "charlie-logbook.txt");

    // Derek buys M3 datatokens from Charlie and runs inference; without a datatoken of M1 he is told what to do.
    s.noDatatoken = await as<ErrorJson>("derek", ["infer", "1", "--prompt", "Hello"]);
    const listing3 = ok(
      await as<{ listingId: string }>("charlie", ["market", "sell", "3", "--amount", "10", "--price", "3"]),
    );
    s.derekFromCharlie = ok(await as<CostJson>("derek", buy(listing3.listingId, "2")));
    s.infer = ok(
      await as<InferJson>("derek", [
        "infer",
        "3",
        "--prompts",
        path.join(DATA, "derek-prompts.txt"),
        "--max-tokens",
        "16",
      ]),
    );
    verifyLater(s.infer.jobId, "derek-prompts.txt");

    // Elena buys one datatoken of each model and evaluates all three against the declared baseline.
    s.elenaBuy = ok(await as<CostJson>("elena", ["buy", "1", "--amount", "1"]));
    s.elenaFromBob = ok(await as<CostJson>("elena", buy(listing2.listingId, "1")));
    s.elenaFromCharlie = ok(await as<CostJson>("elena", buy(listing3.listingId, "1")));
    // An independent evaluation of M3: the local marketplace's one worker trained it, so nothing is paid.
    s.notIndependent = await as<ErrorJson>("elena", [
      "eval",
      "3",
      "--data",
      path.join(DATA, "elena-eval.txt"),
      "--independent",
    ]);
    s.evals = ok(await as<EvalJson>("elena", ["eval", "1", "2", "3", "--data", path.join(DATA, "elena-eval.txt")]));
    for (const e of s.evals.evaluations) verifyLater(e.jobId, "elena-eval.txt");

    // Derek pays M3 a licence; the contributors claim along the lineage (children's royalties reach parents).
    ok(await as("derek", ["pay", "3", "--amount", "10"]));
    s.lineage = ok(await as<{ tree: TreeJson }>("derek", ["model", "lineage", "3"]));
    s.rewards = {
      charlie: ok(await as<RewardsJson>("charlie", ["rewards", "--claim"])),
      bob: ok(await as<RewardsJson>("bob", ["rewards", "--claim"])),
      alice: ok(await as<RewardsJson>("alice", ["rewards", "--claim"])),
    };
    s.noWorker = await cli<ErrorJson>([
      "--json",
      "--rpc",
      up.up.rpc,
      "--deployment",
      deployment,
      "--worker",
      "http://127.0.0.1:9",
      "--data-dir",
      dirOf("derek"),
      "--account",
      "derek",
      "infer",
      "3",
      "--prompt",
      "Hello",
    ]);

    s.verdicts = await Promise.all(verifyQueue);
    s.mismatch = await as<VerifyJson>("alice", [
      "job",
      "verify",
      s.evals.evaluations[0].jobId,
      "--input",
      path.join(DATA, "charlie-logbook.txt"),
    ]);

    // Balances at one block, before and after the story.
    s.atBlock = await provider.getBlockNumber();
    const registry = ModelRegistry__factory.connect(up.up.contracts.ModelRegistry, provider);
    for (const id of [2n, 3n]) vaultsLater.push((await registry.getModel(id)).vault);
    const who = holders(up.up, vaultsLater);
    s.before = await balancesAt(who, start);
    s.after = await balancesAt(who, s.atBlock);
  });

  after(async () => {
    provider?.destroy();
    await upProc?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("records the lineage M1 → M2 → M3 on chain, with the right contributors", async () => {
    const m1 = s.lineage.tree;
    expect(m1).to.include({ id: "1", owner: address("alice"), generation: 0 });
    const [m2] = m1.children;
    expect(m2).to.include({ id: "2", owner: address("bob"), parentSide: address("alice"), generation: 1 });
    expect(m2.jobId).to.equal(s.train2.jobId);
    const [m3] = m2.children;
    expect(m3).to.include({ id: "3", owner: address("charlie"), parentSide: address("bob"), generation: 2 });
    // Bob named his child when he requested it; Charlie did not name his.
    expect([m1.name, m2.name, m3.name]).to.deep.equal(["Harbour M1", "Harbour M2 (recipes)", "PostHuman model 3"]);
    expect(s.train2).to.include({ name: "Harbour M2 (recipes)", description: "M1 finetuned on Bob's recipes" });
    expect(m3.jobId).to.equal(s.train3.jobId);
    // Vault shares: each model's contributors, and only them.
    const held = (r: RewardsJson) => r.models.filter((m) => BigInt(m.shares) > 0n).map((m) => m.modelId);
    expect(held(s.rewards.alice)).to.deep.equal(["1", "2"]);
    expect(held(s.rewards.bob)).to.deep.equal(["2", "3"]);
    expect(held(s.rewards.charlie)).to.deep.equal(["3"]);
  });

  it("lowers each child's validation loss on its training data below its parent's", () => {
    for (const t of [s.train2, s.train3]) {
      const m = t.receipt.metrics;
      expect(BigInt(m.valLossAfter), `job ${t.jobId}`).to.be.lessThan(BigInt(m.valLossBefore));
    }
  });

  it("verifies every receipt by re-execution, and says so with the exit code", () => {
    const said = s.verdicts
      .map((v) => (v.json?.jobId ? "" : `${v.code}: ${v.stdout.slice(-1500)} ${v.stderr.slice(-1500)}`))
      .join("\n");
    expect(
      s.verdicts.map((v) => v.json?.jobId),
      said,
    ).to.deep.equal(["1", "2", "3", "4", "5", "6"]);
    for (const v of s.verdicts) {
      expect(v.code, v.stderr.slice(-2000)).to.equal(0);
      expect(v.json.verified, `job ${v.json.jobId}`).to.equal(true);
      expect(v.json.checks.map((c) => c.name)).to.include("output hash");
    }
    // A wrong input is the verifier's mistake, not the worker's: refused before any re-run (exit 1), never a
    // MISMATCH that would advise a challenge and lose a bond.
    const wrongInput = s.mismatch as unknown as CliRun<ErrorJson & { error: { code?: string } }>;
    expect(wrongInput.code).to.equal(1);
    expect(wrongInput.json.error.code).to.equal("INPUT_MISSING");
    expect(wrongInput.json.error.message).to.match(/charlie-logbook\.txt is not job \d+'s input/);
    expect(wrongInput.stderr).to.not.match(/re-running job/);
    // Without the input, the verifier is told where it comes from.
    expect(s.missingInput.code).to.equal(1);
    expect(s.missingInput.json.error.hint).to.match(/--input/);
    // The results each requester fetched match their receipts.
    for (const j of [s.train2, s.train3, s.infer]) expect(j.resultVerified).to.equal(true);
    for (const e of s.evals.evaluations) expect(e.resultVerified).to.equal(true);
    expect(s.infer.generations).to.have.length(3);
  });

  it("conserves the base token: what left an account reached another, or a contract that owes it", async () => {
    const up = (upProc as UpProcess).up;
    const d = (a: string) => (s.after.get(a) ?? 0n) - (s.before.get(a) ?? 0n);
    // Nothing appeared or vanished among the holders.
    expect([...s.after.keys()].reduce((acc, a) => acc + d(a), 0n)).to.equal(0n);

    // Each person's change is exactly what their commands said they paid and received.
    const claimed = (p: "alice" | "bob" | "charlie") => BigInt(s.rewards[p].claimedBase);
    const evalFees = s.evals.evaluations.reduce((a, e) => a + BigInt(e.fee), 0n);
    const expected: Record<Person, bigint> = {
      alice: claimed("alice"),
      bob:
        -BigInt(s.bobBuy.cost) -
        BigInt(s.train2.fee) +
        BigInt(s.charlieFromBob.cost) +
        BigInt(s.elenaFromBob.cost) +
        claimed("bob"),
      charlie:
        -BigInt(s.charlieFromBob.cost) -
        BigInt(s.train3.fee) +
        BigInt(s.derekFromCharlie.cost) +
        BigInt(s.elenaFromCharlie.cost) +
        claimed("charlie"),
      derek: -BigInt(s.derekFromCharlie.cost) - BigInt(s.infer.fee) - E("10"),
      elena: -BigInt(s.elenaBuy.cost) - BigInt(s.elenaFromBob.cost) - BigInt(s.elenaFromCharlie.cost) - evalFees,
    };
    for (const p of PEOPLE) expect(d(address(p)), p).to.equal(expected[p]);
    expect(s.elenaFromBob.seller).to.equal(address("bob"));

    // The job market holds the worker's stake and the fees of jobs not settled yet; the worker and the treasury
    // received the fees of settled ones.
    const market = JobMarket__factory.connect(up.contracts.JobMarket, provider);
    const blockTag = s.atBlock;
    let unsettled = 0n;
    let settled = 0n;
    for (let j = 1n; j <= (await market.jobCount({ blockTag })); j++) {
      const job = await market.getJob(j, { blockTag });
      if (Number(job.status) === 5) settled += job.fee;
      else unsettled += job.fee;
    }
    const stake = await market.stakeOf(address("worker"), { blockTag });
    expect(s.after.get(up.contracts.JobMarket)).to.equal(stake.free + stake.locked + stake.unstaking + unsettled);
    expect(d(address("worker")) + d(address("treasury"))).to.equal(settled);

    // The exchange holds Ocean's fees (sales went to M1's vault); the vaults hold what they owe their holders.
    const registry = ModelRegistry__factory.connect(up.contracts.ModelRegistry, provider);
    const fre = FixedRateExchange__factory.connect(up.contracts.FixedRateExchange, provider);
    const m1 = await registry.getModel(1n, { blockTag });
    const fees = await fre.getFeesInfo(m1.exchangeId, { blockTag });
    const ex = await fre.getExchange(m1.exchangeId, { blockTag });
    expect(s.after.get(up.contracts.FixedRateExchange)).to.equal(
      ex.btBalance + fees.oceanFeeAvailable + fees.marketFeeAvailable,
    );
    for (const id of [1n, 2n, 3n]) {
      const vault = RoyaltyVault__factory.connect((await registry.getModel(id, { blockTag })).vault, provider);
      const [owed] = await vault.owed({ blockTag });
      const [pending] = await vault.pending({ blockTag });
      expect(s.after.get(await vault.getAddress()), `vault of model ${id}`).to.equal(owed + pending);
    }
  });

  it("pays M3's revenue to Charlie, Bob and Alice, up the lineage", async () => {
    const up = (upProc as UpProcess).up;
    const config = await ModelRegistry__factory.connect(up.contracts.ModelRegistry, provider).config();
    const bps = BigInt(config.parentRoyaltyBps);
    const trainerBps = BigInt(config.trainerShareBps);
    const fromVault = (p: "alice" | "bob" | "charlie", model: string) =>
      s.rewards[p].claimed.claimed.filter((c) => c.modelId === model).reduce((a, c) => a + BigInt(c.base), 0n);
    const close = (actual: bigint, expected: bigint, what: string) =>
      expect(Number(actual - expected), what).to.be.within(-10, 0); // rounding favours the vault, by wei

    // Derek's 10 OCEAN licence is M3's only base-token revenue, M3's royalty M2's only one.
    const toM2 = (E("10") * bps) / 10_000n;
    const m3Holders = E("10") - toM2;
    close(fromVault("charlie", "3"), (m3Holders * trainerBps) / 10_000n, "Charlie from M3");
    close(fromVault("bob", "3"), m3Holders - (m3Holders * trainerBps) / 10_000n, "Bob from M3");
    const toM1 = (toM2 * bps) / 10_000n;
    const m2Holders = toM2 - toM1;
    close(fromVault("bob", "2"), (m2Holders * trainerBps) / 10_000n, "Bob from M2");
    close(fromVault("alice", "2"), m2Holders - (m2Holders * trainerBps) / 10_000n, "Alice from M2");
    // M1's vault: its exchange sales (Bob's and Elena's purchases, less Ocean's fee) and M2's royalty.
    const sales = BigInt(s.bobBuy.cost) + BigInt(s.elenaBuy.cost);
    const aliceFromM1 = fromVault("alice", "1");
    expect(aliceFromM1).to.be.greaterThan(toM1);
    expect(aliceFromM1).to.be.lessThanOrEqual(sales + toM1);
    for (const p of ["alice", "bob", "charlie"] as const)
      expect(BigInt(s.rewards[p].claimedBase)).to.be.greaterThan(0n);
  });

  it("compares the evaluations with the baseline Alice declared, which the worker reproduces for M1", () => {
    const rows = s.evals.evaluations;
    expect(rows.map((r) => r.modelId)).to.deep.equal(["1", "2", "3"]);
    for (const r of rows) expect(BigInt(r.rootBaseline)).to.equal(toFixedLoss(s.baseline));
    // Alice measured M1 on her machine with the builtin runtime; the worker's evaluation gives the same loss.
    expect(rows[0].loss).to.equal(rows[0].rootBaseline);
    for (const r of rows) expect(Number(r.loss)).to.be.greaterThan(0);
  });

  it("says what to do when a datatoken or the worker is missing, before paying", () => {
    expect(s.noDatatoken.code).to.equal(1);
    expect(s.noDatatoken.json.error.message).to.match(/no datatoken of model 1/);
    expect(s.noDatatoken.json.error.hint).to.contain("posthuman buy 1 --amount 1");
    expect(s.noWorker.code).to.equal(1);
    expect(s.noWorker.json.error.message).to.match(/No worker answers/);
    expect(s.noWorker.json.error.hint).to.match(/npm start/);
    expect(s.notIndependent.code).to.equal(1);
    expect(s.notIndependent.json.error.message).to.match(
      /Nothing was paid: no worker on this chain may take an independent evaluation of model 3/,
    );
    expect(s.notIndependent.json.error.hint).to.match(/evaluate without --independent/);
  });

  it("keeps the worker's log, each job's steps, in the file up names (its terminal shows warnings only)", () => {
    const log = (upProc as UpProcess).up.workerLog;
    expect(log).to.equal(path.join(tmp, "marketplace", "worker", "worker.log"));
    const lines = fs
      .readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string; level: number });
    const msgs = lines.map((l) => l.msg);
    expect(msgs).to.include("executors ready (each kind's receipts name this runtime id)");
    for (const step of ["claimed", "submitted"]) expect(msgs).to.include(`job 1 → ${step}`);
    expect((upProc as UpProcess).stderr()).to.not.match(/"msg":"job 1 → claimed"/);
  });

  it("lists every command in --help", async () => {
    const help = await cli(["--help"]);
    expect(help.code).to.equal(0);
    for (const c of [
      "up",
      "model",
      "buy",
      "send",
      "market",
      "train",
      "infer",
      "eval",
      "job",
      "rewards",
      "stake",
      "demo",
      "worker",
    ])
      expect(help.stdout).to.match(new RegExp(`^  ${c}\\b`, "m"));
  });
});
