/**
 * How the job commands word a job's state, without a chain: Ctrl-C after a job was requested (which job goes on,
 * whether its input reached the worker), `job result` of a job without a receipt, a refused `job cancel` or
 * `job reclaim`, `job show` past a deadline; --json errors carrying the SDK's code and facts; and the wording of a
 * few options (--fee finer than a wei, --prompt with --prompts, a --prompt too long, `up --help`).
 */
import { expect } from "chai";
import { inferInput, aboutThePrompt } from "../../offchain/cli/commands/infer";
import { JobsInFlight, stoppedError } from "../../offchain/cli/commands/in-flight";
import {
  decision,
  noReceipt,
  pastDeadline,
  reRunFailed,
  refusal,
  verdictNext,
  workerLag,
} from "../../offchain/cli/commands/job-state";
import { MlError } from "../../offchain/ml/errors";
import { amount, explain } from "../../offchain/cli/context";
import { CliError, reportError } from "../../offchain/cli/output";
import { SdkError } from "../../offchain/sdk/errors";
import type { JobRecord } from "../../offchain/sdk/job-market";
import { cli } from "./cli-process";

const DEADLINE = 1_800_000_000n; // 2027-01-15T08:00:00Z
const job = (status: string, id = 6n) => ({ id, status, deadline: DEADLINE }) as unknown as JobRecord;

/** What reportError prints on stdout with --json. */
function jsonError(e: unknown): unknown {
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => (written.push(chunk), true)) as typeof process.stdout.write;
  try {
    reportError(e, true);
  } finally {
    process.stdout.write = write;
  }
  return JSON.parse(written.join(""));
}

describe("posthuman train/infer/eval: Ctrl-C after a job was requested", () => {
  it("names the job that goes on, its input uploaded, and how to see it", () => {
    const f = new JobsInFlight();
    f.requesting();
    f.heard(17n);
    f.requested({ jobId: 17n, uploaded: true });
    const e = stoppedError(f);
    expect(e.message).to.equal("Stopped following job 17: it stays on chain and goes on (its input was uploaded).");
    expect(e.hint).to.equal("see it with: posthuman job show 17");
    expect(e.exitCode).to.equal(130);
    expect(jsonError(e)).to.deep.equal({
      error: {
        message: e.message,
        hint: e.hint,
        code: "INTERRUPTED",
        data: { jobs: [{ jobId: "17", input: "uploaded" }], done: [], sending: false },
      },
    });
  });

  it("waits for a request on its way to be mined, then names its job, its input not uploaded, and how to get the fee back", () => {
    const f = new JobsInFlight();
    const said: string[] = [];
    let stopped = 0;
    f.requesting();
    f.interrupt(
      () => stopped++,
      (l) => said.push(l),
    );
    expect(stopped).to.equal(0);
    expect(said).to.deep.equal([
      "Ctrl-C: the job's request is on its way; stopping once it is mined, to name the job (Ctrl-C again to stop now)",
    ]);
    f.heard(17n);
    expect(stopped).to.equal(1);
    const e = stoppedError(f);
    expect(e.message).to.equal(
      "Stopped following job 17: it stays on chain, fee and datatoken escrowed, but its input was not uploaded.",
    );
    expect(e.hint).to.equal(
      "see it with: posthuman job show 17; deliver it: posthuman job upload 17; or cancel it while no worker has " +
        "claimed it: posthuman job cancel 17 (the fee " +
        "and the datatoken come back); a worker that claimed one fails it INPUT_MISSING once its input wait is over, " +
        "which refunds them too",
    );
  });

  it("says an upload cut short, a request cut short by a second Ctrl-C, and a stop before any request", () => {
    const f = new JobsInFlight();
    f.requesting();
    f.heard(9n);
    expect(stoppedError(f).message).to.equal(
      "Stopped following job 9: it stays on chain, fee and datatoken escrowed, but its input's upload was cut " +
        "short: the worker may not have it.",
    );
    const g = new JobsInFlight();
    let stopped = 0;
    g.requesting();
    g.interrupt(
      () => stopped++,
      () => undefined,
    );
    g.interrupt(
      () => stopped++,
      () => undefined,
    );
    expect(stopped).to.equal(1);
    expect(stoppedError(g).message).to.match(/^Stopped while a job's request was on its way: it may be on chain/);
    expect(stoppedError(new JobsInFlight()).message).to.equal("Stopped: no job was requested (nothing escrowed).");
  });

  it("names every evaluation still going on, and the results of those done", () => {
    const f = new JobsInFlight();
    for (const id of [4n, 5n, 6n]) f.requested({ jobId: id, uploaded: true });
    f.finished(4n);
    expect(stoppedError(f).message).to.equal(
      "Stopped following jobs 5 and 6: they stay on chain and go on (their inputs were uploaded).",
    );
    expect(stoppedError(f).hint).to.equal("see them with: posthuman job show 5, posthuman job show 6");
    f.heard(7n);
    expect(stoppedError(f).message).to.equal(
      "Stopped following jobs 5, 6 and 7: jobs 5 and 6 stay on chain and go on (their inputs were uploaded); job 7 " +
        "stays on chain, " +
        "fee and datatoken escrowed, but its input's upload was cut short: the worker may not have it.",
    );
    const done = new JobsInFlight();
    done.requested({ jobId: 4n, uploaded: true });
    done.finished(4n);
    expect(stoppedError(done).message).to.equal("Stopped: job 4 has its receipt.");
    expect(stoppedError(done).hint).to.equal("fetch its result with: posthuman job result 4");
  });
});

describe("posthuman job result / cancel / reclaim / show: a job's state in words", () => {
  const before = DEADLINE - 60n;
  const after = DEADLINE + 60n;

  it("job result: a job that ended without a receipt says so, and why; one still running says to follow it", () => {
    const failed = noReceipt(
      {
        job: job("Failed", 7n),
        failure: { reason: 1, name: "INPUT_MISSING" },
        worker: { error: { code: "INPUT_MISSING", message: "the input never came" } },
      },
      after,
    );
    expect(failed.message).to.equal(
      "Job 7 failed (INPUT_MISSING: the input never came): it ended without a receipt, so it has no result (its fee " +
        "and datatoken went back to the requester).",
    );
    expect(failed.hint).to.equal("request a new job to run its input");
    expect(noReceipt({ job: job("Cancelled", 8n) }, after).message).to.match(
      /^Job 8 was cancelled: it ended without a receipt/,
    );
    const open = noReceipt({ job: job("Open", 9n) }, before);
    expect(open.message).to.equal("Job 9 has no receipt yet: it is open: no worker has claimed it yet.");
    expect(open.hint).to.equal(
      "follow it: posthuman job show 9 --follow (its deadline is 2027-01-15T08:00:00Z (UTC, chain time))",
    );
    expect(noReceipt({ job: job("Open", 9n) }, after).hint).to.match(/cancel it \(posthuman job cancel 9\)/);
  });

  it("job cancel of a claimed job: cannot be cancelled; wait for its receipt, or reclaim it after its deadline", () => {
    const e = refusal("cancel", { job: job("Claimed") }, before) as CliError;
    expect(e.message).to.equal("Job 6 is claimed by a worker: a claimed job cannot be cancelled.");
    expect(e.hint).to.equal(
      "wait for its receipt (posthuman job show 6), or reclaim it after its deadline, 2027-01-15T08:00:00Z (UTC, " +
        "chain time), if the worker does not deliver: posthuman job reclaim 6",
    );
    expect((refusal("cancel", { job: job("Claimed") }, after) as CliError).hint).to.match(
      /^its deadline passed without a receipt: reclaim it \(posthuman job reclaim 6\)/,
    );
  });

  it("job reclaim of an open job before its deadline: cancel it instead", () => {
    const e = refusal("reclaim", { job: job("Open", 5n) }, before) as CliError;
    expect(e.message).to.equal(
      "Job 5 is open (no worker has claimed it): it can be reclaimed only after its deadline, 2027-01-15T08:00:00Z " +
        "(UTC, chain time).",
    );
    expect(e.hint).to.match(/posthuman job cancel 5$/);
    // A claimed job before its deadline: the chain's own words stand (its worker may still deliver).
    expect(refusal("reclaim", { job: job("Claimed") }, before)).to.equal(undefined);
    // The requester's own open job (a cancel refused for another reason: not the requester) keeps the chain's words.
    expect(refusal("cancel", { job: job("Open") }, before)).to.equal(undefined);
  });

  it("job cancel / reclaim of a job that ended or has its receipt: nothing to do, and what to do instead", () => {
    expect(refusal("reclaim", { job: job("Settled") }, after)?.message).to.equal(
      "Job 6 has its worker's receipt (settled): it can no longer be reclaimed.",
    );
    expect(refusal("cancel", { job: job("Submitted") }, after)?.hint).to.equal(
      "fetch its result: posthuman job result 6",
    );
    expect(refusal("cancel", { job: job("Reclaimed") }, after)?.message).to.equal(
      "Job 6 was reclaimed after its deadline: it has ended (its fee and datatoken went back to the requester), so " +
        "there is nothing to cancel.",
    );
  });

  it("job settle of a job without a receipt, settled or ended: nothing to settle; the chain's words for a window still open", () => {
    expect(refusal("settle", { job: job("Claimed") }, before)?.message).to.equal(
      "Job 6 has no receipt yet (claimed): there is nothing to settle.",
    );
    expect(refusal("settle", { job: job("Claimed") }, before)?.hint).to.equal(
      "follow it: posthuman job show 6 --follow",
    );
    expect(refusal("settle", { job: job("Claimed") }, after)?.hint).to.match(/reclaim it \(posthuman job reclaim 6\)/);
    expect(refusal("settle", { job: job("Settled") }, after)?.message).to.equal(
      "Job 6 is settled already: its worker was paid.",
    );
    expect(refusal("settle", { job: job("Cancelled") }, after)?.message).to.equal(
      "Job 6 was cancelled: it has ended, so there is nothing to settle.",
    );
    expect(refusal("settle", { job: job("Submitted") }, before)).to.equal(undefined);
    expect(refusal("settle", { job: job("Challenged") }, before)).to.equal(undefined);
  });

  it("job show past the deadline: an open job is cancelled, a claimed one reclaimed", () => {
    expect(pastDeadline(job("Open", 5n), before)).to.equal(undefined);
    expect(pastDeadline(job("Open", 5n), after)).to.equal(
      "its deadline passed and no worker claimed it: cancel it (posthuman job cancel 5) to get the fee and the datatoken back",
    );
    expect(pastDeadline(job("Claimed", 5n), after)).to.match(/reclaim it \(posthuman job reclaim 5\)/);
    expect(pastDeadline(job("Settled", 5n), after)).to.equal(undefined);
  });
});

describe("posthuman job show / verify / resolve: the chain's word first, and no challenge the re-run cannot back", () => {
  it("job show: a worker's word that lags the chain says the chain moved on", () => {
    expect(workerLag("submitted", "Challenged")).to.equal("the chain has moved on: Challenged");
    expect(workerLag("running", "Settled")).to.equal("the chain has moved on: Settled");
    expect(workerLag("submitted", "Submitted")).to.equal(undefined);
    expect(workerLag("settled", "Settled")).to.equal(undefined);
    expect(workerLag("skipped", "Claimed")).to.equal(undefined); // a worker that passed on the job mirrors nothing
  });

  it("job verify: a mismatch advises the challenge the re-run backs, and no other", () => {
    const check = (name: string, ok: boolean) => ({ name, ok, expected: `${name}-r`, actual: `${name}-x` });
    const mine = { jobId: 3n, rebuilt: [], checks: [check("runtime id", true), check("output hash", false)] };
    expect(verdictNext(mine)).to.equal("challenge it within its window: posthuman job challenge 3");
    const other = { ...mine, checks: [check("runtime id", false), check("output hash", false)] };
    expect(verdictNext(other)).to.match(/^this machine re-ran it with runtime runtime id-x, not the receipt's/);
    expect(verdictNext(other)).to.not.contain("posthuman job challenge");
    const rebuilt = { ...mine, rebuilt: [{ jobId: 2n, verified: false }] } as unknown as Parameters<
      typeof verdictNext
    >[0];
    expect(verdictNext(rebuilt)).to.match(/training job 2, which made the model, .* posthuman job challenge 2$/);
  });

  it("job verify: a re-run's runtime error says its code once, in --json too, and is no verdict", () => {
    const e = reRunFailed(
      new MlError("PROMPT_TOO_LONG", "the re-run of job 3 failed: prompt 0 has 52 tokens", {
        jobId: 3n,
        detail: "prompt 0 has 52 tokens",
      }),
      3n,
    ) as CliError;
    expect(e.message).to.equal("The re-run of job 3 failed (PROMPT_TOO_LONG): prompt 0 has 52 tokens");
    expect(e.hint).to.match(/no verdict on the receipt: do not challenge on it/);
    expect(jsonError(e)).to.deep.include({
      error: {
        message: e.message,
        hint: e.hint,
        code: "PROMPT_TOO_LONG",
        data: { jobId: "3", detail: "prompt 0 has 52 tokens" },
      },
    });
    expect(reRunFailed(new Error("other"), 3n)).to.equal(undefined);
  });

  it("job resolve: both decisions conflict, neither is none; each with a code", () => {
    expect(decision({ upheld: true })).to.equal(true);
    expect(decision({ dismissed: true })).to.equal(false);
    expect(() => decision({ upheld: true, dismissed: true })).to.throw(CliError, /^--upheld and --dismissed conflict/);
    expect(() => decision({})).to.throw(CliError, "no decision given");
  });
});

describe("posthuman --json: an SDK error keeps its code and facts", () => {
  it("prints the code and the data, bigints as decimal strings, beside the message and the command's hint", () => {
    const e = explain(
      new SdkError("UNKNOWN_JOB", "There is no job 999 on this chain (12 jobs so far).", "a job's id is …", {
        data: { jobId: 999n, count: 12n },
      }),
    );
    expect(jsonError(e)).to.deep.equal({
      error: {
        message: "There is no job 999 on this chain (12 jobs so far).",
        hint: "job ids run from 1 to 12",
        code: "UNKNOWN_JOB",
        data: { jobId: "999", count: "12" },
      },
    });
    // An error of the CLI's own has neither: null, so that every error has the same four keys.
    expect(jsonError(new CliError("no prompt given", "pass --prompt"))).to.deep.equal({
      error: { message: "no prompt given", hint: "pass --prompt", code: null, data: null },
    });
  });
});

describe("posthuman: options in words", () => {
  it("--fee finer than 1 wei says so (not 'not a number')", () => {
    expect(() => amount("0.0000000000000000001", "--fee")).to.throw(
      CliError,
      "--fee 0.0000000000000000001 is finer than 1 wei: a token has 18 decimals",
    );
    expect(amount("0.000000000000000001", "--fee")).to.equal(1n);
    expect(amount("0.10000000000000000000", "--fee")).to.equal(10n ** 17n);
    expect(() => amount("1e5", "--fee")).to.throw(CliError, '--fee "1e5" is not a number');
  });

  it("infer: --prompt with --prompts is refused (one would be ignored); a --prompt too long is shortened", () => {
    expect(() => inferInput({ prompt: "ALPHA", prompts: "gaps.txt" })).to.throw(
      CliError,
      "--prompt and --prompts both give the prompts: the job would run one and ignore the other",
    );
    expect(inferInput({ prompt: "ALPHA" }).toString()).to.equal("ALPHA\n");
    const tooLong = explain(
      new SdkError(
        "INPUT_INVALID",
        "prompt 1 of the --prompt text has 300 tokens; with maxTokens 32 the model's context of 64 leaves room for 32 (PROMPT_TOO_LONG).",
        "fix the file and try again: nothing was sent and nothing was paid",
      ),
    );
    expect((aboutThePrompt(tooLong) as CliError).hint).to.equal(
      "shorten the prompt (or ask for fewer --max-tokens) and try again: nothing was sent and nothing was paid",
    );
    expect((aboutThePrompt(tooLong) as CliError).code).to.equal("INPUT_INVALID");
    const other = new CliError("No worker answers");
    expect(aboutThePrompt(other)).to.equal(other);
  });

  it("refuses --prompt with --prompts before connecting, and `up --help` names the ports' options", async () => {
    const env = { POSTHUMAN_SKIP_COMPILE: "1" };
    const [both, help] = await Promise.all([
      cli<{ error: { message: string; hint: string } }>(
        ["--json", "--rpc", "http://127.0.0.1:9", "infer", "1", "--prompt", "ALPHA", "--prompts", "gaps.txt"],
        { env, timeoutMs: 60_000 },
      ),
      cli(["up", "--help"], { env, timeoutMs: 60_000 }),
    ]);
    expect(both.code).to.equal(1);
    expect(both.json.error.message).to.match(/^--prompt and --prompts both give the prompts/);
    expect(help.stdout).to.match(/start a local chain \(on --host and --chain-port, 127\.0\.0\.1:8545 by default\)/);
  });
});
