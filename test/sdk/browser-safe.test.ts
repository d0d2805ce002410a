/**
 * The SDK's browser entry (offchain/sdk/browser.ts) must run in a browser: nothing it imports, directly or through
 * other files of the repository, may be a Node built-in or a Node-only library. Walks the import graph of the source
 * (static and dynamic imports), and checks the Node entry still offers the Node extras.
 */
import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { builtinModules } from "node:module";

const ROOT = path.join(__dirname, "..", "..");
const NODE_ONLY = new Set(["@oceanprotocol/lib", "hardhat", "better-sqlite3", "pino"]);

function resolve(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base, `${base}.ts`, path.join(base, "index.ts")])
    if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  return undefined;
}

/** Every file reached from `entry` and every package it names. */
function graph(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop() as string;
    if (files.has(f)) continue;
    files.add(f);
    const src = fs.readFileSync(f, "utf8");
    for (const m of src.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)["']([^"']+)["']/g)) {
      const spec = m[1];
      if (spec.startsWith(".")) {
        const r = resolve(f, spec);
        if (!r) throw new Error(`${path.relative(ROOT, f)}: cannot resolve ${spec}`);
        todo.push(r);
      } else packages.set(spec, path.relative(ROOT, f));
    }
  }
  return { files, packages };
}

describe("sdk: the browser entry needs no Node", () => {
  it("imports no Node built-in and no Node-only library, however deep", () => {
    const { files, packages } = graph(path.join(ROOT, "offchain", "sdk", "browser.ts"));
    const bad = [...packages]
      .filter(([p]) => p.startsWith("node:") || builtinModules.includes(p) || NODE_ONLY.has(p))
      .map(([p, f]) => `${f} imports ${p}`);
    expect(bad).to.deep.equal([]);
    const rel = [...files].map((f) => path.relative(ROOT, f));
    for (const nodeOnly of ["client.ts", "worker-client.ts", "store.ts", "verify.ts", "ocean-exchange.ts"])
      expect(rel, nodeOnly).to.not.include(path.join("offchain", "sdk", nodeOnly));
    expect(rel.some((f) => f.startsWith(path.join("offchain", "worker")))).to.equal(false);
  });

  it("the web app is built on it: no file of offchain/web imports the worker or the SDK's Node entry", () => {
    const web = path.join(ROOT, "offchain", "web", "src");
    const { files, packages } = graph(path.join(web, "main.ts"));
    const rel = [...files].map((f) => path.relative(ROOT, f));
    expect(rel).to.include(path.join("offchain", "sdk", "core.ts"));
    expect(rel.filter((f) => f.startsWith(path.join("offchain", "worker")))).to.deep.equal([]);
    expect(rel).to.not.include(path.join("offchain", "sdk", "client.ts"));
    expect([...packages.keys()].filter((p) => p.startsWith("node:") || builtinModules.includes(p))).to.deep.equal([]);
  });

  it("the Node entry keeps the Node extras and everything of the browser entry", async () => {
    const node = await import("../../offchain/sdk");
    const browser = await import("../../offchain/sdk/browser");
    for (const k of Object.keys(browser)) expect(node, k).to.have.property(k);
    for (const k of ["PostHuman", "LocalStore", "WorkerClient", "readModelFolder", "OceanJsExchangeClient"])
      expect(node, k).to.have.property(k);
    expect(Object.getPrototypeOf(node.PostHuman)).to.equal(browser.PostHumanCore);
  });
});
