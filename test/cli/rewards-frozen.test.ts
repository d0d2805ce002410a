/**
 * `posthuman pay` and `posthuman rewards` on a frozen model, against `posthuman up --no-worker` (real chain, real
 * contracts), as a user trial ran them: bob trains M2 from alice's M1, elena's challenge of the receipt is upheld by
 * the arbiter (M2 frozen). Paying M2 is refused unless --to-frozen (its vault pays its holders nothing and forwards
 * everything to M1's vault); `rewards` marks M2 frozen and forwarded to model 1; alice's `rewards --claim` forwards M2's
 * vault and pays her what reached M1 (it used to say "claimed now: 0 OCEAN" for ever). Bob's M3, trained from M2
 * before the freeze, stands but is shown, listed and sold as descending from frozen M2. The test plays the worker,
 * the challenger and the arbiter itself (contract calls), so no model is trained.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { devWallet } from "../../offchain/deploy/accounts";
import { requestJob, submitReceipt } from "../../offchain/deploy/posthuman";
import { amountShort } from "../../offchain/protocol/params";
import type { PostHumanContracts } from "../../offchain/protocol/contracts";
import { RoyaltyVault__factory } from "../../typechain-types";
import { TRAIN_PARAMS, trainReceiptFor } from "../contracts/helpers";
import { ok } from "./cli-process";
import { startWithChildModel, type ChildModelWorld } from "./child-model";

const E = ethers.parseEther;
const WINDOW = 60;
type Err = { error: { message: string; hint?: string; code?: string } };
interface Row {
  modelId: string;
  frozen: boolean;
  forwardsTo: string;
  forwarding: string;
  undistributed: string;
  fromFrozen: string;
  fromChildren: string;
  childrenWaiting: string[];
  claimableBase: string;
}
interface RewardsJson {
  models: Row[];
  claimedBase: string;
  claimed?: { forwarded: { modelId: string; to: string; amount: string; txHash: string }[] };
}

describe("posthuman pay and rewards on a frozen model", function () {
  this.timeout(600_000);
  let w: ChildModelWorld;
  let provider: ethers.JsonRpcProvider;
  let ph: PostHumanContracts;
  const [ALICE, BOB, DEREK, ELENA, WORKER] = [1, 2, 4, 5, 6];
  let m2: bigint;
  let m3: bigint; // bob's finetune of M2, trained before M2 was frozen
  let m3Job: bigint;

  const as = <T = unknown>(who: string, args: string[], json = true) => w.as<T>(who, args, json);
  const ocean = (address: string) => w.ocean(address);
  const wallet = (i: number) => w.wallet(i);

  before(async () => {
    // Alice's M1, and bob's finetune M2, its receipt submitted.
    w = await startWithChildModel("rewards-frozen", WINDOW, E("1"));
    ({ provider, ph, m2 } = w);
    const { jobId, token } = w;
    // Before the freeze bob finetunes M2 into M3 (the worker's receipt): M3 stands, its lineage includes M2.
    const block = await provider.getBlock("latest");
    m3Job = await requestJob(ph, wallet(BOB), {
      modelId: m2,
      kind: "Train",
      inputHash: ethers.id("M3 input"),
      inputURI: "ipfs://m3-input",
      fee: E("5"),
      deadline: BigInt(Math.max(block!.timestamp, Math.floor(Date.now() / 1000)) + 3600),
      params: TRAIN_PARAMS,
    });
    await (await ph.jobMarket.connect(wallet(WORKER)).claimJob(m3Job)).wait();
    const m2Root = ethers.id("rewards-frozen M2 weights");
    m3 = await submitReceipt(ph.jobMarket, wallet(WORKER), m3Job, trainReceiptFor(m2Root, ethers.id("M3 weights")));
    // elena challenges the receipt; past the requester's join period the arbiter (the deployer) upholds it.
    const elena = wallet(ELENA);
    await (await token(elena).approve(ph.jobMarket, (await ph.jobMarket.config()).challengeBond)).wait();
    await (await ph.jobMarket.connect(elena).challengeReceipt(jobId)).wait();
    await provider.send("evm_increaseTime", [WINDOW + 1]);
    await provider.send("evm_mine", []);
    await (await ph.jobMarket.connect(wallet(0)).resolveChallenge(jobId, true)).wait();
    expect(await ph.registry.isFrozen(m2)).to.equal(true);
  });

  after(async () => {
    await w?.stop();
  });

  it("pay refuses a frozen model before paying, saying where the money would go", async () => {
    const me = devWallet(DEREK).address;
    const [before, nonce] = [await ocean(me), await provider.getTransactionCount(me)];
    const r = await as<Err>("derek", ["pay", String(m2), "--amount", "1"]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.json.error.code).to.equal("MODEL_FROZEN");
    expect(r.json.error.message).to.equal(
      `Model ${m2} is frozen (the challenge of the training that created it was upheld): its vault pays its holders ` +
        "nothing and forwards everything it receives to its parent's vault (model 1), whose holders share it. " +
        "Nothing was paid.",
    );
    expect(r.json.error.hint).to.contain("--to-frozen");
    expect(r.json.error.hint).to.contain("posthuman pay 1 --amount");
    expect(await ocean(me)).to.equal(before);
    expect(await provider.getTransactionCount(me)).to.equal(nonce); // not even an approval
  });

  it("pay --to-frozen pays, saying it goes to the parent's vault", async () => {
    const r = await as("derek", ["pay", String(m2), "--amount", "1", "--to-frozen"], false);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`warning: Model ${m2} is frozen`);
    expect(r.stdout).to.match(
      new RegExp(
        `^paid 1 OCEAN to model ${m2}'s vault \\(tx 0x[0-9a-f]+\\): model ${m2} is frozen, it goes to its parent's vault`,
      ),
    );
    const vault = (await ph.registry.getModel(m2)).vault;
    expect(await ocean(vault)).to.equal(E("1"));
  });

  it("rewards marks the frozen model as forwarded to its parent and counts it as the parent's", async () => {
    const human = await as("alice", ["rewards"], false);
    expect(human.code, human.stderr).to.equal(0);
    const line = human.stdout.split("\n").find((l) => l.trimStart().startsWith(`${m2} FROZEN`)) ?? "";
    expect(line).to.contain("1 forwarded to model 1");
    expect(human.stdout).to.contain(`model ${m2} is FROZEN`);
    expect(human.stdout).to.contain(
      "it holds 1 OCEAN bound for model 1's vault (your posthuman rewards --claim moves it there and pays your share)",
    );
    // bob holds only M2's shares: his claim would not forward it, someone holding model 1's does.
    const bob = await as("bob", ["rewards"], false);
    expect(bob.stdout).to.contain(
      "the next posthuman rewards --claim of a holder of model 1 or of one of its ancestors",
    );
    expect(bob.stdout).not.to.contain("claim it with");
    const json = ok(await as<RewardsJson>("alice", ["rewards"]));
    const row = (id: bigint) => json.models.find((m) => m.modelId === String(id))!;
    expect(row(m2)).to.include({ frozen: true, forwardsTo: "1", forwarding: E("1").toString(), claimableBase: "0" });
    expect(row(m2).undistributed).to.equal("0");
    expect(row(1n)).to.include({ frozen: false, fromFrozen: E("1").toString(), undistributed: E("1").toString() });
  });

  it("rewards --claim forwards the frozen vault and pays alice; a second claim pays nothing", async () => {
    const me = devWallet(ALICE).address;
    const before = await ocean(me);
    const claimed = ok(await as<RewardsJson>("alice", ["rewards", "--claim"]));
    expect(claimed.claimedBase).to.equal(E("1").toString());
    expect(claimed.claimed!.forwarded).to.deep.equal([
      { modelId: String(m2), to: "1", amount: E("1").toString(), txHash: claimed.claimed!.forwarded[0]?.txHash },
    ]);
    expect((await ocean(me)) - before).to.equal(E("1"));
    const again = await as("alice", ["rewards", "--claim"], false);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.contain("claimed now: 0 OCEAN");
    expect(await ocean(me)).to.equal(before + E("1"));
  });

  it("buy refuses a fraction that would pay for no job before paying; --allow-fraction takes it, with a warning", async () => {
    const elena = devWallet(ELENA).address;
    const [oceanBefore, nonceBefore] = [await ocean(elena), await provider.getTransactionCount(elena)];
    const refused = await as("elena", ["buy", "1", "--amount", "1.5"], false);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain(
      "Buy whole datatokens: each job consumes a whole one, so 0.5 of the 1.5 would pay for no job. Nothing was paid.",
    );
    expect(refused.stderr).to.contain(
      "pass --amount 2 or 1, or --allow-fraction to take the fraction anyway (nothing was sent)",
    );
    expect([await ocean(elena), await provider.getTransactionCount(elena)]).to.deep.equal([oceanBefore, nonceBefore]);
    const r = await as("elena", ["buy", "1", "--amount", "1.5", "--allow-fraction"], false);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(
      "warning: you now hold 1.5 datatokens of model 1, and each job consumes a whole one: 0.5 of it pays for no job " +
        "(buy 0.5 more, or sell it: posthuman market sell 1 --amount 0.5 --price <OCEAN each>)",
    );
    // A fraction that completes the one held needs no flag; --json carries the warning for scripts (none when whole).
    const whole = ok(await as<{ warning: string | null }>("elena", ["buy", "1", "--amount", "0.5"]));
    expect(whole.warning).to.equal(null);
    const again = ok(
      await as<{ warning: string | null }>("elena", ["buy", "1", "--amount", "0.25", "--allow-fraction"]),
    );
    expect(again.warning).to.match(/^you now hold 2\.25 datatokens of model 1/);
  });

  it("stake shows, adds and refuses to take out more than is free, for an operator (no script needed)", async () => {
    const none = await as("elena", ["stake", "show"], false);
    expect(none.stdout).to.contain(
      "note         under the market's minimum of 100 OCEAN: a worker with this key claims no job",
    );
    expect(none.stdout).to.match(/unstaking +none \(the market's delay: \d+ s\)/);
    const shown = ok(await as<{ free: string; minWorkerStake: string; endpoint: string }>("derek", ["stake", "show"]));
    expect(shown).to.include({ free: "0", minWorkerStake: E("100").toString(), endpoint: "" });
    const added = await as("derek", ["stake", "add", "120"], false);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.match(
      /^staked 120 OCEAN \(tx 0x[0-9a-f]+\)\n.*free +120 OCEAN \(backs new claims; the market's minimum is 100\)/s,
    );
    const tooMuch = await as<Err>("derek", ["stake", "unstake", "500"]);
    expect(tooMuch.code).to.equal(1);
    expect([tooMuch.json.error.code, tooMuch.json.error.message]).to.deep.equal([
      "STAKE_INSUFFICIENT",
      "Only 120 OCEAN of your stake is free to take out (0 OCEAN is locked as the collateral of 0 claimed jobs); " +
        "you asked for 500 OCEAN.",
    ]);
    expect(tooMuch.json.error.hint).to.not.contain("claimed jobs"); // it has none to wait for
    const out = await as("derek", ["stake", "unstake", "20"], false);
    expect(out.stdout).to.match(/^20 OCEAN on its way out, withdrawable from \d{4}-/);
    const early = await as<Err>("derek", ["stake", "withdraw"]);
    expect(early.json.error.code).to.equal("UNSTAKE_NOT_READY");
  });

  it("model show, model list and market list say that M3 descends from frozen M2", async () => {
    const listing = ok(
      await as<{ listingId: string }>("bob", ["market", "sell", String(m3), "--amount", "2", "--price", "1"]),
    ).listingId;
    const show = await as("derek", ["model", "show", String(m3)], false);
    expect(show.code, show.stderr).to.equal(0);
    expect(show.stdout).to.match(
      new RegExp(`\\n  training +(challengeable until|settled).*; descends from frozen model ${m2}\\n`),
    );
    expect(show.stdout).to.contain(
      `  WARNING       Model ${m3} descends from frozen model ${m2}: the challenge of job ${w.jobId}, the training ` +
        `that created model ${m2}, was upheld`,
    );
    const json = ok(
      await as<{ settlement: { frozenAncestor?: { modelId: string; jobId: string } } }>("derek", [
        "model",
        "show",
        String(m3),
      ]),
    );
    expect(json.settlement.frozenAncestor).to.deep.equal({ modelId: String(m2), jobId: String(w.jobId) });
    const m2Shown = ok(
      await as<{ settlement: { state: string; frozenAncestor?: unknown } }>("derek", ["model", "show", String(m2)]),
    );
    expect(m2Shown.settlement).to.deep.include({ state: "frozen" }).and.not.have.property("frozenAncestor");

    const models = await as("derek", ["model", "list"], false);
    const row = (out: string, id: bigint | string) =>
      out.split("\n").find((l) => l.trimStart().startsWith(`${id} `)) ?? "";
    expect(row(models.stdout, m3)).to.contain(`(descends from frozen model ${m2})`);
    expect(row(models.stdout, m2)).to.contain("(frozen)").and.not.contain("descends");
    const market = await as("derek", ["market", "list"], false);
    expect(row(market.stdout, listing)).to.match(new RegExp(`; descends from frozen model ${m2}$`));
    expect(market.stdout).to.contain(`Model ${m3} descends from a frozen model`);
  });

  it("market buy of M3 is refused before paying, naming frozen M2 and the upheld job; --accept-unsettled buys", async () => {
    const listing = ok(await as<{ id: string }[]>("derek", ["market", "list", "--model", String(m3)]))[0].id;
    const me = devWallet(DEREK).address;
    const [before, nonce] = [await ocean(me), await provider.getTransactionCount(me)];
    const r = await as<Err>("derek", ["market", "buy", listing, "--amount", "1"]);
    expect(r.code).to.equal(1);
    expect(r.json.error.code).to.equal("MODEL_UNSETTLED");
    expect(r.json.error.message).to.match(
      new RegExp(
        `^Model ${m3} descends from frozen model ${m2}: the challenge of job ${w.jobId}, the training that created ` +
          `model ${m2}, was upheld \\(that training was proved wrong\\)\\. .* Nothing was paid\\.$`,
      ),
    );
    expect(r.json.error.hint).to.contain(`posthuman job show ${w.jobId}, posthuman model lineage ${m3}`);
    expect(r.json.error.hint).to.contain(`posthuman market buy ${listing} --amount <n> --accept-unsettled`);
    expect([await ocean(me), await provider.getTransactionCount(me)]).to.deep.equal([before, nonce]);
    const bought = await as("derek", ["market", "buy", listing, "--amount", "1", "--accept-unsettled"], false);
    expect(bought.code, bought.stderr).to.equal(0);
    expect(bought.stdout).to.contain(`You accepted the risk: Model ${m3} descends from frozen model ${m2}`);
  });

  it("rewards counts M3's royalty, waiting in M3's vault, for M1 (through frozen M2), and --claim pays it", async () => {
    const paid = await as("derek", ["pay", String(m3), "--amount", "10"], false);
    expect(paid.code, paid.stderr).to.equal(0);
    const m3Vault = RoyaltyVault__factory.connect((await ph.registry.getModel(m3)).vault, provider);
    const royalty = (E("10") * (await m3Vault.parentBps())) / 10_000n;
    expect(royalty).to.be.greaterThan(0n);
    const json = ok(await as<RewardsJson>("alice", ["rewards"]));
    const m1 = json.models.find((m) => m.modelId === "1")!;
    expect(m1).to.deep.include({ fromChildren: royalty.toString(), fromFrozen: "0", childrenWaiting: [String(m3)] });
    const human = await as("alice", ["rewards"], false);
    expect(human.stdout).to.contain(
      `model 1: ${amountShort(royalty)} OCEAN of what is not distributed yet are royalties waiting in model ` +
        `${m3}'s vault (revenue of its descendants): distributing it sends them up to model 1's vault. Your ` +
        "posthuman rewards --claim distributes it first",
    );
    const claimed = ok(await as<RewardsJson>("alice", ["rewards", "--claim"]));
    expect(claimed.claimedBase).to.equal(m1.undistributed); // alice holds all of M1; M1's sales and M3's royalty
    const after = ok(await as<RewardsJson>("alice", ["rewards"])).models.find((m) => m.modelId === "1")!;
    expect(after).to.deep.include({ fromChildren: "0", undistributed: "0", childrenWaiting: [] });
  });

  it("a job requested on M3 warns its requester that M3 descends from frozen M2", async () => {
    // No worker answers (a closed port): the request stops there, after the warning, before anything is paid.
    const r = await as("derek", ["--worker", "http://127.0.0.1:9", "infer", String(m3), "--prompt", "hello"], false);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain(`warning: Model ${m3} descends from frozen model ${m2}`);
  });
});
