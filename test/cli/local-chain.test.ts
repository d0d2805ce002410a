import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { ethers } from "ethers";
import { startLocalChain } from "../../offchain/cli/local-chain";
import { deployAll, oceanAddressesOf } from "../../offchain/deploy/deploy";
import { attachOcean } from "../../offchain/deploy/ocean";

const DEV_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"; // hardhat account #1

describe("the embedded local chain (posthuman up)", () => {
  it("refuses a second chain on a data directory a live process holds (its journal), and takes over a dead one's", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-chain-lock-"));
    const lock = path.join(dataDir, "chain", "lock");
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    const holder = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      fs.writeFileSync(lock, String(holder.pid));
      await expect(startLocalChain({ dataDir, port: 0 })).to.be.rejectedWith(
        new RegExp(`is in use by process ${holder.pid} \\(a running posthuman up\\): stop it first`),
      );
      expect(fs.existsSync(path.join(dataDir, "chain", "journal.jsonl"))).to.equal(false); // nothing touched
    } finally {
      holder.kill();
    }
    await new Promise((r) => (holder.exitCode !== null || holder.signalCode ? r(null) : holder.once("exit", r)));
    const chain = await startLocalChain({ dataDir, port: 0 }); // the holder is gone: its lock is stale
    try {
      expect(fs.readFileSync(lock, "utf8")).to.equal(String(process.pid));
    } finally {
      await chain.stop();
    }
    expect(fs.existsSync(lock)).to.equal(false); // released at stop
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("keeps its state across a restart by replaying its journal", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-chain-"));
    const first = await startLocalChain({ dataDir, port: 0 });
    let book;
    let headBefore;
    try {
      const provider = new ethers.JsonRpcProvider(first.url, undefined, { cacheTimeout: -1 });
      const deployer = await provider.getSigner(0);
      book = (await deployAll(deployer)).book;
      const alice = new ethers.Wallet(DEV_KEY_1, provider);
      const ocean = attachOcean(oceanAddressesOf(book), deployer);
      await (await ocean.oceanToken.mint(alice.address, 123n)).wait();
      // A reverted transaction is mined too, and must replay the same way.
      await expect(ocean.oceanToken.connect(alice).transfer(deployer.address, 1000n)).to.be.rejected;
      headBefore = await provider.getBlock("latest");
      provider.destroy();
    } finally {
      await first.stop();
    }

    const second = await startLocalChain({ dataDir, port: 0 });
    try {
      expect(second.replayed).to.be.greaterThan(10);
      expect(second.restored).to.equal(true);
      const provider = new ethers.JsonRpcProvider(second.url, undefined, { cacheTimeout: -1 });
      const head = await provider.getBlock("latest");
      expect(head?.number).to.equal(headBefore?.number);
      expect(head?.hash).to.equal(headBefore?.hash);
      const ocean = attachOcean(oceanAddressesOf(book), provider);
      expect(await ocean.oceanToken.balanceOf(new ethers.Wallet(DEV_KEY_1).address)).to.equal(123n);
      provider.destroy();
    } finally {
      await second.stop();
    }
  });
});
