/**
 * How fast the `posthuman` command answers, run the way README.md tells people to (`./posthuman …`), against a
 * chain: the in-process Hardhat chain of `npm run bench`, served over HTTP on a free port, with Ocean + PostHuman
 * deployed and one published model (so `balance` reads a datatoken and a vault). Reference figures measured in the
 * same run: Node's own start-up (`node -e 0`) and the same command through `npx posthuman` (npm's start-up added).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import hre, { ethers } from "hardhat";
import { JsonRpcServer } from "hardhat/internal/hardhat-network/jsonrpc/server";
import { writeAddressBook } from "../deploy/address-book";
import { deployAll } from "../deploy/deploy";
import { PostHuman } from "../sdk/client";
import type { BenchFigure } from "./figures";

const ROOT = path.join(__dirname, "..", "..");

/** Wall-clock milliseconds of one process run to its end; rejects when it exits non-zero. */
function timed(cmd: string, args: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${stderr}`));
      resolve(Number(process.hrtime.bigint() - started) / 1e6);
    });
  });
}

async function median(runs: number, once: () => Promise<number>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(await once());
  ms.sort((a, b) => a - b);
  return Math.round(ms[Math.floor(ms.length / 2)]);
}

export async function benchCli(): Promise<BenchFigure[]> {
  const [deployer, alice] = await ethers.getSigners();
  const { book } = await deployAll(deployer, { exampleBounty: false });
  const client = await PostHuman.init({ runner: alice, book });
  await client.registry.publish({
    name: "Bench M1",
    symbol: "BM1",
    weightsRoot: ethers.id("bench weights"),
    pricing: { kind: "FixedRate", rate: ethers.parseEther("1") },
    initialSupply: ethers.parseEther("5"),
  });
  const server = new JsonRpcServer({ hostname: "127.0.0.1", port: 0, provider: hre.network.provider });
  const { port } = await server.listen();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-bench-cli-"));
  const bookFile = path.join(tmp, "deployment.json");
  writeAddressBook(bookFile, book);
  const balance = ["--rpc", `http://127.0.0.1:${port}`, "--deployment", bookFile, "--account", "alice", "balance"];
  const params = { runs: 7, cpus: os.cpus().length, node: process.version };
  try {
    await timed("./posthuman", balance); // fills the transpile cache, as any first run does
    const readme = await median(7, () => timed("./posthuman", balance));
    const help = await median(7, () => timed("./posthuman", ["--help"]));
    const nodeStart = await median(7, () => timed(process.execPath, ["-e", "0"]));
    const viaNpx = await median(3, () => timed("npx", ["posthuman", ...balance]));
    return [
      { name: "cli balance, ./posthuman (README's way), median", value: readme, unit: "ms", params },
      { name: "cli --help, ./posthuman, median", value: help, unit: "ms", params },
      { name: "cli balance through npx posthuman, median", value: viaNpx, unit: "ms", params: { ...params, runs: 3 } },
      { name: "node start-up (node -e 0), median", value: nodeStart, unit: "ms", params },
      {
        name: "cli balance ÷ node start-up (same run)",
        value: Number((readme / nodeStart).toFixed(2)),
        unit: "×",
        params: {},
      },
    ];
  } finally {
    await server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
