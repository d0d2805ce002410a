import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { oceanFixture } from "../fixtures/ocean";
import { createAsset } from "../../offchain/deploy/ocean";
import {
  M1_BASELINE,
  M1_BENCHMARK,
  M1_INITIAL_SUPPLY,
  M1_RATE,
  M1_WEIGHTS_ROOT,
  posthumanFixture,
} from "../fixtures/posthuman";
import { DEFAULT_PARAMS, commitWeightsRoot, publishModel } from "../../offchain/deploy/posthuman";
import { datatokenAt, vaultAt } from "../../offchain/protocol/contracts";
import { TOTAL_SHARES } from "../../offchain/protocol/params";
import { plainOceanMetadata, publishParams, type PublishModelOptions } from "../../offchain/protocol/structs";
import { ERC721Template__factory, ModelRegistry__factory, RoyaltyVault__factory } from "../../typechain-types";
import type { IModelRegistry } from "../../typechain-types/artifacts/contracts/ModelRegistry";
import { INPUT_HASH, trainChild } from "./helpers";

const M2_ROOT = ethers.id("M2 weights");

/**
 * A registry whose "job market" is a plain account (`market`), so that createDerivedModel and freezeModel can be
 * driven directly, with maxDepth 2 to reach the lineage bound quickly. Alice's M1 is published.
 */
async function harnessFixture() {
  const base = await loadFixture(oceanFixture);
  const market = base.others[5];
  const registryAddress = ethers.getCreateAddress({
    from: base.deployer.address,
    nonce: (await base.deployer.getNonce()) + 1,
  });
  const vaultImpl = await new RoyaltyVault__factory(base.deployer).deploy(
    registryAddress,
    base.ocean.addresses.OceanToken,
  );
  const cfg: IModelRegistry.ConfigStruct = {
    oceanFactory: base.ocean.addresses.ERC721Factory,
    fixedRateExchange: base.ocean.addresses.FixedRateExchange,
    dispenser: base.ocean.addresses.Dispenser,
    baseToken: base.ocean.addresses.OceanToken,
    jobMarket: market.address,
    vaultImplementation: await vaultImpl.getAddress(),
    maxDepth: 2,
    trainerShareBps: 7_000,
    parentRoyaltyBps: 2_000,
    rewardSupply: ethers.parseEther("100"),
  };
  const registry = await new ModelRegistry__factory(base.deployer).deploy(cfg);
  const m1 = await publishModel(registry, base.alice, {
    name: "M1",
    symbol: "M1",
    weightsRoot: M1_WEIGHTS_ROOT,
    pricing: { kind: "FixedRate", rate: M1_RATE },
  });
  // The worker of the harness's derivations (`committer`: bob) committed to their roots, as a worker does before
  // its Train receipt.
  for (const root of [M2_ROOT, ethers.id("generation 2"), ethers.id("generation 3")])
    await commitWeightsRoot(registry, base.bob, root);
  return { ...base, market, registry, cfg, m1 };
}

function derivation(parentId: bigint, trainer: string, o: Partial<IModelRegistry.DerivationStruct> = {}) {
  return {
    parentId,
    jobId: 11n,
    trainer,
    committer: trainer,
    weightsRoot: M2_ROOT,
    configHash: ethers.id("cfg"),
    dataHash: INPUT_HASH,
    metadataURI: "ipfs://child",
    metric: 2_900_000n,
    ...o,
  };
}

const m1Options: PublishModelOptions = {
  name: "M1b",
  symbol: "M1B",
  weightsRoot: M1_WEIGHTS_ROOT,
  configHash: ethers.id("cfg"),
  dataHash: ethers.id("data"),
  metadataURI: "ipfs://card",
  baseline: { benchmarkId: M1_BENCHMARK, metric: M1_BASELINE },
  pricing: { kind: "FixedRate", rate: M1_RATE },
  initialSupply: ethers.parseEther("5"),
};

describe("ModelRegistry", () => {
  describe("constructor", () => {
    for (const [what, override, error, arg] of [
      ["a zero address", { dispenser: ethers.ZeroAddress }, "ModelRegistryZeroAddress", undefined],
      ["a trainer share above 100%", { trainerShareBps: 10_001 }, "ModelRegistryInvalidBps", 10_001],
      ["a parent royalty above 100%", { parentRoyaltyBps: 10_001 }, "ModelRegistryInvalidBps", 10_001],
      ["a zero depth", { maxDepth: 0 }, "ModelRegistryInvalidDepth", 0],
      ["a vault implementation bound to another registry", {}, "ModelRegistryVaultMismatch", undefined],
    ] as const) {
      it(`reverts on ${what}`, async () => {
        const { deployer, cfg } = await loadFixture(harnessFixture);
        const factory = new ModelRegistry__factory(deployer);
        const tx = factory.deploy({ ...cfg, ...override });
        if (arg === undefined) await expect(tx).to.be.revertedWithCustomError(factory, error);
        else await expect(tx).to.be.revertedWithCustomError(factory, error).withArgs(arg);
      });
    }
  });

  describe("publishModel", () => {
    it("creates a real Ocean data NFT + datatoken owned by the registry, minted by it, paying the vault", async () => {
      const { ph, m1, ocean } = await loadFixture(posthumanFixture);
      const registry = await ph.registry.getAddress();
      const nft = ERC721Template__factory.connect(m1.nft, ethers.provider);
      const dt = datatokenAt(m1.datatoken, ethers.provider);
      expect(await nft.ownerOf(1)).to.equal(registry);
      expect(await ocean.factory.erc721List(m1.nft)).to.equal(m1.nft);
      expect(await ocean.factory.erc20List(m1.datatoken)).to.equal(true);
      expect(await dt.getERC721Address()).to.equal(m1.nft);
      expect(await dt.isMinter(registry)).to.equal(true);
      expect(await dt.getPaymentCollector()).to.equal(m1.vault);
      expect(await dt.name()).to.equal("M1 datatoken");
    });

    it("prices the datatoken on the FixedRateExchange in the base token, minting on demand, owned by the publisher", async () => {
      const { m1, ocean, alice } = await loadFixture(posthumanFixture);
      const ex = await ocean.fixedRate.getExchange(m1.exchangeId);
      expect(ex.datatoken).to.equal(m1.datatoken);
      expect(ex.baseToken).to.equal(ocean.addresses.OceanToken);
      expect(ex.fixedRate).to.equal(M1_RATE);
      expect(ex.exchangeOwner).to.equal(alice.address);
      expect(ex.withMint).to.equal(true);
      expect(ex.active).to.equal(true);
      const fees = await ocean.fixedRate.getFeesInfo(m1.exchangeId);
      expect(fees.marketFee).to.equal(0n);
      expect(fees.marketFeeCollector).to.equal(m1.vault);
    });

    it("mints the initial supply to the publisher and gives it all the vault's shares", async () => {
      const { m1, alice } = await loadFixture(posthumanFixture);
      expect(await datatokenAt(m1.datatoken, alice).balanceOf(alice.address)).to.equal(M1_INITIAL_SUPPLY);
      const vault = vaultAt(m1.vault, alice);
      expect(await vault.balanceOf(alice.address)).to.equal(TOTAL_SHARES);
      expect(await vault.totalSupply()).to.equal(TOTAL_SHARES);
      expect(await vault.parentVault()).to.equal(ethers.ZeroAddress);
      expect(await vault.parentBps()).to.equal(0);
    });

    it("records owner, weights root, hashes, metadata URI and declared baseline", async () => {
      const { ph, m1, alice } = await loadFixture(posthumanFixture);
      const m = await ph.registry.getModel(m1.modelId);
      expect(m.owner).to.equal(alice.address);
      expect(m.generation).to.equal(0);
      expect(m.parentId).to.equal(0n);
      expect(m.jobId).to.equal(0n);
      expect(m.frozen).to.equal(false);
      expect(m.weightsRoot).to.equal(M1_WEIGHTS_ROOT);
      expect(m.configHash).to.equal(ethers.id("M1 config"));
      expect(m.dataHash).to.equal(ethers.id("alice corpus"));
      expect(m.metadataURI).to.equal("ipfs://m1-card");
      expect(m.benchmarkId).to.equal(M1_BENCHMARK);
      expect(m.baselineMetric).to.equal(M1_BASELINE);
      expect(m.exchangeId).to.equal(m1.exchangeId);
      expect(await ph.registry.modelOfDatatoken(m1.datatoken)).to.equal(m1.modelId);
      expect(await ph.registry.modelCount()).to.equal(1n);
    });

    it("sets Ocean metadata on the NFT so that Ocean's indexers see the asset, and emits ModelPublished", async () => {
      const { ph, bob } = await loadFixture(posthumanFixture);
      const md = plainOceanMetadata(
        { id: "did:op:test", metadata: { type: "algorithm", name: "M1b" } },
        "http://provider",
      );
      const root = ethers.id("M1b weights");
      const params = publishParams({ ...m1Options, weightsRoot: root, oceanMetadata: md });
      await commitWeightsRoot(ph.registry, bob, root);
      const tx = ph.registry.connect(bob).publishModel(params);
      await expect(tx)
        .to.emit(ph.registry, "ModelPublished")
        .withArgs(2n, bob.address, anyValue, anyValue, anyValue, root, anyValue);
      const nftAddress = (await ph.registry.getModel(2n)).nft;
      const nft = ERC721Template__factory.connect(nftAddress, ethers.provider);
      await expect(tx)
        .to.emit(nft, "MetadataCreated")
        .withArgs(
          await ph.registry.getAddress(),
          0,
          "http://provider",
          "0x00",
          ethers.hexlify(md.data),
          md.dataHash,
          anyValue,
          anyValue,
        );
      const [decryptorUrl, , state, has] = await nft.getMetaData();
      expect([decryptorUrl, state, has]).to.deep.equal(["http://provider", 0n, true]);
    });

    it("makes a model free through Ocean's Dispenser", async () => {
      const { ph, ocean, bob, charlie } = await loadFixture(posthumanFixture);
      const free = await publishModel(ph.registry, bob, {
        ...m1Options,
        weightsRoot: ethers.id("free weights"),
        pricing: { kind: "Dispenser", maxTokens: ethers.parseEther("5"), maxBalance: ethers.parseEther("5") },
        initialSupply: 0n,
      });
      expect(free.exchangeId).to.equal(ethers.ZeroHash);
      // Not stored: getModel gives no exchange id for a model without one, and the NFT and URI Ocean holds.
      const record = await ph.registry.getModel(free.modelId);
      expect([record.exchangeId, record.nft]).to.deep.equal([ethers.ZeroHash, free.nft]);
      expect(record.metadataURI).to.equal(m1Options.metadataURI ?? "");
      await ocean.dispenser.connect(charlie).dispense(free.datatoken, ethers.parseEther("2"), charlie.address);
      expect(await datatokenAt(free.datatoken, charlie).balanceOf(charlie.address)).to.equal(ethers.parseEther("2"));
      expect((await ocean.dispenser.status(free.datatoken)).active).to.equal(true);
    });

    it("reverts on a zero weights root", async () => {
      const { ph, bob } = await loadFixture(posthumanFixture);
      await expect(
        ph.registry.connect(bob).publishModel(publishParams({ ...m1Options, weightsRoot: ethers.ZeroHash })),
      ).to.be.revertedWithCustomError(ph.registry, "ModelRegistryZeroWeightsRoot");
    });

    it("reverts on a zero fixed rate", async () => {
      const { ph, bob } = await loadFixture(posthumanFixture);
      await commitWeightsRoot(ph.registry, bob, ethers.id("x"));
      await expect(
        ph.registry
          .connect(bob)
          .publishModel(
            publishParams({ ...m1Options, weightsRoot: ethers.id("x"), pricing: { kind: "FixedRate", rate: 0n } }),
          ),
      )
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryInvalidPrice")
        .withArgs(0n);
    });

    it("reverts on a dispenser without limits", async () => {
      const { ph, bob } = await loadFixture(posthumanFixture);
      const pricing = { kind: "Dispenser", maxTokens: 0n, maxBalance: 1n } as const;
      const params = publishParams({ ...m1Options, weightsRoot: ethers.id("x"), pricing });
      await commitWeightsRoot(ph.registry, bob, ethers.id("x"));
      await expect(ph.registry.connect(bob).publishModel(params))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryInvalidDispenser")
        .withArgs(0n, 1n);
    });
  });

  describe("commitWeightsRoot", () => {
    it("refuses a publish without the publisher's commitment from an earlier block, and uses it up", async () => {
      const { ph, bob, derek } = await loadFixture(posthumanFixture);
      const root = ethers.id("bob's weights");
      const params = publishParams({ ...m1Options, weightsRoot: root });
      await expect(ph.registry.connect(bob).publishModel(params))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryWeightsRootNotCommitted")
        .withArgs(root, 0n);
      const commitment = await ph.registry.weightsRootCommitment(bob.address, root);
      expect(commitment).to.equal(
        ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["address", "bytes32"], [bob.address, root])),
      );
      await expect(ph.registry.connect(bob).commitWeightsRoot(commitment))
        .to.emit(ph.registry, "WeightsRootCommitted")
        .withArgs(bob.address, commitment);
      const at = await ph.registry.commitmentBlock(commitment);
      expect(at).to.equal(BigInt(await ethers.provider.getBlockNumber()));
      // Committing again keeps the first block (and emits nothing).
      await expect(ph.registry.connect(derek).commitWeightsRoot(commitment)).not.to.emit(
        ph.registry,
        "WeightsRootCommitted",
      );
      expect(await ph.registry.commitmentBlock(commitment)).to.equal(at);
      // The commitment names its publisher: another account cannot publish the root with it.
      await expect(ph.registry.connect(derek).publishModel(params))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryWeightsRootNotCommitted")
        .withArgs(root, 0n);
      await (await ph.registry.connect(bob).publishModel(params)).wait();
      expect(await ph.registry.commitmentBlock(commitment)).to.equal(0n);
    });

    it("refuses a publish mined in the block of its commitment", async () => {
      const { ph, bob } = await loadFixture(posthumanFixture);
      const root = ethers.id("bob's weights");
      const commitment = await ph.registry.weightsRootCommitment(bob.address, root);
      await ethers.provider.send("evm_setAutomine", [false]);
      try {
        const commit = await ph.registry.connect(bob).commitWeightsRoot(commitment);
        const publish = await ph.registry
          .connect(bob)
          .publishModel(publishParams({ ...m1Options, weightsRoot: root }), { gasLimit: 5_000_000 });
        await ethers.provider.send("evm_mine", []);
        const [c, p] = await Promise.all([commit.wait(), publish.wait().catch(() => null)]);
        expect(c?.blockNumber).to.be.a("number");
        expect(p).to.equal(null);
        const mined = await ethers.provider.getTransactionReceipt(publish.hash);
        expect([mined?.status, mined?.blockNumber]).to.deep.equal([0, c?.blockNumber]);
      } finally {
        await ethers.provider.send("evm_setAutomine", [true]);
      }
      expect(await ph.registry.modelOfWeightsRoot(root)).to.equal(0n);
    });
  });

  describe("createDerivedModel", () => {
    it("records lineage and splits reward datatokens and vault shares between trainer and parent's side", async () => {
      const { registry, market, m1, bob, alice } = await loadFixture(harnessFixture);
      await expect(registry.connect(market).createDerivedModel(derivation(m1.modelId, bob.address)))
        .to.emit(registry, "ModelDerived")
        .withArgs(2n, m1.modelId, 11n, bob.address, alice.address, anyValue, anyValue, M2_ROOT, 1);
      const m2 = await registry.getModel(2n);
      expect([m2.owner, m2.parentSide, m2.parentId, m2.jobId, m2.generation]).to.deep.equal([
        bob.address,
        alice.address,
        m1.modelId,
        11n,
        1n,
      ]);
      expect([m2.weightsRoot, m2.configHash, m2.dataHash, m2.metadataURI]).to.deep.equal([
        M2_ROOT,
        ethers.id("cfg"),
        INPUT_HASH,
        "ipfs://child",
      ]);
      expect(m2.baselineMetric).to.equal(2_900_000n);
      // M1 here has no benchmark, so neither has its child (inheritance: job-market's training receipt test).
      expect(m2.benchmarkId).to.equal(ethers.ZeroHash);
      const dt = datatokenAt(m2.datatoken, bob);
      expect(await dt.balanceOf(bob.address)).to.equal(ethers.parseEther("70"));
      expect(await dt.balanceOf(alice.address)).to.equal(ethers.parseEther("30"));
      expect(await dt.getPaymentCollector()).to.equal(m2.vault);
      const vault = vaultAt(m2.vault, bob);
      expect(await vault.balanceOf(bob.address)).to.equal((TOTAL_SHARES * 7n) / 10n);
      expect(await vault.balanceOf(alice.address)).to.equal((TOTAL_SHARES * 3n) / 10n);
      expect(await vault.parentVault()).to.equal(m1.vault);
      expect(await vault.parentBps()).to.equal(2_000);
      expect(await vault.modelId()).to.equal(2n);
      expect(await registry.modelOfDatatoken(m2.datatoken)).to.equal(2n);
      expect(await ERC721Template__factory.connect(m2.nft, bob).ownerOf(1)).to.equal(await registry.getAddress());
      expect(await ERC721Template__factory.connect(m2.nft, bob).tokenURI(1)).to.equal("ipfs://child");
    });

    it("reverts for anyone but the job market: a derived model cannot be registered outside a job", async () => {
      const { ph, m1, bob } = await loadFixture(posthumanFixture);
      await expect(ph.registry.connect(bob).createDerivedModel(derivation(m1.modelId, bob.address)))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryNotJobMarket")
        .withArgs(bob.address);
    });

    it("reverts for an unknown parent", async () => {
      const { registry, market, bob } = await loadFixture(harnessFixture);
      await expect(registry.connect(market).createDerivedModel(derivation(9n, bob.address)))
        .to.be.revertedWithCustomError(registry, "ModelRegistryUnknownModel")
        .withArgs(9n);
    });

    it("reverts for a frozen parent", async () => {
      const { registry, market, m1, bob } = await loadFixture(harnessFixture);
      await registry.connect(market).createDerivedModel(derivation(m1.modelId, bob.address));
      await registry.connect(market).freezeModel(2n);
      await expect(registry.connect(market).createDerivedModel(derivation(2n, bob.address)))
        .to.be.revertedWithCustomError(registry, "ModelRegistryModelFrozen")
        .withArgs(2n);
    });

    it("reverts on a zero weights root", async () => {
      const { registry, market, m1, bob } = await loadFixture(harnessFixture);
      await expect(
        registry
          .connect(market)
          .createDerivedModel(derivation(m1.modelId, bob.address, { weightsRoot: ethers.ZeroHash })),
      ).to.be.revertedWithCustomError(registry, "ModelRegistryZeroWeightsRoot");
    });

    it("reverts unless the worker committed to the child's root in an earlier block", async () => {
      const { registry, market, m1, bob, charlie } = await loadFixture(harnessFixture);
      await expect(
        registry
          .connect(market)
          .createDerivedModel(derivation(m1.modelId, bob.address, { committer: charlie.address })),
      )
        .to.be.revertedWithCustomError(registry, "ModelRegistryWeightsRootNotCommitted")
        .withArgs(M2_ROOT, 0n);
    });

    it("reverts beyond the lineage bound with the depth it would reach", async () => {
      const { registry, market, m1, bob } = await loadFixture(harnessFixture);
      await registry.connect(market).createDerivedModel(derivation(m1.modelId, bob.address));
      await registry
        .connect(market)
        .createDerivedModel(derivation(2n, bob.address, { weightsRoot: ethers.id("generation 2") }));
      const third = derivation(3n, bob.address, { weightsRoot: ethers.id("generation 3") });
      await expect(registry.connect(market).createDerivedModel(third))
        .to.be.revertedWithCustomError(registry, "ModelRegistryLineageTooDeep")
        .withArgs(3n, 3n, 2n);
    });
  });

  describe("freezeModel", () => {
    it("freezes the model and its vault", async () => {
      const { registry, market, m1, bob } = await loadFixture(harnessFixture);
      await registry.connect(market).createDerivedModel(derivation(m1.modelId, bob.address));
      const vault = vaultAt((await registry.getModel(2n)).vault, bob);
      const tx = registry.connect(market).freezeModel(2n);
      await expect(tx).to.emit(registry, "ModelFrozen").withArgs(2n, 11n);
      await expect(tx).to.emit(vault, "VaultFrozen").withArgs(2n);
      expect(await registry.isFrozen(2n)).to.equal(true);
      expect((await registry.modelRuntime(2n)).frozen).to.equal(true);
    });

    it("reverts for anyone but the job market", async () => {
      const { ph, m1, bob } = await loadFixture(posthumanFixture);
      await expect(ph.registry.connect(bob).freezeModel(m1.modelId))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryNotJobMarket")
        .withArgs(bob.address);
    });

    it("reverts on a model already frozen", async () => {
      const { registry, market, m1 } = await loadFixture(harnessFixture);
      await registry.connect(market).freezeModel(m1.modelId);
      await expect(registry.connect(market).freezeModel(m1.modelId))
        .to.be.revertedWithCustomError(registry, "ModelRegistryModelFrozen")
        .withArgs(m1.modelId);
    });

    it("reverts for an unknown model", async () => {
      const { registry, market } = await loadFixture(harnessFixture);
      await expect(registry.connect(market).freezeModel(4n))
        .to.be.revertedWithCustomError(registry, "ModelRegistryUnknownModel")
        .withArgs(4n);
    });
  });

  describe("updateOceanMetadata", () => {
    it("lets the model's owner replace the NFT's Ocean metadata", async () => {
      const { ph, m1, alice } = await loadFixture(posthumanFixture);
      const md = plainOceanMetadata({ version: 2 });
      const nft = ERC721Template__factory.connect(m1.nft, alice);
      const tx = ph.registry.connect(alice).updateOceanMetadata(m1.modelId, md);
      await expect(tx).to.emit(ph.registry, "OceanMetadataUpdated").withArgs(m1.modelId, md.dataHash);
      await expect(tx).to.emit(nft, "MetadataUpdated");
    });

    it("reverts for anyone but the owner", async () => {
      const { ph, m1, bob } = await loadFixture(posthumanFixture);
      await expect(ph.registry.connect(bob).updateOceanMetadata(m1.modelId, plainOceanMetadata({})))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryNotModelOwner")
        .withArgs(m1.modelId, bob.address);
    });

    it("reverts for an unknown model", async () => {
      const { ph, bob } = await loadFixture(posthumanFixture);
      await expect(ph.registry.connect(bob).updateOceanMetadata(5n, plainOceanMetadata({})))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryUnknownModel")
        .withArgs(5n);
    });
  });

  describe("onERC721Received", () => {
    it("refuses NFTs other than those Ocean's factory mints to it during creation", async () => {
      const { ph, bob } = await loadFixture(posthumanFixture);
      await expect(ph.registry.onERC721Received(bob.address, bob.address, 1n, "0x"))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryUnexpectedNft")
        .withArgs(bob.address, bob.address);
    });
  });

  describe("lineage views", () => {
    async function lineageFixture() {
      const f = await loadFixture(posthumanFixture);
      const { childId: m2 } = await trainChild(f, f.bob, f.m1.modelId, M1_WEIGHTS_ROOT, M2_ROOT);
      const { childId: m3 } = await trainChild(f, f.charlie, m2, M2_ROOT, ethers.id("M3 weights"));
      return { ...f, m2, m3 };
    }

    it("lineageOf gives parent and generation", async () => {
      const { ph, m1, m2, m3 } = await loadFixture(lineageFixture);
      expect(await ph.registry.lineageOf(m1.modelId)).to.deep.equal([0n, 0n]);
      expect(await ph.registry.lineageOf(m3)).to.deep.equal([m2, 2n]);
    });

    it("ancestors walks up to maxCount ancestors, nearest first, never past the root", async () => {
      const { ph, m1, m2, m3 } = await loadFixture(lineageFixture);
      expect(await ph.registry.ancestors(m3, 10n)).to.deep.equal([m2, m1.modelId]);
      expect(await ph.registry.ancestors(m3, 1n)).to.deep.equal([m2]);
      expect(await ph.registry.ancestors(m1.modelId, 10n)).to.deep.equal([]);
    });

    it("records the contributors of each generation: M3's parent side is M2's owner", async () => {
      const { ph, m3, bob, charlie } = await loadFixture(lineageFixture);
      const m = await ph.registry.getModel(m3);
      expect(m.owner).to.equal(charlie.address);
      expect(m.parentSide).to.equal(bob.address);
      expect(await ph.registry.modelRuntime(m3)).to.deep.equal([
        charlie.address,
        m.datatoken,
        ethers.id("M3 weights"),
        false,
      ]);
    });

    for (const view of ["getModel", "modelRuntime", "lineageOf", "isFrozen"] as const) {
      it(`${view} reverts for an unknown model`, async () => {
        const { ph } = await loadFixture(posthumanFixture);
        await expect(ph.registry[view](42n))
          .to.be.revertedWithCustomError(ph.registry, "ModelRegistryUnknownModel")
          .withArgs(42n);
      });
    }

    it("ancestors reverts for an unknown model", async () => {
      const { ph } = await loadFixture(posthumanFixture);
      await expect(ph.registry.ancestors(42n, 1n))
        .to.be.revertedWithCustomError(ph.registry, "ModelRegistryUnknownModel")
        .withArgs(42n);
    });

    it("modelOfDatatoken is 0 for a token the registry did not create", async () => {
      const { ph, ocean, m1, alice } = await loadFixture(posthumanFixture);
      expect(await ph.registry.modelOfDatatoken(ocean.addresses.OceanToken)).to.equal(0n);
      // Not stored: found through the datatoken's payment collector (the vault) and checked against the record, so
      // an Ocean datatoken made elsewhere that pays M1's vault, the vault itself and an account answer 0.
      const copy = await createAsset(ocean, alice, {
        name: "Copy",
        symbol: "COPY",
        owner: alice.address,
        paymentCollector: m1.vault,
      });
      expect(await copy.datatoken.getPaymentCollector()).to.equal(m1.vault);
      expect(await ph.registry.modelOfDatatoken(await copy.datatoken.getAddress())).to.equal(0n);
      expect(await ph.registry.modelOfDatatoken(m1.vault)).to.equal(0n);
      expect(await ph.registry.modelOfDatatoken(alice.address)).to.equal(0n);
      expect(await ph.registry.modelOfDatatoken(m1.datatoken)).to.equal(m1.modelId);
    });
  });

  describe("config", () => {
    it("exposes the deployment's parameters", async () => {
      const { ph, ocean } = await loadFixture(posthumanFixture);
      const c = await ph.registry.config();
      expect(c.oceanFactory).to.equal(ocean.addresses.ERC721Factory);
      expect(c.fixedRateExchange).to.equal(ocean.addresses.FixedRateExchange);
      expect(c.dispenser).to.equal(ocean.addresses.Dispenser);
      expect(c.baseToken).to.equal(ocean.addresses.OceanToken);
      expect(c.jobMarket).to.equal(await ph.jobMarket.getAddress());
      expect(c.vaultImplementation).to.equal(ph.addresses.RoyaltyVaultImplementation);
      expect([c.maxDepth, c.trainerShareBps, c.parentRoyaltyBps, c.rewardSupply]).to.deep.equal([
        BigInt(DEFAULT_PARAMS.maxDepth),
        BigInt(DEFAULT_PARAMS.trainerShareBps),
        BigInt(DEFAULT_PARAMS.parentRoyaltyBps),
        DEFAULT_PARAMS.rewardSupply,
      ]);
    });
  });
});
