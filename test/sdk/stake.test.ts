/**
 * A worker operator's stake through the SDK (`posthuman stake`): shown, added, requested out and withdrawn after the
 * market's delay, against a real hardhat node and the real JobMarket; a request the market would revert is refused
 * before any transaction, in its numbers.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { publishTinyModel, startWorld, type World } from "../../offchain/devnet/world";
import { requestJob } from "../../offchain/deploy/posthuman";
import { encodeJobParams } from "../../offchain/protocol/params";
import { sha256Hex } from "../../offchain/protocol/auth";
import { PostHuman } from "../../offchain/sdk/client";
import { isSdkError } from "../../offchain/sdk/errors";
import { addStake, requestUnstake, stakeOf, withdrawStake } from "../../offchain/sdk/stake";

const E = ethers.parseEther;

describe("SDK: a worker's stake (show, add, unstake, withdraw)", function () {
  this.timeout(120_000);
  let w: World;
  let elena: PostHuman;
  const refused = async (p: Promise<unknown>, code: string) => {
    const nonce = await w.provider.getTransactionCount(w.address("elena"));
    const e = await p.then(
      () => expect.fail("sent"),
      (x: unknown) => x,
    );
    expect(isSdkError(e), String(e)).to.equal(true);
    expect((e as { code: string }).code).to.equal(code);
    expect(await w.provider.getTransactionCount(w.address("elena")), "no transaction").to.equal(nonce);
    return (e as Error).message;
  };

  before(async () => {
    w = await startWorld();
    elena = await PostHuman.init({ runner: w.wallet("elena"), book: w.book });
  });
  after(async () => {
    await w?.stop();
  });

  it("shows nothing staked, then stakes, approving the market first", async () => {
    const none = await stakeOf(elena);
    expect(none).to.deep.include({ free: 0n, locked: 0n, unstaking: 0n, activeClaims: 0, endpoint: "" });
    expect(none.minWorkerStake).to.equal(E("100"));
    const steps: string[] = [];
    const sent = await addStake(elena, E("150"), (l) => steps.push(l));
    expect(sent.approvals).to.have.length(1);
    expect(steps).to.deep.equal(["Staking 150 OCEAN…"]);
    expect((await stakeOf(elena)).free).to.equal(E("150"));
    expect(await stakeOf(elena, w.address("worker"))).to.deep.include({ free: E("1000"), locked: 0n });
  });

  it("refuses to take out more than is free, or to leave less than the minimum behind a claim, before sending", async () => {
    expect(await refused(requestUnstake(elena, E("200")), "STAKE_INSUFFICIENT")).to.equal(
      "Only 150 OCEAN of your stake is free to take out (0 OCEAN is locked as the collateral of 0 claimed jobs); you " +
        "asked for 200 OCEAN.",
    );
    // Elena claims a job of derek's: its collateral is locked, and the minimum must back it.
    const m = await publishTinyModel(w, "alice", 61);
    const dt = w.ocean.erc20Template.attach(m.datatoken) as typeof w.ocean.erc20Template;
    await (await dt.connect(w.wallet("alice")).transfer(w.address("derek"), E("1"))).wait();
    const now = (await w.provider.getBlock("latest"))!.timestamp;
    const jobId = await requestJob(w.ph, w.wallet("derek"), {
      modelId: m.modelId,
      kind: "Infer",
      inputHash: sha256Hex(Buffer.from("a prompt\n")),
      fee: E("2"),
      deadline: now + 900,
      params: encodeJobParams({ kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } }),
    });
    await (await w.ph.jobMarket.connect(w.wallet("elena")).claimJob(jobId)).wait();
    const s = await stakeOf(elena);
    expect(s.activeClaims).to.equal(1);
    expect(s.free + s.locked).to.equal(E("150"));
    expect(await refused(requestUnstake(elena, E("100")), "STAKE_BELOW_MINIMUM")).to.match(
      /^While 1 claimed job is open, your stake must stay at 100 OCEAN at least: taking 100 OCEAN out would leave 50 OCEAN\.$/,
    );
  });

  it("requests stake out, refuses to withdraw it early or to delay what is ready, and withdraws it after the delay, once", async () => {
    const before = await w.ocean.oceanToken.balanceOf(w.address("elena"));
    const out = await requestUnstake(elena, E("40"));
    const s = await stakeOf(elena);
    expect(s.unstaking).to.equal(E("40"));
    expect(out.availableAt).to.equal(s.unstakeAvailableAt);
    expect(await refused(withdrawStake(elena), "UNSTAKE_NOT_READY")).to.match(
      /^40 OCEAN can be withdrawn from \d{4}-\d\d-\d\dT.* \(chain time\), in \d+ s\.$/,
    );
    // A second request restarts the wait of the first (the market's rule), and says so.
    const steps: string[] = [];
    const more = await requestUnstake(elena, E("10"), (l) => steps.push(l));
    expect(more.unstaking).to.equal(E("50"));
    expect(steps[0]).to.equal("This restarts the wait of the 40 OCEAN already on its way out.");
    await w.provider.send("evm_increaseTime", [s.unstakeDelaySec + 1]);
    await w.provider.send("evm_mine", []);
    // Once it is ready, asking more out (which would make it all wait again) is refused: withdraw first.
    expect(await refused(requestUnstake(elena, E("5")), "UNSTAKE_WOULD_DELAY")).to.match(
      /^50 OCEAN of your stake can be withdrawn now: requesting more out would make all of it wait/,
    );
    expect((await withdrawStake(elena)).amount).to.equal(E("50"));
    expect(await w.ocean.oceanToken.balanceOf(w.address("elena"))).to.equal(before + E("50"));
    await refused(withdrawStake(elena), "NOTHING_TO_WITHDRAW");
  });
});
