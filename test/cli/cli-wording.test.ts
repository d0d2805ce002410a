/**
 * How a few commands word what they print, without a chain: `eval` naming the jobs already requested when a later
 * request fails, `balance` taking an address or a dev account's name, and a derived model's declared figure told
 * apart from a benchmark baseline (`model show`, `model metrics`, `eval`), commander's own errors under --json, the
 * bounds of --ttl, --account with --key-file refused, `model create` refusing a --train or --eval file in the job
 * commands' words, an input file that cannot be read, and the commands `up` suggests.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { withJobsGoingOn } from "../../offchain/cli/commands/eval";
import { baselineIsTrainersValidation, baselineSource } from "../../offchain/cli/commands/model";
import { accountArgument } from "../../offchain/cli/commands/tokens";
import { connect, int, readFile } from "../../offchain/cli/context";
import { ttlSeconds } from "../../offchain/cli/commands/requests";
import { learningRate } from "../../offchain/cli/commands/train";
import { CliError } from "../../offchain/cli/output";
import { devAddress, devKey } from "../../offchain/deploy/accounts";
import { MAX_JOB_TTL_SEC } from "../../offchain/sdk/core";
import type { RequestedJob } from "../../offchain/sdk/client";
import type { ModelRecord } from "../../offchain/sdk/registry";
import { describeUp, type UpHandle } from "../../offchain/cli/up";
import { execFileSync } from "node:child_process";
import { cli } from "./cli-process";

const job = (jobId: bigint, modelId: bigint) => ({ jobId, modelId }) as RequestedJob;

describe("posthuman eval: a request failing after others were requested", () => {
  it("names the jobs already requested and how to follow them", () => {
    const e = withJobsGoingOn(
      new CliError(
        "You hold no datatoken of model 3: every job consumes 1.",
        "buy one first: posthuman buy 3 --amount 1",
      ),
      "the evaluation of model 3 was not requested",
      [job(7n, 1n), job(8n, 2n)],
    ) as CliError;
    expect(e).to.be.instanceOf(CliError);
    expect(e.message).to.equal(
      "the evaluation of model 3 was not requested: You hold no datatoken of model 3: every job consumes 1. " +
        "Already requested, and running: job 7 (model 1), job 8 (model 2); follow each with posthuman job show 7, " +
        "posthuman job show 8.",
    );
    expect(e.hint).to.match(/^buy one first: posthuman buy 3 --amount 1; .*posthuman job cancel 7$/);
    expect(e.exitCode).to.equal(1);
  });

  it("leaves the error as it is when nothing was requested yet", () => {
    const original = new CliError("No worker answers");
    expect(withJobsGoingOn(original, "x", [])).to.equal(original);
  });
});

describe("posthuman balance <account>", () => {
  it("takes a 0x address (checksummed) or a dev account's name on a local chain", () => {
    expect(accountArgument(devAddress(2).toLowerCase(), 1)).to.equal(devAddress(2));
    expect(accountArgument("bob", 31337)).to.equal(devAddress(2));
    expect(accountArgument("alice")).to.equal(devAddress(1));
  });

  it("refuses anything else, and a dev account's name on another chain, with a clear error", () => {
    for (const raw of ["0xnotanaddress", "bobby", ""])
      expect(() => accountArgument(raw, 31337)).to.throw(
        CliError,
        `"${raw}" is not an address: give a 0x address or a dev account name`,
      );
    expect(() => accountArgument("bob", 1)).to.throw(CliError, /known on a local chain only.*give a 0x address/);
  });
});

describe("posthuman model show / metrics / eval: a declared baseline", () => {
  const model = (o: Partial<ModelRecord>) =>
    ({ parentId: 0n, generation: 0, baselineMetric: 3_250_000n, benchmarkId: ethers.id("b"), ...o }) as ModelRecord;

  it("is a benchmark baseline for a root model, the trainer's validation loss for a derived one", () => {
    expect(baselineSource(model({}))).to.equal("benchmark");
    expect(baselineIsTrainersValidation(model({}))).to.equal(false);
    expect(baselineSource(model({ parentId: 1n, generation: 1 }))).to.equal("trainerValidation");
    expect(baselineIsTrainersValidation(model({ parentId: 2n, generation: 2 }))).to.equal(true);
    expect(baselineSource(model({ baselineMetric: 0n }))).to.equal("none");
  });
});

describe("posthuman --json: a command line commander refuses", () => {
  type Refusal = { error: { message: string; hint: string } };
  // Refused while parsing, before any contract binding is loaded: no need to compile contracts that are changing.
  const run = (args: string[]) => cli<Refusal>(args, { env: { POSTHUMAN_SKIP_COMPILE: "1" }, timeoutMs: 60_000 });

  it("is the CLI's JSON error on stdout, with the usage as hint, the exit code commander's and stderr quiet", async () => {
    const cases: [string[], string, string][] = [
      [["--json", "train", "base"], "required option '--data <file>' not specified", "posthuman train"],
      [["--json", "job", "show"], "missing required argument 'job'", "posthuman job show"],
      [["--json", "balance", "--bogus"], "unknown option '--bogus'", "posthuman balance"],
      [["--json", "train", "base", "--data"], "option '--data <file>' argument missing", "posthuman train"],
      [["--json", "bogus"], "unknown command 'bogus'", "posthuman"],
      // --json after the command counts too; the worker's options are declared only when it is named.
      [["worker", "--json", "--key"], "unknown option '--key'", "posthuman worker"],
    ];
    const runs = await Promise.all(cases.map(([args]) => run(args)));
    runs.forEach((r, i) => {
      const [args, message, command] = cases[i];
      expect(r.code, args.join(" ")).to.equal(1);
      expect(r.json?.error?.message, `${args.join(" ")}: ${r.stdout}`).to.equal(message);
      expect(Object.keys(r.json.error)).to.deep.equal(["message", "hint", "code", "data"]);
      expect(r.json.error.hint).to.match(new RegExp(`^usage: ${command} \\[options\\].* \\(see ${command} --help\\)$`));
      expect(r.stderr, args.join(" ")).to.not.match(/error:|Usage:/);
    });
  });

  it("names the commands of a command given none", async () => {
    const r = await run(["--json", "model"]);
    expect(r.code).to.equal(1);
    expect(r.json.error.message).to.match(/^posthuman model needs a command: create, publish, .*metrics$/);
    expect(r.json.error.hint).to.equal("usage: posthuman model [options] [command] (see posthuman model --help)");
    expect(r.stderr).to.not.match(/error:|Usage:/);
  });

  it("is commander's text on stderr without --json, and help asked for is help with it", async () => {
    const [plain, help] = await Promise.all([run(["train", "base"]), run(["--json", "train", "--help"])]);
    expect(plain.code).to.equal(1);
    expect(plain.stdout).to.equal("");
    expect(plain.stderr).to.match(/^error: required option '--data <file>' not specified\n\nUsage: posthuman train /);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/^Usage: posthuman train \[options\] <model>/);
  });
});

describe("posthuman train/infer/eval --ttl: whole seconds, at most a week", () => {
  it("accepts digits from the minimum to MAX_JOB_TTL_SEC (7 days)", () => {
    expect(MAX_JOB_TTL_SEC).to.equal(7 * 24 * 3600);
    expect(ttlSeconds("900")).to.equal(900);
    expect(ttlSeconds(String(MAX_JOB_TTL_SEC))).to.equal(MAX_JOB_TTL_SEC);
  });

  it("refuses a TTL past the maximum, naming it, before anything is requested", () => {
    // 99999999999 s would put the deadline in the year 5195, and lock the fee that long if the worker dies.
    for (const raw of ["99999999999", String(MAX_JOB_TTL_SEC + 1)])
      expect(() => ttlSeconds(raw)).to.throw(
        CliError,
        `--ttl ${raw} is more than ${MAX_JOB_TTL_SEC} seconds (7 days), the longest a job may wait for its receipt`,
      );
    try {
      ttlSeconds("99999999999");
    } catch (e) {
      expect((e as CliError).hint).to.match(/^pass --ttl 604800 or less: .*reclaim/);
    }
  });

  it("refuses what is not written in digits (1e20, 1.5, 0x10, -5) and what JavaScript cannot count exactly", () => {
    for (const raw of ["1e20", "1.5", "0x10", "-5", " 900", "", "900s"]) {
      expect(() => ttlSeconds(raw), raw).to.throw(CliError, `--ttl "${raw}" is not a whole number ≥ 60`);
      try {
        ttlSeconds(raw);
      } catch (e) {
        expect((e as CliError).hint).to.equal("write it in digits, from 60 to 604800");
      }
    }
    expect(() => int("1e3", "--steps")).to.throw(CliError, `--steps "1e3" is not a whole number ≥ 1`);
    expect(() => int("99999999999999999999", "--steps")).to.throw(
      CliError,
      /--steps 99999999999999999999 is more than/,
    );
    expect(int("0", "--top-k", 0)).to.equal(0);
  });
});

describe("posthuman train --lr: what the runtime and the chain take", () => {
  it("takes a rate above 0, at most 1 and no finer than 1e-9; refuses the rest in words, not a BigInt error", () => {
    expect(learningRate("0.003")).to.equal(0.003);
    expect(learningRate("1")).to.equal(1);
    expect(() => learningRate("-0.1")).to.throw(CliError, `--lr "-0.1" is not a number ≥ 0`);
    for (const raw of ["2", "1e308", "0"])
      expect(() => learningRate(raw), raw).to.throw(
        CliError,
        `--lr ${raw}: the learning rate must be above 0 and at most 1`,
      );
    expect(() => learningRate("1e-12")).to.throw(CliError, "--lr 1e-12 is finer than the 1e-9 the chain carries");
  });
});

describe("posthuman --account and --key-file", () => {
  const base = { rpc: "http://127.0.0.1:9", worker: "http://127.0.0.1:9", json: false, dataDir: "/nonexistent" };

  it("refuses both together, naming both, before anything is read", async () => {
    const keyFile = path.join(os.tmpdir(), `ph-key-${process.pid}`);
    fs.writeFileSync(keyFile, devKey(3));
    try {
      const e = await connect({ ...base, account: "bob", keyFile, deployment: "/nonexistent.json" }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).to.be.instanceOf(CliError);
      expect((e as CliError).message).to.equal(
        `--account bob and --key-file ${keyFile} both say who signs: the command would use one and ignore the other`,
      );
      expect((e as CliError).hint).to.equal(
        "pass one of them: --account <name> for a dev account of a local chain, --key-file <file> for your own key",
      );
    } finally {
      fs.rmSync(keyFile, { force: true });
    }
  });

  it("still takes either alone (here: no address book, the next thing it reads)", async () => {
    const e = await connect({ ...base, account: "bob", deployment: "/nonexistent.json" }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((e as CliError).message).to.equal("No address book at /nonexistent.json");
  });
});

describe("posthuman model create: a --train or --eval file the runtime refuses", () => {
  type Refusal = { error: { message: string; hint: string; code: string | null; data: { file?: string } | null } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-create-"));
  const file = (name: string, content: string | Buffer) => {
    fs.writeFileSync(path.join(dir, name), content);
    return path.join(dir, name);
  };
  const create = (args: string[]) =>
    cli<Refusal>(["--json", "model", "create", ...args], { env: { POSTHUMAN_SKIP_COMPILE: "1" }, timeoutMs: 120_000 });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("is refused before any weights are made, with its code, the file named and a hint (not 'CODE: …', hint null)", async () => {
    const binary = file("weights.bin", Buffer.from([1, 2, 0, 3, 4]));
    const blank = file("blank.txt", "  \n\n");
    const short = file("short.txt", "hi there\n");
    const cases: [string[], RegExp, string][] = [
      [
        ["--train", binary],
        /^.*weights\.bin is binary data \(NUL byte at offset 2\) \(DATASET_BINARY\)$/,
        "DATASET_BINARY",
      ],
      [["--eval", blank], /^.*blank\.txt contains no text \(DATASET_EMPTY\)$/, "DATASET_EMPTY"],
      [["--train", short], /^.*short\.txt has at most \d+ tokens; training with context 64 needs/, "DATASET_TOO_SHORT"],
    ];
    const runs = await Promise.all(cases.map(([args], i) => create([path.join(dir, `m${i}`), ...args])));
    runs.forEach((r, i) => {
      const [args, message, code] = cases[i];
      expect(r.code, args.join(" ")).to.equal(1);
      expect(r.json.error.message, r.stdout).to.match(message);
      expect(r.json.error.code).to.equal(code);
      expect(r.json.error.data?.file).to.equal(args[1]);
      expect(r.json.error.hint).to.equal("fix the file and try again: no model folder was made");
      expect(r.stderr).to.not.match(/created .* weights/);
      expect(fs.existsSync(path.join(dir, `m${i}`))).to.equal(false);
    });
  });

  it("refused by the tokenizer only after the weights were made: the same words, and the folder goes too", async () => {
    // 176 bytes (enough by the byte count) but fewer tokens than an evaluation window of 65.
    const eval58 = file("eval.txt", "the cat sat on a mat. ".repeat(8));
    const r = await create([path.join(dir, "m-eval"), "--eval", eval58]);
    expect(r.code).to.equal(1);
    expect(r.json.error.message).to.match(
      /eval\.txt has \d+ tokens; evaluation with context 64 needs at least 65 \(DATASET_TOO_SHORT\)$/,
    );
    expect(r.json.error.code).to.equal("DATASET_TOO_SHORT");
    expect(r.json.error.hint).to.equal("fix the file and try again: no model folder was made");
    expect(fs.existsSync(path.join(dir, "m-eval"))).to.equal(false);
  });
});

describe("posthuman: an input file that cannot be read (--data, --prompts, --train…)", () => {
  const refusal = (file: string) => {
    try {
      readFile(file);
    } catch (e) {
      return e as CliError;
    }
    throw new Error(`${file} was read`);
  };

  it("says why in words, the code after them, rather than a bare ENOENT or EISDIR", () => {
    const missing = path.join(os.tmpdir(), `ph-none-${process.pid}.txt`);
    expect(refusal(missing).message).to.equal(`Cannot read ${missing}: there is no such file (ENOENT)`);
    expect(refusal(missing).hint).to.equal("check the path");
    const folder = os.tmpdir();
    expect(refusal(folder).message).to.equal(`Cannot read ${folder}: it is a folder, not a file (EISDIR)`);
    expect(refusal(folder).hint).to.equal("pass a file in it");
    const underFile = path.join(__filename, "x");
    expect(refusal(underFile).message).to.equal(
      `Cannot read ${underFile}: a part of the path is not a folder (ENOTDIR)`,
    );
  });
});

describe("posthuman up: the commands it suggests", () => {
  it("make the model folder where git ignores it (README's .posthuman/m1), not an untracked m1/ in the checkout", () => {
    const handle = {
      chain: { url: "http://127.0.0.1:8545", replayed: 0, restored: false, stop: async () => undefined },
      book: { chainId: 31337, startBlock: 0, contracts: {} },
      deploymentFile: "deployments/localhost.json",
      stopWorker: async () => undefined,
      stop: async () => undefined,
    } as unknown as UpHandle;
    const text = describeUp(handle);
    const created = /model create (\S+) /.exec(text)?.[1];
    expect(created).to.equal(".posthuman/m1");
    expect(text).to.include(`model publish ${created} `);
    const root = path.join(__dirname, "..", "..");
    // git check-ignore exits 0 (and names it) when the path is ignored.
    expect(execFileSync("git", ["check-ignore", created!], { cwd: root }).toString().trim()).to.equal(created);
  });
});
