/**
 * The adversarial simulation of issue 11 (on-chain part): honest requesters, honest workers and attackers (squatter,
 * trap-setter, griefer, self-challenger, bounty cheat) act at random on the real contracts over real Ocean, and after
 * every step the world checks:
 *   - an honest worker's stake (free + locked + unstaking) never decreases;
 *   - no base token is created or lost (the sum over every account that can hold it is constant);
 *   - a weights root belongs to one model, and a model's datatoken revenue reaches only its own vault;
 * and at the end of each sequence (after honest actors finish every job, the arbiter deciding challenges honestly):
 *   - an honest requester ends each job with a Settled honest receipt, or with everything it paid back.
 * Used by adversarial.test.ts (a bounded number of sequences) and scripts/adversarial.ts (≥ 10,000 of them).
 * Sequences are short and start from one snapshot of the world (evm_snapshot / evm_revert).
 * The honest worker's claim policy here is the on-chain part only (claim what `isSubmittable` says can be finished);
 * the worker's own admission control (offchain/worker) is not exercised.
 */
import { ethers, network } from "hardhat";
import fc from "fast-check";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { oceanFixture } from "../fixtures/ocean";
import { buildPostHuman, M1_WEIGHTS_ROOT, M1_BENCHMARK, type PostHumanFixture } from "../fixtures/posthuman";
import { JobStatus, ONE_DATATOKEN, toFixedLoss } from "../../offchain/protocol/params";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { publishParams } from "../../offchain/protocol/structs";
import { commitWeightsRoot, deployFinetuneBounty } from "../../offchain/deploy/posthuman";
import { inputAckDomain, signInputAck } from "../../offchain/protocol/input-ack";
import { SimulationProbe__factory, type FinetuneBounty, type SimulationProbe } from "../../typechain-types";
import { FEE, INPUT_HASH, PARAMS, buyM1, receiptFor, trainChild, trainReceiptFor } from "./helpers";

const HONEST_OUTPUT = ethers.id("honest output");
const BOGUS_OUTPUT = ethers.id("bogus output");
const MAX = ethers.MaxUint256;
/**
 * Fixed gas and fee fields spare every transaction its estimation and fee look-ups (most of the simulation's time);
 * with automining, a revert still throws at sending.
 */
const GAS = { gasLimit: 6_000_000, maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1n };

export type Action =
  | { t: "request"; who: number; model: number; train: boolean; fee: number }
  | { t: "griefRequest"; model: number }
  | { t: "claim"; w: number; job: number }
  | { t: "work"; w: number }
  | { t: "griefFail"; job: number; reason: number; acks: boolean }
  | { t: "cheat"; job: number; selfChallenge: boolean }
  | { t: "squat"; child: boolean }
  | { t: "trap" }
  | { t: "bountyCheat"; selfEval: boolean }
  | { t: "guard" }
  | { t: "wait"; seconds: number };

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("request" as const),
      who: fc.nat(1),
      model: fc.nat(3),
      train: fc.boolean(),
      fee: fc.integer({ min: 1, max: 20 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("griefRequest" as const), model: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("claim" as const), w: fc.nat(1), job: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("work" as const), w: fc.nat(1) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("griefFail" as const),
      job: fc.nat(20),
      reason: fc.constantFrom(1, 11, 3, 25),
      acks: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("cheat" as const), job: fc.nat(20), selfChallenge: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("squat" as const), child: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("trap" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("bountyCheat" as const), selfEval: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("guard" as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("wait" as const), seconds: fc.integer({ min: 1, max: 1_500 }) }) },
);

/** A short sequence: 3 to 8 actions. */
export const sequenceArb = fc.array(actionArb, { minLength: 3, maxLength: 8 });

interface JobNote {
  requester: string;
  honest: boolean;
  /** The requester delivered its input (griefers never do). */
  delivered: boolean;
  /** The claimant's signed InputReceived acknowledgement, if it gave one. */
  ack?: string;
  bogus: boolean;
}

/** The world every sequence starts from; see `buildWorld`. */
export interface World extends PostHumanFixture {
  bounty: FinetuneBounty;
  /** M2 (depth 1, child of M1) and M3 (depth 2 = maxDepth). */
  m2: bigint;
  m3: bigint;
  /** A fabricated child of M1 trained by the cheat for itself, settled. */
  fake: bigint;
  honestRequesters: HardhatEthersSigner[];
  honestWorkers: HardhatEthersSigner[];
  griefer: HardhatEthersSigner;
  cheat: HardhatEthersSigner;
  accomplice: HardhatEthersSigner;
  /** Every account that can hold base token in a sequence. */
  holders: string[];
  total: bigint;
  probe: SimulationProbe;
  /** Datatoken and vault of each model that exists before a sequence starts. */
  assets: Map<bigint, { datatoken: string; vault: string }>;
  snapshot: string;
  /** Timestamp of the snapshot's last block. */
  startedAt: number;
}

export async function buildWorld(): Promise<World> {
  const f = await buildPostHuman(await oceanFixture(), {
    maxDepth: 2,
    challengeWindow: 600,
    arbitrationWindow: 1_200,
    unstakeDelay: 900,
  });
  const [griefer, cheat, accomplice] = [f.others[1], f.others[2], f.others[3]];
  const market = await f.ph.jobMarket.getAddress();
  for (const w of [griefer, cheat]) {
    await (await f.ocean.oceanToken.connect(w).approve(market, MAX)).wait();
    await (await f.ph.jobMarket.connect(w).stake(ethers.parseEther("1000"))).wait();
  }
  const win = f.params.challengeWindow + 1;
  const m1 = f.m1.modelId;
  const { childId: m2, jobId: j2 } = await trainChild(f, f.bob, m1, M1_WEIGHTS_ROOT, ethers.id("M2"));
  const { childId: m3, jobId: j3 } = await trainChild(f, f.charlie, m2, ethers.id("M2"), ethers.id("M3"));
  const { childId: fake, jobId: jf } = await trainChild(f, cheat, m1, M1_WEIGHTS_ROOT, ethers.id("fake"), cheat);
  await network.provider.send("evm_increaseTime", [win]);
  for (const j of [j2, j3, jf]) await (await f.ph.jobMarket.settleJob(j)).wait();
  const bounty = await deployFinetuneBounty(f.alice, market, {
    baseModelId: m1,
    maxGenerations: 2,
    datasetHash: INPUT_HASH,
    datasetURI: "",
    benchmarkId: M1_BENCHMARK,
    contextLength: 64,
    maxTokens: 4_096,
    targetLoss: toFixedLoss(3),
    reward: ethers.parseEther("50"),
    evalFee: ethers.parseEther("1"),
    callbackGasLimit: 300_000,
    callbackFee: ethers.parseEther("0.1"),
    evalLease: 3_000, // as every job here: finish() passes every deadline
    expiresAt: Math.floor(Date.now() / 1000) + 10 * 365 * 86_400,
  });
  const bountyAddress = await bounty.getAddress();
  await (await f.ocean.oceanToken.connect(f.alice).transfer(bountyAddress, ethers.parseEther("50"))).wait();
  // Everyone holds datatokens of every model and approves the market (and the bounty) once.
  await buyM1(f, f.alice, ethers.parseEther("60"));
  const people = [f.bob, f.charlie, f.elena, f.derek, griefer, cheat, accomplice, f.alice];
  for (const id of [m1, m2, m3, fake]) {
    const model = await f.ph.registry.getModel(id);
    const owner = [f.alice, f.bob, f.charlie, cheat].find((s) => s.address === model.owner) ?? f.alice;
    const dt = datatokenAt(model.datatoken, owner);
    for (const p of people) {
      if (p.address !== owner.address) await (await dt.transfer(p.address, ethers.parseEther("5"))).wait();
      await (await datatokenAt(model.datatoken, p).approve(market, MAX)).wait();
      await (await datatokenAt(model.datatoken, p).approve(bountyAddress, MAX)).wait();
    }
  }
  for (const p of [...people, f.worker, f.worker2]) {
    await (await f.ocean.oceanToken.connect(p).approve(market, MAX)).wait();
    await (await f.ocean.oceanToken.connect(p).approve(bountyAddress, MAX)).wait();
  }
  const holders = [
    ...people.map((p) => p.address),
    f.worker.address,
    f.worker2.address,
    f.treasury.address,
    f.arbiter.address,
    f.deployer.address,
    market,
    bountyAddress,
  ];
  const probe = await new SimulationProbe__factory(f.deployer).deploy();
  const total = await probe.totalOf(f.ocean.addresses.OceanToken, holders);
  const assets = new Map<bigint, { datatoken: string; vault: string }>();
  for (const id of [m1, m2, m3, fake]) {
    const model = await f.ph.registry.getModel(id);
    assets.set(id, { datatoken: model.datatoken, vault: model.vault });
  }
  const snapshot = (await network.provider.send("evm_snapshot", [])) as string;
  const startedAt = (await ethers.provider.getBlock("latest"))!.timestamp;
  return {
    ...f,
    bounty,
    m2,
    m3,
    fake,
    honestRequesters: [f.bob, f.charlie],
    honestWorkers: [f.worker, f.worker2],
    griefer,
    cheat,
    accomplice,
    holders,
    total,
    probe,
    assets,
    snapshot,
    startedAt,
  };
}

export interface SequenceResult {
  violations: string[];
}

/** Runs one sequence from the world's snapshot and returns the invariants it broke (none, we hope). */
export async function runSequence(w: World, actions: Action[]): Promise<SequenceResult> {
  await network.provider.send("evm_revert", [w.snapshot]);
  w.snapshot = (await network.provider.send("evm_snapshot", [])) as string;
  // The reverted chain's last block is as old as the snapshot, but Hardhat stamps new blocks with the wall clock: pin
  // the next block right after the snapshot's, so deadlines computed from "latest" mean the same in every sequence.
  await network.provider.send("evm_setNextBlockTimestamp", [w.startedAt + 1]);
  await network.provider.send("evm_mine", []);
  const run = new Sequence(w);
  await run.start();
  for (const a of actions) {
    await run.act(a);
    await run.watch();
    await run.checkStep(a.t);
  }
  await run.finish();
  await run.checkStep("finish");
  await run.checkEnd();
  return { violations: run.violations };
}

class Sequence {
  readonly violations: string[] = [];
  private readonly notes = new Map<bigint, JobNote>();
  private stakes = new Map<string, bigint>();
  private startBase = new Map<string, bigint>();
  private startDt = new Map<string, bigint>();
  private startVaultDt = new Map<bigint, bigint>();
  private children = 0;
  private domain: Awaited<ReturnType<typeof inputAckDomain>> | undefined;

  constructor(private readonly w: World) {}

  private get m() {
    return this.w.ph.jobMarket;
  }

  async start(): Promise<void> {
    const { chainId } = await ethers.provider.getNetwork();
    this.domain = inputAckDomain(chainId, await this.m.getAddress());
    const workers = this.w.honestWorkers.map((h) => h.address);
    const stakes = await this.w.probe.stakesOf(this.m, workers);
    workers.forEach((a, i) => this.stakes.set(a, stakes[i]));
    for (const r of this.w.honestRequesters) {
      this.startBase.set(r.address, await this.w.ocean.oceanToken.balanceOf(r.address));
    }
    for (const [id, { datatoken, vault }] of this.w.assets) {
      this.startVaultDt.set(id, await datatokenAt(datatoken, this.w.deployer).balanceOf(vault));
    }
  }

  private models(): bigint[] {
    return [this.w.m1.modelId, this.w.m2, this.w.m3];
  }

  private async dtBalance(modelId: bigint, who: string): Promise<bigint> {
    const known = this.w.assets.get(modelId)?.datatoken;
    const datatoken = known ?? (await this.w.ph.registry.getModel(modelId)).datatoken;
    return datatokenAt(datatoken, this.w.deployer).balanceOf(who);
  }

  /** Sends a transaction; a revert is part of the game (an attack refused), anything else is a harness bug. */
  private async send(tx: () => Promise<unknown>): Promise<boolean> {
    try {
      // Automining: the transaction is mined (or has reverted) when sending returns.
      await tx();
      return true;
    } catch (e) {
      const msg = String((e as Error).message ?? e);
      if (process.env.ADVERSARIAL_DEBUG) console.log(`  reverted: ${msg.split("\n")[0]}`);
      if (/revert|VM Exception/i.test(msg)) return false;
      throw e;
    }
  }

  /** The noted jobs now in one of `statuses`, read in one call. */
  private async jobs(statuses: number[]): Promise<bigint[]> {
    const ids = [...this.notes.keys()];
    if (!ids.length) return [];
    const now = await this.w.probe.statusesOf(this.m, ids);
    return ids.filter((_, i) => statuses.includes(Number(now[i])));
  }

  private async request(who: HardhatEthersSigner, modelId: bigint, train: boolean, fee: bigint, note: JobNote) {
    const kind = train ? "Train" : "Infer";
    const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp + 3_000);
    const req = {
      modelId,
      kind: train ? 0 : 1,
      inputHash: INPUT_HASH,
      inputURI: "",
      fee,
      deadline,
      params: PARAMS[kind],
    };
    if (await this.send(() => this.m.connect(who).requestJob(req, GAS))) this.notes.set(await this.m.jobCount(), note);
  }

  async act(a: Action): Promise<void> {
    const w = this.w;
    const models = this.models();
    switch (a.t) {
      case "request": {
        // Model 3 is the newest model, perhaps a child the trap-setter is about to get frozen.
        const who = w.honestRequesters[a.who];
        const modelId = a.model < 3 ? models[a.model] : await w.ph.registry.modelCount();
        const key = `${who.address}/${modelId}`;
        if (!this.startDt.has(key)) this.startDt.set(key, await this.dtBalance(modelId, who.address));
        const note = { requester: who.address, honest: true, delivered: true, bogus: false };
        return this.request(who, modelId, a.train, ethers.parseEther(String(a.fee)), note);
      }
      case "griefRequest":
        // The trap-setter requests and never delivers the input.
        return this.request(w.elena, models[a.model], false, FEE, {
          requester: w.elena.address,
          honest: false,
          delivered: false,
          bogus: false,
        });
      case "claim": {
        // Honest claim policy (on-chain part): claim only what can still be submitted.
        const open = await this.jobs([JobStatus.Open]);
        if (!open.length) return;
        const id = open[a.job % open.length];
        if (await this.m.isSubmittable(id))
          await this.send(() => this.m.connect(w.honestWorkers[a.w]).claimJob(id, GAS));
        return;
      }
      case "work":
        return this.work(w.honestWorkers[a.w]);
      case "griefFail": {
        // The griefer claims any open job and fails it at once; its API signed the input's ack or not.
        const open = await this.jobs([JobStatus.Open]);
        if (!open.length) return;
        const id = open[a.job % open.length];
        if (!(await this.send(() => this.m.connect(w.griefer).claimJob(id, GAS)))) return;
        const note = this.notes.get(id)!;
        if (a.acks && note.delivered) note.ack = await signInputAck(w.griefer, this.domain!, id, INPUT_HASH);
        await this.send(() => this.m.connect(w.griefer).failJob(id, a.reason, GAS));
        return;
      }
      case "cheat": {
        // The cheat claims a job, submits a bogus receipt, tries to challenge it itself, then its accomplice does.
        const open = await this.jobs([JobStatus.Open]);
        if (!open.length) return;
        const id = open[a.job % open.length];
        if (!(await this.send(() => this.m.connect(w.cheat).claimJob(id, GAS)))) return;
        const j = await this.m.getJob(id);
        const root = (await w.ph.registry.getModel(j.modelId)).weightsRoot;
        const bogusChild = ethers.id(`bogus child ${++this.children}`);
        if (j.kind === 0n) await commitWeightsRoot(w.ph.registry, w.cheat, bogusChild);
        const bogus =
          j.kind === 0n
            ? receiptFor({ ...trainReceiptFor(root, bogusChild), outputHash: BOGUS_OUTPUT })
            : receiptFor({ servedWeightsRoot: root, outputHash: BOGUS_OUTPUT });
        if (!(await this.send(() => this.m.connect(w.cheat).submitReceipt(id, bogus, GAS)))) return;
        this.notes.get(id)!.bogus = true;
        if (a.selfChallenge) await this.send(() => this.m.connect(w.cheat).challengeReceipt(id, GAS));
        await this.send(() => this.m.connect(w.accomplice).challengeReceipt(id, GAS));
        return;
      }
      case "squat": {
        if (!a.child) {
          const p = publishParams({
            name: "Clone",
            symbol: "CL",
            weightsRoot: M1_WEIGHTS_ROOT,
            pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
            initialSupply: ethers.parseEther("100"),
          });
          await commitWeightsRoot(w.ph.registry, w.derek, M1_WEIGHTS_ROOT);
          await this.send(() => w.ph.registry.connect(w.derek).publishModel(p, GAS));
          return;
        }
        // A self-job whose "child" copies M1's root; the cheat then gives the job up (its own fault).
        await this.request(w.cheat, w.m1.modelId, true, 1n, {
          requester: w.cheat.address,
          honest: false,
          delivered: true,
          bogus: false,
        });
        const id = await this.m.jobCount();
        if (!(await this.send(() => this.m.connect(w.cheat).claimJob(id, GAS)))) return;
        await commitWeightsRoot(w.ph.registry, w.cheat, M1_WEIGHTS_ROOT);
        await this.send(() =>
          this.m.connect(w.cheat).submitReceipt(id, receiptFor(trainReceiptFor(M1_WEIGHTS_ROOT, M1_WEIGHTS_ROOT))),
        );
        await this.send(() => this.m.connect(w.cheat).failJob(id, 25, GAS));
        return;
      }
      case "trap": {
        // Train on the deepest model (refused), then a bogus child of M2 that the trap-setter itself gets frozen.
        await this.request(w.elena, w.m3, true, FEE, {
          requester: w.elena.address,
          honest: false,
          delivered: true,
          bogus: false,
        });
        await this.request(w.elena, w.m2, true, 1n, {
          requester: w.elena.address,
          honest: false,
          delivered: true,
          bogus: true,
        });
        const id = await this.m.jobCount();
        if (!(await this.send(() => this.m.connect(w.cheat).claimJob(id, GAS)))) return;
        const trapChild = ethers.id(`trap child ${++this.children}`);
        await commitWeightsRoot(w.ph.registry, w.cheat, trapChild);
        const child = receiptFor(trainReceiptFor(ethers.id("M2"), trapChild));
        await this.send(() => this.m.connect(w.cheat).submitReceipt(id, child, GAS));
        await this.send(() => this.m.connect(w.elena).challengeReceipt(id, GAS));
        return;
      }
      case "bountyCheat": {
        const jobId = (await this.m.jobCount()) + 1n;
        if (!(await this.send(() => w.bounty.connect(w.cheat).enter(w.fake, GAS)))) return;
        const note = { requester: await w.bounty.getAddress(), honest: false, delivered: true, bogus: false };
        this.notes.set(jobId, note);
        // The cheat's own claim is refused (the bounty's evaluations are independent): an honest worker may take it.
        const evaluator = a.selfEval ? w.cheat : w.griefer;
        if (!(await this.send(() => this.m.connect(evaluator).claimJob(jobId, GAS)))) return;
        const lie = receiptFor({
          servedWeightsRoot: ethers.id("fake"),
          outputHash: BOGUS_OUTPUT,
          metrics: { evalLoss: 1n, evalTokens: 1n },
        });
        if (await this.send(() => this.m.connect(evaluator).submitReceipt(jobId, lie, GAS))) note.bogus = true;
        return;
      }
      case "guard":
        return this.guard();
      case "wait":
        await network.provider.send("evm_increaseTime", [a.seconds]);
        await network.provider.send("evm_mine", []);
        return;
    }
  }

  /** An honest worker's pipeline: submit honest receipts, fail what the requester's input or the chain made impossible. */
  private async work(worker: HardhatEthersSigner): Promise<void> {
    for (const id of await this.jobs([JobStatus.Claimed])) {
      const j = await this.m.getJob(id);
      if (j.worker !== worker.address) continue;
      const note = this.notes.get(id)!;
      if (!(await this.m.isSubmittable(id))) {
        await this.send(() => this.m.connect(worker).failJob(id, 4, GAS));
        continue;
      }
      if (!note.delivered) {
        await this.send(() => this.m.connect(worker).failJob(id, 1, GAS));
        continue;
      }
      note.ack = await signInputAck(worker, this.domain!, id, INPUT_HASH);
      const root = (await this.w.ph.registry.getModel(j.modelId)).weightsRoot;
      const honestChild = ethers.id(`honest child ${++this.children}`);
      if (j.kind === 0n) await commitWeightsRoot(this.w.ph.registry, worker, honestChild);
      const receipt =
        j.kind === 0n
          ? receiptFor({ ...trainReceiptFor(root, honestChild), outputHash: HONEST_OUTPUT })
          : receiptFor({
              servedWeightsRoot: root,
              outputHash: HONEST_OUTPUT,
              // What an honest evaluation of the simulation's models finds: an untrained model's loss (the fake included).
              metrics: j.kind === 2n ? { evalLoss: toFixedLoss(10.8), evalTokens: 4_096n } : undefined,
            });
      await this.send(() => this.m.connect(worker).submitReceipt(id, receipt, GAS));
    }
  }

  /**
   * What live honest parties do after every step: requesters challenge (or join) bogus receipts of their jobs, the
   * sponsor those of the bounty's evaluations, and dispute failures they hold an ack for; the arbiter decides every
   * challenge by the truth.
   */
  async watch(): Promise<void> {
    const w = this.w;
    const m = this.m;
    for (const id of await this.jobs([JobStatus.Submitted, JobStatus.Challenged])) {
      const note = this.notes.get(id)!;
      if (!note.bogus) continue;
      const requester = w.honestRequesters.find((r) => r.address === note.requester);
      if (requester) await this.send(() => m.connect(requester).challengeReceipt(id, GAS));
      else if (note.requester === (await w.bounty.getAddress()))
        await this.send(() => w.bounty.connect(w.alice).challenge(id, GAS));
    }
    for (const id of await this.jobs([JobStatus.Challenged])) {
      await this.send(() => m.connect(w.arbiter).resolveChallenge(id, this.notes.get(id)!.bogus, GAS));
    }
    for (const id of await this.jobs([JobStatus.Failed])) {
      const note = this.notes.get(id)!;
      if (note.ack && (await m.failureOf(id)).collateralHeld)
        await this.send(() => m.connect(w.bob).disputeFailure(id, note.ack!, GAS));
    }
  }

  /** What anyone may do: settle, reclaim and release what is due. */
  private async guard(): Promise<void> {
    const m = this.m;
    for (const id of await this.jobs([JobStatus.Submitted, JobStatus.Challenged]))
      await this.send(() => m.settleJob(id, GAS));
    for (const id of await this.jobs([JobStatus.Open, JobStatus.Claimed])) await this.send(() => m.reclaimJob(id, GAS));
    for (const id of await this.jobs([JobStatus.Failed])) await this.send(() => m.releaseFailureCollateral(id, GAS));
  }

  /**
   * Lets every job end: honest workers submit, the watchers act (challenges are decided at once), then time passes
   * every deadline and window and anyone settles, reclaims and releases what is due.
   */
  async finish(): Promise<void> {
    for (const worker of this.w.honestWorkers) await this.work(worker);
    await this.watch();
    await network.provider.send("evm_increaseTime", [3_100]);
    await network.provider.send("evm_mine", []);
    await this.guard();
  }

  async checkStep(step: string): Promise<void> {
    const workers = this.w.honestWorkers.map((h) => h.address);
    const stakes = await this.w.probe.stakesOf(this.m, workers);
    workers.forEach((a, i) => {
      const before = this.stakes.get(a)!;
      if (stakes[i] < before) this.violations.push(`${step}: honest worker ${a} stake fell ${before} → ${stakes[i]}`);
      this.stakes.set(a, stakes[i]);
    });
    const total = await this.w.probe.totalOf(this.w.ocean.addresses.OceanToken, this.w.holders);
    if (total !== this.w.total) this.violations.push(`${step}: base token total ${this.w.total} → ${total}`);
  }

  async checkEnd(): Promise<void> {
    const w = this.w;
    const m = this.m;
    // Every honest requester's job: Settled with the honest receipt, or everything paid back.
    const settledFees = new Map<string, bigint>();
    const settledOn = new Map<string, bigint>();
    for (const [id, note] of this.notes) {
      const j = await m.getJob(id);
      const status = Number(j.status);
      if ([JobStatus.Open, JobStatus.Claimed, JobStatus.Submitted, JobStatus.Challenged].includes(status as never)) {
        this.violations.push(`job ${id} did not end (status ${status})`);
      }
      if (status === JobStatus.Settled) {
        const key = `${j.modelId}`;
        settledOn.set(key, (settledOn.get(key) ?? 0n) + 1n);
      }
      if (!note.honest) continue;
      if (status === JobStatus.Settled) {
        if (note.bogus) this.violations.push(`honest requester's job ${id} settled a bogus receipt`);
        settledFees.set(note.requester, (settledFees.get(note.requester) ?? 0n) + j.fee);
        settledOn.set(`${note.requester}/${j.modelId}`, (settledOn.get(`${note.requester}/${j.modelId}`) ?? 0n) + 1n);
      }
    }
    for (const r of w.honestRequesters) {
      const base = await w.ocean.oceanToken.balanceOf(r.address);
      const floor = this.startBase.get(r.address)! - (settledFees.get(r.address) ?? 0n);
      if (base < floor) this.violations.push(`honest requester ${r.address} lost base token: ${base} < ${floor}`);
    }
    for (const [key, start] of this.startDt) {
      const [who, id] = key.split("/");
      const dt = await this.dtBalance(BigInt(id), who);
      const used = (settledOn.get(key) ?? 0n) * ONE_DATATOKEN;
      if (dt !== start - used)
        this.violations.push(`honest requester ${who} datatokens of ${id}: ${dt} ≠ ${start} − ${used}`);
    }
    // A weights root belongs to one model; a model's orders reach only its own vault.
    const count = await w.ph.registry.modelCount();
    for (let id = 1n; id <= count; id++) {
      const model = await w.ph.registry.getModel(id);
      if ((await w.ph.registry.modelOfWeightsRoot(model.weightsRoot)) !== id)
        this.violations.push(`root of ${id} is not its own`);
      const vaultDt = await datatokenAt(model.datatoken, w.deployer).balanceOf(model.vault);
      const orders = ((settledOn.get(`${id}`) ?? 0n) * 97n * ONE_DATATOKEN) / 100n;
      const expected = (this.startVaultDt.get(id) ?? 0n) + orders;
      if (vaultDt !== expected)
        this.violations.push(`vault of ${id} holds ${vaultDt} datatokens, its orders say ${expected}`);
    }
    // The bounty never paid a cheat.
    if ((await w.ocean.oceanToken.balanceOf(await w.bounty.getAddress())) < ethers.parseEther("50")) {
      this.violations.push("the bounty paid a fabricated model");
    }
  }
}
