/**
 * `posthuman up` across a crash and a restart: its `hardhat node` ends with it however it ends (`kill -9` leaves no
 * orphan holding a port), as the tests' own chain (offchain/devnet/hardhat-node.ts) does with its process; a Ctrl-C
 * during the first deployment is redone afresh by the next `up`, not deployed a second time beside the first; and the
 * restored chain's clock counts the time it was down, as a real chain's does.
 */
import { expect } from "chai";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { startLocalChain } from "../../offchain/cli/local-chain";
import { DEV_FUNDS, INCOMPLETE_DEPLOYMENT } from "../../offchain/cli/up";
import { devWallet } from "../../offchain/deploy/accounts";
import { readAddressBook } from "../../offchain/deploy/address-book";
import { OceanToken__factory } from "../../typechain-types";
import { cli, startUp } from "./cli-process";

const ROOT = path.join(__dirname, "..", "..");

/** Whether pid is a running process (a zombie, dead and waiting to be reaped by whoever adopted it, is not). */
function running(pid: number): boolean {
  try {
    return !execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" })
      .trim()
      .startsWith("Z");
  } catch {
    return false; // ps exits 1: no such process
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!running(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !running(pid);
}

/** The `hardhat node` processes whose parent is pid. */
function hardhatNodesOf(pid: number): number[] {
  return execFileSync("ps", ["-A", "-o", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => !!m && Number(m[2]) === pid && /hardhat node/.test(m[3]))
    .map((m) => Number(m[1]));
}

/** A process's group id (its pgid), from ps. */
function processGroup(pid: number): number {
  return Number(execFileSync("ps", ["-o", "pgid=", "-p", String(pid)], { encoding: "utf8" }).trim());
}

async function sigkill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

describe("posthuman up after a crash", function () {
  this.timeout(300_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-up-crash-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("its hardhat node, in a process group of its own, exits when `up` is killed with SIGKILL (no orphan holding the port)", async () => {
    const run = await startUp(path.join(tmp, "up"), path.join(tmp, "up.json"), 180_000, ["--no-worker"]);
    let nodes: number[] = [];
    try {
      nodes = hardhatNodesOf(run.child.pid!);
      expect(nodes, "the up process's hardhat node").to.have.length(1);
      expect(running(nodes[0])).to.equal(true);
      // In a process group of its own: a terminal's Ctrl-C (SIGINT to the whole foreground group) reaches `up` only,
      // which stops its worker before its chain (the chain killed first left the worker's last rounds failing on it).
      expect(processGroup(nodes[0]), "the hardhat node's process group").to.equal(nodes[0]);
      expect(processGroup(run.child.pid!)).to.not.equal(nodes[0]);
    } finally {
      await sigkill(run.child);
    }
    const gone = await waitGone(nodes[0], 5_000);
    if (!gone) process.kill(nodes[0], "SIGKILL"); // leave no orphan behind a failing test
    expect(gone, `hardhat node ${nodes[0]} still running 5 s after its up process was killed`).to.equal(true);
  });

  it("after a Ctrl-C during the first deployment, the next up discards the half-deployed chain and deploys it afresh", async () => {
    const dataDir = path.join(tmp, "half");
    const deployment = path.join(tmp, "half.json");
    const args = [
      "--json",
      "--data-dir",
      dataDir,
      "--deployment",
      deployment,
      "up",
      "--no-worker",
      "--chain-port",
      "0",
    ];
    // Ctrl-C once Ocean is deployed and PostHuman's deployment has begun.
    const cut = await cli(args, { ctrlCWhen: /Deploying PostHuman/, timeoutMs: 180_000 });
    expect(cut.stderr).to.contain("Deploying PostHuman");
    expect(cut.code, cut.stderr).to.not.equal(0);
    expect(fs.existsSync(path.join(dataDir, INCOMPLETE_DEPLOYMENT)), "the deployment's mark").to.equal(true);
    expect(fs.existsSync(path.join(dataDir, "deployments.json")), "a record of half a deployment").to.equal(false);
    expect(fs.existsSync(deployment)).to.equal(false);
    expect(fs.readFileSync(path.join(dataDir, "chain", "journal.jsonl"), "utf8")).to.contain("eth_sendRawTransaction");

    // The next up: a fresh chain, deployed in full at the addresses of an uninterrupted deployment, the accounts funded.
    const fresh = await startUp(dataDir, deployment, 180_000, ["--no-worker"]);
    const deployer = devWallet(0).address;
    try {
      expect(fresh.stderr()).to.contain("stopped during its chain's first deployment (Ctrl-C or a crash)");
      expect(fresh.stderr()).to.contain("Fresh local chain");
      expect(fresh.up.contracts.OceanToken).to.equal(ethers.getCreateAddress({ from: deployer, nonce: 0 }));
      const provider = new ethers.JsonRpcProvider(fresh.up.rpc, undefined, { cacheTimeout: -1 });
      const token = OceanToken__factory.connect(fresh.up.contracts.OceanToken, provider);
      expect(await token.balanceOf(devWallet(1).address)).to.equal(DEV_FUNDS);
      provider.destroy();
    } finally {
      await fresh.stop();
    }
    expect(fs.existsSync(path.join(dataDir, INCOMPLETE_DEPLOYMENT))).to.equal(false);
    expect(readAddressBook(deployment)?.contracts).to.deep.equal(fresh.up.contracts);

    // A complete deployment is kept: the up after it restores that chain, at the same addresses.
    const again = await startUp(dataDir, deployment, 180_000, ["--no-worker"]);
    try {
      expect(again.stderr()).to.contain("Local chain restored from its journal");
      expect(again.stderr()).to.not.contain("first deployment");
      expect(again.up.contracts).to.deep.equal(fresh.up.contracts);
    } finally {
      await again.stop();
    }
  });

  it("the tests' hardhat node (offchain/devnet) exits when its process is killed with SIGKILL", async () => {
    const script =
      "require('./offchain/devnet/hardhat-node').startHardhatNode()" +
      ".then((n) => process.stdout.write(n.pid + '\\n'), (e) => { console.error(e); process.exit(1); })";
    const child = spawn(process.execPath, ["-r", "./offchain/ml/ts-loader.js", "-e", script], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let pid = 0;
    try {
      pid = await new Promise<number>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(Number(out.trim()));
        });
        child.once("exit", (code) => reject(new Error(`the script exited ${code}:\n${stderr}`)));
      });
      expect(running(pid)).to.equal(true);
    } finally {
      await sigkill(child);
    }
    const gone = await waitGone(pid, 5_000);
    if (!gone) process.kill(pid, "SIGKILL");
    expect(gone, `hardhat node ${pid} still running 5 s after its process was killed`).to.equal(true);
  });

  it("a restored chain's clock counts the time it was down, and a second restart replays the same chain", async () => {
    const dataDir = path.join(tmp, "clock");
    const recipient = ethers.Wallet.createRandom().address;
    const holder = ethers.Wallet.createRandom().address;
    const session = async <T>(work: (signer: ethers.Signer, provider: ethers.JsonRpcProvider) => Promise<T>) => {
      const logs: string[] = [];
      const chain = await startLocalChain({ dataDir, port: 0, log: (l) => logs.push(l) });
      const startedAt = Math.floor(Date.now() / 1000); // the wall clock once the chain serves
      const provider = new ethers.JsonRpcProvider(chain.url, undefined, { cacheTimeout: -1 });
      try {
        const result = await work(await provider.getSigner(0), provider);
        return { result, chain, logs, startedAt };
      } finally {
        provider.destroy();
        await chain.stop();
      }
    };
    const blockTime = async (provider: ethers.JsonRpcProvider, tx: Promise<ethers.ContractTransactionResponse>) => {
      const receipt = (await (await tx).wait())!;
      return (await provider.getBlock(receipt.blockNumber))!.timestamp;
    };

    const first = await session(async (signer, provider) => {
      const token = await new OceanToken__factory(signer).deploy(await signer.getAddress());
      await token.waitForDeployment();
      await (await token.mint(holder, 777n)).wait();
      await (await signer.sendTransaction({ to: recipient, value: 12345n })).wait();
      return { token: await token.getAddress(), head: (await provider.getBlock("latest"))! };
    });
    expect(first.chain.replayed).to.equal(0);

    await new Promise((r) => setTimeout(r, 3_000)); // the chain is down for a while

    const second = await session(async (signer, provider) => {
      const head = (await provider.getBlock("latest"))!;
      const token = OceanToken__factory.connect(first.result.token, signer);
      expect(await provider.getBalance(recipient)).to.equal(12345n);
      expect(await provider.getCode(first.result.token)).to.not.equal("0x");
      expect(await token.balanceOf(holder)).to.equal(777n);
      // The next block is at the wall clock's time, not at the last block's + the few seconds since the replay.
      const minted = await blockTime(provider, token.mint(holder, 1n));
      // …and the clock keeps up with the wall clock while the chain is idle (it is not one pinned timestamp).
      await new Promise((r) => setTimeout(r, 2_000));
      const idleFrom = Math.floor(Date.now() / 1000);
      const later = await blockTime(provider, token.mint(holder, 1n));
      return { head, minted, idleFrom, later, end: (await provider.getBlock("latest"))! };
    });
    expect(second.chain.restored).to.equal(true);
    // Restoring mines nothing: the restored head is the recorded one.
    expect(second.result.head.hash).to.equal(first.result.head.hash);
    expect(second.result.minted).to.be.at.least(second.startedAt - 1);
    expect(second.result.minted - first.result.head.timestamp).to.be.at.least(3);
    expect(second.result.minted).to.be.at.most(Math.floor(Date.now() / 1000) + 2);
    expect(second.result.later).to.be.at.least(second.result.idleFrom - 1);
    expect(second.logs.join("\n")).to.match(/Chain clock moved \d+ s forward to the wall clock/);

    const third = await session(async (_signer, provider) => ({
      head: (await provider.getBlock("latest"))!,
      balance: await OceanToken__factory.connect(first.result.token, provider).balanceOf(holder),
    }));
    expect(third.chain.restored).to.equal(true);
    expect(third.result.head.number).to.equal(second.result.end.number);
    expect(third.result.head.hash).to.equal(second.result.end.hash);
    expect(third.result.balance).to.equal(779n);
  });
});
