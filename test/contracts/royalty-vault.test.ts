import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { posthumanFixture } from "../fixtures/posthuman";
import { TOTAL_SHARES } from "../../offchain/protocol/params";
import { datatokenAt, vaultAt } from "../../offchain/protocol/contracts";
import { RoyaltyVault__factory, type RoyaltyVault } from "../../typechain-types";
import { challengedTrainFixture, trainedFixture } from "./helpers";

const HUNDRED = ethers.parseEther("100");
const DT_PER_ORDER = ethers.parseEther("0.97");

/**
 * Bob's M2 exists (70% bob, 30% alice; 20% royalty to M1's vault); its training job settled, so M1's vault holds the
 * 0.97 DT of bob's order.
 */
async function vaultsFixture() {
  const f = await loadFixture(trainedFixture);
  await time.increase(f.params.challengeWindow + 1);
  await (await f.ph.jobMarket.settleJob(f.jobId)).wait();
  const m2 = await f.ph.registry.getModel(f.m2Id);
  return {
    ...f,
    v1: vaultAt(f.m1.vault, f.alice),
    v2: vaultAt(m2.vault, f.bob),
    m2Datatoken: m2.datatoken,
  };
}

async function pay(
  f: Awaited<ReturnType<typeof vaultsFixture>>,
  payer: HardhatEthersSigner,
  vault: RoyaltyVault,
  amount: bigint,
) {
  await (await f.ocean.oceanToken.connect(payer).approve(await vault.getAddress(), amount)).wait();
  await (await vault.connect(payer).pay(amount)).wait();
}

/**
 * Deploys a vault implementation for `registry` and base token, and a clone of it with immutable args as the registry
 * makes them (OZ Clones.cloneWithImmutableArgs: model id 77, no hashes, no parent), uninitialised.
 */
async function freshClone(
  deployer: HardhatEthersSigner,
  o: { registry: string; baseToken: string },
): Promise<RoyaltyVault> {
  const implementation = await new RoyaltyVault__factory(deployer).deploy(o.registry, o.baseToken);
  const args = ethers.solidityPacked(["uint64"], [77n]);
  const runtimeLength = 0x2d + ethers.dataLength(args);
  const initCode = ethers.concat([
    "0x61",
    ethers.toBeHex(runtimeLength, 2),
    "0x3d81600a3d39f3363d3d373d3d3d363d73",
    await implementation.getAddress(),
    "0x5af43d82803e903d91602b57fd5bf3",
    args,
  ]);
  const receipt = await (await deployer.sendTransaction({ data: initCode })).wait();
  if (!receipt?.contractAddress) throw new Error("clone not deployed");
  return RoyaltyVault__factory.connect(receipt.contractAddress, deployer);
}

function initParams(holders: [string, string], shares: [bigint, bigint], o: { datatoken: string }) {
  return { datatoken: o.datatoken, holders, shares };
}

describe("RoyaltyVault", () => {
  describe("initialize", () => {
    it("mints the fixed share supply to the contributors and reads its fixed fields from its code", async () => {
      const f = await loadFixture(posthumanFixture);
      const clone = await freshClone(f.deployer, {
        registry: f.deployer.address,
        baseToken: f.ocean.addresses.OceanToken,
      });
      const p = initParams([f.alice.address, f.bob.address], [TOTAL_SHARES - 1n, 1n], {
        datatoken: f.m1.datatoken,
      });
      await clone.initialize(p);
      expect(await clone.balanceOf(f.alice.address)).to.equal(TOTAL_SHARES - 1n);
      expect(await clone.balanceOf(f.bob.address)).to.equal(1n);
      expect(await clone.registry()).to.equal(f.deployer.address);
      expect(await clone.modelId()).to.equal(77n);
      expect(await clone.baseToken()).to.equal(f.ocean.addresses.OceanToken);
      expect(await clone.datatoken()).to.equal(f.m1.datatoken);
      expect(await clone.TOTAL_SHARES()).to.equal(TOTAL_SHARES);
      // A clone whose args stop before the parent's fields has no parent.
      expect(await clone.parentVault()).to.equal(ethers.ZeroAddress);
      expect(await clone.parentBps()).to.equal(0n);
      expect(await clone.totalSupply()).to.equal(TOTAL_SHARES);
    });

    it("accepts its initialisation only from the registry named in its code, and only once", async () => {
      const f = await loadFixture(posthumanFixture);
      const clone = await freshClone(f.deployer, {
        registry: f.alice.address,
        baseToken: f.ocean.addresses.OceanToken,
      });
      const p = initParams([f.bob.address, ethers.ZeroAddress], [TOTAL_SHARES, 0n], { datatoken: f.m1.datatoken });
      await expect(clone.connect(f.bob).initialize(p))
        .to.be.revertedWithCustomError(clone, "RoyaltyVaultNotRegistry")
        .withArgs(f.bob.address);
      await expect(
        clone.connect(f.alice).initialize({ ...p, datatoken: ethers.ZeroAddress }),
      ).to.be.revertedWithCustomError(clone, "RoyaltyVaultZeroDatatoken");
      await (await clone.connect(f.alice).initialize(p)).wait();
      await expect(clone.connect(f.alice).initialize(p)).to.be.revertedWithCustomError(
        clone,
        "RoyaltyVaultAlreadyInitialized",
      );
    });

    it("reverts when the shares do not add up to the fixed supply", async () => {
      const f = await loadFixture(posthumanFixture);
      const clone = await freshClone(f.deployer, {
        registry: f.deployer.address,
        baseToken: f.ocean.addresses.OceanToken,
      });
      const p = initParams([f.alice.address, f.bob.address], [1n, 1n], {
        datatoken: f.m1.datatoken,
      });
      await expect(clone.initialize(p)).to.be.revertedWithCustomError(clone, "RoyaltyVaultInvalidShares").withArgs(2n);
    });

    it("reverts on a vault already initialised by the registry", async () => {
      const f = await loadFixture(posthumanFixture);
      const v1 = vaultAt(f.m1.vault, f.bob);
      const p = initParams([f.bob.address, ethers.ZeroAddress], [TOTAL_SHARES, 0n], {
        datatoken: f.m1.datatoken,
      });
      await expect(v1.initialize(p)).to.be.revertedWithCustomError(v1, "RoyaltyVaultAlreadyInitialized");
    });

    it("refuses an implementation without registry or base token", async () => {
      const f = await loadFixture(posthumanFixture);
      const factory = new RoyaltyVault__factory(f.deployer);
      await expect(factory.deploy(ethers.ZeroAddress, f.ocean.addresses.OceanToken)).to.be.revertedWithCustomError(
        factory,
        "RoyaltyVaultZeroAddress",
      );
      await expect(factory.deploy(f.deployer.address, ethers.ZeroAddress)).to.be.revertedWithCustomError(
        factory,
        "RoyaltyVaultZeroAddress",
      );
    });

    it("reverts on the implementation itself", async () => {
      const f = await loadFixture(posthumanFixture);
      const impl = f.ph.vaultImplementation.connect(f.bob);
      const p = initParams([f.bob.address, ethers.ZeroAddress], [TOTAL_SHARES, 0n], {
        datatoken: f.m1.datatoken,
      });
      await expect(impl.initialize(p)).to.be.revertedWithCustomError(impl, "RoyaltyVaultAlreadyInitialized");
    });
  });

  describe("distribute", () => {
    it("credits a root model's holders with all new base token and datatokens", async () => {
      const f = await loadFixture(vaultsFixture);
      await pay(f, f.derek, f.v1, HUNDRED);
      expect(await f.v1.pending()).to.deep.equal([HUNDRED, DT_PER_ORDER]);
      expect(await f.v1.distribute.staticCall()).to.deep.equal([HUNDRED, 0n]);
      const tx = f.v1.distribute();
      await expect(tx)
        .to.emit(f.v1, "RevenueDistributed")
        .withArgs(f.m1.modelId, f.ocean.addresses.OceanToken, HUNDRED, 0n);
      await expect(tx).to.emit(f.v1, "RevenueDistributed").withArgs(f.m1.modelId, f.m1.datatoken, DT_PER_ORDER, 0n);
      expect(await f.v1.owed()).to.deep.equal([HUNDRED, DT_PER_ORDER]);
      expect(await f.v1.pending()).to.deep.equal([0n, 0n]);
      expect(await f.v1.claimable(f.alice.address)).to.deep.equal([HUNDRED, DT_PER_ORDER]);
    });

    it("sends the parent royalty of a derived model's base token to the parent's vault at once", async () => {
      const f = await loadFixture(vaultsFixture);
      await pay(f, f.derek, f.v2, HUNDRED);
      const up = (HUNDRED * BigInt(f.params.parentRoyaltyBps)) / 10_000n;
      const tx = f.v2.distribute();
      await expect(tx)
        .to.emit(f.v2, "RevenueDistributed")
        .withArgs(f.m2Id, f.ocean.addresses.OceanToken, HUNDRED - up, up);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.v2, f.v1], [-up, up]);
      expect(await f.v2.claimable(f.bob.address)).to.deep.equal([((HUNDRED - up) * 7n) / 10n, 0n]);
      expect(await f.v2.claimable(f.alice.address)).to.deep.equal([((HUNDRED - up) * 3n) / 10n, 0n]);
      expect((await f.v1.pending())[0]).to.equal(up);
    });

    it("does nothing when nothing new arrived", async () => {
      const f = await loadFixture(vaultsFixture);
      await f.v2.distribute();
      await expect(f.v2.distribute()).not.to.emit(f.v2, "RevenueDistributed");
      expect(await f.v2.distribute.staticCall()).to.deep.equal([0n, 0n]);
    });

    it("on a frozen vault forwards everything to the parent's vault and burns the datatokens", async () => {
      const f = await loadFixture(challengedTrainFixture);
      const m2 = await f.ph.registry.getModel(f.m2Id);
      const v2 = vaultAt(m2.vault, f.bob);
      await f.ocean.oceanToken.connect(f.derek).approve(m2.vault, HUNDRED);
      await v2.connect(f.derek).pay(HUNDRED);
      await v2.distribute();
      const dt = datatokenAt(m2.datatoken, f.bob);
      await dt.transfer(m2.vault, ethers.parseEther("1"));
      await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      const balance = await f.ocean.oceanToken.balanceOf(m2.vault);
      expect(balance).to.equal(HUNDRED - (HUNDRED * BigInt(f.params.parentRoyaltyBps)) / 10_000n);
      const tx = v2.distribute();
      await expect(tx).to.emit(v2, "RevenueDistributed").withArgs(f.m2Id, f.ocean.addresses.OceanToken, 0n, balance);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [m2.vault, f.m1.vault], [-balance, balance]);
      expect(await dt.balanceOf(m2.vault)).to.equal(0n);
      expect(await v2.owed()).to.deep.equal([0n, 0n]);
      expect(await v2.claimable(f.bob.address)).to.deep.equal([0n, 0n]);
    });
  });

  describe("claim", () => {
    it("pays an account its share of both assets and emits RevenueClaimed", async () => {
      const f = await loadFixture(vaultsFixture);
      await pay(f, f.derek, f.v1, HUNDRED);
      await f.v1.distribute();
      const tx = f.v1.connect(f.charlie).claim(f.alice.address);
      await expect(tx).to.emit(f.v1, "RevenueClaimed").withArgs(f.m1.modelId, f.alice.address, HUNDRED, DT_PER_ORDER);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.alice, f.v1, f.charlie], [HUNDRED, -HUNDRED, 0n]);
      await expect(tx).to.changeTokenBalances(
        datatokenAt(f.m1.datatoken, f.alice),
        [f.alice, f.v1],
        [DT_PER_ORDER, -DT_PER_ORDER],
      );
      expect(await f.v1.owed()).to.deep.equal([0n, 0n]);
    });

    it("reverts when there is nothing to claim (no double payment)", async () => {
      const f = await loadFixture(vaultsFixture);
      await pay(f, f.derek, f.v1, HUNDRED);
      await f.v1.distribute();
      await f.v1.claim(f.alice.address);
      await expect(f.v1.claim(f.alice.address))
        .to.be.revertedWithCustomError(f.v1, "RoyaltyVaultNothingToClaim")
        .withArgs(f.alice.address);
      await expect(f.v1.claim(f.derek.address))
        .to.be.revertedWithCustomError(f.v1, "RoyaltyVaultNothingToClaim")
        .withArgs(f.derek.address);
    });

    it("reverts on a frozen vault: no royalty claims for the frozen side", async () => {
      const f = await loadFixture(challengedTrainFixture);
      const m2 = await f.ph.registry.getModel(f.m2Id);
      const v2 = vaultAt(m2.vault, f.bob);
      await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      await expect(v2.claim(f.bob.address)).to.be.revertedWithCustomError(v2, "RoyaltyVaultFrozen").withArgs(f.m2Id);
    });
  });

  describe("pay", () => {
    it("pulls base token from the payer and emits PaymentReceived", async () => {
      const f = await loadFixture(vaultsFixture);
      await f.ocean.oceanToken.connect(f.derek).approve(f.m1.vault, HUNDRED);
      const tx = f.v1.connect(f.derek).pay(HUNDRED);
      await expect(tx).to.emit(f.v1, "PaymentReceived").withArgs(f.m1.modelId, f.derek.address, HUNDRED);
      await expect(tx).to.changeTokenBalances(f.ocean.oceanToken, [f.derek, f.v1], [-HUNDRED, HUNDRED]);
    });

    it("reverts on zero", async () => {
      const f = await loadFixture(vaultsFixture);
      await expect(f.v1.pay(0n)).to.be.revertedWithCustomError(f.v1, "RoyaltyVaultZeroAmount");
    });
  });

  describe("freeze", () => {
    it("reverts for anyone but the registry", async () => {
      const f = await loadFixture(vaultsFixture);
      await expect(f.v1.connect(f.alice).freeze())
        .to.be.revertedWithCustomError(f.v1, "RoyaltyVaultNotRegistry")
        .withArgs(f.alice.address);
    });
  });

  describe("share transfers", () => {
    it("leave earnings booked before the transfer with the sender; later ones follow the shares", async () => {
      const f = await loadFixture(vaultsFixture);
      await pay(f, f.derek, f.v1, HUNDRED);
      await f.v1.distribute();
      await f.v1.connect(f.alice).transfer(f.charlie.address, TOTAL_SHARES / 4n);
      expect((await f.v1.claimable(f.alice.address))[0]).to.equal(HUNDRED);
      expect((await f.v1.claimable(f.charlie.address))[0]).to.equal(0n);
      await pay(f, f.derek, f.v1, HUNDRED);
      await f.v1.distribute();
      expect((await f.v1.claimable(f.alice.address))[0]).to.equal(HUNDRED + (HUNDRED * 3n) / 4n);
      expect((await f.v1.claimable(f.charlie.address))[0]).to.equal(HUNDRED / 4n);
      await f.v1.claim(f.charlie.address);
      await f.v1.connect(f.charlie).transfer(f.alice.address, TOTAL_SHARES / 4n);
      expect((await f.v1.claimable(f.charlie.address))[0]).to.equal(0n);
      expect((await f.v1.claimable(f.alice.address))[0]).to.equal(HUNDRED + (HUNDRED * 3n) / 4n);
    });

    it("reverts when sending shares to the vault itself", async () => {
      const f = await loadFixture(vaultsFixture);
      await expect(f.v1.connect(f.alice).transfer(f.m1.vault, 1n))
        .to.be.revertedWithCustomError(f.v1, "RoyaltyVaultInvalidReceiver")
        .withArgs(f.m1.vault);
    });
  });

  describe("views", () => {
    it("name and symbol carry the model id", async () => {
      const f = await loadFixture(vaultsFixture);
      expect(await f.v2.name()).to.equal(`PostHuman model ${f.m2Id} shares`);
      expect(await f.v2.symbol()).to.equal(`PHS-${f.m2Id}`);
      expect(await f.v2.decimals()).to.equal(18n);
      expect(await f.v2.datatoken()).to.equal(f.m2Datatoken);
      expect(await f.v2.registry()).to.equal(await f.ph.registry.getAddress());
      expect(await f.v2.frozen()).to.equal(false);
    });
  });
});
