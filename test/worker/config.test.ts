import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import {
  describeWorkerConfig,
  loadWorkerConfig,
  parseBytes,
  parseDuration,
  WorkerConfigError,
  type LoadWorkerConfigOptions,
} from "../../offchain/worker/config";
import { HARDHAT_KEYS } from "../../offchain/devnet/hardhat-node";
import { builtinRuntimeId } from "../../offchain/ml";
import { webgpuStatus } from "../../offchain/ml/webgpu-device";
import { makeExecutor } from "../../offchain/worker/worker";
import { SETTINGS } from "../../offchain/worker/config-settings";
import { WORKER_FLAGS, workerFlags } from "../../offchain/cli/worker-cmd";

const KEY = HARDHAT_KEYS[1];
const ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

describe("loadWorkerConfig", () => {
  let dir: string;
  let deployments: string;
  let keyFile: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-config-"));
    deployments = path.join(dir, "deployments");
    fs.mkdirSync(deployments);
    const book = {
      chainId: 31337,
      startBlock: 7,
      contracts: { JobMarket: "0x5FbDB2315678afecb367f032d93F642f64180aa3" },
    };
    fs.writeFileSync(path.join(deployments, "localhost.json"), JSON.stringify(book));
    keyFile = path.join(dir, "worker.key");
    fs.writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  });

  const load = (o: Partial<LoadWorkerConfigOptions> = {}) =>
    loadWorkerConfig({ env: { POSTHUMAN_WORKER_KEY_FILE: keyFile }, cwd: dir, deploymentsDir: deployments, ...o });
  const writeFile = (v: unknown): string => {
    const f = path.join(dir, "worker.json");
    fs.writeFileSync(f, JSON.stringify(v));
    return f;
  };
  function problems(o: Partial<LoadWorkerConfigOptions>): string[] {
    try {
      load(o);
    } catch (e) {
      expect(e).to.be.instanceOf(WorkerConfigError);
      return (e as WorkerConfigError).problems;
    }
    throw new Error("expected the configuration to be refused");
  }

  it("fills defaults, reads the address book and the key file, and says where each value came from", () => {
    const c = load();
    expect(c.network).to.equal("localhost");
    expect(c.rpc).to.deep.equal({ url: "http://127.0.0.1:8545", timeoutMs: 15_000 });
    expect(c.chain).to.deep.include({ chainId: 31337, startBlock: 7 });
    expect(c.chain.contracts.JobMarket).to.equal("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    expect(c.signer.address).to.equal(ADDRESS);
    expect(c.signer.source).to.deep.equal({ kind: "file", file: keyFile });
    expect(c.signer.privateKey.reveal()).to.equal(KEY);
    expect(c.ingest).to.deep.equal({ confirmations: 2, pollIntervalMs: 2000, maxChunkBlocks: 2000 });
    expect(c.dataDir).to.equal(path.join(dir, ".posthuman", "worker"));
    expect(c.storeDir).to.equal(path.join(dir, ".posthuman", "worker", "artifacts"));
    expect(c.executor).to.deep.equal({ kind: "builtin" });
    expect(c.capabilities).to.deep.equal({ jobKinds: ["train", "infer", "evaluate"], maxModelBytes: 2 * 2 ** 30 });
    expect(c.limits).to.deep.equal({
      jobTimeoutMs: 7_200_000,
      maxMemoryBytes: 8 * 2 ** 30,
      maxUploadBytes: 64 * 2 ** 20, // the runtime's dataset limit
      modelCacheBytes: 20 * 2 ** 30,
    });
    expect(c.http).to.deep.equal({ host: "127.0.0.1", port: 8550 });
    expect(c.sources).to.deep.include({ "ingest.confirmations": "default", keyFile: "env POSTHUMAN_WORKER_KEY_FILE" });
    expect(c.warnings).to.deep.equal([]);
  });

  it("takes flags over environment over file over defaults, value by value", () => {
    const file = writeFile({
      ingest: { confirmations: 5, pollInterval: "10s" },
      http: { port: 9000, host: "0.0.0.0" },
      executor: { kind: "external", command: "python3", args: ["train.py", "--fp16"] },
      capabilities: { jobKinds: ["train"], maxModelSize: "500MB" },
      dataDir: "state",
    });
    const env = {
      POSTHUMAN_WORKER_KEY_FILE: keyFile,
      POSTHUMAN_WORKER_CONFIRMATIONS: "3",
      POSTHUMAN_WORKER_HTTP_PORT: "9100",
    };
    const c = load({ file, env, flags: { confirmations: "1", maxUpload: "1MiB", verbose: true } });
    expect(c.ingest.confirmations).to.equal(1);
    expect(c.sources["ingest.confirmations"]).to.equal("flag --confirmations");
    expect(c.http).to.deep.equal({ host: "0.0.0.0", port: 9100 });
    expect(c.sources["http.port"]).to.equal("env POSTHUMAN_WORKER_HTTP_PORT");
    expect(c.sources["http.host"]).to.equal(`file ${file}`);
    expect(c.ingest.pollIntervalMs).to.equal(10_000);
    expect(c.limits.maxUploadBytes).to.equal(2 ** 20);
    // Above what the runtime reads, an accepted (acknowledged) input would fail as the requester's fault: capped.
    const big = load({ file, env, flags: { maxUpload: "1GiB" } });
    expect(big.limits.maxUploadBytes).to.equal(64 * 2 ** 20);
    expect(big.warnings).to.include(
      "limits.maxUpload (flag --max-upload) is above the 64 MiB a job's input may be: uploads over 64 MiB are refused",
    );
    expect(c.warnings.filter((w) => w.startsWith("limits.maxUpload"))).to.deep.equal([]);
    expect(c.executor).to.deep.equal({ kind: "external", command: "python3", args: ["train.py", "--fp16"] });
    expect(c.capabilities).to.deep.equal({ jobKinds: ["train"], maxModelBytes: 500e6 });
    expect(c.dataDir).to.equal(path.join(dir, "state")); // relative to the file's folder
    expect(c.storeDir).to.equal(path.join(dir, "state", "artifacts"));
    // The workers of one operator may share a store: a folder of its own, relative like any path.
    expect(load({ file, env: { ...env, POSTHUMAN_WORKER_STORE_DIR: "shared/store" } }).storeDir).to.equal(
      path.join(dir, "shared", "store"),
    );

    const withoutFlag = load({ file, env });
    expect(withoutFlag.ingest.confirmations).to.equal(3);
    const fileOnly = load({ file });
    expect(fileOnly.ingest.confirmations).to.equal(5);
    // The file can also be named by the environment.
    expect(load({ env: { ...env, POSTHUMAN_WORKER_CONFIG: file } }).http.host).to.equal("0.0.0.0");
  });

  it("names every bad value with its source in one error", () => {
    const file = writeFile({ ingest: { confirmations: -1 }, confirmation: 3, http: { host: "bad host!" } });
    const list = problems({
      file,
      env: {
        POSTHUMAN_WORKER_KEY_FILE: keyFile,
        POSTHUMAN_WORKER_RPC_URL: "ftp://node.example.org",
        POSTHUMAN_WORKER_MAX_UPLOAD: "lots",
        POSTHUMAN_WORKER_JOB_KINDS: "train,fly",
        POSTHUMAN_WORKER_EXECUTOR: "external",
      },
      flags: { httpPort: "99999", pollInterval: "soon", logLevel: "loud", jobTimeout: "0s" },
    });
    const expectLine = (re: RegExp) =>
      expect(
        list.some((p) => re.test(p)),
        `${re} in\n${list.join("\n")}`,
      ).to.equal(true);
    expectLine(/^ingest\.confirmations = -1 \(file .*worker\.json\) must be a whole number of blocks from 0 to 1000/);
    expectLine(/unknown setting "confirmation": check its spelling/);
    expectLine(/^http\.host = "bad host!" \(file .*\) must be a host name or IP address/);
    expectLine(
      /^rpc\.url = "ftp:\/\/node\.example\.org" \(env POSTHUMAN_WORKER_RPC_URL\) must be an http:\/\/ or https:\/\/ URL/,
    );
    expectLine(/^limits\.maxUpload = "lots" \(env POSTHUMAN_WORKER_MAX_UPLOAD\) must be a size/);
    expectLine(
      /^capabilities\.jobKinds = "train,fly" \(env POSTHUMAN_WORKER_JOB_KINDS\) must be a non-empty list of train, infer, evaluate/,
    );
    expectLine(/^executor\.command is not set but executor is "external" \(env POSTHUMAN_WORKER_EXECUTOR\)/);
    expectLine(/^http\.port = "99999" \(flag --http-port\) must be a TCP port from 0 to 65535/);
    expectLine(/^ingest\.pollInterval = "soon" \(flag --poll-interval\) must be a duration/);
    expectLine(/^logLevel = "loud" \(flag --log-level\) must be one of fatal, error/);
    expectLine(/^limits\.jobTimeout = "0s" \(flag --job-timeout\) must be a duration ≥ 1s/);
    expect(list).to.have.length(11);
  });

  it("shows a bad RPC URL without its path, where providers put API keys", () => {
    const list = problems({
      env: { POSTHUMAN_WORKER_KEY_FILE: keyFile, POSTHUMAN_WORKER_RPC_URL: "mainnet.infura.io/v3/0123456789abcdef" },
    });
    expect(list.join("\n")).to.include('rpc.url = "mainnet.infura.io/…" (env POSTHUMAN_WORKER_RPC_URL)');
    expect(list.join("\n")).to.not.include("0123456789abcdef");
  });

  it("takes an optional ws(s) URL for new heads from file, env or flag, and never shows its path", () => {
    expect(load().rpc.wsUrl).to.equal(undefined);
    const key = "wss://mainnet.infura.io/ws/v3/0123456789abcdef";
    const file = writeFile({ rpc: { wsUrl: "ws://127.0.0.1:8545" } });
    expect(load({ file }).rpc.wsUrl).to.equal("ws://127.0.0.1:8545");
    const fromEnv = load({ file, env: { POSTHUMAN_WORKER_KEY_FILE: keyFile, POSTHUMAN_WORKER_WS_URL: key } });
    expect(fromEnv.rpc.wsUrl).to.equal(key);
    expect(fromEnv.sources["rpc.wsUrl"]).to.equal("env POSTHUMAN_WORKER_WS_URL");
    expect(JSON.stringify(describeWorkerConfig(fromEnv))).to.not.include("0123456789abcdef");
    expect(load({ file, flags: { wsUrl: "wss://node.example.org" } }).sources["rpc.wsUrl"]).to.equal("flag --ws-url");

    const list = problems({
      env: {
        POSTHUMAN_WORKER_KEY_FILE: keyFile,
        POSTHUMAN_WORKER_WS_URL: "https://mainnet.infura.io/v3/0123456789abcdef",
      },
    });
    expect(list.join("\n")).to.include(
      'rpc.wsUrl = "https://mainnet.infura.io/…" (env POSTHUMAN_WORKER_WS_URL) must be a ws:// or wss:// URL',
    );
    expect(list.join("\n")).to.not.include("0123456789abcdef");
    // URLs that do not parse (a port past 65535) are refused at start-up, not on first use.
    const unparsable = problems({
      env: {
        POSTHUMAN_WORKER_KEY_FILE: keyFile,
        POSTHUMAN_WORKER_WS_URL: "ws://127.0.0.1:99999",
        POSTHUMAN_WORKER_RPC_URL: "http://127.0.0.1:99999",
      },
    }).join("\n");
    expect(unparsable).to.match(/rpc\.wsUrl = .* must be a ws:\/\/ or wss:\/\/ URL/);
    expect(unparsable).to.match(/rpc\.url = .* must be an http:\/\/ or https:\/\/ URL/);
  });

  it("reports signer key problems without ever showing the key", () => {
    const bad = "0x1234" + "z".repeat(60);
    const envBad = problems({ env: { POSTHUMAN_WORKER_PRIVATE_KEY: bad } });
    expect(envBad.join("\n")).to.match(/signer key in env POSTHUMAN_WORKER_PRIVATE_KEY is not 64 hex digits/);
    expect(envBad.join("\n")).to.not.include("zzzz");

    expect(problems({ env: {} }).join("\n")).to.match(/no signer key: set POSTHUMAN_WORKER_KEY_FILE/);
    expect(
      problems({ env: { POSTHUMAN_WORKER_KEY_FILE: keyFile, POSTHUMAN_WORKER_PRIVATE_KEY: KEY } }).join("\n"),
    ).to.match(/both env POSTHUMAN_WORKER_PRIVATE_KEY and a key file \(env POSTHUMAN_WORKER_KEY_FILE\) are set/);
    expect(problems({ env: { POSTHUMAN_WORKER_KEY_FILE: path.join(dir, "nope") } }).join("\n")).to.match(
      /keyFile = .*nope \(env POSTHUMAN_WORKER_KEY_FILE\) cannot be read \(ENOENT\)/,
    );
    const inFile = problems({ file: writeFile({ privateKey: KEY }) });
    expect(inFile.join("\n")).to.match(/holds "privateKey": never put the key in a file/);
    expect(inFile.join("\n")).to.not.include(KEY.slice(2));
    expect(problems({ flags: { privateKey: KEY } }).join("\n")).to.match(
      /flag --private-key is refused \(a key on the command line shows in ps\): use --worker-key-file or env/,
    );

    // From the environment it works, and the loaded config never prints it.
    const c = load({ env: { POSTHUMAN_WORKER_PRIVATE_KEY: KEY } });
    expect(c.signer.source).to.deep.equal({ kind: "env", variable: "POSTHUMAN_WORKER_PRIVATE_KEY" });
    for (const text of [JSON.stringify(c), inspect(c, { depth: 10 }), JSON.stringify(describeWorkerConfig(c))]) {
      expect(text).to.not.include(KEY.slice(2));
    }
  });

  it("warns about a key file other users can read", () => {
    fs.chmodSync(keyFile, 0o644);
    expect(load().warnings.join("\n")).to.match(/can be read by other users \(mode 644\): chmod 600 it/);
  });

  it("says what to do when the address book is missing or malformed, and honours an explicit one", () => {
    expect(problems({ flags: { network: "sepolia" } }).join("\n")).to.match(
      /no address book at .*sepolia\.json \(network sepolia, flag --network\): deploy first \(npx hardhat run scripts\/deploy\.ts --network sepolia\)/,
    );
    fs.writeFileSync(
      path.join(deployments, "broken.json"),
      JSON.stringify({ chainId: 1, startBlock: -4, contracts: {} }),
    );
    expect(problems({ flags: { network: "broken" } }).join("\n")).to.match(
      /broken\.json is malformed: startBlock.*Use the address book the deployment wrote/,
    );

    const other = path.join(dir, "book.json");
    fs.writeFileSync(other, JSON.stringify({ chainId: 11155111, startBlock: 5_000_000, contracts: {} }));
    const c = load({
      env: {
        POSTHUMAN_WORKER_KEY_FILE: keyFile,
        POSTHUMAN_WORKER_ADDRESS_BOOK: "book.json",
        POSTHUMAN_WORKER_START_BLOCK: "5000100",
      },
    });
    expect(c.chain).to.deep.include({ chainId: 11155111, startBlock: 5_000_100, addressBookFile: other });
  });

  it("reads the builtin runtime's device (gpu is WebGPU) and threads; a worker without that GPU does not start", () => {
    expect(load().executor.builtin).to.equal(undefined);
    const c = load({
      env: { POSTHUMAN_WORKER_KEY_FILE: keyFile, POSTHUMAN_WORKER_THREADS: "3" },
      flags: { device: "gpu" },
    });
    expect(c.executor).to.deep.equal({ kind: "builtin", builtin: { device: "webgpu", threads: 3 } });
    expect(c.sources["executor.builtin.device"]).to.equal("flag --device");
    const list = problems({ flags: { device: "tpu", threads: "0" } });
    expect(list.join("\n")).to.match(/^executor\.builtin\.device = "tpu" \(flag --device\) must be cpu, gpu/m);
    expect(list.join("\n")).to.match(/^executor\.builtin\.threads = "0" \(flag --threads\) must be a whole number/m);

    // makeExecutor checks the device at start-up: the runtime id names it, or the error names what is missing.
    const st = webgpuStatus();
    if (st.available) {
      expect(makeExecutor(c).runtimeId).to.equal(builtinRuntimeId({ device: "webgpu", threads: 3 }));
    } else {
      expect(() => makeExecutor(c))
        .to.throw(/DEVICE_UNAVAILABLE: the builtin runtime cannot run on device "webgpu": WebGPU is unavailable/)
        .with.property("message")
        .that.includes(st.missing[0])
        .and.includes("--device cpu");
    }
    expect(load({ flags: { device: "gpu", executor: "pytorch" } }).warnings).to.deep.equal([
      "executor.builtin.device (flag --device) is set, but no job kind runs on the builtin executor",
    ]);
    const cpu = load({ flags: { device: "cpu", threads: "1" } });
    expect(cpu.warnings).to.deep.equal([]);
    expect(makeExecutor(cpu).runtimeId).to.equal(builtinRuntimeId({ device: "cpu", threads: 1 }));
  });

  it("puts the worker's data in <--data-dir>/worker only when --data-dir or POSTHUMAN_HOME was given, so a file's dataDir applies", () => {
    const file = writeFile({ dataDir: "state" });
    const env = { POSTHUMAN_WORKER_KEY_FILE: keyFile };
    const dataDirOf = (w: ReturnType<typeof workerFlags>) => load({ file, env: w.env, flags: w.flags }).dataDir;
    // `posthuman worker --config f` (global --data-dir left at its default): the file's.
    expect(dataDirOf(workerFlags({}, undefined, env))).to.equal(path.join(dir, "state"));
    // --data-dir /x on the command line is a flag: it beats the file.
    expect(dataDirOf(workerFlags({}, { dir: "/x", from: "cli" }, env))).to.equal("/x/worker");
    // POSTHUMAN_HOME=/x is an environment variable: it beats the file, not POSTHUMAN_WORKER_DATA_DIR.
    expect(dataDirOf(workerFlags({}, { dir: "/x", from: "env" }, env))).to.equal("/x/worker");
    const own = { ...env, POSTHUMAN_WORKER_DATA_DIR: "/own" };
    expect(dataDirOf(workerFlags({}, { dir: "/x", from: "env" }, own))).to.equal("/own");
    // --worker-data-dir beats everything.
    expect(dataDirOf(workerFlags({ workerDataDir: "/w" }, { dir: "/x", from: "cli" }, own))).to.equal("/w");
  });

  it("names the flags `posthuman worker` takes for the key file and the data folder, not the global ones alone", () => {
    const nope = path.join(dir, "nope");
    // --worker-key-file and --worker-data-dir, as `posthuman worker --help` shows them.
    const w = workerFlags({ workerKeyFile: keyFile, workerDataDir: path.join(dir, "w") });
    const c = load({ env: {}, flags: w.flags });
    expect(c.sources.keyFile).to.equal("flag --worker-key-file or --key-file");
    expect(c.sources.dataDir).to.equal("flag --worker-data-dir or --data-dir");
    expect(problems({ env: {}, flags: workerFlags({ workerKeyFile: nope }).flags })).to.deep.equal([
      `keyFile = ${nope} (flag --worker-key-file or --key-file) cannot be read (ENOENT)`,
    ]);
    const both = problems({ env: { POSTHUMAN_WORKER_PRIVATE_KEY: KEY }, flags: w.flags }).join("\n");
    expect(both).to.include("a key file (flag --worker-key-file or --key-file) are set: keep only one");
    // Without a key, the advice is the worker's own flag.
    const none = problems({ env: {} }).join("\n");
    expect(none).to.include(`set POSTHUMAN_WORKER_KEY_FILE (or --worker-key-file, or "keyFile" in the config file)`);
    expect(none).to.not.match(/[^-]--key-file/);
    // Every flag a message advises is an option of `posthuman worker`.
    const declared = new Set(WORKER_FLAGS.map(([f]) => f.split(" ")[0]));
    const advised = [none, ...problems({ env: {}, flags: { privateKey: KEY } })].join("\n").match(/--[a-z-]+/g);
    expect(advised?.filter((f) => !declared.has(f) && f !== "--private-key")).to.deep.equal([]);
    expect(WORKER_FLAGS.find(([f]) => f.startsWith("--worker-key-file"))?.[1]).to.include("POSTHUMAN_WORKER_KEY_FILE");
  });

  it("every setting with a flag is an option of `posthuman worker`, and every option a setting", () => {
    const declared = WORKER_FLAGS.map(([f]) => f.split(" ")[0]);
    // The worker's key file and data folder are --worker-… on the command line: --key-file and --data-dir are global.
    const renamed: Record<string, string> = { keyFile: "--worker-key-file", dataDir: "--worker-data-dir" };
    const kebab = (flag: string) => renamed[flag] ?? `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    const wanted = SETTINGS.filter((x) => x.flag).map((x) => kebab(x.flag as string));
    expect(wanted.filter((f) => !declared.includes(f))).to.deep.equal([]);
    expect(declared.filter((f) => !wanted.includes(f))).to.deep.equal(["--config"]);
  });

  it("reads sizes and durations written the way operators write them", () => {
    expect(parseBytes("512MiB")).to.equal(512 * 2 ** 20);
    expect(parseBytes("2 GB")).to.equal(2e9);
    expect(parseBytes(1024)).to.equal(1024);
    expect(parseBytes("1.5KiB")).to.equal(1536);
    expect(parseBytes("ten")).to.equal(undefined);
    expect(parseBytes("5 parsecs")).to.equal(undefined);
    expect(parseDuration("90s")).to.equal(90_000);
    expect(parseDuration("2h")).to.equal(7_200_000);
    expect(parseDuration("1500")).to.equal(1500);
    expect(parseDuration("-1s")).to.equal(undefined);
  });
});
