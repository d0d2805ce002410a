import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { FixedRateExchange as OceanJsFixedRateExchange } from "@oceanprotocol/lib";
import { oceanFixture } from "../fixtures/ocean";
import {
  ZERO_CONSUME_MARKET_FEE,
  ZERO_PROVIDER_FEE,
  createAsset,
  createAssetWithDispenser,
  createAssetWithFixedRate,
  oceanJsConfig,
} from "../../offchain/deploy/ocean";
import { OceanOrderProxy__factory } from "../../typechain-types";

const ONE = ethers.parseEther("1");

async function pricedAsset() {
  const f = await loadFixture(oceanFixture);
  const asset = await createAssetWithFixedRate(f.ocean, f.alice, {
    name: "M1",
    symbol: "M1",
    owner: f.alice.address,
    baseToken: f.ocean.addresses.OceanToken,
    rate: ethers.parseEther("2"),
  });
  return { ...f, ...asset };
}

describe("Ocean Protocol on the local chain", () => {
  describe("ERC721Factory", () => {
    it("creates a data NFT and a datatoken owned by the publisher", async () => {
      const f = await loadFixture(oceanFixture);
      const { nft, datatoken } = await createAsset(f.ocean, f.alice, {
        name: "M1",
        symbol: "M1",
        owner: f.alice.address,
      });
      expect(await nft.ownerOf(1)).to.equal(f.alice.address);
      expect(await datatoken.getERC721Address()).to.equal(await nft.getAddress());
      expect(await datatoken.isMinter(f.alice.address)).to.equal(true);
      expect(await datatoken.getPaymentCollector()).to.equal(f.alice.address);
    });

    it("prices a datatoken on the FixedRateExchange in the base token", async () => {
      const { ocean, datatoken, exchangeId, alice } = await pricedAsset();
      const ex = await ocean.fixedRate.getExchange(exchangeId);
      expect(ex.datatoken).to.equal(await datatoken.getAddress());
      expect(ex.baseToken).to.equal(ocean.addresses.OceanToken);
      expect(ex.fixedRate).to.equal(ethers.parseEther("2"));
      expect(ex.exchangeOwner).to.equal(alice.address);
      expect(ex.active).to.equal(true);
    });

    it("makes a datatoken free through the Dispenser", async () => {
      const f = await loadFixture(oceanFixture);
      const { datatoken } = await createAssetWithDispenser(f.ocean, f.alice, {
        name: "Free",
        symbol: "FREE",
        owner: f.alice.address,
        maxTokens: ethers.parseEther("10"),
        maxBalance: ethers.parseEther("5"),
      });
      const dt = await datatoken.getAddress();
      await f.ocean.dispenser.connect(f.bob).dispense(dt, ethers.parseEther("3"), f.bob.address);
      await f.ocean.dispenser.connect(f.bob).dispense(dt, ethers.parseEther("3"), f.bob.address);
      expect(await datatoken.balanceOf(f.bob.address)).to.equal(ethers.parseEther("6"));
      // Above maxBalance the dispenser refuses; above maxTokens per call too.
      await expect(f.ocean.dispenser.connect(f.bob).dispense(dt, ONE, f.bob.address)).to.be.revertedWith(
        "Caller balance too high",
      );
      await expect(
        f.ocean.dispenser.connect(f.charlie).dispense(dt, ethers.parseEther("11"), f.charlie.address),
      ).to.be.revertedWith("Amount too high");
    });
  });

  describe("FixedRateExchange", () => {
    it("sells datatokens to a buyer through ocean.js (ethers v6)", async () => {
      const { ocean, datatoken, exchangeId, bob } = await pricedAsset();
      const { chainId } = await ethers.provider.getNetwork();
      const before = await ocean.oceanToken.balanceOf(bob.address);
      await (
        await ocean.oceanToken.connect(bob).approve(ocean.addresses.FixedRateExchange, ethers.parseEther("10"))
      ).wait();

      const config = oceanJsConfig(ocean.addresses, Number(chainId));
      const fre = new OceanJsFixedRateExchange(ocean.addresses.FixedRateExchange, bob, Number(chainId), config);
      expect(Number(await fre.getRate(exchangeId))).to.equal(2);
      await fre.buyDatatokens(exchangeId, "3", "10");

      expect(await datatoken.balanceOf(bob.address)).to.equal(ethers.parseEther("3"));
      const [paid] = await ocean.fixedRate.calcBaseInGivenOutDT(exchangeId, ethers.parseEther("3"), 0);
      expect(before - (await ocean.oceanToken.balanceOf(bob.address))).to.equal(paid);
      expect(paid).to.be.greaterThan(ethers.parseEther("6")); // price plus Ocean's swap fee
    });

    it("keeps the base token until collectBT sends it to the payment collector", async () => {
      const { ocean, exchangeId, bob, alice } = await pricedAsset();
      await ocean.oceanToken.connect(bob).approve(ocean.addresses.FixedRateExchange, ethers.parseEther("10"));
      await ocean.fixedRate.connect(bob).buyDT(exchangeId, ONE, ethers.parseEther("10"), ethers.ZeroAddress, 0);
      const { btBalance } = await ocean.fixedRate.getExchange(exchangeId);
      expect(btBalance).to.equal(ethers.parseEther("2"));
      const before = await ocean.oceanToken.balanceOf(alice.address);
      await ocean.fixedRate.connect(bob).collectBT(exchangeId, btBalance);
      expect((await ocean.oceanToken.balanceOf(alice.address)) - before).to.equal(btBalance);
    });
  });

  describe("ERC20Template.startOrder", () => {
    it("consumes exactly 1 datatoken: 0.97 to the payment collector, 0.03 to Ocean", async () => {
      const { ocean, datatoken, alice, bob, treasury } = await pricedAsset();
      await datatoken.connect(alice).setPaymentCollector(treasury.address);
      await datatoken.connect(alice).mint(bob.address, ethers.parseEther("2"));
      const opc = await ocean.router.getOPCCollector();
      const fee = await ocean.router.getOPCConsumeFee();
      expect(fee).to.equal(ethers.parseEther("0.03"));

      await expect(datatoken.connect(bob).startOrder(bob.address, 0, ZERO_PROVIDER_FEE, ZERO_CONSUME_MARKET_FEE))
        .to.emit(datatoken, "OrderStarted")
        .withArgs(
          bob.address,
          bob.address,
          ONE,
          0,
          (t: bigint) => t > 0n,
          ethers.ZeroAddress,
          (b: bigint) => b > 0n,
        );

      expect(await datatoken.balanceOf(bob.address)).to.equal(ONE);
      expect(await datatoken.balanceOf(treasury.address)).to.equal(ONE - fee);
      expect(await datatoken.balanceOf(opc)).to.equal(fee);
    });

    it("lets a contract holding a datatoken order on behalf of a consumer with an all-zero provider fee", async () => {
      const { datatoken, alice, derek, deployer } = await pricedAsset();
      const proxy = await new OceanOrderProxy__factory(deployer).deploy();
      await datatoken.connect(alice).mint(derek.address, ONE);
      await datatoken.connect(derek).approve(await proxy.getAddress(), ONE);

      await expect(proxy.connect(derek).orderFor(await datatoken.getAddress(), derek.address, ZERO_PROVIDER_FEE))
        .to.emit(datatoken, "OrderStarted")
        .withArgs(
          derek.address,
          await proxy.getAddress(),
          ONE,
          0,
          (t: bigint) => t > 0n,
          ethers.ZeroAddress,
          (b: bigint) => b > 0n,
        );
      expect(await datatoken.balanceOf(derek.address)).to.equal(0n);
    });

    it("refuses an order whose provider fee is signed by someone other than its provider", async () => {
      const { datatoken, alice, derek, elena, deployer } = await pricedAsset();
      const proxy = await new OceanOrderProxy__factory(deployer).deploy();
      await datatoken.connect(alice).mint(derek.address, ONE);
      await datatoken.connect(derek).approve(await proxy.getAddress(), ONE);

      // The template checks ecrecover(keccak(prefix ‖ keccak(providerData, feeAddress, feeToken, amount, validUntil)))
      // against providerFeeAddress; elena signs for a fee that claims alice as its provider.
      const message = ethers.solidityPackedKeccak256(
        ["bytes", "address", "address", "uint256", "uint256"],
        ["0x", alice.address, ethers.ZeroAddress, 0, 0],
      );
      const sign = async (s: typeof alice) => ethers.Signature.from(await s.signMessage(ethers.getBytes(message)));
      const forgedSig = await sign(elena);
      const forged = {
        ...ZERO_PROVIDER_FEE,
        providerFeeAddress: alice.address,
        v: forgedSig.v,
        r: forgedSig.r,
        s: forgedSig.s,
      };
      const dt = await datatoken.getAddress();
      await expect(proxy.connect(derek).orderFor(dt, derek.address, forged)).to.be.revertedWith("Invalid provider fee");
      expect(await datatoken.balanceOf(derek.address)).to.equal(ONE);

      // The same fee signed by alice herself is accepted: the refusal above is the signature check.
      const goodSig = await sign(alice);
      const genuine = { ...forged, v: goodSig.v, r: goodSig.r, s: goodSig.s };
      await expect(proxy.connect(derek).orderFor(dt, derek.address, genuine)).to.emit(datatoken, "OrderStarted");
    });
  });
});
