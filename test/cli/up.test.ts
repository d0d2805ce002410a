/**
 * `posthuman up --challenge-window`: the local chain's challenge window, 30 s by default so that jobs settle within a
 * minute, is set on a fresh chain for whoever wants time to verify a receipt before challenging it; on a chain
 * already deployed the flag is said not to apply.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers } from "ethers";
import { JobMarket__factory } from "../../typechain-types";
import { startUp } from "./cli-process";

describe("posthuman up --challenge-window", function () {
  this.timeout(300_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-up-window-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("deploys a fresh chain with the window asked for, and says so when a deployed chain keeps its own", async () => {
    const dataDir = path.join(tmp, "up");
    const deployment = path.join(tmp, "deployment.json");
    const windowOf = async (rpc: string, market: string) => {
      const provider = new ethers.JsonRpcProvider(rpc, undefined, { staticNetwork: true });
      try {
        const cfg = await JobMarket__factory.connect(market, provider).config();
        return [Number(cfg.challengeWindow), Number(cfg.arbitrationWindow)];
      } finally {
        provider.destroy();
      }
    };
    const first = await startUp(dataDir, deployment, 180_000, ["--no-worker", "--challenge-window", "600"]);
    try {
      // The arbiter's window outlasts it (the requester's join period of a challenge comes first): twice as long.
      expect(await windowOf(first.up.rpc, first.up.contracts.JobMarket)).to.deep.equal([600, 1200]);
    } finally {
      await first.stop();
    }
    const again = await startUp(dataDir, deployment, 180_000, ["--no-worker", "--challenge-window", "45"]);
    try {
      expect(await windowOf(again.up.rpc, again.up.contracts.JobMarket)).to.deep.equal([600, 1200]);
      expect(again.stderr()).to.match(
        /--challenge-window 45 applies to a fresh chain only: this one was deployed with 600 s/,
      );
    } finally {
      await again.stop();
    }
  });

  it("stops on Ctrl-C as a terminal sends it (to the whole group): a clean exit, its chain no longer served", async () => {
    const run = await startUp(path.join(tmp, "ctrl-c"), path.join(tmp, "ctrl-c.json"), 180_000, [], true);
    const rpc = run.up.rpc;
    const answers = () =>
      fetch(rpc, { method: "POST", body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' }).then(
        (r) => r.ok,
        () => false,
      );
    expect(await answers()).to.equal(true);
    await new Promise((r) => setTimeout(r, 3_000)); // a few ingestion rounds
    await run.stop();
    expect(run.child.exitCode).to.equal(0);
    expect(await answers()).to.equal(false);
    // The group's SIGINT does not stop the chain under the worker: the worker stops first, so its last rounds do not
    // fail on a chain already gone (no "ingestion round failed" / "missing response" warnings after "stopping…").
    const after = run.stderr().slice(run.stderr().indexOf("SIGINT: stopping"));
    expect(after, after).to.match(/^SIGINT: stopping…/);
    expect(after, after).to.not.match(/"level":(40|50)|round failed|missing response|fetch failed/);
  });
});
