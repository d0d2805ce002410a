/**
 * How the command words what went wrong. A failed job's reason is said once. The message is the SDK's "Job N failed: CODE (detail)." where the worker's
 * detail repeats the code once per layer that wrapped it (the runtime's error, its executor's, the worker's); the
 * command prints "job N failed (CODE): detail" with the hint that follows it.
 */
import { expect } from "chai";
import { failureOnce } from "../../offchain/cli/commands/requests";
import { commandHint } from "../../offchain/cli/hints";
import { asTyped, commandName, reportError } from "../../offchain/cli/output";
import path from "node:path";
import { ethers } from "ethers";
import { refuseListMore } from "../../offchain/sdk/datatoken-market";
import type { SdkError } from "../../offchain/sdk/errors";

describe("posthuman: a failed job's reason, said once", () => {
  it("drops the repetitions of the code from the worker's detail", () => {
    expect(
      failureOnce(
        "Job 2 failed: PARAMS_INVALID (PARAMS_INVALID: PARAMS_INVALID: train parameter contextLength is invalid: 512).",
      ),
    ).to.equal("job 2 failed (PARAMS_INVALID): train parameter contextLength is invalid: 512");
  });

  it("keeps a detail that does not repeat it, and a failure without detail", () => {
    expect(failureOnce("Job 9 failed: INPUT_MISSING (the requester never uploaded the input).")).to.equal(
      "job 9 failed (INPUT_MISSING): the requester never uploaded the input",
    );
    expect(failureOnce("Job 9 failed: TIMEOUT.")).to.equal("job 9 failed (TIMEOUT)");
  });

  it("leaves other messages as they are", () => {
    const m = "Job 4 was cancelled: its fee went back to the requester.";
    expect(failureOnce(m)).to.equal(m);
  });

  it("names the command that helps, from the facts an SDK error carries", () => {
    expect(commandHint("NOT_ENOUGH_DATATOKENS", { modelId: 3n, onExchange: true })).to.equal(
      "buy one first: posthuman buy 3 --amount 1",
    );
    // Holding half of one: buying the other half makes it whole (buying 1 would leave a fraction again).
    expect(commandHint("NOT_ENOUGH_DATATOKENS", { modelId: 3n, onExchange: true, missing: 5n * 10n ** 17n })).to.equal(
      "buy 0.5 more first: posthuman buy 3 --amount 0.5",
    );
    expect(commandHint("NOT_ENOUGH_DATATOKENS", { modelId: 3n, onExchange: false })).to.match(
      /posthuman market list --model 3, then posthuman market buy <listing>/,
    );
    expect(commandHint("JOB_TIMEOUT", { jobId: 7n, reclaimable: true })).to.match(/posthuman job reclaim 7$/);
    expect(commandHint("WORKER_UNREACHABLE", undefined)).to.match(/npm start/);
    expect(commandHint("UNKNOWN_JOB", { jobId: 99n, count: 6n })).to.equal("job ids run from 1 to 6");
    expect(commandHint("UNKNOWN_JOB", { jobId: 1n, count: 0n })).to.equal("no job was requested on this chain yet");
    expect(commandHint("NOT_ENOUGH_BASE", {})).to.match(
      /^get OCEAN first \(.*alice, bob, charlie, derek and elena 10000 OCEAN each/,
    );
    // With the SDK's facts: how much is missing, where it goes, and the command that sends it (not "base token").
    const to = "0xBcd4042DE499D14e55001CcbB24a551F3b954096";
    const need = commandHint("NOT_ENOUGH_BASE", { have: 0n, need: 1001n * 10n ** 15n, address: to });
    expect(need).to.match(new RegExp(`^get 1\\.001 more OCEAN into ${to} \\(on the local chain`));
    expect(need).to.match(new RegExp(`posthuman --account alice send ${to} --amount 1\\.001\\)$`));
    expect(need).to.not.include("base token");
    expect(commandHint("JOB_NOT_TAKEN", { jobId: 7n })).to.equal("cancel it: posthuman job cancel 7");
    expect(commandHint("JOB_NOT_TAKEN", { jobId: 7n, workerCode: "UNDERPRICED" })).to.equal(
      "cancel it: posthuman job cancel 7, then request again with a higher --fee",
    );
    expect(commandHint("JOB_NOT_TAKEN", { jobId: 7n, workerCode: "WOULD_MISS_DEADLINE" })).to.equal(
      "cancel it: posthuman job cancel 7, then request again with a longer --ttl",
    );
    // Without the facts (or for a code the command has nothing to add to), the SDK's own hint stays.
    expect(commandHint("NOT_ENOUGH_DATATOKENS", undefined)).to.equal(undefined);
    expect(commandHint("REVERTED", { error: "X" })).to.equal(undefined);
    // A publish whose upload failed after the registration, whatever the worker's failure: finish that model.
    expect(commandHint("WORKER_REFUSED", { registered: true, modelId: 4n, dir: "my models/m1" })).to.match(
      /^once the worker answers, finish it: posthuman model upload 'my models\/m1' 4 \(or run the same model publish again/,
    );
  });

  it("says how to see a followed job again when the connection to the chain was lost", () => {
    expect(commandHint("CHAIN_UNREACHABLE", { jobId: 7n })).to.equal(
      "check that the chain runs (npm start starts the local one; or pass --rpc <url>), then see where job 7 stands: " +
        "posthuman job show 7 (and its result, once it has a receipt: posthuman job result 7)",
    );
    expect(commandHint("CHAIN_UNREACHABLE", {})).to.equal(undefined);
  });

  it("says an ethers error by its short message, without the request's URL (an API key may be in it)", () => {
    const e = ethers.makeError("server response 401 Unauthorized", "SERVER_ERROR", {
      request: "https://rpc.example/v3/SECRETKEY",
      info: { requestUrl: "https://rpc.example/v3/SECRETKEY", responseStatus: "401 Unauthorized" },
    });
    expect(e.message).to.include("SECRETKEY"); // ethers' own message lists the request
    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (written.push(chunk), true)) as typeof process.stdout.write;
    try {
      expect(reportError(e, true)).to.equal(1);
    } finally {
      process.stdout.write = write;
    }
    expect(JSON.parse(written.join(""))).to.deep.equal({
      error: { message: "server response 401 Unauthorized (SERVER_ERROR)", hint: null, code: null, data: null },
    });
  });

  it("names commands in its text as the user typed this one: ./posthuman, or its path from elsewhere", () => {
    const root = path.join(__dirname, "..", "..");
    expect(commandName("./posthuman", root)).to.equal("./posthuman");
    expect(commandName("../posthuman", path.join(root, "docs"))).to.equal("../posthuman");
    expect(commandName(path.join(root, "posthuman"), root)).to.equal("./posthuman");
    expect(commandName(path.join(root, "offchain", "cli", "posthuman.js"), root)).to.equal("posthuman");
    expect(commandName("bin/posthuman", "/elsewhere")).to.equal("posthuman");
    expect(
      asTyped("fetch its result: posthuman job result 1 (or posthuman --account bob balance)", "./posthuman"),
    ).to.equal("fetch its result: ./posthuman job result 1 (or ./posthuman --account bob balance)");
    // Words that are not a command stay: "the posthuman command", "posthuman's", a path.
    for (const text of ["the posthuman command", "posthuman's worker", "offchain/cli/posthuman up", "`posthuman`"])
      expect(asTyped(text, "./posthuman")).to.equal(text);
    expect(asTyped("see `posthuman job show 3`", "posthuman")).to.equal("see `posthuman job show 3`");
    expect(asTyped("see `posthuman job show 3`", "./posthuman")).to.equal("see `./posthuman job show 3`");
  });
});

describe("posthuman market sell: more datatokens than the seller holds", () => {
  const refusal = (amount: bigint, have: bigint) => {
    try {
      refuseListMore(amount, have, 2n);
    } catch (e) {
      return e as SdkError;
    }
    throw new Error("not refused");
  };
  const ONE = 10n ** 18n;

  it("holding none, says there are none to list (not 'list at most 0')", () => {
    const e = refusal(10n * ONE, 0n);
    expect(e.code).to.equal("NOT_ENOUGH_DATATOKENS");
    expect(e.message).to.equal("You hold no datatokens of model 2: there are none to list. Nothing was sent.");
    expect(e.hint).to.equal("only datatokens you hold can be listed");
    expect(e.hint).to.not.match(/at most 0/);
  });

  it("holding some, names how many may be listed", () => {
    const e = refusal(10n * ONE, 3n * ONE);
    expect(e.message).to.equal("You hold 3 datatokens of model 2; you cannot list 10.");
    expect(e.hint).to.equal("list at most 3");
    expect(() => refuseListMore(3n * ONE, 3n * ONE, 2n)).to.not.throw();
  });
});
