/**
 * Issue 11, item 8: the shared store's input ref of a request. Two requests of one transaction (a contract's batch)
 * with the same input commitment must not share an input: the ref names the request's log index.
 */
import { expect } from "chai";
import { inputRef } from "../../offchain/worker/jobs";

describe("worker: the input ref of a request", () => {
  const tx = "0xAB" + "cd".repeat(31);
  it("tells two requests of one transaction apart by their log index", () => {
    const a = inputRef({ job_id: "7", request_tx: tx, request_log_index: 3 });
    const b = inputRef({ job_id: "8", request_tx: tx, request_log_index: 5 });
    expect(a).to.not.equal(b);
    expect(a).to.equal(`inputs/${tx.toLowerCase()}-3`);
  });
  it("keeps the refs of rows recorded before log indexes were (tx only), and of rows without a tx (job id)", () => {
    expect(inputRef({ job_id: "7", request_tx: tx, request_log_index: null })).to.equal(`inputs/${tx.toLowerCase()}`);
    expect(inputRef({ job_id: "7", request_tx: null, request_log_index: null })).to.equal("inputs/job-7");
  });
});
