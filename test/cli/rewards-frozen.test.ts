/**
 * `posthuman pay` and `posthuman rewards` on a frozen model, against `posthuman up --no-worker` (real chain, real
 * contracts), as a user trial ran them: bob trains M2 from alice's M1, elena's challenge of the receipt is upheld by
 * the arbiter (M2 frozen). Paying M2 is refused unless --to-frozen (its vault pays its holders nothing and forwards
 * everything to M1's vault); `rewards` marks M2 frozen and forwarded to model 1; alice's `rewards --claim` forwards M2's
 * vault and pays her what reached M1 (it used to say "claimed now: 0 OCEAN" for ever). The test plays the worker,
 * the challenger and the arbiter itself (contract calls), so no model is trained.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { devWallet } from "../../offchain/deploy/accounts";
import { publishModel, requestJob, submitReceipt } from "../../offchain/deploy/posthuman";
import { attachPostHuman, datatokenAt, type PostHumanContracts } from "../../offchain/protocol/contracts";
import { ERC20Template__factory } from "../../typechain-types";
import { TRAIN_PARAMS, trainReceiptFor } from "../contracts/helpers";
import { cli, ok, startUp, type CliRun, type UpProcess } from "./cli-process";

const E = ethers.parseEther;
const M1_ROOT = ethers.id("cli frozen M1 weights");
const WINDOW = 60;
type Err = { error: { message: string; hint?: string; code?: string } };
interface Row {
  modelId: string;
  frozen: boolean;
  forwardsTo: string;
  forwarding: string;
  undistributed: string;
  fromFrozen: string;
  claimableBase: string;
}
interface RewardsJson {
  models: Row[];
  claimedBase: string;
  claimed?: { forwarded: { modelId: string; to: string; amount: string; txHash: string }[] };
}

describe("posthuman pay and rewards on a frozen model", function () {
  this.timeout(600_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-rewards-frozen-"));
  const deployment = path.join(tmp, "deployment.json");
  let up: UpProcess;
  let provider: ethers.JsonRpcProvider;
  let ph: PostHumanContracts;
  const wallet = (i: number) => new ethers.NonceManager(devWallet(i).connect(provider));
  const [ALICE, BOB, DEREK, ELENA, WORKER] = [1, 2, 4, 5, 6];
  let m2: bigint;

  const as = <T>(who: string, args: string[], json = true): Promise<CliRun<T>> =>
    cli<T>([
      ...(json ? ["--json"] : []),
      ...["--rpc", up.up.rpc, "--deployment", deployment, "--data-dir", path.join(tmp, who), "--account", who],
      ...args,
    ]);
  const ocean = (address: string) =>
    ERC20Template__factory.connect(up.up.contracts.OceanToken, provider).balanceOf(address);

  before(async () => {
    up = await startUp(path.join(tmp, "up"), deployment, 180_000, [
      "--no-worker",
      "--challenge-window",
      String(WINDOW),
    ]);
    provider = new ethers.JsonRpcProvider(up.up.rpc, up.up.chainId, { cacheTimeout: -1, staticNetwork: true });
    ph = attachPostHuman(up.up.contracts as never, provider);
    const token = (w: ethers.Signer) => ERC20Template__factory.connect(up.up.contracts.OceanToken, w);
    const worker = wallet(WORKER);
    await (await token(worker).approve(ph.jobMarket, E("1000"))).wait();
    await (await ph.jobMarket.connect(worker).stake(E("1000"))).wait();
    const alice = wallet(ALICE);
    const m1 = await publishModel(ph.registry, alice, {
      name: "M1",
      symbol: "M1",
      weightsRoot: M1_ROOT,
      configHash: ethers.id("config"),
      dataHash: ethers.id("data"),
      metadataURI: "ipfs://m1",
      pricing: { kind: "FixedRate", rate: E("1") },
      initialSupply: E("10"),
    });
    await (await datatokenAt(m1.datatoken, alice).transfer(devWallet(BOB).address, E("1"))).wait();
    const bob = wallet(BOB);
    const block = await provider.getBlock("latest");
    const jobId = await requestJob(ph, bob, {
      modelId: m1.modelId,
      kind: "Train",
      inputHash: ethers.id("input"),
      inputURI: "ipfs://input",
      fee: E("5"),
      deadline: BigInt(Math.max(block!.timestamp, Math.floor(Date.now() / 1000)) + 3600),
      params: TRAIN_PARAMS,
    });
    await (await ph.jobMarket.connect(worker).claimJob(jobId)).wait();
    m2 = await submitReceipt(ph.jobMarket, worker, jobId, trainReceiptFor(M1_ROOT, ethers.id("cli frozen M2 weights")));
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
    provider?.destroy();
    await up?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
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
});
