import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { ethers } from "ethers";
import { createApiServer, listen, type ApiDeps, type JobView } from "../../offchain/worker/api";
import { clientOf, type AnonymousLimitsOverride } from "../../offchain/worker/api-limits";
import type { BodyPace } from "../../offchain/worker/body-pace";
import { authDomain, sha256Hex, signFresh } from "../../offchain/protocol/auth";
import { manifestHash } from "../../offchain/protocol/model-upload";
import { encodeJobParams, type JobParams } from "../../offchain/protocol/params";
import { createQuotas, memoryNonceBook } from "../../offchain/worker/guard";
import { createLocalArtifactStore } from "../../offchain/worker/store";
import { WorkerApi, WorkerApiError } from "../../offchain/sdk/worker-api";
import { checkWithWorker } from "../../offchain/sdk/input-check";

/**
 * The budgets of the routes anyone may call before paying (api-limits.ts), against the real server over real HTTP.
 * Clients at different addresses are told apart by binding their connections to different loopback addresses
 * (127.0.0.0/8 is all loopback on Linux).
 */
const requester = new ethers.Wallet(ethers.hexlify(ethers.randomBytes(32)));
const freshKey = () => new ethers.Wallet(ethers.hexlify(ethers.randomBytes(32)));
const domain = authDomain(31337, "0x" + "42".repeat(20));
const INPUT = Buffer.from("Day one. Left the harbour at six with the tide.\n");
const INFER: JobParams = { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } };
const QUERY = `kind=Infer&params=${encodeJobParams(INFER)}`;
const PLANNED = `kind=Infer&params=${encodeJobParams(INFER)}&fee=1000&ttl=900&inputBytes=22&prompts=1`;

interface Harness {
  url: string;
  server: http.Server;
  deps: ApiDeps;
  checked: string[];
  quoted: number;
  received: bigint[];
  /** Holds every check of the model's tokenizer until release() (checks run one at a time, in turn). */
  hold(): void;
  release(): void;
}

async function harness(limits?: AnonymousLimitsOverride, bodyPace?: Partial<BodyPace>): Promise<Harness> {
  const jobs = new Map<bigint, JobView>([
    [
      1n,
      { requester: requester.address, inputHash: sha256Hex(INPUT), acceptsInput: true, status: { state: "claimed" } },
    ],
  ]);
  let gate: Promise<void> = Promise.resolve();
  let open = () => {};
  const h: Harness = {
    url: "",
    server: undefined as unknown as http.Server,
    deps: undefined as unknown as ApiDeps,
    checked: [],
    quoted: 0,
    received: [],
    hold: () => (gate = new Promise<void>((r) => (open = r))),
    release: () => open(),
  };
  h.deps = {
    domain,
    store: createLocalArtifactStore({ dir: fs.mkdtempSync(path.join(os.tmpdir(), "ph-limits-store-")) }),
    getJob: async (id) => jobs.get(id),
    checkInput: async () => ({ ok: true }),
    checkModelInput: async (modelId, _params, bytes) => {
      await gate;
      h.checked.push(bytes.toString());
      return modelId === 7n ? { ok: true } : undefined;
    },
    quoteJob: async (modelId) => {
      h.quoted++;
      return modelId === 7n ? { take: true, estimateSec: 6, minFee: "0", minTtlSec: 52 } : undefined;
    },
    nonces: memoryNonceBook(),
    quotas: createQuotas({ windowMs: 60_000, maxRequests: 1000, maxBytes: 1e9 }),
    inputReceived: async (jobId) => {
      h.received.push(jobId);
    },
    acceptModel: async () => ({ weightsRoot: ethers.ZeroHash }),
    health: () => ({ ok: true }),
    metrics: () => "",
    limits: { maxInputBytes: 4096, maxModelBytes: 1024 },
    tmpDir: fs.mkdtempSync(path.join(os.tmpdir(), "ph-limits-tmp-")),
    anonymousLimits: limits,
    bodyPace,
  };
  h.server = createApiServer(h.deps);
  h.url = await listen(h.server, "127.0.0.1", 0);
  return h;
}

interface Answer {
  status: number;
  retryAfter?: string;
  body: { ok?: boolean; error?: { code: string; message: string } };
}

/** One request from the loopback address `from`. */
function send(
  url: string,
  o: { method?: string; body?: Buffer; headers?: Record<string, string>; from?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: o.method ?? "GET", headers: o.headers, localAddress: o.from ?? "127.0.0.1", agent: false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers["retry-after"],
            body: JSON.parse(text || "{}") as Answer["body"],
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

/** A check of `body` for model 7, signed by a key made for it (as a flood would). */
async function check(h: Harness, body: Buffer, from: string): Promise<Answer> {
  const inputHash = sha256Hex(body);
  const signed = await signFresh(freshKey(), domain, { type: "InputCheck", value: { modelId: 7n, inputHash } });
  return send(`${h.url}/models/7/check-input?${QUERY}`, {
    method: "POST",
    body,
    headers: { ...signed, "x-posthuman-input-hash": inputHash, "content-length": String(body.length) },
    from,
  });
}

async function uploadInput(h: Harness): Promise<Answer> {
  const headers = await signFresh(requester, domain, {
    type: "InputUpload",
    value: { jobId: 1n, inputHash: sha256Hex(INPUT) },
  });
  return send(`${h.url}/jobs/1/input`, { method: "PUT", body: INPUT, headers });
}

/** Waits until `n` of `answers` are in, or `ms` have passed; returns those in. */
async function firstAnswers(answers: Promise<Answer>[], n: number, ms = 5000): Promise<Answer[]> {
  const got: Answer[] = [];
  for (const a of answers)
    void a.then(
      (x) => got.push(x),
      () => undefined,
    );
  const end = Date.now() + ms;
  while (got.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return [...got];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("worker API limits for clients that have not paid", () => {
  let running: Harness | undefined;
  const start = async (limits?: AnonymousLimitsOverride, pace?: Partial<BodyPace>) =>
    (running = await harness(limits, pace));
  afterEach(() => {
    running?.release();
    running?.server.close();
    running?.server.closeAllConnections();
    running = undefined;
  });

  describe("POST /models/:id/check-input", () => {
    it("answers a flood from fresh keys at many addresses with BUSY beyond the budget, while the requester uploads", async () => {
      const h = await start();
      h.hold();
      const flood = Array.from({ length: 40 }, (_, i) => check(h, Buffer.from(`prompt ${i}\n`), `127.0.0.${10 + i}`));
      // Four are admitted (receiving, waiting their turn or being checked); the others are refused at once.
      const refused = await firstAnswers(flood, 36);
      expect(refused.map((a) => [a.status, a.body.error?.code])).to.deep.equal(Array(36).fill([429, "BUSY"]));
      for (const a of refused) {
        expect(Number(a.retryAfter)).to.be.at.least(1);
        expect(a.body.error?.message).to.match(
          /^the worker is checking too many inputs right now: try again in \d+ s; nothing was paid$/,
        );
      }
      // The requester of a job on chain is not held up by the checks in flight.
      const upload = await uploadInput(h);
      expect(upload.status).to.equal(200);
      expect(h.received).to.deep.equal([1n]);
      h.release();
      const all = await Promise.all(flood);
      expect(all.filter((a) => a.status === 200)).to.have.length(4);
      expect(h.checked).to.have.length(4);
      expect(fs.readdirSync(h.deps.tmpDir!)).to.deep.equal([]);
    });

    it("holds one address to its quota whatever keys sign, and to two checks at once; others go on", async () => {
      const h = await start({ checkInput: { perClient: { windowMs: 60_000, maxRequests: 3, maxBytes: 1e9 } } });
      for (let i = 0; i < 3; i++) expect((await check(h, Buffer.from(`a ${i}\n`), "127.0.0.2")).status).to.equal(200);
      const over = await check(h, Buffer.from("a 3\n"), "127.0.0.2");
      expect([over.status, over.body.error?.code]).to.deep.equal([429, "BUSY"]);
      expect(Number(over.retryAfter)).to.be.within(1, 60);
      expect(over.body.error?.message).to.match(/^127\.0\.0\.2 has used its quota of input checks .*nothing was paid$/);
      expect((await check(h, Buffer.from("b\n"), "127.0.0.3")).status).to.equal(200);

      h.hold();
      const two = [check(h, Buffer.from("c 1\n"), "127.0.0.4"), check(h, Buffer.from("c 2\n"), "127.0.0.4")];
      await sleep(200);
      const third = await check(h, Buffer.from("c 3\n"), "127.0.0.4");
      expect([third.status, third.body.error?.code]).to.deep.equal([429, "BUSY"]);
      expect(third.body.error?.message).to.match(/^127\.0\.0\.4 already has 2 input checks under way/);
      expect(third.retryAfter).to.equal("2");
      const other = check(h, Buffer.from("d\n"), "127.0.0.5");
      h.release();
      expect((await Promise.all([...two, other])).map((a) => a.status)).to.deep.equal([200, 200, 200]);
    });

    it("bounds the bytes checked per second, all addresses together (a small input counts as a floor)", async () => {
      const h = await start({ checkInput: { bytesPerSec: 100, burstBytes: 3000, minChargeBytes: 1000 } });
      expect((await check(h, Buffer.from("tiny\n"), "127.0.0.2")).status).to.equal(200); // counts 1000
      expect((await check(h, Buffer.alloc(1000, 0x61), "127.0.0.3")).status).to.equal(200);
      expect((await check(h, Buffer.alloc(1000, 0x62), "127.0.0.4")).status).to.equal(200);
      const over = await check(h, Buffer.alloc(1000, 0x63), "127.0.0.5");
      expect([over.status, over.body.error?.code]).to.deep.equal([429, "BUSY"]);
      expect(Number(over.retryAfter)).to.be.within(2, 10);
      expect(h.checked).to.have.length(3);
    });

    it("cuts off a check whose body does not come in time, and gives its place back", async () => {
      const h = await start({ checkInput: { maxInFlight: 1, bodyTimeoutMs: 300 } });
      const body = Buffer.alloc(1000, 0x61);
      const inputHash = sha256Hex(body);
      const signed = await signFresh(freshKey(), domain, { type: "InputCheck", value: { modelId: 7n, inputHash } });
      const slow = http.request(`${h.url}/models/7/check-input?${QUERY}`, {
        method: "POST",
        headers: { ...signed, "x-posthuman-input-hash": inputHash, "content-length": "1000" },
        localAddress: "127.0.0.2",
      });
      const closed = new Promise<void>((r) => slow.on("close", () => r()));
      slow.on("error", () => undefined);
      slow.write(body.subarray(0, 10));
      await sleep(100);
      const meanwhile = await check(h, Buffer.from("x\n"), "127.0.0.3");
      expect([meanwhile.status, meanwhile.body.error?.code]).to.deep.equal([429, "BUSY"]);
      await closed;
      expect((await check(h, Buffer.from("y\n"), "127.0.0.3")).status).to.equal(200);
      expect(fs.readdirSync(h.deps.tmpDir!)).to.deep.equal([]);
    });
  });

  describe("request bodies' pace (body-pace.ts: Node's 300 s limit on a whole request, turned off)", () => {
    /** The requester's signed input upload, its body written `chunk` bytes every `everyMs` until `stopAt` bytes. */
    async function slowUpload(h: Harness, chunk: number, everyMs: number, stopAt = INPUT.length) {
      const headers = await signFresh(requester, domain, {
        type: "InputUpload",
        value: { jobId: 1n, inputHash: sha256Hex(INPUT) },
      });
      const req = http.request(`${h.url}/jobs/1/input`, {
        method: "PUT",
        headers: { ...headers, "content-length": String(INPUT.length) },
        agent: false,
      });
      const answer = new Promise<{ status: number; code?: string }>((resolve) => {
        req.on("response", (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as Answer["body"]).error?.code }),
          );
        });
        req.on("error", () => resolve({ status: 0 })); // cut off
      });
      const t0 = Date.now();
      for (let at = 0; at < stopAt; at += chunk) {
        req.write(INPUT.subarray(at, Math.min(at + chunk, stopAt)));
        if (at + chunk < INPUT.length) await sleep(everyMs);
      }
      if (stopAt >= INPUT.length) req.end();
      return { answer: await answer, ms: Date.now() - t0 };
    }

    it("takes a signed upload slower than the whole-request limit while it keeps the pace", async () => {
      // 48 bytes, 8 every 250 ms: about 1.5 s, twice the 0.8 s any other request's body gets, at about 32 bytes/s.
      const h = await start(undefined, { wholeRequestMs: 800, minBytesPerSec: 16, graceMs: 300 });
      const up = await slowUpload(h, 8, 250);
      expect(up.answer.status).to.equal(200);
      expect(up.ms).to.be.greaterThan(1000);
      expect(h.received).to.deep.equal([1n]);
    });

    it("cuts off a signed upload that falls behind the pace, storing nothing", async () => {
      const h = await start(undefined, { wholeRequestMs: 60_000, minBytesPerSec: 16, graceMs: 300 });
      const up = await slowUpload(h, 8, 250, 8); // 8 bytes, then nothing
      expect(up.answer.status).to.be.oneOf([0, 408]);
      expect(up.ms).to.be.lessThan(5000);
      expect(h.received).to.deep.equal([]);
      await sleep(100);
      expect(fs.readdirSync(h.deps.tmpDir!)).to.deep.equal([]);
    });

    it("cuts off any other request whose body has not arrived within the whole-request limit", async () => {
      const h = await start({ checkInput: { bodyTimeoutMs: 60_000 } }, { wholeRequestMs: 500 });
      const body = Buffer.alloc(1000, 0x61);
      const inputHash = sha256Hex(body);
      const signed = await signFresh(freshKey(), domain, { type: "InputCheck", value: { modelId: 7n, inputHash } });
      const slow = http.request(`${h.url}/models/7/check-input?${QUERY}`, {
        method: "POST",
        headers: { ...signed, "x-posthuman-input-hash": inputHash, "content-length": "1000" },
        agent: false,
      });
      const t0 = Date.now();
      const closed = new Promise<void>((r) => slow.on("close", () => r()));
      slow.on("error", () => undefined);
      slow.write(body.subarray(0, 10));
      await closed;
      expect(Date.now() - t0).to.be.within(400, 5000);
      expect(h.checked).to.deep.equal([]);
    });
  });

  describe("GET /models/:id/quote", () => {
    it("holds quotes to a budget shared by all addresses and to one per address", async () => {
      const h = await start({ quote: { perSec: 0.01, burst: 5, perClientPerSec: 0.01, perClientBurst: 3 } });
      const quote = (from: string) => send(`${h.url}/models/7/quote?${PLANNED}`, { from });
      for (let i = 0; i < 3; i++) expect((await quote("127.0.0.2")).status).to.equal(200);
      const own = await quote("127.0.0.2");
      expect([own.status, own.body.error?.code, own.retryAfter]).to.deep.equal([429, "BUSY", "100"]);
      expect(own.body.error?.message).to.match(/^127\.0\.0\.2 asks for quotes too often/);
      expect((await quote("127.0.0.3")).status).to.equal(200);
      expect((await quote("127.0.0.4")).status).to.equal(200);
      const all = await quote("127.0.0.5");
      expect([all.status, all.body.error?.code]).to.deep.equal([429, "BUSY"]);
      expect(all.body.error?.message).to.match(
        /^the worker is answering too many quotes right now: try again in \d+ s$/,
      );
      expect(h.quoted).to.equal(5);
    });

    it("refuses a flood of quotes from many addresses beyond the default budget, with retry-after", async () => {
      const h = await start();
      const answers = await Promise.all(
        Array.from({ length: 120 }, (_, i) => send(`${h.url}/models/7/quote?${PLANNED}`, { from: `127.0.1.${1 + i}` })),
      );
      const busy = answers.filter((a) => a.status === 429);
      expect(busy.length).to.be.greaterThan(0);
      expect(answers.filter((a) => a.status === 200).length).to.equal(h.quoted);
      for (const a of busy) {
        expect(a.body.error?.code).to.equal("BUSY");
        expect(Number(a.retryAfter)).to.be.at.least(1);
      }
    });
  });

  describe("POST /models/inspect", () => {
    /** A signed inspection of a folder of one config.json of `size` bytes, its body sent by the caller. */
    async function inspection(h: Harness, size: number, from: string) {
      const config = Buffer.alloc(size, 0x20);
      const entries = [{ path: "config.json", size, sha256: sha256Hex(config) }];
      const signed = await signFresh(freshKey(), domain, {
        type: "ModelInspect",
        value: { manifestHash: manifestHash(entries) },
      });
      const req = http.request(`${h.url}/models/inspect`, {
        method: "POST",
        headers: {
          ...signed,
          "x-posthuman-manifest": Buffer.from(JSON.stringify(entries)).toString("base64"),
          "content-length": String(size),
        },
        localAddress: from,
        agent: false,
      });
      const answer = new Promise<number>((resolve) => {
        req.on("response", (res) => resolve(res.statusCode ?? 0));
        req.on("error", () => resolve(0)); // cut off
      });
      return { config, req, answer };
    }

    it("takes one folder at a time per address, and cuts off a folder sent too slowly so that publishing goes on", async () => {
      // After 1.5 s a folder must keep coming at 1000 bytes a second: the slow one's deadline for its declared 100 kB
      // is 101.5 s, but it falls behind the rate at once and is cut off about 2 s in.
      const h = await start({ inspect: { minBodyTimeoutMs: 1500, minBytesPerSec: 1000 } });
      h.deps.limits = { ...h.deps.limits, maxInspectBytes: 1_000_000 };
      let inspected = 0;
      h.deps.inspectModel = async () => {
        inspected++;
        return { weightsRoot: ethers.ZeroHash, configHash: ethers.ZeroHash };
      };
      // A slow-loris: 10 bytes of 100,000, then nothing.
      const slow = await inspection(h, 100_000, "127.0.0.2");
      const t0 = Date.now();
      slow.req.write(slow.config.subarray(0, 10));
      await sleep(100);
      // The same address cannot start another; another address can, and is answered.
      const again = await inspection(h, 100, "127.0.0.2");
      again.req.end(again.config);
      expect(await again.answer).to.equal(429);
      const other = await inspection(h, 100, "127.0.0.3");
      other.req.end(other.config);
      expect(await other.answer).to.equal(200);
      // The slow one is cut off once behind the rate (long before its deadline), and its address may inspect again.
      expect(await slow.answer).to.be.oneOf([0, 408]);
      expect(Date.now() - t0).to.be.lessThan(20_000);
      const later = await inspection(h, 100, "127.0.0.2");
      later.req.end(later.config);
      expect(await later.answer).to.equal(200);
      expect(inspected).to.equal(2);
      expect(fs.readdirSync(h.deps.tmpDir!)).to.deep.equal([]);
    });
  });

  describe("the SDK's client", () => {
    it("reports BUSY as the worker's 429, with its message; the check before paying is left to the upload", async () => {
      const h = await start({ checkInput: { maxInFlight: 0 }, quote: { burst: 0 } });
      const api = new WorkerApi(h.url, domain);
      const signer = freshKey();
      const err = await api.checkInput(signer, 7n, INFER, Buffer.from("a prompt\n")).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(WorkerApiError);
      const e = err as WorkerApiError;
      // Asked twice: once more after the worker's retry-after (2 s, short enough to wait for).
      expect([e.status, e.code, e.retryAfterSec]).to.deep.equal([429, "BUSY", 2]);
      expect(e.message).to.equal(
        "check of the input: the worker is checking too many inputs right now: try again in 2 s; nothing was paid",
      );
      const q = (await api
        .quote(7n, INFER, { fee: 1000n, ttlSec: 900, input: Buffer.from("a prompt\n") })
        .catch((x: unknown) => x)) as WorkerApiError;
      expect([q.status, q.code]).to.deep.equal([429, "BUSY"]);
      expect(q.retryAfterSec).to.be.a("number"); // asked once more after it, busy still
      // A worker that cannot tell (here: busy) leaves the input rules to the upload's check, which refunds.
      await checkWithWorker(api, signer, 7n, INFER, Buffer.from("a prompt\n"), "prompts.txt");
    });

    it("asks a busy worker once more after a short retry-after, and gets its answer", async () => {
      const h = await start({ quote: { perSec: 100, burst: 100, perClientPerSec: 1, perClientBurst: 1 } });
      const api = new WorkerApi(h.url, domain);
      const job = { fee: 1000n, ttlSec: 900, input: Buffer.from("a prompt\n") };
      await api.quote(7n, INFER, job);
      const t0 = Date.now();
      expect((await api.quote(7n, INFER, job)).take).to.be.a("boolean");
      expect(Date.now() - t0).to.be.at.least(900);
      expect(h.quoted).to.equal(2);
    });
  });

  it("counts an address as its IPv4 address, or the /64 of an IPv6 one", () => {
    const of = (remoteAddress: string) => clientOf({ socket: { remoteAddress } } as unknown as http.IncomingMessage);
    expect(of("203.0.113.9")).to.equal("203.0.113.9");
    expect(of("::ffff:203.0.113.9")).to.equal("203.0.113.9");
    expect(of("2001:db8:1:2:3:4:5:6")).to.equal("2001:db8:1:2::/64");
    expect(of("2001:db8:1:2::9")).to.equal("2001:db8:1:2::/64");
    expect(of("2001:db8::1")).to.equal("2001:db8:0:0::/64");
    expect(of("::1")).to.equal("0:0:0:0::/64");
  });
});
