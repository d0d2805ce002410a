import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { Writable } from "node:stream";
import { createLogger, redactSecrets, redactUrl, Secret } from "../../offchain/worker/log";

const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, log: createLogger({ destination, name: "test" }) };
}

describe("worker logging", () => {
  it("with a file: the terminal gets its level, the file info and above (or lower when the level is), both censored", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "log-"));
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const file = path.join(dir, "worker", "worker.log"); // its folder is made
    const log = createLogger({ level: "warn", destination, file });
    log.debug("not anywhere");
    log.info({ jobId: "1" }, "claimed");
    log.warn({ privateKey: KEY }, "low stake");
    const inFile = fs
      .readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string });
    expect(inFile.map((l) => l.msg)).to.deep.equal(["claimed", "low stake"]);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).to.deep.equal(["low stake"]);
    expect(fs.readFileSync(file, "utf8")).to.not.include(KEY.slice(2));
    // A lower level reaches the file too; a silent terminal writes the file only; the file is appended to.
    createLogger({ level: "debug", destination, file }).debug("traced");
    createLogger({ level: "silent", destination, file }).info("quiet");
    expect(fs.readFileSync(file, "utf8")).to.match(/"traced"[^\n]*\n.*"quiet"/);
    expect(lines).to.have.length(2);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("writes JSON lines and censors secret fields at any depth pino reaches", () => {
    const { lines, log } = capture();
    log.info({ privateKey: KEY, signer: { privateKey: KEY }, config: { signer: { privateKey: KEY } } }, "started");
    log.info({ action: "submit:1", password: "hunter2", headers: { authorization: "Bearer x" } }, "sent");
    const all = lines.join("");
    expect(all).to.not.include(KEY.slice(2));
    expect(all).to.not.include("hunter2");
    expect(all).to.not.include("Bearer x");
    const first = JSON.parse(lines[0]) as { msg: string; name: string; signer: { privateKey: string } };
    expect(first).to.deep.include({ msg: "started", name: "test" });
    expect(first.signer.privateKey).to.equal("[redacted]");
    expect(JSON.parse(lines[1])).to.deep.include({ action: "submit:1" }); // idempotency keys stay visible
  });

  it("never prints a Secret, however it is printed", () => {
    const s = new Secret(KEY);
    const { lines, log } = capture();
    log.info({ signerKey: s, wrapped: { s } }, "x");
    for (const text of [String(s), `${s}`, JSON.stringify({ s }), inspect({ s }), lines.join("")]) {
      expect(text).to.not.include(KEY.slice(2));
    }
    expect(s.reveal()).to.equal(KEY);
  });

  it("redactSecrets deep-copies with secret fields and Secrets replaced", () => {
    const out = redactSecrets({ a: 1, nested: [{ privateKey: KEY, ok: true }], s: new Secret("x") });
    expect(out).to.deep.equal({ a: 1, nested: [{ privateKey: "[redacted]", ok: true }], s: "[redacted]" });
  });

  it("redactUrl keeps only the origin of an RPC URL that may carry an API key", () => {
    expect(redactUrl("https://mainnet.infura.io/v3/abcdef0123456789")).to.equal("https://mainnet.infura.io/[redacted]");
    expect(redactUrl("https://user:pass@rpc.example.org")).to.equal("https://rpc.example.org/[redacted]");
    expect(redactUrl("http://127.0.0.1:8545")).to.equal("http://127.0.0.1:8545");
    expect(redactUrl("not a url")).to.equal("[redacted]");
  });
});
