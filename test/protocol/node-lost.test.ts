/**
 * "The chain's node is lost" (offchain/protocol/node-lost.ts): the SDK's follow of a job waits on exactly these
 * errors and the worker retries them, so the two agree; the worker also retries what the node answers as "later".
 */
import { expect } from "chai";
import { makeError } from "ethers";
import { nodeLostReason } from "../../offchain/protocol/node-lost";
import { isTransientRpcError } from "../../offchain/worker/rpc";
import { FAIL_REASONS } from "../../offchain/protocol/job-spec";
import { followJob } from "../../offchain/sdk/follow";
import type { PostHumanCore } from "../../offchain/sdk/core";
import type { SdkError } from "../../offchain/sdk/errors";

const coded = (message: string, code: string, cause?: unknown) => Object.assign(new Error(message), { code, cause });
const fetchFailed = (cause: unknown) => Object.assign(new TypeError("fetch failed"), { cause });
/** ethers' error when the answers hold none for the request: a proxy's own answer in place of the node's. */
const missingResponse = (message: string) =>
  makeError("missing response for request", "BAD_DATA", {
    value: [{ jsonrpc: "2.0", id: null, error: { code: -32700, message } }],
    info: { payload: { method: "eth_blockNumber", params: [], id: 1, jsonrpc: "2.0" } },
  });
const revert = (message: string) =>
  makeError(message, "CALL_EXCEPTION", {
    action: "call",
    data: "0x",
    reason: null,
    transaction: { to: null, data: "0x" },
    invocation: null,
    revert: null,
  });

/** What the node lost looks like, and the reason the SDK gives for it. */
const LOST: [string, unknown, string][] = [
  ["node down", coded("connect ECONNREFUSED 127.0.0.1:8545", "ECONNREFUSED"), "ECONNREFUSED"],
  ["no such host", coded("getaddrinfo ENOTFOUND chain", "ENOTFOUND"), "ENOTFOUND"],
  ["connection broke", coded("socket hang up", "ECONNRESET"), "ECONNRESET"],
  ["undici's socket", coded("other side closed", "UND_ERR_SOCKET"), "UND_ERR_SOCKET"],
  ["Node's fetch, node down", fetchFailed(coded("connect ECONNREFUSED", "ECONNREFUSED")), "ECONNREFUSED"],
  [
    "Node's fetch, timed out",
    fetchFailed(coded("Connect Timeout Error", "UND_ERR_CONNECT_TIMEOUT")),
    "UND_ERR_CONNECT_TIMEOUT",
  ],
  ["Chrome's fetch", new TypeError("Failed to fetch"), "Failed to fetch"],
  [
    "Firefox's fetch",
    new TypeError("NetworkError when attempting to fetch resource."),
    "NetworkError when attempting to fetch",
  ],
  ["Safari's fetch", new TypeError("Load failed"), "Load failed"],
  ["ethers timed out", makeError("request timeout", "TIMEOUT"), "ethers TIMEOUT"],
  ["ethers gave up", makeError("network changed", "NETWORK_ERROR", { event: "changed" }), "ethers NETWORK_ERROR"],
  ["posthuman up's proxy, node gone", missingResponse("fetch failed"), "fetch failed"],
  ["a proxy, node refused", missingResponse("connect ECONNREFUSED 127.0.0.1:8546"), "ECONNREFUSED"],
  [
    "an HTTP proxy, node gone",
    makeError("server response 502 Bad Gateway", "SERVER_ERROR", { request: "" }),
    "Bad Gateway",
  ],
  [
    "a node's words, wrapped",
    makeError("could not coalesce error", "UNKNOWN_ERROR", { error: { code: -32603, message: "connection reset" } }),
    "connection reset",
  ],
];

/** What the node answers as "later" (retried by the worker): not a node lost, so the SDK's follow ends on it. */
const LATER: [string, unknown][] = [
  ["HTTP 500", makeError("server response 500 Internal Server Error", "SERVER_ERROR", { request: "" })],
  ["limit exceeded", { code: -32005, message: "limit exceeded" }],
  ["HTTP 429", makeError("could not coalesce error", "UNKNOWN_ERROR", { error: { code: 429, message: "slow down" } })],
  ["rate limited", new Error("daily request limit reached")],
  ["head not there yet", { error: { message: "header not found" } }],
];

/** Answers that would be the same next time: neither waits. */
const FINAL: [string, unknown][] = [
  ["a revert", revert("execution reverted")],
  ["a revert whose words say lost", revert("execution reverted: fetch failed")],
  ["insufficient funds", makeError("insufficient funds", "INSUFFICIENT_FUNDS", { transaction: {} })],
  ["a proxy's other answer", missingResponse("method not found")],
  ["bad data", makeError("could not decode result data", "BAD_DATA", { value: "0x" })],
  ["anything else", new Error("something else")],
  ["a TypeError of the code", new TypeError("x is not a function")],
  ["nothing", undefined],
];

describe("protocol: the chain's node lost", () => {
  it("is one list for the SDK (with a reason) and the worker", () => {
    for (const [what, e, reason] of LOST) {
      expect(nodeLostReason(e), what).to.equal(reason);
      expect(isTransientRpcError(e), what).to.equal(true);
    }
  });

  it("leaves the node's answers to each: the worker retries a 'later', nobody a final answer", () => {
    for (const [what, e] of LATER) {
      expect(nodeLostReason(e), what).to.equal(undefined);
      expect(isTransientRpcError(e), what).to.equal(true);
    }
    for (const [what, e] of FINAL) {
      expect(nodeLostReason(e), what).to.equal(undefined);
      expect(isTransientRpcError(e), what).to.equal(false);
    }
  });

  it("is not read into a job's own failure: a follow of a job failed with the words 'fetch failed' says it failed", async () => {
    // The chain and the worker as the follow reads them (what it reads, not how): job 7 failed, its worker says why.
    const job = { status: "Failed", modelId: 1n, deadline: 10n ** 12n };
    const ph = {
      jobs: {
        get: async () => job,
        receipt: async () => undefined,
        contract: { filters: { JobFailed: () => ({}) }, queryFilter: async () => [] },
        logs: async () => [{ args: { reason: BigInt(FAIL_REASONS.INTERNAL) } }],
      },
      worker: {
        jobStatus: async () => ({ state: "failed", error: { code: "INTERNAL", message: "runtime: fetch failed" } }),
      },
      provider: { getBlock: async () => ({ timestamp: 0 }) },
    };
    const started = Date.now();
    const e = await followJob(ph as unknown as PostHumanCore, 7n, { reconnectMs: 5_000 }).then(
      () => undefined,
      (x: unknown) => x as SdkError,
    );
    expect(e?.code, String(e)).to.equal("JOB_ENDED");
    expect(Date.now() - started).to.be.lessThan(2_000); // told at once, not after waiting for the node
  });
});
