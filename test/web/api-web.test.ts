/**
 * The worker API's web routes (offchain/worker/api.ts): the built app on GET / and /assets/*, its configuration on
 * /web-config.json, nothing else of the disk; and POST /models/inspect, which computes a folder's weights root
 * with a signature but without storage.
 */
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type http from "node:http";
import { ethers } from "ethers";
import { ApiError, createApiServer, listen, type ApiDeps } from "../../offchain/worker/api";
import { manifestHash, type ManifestEntry } from "../../offchain/protocol/model-upload";
import { authDomain, sha256Hex, signFresh } from "../../offchain/protocol/auth";
import { createLocalArtifactStore } from "../../offchain/worker/store";

interface Served {
  url: string;
  server: http.Server;
  dist: string;
  inspected: string[][];
}

async function serve(o: { web: boolean; inspect: boolean }): Promise<Served> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ph-web-api-"));
  const dist = path.join(tmp, "dist");
  fs.mkdirSync(path.join(dist, "assets"), { recursive: true });
  fs.writeFileSync(path.join(dist, "index.html"), "<!doctype html><title>PostHuman</title>");
  fs.writeFileSync(path.join(dist, "assets", "index-abc123.js"), "console.log('app')");
  fs.writeFileSync(path.join(dist, "assets", "index-abc123.css"), "body{}");
  fs.writeFileSync(path.join(dist, "assets", ".hidden"), "secret");
  fs.writeFileSync(path.join(tmp, "secret.txt"), "outside the web folder");
  const inspected: string[][] = [];
  const deps: ApiDeps = {
    domain: authDomain(31337, "0x" + "42".repeat(20)),
    store: createLocalArtifactStore({ dir: path.join(tmp, "store") }),
    getJob: async () => undefined,
    inputReceived: async () => undefined,
    acceptModel: async () => {
      throw new ApiError(403, "NOT_OWNER", "no");
    },
    inspectModel: o.inspect
      ? async (dir) => {
          const files = fs.readdirSync(dir).sort();
          inspected.push(files);
          if (!files.includes("model.safetensors")) throw new ApiError(422, "MODEL_UNLOADABLE", "no weights");
          return {
            weightsRoot: ethers.id(fs.readFileSync(path.join(dir, "model.safetensors"), "utf8")),
            configHash: ethers.ZeroHash,
          };
        }
      : undefined,
    health: () => ({ ok: true }),
    metrics: () => "",
    limits: { maxInputBytes: 1024, maxModelBytes: 4096 },
    web: o.web
      ? {
          dir: dist,
          config: { rpcUrl: "http://127.0.0.1:8545", chainId: 31337 },
          connectSrc: ["http://127.0.0.1:8545"],
        }
      : undefined,
  };
  const server = createApiServer(deps);
  return { url: await listen(server, "127.0.0.1", 0), server, dist, inspected };
}

/** A raw GET, so that the path reaches the server exactly as written (fetch would normalise dot segments). */
async function rawGet(base: string, rawPath: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(`GET ${rawPath} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
    });
    let data = "";
    socket.on("data", (d) => (data += d.toString()));
    socket.on("error", reject);
    socket.on("end", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.split("\r\n\r\n").slice(1).join("\r\n\r\n") });
    });
  });
}

describe("worker API: web app routes", () => {
  let s: Served;
  beforeEach(async () => {
    s = await serve({ web: true, inspect: true });
  });
  afterEach(() => {
    s.server.close();
  });

  it("serves index.html on / with a Content-Security-Policy that allows the chain's RPC", async () => {
    const res = await fetch(`${s.url}/`);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.equal("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).to.equal("no-cache");
    expect(res.headers.get("x-content-type-options")).to.equal("nosniff");
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).to.contain("default-src 'self'");
    expect(csp).to.contain("connect-src 'self' http://127.0.0.1:8545 http: https:");
    expect(csp).to.not.match(/script-src/); // scripts only from 'self' (default-src)
    expect(csp).to.contain("frame-ancestors 'none'");
    expect(await res.text()).to.contain("<title>PostHuman</title>");
    expect((await fetch(`${s.url}/index.html`)).status).to.equal(200);
  });

  it("serves hashed assets with their type, cached for good", async () => {
    const js = await fetch(`${s.url}/assets/index-abc123.js`);
    expect(js.status).to.equal(200);
    expect(js.headers.get("content-type")).to.equal("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).to.equal("public, max-age=31536000, immutable");
    expect(await js.text()).to.equal("console.log('app')");
    const css = await fetch(`${s.url}/assets/index-abc123.css`);
    expect(css.headers.get("content-type")).to.equal("text/css; charset=utf-8");
  });

  it("serves the page's configuration on /web-config.json", async () => {
    const res = await fetch(`${s.url}/web-config.json`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ rpcUrl: "http://127.0.0.1:8545", chainId: 31337 });
  });

  it("reaches nothing outside the assets folder, whatever the path", async () => {
    for (const p of [
      "/assets/../secret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/assets/%2e%2e/%2e%2e/secret.txt",
      "/assets/.hidden",
      "/assets/",
      "/assets/missing.js",
      "/assets/sub/index-abc123.js",
      "/../secret.txt",
      "/secret.txt",
      "/dist/index.html",
      "//etc/passwd",
      "/assets/..\\..\\secret.txt",
    ]) {
      const r = await rawGet(s.url, p);
      expect(r.status, p).to.equal(404);
      expect(r.body, p).not.to.contain("outside the web folder");
    }
  });

  it("keeps the API's own routes and refuses other methods on the web paths", async () => {
    expect(await (await fetch(`${s.url}/healthz`)).json()).to.deep.equal({ ok: true });
    expect((await fetch(`${s.url}/`, { method: "PUT", body: "x" })).status).to.equal(404);
    expect((await fetch(`${s.url}/jobs/1`)).status).to.equal(404);
  });

  it("serves no page when it is given no web app", async () => {
    const bare = await serve({ web: false, inspect: false });
    try {
      expect((await fetch(`${bare.url}/`)).status).to.equal(404);
      expect((await fetch(`${bare.url}/web-config.json`)).status).to.equal(404);
      const r = await fetch(`${bare.url}/models/inspect`, { method: "POST", body: "x" });
      expect(r.status).to.equal(404);
    } finally {
      bare.server.close();
    }
  });
});

describe("worker API: POST /models/inspect", () => {
  let s: Served;
  beforeEach(async () => {
    s = await serve({ web: false, inspect: true });
  });
  afterEach(() => {
    s.server.close();
  });

  const bundle = (files: Record<string, string>) => {
    const names = Object.keys(files).sort();
    const entries: ManifestEntry[] = names.map((n) => ({
      path: n,
      size: Buffer.byteLength(files[n]),
      sha256: sha256Hex(Buffer.from(files[n])),
    }));
    return {
      body: Buffer.concat(names.map((n) => Buffer.from(files[n]))),
      header: Buffer.from(JSON.stringify(entries)).toString("base64"),
      entries,
    };
  };
  /** Inspection is signed (ModelInspect over the manifest, with expiry and nonce): anyone may ask, but not anonymously. */
  const signed = async (entries: ManifestEntry[]) =>
    signFresh(ethers.Wallet.createRandom(), authDomain(31337, "0x" + "42".repeat(20)), {
      type: "ModelInspect",
      value: { manifestHash: manifestHash(entries) },
    });

  it("returns the weights root of the uploaded folder, signed, and keeps nothing", async () => {
    const b = bundle({ "config.json": "{}", "model.safetensors": "weights" });
    const res = await fetch(`${s.url}/models/inspect`, {
      method: "POST",
      body: new Uint8Array(b.body),
      headers: { ...(await signed(b.entries)), "x-posthuman-manifest": b.header },
    });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ weightsRoot: ethers.id("weights"), configHash: ethers.ZeroHash });
    expect(s.inspected).to.deep.equal([["config.json", "model.safetensors"]]);
  });

  it("refuses files outside the model layout, bodies that do not match, and unloadable folders", async () => {
    const badEntries = [{ path: "../x", size: 1, sha256: ethers.ZeroHash }];
    const bad = Buffer.from(JSON.stringify(badEntries)).toString("base64");
    let r = await fetch(`${s.url}/models/inspect`, {
      method: "POST",
      body: "x",
      headers: { ...(await signed(badEntries)), "x-posthuman-manifest": bad },
    });
    expect(r.status).to.equal(400);
    const b = bundle({ "config.json": "{}", "model.safetensors": "weights" });
    r = await fetch(`${s.url}/models/inspect`, {
      method: "POST",
      body: new Uint8Array(Buffer.concat([b.body.subarray(0, 4), Buffer.from("XXXXXX")])),
      headers: { ...(await signed(b.entries)), "x-posthuman-manifest": b.header },
    });
    expect(r.status).to.equal(400); // the body does not match its manifest
    const noWeights = bundle({ "config.json": "{}" });
    r = await fetch(`${s.url}/models/inspect`, {
      method: "POST",
      body: new Uint8Array(noWeights.body),
      headers: { ...(await signed(noWeights.entries)), "x-posthuman-manifest": noWeights.header },
    });
    expect(r.status).to.equal(422);
    expect(((await r.json()) as { error: { code: string } }).error.code).to.equal("MODEL_UNLOADABLE");
  });
});
