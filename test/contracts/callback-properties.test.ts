/**
 * Property-based test of callbacks: fast-check drives random sequences of job actions where most jobs are requested
 * by two consumer contracts with callbacks (random gas limits and callback fees) whose hooks randomly record, revert,
 * burn all their gas, re-enter the market or revert with a huge payload, next to plain jobs. After every step:
 *  - every base-token movement is exactly what the action owes, callback fee shares included (nobody is paid twice,
 *    a hook never moves money);
 *  - the job market holds exactly the fees and callback fees of live jobs + all stakes + live bonds;
 *  - a job in a terminal state never leaves it; a hook that failed is recorded in `callbackOf(jobId).failedStages`.
 * At the end every job is driven to a terminal state: only stakes remain in the market.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import fc from "fast-check";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";
import { oceanFixture } from "../fixtures/ocean";
import { buildPostHuman } from "../fixtures/posthuman";
import { JobStatus, ONE_DATATOKEN, TERMINAL_STATUSES, type JobKindName } from "../../offchain/protocol/params";
import {
  callbackDeliveries,
  callbackFailed,
  callbackShares,
  jobCallback,
  jobRequest,
} from "../../offchain/protocol/structs";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { CallbackConsumerMock__factory, type CallbackConsumerMock } from "../../typechain-types";
import { INPUT_HASH, PARAMS, buyM1, receiptFor } from "./helpers";
import { Mode, meteredShare } from "./callback-helpers";

interface Metered {
  caller: string;
  requester: string;
  share: bigint;
}

const LIVE = [JobStatus.Open, JobStatus.Claimed, JobStatus.Submitted, JobStatus.Challenged] as number[];
const KINDS: JobKindName[] = ["Infer", "Evaluate"];
const MODES = [Mode.Record, Mode.Revert, Mode.BurnAllGas, Mode.Reenter, Mode.RevertBomb];

async function callbackPropertyFixture() {
  const base = await loadFixture(oceanFixture);
  const f = await buildPostHuman(base, { challengeWindow: 300, arbitrationWindow: 900 });
  const market = await f.ph.jobMarket.getAddress();
  await buyM1(f, f.alice, ethers.parseEther("30"));
  const consumers: CallbackConsumerMock[] = [];
  for (let i = 0; i < 2; i++) {
    const c = await new CallbackConsumerMock__factory(f.deployer).deploy(market);
    await (
      await f.ocean.oceanToken.connect(f.charlie).transfer(await c.getAddress(), ethers.parseEther("2000"))
    ).wait();
    await (await datatokenAt(f.m1.datatoken, f.alice).transfer(await c.getAddress(), ethers.parseEther("10"))).wait();
    consumers.push(c);
  }
  await (await datatokenAt(f.m1.datatoken, f.alice).transfer(f.bob.address, ethers.parseEther("10"))).wait();
  return { ...f, consumers };
}
type Fixture = Awaited<ReturnType<typeof callbackPropertyFixture>>;

type Action =
  | { t: "request"; who: number; kind: number; fee: number; cbFee: number; gas: number; lease: number }
  | { t: "modes"; who: number; onReceipt: number; onOutcome: number }
  | { t: "claim"; job: number; w: number }
  | { t: "submit"; job: number }
  | { t: "settle"; job: number; by: number }
  | { t: "fail"; job: number }
  | { t: "reclaim"; job: number; by: number }
  | { t: "cancel"; job: number }
  | { t: "challenge"; job: number }
  | { t: "resolve"; job: number; upheld: boolean }
  | { t: "wait"; seconds: number };

const job = fc.nat({ max: 40 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("request" as const),
      who: fc.nat({ max: 2 }),
      kind: fc.nat({ max: 1 }),
      fee: fc.integer({ min: 1, max: 20 }),
      cbFee: fc.integer({ min: 0, max: 999 }),
      gas: fc.constantFrom(60_000, 300_000, 1_000_000),
      lease: fc.integer({ min: 1_200, max: 3_000 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("modes" as const),
      who: fc.nat({ max: 1 }),
      onReceipt: fc.nat({ max: MODES.length - 1 }),
      onOutcome: fc.nat({ max: MODES.length - 1 }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("claim" as const), job, w: fc.nat({ max: 1 }) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("submit" as const), job }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("settle" as const), job, by: fc.nat({ max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("fail" as const), job }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("reclaim" as const), job, by: fc.nat({ max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cancel" as const), job }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("challenge" as const), job }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("resolve" as const), job, upheld: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("wait" as const), seconds: fc.integer({ min: 1, max: 700 }) }) },
);

type Ledger = Map<string, bigint>;
const credit = (l: Ledger, who: string, amount: bigint) => l.set(who, (l.get(who) ?? 0n) + amount);

class Harness {
  readonly terminal = new Map<bigint, bigint>();
  readonly workers: HardhatEthersSigner[];
  /** Who may settle or reclaim: a worker, a stranger, the treasury. */
  readonly actors: HardhatEthersSigner[];

  constructor(readonly f: Fixture) {
    this.workers = [f.worker, f.worker2];
    this.actors = [f.worker, f.derek, f.treasury];
  }

  get m() {
    return this.f.ph.jobMarket;
  }

  async tracked(): Promise<string[]> {
    const f = this.f;
    return [
      ...(await Promise.all(f.consumers.map((c) => c.getAddress()))),
      f.bob.address,
      f.worker.address,
      f.worker2.address,
      f.derek.address,
      f.treasury.address,
      f.arbiter.address,
      f.elena.address,
      await this.m.getAddress(),
    ];
  }

  async balances(addresses: string[]): Promise<Ledger> {
    const l: Ledger = new Map();
    for (const a of addresses) l.set(a, await this.f.ocean.oceanToken.balanceOf(a));
    return l;
  }

  /** The last mined transaction's receipt, to check what it delivered. */
  last: ContractTransactionReceipt | null = null;
  /**
   * The outcome share of a transition that does not settle: its caller is paid the gas its delivery used (known once
   * mined), the requester the rest.
   */
  metered: Metered | null = null;

  async attempt(send: () => Promise<ContractTransactionResponse>): Promise<boolean> {
    this.last = null;
    try {
      this.last = await (await send()).wait();
      return true;
    } catch (e) {
      expect(String(e), "a revert must never be a panic").not.to.match(/panic code/);
      return false;
    }
  }

  /** Every delivery of the last transaction is recorded: a failed hook sets its stage's bit, a successful one not. */
  async checkDeliveries(): Promise<void> {
    if (!this.last) return;
    for (const d of callbackDeliveries(this.m, this.last)) {
      const { failedStages } = await this.m.callbackOf(d.jobId);
      expect(callbackFailed(failedStages, d.stage), `job ${d.jobId} stage ${d.stage}`).to.equal(!d.success);
    }
  }

  /** A job in one of `statuses` picked by `i`, or undefined. */
  async pick(i: number, statuses: number[]) {
    const n = await this.m.jobCount();
    const ids: bigint[] = [];
    for (let id = 1n; id <= n; id++) if (statuses.includes(Number((await this.m.getJob(id)).status))) ids.push(id);
    if (!ids.length) return undefined;
    const id = ids[i % ids.length];
    return { id, j: await this.m.getJob(id), cb: await this.m.callbackOf(id) };
  }

  async run(a: Action): Promise<{ ok: boolean; expected: Ledger }> {
    const f = this.f;
    const m = this.m;
    const market = await m.getAddress();
    const cfg = await m.config();
    const expected: Ledger = new Map();
    const worker = (address: string) => this.workers.find((w) => w.address === address) ?? f.worker;
    const shares = (cb: { fee: bigint; gasLimit: bigint }) =>
      cb.gasLimit === 0n ? { receiptShare: 0n, outcomeShare: 0n } : callbackShares(cb.fee);
    switch (a.t) {
      case "request": {
        const kind = KINDS[a.kind];
        const fee = ethers.parseEther(String(a.fee));
        // At least the price of two deliveries of the gas asked for, and a random tip above it.
        const cbFee = BigInt(a.cbFee) * 10n ** 15n + 2n * BigInt(a.gas) * cfg.callbackGasPrice;
        const req = jobRequest({
          modelId: f.m1.modelId,
          kind,
          inputHash: INPUT_HASH,
          fee,
          deadline: BigInt((await time.latest()) + a.lease),
          params: PARAMS[kind],
        });
        if (a.who === 2) {
          await (await datatokenAt(f.m1.datatoken, f.bob).approve(market, ONE_DATATOKEN)).wait();
          await (await f.ocean.oceanToken.connect(f.bob).approve(market, fee)).wait();
          credit(expected, f.bob.address, -fee);
          credit(expected, market, fee);
          return { ok: await this.attempt(() => m.connect(f.bob).requestJob(req)), expected };
        }
        const c = f.consumers[a.who];
        credit(expected, await c.getAddress(), -(fee + cbFee));
        credit(expected, market, fee + cbFee);
        const cb = jobCallback({ gasLimit: a.gas, fee: cbFee });
        return { ok: await this.attempt(() => c.request(req, cb, f.m1.datatoken)), expected };
      }
      case "modes": {
        await (await f.consumers[a.who].setModes(MODES[a.onReceipt], MODES[a.onOutcome])).wait();
        // A re-entering hook tries to settle job 1 (or anything: the guard refuses every write).
        await (await f.consumers[a.who].setReentry(m.interface.encodeFunctionData("settleJob", [1n]))).wait();
        return { ok: true, expected };
      }
      case "claim": {
        const x = await this.pick(a.job, [JobStatus.Open]);
        if (!x) return { ok: false, expected };
        return { ok: await this.attempt(() => m.connect(this.workers[a.w]).claimJob(x.id)), expected };
      }
      case "submit": {
        const x = await this.pick(a.job, [JobStatus.Claimed]);
        if (!x) return { ok: false, expected };
        return {
          ok: await this.attempt(() => m.connect(worker(x.j.worker)).submitReceipt(x.id, receiptFor())),
          expected,
        };
      }
      case "settle": {
        const x = await this.pick(a.job, [JobStatus.Submitted, JobStatus.Challenged]);
        if (!x) return { ok: false, expected };
        const by = this.actors[a.by];
        const { receiptShare, outcomeShare } = shares(x.cb);
        const pf = (x.j.fee * cfg.protocolFeeBps) / 10_000n;
        credit(expected, x.j.worker, x.j.fee - pf + receiptShare);
        credit(expected, by.address, outcomeShare);
        credit(expected, cfg.treasury, pf);
        credit(expected, market, -(x.j.fee + x.cb.fee));
        if (Number(x.j.status) === JobStatus.Challenged) {
          // A lapsed challenge costs its bond: it goes to the worker.
          credit(expected, x.j.worker, cfg.challengeBond);
          credit(expected, market, -cfg.challengeBond);
        }
        return { ok: await this.attempt(() => m.connect(by).settleJob(x.id)), expected };
      }
      case "fail": {
        const x = await this.pick(a.job, [JobStatus.Claimed]);
        if (!x) return { ok: false, expected };
        const { receiptShare, outcomeShare } = shares(x.cb);
        // Reason 3 is the worker's own: a share of its collateral goes to the requester.
        const penalty = (x.j.collateral * cfg.failPenaltyBps) / 10_000n;
        credit(expected, x.j.requester, x.j.fee + receiptShare + penalty);
        this.metered = { caller: x.j.worker, requester: x.j.requester, share: outcomeShare };
        credit(expected, market, -(x.j.fee + x.cb.fee + penalty));
        return { ok: await this.attempt(() => m.connect(worker(x.j.worker)).failJob(x.id, 3)), expected };
      }
      case "reclaim": {
        const x = await this.pick(a.job, [JobStatus.Open, JobStatus.Claimed]);
        if (!x) return { ok: false, expected };
        const by = this.actors[a.by];
        const slashed = Number(x.j.status) === JobStatus.Claimed ? x.j.collateral : 0n;
        const { receiptShare, outcomeShare } = shares(x.cb);
        credit(expected, x.j.requester, x.j.fee + slashed + receiptShare);
        this.metered = { caller: by.address, requester: x.j.requester, share: outcomeShare };
        credit(expected, market, -(x.j.fee + slashed + x.cb.fee));
        return { ok: await this.attempt(() => m.connect(by).reclaimJob(x.id)), expected };
      }
      case "cancel": {
        const x = await this.pick(a.job, [JobStatus.Open]);
        if (!x) return { ok: false, expected };
        credit(expected, x.j.requester, x.j.fee + x.cb.fee);
        credit(expected, market, -(x.j.fee + x.cb.fee));
        const consumers = await Promise.all(f.consumers.map((c) => c.getAddress()));
        const i = consumers.indexOf(x.j.requester);
        const data = m.interface.encodeFunctionData("cancelJob", [x.id]);
        return {
          ok: await this.attempt(() =>
            i >= 0 ? f.consumers[i].execute(market, data) : m.connect(f.bob).cancelJob(x.id),
          ),
          expected,
        };
      }
      case "challenge": {
        const x = await this.pick(a.job, [JobStatus.Submitted]);
        if (!x) return { ok: false, expected };
        await (await f.ocean.oceanToken.connect(f.elena).approve(market, cfg.challengeBond)).wait();
        credit(expected, f.elena.address, -cfg.challengeBond);
        credit(expected, market, cfg.challengeBond);
        return { ok: await this.attempt(() => m.connect(f.elena).challengeReceipt(x.id)), expected };
      }
      case "resolve": {
        const x = await this.pick(a.job, [JobStatus.Challenged]);
        if (!x) return { ok: false, expected };
        const { receiptShare, outcomeShare } = shares(x.cb);
        credit(expected, market, -(x.j.fee + x.cb.fee + cfg.challengeBond));
        if (a.upheld) {
          this.metered = { caller: f.arbiter.address, requester: x.j.requester, share: outcomeShare };
          const reward = (x.j.collateral * cfg.challengerRewardBps) / 10_000n;
          credit(expected, x.j.requester, x.j.fee + x.j.collateral - reward + receiptShare);
          credit(expected, x.j.challenger, cfg.challengeBond + reward);
          credit(expected, market, -x.j.collateral);
        } else {
          const pf = (x.j.fee * cfg.protocolFeeBps) / 10_000n;
          credit(expected, f.arbiter.address, outcomeShare);
          credit(expected, x.j.worker, x.j.fee - pf + cfg.challengeBond + receiptShare);
          credit(expected, cfg.treasury, pf);
        }
        return { ok: await this.attempt(() => m.connect(f.arbiter).resolveChallenge(x.id, a.upheld)), expected };
      }
      case "wait":
        await time.increase(a.seconds);
        return { ok: true, expected };
    }
  }

  async checkInvariants(): Promise<void> {
    const m = this.m;
    const cfg = await m.config();
    let owed = 0n;
    for (let id = 1n; id <= (await m.jobCount()); id++) {
      const j = await m.getJob(id);
      const cb = await m.callbackOf(id);
      const terminal = this.terminal.get(id);
      if (terminal !== undefined) expect(j.status, `job ${id} left its terminal state`).to.equal(terminal);
      else if (TERMINAL_STATUSES.includes(Number(j.status))) this.terminal.set(id, j.status);
      if (LIVE.includes(Number(j.status))) owed += j.fee + cb.fee;
      if (Number(j.status) === JobStatus.Challenged) owed += cfg.challengeBond;
    }
    for (const w of this.workers) {
      const s = await m.stakeOf(w.address);
      owed += s.free + s.locked + s.unstaking;
    }
    expect(
      await this.f.ocean.oceanToken.balanceOf(await m.getAddress()),
      "fees + callback fees + stakes + bonds",
    ).to.equal(owed);
  }

  /** Runs one action and checks its exact base-token movements, its deliveries and the invariants. */
  async step(a: Action): Promise<void> {
    const before = await this.balances(await this.tracked());
    this.metered = null;
    const { ok, expected } = await this.run(a);
    const metered = this.metered as Metered | null; // set by run()
    if (ok && metered && metered.share !== 0n) {
      const { caller, requester, share } = metered;
      const paid = await meteredShare(this.f, this.last!, caller, share);
      credit(expected, caller, paid);
      credit(expected, requester, share - paid);
    }
    const after = await this.balances(await this.tracked());
    for (const [address, b] of after) {
      const delta = b - (before.get(address) ?? b);
      const want = ok ? (expected.get(address) ?? 0n) : 0n;
      expect(delta, `${a.t} ${ok ? "moved" : "(reverted) moved"} base token of ${address}`).to.equal(want);
    }
    if (ok) await this.checkDeliveries();
    await this.checkInvariants();
  }

  /** Ends every live job (reclaim or settle, by rotating callers), each step checked; only stakes remain. */
  async finish(): Promise<void> {
    await time.increase(10 * 86_400);
    const m = this.m;
    for (let i = 0; ; i++) {
      const x = await this.pick(0, LIVE);
      if (!x) break;
      const status = Number(x.j.status);
      await this.step(
        status === JobStatus.Open || status === JobStatus.Claimed
          ? { t: "reclaim", job: 0, by: i % 3 }
          : { t: "settle", job: 0, by: i % 3 },
      );
      expect(TERMINAL_STATUSES.includes(Number((await m.getJob(x.id)).status)), `job ${x.id} ends`).to.equal(true);
    }
    let stakes = 0n;
    for (const w of this.workers) {
      const s = await m.stakeOf(w.address);
      stakes += s.free + s.locked + s.unstaking;
    }
    expect(await this.f.ocean.oceanToken.balanceOf(await m.getAddress()), "only stakes remain").to.equal(stakes);
  }
}

describe("Callback properties (fast-check)", () => {
  it("random sequences with misbehaving consumers pay every share exactly once and keep the market solvent", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 20, maxLength: 40 }), async (actions) => {
        const h = new Harness(await loadFixture(callbackPropertyFixture));
        for (const a of actions) await h.step(a);
        await h.finish();
      }),
      { numRuns: 20, endOnFailure: true },
    );
  });
});
