import { expect } from "chai";
import http from "node:http";
import net from "node:net";
import { makeError } from "ethers";
import {
  assertChainId,
  createProvider,
  describeError,
  isTransientRpcError,
  withRetry,
  backoffDelay,
} from "../../offchain/worker/rpc";
import { freePort } from "../../offchain/devnet/hardhat-node";

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e,
  );
}

describe("worker RPC helpers", () => {
  describe("createProvider", () => {
    it("refuses a URL that is not http(s), without printing its path", () => {
      expect(() => createProvider("wss://node.example.org/secret-key")).to.throw(
        /wss:\/\/node\.example\.org\/\[redacted\] is not http/,
      );
    });

    it("times out on a node that accepts connections and never answers", async () => {
      const silent = net.createServer(() => undefined).listen(0, "127.0.0.1");
      await new Promise((r) => silent.once("listening", r));
      const port = (silent.address() as net.AddressInfo).port;
      const provider = createProvider({ url: `http://127.0.0.1:${port}`, chainId: 31337, timeoutMs: 300 });
      const started = Date.now();
      const e = await failure(provider.getBlockNumber());
      expect(Date.now() - started).to.be.lessThan(3000);
      expect(isTransientRpcError(e)).to.equal(true);
      provider.destroy();
      silent.close();
    });

    it("asks a read again when the node closed its kept-alive connection while this process was busy", async () => {
      // A JSON-RPC node that answers every call with 7 and keeps its connections open between requests (keep-alive).
      const calls: string[] = [];
      const node = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => (body += String(d)));
        req.on("end", () => {
          const call = JSON.parse(body) as { id: number; method: string };
          calls.push(call.method);
          res.setHeader("content-type", "application/json");
          res.end(JSON.stringify({ jsonrpc: "2.0", id: call.id, result: "0x7" }));
        });
      });
      const open = new Set<net.Socket>();
      node.on("connection", (s: net.Socket) => void (open.add(s), s.once("close", () => open.delete(s))));
      await new Promise<void>((r) => node.listen(0, "127.0.0.1", r));
      const url = `http://127.0.0.1:${(node.address() as net.AddressInfo).port}`;
      const provider = createProvider({ url, chainId: 31337 });
      // The node closes the idle connection (its keepAliveTimeout) just as this process, whose event loop is late
      // (a synchronous spawn, a loaded machine), has a request queued: ethers sends it from a timer, and timers run
      // before the loop reads the node's close, so the request goes out on the connection the node closed.
      const race = async (send: () => Promise<unknown>): Promise<unknown> => {
        expect(await provider.send("eth_chainId", [])).to.equal("0x7"); // opens the connection the next call reuses
        expect(open.size).to.equal(1);
        const queued = send();
        await new Promise((r) => setImmediate(r)); // ethers has queued it (a 10 ms timer)
        for (const s of open) s.destroy();
        const busyUntil = Date.now() + 30;
        while (Date.now() < busyUntil); // the event loop is late: the queued request's timer is due
        return queued.then(
          (v) => v,
          (e: unknown) => e,
        );
      };
      try {
        expect(await race(() => provider.getBlockNumber())).to.equal(7);
        expect(calls.slice(-2)).to.deep.equal(["eth_chainId", "eth_blockNumber"]); // sent once, on a new connection

        // A transaction is not sent twice by the transport (it may have arrived): the error is the sender's to retry.
        const sent = await race(() => provider.send("eth_sendRawTransaction", ["0x01"]));
        expect(sent)
          .to.be.an("error")
          .with.property("code")
          .that.matches(/^(ECONNRESET|EPIPE)$/);
        expect(isTransientRpcError(sent)).to.equal(true);
        expect(calls.at(-1)).to.equal("eth_chainId");
      } finally {
        provider.destroy();
        node.closeAllConnections();
        await new Promise((r) => node.close(r));
      }
    });
  });

  describe("isTransientRpcError", () => {
    it("is true for a node that is down (connection refused)", async () => {
      const provider = createProvider({ url: `http://127.0.0.1:${await freePort()}`, chainId: 31337 });
      const e = await failure(provider.getBlockNumber());
      expect(isTransientRpcError(e)).to.equal(true);
      provider.destroy();
    });

    it("is false for an HTTP answer that would be the same next time (401, 404), true for a 5xx", async () => {
      // A node behind a gateway that answers every request with the status its path names, and words that say "later".
      const node = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          res.statusCode = Number(req.url?.split("/")[1]);
          res.end("temporarily unavailable: try again");
        });
      });
      await new Promise<void>((r) => node.listen(0, "127.0.0.1", r));
      const base = `http://127.0.0.1:${(node.address() as net.AddressInfo).port}`;
      const answer = async (status: number): Promise<unknown> => {
        const provider = createProvider({ url: `${base}/${status}/secret-key`, chainId: 31337 });
        try {
          return await failure(provider.getBlockNumber());
        } finally {
          provider.destroy();
        }
      };
      try {
        const unauthorized = await answer(401);
        expect(unauthorized).to.have.property("code", "SERVER_ERROR");
        expect(isTransientRpcError(unauthorized)).to.equal(false);
        expect(describeError(unauthorized)).to.equal("server response 401 Unauthorized (SERVER_ERROR)");
        expect(isTransientRpcError(await answer(404))).to.equal(false);
        expect(isTransientRpcError(await answer(503))).to.equal(true);
        expect(isTransientRpcError(await answer(408))).to.equal(true);

        // The worker's start says so without printing the URL's path (its API key), as ethers' own message does.
        const provider = createProvider({ url: `${base}/403/secret-key`, chainId: 31337 });
        const e = await failure(assertChainId(provider, 31337, `${base}/403/secret-key`));
        provider.destroy();
        expect((e as Error).message).to.equal(
          `The RPC node at ${base}/[redacted] answers HTTP 403 Forbidden: check the RPC URL (its path, its API key).`,
        );
      } finally {
        node.closeAllConnections();
        await new Promise((r) => node.close(r));
      }
    });

    it("tells retryable failures from answers that would not change", () => {
      const transient = [
        Object.assign(new Error("request timeout"), { code: "TIMEOUT" }),
        makeError("bad response", "SERVER_ERROR", { request: undefined as never, response: undefined as never }),
        makeError("server response 429 Too Many Requests", "SERVER_ERROR", {
          request: undefined as never,
          response: undefined as never,
          info: { responseStatus: "429 Too Many Requests" },
        }),
        Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
        { code: -32005, message: "limit exceeded" },
        makeError("could not coalesce error", "UNKNOWN_ERROR", { error: { code: 429, message: "Too Many Requests" } }),
        { error: { message: "header not found" } },
        // `posthuman up`'s chain while its node restarts: the proxy answers in the node's place, as the SDK sees it.
        makeError("missing response for request", "BAD_DATA", {
          value: [{ jsonrpc: "2.0", id: null, error: { code: -32700, message: "fetch failed" } }],
        }),
      ];
      const final = [
        makeError("execution reverted", "CALL_EXCEPTION", {
          action: "call",
          data: "0x",
          reason: null,
          transaction: { to: null, data: "0x" },
          invocation: null,
          revert: null,
        }),
        makeError("insufficient funds", "INSUFFICIENT_FUNDS", { transaction: {} }),
        makeError("nonce too low", "NONCE_EXPIRED", { transaction: {} }),
        makeError("bad arg", "INVALID_ARGUMENT", { argument: "x", value: 1 }),
        makeError("server response 400 Bad Request", "SERVER_ERROR", {
          request: undefined as never,
          response: undefined as never,
          info: { responseStatus: "400 Bad Request" },
        }),
        new Error("something else"),
        undefined,
      ];
      for (const e of transient) expect(isTransientRpcError(e), JSON.stringify(e)).to.equal(true);
      for (const e of final) expect(isTransientRpcError(e), String(e)).to.equal(false);
    });
  });

  describe("withRetry", () => {
    it("retries transient failures with backoff and throws other errors at once", async () => {
      let calls = 0;
      const v = await withRetry(
        async () => {
          if (++calls < 3) throw Object.assign(new Error("refused"), { code: "ECONNREFUSED" });
          return 42;
        },
        { minDelayMs: 1, maxDelayMs: 2 },
      );
      expect([v, calls]).to.deep.equal([42, 3]);

      calls = 0;
      const e = await failure(
        withRetry(
          async () => {
            calls++;
            throw new Error("revert");
          },
          { minDelayMs: 1 },
        ),
      );
      expect((e as Error).message).to.equal("revert");
      expect(calls).to.equal(1);
    });

    it("gives up after `retries` and grows its delays up to the cap", async () => {
      let calls = 0;
      await failure(
        withRetry(
          async () => {
            calls++;
            throw Object.assign(new Error("timeout"), { code: "ETIMEDOUT" });
          },
          { retries: 2, minDelayMs: 1, maxDelayMs: 2 },
        ),
      );
      expect(calls).to.equal(3);
      for (let a = 0; a < 20; a++) {
        const d = backoffDelay(a, { minDelayMs: 100, maxDelayMs: 1000 });
        expect(d).to.be.at.least(Math.min(1000, 100 * 2 ** a) / 2);
        expect(d).to.be.at.most(1000);
      }
    });
  });
});
