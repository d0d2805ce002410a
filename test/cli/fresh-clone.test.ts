/**
 * A newcomer's first commands, as README.md's Quickstart gives them: a fresh clone (the committed tree, nothing
 * generated: no typechain-types/, artifacts/ or web build), its node_modules hard-linked from this checkout in place
 * of `npm ci` (the same files, without the registry), then `npm start`. It must compile what it needs, say so on
 * one line, and serve the marketplace: the worker's API answers, and `./posthuman balance` reads the chain.
 */
import { expect } from "chai";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { devWallet } from "../../offchain/deploy/accounts";

const ROOT = path.join(__dirname, "..", "..");

describe("a fresh clone: npm ci, then npm start (README's Quickstart)", function () {
  this.timeout(600_000);
  let dir: string;

  before(function () {
    if (!fs.existsSync(path.join(ROOT, ".git"))) {
      console.log("    skipped: this checkout is not a git repository, so there is nothing to clone");
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-clone-"));
    execFileSync("git", ["clone", "--quiet", ROOT, path.join(dir, "posthuman")]);
    dir = path.join(dir, "posthuman");
    try {
      execFileSync("cp", ["-al", path.join(ROOT, "node_modules"), path.join(dir, "node_modules")], { stdio: "pipe" });
    } catch {
      // Hard links cannot cross file systems: the same files through a link then.
      fs.rmSync(path.join(dir, "node_modules"), { recursive: true, force: true });
      fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    }
  });

  after(() => {
    if (dir) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it("compiles the contracts and bindings, starts the marketplace, and answers", async () => {
    for (const generated of ["typechain-types", "artifacts", "offchain/web/dist"])
      expect(fs.existsSync(path.join(dir, generated)), `${generated} in a fresh clone`).to.equal(false);
    // Free ports: the defaults (8545, 8550) may be taken on this machine.
    const child = spawn("npm", ["start", "--", "--chain-port", "0", "--api-port", "0"], {
      cwd: dir,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, POSTHUMAN_HOME: path.join(dir, ".posthuman") },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const api = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`npm start did not come up:\n${stderr}`)), 540_000);
        child.stdout.on("data", () => {
          const m = /worker API (http:\/\/\S+)/.exec(stdout);
          if (m && /Stop with Ctrl-C/.test(stdout)) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        void exited.then((code) => reject(new Error(`npm start exited ${code}:\n${stderr}`)));
      });
      expect(stderr).to.match(/Compiling the contracts and their TypeScript bindings/);
      expect(fs.existsSync(path.join(dir, "typechain-types", "index.ts"))).to.equal(true);
      const health = await fetch(`${api}/healthz`);
      expect(health.status).to.equal(200);
      // The worker publishes its input limit, so a client refuses a larger input before paying (64 MiB by default, what
      // the runtime reads), and whether it claims jobs at all (the dev worker is staked by `up`).
      const h = (await health.json()) as { limits?: unknown; standing?: unknown };
      expect(h.limits).to.deep.equal({ maxInputBytes: 64 * 1024 ** 2 });
      expect(h.standing).to.deep.equal({ ok: true });

      // The user commands, run the README's way from the clone, reach it.
      const rpc = /chain +(http:\/\/\S+)/.exec(stdout)![1];
      const out = execFileSync(
        "./posthuman",
        ["--json", "--rpc", rpc, "--worker", api, "balance", devWallet(1).address],
        { cwd: dir, encoding: "utf8" },
      );
      const balance = JSON.parse(out) as { base: string; coin: string };
      expect(balance.base).to.equal((10_000n * 10n ** 18n).toString());
      expect(BigInt(balance.coin)).to.be.greaterThan(0n); // the dev accounts' gas money
    } finally {
      if (child.exitCode === null && child.pid) process.kill(-child.pid, "SIGTERM");
      const t = setTimeout(() => child.pid && child.exitCode === null && process.kill(-child.pid, "SIGKILL"), 20_000);
      await exited;
      clearTimeout(t);
    }
  });
});
