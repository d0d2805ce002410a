/** The CLI's progress lines while it follows a job (offchain/cli/render.ts), as a log or a pipe shows them. */
import { expect } from "chai";
import { progressReporter, workerSays } from "../../offchain/cli/render";

describe("CLI progress lines (not a terminal)", () => {
  it("say what a waiting job waits for, once per change, and not again for a note's changing figures", () => {
    const lines: string[] = [];
    const r = progressReporter((l) => lines.push(l), 4n);
    const waiting = (note: string) => ({ phase: "waiting", note, step: 0, totalSteps: 0 });
    r.update({ status: "Open", state: "seen", progress: waiting("the input upload") });
    r.update({ status: "Open", state: "seen", progress: waiting("the input upload") });
    r.update({
      status: "Open",
      state: "seen",
      progress: waiting("behind the 120 s of work queued it would finish 30 s after"),
    });
    r.update({
      status: "Open",
      state: "seen",
      progress: waiting("behind the 118 s of work queued it would finish 28 s after"),
    });
    r.update({
      status: "Claimed",
      state: "running",
      progress: { phase: "train", note: "steps", step: 1, totalSteps: 4 },
    });
    // A worker that will not run a job says why (the requester can cancel it).
    r.update({
      status: "Open",
      state: "skipped",
      progress: null,
      error: { code: "UNDERPRICED", message: "fee 1 wei" },
    });
    r.done();
    expect(lines).to.deep.equal([
      "job 4: seen · waiting (the input upload)",
      "job 4: seen · waiting (behind the 120 s of work queued it would finish 30 s after)",
      "job 4: running · train █████░░░░░░░░░░░░░░░ 1/4",
      "job 4: skipped (UNDERPRICED: fee 1 wei)",
    ]);
  });
});

describe("job show: the worker's view in words", () => {
  it("says the state and phase, the steps, loss and time left, and what a job waits for or why it stopped", () => {
    const running = {
      state: "running",
      progress: { phase: "train", step: 31, totalSteps: 60, loss: 3.21449, etaSec: 59.08 },
    };
    expect(workerSays(running)).to.equal("running · train, step 31/60, loss 3.214, about 60 s left");
    expect(
      workerSays({ state: "seen", progress: { phase: "waiting", note: "the input upload", step: 0, totalSteps: 0 } }),
    ).to.equal("seen · waiting (the input upload)");
    const skipped = {
      state: "skipped",
      error: { code: "WOULD_MISS_DEADLINE", message: "it needs about 9 s" },
      progress: null,
    };
    expect(workerSays(skipped)).to.equal("skipped (WOULD_MISS_DEADLINE: it needs about 9 s)");
  });
});

describe("CLI progress lines when the claimant stops answering", () => {
  it("keep the worker's last state (not the chain's 'claimed', a step back), then say it is down and until when", () => {
    const lines: string[] = [];
    const r = progressReporter((l) => lines.push(l), 5n);
    r.update({ status: "Claimed", state: "running", progress: { phase: "train", step: 1, totalSteps: 80 } });
    r.update({ status: "Claimed" }); // the worker did not answer this poll
    const down = "its worker at http://w has not answered for 10 s; the job is claimed by it until its deadline";
    r.update({ status: "Claimed", workerDown: down });
    r.done();
    expect(lines).to.deep.equal(["job 5: running · train ░░░░░░░░░░░░░░░░░░░░ 1/80", `job 5: claimed (${down})`]);
  });
});
