import { expect } from "chai";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { PostHumanFixture } from "../fixtures/posthuman";
import { receiptFor } from "./helpers";

export interface TerminalJob {
  f: PostHumanFixture;
  jobId: bigint;
}

/**
 * Shared behaviour of every terminal job state (Settled, Cancelled, Failed, Reclaimed, Slashed): the job never moves
 * again, so nothing it escrowed can be paid twice. Every transition — whoever calls it, however late — reverts with
 * JobMarketUnexpectedStatus(jobId, status), and the market's base-token balance does not move.
 */
export function shouldBeTerminal(load: () => Promise<TerminalJob>, status: number): void {
  it(`stays in status ${status}: every transition reverts with JobMarketUnexpectedStatus and moves no funds`, async () => {
    const { f, jobId } = await load();
    const m = f.ph.jobMarket;
    expect((await m.getJob(jobId)).status).to.equal(status);
    const before = await f.ocean.oceanToken.balanceOf(await m.getAddress());
    await time.increase(30 * 86_400);
    // One at a time: a transaction promise created before it is awaited could reject unobserved.
    const attempts = [
      () => m.connect(f.worker).claimJob(jobId),
      () => m.connect(f.worker).submitReceipt(jobId, receiptFor()),
      () => m.connect(f.worker).failJob(jobId, 1),
      () => m.connect(f.bob).cancelJob(jobId),
      () => m.connect(f.charlie).reclaimJob(jobId),
      () => m.connect(f.elena).challengeReceipt(jobId),
      () => m.connect(f.arbiter).resolveChallenge(jobId, true),
      () => m.connect(f.charlie).settleJob(jobId),
    ];
    for (const attempt of attempts) {
      await expect(attempt()).to.be.revertedWithCustomError(m, "JobMarketUnexpectedStatus").withArgs(jobId, status);
    }
    expect(await f.ocean.oceanToken.balanceOf(await m.getAddress())).to.equal(before);
  });
}
