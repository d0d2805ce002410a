/**
 * How the web app words failures (offchain/web/src/errors.ts) and formats amounts (format.ts): pure functions, run
 * here without a browser.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import {
  DatatokenMarket__factory,
  JobMarket__factory,
  ModelRegistry__factory,
  RoyaltyVault__factory,
} from "../../typechain-types";
import {
  afterSending,
  explain,
  UserError,
  WorkerApiError,
  withoutPaths,
  workerDownError,
} from "../../offchain/web/src/errors";
import { SdkError } from "../../offchain/sdk/errors";
import { checkInputBeforePaying } from "../../offchain/sdk/input-check";
import { MAX_FIXED_LOSS } from "../../offchain/protocol/params";
import { clock, duration, loss, parseTokens, percent, perplexity, short, tokens } from "../../offchain/web/src/format";

describe("web app: explain()", () => {
  it("says a rejection in the wallet sent and paid nothing (ethers ACTION_REJECTED and raw EIP-1193 4001)", () => {
    const viaEthers = ethers.makeError("user rejected action", "ACTION_REJECTED", {
      action: "sendTransaction",
      reason: "rejected",
    });
    const raw = Object.assign(new Error("User rejected the request."), { code: 4001 });
    for (const e of [viaEthers, raw]) {
      const x = explain(e);
      expect(x.title).to.equal("You rejected the request in your wallet.");
      expect(x.fix).to.contain("Nothing was sent and nothing was paid");
    }
  });

  it("decodes a contract's custom error into a sentence", () => {
    const data = RoyaltyVault__factory.createInterface().encodeErrorResult("RoyaltyVaultNothingToClaim", [
      ethers.ZeroAddress,
    ]);
    const e = ethers.makeError("execution reverted", "CALL_EXCEPTION", {
      action: "estimateGas",
      data,
      reason: null,
      transaction: { to: null, data: "0x" },
      invocation: null,
      revert: null,
    });
    expect(explain(e).title).to.equal("There is nothing to claim yet.");
  });

  it("names an unknown custom error with its arguments rather than hiding it", () => {
    const data = RoyaltyVault__factory.createInterface().encodeErrorResult("RoyaltyVaultInvalidShares", [7n]);
    const x = explain(Object.assign(new Error("reverted"), { data }));
    expect(x.title).to.equal("The contract refused the transaction: RoyaltyVaultInvalidShares.");
    expect(x.detail).to.equal("RoyaltyVaultInvalidShares(7)");
  });

  it("words the refusals of a challenge and of a listing's cancellation", () => {
    const jm = JobMarket__factory.createInterface();
    const closedAt = 1_700_000_000n;
    const closed = explain(
      Object.assign(new Error("reverted"), {
        data: jm.encodeErrorResult("JobMarketChallengeWindowClosed", [3n, closedAt]),
      }),
    );
    expect(closed.title).to.equal(`The challenge window of job 3 is closed: it closed at ${clock(closedAt)}.`);
    expect(closed.fix).to.contain("no bond was taken");
    const settled = explain(
      Object.assign(new Error("reverted"), { data: jm.encodeErrorResult("JobMarketUnexpectedStatus", [3n, 5]) }),
    );
    expect(settled.title).to.equal("Job 3 is “Settled” now, so this can no longer be done.");
    const notSeller = explain(
      Object.assign(new Error("reverted"), {
        data: DatatokenMarket__factory.createInterface().encodeErrorResult("DatatokenMarketNotSeller", [
          1n,
          ethers.ZeroAddress,
        ]),
      }),
    );
    expect(notSeller.title).to.equal("Listing 1 is not yours: only its seller can cancel it.");
  });

  it("tells how to start what does not answer: the worker, the chain", () => {
    const w = explain(new WorkerApiError(0, "UNREACHABLE", "health check: the worker at http://x does not answer"));
    expect(w.title).to.equal("The worker does not answer.");
    expect(w.fix).to.contain("Nothing was paid");
    const c = explain(ethers.makeError("fetch failed", "NETWORK_ERROR", { event: "request" }));
    expect(c.title).to.equal("The chain does not answer.");
    expect(c.fix).to.contain("npm start");
    // In a browser a refused connection to the node reaches the page as fetch's own TypeError, as ethers passes it on
    // (the trial's chain-down pages said a bare "Failed to fetch").
    for (const browserError of ["Failed to fetch", "NetworkError when attempting to fetch resource.", "Load failed"]) {
      expect(explain(new TypeError(browserError)).title).to.equal("The chain does not answer.");
      const wrapped = new Error("could not coalesce error", { cause: new TypeError(browserError) });
      expect(explain(wrapped).title).to.equal("The chain does not answer.");
    }
  });

  it("passes the marketplace's own errors through with their fix and action", () => {
    const e = new UserError("You hold no datatoken of model 2: every job consumes 1.", "Buy one.", {
      label: "Go to “Buy datatokens”",
      href: "#/model/2/buy",
    });
    expect(explain(e)).to.deep.equal({
      title: e.title,
      fix: "Buy one.",
      action: { label: "Go to “Buy datatokens”", href: "#/model/2/buy" },
    });
    expect(explain(new WorkerApiError(422, "INPUT_HASH_MISMATCH", "upload: bad")).title).to.equal(
      "The worker refused: upload: bad",
    );
  });

  it("names the form's field that a worker's refusal before paying asks to change: the fee, the time to deliver", () => {
    const declines = (data: Record<string, unknown>) =>
      explain(new SdkError("WORKER_DECLINES", "The worker would not take this job.", "generic", { data })).fix;
    expect(declines({ workerCode: "UNDERPRICED", minFee: 2_500_000_000_000_000_000n, minTtlSec: 50 })).to.equal(
      "Set the fee to at least 2.5 OCEAN, then request the job again. Nothing was paid.",
    );
    expect(declines({ workerCode: "WOULD_MISS_DEADLINE", minFee: 0n, minTtlSec: 1201 })).to.equal(
      "Set “Time to deliver” to at least 21 minutes, then request the job again. Nothing was paid.",
    );
    expect(declines({ workerCode: "PARAMS_INVALID" })).to.equal("Generic.");
  });
});

describe("web app: formats", () => {
  it("shows amounts, losses, shares and hashes the same way everywhere", () => {
    expect(tokens(ethers.parseEther("2.0025"))).to.equal("2.0025");
    expect(tokens(ethers.parseEther("10"))).to.equal("10");
    expect(tokens(ethers.parseEther("0.97"))).to.equal("0.97");
    // An amount below the fourth decimal keeps its first two significant digits: a fee of 0.000001 is not "0".
    expect(tokens(123n)).to.equal("0.00000000000000012");
    expect(tokens(ethers.parseEther("0.000001"))).to.equal("0.000001");
    expect(tokens(ethers.parseEther("0.00012"))).to.equal("0.0001");
    expect(tokens(0n)).to.equal("0");
    // A receipt's loss that overflowed is saturated (toFixedLoss): no number to read.
    expect(loss(MAX_FIXED_LOSS)).to.equal("∞ (overflowed)");
    expect(perplexity(MAX_FIXED_LOSS)).to.equal("∞");
    expect(loss(2_500_000n)).to.equal("2.5000");
    expect(loss(3_258_100n)).to.equal("3.2581");
    expect(perplexity(0n)).to.equal("1.0");
    expect(perplexity(10_000_000n)).to.equal("2.20e+4");
    expect(percent(7n, 10n)).to.equal("70%");
    expect(percent(1n, 3n)).to.equal("33.3%");
    expect(percent(0n, 0n)).to.equal("0%");
    expect(short("0x" + "ab".repeat(32))).to.equal("0xababab…ababab");
    expect(duration(25.4)).to.equal("25 s");
    expect(duration(250)).to.equal("4 min 10 s");
    expect(duration(3600)).to.equal("1 h");
    expect(duration(7260)).to.equal("2 h 1 min");
    expect(duration(3 * 86_400 + 7500)).to.equal("3 d 2 h");
    expect(duration(-3)).to.equal("0 s");
  });

  it("reads typed amounts or says what is wrong with them", () => {
    expect(parseTokens(" 2.5 ", "The amount")).to.equal(ethers.parseEther("2.5"));
    expect(() => parseTokens("two", "The amount")).to.throw('The amount "two" is not a number');
    expect(() => parseTokens("0", "The price")).to.throw("The price must be more than 0");
    expect(() => parseTokens("-1", "The fee")).to.throw("The fee must be more than 0 (it is -1).");
    expect(() => parseTokens("0.0000000000000000001", "The fee")).to.throw(
      "The fee 0.0000000000000000001 has more than 18 decimals, the most a token has.",
    );
  });
});

describe("web app: a refusal of text typed in a page (no file)", () => {
  it("says to fix the input, not a file, and starts its sentence with a capital", () => {
    const infer = { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } } as const;
    const err = (() => {
      try {
        checkInputBeforePaying(infer, new Uint8Array(0), "the input");
      } catch (e) {
        return e as SdkError;
      }
    })();
    expect(err?.message).to.match(/^The input is empty/);
    expect(err?.hint).to.equal("fix the input and try again: nothing was sent and nothing was paid");
    const named = (() => {
      try {
        checkInputBeforePaying(infer, new Uint8Array(0), "notes.txt");
      } catch (e) {
        return e as SdkError;
      }
    })();
    expect(named?.message).to.match(/^notes\.txt is empty/);
    expect(named?.hint).to.equal("fix the file and try again: nothing was sent and nothing was paid");
  });
});

describe("web app: errors after a job request was sent, and the worker's words (web trial D4, D8, D10, D11)", () => {
  const down = () => new TypeError("Failed to fetch");

  it("never says a plain “the chain does not answer” once the request's transaction was sent: it names it", () => {
    const tx = "0x" + "ab".repeat(32);
    const x = explain(afterSending(down(), { txHash: tx }));
    expect(x.title).to.equal(
      `Your job request was sent (transaction ${tx}), but the chain stopped answering before it was confirmed.`,
    );
    expect(x.fix).to.contain("check “Your jobs” on the receipts page before trying again, so as not to pay twice");
    expect(x.fix).to.not.contain("Nothing was paid");
    expect(x.detail).to.contain("The chain does not answer.");
    expect(x.action).to.deep.equal({ label: "Check your jobs", href: "#/receipts" });
    // Without the hash (a wallet that did not say it): still no invitation to pay twice.
    expect(explain(afterSending(down(), {})).title).to.match(/^Your job request was on its way to the chain/);
  });

  it("says which job was requested and paid, with a link to it, when the request was mined", () => {
    const x = explain(afterSending(down(), { jobId: 7n }));
    expect(x.title).to.equal(
      "Job 7 was requested and paid for (its fee and datatoken are escrowed), but its input was not sent.",
    );
    expect(x.fix).to.match(/^Check job 7 before trying again: .*upload the input again/);
    expect(x.action).to.deep.equal({ label: "Open job 7", href: "#/job/7" });
    // The SDK's "did not reach the worker": the job's page, where the input is uploaded again; never a new request.
    const lost = new SdkError(
      "INPUT_NOT_DELIVERED",
      "Job 7 is requested on chain, its fee and datatoken escrowed, but the input did not reach the worker: gone",
      "cancel the job",
      { data: { jobId: 7n } },
    );
    const y = explain(afterSending(lost, { jobId: 7n }));
    expect(y.title).to.equal(lost.message);
    expect(y.fix).to.match(/^Open job 7 and upload the input again there .*do not request the job again/);
    expect(y.action).to.deep.equal({ label: "Open job 7", href: "#/job/7" });
  });

  it("leaves a rejection in the wallet and a revert as they are: nothing that pays was sent", () => {
    const rejected = Object.assign(new Error("User rejected the request."), { code: 4001 });
    expect(afterSending(rejected, {})).to.equal(rejected);
    const reverted = new SdkError("REVERTED", "requestJob reverted: X()");
    expect(afterSending(reverted, { txHash: "0x" + "00".repeat(32) })).to.equal(reverted);
  });

  it("the worker-down banner never says “nothing was paid”: requested jobs keep their escrow", () => {
    const x = explain(workerDownError(new WorkerApiError(0, "UNREACHABLE", "health check: no answer")));
    expect(x.title).to.equal("The worker does not answer.");
    expect(x.fix).to.not.contain("Nothing was paid");
    expect(x.fix).to.contain("keep their fee and datatoken in escrow");
    expect(x.fix).to.contain("reclaimed after their deadline");
  });

  it("shows no path of the worker's disk, and says which files to choose for a model folder it cannot load", () => {
    const e = new WorkerApiError(
      422,
      "MODEL_INVALID",
      "inspection of the model folder: MODEL_INVALID: /work/h/.posthuman/worker/uploads/ph-upload-hBnIw9/config.json is not valid JSON",
    );
    const x = explain(new SdkError("WORKER_REFUSED", "The worker refused.", undefined, { cause: e }));
    expect(x.title).to.equal(
      "The worker refused: inspection of the model folder: MODEL_INVALID: config.json is not valid JSON",
    );
    expect(x.fix).to.contain("posthuman model create");
    expect(withoutPaths("see http://127.0.0.1:8550/models/4 and input/output")).to.equal(
      "see http://127.0.0.1:8550/models/4 and input/output",
    );
  });

  it("words a publish of weights that are a model already, and a reclaim before the deadline", () => {
    const reg = ModelRegistry__factory.createInterface();
    const taken = explain(
      Object.assign(new Error("reverted"), {
        data: reg.encodeErrorResult("ModelRegistryWeightsRootTaken", ["0x" + "d6".repeat(32), 4n]),
      }),
    );
    expect(taken.title).to.equal("These weights are model 4 already: a weights root belongs to one model.");
    expect(taken.fix).to.contain("publish the same folder again with the account that published it");
    expect(taken.action).to.deep.equal({ label: "Open model 4", href: "#/model/4" });
    const early = explain(
      Object.assign(new Error("reverted"), {
        data: JobMarket__factory.createInterface().encodeErrorResult("JobMarketDeadlineNotReached", [
          9n,
          1_700_000_000n,
        ]),
      }),
    );
    expect(early.title).to.equal(
      `Job 9's deadline is ${clock(1_700_000_000n)}: until then its worker may still deliver.`,
    );
  });

  it("asks for whole datatokens in its example when the amount is one", () => {
    expect(() => parseTokens("abc", "The amount", "1 or 2")).to.throw(
      'The amount "abc" is not a number: write it like 1 or 2.',
    );
  });
});
