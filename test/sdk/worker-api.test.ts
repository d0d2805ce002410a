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
