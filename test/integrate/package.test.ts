/**
 * The npm package as an integrator gets it: `npm pack` (which builds dist/ in its prepack script), then a scratch
 * project in a temporary folder, far from these sources, installs the tarball offline and
 *  - compiles a consumer contract that imports `posthuman/contracts/interfaces/...` (and the packaged example) with
 *    solc, resolving imports from the scratch project's node_modules only;
 *  - requires the SDK, the helpers, the typechain bindings and the ABIs from plain JavaScript;
 *  - type-checks a TypeScript file against the package's declarations.
 *
 * Offline install: the scratch project gets a lock file made of this repository's (its non-dev entries, i.e. exactly
 * the versions `npm ci` put in the npm cache), because a fresh resolution would pick versions the cache does not
 * hold; it repeats the repository's override of @oceanprotocol/ddo-js (an integrator must do the same: overrides of
 * a dependency do not apply), and runs with --ignore-scripts (better-sqlite3 and onnxruntime-node would download
 * native binaries; nothing here needs them).
 */
import { expect } from "chai";
import { execFileSync, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

interface LockEntry {
  dev?: boolean;
  [k: string]: unknown;
}

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    // No npm/hardhat settings of the outer `hardhat test` process leak into the children.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|HARDHAT_)/i.test(k))),
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** A scratch project depending on the tarball, with a lock file built from this repository's. */
function scratchProject(dir: string, tarball: string): void {
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    version: string;
    license: string;
    dependencies: Record<string, string>;
    overrides: Record<string, string>;
    engines: Record<string, string>;
  };
  const spec = `file:${path.basename(tarball)}`;
  const integrity = "sha512-" + crypto.createHash("sha512").update(fs.readFileSync(tarball)).digest("base64");
  const packages: Record<string, unknown> = {
    "": { name: "scratch", version: "1.0.0", dependencies: { posthuman: spec } },
    "node_modules/posthuman": {
      version: pkg.version,
      resolved: spec,
      integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
      engines: pkg.engines,
    },
  };
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key && !entry.dev && !key.startsWith("node_modules/posthuman")) packages[key] = entry;
  }
  const manifest = {
    name: "scratch",
    version: "1.0.0",
    private: true,
    dependencies: { posthuman: spec },
    overrides: pkg.overrides,
  };
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(manifest, null, 2));
  fs.writeFileSync(
    path.join(dir, "package-lock.json"),
    JSON.stringify({ name: "scratch", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2),
  );
}

/** A dApp's contract: asks a model for text and keeps what the market calls back with. */
const GAME_ORACLE = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IJobMarket} from "posthuman/contracts/interfaces/IJobMarket.sol";
import {IJobMarketConsumer} from "posthuman/contracts/interfaces/IJobMarketConsumer.sol";
import {FinetuneBounty} from "posthuman/contracts/examples/FinetuneBounty.sol";

contract GameOracle is IJobMarketConsumer {
    IJobMarket public immutable market;
    mapping(uint256 jobId => string) public story;
    mapping(uint256 jobId => IJobMarket.JobStatus) public outcome;

    constructor(IJobMarket market_) {
        market = market_;
    }

    function tell(IJobMarket.JobRequest calldata request) external returns (uint256) {
        return market.requestJobWithCallback(request, IJobMarket.Callback({gasLimit: 150_000, fee: 0}));
    }

    function onJobReceipt(uint256 jobId, IJobMarket.JobKind, uint256, IJobMarket.Receipt calldata receipt, uint256)
        external
    {
        require(msg.sender == address(market));
        story[jobId] = receipt.outputURI;
    }

    function onJobOutcome(uint256 jobId, IJobMarket.JobStatus status, bytes32) external {
        require(msg.sender == address(market));
        outcome[jobId] = status;
    }
}
`;

const REQUIRE_CHECK = `
const sdk = require("posthuman");
const helpers = require("posthuman/helpers");
const typechain = require("posthuman/typechain");
const abi = require("posthuman/abi/JobMarket.json");
const consumerAbi = require("posthuman/abi/IJobMarketConsumer.json");
const out = {
  sdk: Object.keys(sdk).sort(),
  callback: helpers.jobCallback({ gasLimit: 100000, fee: 5n }).gasLimit,
  maxGas: helpers.MAX_CALLBACK_GAS,
  factory: typeof typechain.JobMarket__factory.connect,
  bounty: typeof typechain.FinetuneBounty__factory,
  abi: abi.filter((f) => f.type === "function").map((f) => f.name).includes("requestJobWithCallback"),
  hooks: consumerAbi.map((f) => f.name).sort(),
  from: require.resolve("posthuman"),
};
console.log(JSON.stringify(out));
`;

const TYPE_CHECK = `import { jobCallback, type CallbackOptions } from "posthuman/helpers";
import { JobMarket__factory, type JobMarket } from "posthuman/typechain";
import { WorkerClient } from "posthuman";
import { PostHumanCore, WorkerApi } from "posthuman/browser";

const options: CallbackOptions = { gasLimit: 200_000, fee: 1n };
export const callback = jobCallback(options);
export function attach(address: string): JobMarket {
  return JobMarket__factory.connect(address);
}
export type Client = WorkerClient;
export type Core = PostHumanCore;
export const api: WorkerApi = new WorkerClient("http://127.0.0.1:8550", {});
`;

describe("the npm package (npm pack, offline install in a scratch project)", function () {
  this.timeout(300_000);
  let tmp: string;
  let scratch: string;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-package-"));
    const started = Date.now();
    // The prepack script's own output comes first; npm's JSON report is the last thing printed.
    const printed = run(NPM, ["pack", "--json", "--pack-destination", tmp], ROOT);
    const packed = JSON.parse(printed.slice(printed.search(/^\[/m))) as {
      filename: string;
      files: { path: string }[];
    }[];
    const tarball = path.join(tmp, packed[0].filename);
    const files = packed[0].files.map((f) => f.path);
    expect(files).to.include.members([
      "contracts/interfaces/IJobMarket.sol",
      "contracts/interfaces/IJobMarketConsumer.sol",
      "contracts/examples/FinetuneBounty.sol",
      "dist/abi/JobMarket.json",
      "dist/offchain/sdk/index.js",
      "dist/offchain/sdk/index.d.ts",
      "dist/offchain/sdk/browser.js",
      "dist/offchain/sdk/browser.d.ts",
      "dist/offchain/protocol/index.d.ts",
      "dist/offchain/deploy/index.d.ts",
      "dist/typechain-types/index.d.ts",
    ]);
    expect(files.filter((f) => f.startsWith("test/") || f.startsWith("contracts/test/"))).to.deep.equal([]);
    scratch = path.join(tmp, "scratch");
    fs.mkdirSync(scratch);
    fs.renameSync(tarball, path.join(scratch, path.basename(tarball)));
    scratchProject(scratch, path.join(scratch, path.basename(tarball)));
    run(NPM, ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], scratch);
    console.log(`      packed and installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  // The scratch install weighs ~800 MB.
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("its posthuman command says it runs from a clone, and what the package is for, instead of crashing", () => {
    // What package.json "bin" points at (the scratch install skips bin links along with scripts).
    const bin = path.join(scratch, "node_modules", "posthuman", "offchain", "cli", "posthuman.js");
    const r = spawnSync(process.execPath, [bin, "--help"], { cwd: scratch, encoding: "utf8" });
    expect(r.status).to.equal(1);
    expect(r.stderr)
      .to.match(/runs from a clone of the repository/)
      .and.to.match(/require\('posthuman'\)/);
    expect(r.stderr).to.not.match(/Cannot find module|at Object\./);
  });

  it("compiles a consumer contract that imports posthuman/contracts/interfaces/... and the example", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const solc = require(path.join(ROOT, "node_modules", "solc")) as {
      compile(input: string, callbacks: { import(p: string): { contents: string } | { error: string } }): string;
    };
    const modules = path.join(scratch, "node_modules");
    const findImports = (p: string) => {
      const file = path.join(modules, p);
      return file.startsWith(modules + path.sep) && fs.existsSync(file)
        ? { contents: fs.readFileSync(file, "utf8") }
        : { error: `not found in the scratch project: ${p}` };
    };
    const input = {
      language: "Solidity",
      sources: { "GameOracle.sol": { content: GAME_ORACLE } },
      settings: {
        evmVersion: "cancun",
        optimizer: { enabled: true, runs: 200 },
        outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
      },
    };
    const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as {
      errors?: { severity: string; formattedMessage: string }[];
      contracts: Record<string, Record<string, { abi: { name?: string }[]; evm: { bytecode: { object: string } } }>>;
    };
    const errors = (output.errors ?? []).filter((e) => e.severity === "error");
    expect(errors.map((e) => e.formattedMessage)).to.deep.equal([]);
    expect(output.contracts["GameOracle.sol"].GameOracle.evm.bytecode.object).to.have.length.greaterThan(100);
    const bounty = output.contracts["posthuman/contracts/examples/FinetuneBounty.sol"].FinetuneBounty;
    expect(bounty.abi.map((f) => f.name)).to.include.members(["enter", "onJobReceipt", "onJobOutcome"]);
  });

  it("serves the SDK, the helpers, the typechain bindings and the ABIs to plain JavaScript", () => {
    const out = JSON.parse(run(process.execPath, ["-e", REQUIRE_CHECK], scratch)) as Record<string, unknown>;
    expect(out.sdk).to.include.members(["PostHuman", "WorkerClient"]);
    expect(out).to.include({ callback: 100000, maxGas: 2_000_000, factory: "function", bounty: "function", abi: true });
    expect(out.hooks).to.deep.equal(["onJobOutcome", "onJobReceipt"]);
    expect(String(out.from).startsWith(fs.realpathSync(scratch))).to.equal(true);
  });

  it("type-checks TypeScript against the package's declarations", () => {
    fs.writeFileSync(path.join(scratch, "check.ts"), TYPE_CHECK);
    fs.writeFileSync(
      path.join(scratch, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "node16",
          moduleResolution: "node16",
          target: "es2022",
          strict: true,
          skipLibCheck: true,
          noEmit: true,
          types: [],
        },
        files: ["check.ts"],
      }),
    );
    run(
      process.execPath,
      [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"],
      scratch,
    );
  });
});
