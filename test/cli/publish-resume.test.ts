/**
 * `posthuman model publish` cut short after the registration, then finished, on a live marketplace (`posthuman up`,
 * its worker, spawned commands): Alice's publish goes through a relay to the worker that drops the connection of the
 * folder's upload (a worker that answered its health check, then went away), so the model is on chain and no worker
 * serves it. The error says so, names the model and the command that finishes it; running the same publish again
 * uploads to that model without one more transaction; Bob publishing the same folder is refused before anything is
 * sent. One model ends on chain, served by the worker.
 */
import { expect } from "chai";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { devWallet } from "../../offchain/deploy/accounts";
import { readAddressBook } from "../../offchain/deploy/address-book";
import { ModelRegistry__factory } from "../../typechain-types";
import { cli, ok, startUp, type CliRun, type UpProcess } from "./cli-process";

interface ErrorJson {
  error: { message: string; hint?: string; code?: string; data?: Record<string, unknown> };
}
interface PublishJson {
  modelId: string;
  txHash: string;
  uploaded: boolean;
  resumed?: boolean;
}

/** A relay to `target` that passes every request on but drops the connection of a model folder's upload. */
function uploadDroppingRelay(target: string): Promise<http.Server> {
  const to = new URL(target);
  const server = http.createServer((req, res) => {
    if (req.method === "PUT" && /^\/models\/\d+$/.test(req.url ?? "")) {
      req.socket.destroy();
      return;
    }
    const fwd = http.request(
      { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    fwd.on("error", () => res.destroy());
    req.pipe(fwd);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

describe("posthuman model publish: a publish cut short after the registration is finished, not registered twice", function () {
  this.timeout(600_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-publish-resume-"));
  const deployment = path.join(tmp, "deployment.json");
  const folder = path.join(tmp, "m1");
  let upProc: UpProcess | undefined;
  let relay: http.Server | undefined;
  let provider: ethers.JsonRpcProvider | undefined;

  const as = <T>(who: string, worker: string, args: string[]): Promise<CliRun<T>> => {
    const up = upProc?.up;
    if (!up) throw new Error("posthuman up is not running");
    const global = ["--rpc", up.rpc, "--deployment", deployment, "--worker", worker];
    return cli<T>([...global, "--data-dir", path.join(tmp, who), "--account", who, ...args]);
  };

  before(async () => {
    const [up, created] = await Promise.all([
      startUp(path.join(tmp, "marketplace"), deployment),
      cli(["--json", "model", "create", folder, "--preset", "tiny", "--seed", "5"]),
    ]);
    upProc = up;
    ok(created);
    relay = await uploadDroppingRelay(up.up.worker);
    provider = new ethers.JsonRpcProvider(up.up.rpc, up.up.chainId, { cacheTimeout: -1, staticNetwork: true });
  });

  after(async () => {
    provider?.destroy();
    relay?.closeAllConnections();
    await new Promise((r) => (relay ? relay.close(r) : r(undefined)));
    await upProc?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("says which model is on chain and what finishes it; the same publish again uploads it with no transaction", async () => {
    const up = upProc!.up;
    const book = readAddressBook(deployment);
    if (!book) throw new Error(`no address book at ${deployment}`);
    const registry = ModelRegistry__factory.connect(book.contracts.ModelRegistry, provider);
    const served = async (id: bigint) => (await fetch(`${up.worker}/models/${id}`)).status;
    const publish = ["--json", "model", "publish", folder, "--name", "Resumed M1", "--price", "1", "--supply", "20"];
    const relayUrl = `http://127.0.0.1:${(relay!.address() as AddressInfo).port}`;

    // Cut short: registered on chain, its upload's connection dropped.
    const cut = await as<ErrorJson>("alice", relayUrl, publish);
    expect(cut.code, cut.stderr).to.not.equal(0);
    const modelId = await registry.modelCount();
    expect(modelId).to.equal(1n);
    const { error } = cut.json;
    // (A connection dropped mid-request is said as the worker's refusal, or as no answer when it dropped before.)
    expect(error.code).to.be.oneOf(["WORKER_REFUSED", "WORKER_UNREACHABLE"]);
    expect(error.data).to.include({ registered: true, modelId: "1", dir: folder });
    expect(error.message).to.contain("Model 1 is registered on chain, but its files did not reach the worker");
    expect(error.hint).to.contain(`posthuman model upload ${folder} 1`);
    expect(error.hint).to.contain("run the same model publish again");
    expect(cut.stderr).to.contain("Model 1 registered. Uploading its files to the worker…");
    expect(await served(modelId)).to.equal(404);

    // Bob's publish of the same folder: refused before anything is sent.
    const bob = devWallet(2).address;
    const bobNonce = await provider!.getTransactionCount(bob);
    const refused = await as<ErrorJson>("bob", up.worker, publish);
    expect(refused.code).to.not.equal(0);
    expect(refused.json.error.code).to.equal("PARAMS_INVALID");
    expect(refused.json.error.message).to.contain("These weights are model 1 already");
    expect(await provider!.getTransactionCount(bob)).to.equal(bobNonce);

    // Alice's again: resumed, no transaction sent, the model served.
    const alice = devWallet(1).address;
    const nonce = await provider!.getTransactionCount(alice);
    const again = ok(await as<PublishJson>("alice", up.worker, publish));
    expect(again).to.include({ modelId: "1", uploaded: true, resumed: true });
    expect(again.txHash).to.match(/^0x[0-9a-f]{64}$/);
    expect(await provider!.getTransactionCount(alice)).to.equal(nonce);
    expect(await registry.modelCount()).to.equal(1n);
    expect(await served(1n)).to.equal(200);

    // Once more, complete already, with another name and price: nothing sent, and said that they are not applied.
    const other = ["model", "publish", folder, "--name", "Other name", "--price", "5", "--supply", "20"];
    const third = await as("alice", up.worker, other);
    expect(third.code, third.stderr).to.equal(0);
    expect(third.stdout).to.match(/^model 1 was registered already \(in tx 0x[0-9a-f]{64}, by an earlier publish of/);
    expect(third.stdout).to.contain(
      "this run's --name, --price and --supply are not applied: the model keeps its first publish's " +
        "(rename it with posthuman model describe 1 --name …)",
    );
    expect(third.stderr).to.contain("These weights are your model 1 already (an earlier publish, perhaps cut short)");
    expect(await provider!.getTransactionCount(alice)).to.equal(nonce);
  });
});
