/**
 * `job verify`, `job challenge`, `job resolve`, `job result --out` and `job show` on a live marketplace (`posthuman
 * up` with a long challenge window, its worker, spawned commands), as a verifier meets them: a wrong model folder or
 * a wrong input is the verifier's own mistake, said before anything is re-run and never turned into advice to
 * challenge; a re-run's failure names the user's file with its code said once; two decisions conflict; --out may be a
 * folder; the worker's word that lags the chain is said so; and a requester joining a challenge is told it joined.
 * On the same marketplace, `send` funds a new key (an operator's second worker) that then stakes with its key file.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { devWallet } from "../../offchain/deploy/accounts";
import { readAddressBook } from "../../offchain/deploy/address-book";
import { MlError, type Executor } from "../../offchain/ml";
import { PostHuman } from "../../offchain/sdk/client";
import { cli, ok, startUp, type CliRun, type UpProcess } from "./cli-process";

interface ErrorJson {
  error: { message: string; hint?: string; code?: string; data?: Record<string, unknown> };
}
interface VerifyJson {
  verified: boolean;
  checks: { name: string; ok: boolean }[];
}

describe("posthuman job verify / challenge / resolve / result / show: the verifier's mistakes are its own", function () {
  this.timeout(900_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-job-verify-"));
  const deployment = path.join(tmp, "deployment.json");
  const m1 = path.join(tmp, "m1");
  const other = path.join(tmp, "other");
  let upProc: UpProcess | undefined;
  let provider: ethers.JsonRpcProvider;
  let jobId = "";

  /** A command as `who` runs it against the marketplace, with their own data directory. */
  const as = <T>(who: string, args: string[]): Promise<CliRun<T>> => {
    const up = upProc?.up;
    if (!up) throw new Error("posthuman up is not running");
    const global = ["--rpc", up.rpc, "--deployment", deployment, "--worker", up.worker];
    return cli<T>([...global, "--data-dir", path.join(tmp, who), "--account", who, ...args]);
  };
  const file = (name: string, text: string) => {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, text);
    return f;
  };

  before(async () => {
    const [up, a, b] = await Promise.all([
      startUp(path.join(tmp, "marketplace"), deployment, 180_000, ["--challenge-window", "600"]),
      cli(["--json", "model", "create", m1, "--preset", "tiny", "--seed", "3"]),
      cli(["--json", "model", "create", other, "--preset", "tiny", "--seed", "4"]),
    ]);
    upProc = up;
    ok(a);
    ok(b);
    // A loaded machine's worker sometimes refuses an upload right after the model's registration (the connection
    // closed, WORKER_REFUSED): the model is on chain; its folder is uploaded again, as `model upload` does.
    const publish = async (who: string, folder: string, name: string, modelId: string) => {
      const args = ["--json", "model", "publish", folder, "--name", name, "--price", "1", "--supply", "20"];
      let r = await as<ErrorJson>(who, args);
      for (let i = 0; i < 3 && r.code !== 0 && r.json?.error?.code === "WORKER_REFUSED"; i++) {
        await new Promise((done) => setTimeout(done, 2000));
        r = await as<ErrorJson>(who, ["--json", "model", "upload", folder, modelId]);
      }
      ok(r);
    };
    await publish("alice", m1, "Verify M1", "1");
    await publish("bob", other, "Other", "2");
    // Alice's inference on model 1: the job every verification below is about ("Hello\n" is its input).
    jobId = ok(await as<{ jobId: string }>("alice", ["--json", "infer", "1", "--prompt", "Hello"])).jobId;
    provider = new ethers.JsonRpcProvider(up.up.rpc, up.up.chainId, { cacheTimeout: -1, staticNetwork: true });
  });

  after(async () => {
    provider?.destroy();
    await upProc?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("verifies the receipt with the job's input and model", async () => {
    const v = ok(
      await as<VerifyJson>("alice", ["--json", "job", "verify", jobId, "--input", file("in.txt", "Hello\n")]),
    );
    expect(v.verified).to.equal(true);
  });

  it("refuses another model's folder before re-running: no MISMATCH, no advice to challenge", async () => {
    const [json, human] = await Promise.all([
      as<ErrorJson>("alice", ["--json", "job", "verify", jobId, "--model", other]),
      as("alice", ["job", "verify", jobId, "--model", other]),
    ]);
    expect(json.code).to.equal(1);
    expect(json.json.error.code).to.equal("MODEL_FOLDER_MISSING");
    expect(json.json.error.message).to.match(
      new RegExp(`^${other} is not the folder of model 1, the model job ${jobId} ran on: it holds model 2's weights`),
    );
    expect(json.json.error.message).to.contain("Nothing was re-run: the receipt is not in question.");
    // Alice published model 1: its copy in her data directory is the one to use.
    expect(json.json.error.hint).to.match(/^leave out --model: a copy of model 1 is kept on this machine, in /);
    expect(json.json.error.hint).to.contain(path.join(tmp, "alice"));
    expect(human.code).to.equal(1);
    expect(human.stdout).to.equal("");
    expect(human.stderr).to.not.match(/MISMATCH|job challenge|re-running job/);
    // Bob has no copy of model 1: he is told whose folder is needed.
    const bob = await as<ErrorJson>("bob", [
      "--json",
      "job",
      "verify",
      jobId,
      "--model",
      other,
      "--input",
      file("b.txt", "Hello\n"),
    ]);
    expect(bob.json.error.hint).to.match(/^give model 1's folder with --model <dir>: .*its publisher has it$/);
  });

  it("refuses an input that is not the job's, or an empty one, naming the user's file, before re-running", async () => {
    const wrong = file("wrong.txt", "Hello there, this is not the prompt of the job\n");
    const empty = file("empty.txt", "");
    const [w, e, human] = await Promise.all([
      as<ErrorJson>("alice", ["--json", "job", "verify", jobId, "--input", wrong]),
      as<ErrorJson>("alice", ["--json", "job", "verify", jobId, "--input", empty]),
      as("alice", ["job", "verify", jobId, "--input", wrong]),
    ]);
    expect(w.code).to.equal(1);
    expect(w.json.error.code).to.equal("INPUT_MISSING");
    expect(w.json.error.message).to.match(new RegExp(`^${wrong} is not job ${jobId}'s input \\(its sha256 is 0x`));
    expect(w.json.error.message).to.contain("Nothing was re-run.");
    expect(w.json.error.hint).to.equal(
      "leave out --input: the copy of the job's input kept on this machine is the right one",
    );
    expect(e.json.error.message).to.match(new RegExp(`^${empty} is empty: it is not job ${jobId}'s input`));
    expect(e.json.error.code).to.equal("INPUT_MISSING");
    expect(`${w.stderr}${e.stderr}`).to.not.match(/re-running job|ph-verify-/);
    expect(human.code).to.equal(1);
    expect(human.stderr).to.match(new RegExp(`^Error: ${wrong} is not job ${jobId}'s input`, "m"));
    expect(human.stderr).to.not.match(/MISMATCH|job challenge|DATASET_EMPTY|PROMPT_TOO_LONG/);
  });

  it("says a re-run's runtime error once, naming the input for what it is, not the re-run's temporary folder", async () => {
    const book = readAddressBook(deployment);
    if (!book) throw new Error(`no address book at ${deployment}`);
    const alice = await PostHuman.init({
      runner: devWallet(1).connect(provider),
      book,
      workerUrl: upProc!.up.worker,
      dataDir: path.join(tmp, "alice"),
    });
    // A runtime that fails the way a child process passes it on: its code prefixed twice, the job folder's path.
    const failing: Executor = {
      id: "failing",
      runtimeId: "0x" + "00".repeat(32),
      run: (job) => {
        const input = path.join(job.jobDir, "inputs", "input.txt");
        return Promise.reject(new MlError("DATASET_EMPTY", `DATASET_EMPTY: ${input} is empty`));
      },
    };
    const err = await alice
      .verify(BigInt(jobId), { input: Buffer.from("Hello\n"), inputName: "prompts.txt", executor: failing })
      .then(
        () => undefined,
        (e: unknown) => e as MlError,
      );
    expect(err?.code).to.equal("DATASET_EMPTY");
    expect(err?.message).to.equal(`DATASET_EMPTY: the re-run of job ${jobId} failed: prompts.txt is empty`);
  });

  it("job resolve: --upheld with --dismissed conflict (with a code); neither is no decision; what the chain would refuse is refused first", async () => {
    const [both, neither, human, notArbiter, unchallenged, unknown] = await Promise.all([
      as<ErrorJson>("deployer", ["--json", "job", "resolve", jobId, "--upheld", "--dismissed"]),
      as<ErrorJson>("deployer", ["--json", "job", "resolve", jobId]),
      as("deployer", ["job", "resolve", jobId, "--upheld", "--dismissed"]),
      as<ErrorJson>("alice", ["--json", "job", "resolve", jobId, "--upheld"]),
      as<ErrorJson>("deployer", ["--json", "job", "resolve", jobId, "--dismissed"]),
      as<ErrorJson>("deployer", ["--json", "job", "resolve", "999", "--dismissed"]),
    ]);
    expect(notArbiter.json.error).to.deep.include({
      code: "RESOLVE_REFUSED",
      hint: "pass the arbiter's --account or --key-file (on the chain `posthuman up` starts: --account deployer)",
    });
    expect(notArbiter.json.error.message).to.match(
      /^Only the job market's arbiter \(0x\w{40}\) decides challenges; you are 0x\w{40}\. Nothing was sent\.$/,
    );
    expect(unchallenged.json.error.code).to.equal("RESOLVE_REFUSED");
    expect(unchallenged.json.error.message).to.match(
      new RegExp(`^Job ${jobId}('s receipt is not challenged| has ended \\(Settled\\))`),
    );
    expect(unknown.json.error.code).to.equal("UNKNOWN_JOB");
    expect(both.code).to.equal(1);
    expect(both.json.error).to.deep.include({
      code: "CONFLICTING_OPTIONS",
      hint: "pass one of them: --upheld or --dismissed",
    });
    expect(both.json.error.message).to.match(/^--upheld and --dismissed conflict/);
    expect(neither.json.error).to.deep.include({ message: "no decision given", code: "NO_DECISION" });
    expect(human.stderr).to.match(/^Error: --upheld and --dismissed conflict/);
  });

  it("send: OCEAN and gas to a new key, which then stakes; refused whole before any transaction when it cannot be", async () => {
    const key = ethers.Wallet.createRandom();
    const keyFile = path.join(tmp, "new-worker.key");
    fs.writeFileSync(keyFile, key.privateKey, { mode: 0o600 });
    const up = (upProc as UpProcess).up;
    const base = new ethers.Contract(
      up.contracts.OceanToken,
      ["function balanceOf(address) view returns (uint256)"],
      provider,
    );
    const nonce = await provider.getTransactionCount(devWallet(1).address);
    const [nothing, tooMuch, contract, self] = await Promise.all([
      as<ErrorJson>("alice", ["--json", "send", key.address]),
      as<ErrorJson>("alice", ["--json", "send", key.address, "--amount", "1", "--gas", "1000000"]),
      as<ErrorJson>("alice", ["--json", "send", up.contracts.JobMarket, "--amount", "1"]),
      as<ErrorJson>("alice", ["--json", "send", "alice", "--amount", "1"]),
    ]);
    expect(nothing.json.error.message).to.equal("nothing to send");
    expect(tooMuch.json.error.message).to.match(/less than --gas 1000000\. Nothing was sent\.$/);
    expect(contract.json.error.message).to.match(/is a contract, not a person's account/);
    expect(self.json.error.message).to.equal("alice is your own account: nothing to send");
    expect(await provider.getTransactionCount(devWallet(1).address)).to.equal(nonce); // not even the OCEAN part

    const sent = ok(
      await as<{ txHashes: string[] }>("alice", ["--json", "send", key.address, "--amount", "150", "--gas", "0.5"]),
    );
    expect(sent.txHashes).to.have.length(2);
    expect(await base.balanceOf(key.address)).to.equal(ethers.parseEther("150"));
    expect(await provider.getBalance(key.address)).to.equal(ethers.parseEther("0.5"));
    const global = ["--rpc", up.rpc, "--deployment", deployment, "--data-dir", path.join(tmp, "new-worker")];
    ok(await cli([...global, "--json", "--key-file", keyFile, "stake", "add", "120"]));
    expect(await base.balanceOf(key.address)).to.equal(ethers.parseEther("30"));
  });

  it("job result --out: a folder is written into; a missing folder is refused with what to do", async () => {
    const folder = fs.mkdtempSync(path.join(tmp, "out-"));
    const missing = path.join(tmp, "no-such-folder", "r.json");
    const [into, refused] = await Promise.all([
      as<{ out: string; verified: boolean }>("alice", ["--json", "job", "result", jobId, "--out", folder]),
      as<ErrorJson>("alice", ["--json", "job", "result", jobId, "--out", missing]),
    ]);
    const written = path.join(folder, `job-${jobId}-result.json`);
    expect(ok(into)).to.deep.include({ out: written, verified: true });
    expect(JSON.parse(fs.readFileSync(written, "utf8"))).to.be.an("object");
    expect(refused.code).to.equal(1);
    expect(refused.json.error.code).to.equal("OUT_FOLDER_MISSING");
    expect(refused.json.error.message).to.equal(
      `Cannot write the result to ${missing}: the folder ${path.dirname(missing)} does not exist.`,
    );
    expect(refused.json.error.hint).to.match(/^create it first \(mkdir -p /);
  });

  it("job challenge: a new challenge, then the requester joining it; job show says the chain moved on", async () => {
    const opened = ok(await as<{ joined: boolean }>("bob", ["--json", "job", "challenge", jobId]));
    expect(opened.joined).to.equal(false);
    const joined = await as("alice", ["job", "challenge", jobId]);
    expect(joined.code, joined.stderr).to.equal(0);
    expect(joined.stdout).to.match(
      new RegExp(
        `^joined the existing challenge of job ${jobId}'s receipt \\(opened by bob 0x.*\\) with a 10 OCEAN bond: ` +
          "if it is upheld, half the challenger's reward is yours",
      ),
    );
    const show = await as("alice", ["job", "show", jobId]);
    expect(show.stdout).to.match(/^job \d+: Infer on model 1, Challenged/);
    expect(show.stdout).to.contain("worker says: submitted (the chain has moved on: Challenged)");
  });

  it("job upload: an input whose upload a Ctrl-C stopped goes from the copy kept, and the job runs; another file is refused", async () => {
    const up = upProc!.up;
    const global = ["--rpc", up.rpc, "--deployment", deployment, "--worker", up.worker];
    const args = [...global, "--data-dir", path.join(tmp, "alice"), "--account", "alice"];
    const stopped = await cli([...args, "infer", "1", "--prompt", "Once more"], { ctrlCWhen: /Requesting the job…/ });
    expect(stopped.code, stopped.stderr).to.equal(130);
    const said = /Stopped following job (\d+): .*its input( was not uploaded|'s upload was cut short)/.exec(
      stopped.stderr,
    );
    expect(said, stopped.stderr).to.not.equal(null);
    const id = said![1];
    expect(stopped.stderr).to.contain(`deliver it: posthuman job upload ${id}`);
    const wrong = await as<ErrorJson>("alice", [
      "--json",
      "job",
      "upload",
      id,
      "--input",
      file("not-it.txt", "Not it\n"),
    ]);
    expect(wrong.code).to.equal(1);
    expect(wrong.json.error.message).to.match(new RegExp(`is not job ${id}'s input: its sha256 is 0x[0-9a-f]{64}`));
    const sent = await as<{ uploaded: boolean; inputAck: string | null }>("alice", ["--json", "job", "upload", id]);
    // (A Ctrl-C that cut the upload short may have let the input through: the worker then acknowledges it again, or the
    // job has run already and takes no input.)
    if (said![2] === " was not uploaded") expect(ok(sent).inputAck).to.match(/^0x[0-9a-f]{130}$/);
    const book = readAddressBook(deployment)!;
    const reader = await PostHuman.init({ runner: devWallet(1).connect(provider), book, workerUrl: up.worker });
    const done = ["Submitted", "Settled"];
    for (let t = Date.now(); Date.now() - t < 180_000; await new Promise((r) => setTimeout(r, 500)))
      if (done.includes((await reader.jobs.get(BigInt(id))).status)) break;
    expect(done).to.include((await reader.jobs.get(BigInt(id))).status);
  });
});
