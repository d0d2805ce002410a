/**
 * Revenue of a frozen model, through the SDK against the real contracts on Hardhat's in-process network: bob trains M2
 * from alice's M1, elena's challenge of the training is upheld by the arbiter (M2 frozen), then revenue reaches M2's
 * vault. The frozen vault pays its own holders nothing; its `distribute` forwards its whole base-token balance to
 * M1's vault and burns its datatokens. `rewardsOf` must show that, and `claimAll` / `claimModel` by M1's holder must
 * forward it and pay it (a user trial found it stuck: claimAll skipped frozen vaults, "claimed now: 0" for ever).
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { AddressBook } from "../../offchain/protocol/address-book";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { PostHuman, isSdkError } from "../../offchain/sdk";
import { forwardTarget, frozenFlows } from "../../offchain/sdk/revenue";
import type { PostHumanFixture } from "../fixtures/posthuman";
import { challengedTrainFixture, trainChild } from "../contracts/helpers";

const E = (x: string) => ethers.parseEther(x);

async function clientFor(f: PostHumanFixture, signer: HardhatEthersSigner): Promise<PostHuman> {
  const book: AddressBook = { chainId: 31337, startBlock: 0, contracts: { ...f.ocean.addresses, ...f.ph.addresses } };
  return PostHuman.init({ runner: signer, book, workerUrl: "http://127.0.0.1:9" });
}

/**
 * M2 trained by bob from alice's M1 (bob 70%, alice 30% of M2's shares; alice 100% of M1's). Before the freeze derek
 * pays M2 10 OCEAN, alice claims everything she has (M1 then holds nothing waiting), bob leaves his booked 5.6. Then
 * the arbiter upholds the challenge: M2 is frozen.
 */
async function frozenM2Fixture() {
  const f = await loadFixture(challengedTrainFixture);
  const [alice, bob, derek, arbiter] = await Promise.all(
    [f.alice, f.bob, f.derek, f.arbiter].map((s) => clientFor(f, s)),
  );
  await derek.pay(f.m2Id, E("10"));
  await alice.claimAll();
  const m2 = await alice.registry.get(f.m2Id);
  expect((await bob.vault(m2.vault).position(f.bob.address)).claimableBase).to.equal(E("5.6"));
  const r = await arbiter.jobs.resolve(f.jobId, true);
  expect(r.upheld).to.equal(true);
  return { ...f, sdk: { alice, bob, derek }, m2 };
}

const ocean = (f: PostHumanFixture, who: string) => f.ocean.oceanToken.balanceOf(who);

describe("SDK revenue of a frozen model", () => {
  it("shows a frozen vault as forwarded, and claimAll by the parent's holder forwards and pays it", async () => {
    const f = await loadFixture(frozenM2Fixture);
    const { m2 } = f;
    const { alice, bob, derek } = f.sdk;
    expect((await alice.registry.get(f.m2Id)).frozen).to.equal(true);
    // Bob's booked 5.6 is no longer his: a frozen vault pays its holders nothing.
    expect((await bob.vault(m2.vault).position(f.bob.address)).claimableBase).to.equal(0n);
    await derek.pay(f.m2Id, E("1"), { toFrozen: true }); // (refused without: test/cli/rewards-frozen.test.ts)
    await (await datatokenAt(m2.datatoken, f.bob).transfer(m2.vault, E("2"))).wait();
    const forwarded = E("6.6"); // bob's booked 5.6 and derek's 1: the vault's whole balance

    const rows = await alice.rewards();
    const row2 = rows.find((r) => r.modelId === f.m2Id)!;
    expect(row2).to.include({
      frozen: true,
      forwardsTo: f.m1.modelId,
      forwarding: forwarded,
      burning: E("2"),
      claimableBase: 0n,
      claimableDatatokens: 0n,
      undistributed: 0n,
      undistributedDatatokens: 0n,
    });
    const row1 = rows.find((r) => r.modelId === f.m1.modelId)!;
    expect(row1).to.include({ frozen: false, fromFrozen: forwarded, undistributed: forwarded, claimableBase: 0n });
    // Bob's view of M2 says the same; he holds nothing above it.
    expect((await bob.rewards()).find((r) => r.modelId === f.m2Id)).to.include({ frozen: true, forwarding: forwarded });

    // Bob's claim does not spend his gas forwarding M2 to M1's holders, and pays him nothing.
    const b = await bob.claimAll();
    expect([b.forwarded, b.claimed]).to.deep.equal([[], []]);
    expect(await ocean(f, m2.vault)).to.equal(forwarded);

    const before = await ocean(f, f.alice.address);
    const a = await alice.claimAll();
    expect(a.forwarded.map((x) => [x.modelId, x.to, x.amount])).to.deep.equal([[f.m2Id, f.m1.modelId, forwarded]]);
    expect(a.distributed.map((d) => [d.modelId, d.toHolders, d.toParent])).to.deep.equal([
      [f.m1.modelId, forwarded, 0n],
    ]);
    expect(a.claimed.map((c) => [c.modelId, c.base, c.datatokens])).to.deep.equal([[f.m1.modelId, forwarded, 0n]]);
    expect((await ocean(f, f.alice.address)) - before).to.equal(forwarded);
    expect(await ocean(f, m2.vault)).to.equal(0n);
    expect(await datatokenAt(m2.datatoken, f.bob).balanceOf(m2.vault)).to.equal(0n); // burned by the forward

    const after = (await alice.rewards()).find((r) => r.modelId === f.m2Id)!;
    expect(after).to.include({ frozen: true, forwarding: 0n, burning: 0n });
    const again = await alice.claimAll();
    expect([again.forwarded, again.distributed, again.claimed]).to.deep.equal([[], [], []]);
    expect(await ocean(f, f.alice.address)).to.equal(before + forwarded);
  });

  it("claimModel on the parent forwards the frozen child first; on the frozen model it is refused", async () => {
    const f = await loadFixture(frozenM2Fixture);
    const { alice, bob, derek } = f.sdk;
    await derek.pay(f.m2Id, E("1"), { toFrozen: true }); // (refused without: test/cli/rewards-frozen.test.ts)
    const refused = await bob.claimModel(f.m2Id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSdkError(refused, "MODEL_FROZEN"), String(refused)).to.equal(true);
    expect((refused as Error).message).to.match(/frozen/);
    const before = await ocean(f, f.alice.address);
    const r = await alice.claimModel(f.m1.modelId);
    expect(r.base).to.equal(E("6.6"));
    expect((await ocean(f, f.alice.address)) - before).to.equal(E("6.6"));
  });

  it("sends a live grandchild's royalty through the frozen child to the grandparent", async () => {
    const f = await loadFixture(challengedTrainFixture);
    const [alice, derek, arbiter] = await Promise.all([f.alice, f.derek, f.arbiter].map((s) => clientFor(f, s)));
    // charlie trains M3 from M2 before M2 is frozen: M3 stays valid, its royalty flows into M2's vault.
    const m3 = await trainChild(f, f.charlie, f.m2Id, f.m2Root, ethers.id("M3 weights"));
    await alice.claimAll(); // a clean slate for alice (sales of M1's datatokens)
    await arbiter.jobs.resolve(f.jobId, true);
    await derek.pay(m3.childId, E("10"));
    const { parentRoyaltyBps } = await alice.registry.config();
    const royalty = (E("10") * BigInt(parentRoyaltyBps)) / 10_000n;
    // Before anyone distributes M3's vault, alice sees M3's royalty waiting for M1 (through frozen M2's vault).
    const rows = await alice.rewards();
    expect(rows.find((r) => r.modelId === f.m1.modelId)).to.deep.include({
      fromChildren: royalty,
      fromFrozen: 0n,
      undistributed: royalty,
      childrenWaiting: [m3.childId],
    });
    expect(rows.find((r) => r.modelId === f.m2Id)).to.include({ frozen: true, forwarding: 0n, fromChildren: 0n });
    const before = await ocean(f, f.alice.address);
    const a = await alice.claimAll();
    expect(a.distributed.map((d) => [d.modelId, d.toParent])).to.deep.equal([
      [m3.childId, royalty],
      [f.m1.modelId, 0n],
    ]);
    expect(a.forwarded.map((x) => [x.modelId, x.amount])).to.deep.equal([[f.m2Id, royalty]]);
    expect(a.claimed.map((c) => [c.modelId, c.base])).to.deep.equal([[f.m1.modelId, royalty]]);
    expect((await ocean(f, f.alice.address)) - before).to.equal(royalty);
  });

  it("computes where frozen balances go along a chain of frozen models", () => {
    const models = [
      { id: 1n, parentId: 0n, frozen: false },
      { id: 2n, parentId: 1n, frozen: true },
      { id: 3n, parentId: 2n, frozen: true },
      { id: 4n, parentId: 1n, frozen: false },
    ];
    const flows = frozenFlows(
      models,
      new Map([
        [2n, 5n],
        [3n, 7n],
      ]),
    );
    expect(flows.forwarding).to.deep.equal(
      new Map([
        [3n, 7n],
        [2n, 12n],
      ]),
    );
    expect(flows.incoming.get(1n)).to.equal(12n);
    expect(flows.incoming.get(4n)).to.equal(undefined);
    expect([forwardTarget(models, 3n), forwardTarget(models, 2n), forwardTarget(models, 4n)]).to.deep.equal([
      1n,
      1n,
      4n,
    ]);
  });
});
