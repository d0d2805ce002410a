/**
 * Royalties waiting in descendants' vaults, through the SDK against the real contracts on Hardhat's in-process
 * network: alice's M1, bob's finetune M2 of it and charlie's finetune M3 of M2 (all live). Derek pays M3 and M2; until
 * someone distributes those vaults, nothing has reached M1's, yet part of it is M1's: `rewardsOf` shows it as waiting
 * (`fromChildren`), to the wei that `claimAll`, distributing children first, then pays alice.
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { AddressBook } from "../../offchain/protocol/address-book";
import { PostHuman } from "../../offchain/sdk";
import { childRoyalties } from "../../offchain/sdk/revenue";
import type { PostHumanFixture } from "../fixtures/posthuman";
import { trainChild, trainedFixture } from "../contracts/helpers";

const E = (x: string) => ethers.parseEther(x);

async function clientFor(f: PostHumanFixture, signer: HardhatEthersSigner): Promise<PostHuman> {
  const book: AddressBook = { chainId: 31337, startBlock: 0, contracts: { ...f.ocean.addresses, ...f.ph.addresses } };
  return PostHuman.init({ runner: signer, book, workerUrl: "http://127.0.0.1:9" });
}

/** M3 trained by charlie from bob's M2; alice claimed everything so far (M1's sales), so M1 holds nothing waiting. */
async function threeGenerationsFixture() {
  const f = await loadFixture(trainedFixture);
  const m3 = await trainChild(f, f.charlie, f.m2Id, f.m2Root, ethers.id("M3 weights"));
  const [alice, bob, derek] = await Promise.all([f.alice, f.bob, f.derek].map((s) => clientFor(f, s)));
  await alice.claimAll();
  const bps = BigInt((await alice.registry.config()).parentRoyaltyBps);
  return { ...f, m3Id: m3.childId, bps, sdk: { alice, bob, derek } };
}

describe("SDK rewards: royalties waiting in children's vaults", function () {
  this.timeout(120_000);

  it("counts a child's and a grandchild's undistributed revenue for the ancestors, as claimAll then pays it", async () => {
    const f = await loadFixture(threeGenerationsFixture);
    const { alice, derek } = f.sdk;
    await derek.pay(f.m3Id, E("10"));
    await derek.pay(f.m2Id, E("5"));
    const up = (x: bigint) => (x * f.bps) / 10_000n;
    const toM2 = up(E("10"));
    const toM1 = up(E("5") + toM2); // M2 books its own 5 and M3's royalty together, then sends its share up
    expect(toM1).to.be.greaterThan(0n);

    const rows = await alice.rewards();
    const m1 = rows.find((r) => r.modelId === f.m1.modelId)!;
    expect(m1).to.deep.include({
      fromChildren: toM1,
      fromFrozen: 0n,
      undistributed: toM1,
      claimableBase: 0n,
      childrenWaiting: [f.m3Id, f.m2Id],
    });
    // Alice holds part of M2 too: its row shows what M2's vault will book, M3's royalty included.
    const m2 = rows.find((r) => r.modelId === f.m2Id)!;
    expect(m2).to.deep.include({ fromChildren: toM2, undistributed: E("5") + toM2, childrenWaiting: [f.m3Id] });

    const m1Vault = (await alice.registry.get(f.m1.modelId)).vault;
    const a = await alice.claimAll();
    expect(a.distributed.map((d) => [d.modelId, d.toParent])).to.deep.equal([
      [f.m3Id, toM2],
      [f.m2Id, toM1],
      [f.m1.modelId, 0n],
    ]);
    expect(a.claimed.find((c) => c.modelId === f.m1.modelId)?.base).to.equal(toM1);
    expect(await alice.vault(m1Vault).pending()).to.deep.equal({ base: 0n, datatokens: 0n });
    const after = (await alice.rewards()).find((r) => r.modelId === f.m1.modelId)!;
    expect(after).to.deep.include({ fromChildren: 0n, undistributed: 0n, childrenWaiting: [] });
  });

  it("once the child's holder distributes its vault, the royalty waits in the parent's vault instead", async () => {
    const f = await loadFixture(threeGenerationsFixture);
    const { alice, bob, derek } = f.sdk;
    await derek.pay(f.m2Id, E("4"));
    const royalty = (E("4") * f.bps) / 10_000n;
    expect((await alice.rewards()).find((r) => r.modelId === f.m1.modelId)).to.include({
      fromChildren: royalty,
      undistributed: royalty,
    });
    const b = await bob.claimAll(); // bob holds M2's shares, none of M1's: his claim distributes M2's vault
    expect(b.distributed.map((d) => [d.modelId, d.toParent])).to.deep.equal([[f.m2Id, royalty]]);
    const m1 = (await alice.rewards()).find((r) => r.modelId === f.m1.modelId)!;
    expect(m1).to.deep.include({ fromChildren: 0n, undistributed: royalty, childrenWaiting: [] });
  });

  it("computes the royalties along a lineage, frozen vaults forwarding all and counted apart", () => {
    const models = [
      { id: 1n, parentId: 0n, frozen: false, parentBps: 0 },
      { id: 2n, parentId: 1n, frozen: false, parentBps: 1000 },
      { id: 3n, parentId: 2n, frozen: true, parentBps: 1000 },
      { id: 4n, parentId: 3n, frozen: false, parentBps: 2000 },
      { id: 5n, parentId: 1n, frozen: false, parentBps: 1000 },
    ];
    // M4 books 100 (20 to frozen M3, which forwards it and its own 7 to M2); M2 books 50 + 27; M5 books 9.
    const { royalties, from } = childRoyalties(
      models,
      new Map([
        [4n, 100n],
        [3n, 7n],
        [2n, 50n],
        [5n, 9n],
      ]),
    );
    expect(royalties.get(3n)).to.equal(20n);
    expect(royalties.get(2n)).to.equal(20n); // M3's own 7 is frozenFlows', not a royalty
    expect(royalties.get(1n)).to.equal(7n + 0n); // (50 + 27) × 10% = 7 (rounded down); M5's 9 × 10% = 0
    expect(from.get(1n)).to.deep.equal([5n, 4n, 2n]);
    expect(from.get(2n)).to.deep.equal([4n]);
  });
});
