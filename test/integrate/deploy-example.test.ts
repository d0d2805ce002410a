import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import {
  EXAMPLE_CONSUMER_KEY,
  LOCAL_BOUNTY_EVALUATIONS,
  LOCAL_CHAIN_IDS,
  deployAll,
  localBountyTerms,
} from "../../offchain/deploy/deploy";
import { finetuneBountyAt } from "../../offchain/protocol/contracts";
import { OceanToken__factory } from "../../typechain-types";

async function firstDeploy() {
  const [deployer] = await ethers.getSigners();
  return { deployer, ...(await deployAll(deployer)) };
}

describe("deployAll: the example consumer on local chains", () => {
  it("deploys FinetuneBounty on the chain's job market, records it under its name and funds it", async () => {
    const { deployer, book, deployed } = await loadFixture(firstDeploy);
    expect(LOCAL_CHAIN_IDS).to.include(book.chainId);
    expect(deployed).to.include(EXAMPLE_CONSUMER_KEY);
    const bounty = finetuneBountyAt(book.contracts[EXAMPLE_CONSUMER_KEY], deployer);
    const terms = await bounty.terms();
    const defaults = localBountyTerms(0);
    expect([terms.baseModelId, terms.datasetHash, terms.targetLoss, terms.reward]).to.deep.equal([
      defaults.baseModelId,
      defaults.datasetHash,
      defaults.targetLoss,
      defaults.reward,
    ]);
    expect(await bounty.sponsor()).to.equal(deployer.address);
    const token = OceanToken__factory.connect(book.contracts.OceanToken, deployer);
    expect(await token.balanceOf(await bounty.getAddress())).to.equal(
      defaults.reward + LOCAL_BOUNTY_EVALUATIONS * (defaults.evalFee + defaults.callbackFee),
    );
    // Bound to this deployment's job market: the market accepts its requests and calls it back.
    const market = await ethers.getContractAt("JobMarket", book.contracts.JobMarket);
    expect((await market.config()).registry).to.equal(book.contracts.ModelRegistry);
  });

  it("deploys nothing the second time, and the bounty again when its address has no code", async () => {
    const { deployer, book } = await loadFixture(firstDeploy);
    const again = await deployAll(deployer, { existing: book });
    expect(again.deployed).to.deep.equal([]);
    expect(again.book.contracts[EXAMPLE_CONSUMER_KEY]).to.equal(book.contracts[EXAMPLE_CONSUMER_KEY]);
    const stale = {
      ...book,
      contracts: { ...book.contracts, [EXAMPLE_CONSUMER_KEY]: ethers.Wallet.createRandom().address },
    };
    const fixed = await deployAll(deployer, { existing: stale });
    expect(fixed.deployed).to.deep.equal([EXAMPLE_CONSUMER_KEY]);
    expect(await ethers.provider.getCode(fixed.book.contracts[EXAMPLE_CONSUMER_KEY])).to.not.equal("0x");
  });

  it("deploys a new bounty with a new job market, and none when asked not to", async () => {
    const { deployer, book } = await loadFixture(firstDeploy);
    const stale = { ...book, contracts: { ...book.contracts, JobMarket: ethers.Wallet.createRandom().address } };
    const redeployed = await deployAll(deployer, { existing: stale });
    expect(redeployed.deployed).to.include.members(["JobMarket", EXAMPLE_CONSUMER_KEY]);
    const bounty = finetuneBountyAt(redeployed.book.contracts[EXAMPLE_CONSUMER_KEY], deployer);
    expect(redeployed.book.contracts[EXAMPLE_CONSUMER_KEY]).to.not.equal(book.contracts[EXAMPLE_CONSUMER_KEY]);
    expect(await bounty.sponsor()).to.equal(deployer.address);

    const without = await deployAll(deployer, {
      existing: { ...stale, contracts: { ...stale.contracts } },
      exampleBounty: false,
    });
    expect(without.deployed).to.not.include(EXAMPLE_CONSUMER_KEY);
  });

  it("takes terms other than the local defaults", async () => {
    const [deployer] = await ethers.getSigners();
    const { book } = await deployAll(deployer, { exampleBounty: { baseModelId: 7n, maxGenerations: 2 } });
    const terms = await finetuneBountyAt(book.contracts[EXAMPLE_CONSUMER_KEY], deployer).terms();
    expect([terms.baseModelId, terms.maxGenerations]).to.deep.equal([7n, 2n]);
  });
});
