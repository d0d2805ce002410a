import { ethers } from "hardhat";
import type { ContractTransactionResponse } from "ethers";
import { deployOcean } from "../deploy/ocean";
import type { BenchFigure } from "./figures";

/** Gas of creating an Ocean model asset (data NFT + datatoken + fixed-rate exchange) on the local chain. */
export async function benchOcean(): Promise<BenchFigure[]> {
  const [deployer, alice] = await ethers.getSigners();
  const ocean = await deployOcean(deployer);
  const nft = { name: "M1", symbol: "M1", templateIndex: 1n, tokenURI: "", transferable: true, owner: alice.address };
  const erc = {
    templateIndex: 1n,
    strings: ["M1 datatoken", "M1-DT"],
    addresses: [alice.address, ethers.ZeroAddress, ethers.ZeroAddress, ethers.ZeroAddress],
    uints: [ethers.MaxUint256, 0n],
    bytess: [],
  };
  const fixed = {
    fixedPriceAddress: ocean.addresses.FixedRateExchange,
    addresses: [ocean.addresses.OceanToken, alice.address, alice.address, ethers.ZeroAddress],
    uints: [18n, 18n, ethers.parseEther("1"), 0n, 1n],
  };
  const gasOf = async (tx: Promise<ContractTransactionResponse>) => Number((await (await tx).wait())!.gasUsed);
  const factory = ocean.factory.connect(alice);
  const plain = await gasOf(factory.createNftWithErc20({ ...nft, symbol: "P" }, erc));
  const withFre = await gasOf(factory.createNftWithErc20WithFixedRate(nft, erc, fixed));
  return [
    { name: "ocean create model (NFT + datatoken + fixed-rate exchange)", value: withFre, unit: "gas", params: {} },
    { name: "ocean create NFT + datatoken", value: plain, unit: "gas", params: {} },
  ];
}
