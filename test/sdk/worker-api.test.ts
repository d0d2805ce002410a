/**
 * The SDK's worker client against a worker that accepts the connection and never answers: a claimant's API is
 * whatever its worker registered on chain, so a follow or a result download must not wait on it for ever.
 */
import http from "node:http";
import type net from "node:net";
import { expect } from "chai";
import { STATUS_TIMEOUT_MS, WorkerApi, WorkerApiError } from "../../offchain/sdk/worker-api";

describe("SDK worker client: a worker that never answers", function () {
  this.timeout(STATUS_TIMEOUT_MS + 20_000);
  let server: http.Server;
  let url: string;
  before(async () => {
    server = http.createServer(() => undefined); // reads the request, never answers
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("gives up on a job's status after STATUS_TIMEOUT_MS, as a worker that does not answer", async () => {
    const api = new WorkerApi(url, { name: "PostHuman", version: "1", chainId: 31337 });
    const started = Date.now();
    const err = await api.jobStatus(1n).then(
      () => undefined,
      (e: unknown) => e,
    );
    const waited = Date.now() - started;
    expect(err).to.be.instanceOf(WorkerApiError);
    expect((err as WorkerApiError).code).to.equal("UNREACHABLE");
    expect((err as Error).message).to.include(`status of job 1: the worker at ${url} does not answer`);
    expect(waited).to.be.within(STATUS_TIMEOUT_MS - 100, STATUS_TIMEOUT_MS + 5_000);
  });
});

describe("SDK worker client: a 503 from the worker itself, and one from a proxy", () => {
  let server: http.Server;
  let url: string;
  const answers: [number, string, Record<string, string>][] = [];
  before(async () => {
    server = http.createServer((_req, res) => {
      const [status, body, headers] = answers.shift() ?? [200, '{"ok":true}', {}];
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => server.close());

  it("reads a worker's JSON 503 (BUSY) as what it says, with its retry-after, and a bare 503 as a worker down", async () => {
    const api = new WorkerApi(url, { name: "PostHuman", version: "1", chainId: 31337 });
    const busy = '{"error":{"code":"BUSY","message":"the worker is inspecting another folder: try again shortly"}}';
    answers.push([503, busy, { "retry-after": "5" }]);
    const e = (await api.health().catch((x: unknown) => x)) as WorkerApiError;
    expect([e.status, e.code, e.retryAfterSec]).to.deep.equal([503, "BUSY", 5]);
    expect(e.message).to.equal("health check: the worker is inspecting another folder: try again shortly");
    answers.push([503, "<html>Service Unavailable</html>", { "content-type": "text/html" }]);
    const down = (await api.health().catch((x: unknown) => x)) as WorkerApiError;
    expect([down.status, down.code]).to.deep.equal([0, "UNREACHABLE"]);
    expect(down.message).to.include(`the worker at ${url} does not answer`);
    // A proxy's own JSON is not the worker's {code, message}: still the worker down.
    answers.push([502, '{"error":"Bad Gateway"}', {}]);
    const proxied = (await api.health().catch((x: unknown) => x)) as WorkerApiError;
    expect([proxied.status, proxied.code]).to.deep.equal([0, "UNREACHABLE"]);
  });
});
