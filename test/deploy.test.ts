import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { deployAll } from "../offchain/deploy/deploy";
import { addressBookPath, readAddressBook, writeAddressBook } from "../offchain/deploy/address-book";
import { publishedOceanAddresses } from "../offchain/deploy/ocean";
import { remoteNetworkFromEnv } from "../offchain/deploy/network-env";

async function firstDeploy() {
  const [deployer] = await ethers.getSigners();
  const outcome = await deployAll(deployer);
  return { deployer, ...outcome };
}

describe("deployAll", () => {
  it("deploys Ocean on a local chain and records chainId and startBlock", async () => {
    const { book, deployed } = await loadFixture(firstDeploy);
    expect(book.chainId).to.equal(31337);
    expect(deployed).to.include.members([
      "OceanToken",
      "FactoryRouter",
      "FixedRateExchange",
      "Dispenser",
      "ERC721Factory",
    ]);
    for (const a of Object.values(book.contracts)) expect(await ethers.provider.getCode(a)).to.not.equal("0x");
  });

  it("deploys nothing the second time", async () => {
    const { deployer, book } = await loadFixture(firstDeploy);
    const before = await ethers.provider.getBlockNumber();
    const again = await deployAll(deployer, { existing: book });
    expect(again.deployed).to.deep.equal([]);
    expect(again.book).to.deep.equal(book);
    expect(await ethers.provider.getBlockNumber()).to.equal(before);
  });

  it("redeploys when the book points at addresses without code", async () => {
    const { deployer, book } = await loadFixture(firstDeploy);
    const stale = {
      ...book,
      contracts: { ...book.contracts, FixedRateExchange: ethers.Wallet.createRandom().address },
    };
    const again = await deployAll(deployer, { existing: stale });
    expect(again.deployed).to.include("FixedRateExchange");
  });

  it("refuses an address book of another chain", async () => {
    const { deployer, book } = await loadFixture(firstDeploy);
    await expect(deployAll(deployer, { existing: { ...book, chainId: 1 } })).to.be.rejectedWith(
      "The address book is for chain 1 but the RPC node is chain 31337.",
    );
  });
});

describe("address book", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-book-"));

  it("round-trips through an atomic write", () => {
    const file = addressBookPath("demo", dir);
    const book = { chainId: 5, startBlock: 7, contracts: { X: "0x" + "11".repeat(20) } };
    writeAddressBook(file, book);
    expect(readAddressBook(file)).to.deep.equal(book);
  });

  it("names the bad field of a malformed book", () => {
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, JSON.stringify({ chainId: 5, startBlock: 0, contracts: { X: "0x12" } }));
    expect(() => readAddressBook(file)).to.throw(/contracts\.X: not a 0x-prefixed 20-byte address/);
  });

  it("refuses a network name that could escape the deployments folder", () => {
    expect(() => addressBookPath("../etc/passwd")).to.throw(/may only hold letters/);
  });
});

describe("published Ocean addresses", () => {
  it("uses Ocean's own deployment on a chain where it exists (Ethereum mainnet)", () => {
    const book = publishedOceanAddresses(1);
    expect(book?.OceanToken).to.match(/^0x[0-9a-fA-F]{40}$/);
    expect(book?.ERC721Factory).to.match(/^0x[0-9a-fA-F]{40}$/);
  });

  it("finds none on the local chain", () => {
    expect(publishedOceanAddresses(31337)).to.equal(undefined);
  });
});

describe("remote network configuration", () => {
  const key = "0x" + "ab".repeat(32);

  it("is absent when nothing is configured", () => {
    expect(remoteNetworkFromEnv({}, [])).to.equal(undefined);
  });

  it("builds the network from the environment", () => {
    const net = remoteNetworkFromEnv(
      { POSTHUMAN_RPC_URL: "https://rpc.example", POSTHUMAN_CHAIN_ID: "11155111", POSTHUMAN_PRIVATE_KEY: key },
      [],
    );
    expect(net).to.deep.equal({ url: "https://rpc.example", chainId: 11155111, accounts: [key] });
  });

  it("reads the key from a key file", () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ph-key-")), "key");
    fs.writeFileSync(file, key + "\n");
    const net = remoteNetworkFromEnv(
      { POSTHUMAN_RPC_URL: "https://rpc.example", POSTHUMAN_CHAIN_ID: "10", POSTHUMAN_KEY_FILE: file },
      [],
    );
    expect(net?.accounts).to.deep.equal([key]);
  });

  it("names every missing value when --network remote is asked for", () => {
    expect(() => remoteNetworkFromEnv({}, ["--network", "remote"])).to.throw(
      /POSTHUMAN_RPC_URL is not set[\s\S]*POSTHUMAN_CHAIN_ID is not set[\s\S]*POSTHUMAN_PRIVATE_KEY nor POSTHUMAN_KEY_FILE/,
    );
  });

  it("never prints a malformed key", () => {
    const secret = "0xnot-a-key-but-secret";
    try {
      remoteNetworkFromEnv(
        { POSTHUMAN_RPC_URL: "https://x", POSTHUMAN_CHAIN_ID: "1", POSTHUMAN_PRIVATE_KEY: secret },
        [],
      );
      expect.fail("should throw");
    } catch (e) {
      expect((e as Error).message)
        .to.include("its value is not shown")
        .and.not.include(secret);
    }
  });
});
