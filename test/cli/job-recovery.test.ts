/**
 * The job commands on a live marketplace (`posthuman up`, its worker pricing inferences at 0.5 OCEAN at least and
 * waiting 5 s for an input), as a user meets them: the SDK's steps said while a job is requested; Ctrl-C after the
 * request naming the job that goes on; the --json errors carrying the SDK's code and facts; and `job show`, `job
 * result`, `job cancel` and `job reclaim` saying, in a job's state's words, what it needs: there is no such job, it
 * failed, it is open (cancel it, not reclaim it), its deadline passed.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { devWallet } from "../../offchain/deploy/accounts";
import { readAddressBook } from "../../offchain/deploy/address-book";
import { JobStatus, type JobParams } from "../../offchain/protocol/params";
import { PostHuman } from "../../offchain/sdk/client";
import { JobMarket__factory } from "../../typechain-types";
import { cli, ok, startUp, type CliRun, type UpProcess } from "./cli-process";

interface ErrorJson {
  error: { message: string; hint?: string; code?: string; data?: Record<string, unknown> };
}

const INFER: JobParams = { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } };
const E = (x: string) => ethers.parseEther(x);

describe("posthuman job commands on a live marketplace: steps, Ctrl-C, and a job's state in words", function () {
  this.timeout(900_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-job-words-"));
  const deployment = path.join(tmp, "deployment.json");
  let upProc: UpProcess | undefined;
  let provider: ethers.JsonRpcProvider;
  /** Alice's SDK in this process: requests jobs the CLI would not (no upload, a fee the worker refuses). */
  let alice: PostHuman;

  /** A command as Alice runs it against the marketplace. */
  const as = <T>(args: string[], o: Parameters<typeof cli>[1] = {}): Promise<CliRun<T>> => {
    const up = upProc?.up;
    if (!up) throw new Error("posthuman up is not running");
    const global = ["--rpc", up.rpc, "--deployment", deployment, "--worker", up.worker];
    return cli<T>([...global, "--data-dir", path.join(tmp, "alice"), "--account", "alice", ...args], o);
  };
  const statusOf = async (jobId: bigint) =>
    Number((await JobMarket__factory.connect(upProc!.up.contracts.JobMarket, provider).getJob(jobId)).status);

  before(async () => {
    const folder = path.join(tmp, "m1");
    const [up, created] = await Promise.all([
      startUp(path.join(tmp, "marketplace"), deployment, 180_000, [], false, {
        POSTHUMAN_WORKER_MIN_FEE_INFER: "0.5ether",
        POSTHUMAN_WORKER_INPUT_WAIT: "5s",
      }),
      cli(["--json", "model", "create", folder, "--preset", "tiny", "--seed", "3"]),
    ]);
    upProc = up;
    ok(created);
    ok(await as(["--json", "model", "publish", folder, "--name", "Words M1", "--price", "1", "--supply", "20"]));
    provider = new ethers.JsonRpcProvider(up.up.rpc, up.up.chainId, { cacheTimeout: -1, staticNetwork: true });
    const book = readAddressBook(deployment);
    if (!book) throw new Error(`no address book at ${deployment}`);
    alice = await PostHuman.init({ runner: devWallet(1).connect(provider), book, workerUrl: up.up.worker });
  });

  after(async () => {
    provider?.destroy();
    await upProc?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("says the SDK's steps on stderr, and --no-wait's JSON has no generations before the job ran", async () => {
    const r = await as<{ jobId: string }>(["--json", "infer", "1", "--prompt", "Hello", "--no-wait"]);
    const { jobId } = ok(r);
    expect(r.json).to.not.have.property("generations");
    expect(r.stderr).to.contain("Checking that the worker answers, and would take the job…\n");
    expect(r.stderr).to.contain(
      `Requesting the job…\nJob ${jobId} requested. Uploading its input to the worker…\njob ${jobId}: input uploaded;`,
    );
  });

  it("on Ctrl-C after the request, names the job that goes on, with its input or without", async () => {
    // Ctrl-C while the request is on its way: the command waits for its job's id, and stops before the upload.
    const early = await as(["infer", "1", "--prompt", "Hello"], { ctrlCWhen: /Requesting the job…/ });
    expect(early.code, early.stderr).to.equal(130);
    expect(early.stdout).to.equal("");
    const said =
      /Stopped following job (\d+): it stays on chain, fee and datatoken escrowed, but its input('s upload was cut short| was not uploaded)/.exec(
        early.stderr,
      );
    expect(said, early.stderr).to.not.equal(null);
    expect(early.stderr).to.contain(`posthuman job cancel ${said![1]} (the fee and the datatoken come back)`);
    expect(early.stderr).to.contain(`deliver it: posthuman job upload ${said![1]}`);
    // Ctrl-C while following: the job goes on; with --json, the JSON error on stdout.
    const late = await as<ErrorJson>(["--json", "infer", "1", "--prompt", "Hello"], { ctrlCWhen: /input uploaded/ });
    expect(late.code, late.stderr).to.equal(130);
    const jobId = /job (\d+): input uploaded/.exec(late.stderr)![1];
    expect(late.json.error).to.deep.include({
      message: `Stopped following job ${jobId}: it stays on chain and goes on (its input was uploaded).`,
      hint: `see it with: posthuman job show ${jobId}`,
      code: "INTERRUPTED",
    });
    // Followed again, to its receipt: `job show --follow` waits for it (the worker's progress on stderr).
    const again = await as<{ job: { status: string }; receipt: { jobId: string } | null }>([
      "--json",
      ...["job", "show", jobId, "--follow"],
    ]);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.json.receipt?.jobId).to.equal(jobId);
    expect(again.json.job.status).to.be.oneOf(["Submitted", "Settled"]);
  });

  it("says, in the job's state's words, what a job needs: no such job, failed, open, past its deadline", async () => {
    // A job whose input never comes (failed INPUT_MISSING by its claimant), and two under the worker's price
    // (never claimed): one with time left, one whose deadline passes at once.
    const failing = (await alice.requestJob(1n, INFER, Buffer.from("Hello\n"), { upload: false, fee: E("1") })).jobId;
    const open = (await alice.requestJob(1n, INFER, Buffer.from("Hi\n"), { upload: false, fee: E("0.01") })).jobId;
    // (5 s, not 1: the request must be mined before its deadline on a loaded machine.)
    const short = await alice.requestJob(1n, INFER, Buffer.from("Hey\n"), { upload: false, fee: E("0.01"), ttlSec: 5 });
    const lapsed = short.jobId;
    const count = await alice.jobs.count();

    // The worker's price, refused before paying: the SDK's code and facts in the JSON error.
    const declined = await as<ErrorJson>(["--json", "infer", "1", "--prompt", "Hello", "--fee", "0.01"]);
    expect(declined.code).to.equal(1);
    expect(declined.json.error).to.deep.include({
      code: "WORKER_DECLINES",
      hint: "pass --fee 0.5 or more (nothing was paid)",
    });
    expect(declined.json.error.data).to.deep.include({ workerCode: "UNDERPRICED", minFee: E("0.5").toString() });

    // No such job: every job command says it as `job show` does.
    const unknown = await Promise.all(
      ["show", "result", "verify", "cancel", "reclaim", "settle"].map((c) =>
        as<ErrorJson>(["--json", "job", c, "999"]),
      ),
    );
    for (const r of unknown) {
      expect(r.code, r.args.join(" ")).to.equal(1);
      expect(r.json.error, r.args.join(" ")).to.deep.include({
        message: `There is no job 999 on this chain (${count} jobs so far).`,
        hint: `job ids run from 1 to ${count}`,
        code: "UNKNOWN_JOB",
      });
    }

    // An open job before its deadline is cancelled, not reclaimed.
    const reclaim = await as<ErrorJson>(["--json", "job", "reclaim", String(open)]);
    expect(reclaim.json.error.message).to.match(
      new RegExp(`^Job ${open} is open \\(no worker has claimed it\\): it can be reclaimed only after its deadline`),
    );
    expect(reclaim.json.error.hint).to.match(new RegExp(`posthuman job cancel ${open}$`));

    // Past its deadline, `job show` says to cancel it; a cancel (the requester's) or a reclaim (anyone's, past the
    // deadline) says what came back, and to whom.
    while (Date.now() / 1000 <= Number(short.deadline) + 1) await new Promise((r) => setTimeout(r, 250));
    const show = await as(["job", "show", String(lapsed)]);
    expect(show.stdout).to.contain(
      `its deadline passed and no worker claimed it: cancel it (posthuman job cancel ${lapsed}) to get the fee and the datatoken back`,
    );
    // (One after the other: both send from Alice's account.)
    const reclaimed = await as<Record<string, string>>(["--json", "job", "reclaim", String(lapsed)]);
    const cancelled = await as<Record<string, string>>(["--json", "job", "cancel", String(open)]);
    const refund = { refund: E("0.01").toString(), to: devWallet(1).address };
    expect(ok(reclaimed)).to.deep.include({ jobId: String(lapsed), ...refund, slashed: "0" });
    expect(ok(cancelled)).to.deep.include({ jobId: String(open), ...refund });

    // The failed job: its reason on chain in `job show --json`, no receipt to fetch, nothing to cancel.
    const until = Date.now() + 120_000;
    while ((await statusOf(failing)) !== JobStatus.Failed && Date.now() < until)
      await new Promise((r) => setTimeout(r, 1000));
    const [shown, result, cancel] = await Promise.all([
      as<{ failure: { name: string } | null; receipt: unknown }>(["--json", "job", "show", String(failing)]),
      as<ErrorJson>(["--json", "job", "result", String(failing)]),
      as<ErrorJson>(["--json", "job", "cancel", String(failing)]),
    ]);
    expect(ok(shown).failure?.name).to.equal("INPUT_MISSING");
    expect(shown.json.receipt).to.equal(null);
    expect(result.json.error.message).to.match(
      new RegExp(`^Job ${failing} failed \\(INPUT_MISSING.*\\): it ended without a receipt, so it has no result`),
    );
    expect(cancel.json.error.message).to.match(
      new RegExp(`^Job ${failing} failed .*so there is nothing to cancel\\.$`),
    );
  });
});
