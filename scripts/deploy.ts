/**
 * Deploys (or finds) Ocean Protocol and PostHuman on the selected network and writes deployments/<network>.json.
 *   npx hardhat run scripts/deploy.ts --network hardhat|localhost|remote
 * Running it again deploys nothing when every contract in the address book still has code.
 */
import { ethers, network } from "hardhat";
import { addressBookPath, readAddressBook, writeAddressBook } from "../offchain/deploy/address-book";
import { deployAll } from "../offchain/deploy/deploy";

async function main(): Promise<void> {
  const [deployer] = await ethers.getSigners();
  if (!deployer) throw new Error(`Network ${network.name} has no account to deploy with.`);
  const file = addressBookPath(network.name);
  const existing = readAddressBook(file);
  const { book, deployed } = await deployAll(deployer, { existing, log: (l) => console.log(l) });
  writeAddressBook(file, book);
  console.log(
    deployed.length
      ? `Deployed ${deployed.length} contracts: ${deployed.join(", ")}`
      : "Nothing deployed: the address book is current.",
  );
  console.log(`Address book: ${file}`);
  console.log(JSON.stringify(book, null, 2));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
