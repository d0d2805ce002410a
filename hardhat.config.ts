import { subtask } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, TASK_TEST_GET_TEST_FILES } from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig, NetworkUserConfig } from "hardhat/types";
import type {} from "@nomicfoundation/hardhat-toolbox"; // its config fields (typechain, gasReporter), typed
import { oceanArtifactPaths } from "./offchain/deploy/ocean-artifacts";
import { remoteNetworkFromEnv } from "./offchain/deploy/network-env";

const SOLC_VERSION = "0.8.28";

// A bare `hardhat node` (the chain of `posthuman up` and the tests' chains, offchain/devnet) uses none of the toolbox's
// plugins (ethers, chai matchers, typechain, coverage, verify, ignition): the processes that start one set
// POSTHUMAN_CHAIN_ONLY=1, which spares each start loading them, a second of CPU, a third of the start's. Every other
// task (compile, test, run, console) has them.
// eslint-disable-next-line @typescript-eslint/no-require-imports
if (process.env.POSTHUMAN_CHAIN_ONLY !== "1") require("@nomicfoundation/hardhat-toolbox");

// Hardhat would download the compiler from binaries.soliditylang.org, which is unreachable here.
// The npm package `solc`, pinned exactly in package.json, carries the same compiler as wasm.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }) => {
  if (args.solcVersion !== SOLC_VERSION) {
    throw new Error(`This project compiles with solc ${SOLC_VERSION} only, got a request for ${args.solcVersion}.`);
  }
  const compilerPath = require.resolve("solc/soljson.js");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require("solc") as { version(): string };
  const longVersion = solc.version();
  if (!longVersion.startsWith(`${SOLC_VERSION}+`)) {
    throw new Error(
      `Installed npm package solc is ${longVersion}, but ${SOLC_VERSION} is pinned. Run \`npm ci\` to restore the lock file's version.`,
    );
  }
  return {
    compilerPath,
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: longVersion.replace(/\.Emscripten.*$/, ""),
  };
});

// The test files of 10 s or more (the reporter's "slowest files" with POSTHUMAN_TEST_FILE_TIMES=all, on 2 cores), longest
// first, started first: the two parallel workers then end together, on short files, instead of one running a long file
// alone at the end (the others follow in path order).
const SLOW_FIRST = [
  "web/marketplace",
  "worker/admission",
  "integrate/package",
  "cli/story",
  "ml/serve",
  "cli/demo",
  "cli/fresh-clone",
  "worker/resilience",
  "worker/failures",
  "cli/job-verify",
  "cli/job-recovery",
  "ml/pytorch",
  "worker/standing",
  "worker/crash",
  "cli/publish-resume",
  "integrate/callbacks-e2e",
  "ml/webgpu-software",
  "cli/rewards-frozen",
  "contracts/properties",
  "ml/pytorch-worker",
  "worker/e2e",
  "contracts/callback-properties",
  "ml/train",
  "ml/executor",
  "cli/up",
  "cli/market-unsettled",
  "cli/up-crash",
  "worker/operators",
  "worker/disk",
  "sdk/sdk",
  "worker/heads",
  "worker/quote",
  "worker/held-folders",
  "worker/ingest",
  "sdk/worker-api",
];
const slowRank = (f: string): number => {
  const i = SLOW_FIRST.findIndex((s) => f.endsWith(`test/${s}.test.ts`));
  return i < 0 ? SLOW_FIRST.length : i;
};

// Only `*.test.ts` files are test files: test/ also holds fixtures, support code and programs the tests run.
subtask(TASK_TEST_GET_TEST_FILES, async (args: { testFiles: string[] }, _hre, runSuper) => {
  const files = (await runSuper(args)) as string[];
  if (args.testFiles.length) return files;
  const tests = files.filter((f) => f.endsWith(".test.ts"));
  return tests
    .map((f, i) => [slowRank(f), i, f] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .map((x) => x[2]);
});

const networks: Record<string, NetworkUserConfig> = {
  hardhat: {
    hardfork: "cancun",
    // Blocks mined within one second keep that second, so block time tracks the wall clock on a busy local chain
    // (otherwise each block adds a second and time-gated steps such as settlement wait for the clock to catch up).
    allowBlocksWithSameTimestamp: true,
    // `posthuman up` replays its journal onto a fresh node: the genesis date must be the original one.
    ...(process.env.POSTHUMAN_CHAIN_INITIAL_DATE ? { initialDate: process.env.POSTHUMAN_CHAIN_INITIAL_DATE } : {}),
  },
  localhost: { url: process.env.POSTHUMAN_LOCAL_RPC ?? "http://127.0.0.1:8545" },
};
const remote = remoteNetworkFromEnv(process.env);
if (remote) networks.remote = remote;

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: { evmVersion: "cancun", optimizer: { enabled: true, runs: 200 } },
  },
  networks,
  typechain: {
    outDir: "typechain-types",
    target: "ethers-v6",
    externalArtifacts: oceanArtifactPaths(),
  },
  mocha: {
    timeout: 600_000,
    reporter: "./scripts/mocha-count-reporter.js",
    // Two files at a time (each in its own process): most suites wait on chains and child processes, so two share
    // the two cores well (the suite took about 16 min one file at a time, 11 in parallel). POSTHUMAN_TEST_SERIAL=1 runs
    // in one process: a failed assertion on bigints then shows its values (a parallel worker cannot send them).
    // POSTHUMAN_TEST_JOBS=3 was measured no faster on 2 cores (15 min either way: the suite is CPU-bound by then).
    parallel: process.env.POSTHUMAN_TEST_SERIAL !== "1",
    jobs: Number(process.env.POSTHUMAN_TEST_JOBS ?? 2),
    require: ["./scripts/mocha-file-timing.js"],
  },
  gasReporter: { enabled: false },
};

export default config;
