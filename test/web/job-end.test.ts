/**
 * How a job page tells a job that ended without a result (offchain/web/src/pages/job-end.ts): only the steps that
 * happened, and what now by why it ended (web trial D5). Pure functions, run here without a browser.
 */
import { expect } from "chai";
import { ethers } from "ethers";
import { JobStatus } from "../../offchain/protocol/params";
import { endedAdvice, endedSteps, type Ending } from "../../offchain/web/src/pages/job-end";

const fee = ethers.parseEther("2");
const done = (e: Ending) =>
  endedSteps(e)
    .filter(([, s]) => s === "done")
    .map(([l]) => l);
const skipped = (e: Ending) =>
  endedSteps(e)
    .filter(([, s]) => s === "skipped")
    .map(([l]) => l);

describe("web app: a job that ended without a result", () => {
  it("a cancelled job was never claimed: only its request and its cancellation happened", () => {
    const e: Ending = { status: JobStatus.Cancelled, claimed: false, inputAcked: false, fee, refund: fee };
    expect(done(e)).to.deep.equal(["Requested on chain, fee escrowed", "Cancelled before any worker claimed it"]);
    expect(skipped(e)).to.deep.equal(["Claimed by a worker"]);
    expect(endedAdvice(e, true)).to.equal(
      "The job was cancelled before any worker claimed it: the fee (2 OCEAN) and the datatoken went back to you; only the gas of the request was spent.",
    );
  });

  it("INPUT_MISSING: claimed, the input never received, nothing computed; the advice is about sending the input", () => {
    const e: Ending = { status: JobStatus.Failed, claimed: true, reason: 1, inputAcked: false, fee, refund: fee };
    expect(done(e)).to.deep.equal([
      "Requested on chain, fee escrowed",
      "Claimed by a worker",
      "Failed by the worker: INPUT_MISSING, the fee and the datatoken refunded",
    ]);
    expect(skipped(e)).to.deep.equal(["Input received and checked against your commitment"]);
    const advice = endedAdvice(e, true);
    expect(advice).to.match(
      /^The worker says the input never reached it \(INPUT_MISSING\): the fee \(2 OCEAN\) and the datatoken went back to you\./,
    );
    expect(advice).to.contain("upload it again from the job's page");
    expect(advice).to.not.contain("Fix the input");
    expect(
      endedSteps(e)
        .map(([l]) => l)
        .join(),
    ).to.not.contain("Computed");
  });

  it("an input the worker refused was received; the fix is the input's", () => {
    const e: Ending = { status: JobStatus.Failed, claimed: true, reason: 16, inputAcked: true, fee, refund: fee };
    expect(done(e)).to.include("Input received, and refused by the worker (DATASET_TOO_SHORT)");
    expect(endedAdvice(e, true)).to.equal(
      "The worker refused the input (DATASET_TOO_SHORT): the fee (2 OCEAN) and the datatoken went back to you. Fix the input and request a new job.",
    );
  });

  it("the worker's fault: nothing to fix on the requester's side, and its penalty named", () => {
    const e: Ending = {
      status: JobStatus.Failed,
      claimed: true,
      reason: 2,
      inputAcked: true,
      fee,
      refund: fee + ethers.parseEther("0.2"),
    };
    expect(done(e)).to.include("Input received and checked against your commitment");
    expect(endedAdvice(e, false)).to.equal(
      "The worker failed the job (TIMEOUT), through no fault of the input: the fee (2 OCEAN) and the datatoken went back to its requester, with 0.2 OCEAN of the worker's collateral as its penalty. Nothing to fix on the requester's side: request the job again.",
    );
  });

  it("reclaimed after its deadline: the fee, the datatoken and the claimant's collateral", () => {
    const claimed: Ending = {
      status: JobStatus.Reclaimed,
      claimed: true,
      inputAcked: false,
      fee,
      refund: fee,
      slashed: ethers.parseEther("2"),
    };
    expect(done(claimed)).to.deep.equal([
      "Requested on chain, fee escrowed",
      "Claimed by a worker",
      "Deadline passed without a receipt: reclaimed, the fee and the datatoken refunded",
    ]);
    expect(endedAdvice(claimed, true)).to.equal(
      "Its deadline passed without a receipt, so it was reclaimed: the fee (2 OCEAN) and the datatoken went back to you, with the claimant's collateral of 2 OCEAN as its penalty. Nothing to fix on your side: request the job again (with more time to deliver, or once the worker is back).",
    );
    const unclaimed: Ending = { ...claimed, claimed: false, slashed: 0n };
    expect(skipped(unclaimed)).to.include("Claimed by a worker");
    expect(endedAdvice(unclaimed, true)).to.not.contain("collateral");
  });

  it("slashed after a dispute: the failure, the dispute and the collateral", () => {
    const e: Ending = {
      status: JobStatus.Slashed,
      claimed: true,
      reason: 14,
      inputAcked: true,
      fee,
      refund: fee,
      slashed: ethers.parseEther("2"),
    };
    expect(done(e)).to.include("Failure disputed: the worker's collateral went to the requester");
    expect(endedAdvice(e, true)).to.contain("the worker's collateral of 2 OCEAN too");
  });
});
