import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, mine } from "@nomicfoundation/hardhat-network-helpers";
import { posthumanFixture } from "../fixtures/posthuman";
import { datatokenAt } from "../../offchain/protocol/contracts";
import { DatatokenMarket__factory } from "../../typechain-types";
import { challengedTrainFixture } from "./helpers";

const PRICE = ethers.parseEther("3");
const LISTED = ethers.parseEther("4");

/** Alice lists 4 of her M1 datatokens at 3 base tokens each. */
async function listedFixture() {
  const f = await loadFixture(posthumanFixture);
  const market = f.ph.datatokenMarket;
  await datatokenAt(f.m1.datatoken, f.alice).approve(await market.getAddress(), LISTED);
  await market.connect(f.alice).createListing(f.m1.modelId, LISTED, PRICE);
  await f.ocean.oceanToken.connect(f.charlie).approve(await market.getAddress(), ethers.parseEther("1000"));
  return { ...f, market, listingId: 1n, dt: datatokenAt(f.m1.datatoken, f.alice) };
}

describe("DatatokenMarket", () => {
  describe("constructor", () => {
    it("reverts on a zero address", async () => {
      const f = await loadFixture(posthumanFixture);
      const factory = new DatatokenMarket__factory(f.deployer);
      await expect(factory.deploy(ethers.ZeroAddress, f.ocean.addresses.OceanToken)).to.be.revertedWithCustomError(
        factory,
        "DatatokenMarketZeroAddress",
      );
    });

    it("exposes its registry and base token", async () => {
      const f = await loadFixture(posthumanFixture);
      expect(await f.ph.datatokenMarket.registry()).to.equal(await f.ph.registry.getAddress());
      expect(await f.ph.datatokenMarket.baseToken()).to.equal(f.ocean.addresses.OceanToken);
    });
  });

  describe("createListing", () => {
    it("escrows the datatokens and records the listing", async () => {
      const f = await loadFixture(posthumanFixture);
      const market = f.ph.datatokenMarket;
      const dt = datatokenAt(f.m1.datatoken, f.alice);
      await dt.approve(await market.getAddress(), LISTED);
      const tx = market.connect(f.alice).createListing(f.m1.modelId, LISTED, PRICE);
      await expect(tx).to.emit(market, "ListingCreated").withArgs(1n, f.m1.modelId, f.alice.address, LISTED, PRICE);
      await expect(tx).to.changeTokenBalances(dt, [f.alice, market], [-LISTED, LISTED]);
      const l = await market.getListing(1n);
      expect([l.seller, l.modelId, l.datatoken, l.remaining, l.pricePerToken]).to.deep.equal([
        f.alice.address,
        f.m1.modelId,
        f.m1.datatoken,
        LISTED,
        PRICE,
      ]);
      expect(await market.listingCount()).to.equal(1n);
    });

    it("reverts on a zero amount", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(
        f.ph.datatokenMarket.connect(f.alice).createListing(f.m1.modelId, 0n, PRICE),
      ).to.be.revertedWithCustomError(f.ph.datatokenMarket, "DatatokenMarketZeroAmount");
    });

    it("reverts on a zero price", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(
        f.ph.datatokenMarket.connect(f.alice).createListing(f.m1.modelId, LISTED, 0n),
      ).to.be.revertedWithCustomError(f.ph.datatokenMarket, "DatatokenMarketZeroPrice");
    });

    it("reverts for an unknown model", async () => {
      const f = await loadFixture(posthumanFixture);
      await expect(f.ph.datatokenMarket.connect(f.alice).createListing(9n, LISTED, PRICE))
        .to.be.revertedWithCustomError(f.ph.registry, "ModelRegistryUnknownModel")
        .withArgs(9n);
    });
  });

  describe("createListingWithPermit", () => {
    it("lists without a prior approval, with the datatoken's EIP-2612 permit", async () => {
      const f = await loadFixture(posthumanFixture);
      const market = f.ph.datatokenMarket;
      const dt = datatokenAt(f.m1.datatoken, f.alice);
      const { chainId } = await ethers.provider.getNetwork();
      const deadline = BigInt(await ethers.provider.getBlockNumber()) + 5n;
      const sig = ethers.Signature.from(
        await f.alice.signTypedData(
          { name: await dt.name(), version: "1", chainId, verifyingContract: f.m1.datatoken },
          {
            Permit: [
              { name: "owner", type: "address" },
              { name: "spender", type: "address" },
              { name: "value", type: "uint256" },
              { name: "nonce", type: "uint256" },
              { name: "deadline", type: "uint256" },
            ],
          },
          { owner: f.alice.address, spender: await market.getAddress(), value: LISTED, nonce: 0n, deadline },
        ),
      );
      await expect(
        market
          .connect(f.alice)
          .createListingWithPermit(f.m1.modelId, LISTED, PRICE, { deadline, v: sig.v, r: sig.r, s: sig.s }),
      )
        .to.emit(market, "ListingCreated")
        .withArgs(1n, f.m1.modelId, f.alice.address, LISTED, PRICE);
    });

    it("reverts when the permit is invalid and there is no allowance", async () => {
      const f = await loadFixture(posthumanFixture);
      await mine(1);
      await expect(
        f.ph.datatokenMarket.connect(f.alice).createListingWithPermit(f.m1.modelId, LISTED, PRICE, {
          deadline: 1n,
          v: 27,
          r: ethers.ZeroHash,
          s: ethers.ZeroHash,
        }),
      ).to.be.revertedWith("ERC20: insufficient allowance");
    });
  });

  describe("buy", () => {
    it("sells part of a listing, paying the seller directly", async () => {
      const { market, listingId, dt, alice, charlie, ocean, m1 } = await loadFixture(listedFixture);
      const amount = ethers.parseEther("1.5");
      const cost = (amount * PRICE) / ethers.parseEther("1");
      expect(await market.quote(listingId, amount)).to.equal(cost);
      const tx = market.connect(charlie).buy(listingId, amount, cost);
      await expect(tx)
        .to.emit(market, "ListingFilled")
        .withArgs(listingId, m1.modelId, charlie.address, alice.address, amount, cost);
      await expect(tx).to.changeTokenBalances(ocean.oceanToken, [charlie, alice, market], [-cost, cost, 0n]);
      await expect(tx).to.changeTokenBalances(dt, [market, charlie], [-amount, amount]);
      expect((await market.getListing(listingId)).remaining).to.equal(LISTED - amount);
    });

    it("sells the whole listing", async () => {
      const { market, listingId, charlie } = await loadFixture(listedFixture);
      await market.connect(charlie).buy(listingId, LISTED, ethers.parseEther("12"));
      expect((await market.getListing(listingId)).remaining).to.equal(0n);
    });

    it("rounds the cost up to the wei (a dust purchase is never free)", async () => {
      const { market, dt, alice, charlie } = await loadFixture(listedFixture);
      await dt.approve(await market.getAddress(), LISTED);
      await market.connect(alice).createListing(1n, LISTED, 1n); // 1 base-token wei per whole datatoken
      expect(await market.quote(2n, 1n)).to.equal(1n);
      const tx = market.connect(charlie).buy(2n, 1n, 1n);
      await expect(tx).to.changeTokenBalances(dt, [charlie], [1n]);
      await expect(tx).to.changeTokenBalances(
        await ethers.getContractAt("IERC20", await market.baseToken()),
        [charlie, alice],
        [-1n, 1n],
      );
    });

    it("reverts beyond what remains", async () => {
      const { market, listingId, charlie } = await loadFixture(listedFixture);
      await expect(market.connect(charlie).buy(listingId, LISTED + 1n, ethers.MaxUint256))
        .to.be.revertedWithCustomError(market, "DatatokenMarketInsufficientListing")
        .withArgs(listingId, LISTED, LISTED + 1n);
    });

    it("reverts on a zero amount", async () => {
      const { market, listingId, charlie } = await loadFixture(listedFixture);
      await expect(market.connect(charlie).buy(listingId, 0n, 0n)).to.be.revertedWithCustomError(
        market,
        "DatatokenMarketZeroAmount",
      );
    });

    it("reverts when the cost exceeds the buyer's maximum", async () => {
      const { market, listingId, charlie } = await loadFixture(listedFixture);
      const one = ethers.parseEther("1");
      await expect(market.connect(charlie).buy(listingId, one, PRICE - 1n))
        .to.be.revertedWithCustomError(market, "DatatokenMarketCostAboveMax")
        .withArgs(PRICE, PRICE - 1n);
    });

    it("reverts for an unknown listing", async () => {
      const { market, charlie } = await loadFixture(listedFixture);
      await expect(market.connect(charlie).buy(8n, 1n, 1n))
        .to.be.revertedWithCustomError(market, "DatatokenMarketUnknownListing")
        .withArgs(8n);
    });

    it("reverts on a frozen model's listing", async () => {
      const f = await loadFixture(challengedTrainFixture);
      const m2 = await f.ph.registry.getModel(f.m2Id);
      const market = f.ph.datatokenMarket;
      await datatokenAt(m2.datatoken, f.bob).approve(await market.getAddress(), LISTED);
      await market.connect(f.bob).createListing(f.m2Id, LISTED, PRICE);
      await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      await expect(market.connect(f.charlie).buy(1n, 1n, PRICE))
        .to.be.revertedWithCustomError(market, "DatatokenMarketModelFrozen")
        .withArgs(f.m2Id);
    });

    it("refuses a new listing of a frozen model, and the seller's tokens stay with the seller", async () => {
      const f = await loadFixture(challengedTrainFixture);
      const m2 = await f.ph.registry.getModel(f.m2Id);
      const market = f.ph.datatokenMarket;
      const dt = datatokenAt(m2.datatoken, f.bob);
      await dt.approve(await market.getAddress(), LISTED);
      await f.ph.jobMarket.connect(f.arbiter).resolveChallenge(f.jobId, true);
      const before = await dt.balanceOf(f.bob.address);
      await expect(market.connect(f.bob).createListing(f.m2Id, LISTED, PRICE))
        .to.be.revertedWithCustomError(market, "DatatokenMarketModelFrozen")
        .withArgs(f.m2Id);
      expect(await dt.balanceOf(f.bob.address)).to.equal(before);
      expect(await market.listingCount()).to.equal(0n);
    });
  });

  describe("cancelListing", () => {
    it("returns the unsold datatokens to the seller", async () => {
      const { market, listingId, dt, alice, charlie, m1 } = await loadFixture(listedFixture);
      const bought = ethers.parseEther("1");
      await market.connect(charlie).buy(listingId, bought, PRICE);
      const tx = market.connect(alice).cancelListing(listingId);
      await expect(tx)
        .to.emit(market, "ListingCancelled")
        .withArgs(listingId, m1.modelId, alice.address, LISTED - bought);
      await expect(tx).to.changeTokenBalances(dt, [market, alice], [-(LISTED - bought), LISTED - bought]);
      await expect(market.connect(charlie).buy(listingId, 1n, PRICE))
        .to.be.revertedWithCustomError(market, "DatatokenMarketInsufficientListing")
        .withArgs(listingId, 0n, 1n);
    });

    it("reverts for anyone but the seller", async () => {
      const { market, listingId, charlie } = await loadFixture(listedFixture);
      await expect(market.connect(charlie).cancelListing(listingId))
        .to.be.revertedWithCustomError(market, "DatatokenMarketNotSeller")
        .withArgs(listingId, charlie.address);
    });

    it("reverts for an unknown listing", async () => {
      const { market, alice } = await loadFixture(listedFixture);
      await expect(market.connect(alice).cancelListing(5n))
        .to.be.revertedWithCustomError(market, "DatatokenMarketUnknownListing")
        .withArgs(5n);
    });
  });

  describe("quote and getListing", () => {
    it("revert for an unknown listing", async () => {
      const { market } = await loadFixture(listedFixture);
      await expect(market.quote(3n, 1n))
        .to.be.revertedWithCustomError(market, "DatatokenMarketUnknownListing")
        .withArgs(3n);
      await expect(market.getListing(3n))
        .to.be.revertedWithCustomError(market, "DatatokenMarketUnknownListing")
        .withArgs(3n);
    });
  });
});
