/**
 * `posthuman market …` as a buyer runs it, against `posthuman up --no-worker` (real chain, real contracts): a listed
 * model whose creating training receipt can still be challenged is shown as such and not bought without
 * --accept-unsettled (a challenge upheld would freeze it, and the seller keeps the payment); amounts are said exactly
 * and in the singular for one; a closed listing's cancellation and an unknown model are refused in words. The test
 * plays the worker and the challenger itself (contract calls), so no model is trained.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { devWallet } from "../../offchain/deploy/accounts";
import type { PostHumanContracts } from "../../offchain/protocol/contracts";
import { ok } from "./cli-process";
import { startWithChildModel, type ChildModelWorld } from "./child-model";

const E = ethers.parseEther;
const WINDOW = 600;
type Err = { error: { message: string; hint?: string; code?: string } };

describe("posthuman market: buying a model whose training can still be challenged", function () {
  this.timeout(600_000);
  let w: ChildModelWorld;
  let provider: ethers.JsonRpcProvider;
  let ph: PostHumanContracts;
  const [BOB, CHARLIE, ELENA] = [2, 3, 5];
  let jobId: bigint;
  let m2: bigint;
  let l2: string; // bob's listing of M2
  let l1: string; // alice's listing of M1 (a root model)

  const as = <T = unknown>(who: string, args: string[], json = true) => w.as<T>(who, args, json);
  const ocean = (address: string) => w.ocean(address);
  const wallet = (i: number) => w.wallet(i);

  before(async () => {
    // Alice's M1, and bob's finetune M2, its receipt Submitted and challengeable for WINDOW seconds.
    w = await startWithChildModel("market-unsettled", WINDOW, E("2"));
    ({ provider, ph, jobId, m2 } = w);
    l2 = ok(
      await as<{ listingId: string }>("bob", ["market", "sell", String(m2), "--amount", "4", "--price", "2"]),
    ).listingId;
    l1 = ok(
      await as<{ listingId: string }>("alice", ["market", "sell", "1", "--amount", "2", "--price", "1.5"]),
    ).listingId;
  });

  after(async () => {
    await w?.stop();
  });

  it("market list says which listed models can still be frozen, and until when", async () => {
    const human = await as("charlie", ["market", "list"], false);
    expect(human.code, human.stderr).to.equal(0);
    const row = (id: string) => human.stdout.split("\n").find((l) => l.trimStart().startsWith(`${id} `)) ?? "";
    expect(human.stdout.split("\n")[0]).to.match(/listing\s+model\s+left\s+price\s+seller\s+training/);
    expect(row(l2)).to.match(/challengeable until \d{4}-\d\d-\d\dT/);
    expect(row(l1)).to.match(/root$/);
    expect(human.stdout).to.contain("--accept-unsettled");
    const json = ok(
      await as<{ id: string; settlement: { state: string; jobId?: string } }[]>("charlie", ["market", "list"]),
    );
    expect(json.map((l) => [l.id, l.settlement.state])).to.deep.equal([
      [l1, "root"],
      [l2, "challengeable"],
    ]);
    const settled = ok(await as<{ id: string }[]>("charlie", ["market", "list", "--settled-only"]));
    expect(settled.map((l) => l.id)).to.deep.equal([l1]);
  });

  it("market buy refuses before paying, saying until when and what happens if a challenge is upheld", async () => {
    const me = devWallet(CHARLIE).address;
    const [before, nonce] = [await ocean(me), await provider.getTransactionCount(me)];
    const r = await as<Err>("charlie", ["market", "buy", l2, "--amount", "3"]);
    expect(r.code).to.equal(1);
    expect(r.json.error.message).to.match(
      new RegExp(
        `^Model ${m2} was created by job ${jobId}, whose training receipt can still be challenged until \\d{4}-.*UTC, chain time, in about \\d+ (min|s)\\)\\. ` +
          `If a challenge is upheld, model ${m2} is frozen: it takes no jobs and its datatokens can no longer be sold on the market, ` +
          "and what you paid stays with the seller. Nothing was paid.$",
      ),
    );
    expect(r.json.error.hint).to.contain(`posthuman market buy ${l2} --amount <n> --accept-unsettled`);
    expect(r.json.error.code).to.equal("MODEL_UNSETTLED");
    expect(await ocean(me)).to.equal(before);
    expect(await provider.getTransactionCount(me)).to.equal(nonce); // not even an approval
  });

  it("market buy --accept-unsettled buys, and says the risk taken; one datatoken is singular", async () => {
    const r = await as("charlie", ["market", "buy", l2, "--amount", "1", "--accept-unsettled"], false);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(
      new RegExp(`^bought 1 datatoken of model ${m2} from bob 0x\\w+…\\w+ for 2 OCEAN \\(tx 0x`),
    );
    expect(r.stdout).to.match(
      /You accepted the risk: Model \d+ was created by job \d+, whose training receipt can still/,
    );
  });

  it("a root model buys as before, its cost said exactly (never 0) and its rounding named", async () => {
    const one = await as("charlie", ["market", "buy", l1, "--amount", "1"], false);
    expect(one.code, one.stderr).to.equal(0);
    expect(one.stdout).to.match(/^bought 1 datatoken of model 1 from alice .* for 1\.5 OCEAN \(tx 0x/);
    expect(one.stdout).not.to.contain("risk");
    // 1 wei at 1.5 OCEAN each: 1.5 wei, which the market rounds up to 2 (a fraction of a datatoken: allowed).
    const wei = await as(
      "charlie",
      ["market", "buy", l1, "--amount", "0.000000000000000001", "--allow-fraction"],
      false,
    );
    expect(wei.code, wei.stderr).to.equal(0);
    expect(wei.stdout).to.match(
      /^bought 0\.000000000000000001 datatokens of model 1 from alice .* for 0\.000000000000000002 OCEAN \(rounded up to the next wei\) \(tx 0x/,
    );
  });

  it("a challenged receipt keeps the model at risk until the arbiter decides; a rejected challenge settles it", async () => {
    const elena = wallet(ELENA);
    const bond = (await ph.jobMarket.config()).challengeBond;
    await (await w.token(elena).approve(ph.jobMarket, bond)).wait();
    await (await ph.jobMarket.connect(elena).challengeReceipt(jobId)).wait();
    const refused = await as<Err>("charlie", ["market", "buy", l2, "--amount", "1"]);
    expect(refused.code).to.equal(1);
    expect(refused.json.error.message).to.match(
      new RegExp(`^Model ${m2} was created by job ${jobId}, whose training receipt is challenged and not resolved yet`),
    );
    const listed = ok(
      await as<{ id: string; settlement: { state: string } }[]>("charlie", ["market", "list", "--model", String(m2)]),
    );
    expect(listed.map((l) => l.settlement.state)).to.deep.equal(["challenged"]);

    // Past the requester's join period the arbiter (the deployer) rejects the challenge: the job settles.
    await provider.send("evm_increaseTime", [WINDOW + 1]);
    await provider.send("evm_mine", []);
    await (await ph.jobMarket.connect(wallet(0)).resolveChallenge(jobId, false)).wait();
    const r = await as("charlie", ["market", "buy", l2, "--amount", "1"], false);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^bought 1 datatoken of model \d+ from bob .* for 2 OCEAN \(tx 0x/);
    expect(r.stdout).not.to.contain("risk");
  });

  it("market cancel of another's listing, or of one already cancelled, is refused before anything is sent", async () => {
    // Charlie is not the seller: said in words, naming the seller, not the chain's raw DatatokenMarketNotSeller revert.
    const charlie = devWallet(CHARLIE).address;
    const charlieNonce = await provider.getTransactionCount(charlie);
    const notHis = await as<Err>("charlie", ["market", "cancel", l2]);
    expect(notHis.code).to.equal(1);
    expect(notHis.json.error.message).to.equal(
      `Listing ${l2} is not yours (its seller is ${devWallet(BOB).address}): only its seller can cancel it. ` +
        "Nothing was sent.",
    );
    expect(notHis.json.error.hint).to.equal("pass the seller's --account or --key-file");
    expect(await provider.getTransactionCount(charlie)).to.equal(charlieNonce);
    const first = await as("bob", ["market", "cancel", l2], false);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(new RegExp(`^listing ${l2} cancelled: 2 datatokens back \\(tx 0x`));
    const me = devWallet(BOB).address;
    const nonce = await provider.getTransactionCount(me);
    const again = await as<Err>("bob", ["market", "cancel", l2]);
    expect(again.code).to.equal(1);
    expect(again.json.error.message).to.equal(
      `Listing ${l2} is already cancelled: it holds no datatokens to take back. Nothing was sent.`,
    );
    expect(await provider.getTransactionCount(me)).to.equal(nonce);
  });

  it("market list --model of a model that does not exist says so", async () => {
    const r = await as<Err>("charlie", ["market", "list", "--model", "99"]);
    expect(r.code).to.equal(1);
    expect(r.json.error.message).to.equal("There is no model 99 on this chain (2 models so far).");
  });
});
