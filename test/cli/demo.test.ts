import { expect } from "chai";
import { spawn } from "node:child_process";
import path from "node:path";
import type { DemoSummary } from "../../offchain/cli/demo";
import { devWallet } from "../../offchain/cli/accounts";

const BIN = path.join(__dirname, "..", "..", "offchain", "cli", "posthuman.js");

/** Runs the CLI as a user would; resolves with the exit code and the JSON document it printed on stdout. */
function cli(args: string[], timeoutMs: number): Promise<{ code: number | null; json: unknown; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, json: JSON.parse(stdout), stderr });
      } catch {
        reject(new Error(`no JSON on stdout (exit ${code}):\n${stdout}\n${stderr.slice(-3000)}`));
      }
    });
  });
}

describe("posthuman demo (the five-person story, spawned as a user would run it)", function () {
  this.timeout(600_000);
  let d: DemoSummary;

  before(async () => {
    const r = await cli(["demo", "--json", "--steps", "16"], 540_000);
    expect(r.code, r.stderr.slice(-3000)).to.equal(0);
    d = r.json as DemoSummary;
  });

  it("records the lineage M1 → M2 → M3 on chain, with Bob and Charlie as the trainers", () => {
    const [m1, m2, m3] = d.models;
    expect([m1.parent, m2.parent, m3.parent]).to.deep.equal(["0", m1.id, m2.id]);
    expect([m1.generation, m2.generation, m3.generation]).to.deep.equal([0, 1, 2]);
    expect(m1.owner).to.equal(devWallet(1).address);
    expect(m2.owner).to.equal(devWallet(2).address);
    expect(m3.owner).to.equal(devWallet(3).address);
  });

  it("lowers each child's validation loss on its trainer's data below its parent's", () => {
    expect(d.finetunes).to.have.length(2);
    for (const f of d.finetunes) expect(f.valLossAfter, f.child).to.be.lessThan(f.valLossBefore);
  });

  it("verifies every receipt by re-executing its job", () => {
    expect(d.receipts.map((r) => r.kind)).to.deep.equal([
      "train",
      "train",
      "infer",
      "evaluate",
      "evaluate",
      "evaluate",
    ]);
    for (const r of d.receipts) expect(r.verified, `job ${r.job}`).to.equal(true);
  });

  it("conserves the base token: what left the accounts is held by contracts that owe it", () => {
    expect(d.conservation.total).to.equal("0");
  });

  it("pays M3's revenue to Charlie, Bob and Alice", () => {
    for (const who of ["charlie", "bob", "alice"]) expect(BigInt(d.balances[who].claimed), who).to.be.greaterThan(0n);
  });

  it("evaluates M1, M2 and M3 against the declared baseline and generates text for Derek", () => {
    expect(d.evaluation.map((e) => e.model)).to.deep.equal(["M1", "M2", "M3"]);
    expect(d.evaluation[0].loss).to.be.closeTo(d.evaluation[0].baseline, 1e-5);
    expect(d.generations).to.have.length(3);
  });
});
