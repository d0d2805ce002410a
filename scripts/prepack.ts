/**
 * `npm pack` / `npm publish` run this (package.json "prepack", after `hardhat compile`): builds what the npm package
 * ships besides the Solidity sources, into dist/ (ignored by git, rebuilt from scratch each time):
 *   dist/**.js + .d.ts   the SDK (offchain/sdk) with what it imports, the protocol (offchain/protocol) and deploy
 *                        (offchain/deploy) helpers, and the typechain
 *                        bindings of PostHuman's and Ocean's contracts (tsc -p tsconfig.build.json)
 *   dist/abi/<Name>.json the ABI of each PostHuman contract, interface and example (from artifacts/)
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.join(__dirname, "..");
const DIST = path.join(ROOT, "dist");
/** Folders of contracts/ whose ABIs are published; test/ and ocean/ (our view of Ocean's contracts) are not. */
const PUBLISHED = ["", "interfaces", "examples", "libraries"];

function writeAbis(): string[] {
  const out = path.join(DIST, "abi");
  fs.mkdirSync(out, { recursive: true });
  const written: string[] = [];
  for (const folder of PUBLISHED) {
    const dir = path.join(ROOT, "artifacts", "contracts", folder);
    if (!fs.existsSync(dir)) continue;
    for (const sol of fs.readdirSync(dir).filter((f) => f.endsWith(".sol"))) {
      for (const file of fs
        .readdirSync(path.join(dir, sol))
        .filter((f) => f.endsWith(".json") && !f.endsWith(".dbg.json"))) {
        const artifact = JSON.parse(fs.readFileSync(path.join(dir, sol, file), "utf8")) as {
          contractName: string;
          abi: unknown[];
        };
        if (!artifact.abi.length) continue;
        fs.writeFileSync(path.join(out, `${artifact.contractName}.json`), JSON.stringify(artifact.abi, null, 2) + "\n");
        written.push(artifact.contractName);
      }
    }
  }
  return written;
}

function main(): void {
  if (!fs.existsSync(path.join(ROOT, "artifacts", "contracts", "JobMarket.sol"))) {
    throw new Error("No artifacts: run `npx hardhat compile` first (the prepack script does).");
  }
  fs.rmSync(DIST, { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: ROOT,
    stdio: "inherit",
  });
  const abis = writeAbis();
  console.log(`dist/ built: the SDK, helpers and typechain bindings, and ${abis.length} ABIs (${abis.join(", ")}).`);
}

main();
