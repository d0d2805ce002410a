import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { ethers } from "ethers";
import { createApiServer, listen, ApiError, type ApiDeps, type JobView } from "../../offchain/worker/api";
import { manifestHash, type ManifestEntry } from "../../offchain/protocol/model-upload";
import { authDomain, freshness, sha256Hex, signAuth, signFresh } from "../../offchain/protocol/auth";
import { checkJobInput, type InputProblem } from "../../offchain/ml/input-check";
import { encodeJobParams } from "../../offchain/protocol/params";
import { createQuotas, memoryNonceBook } from "../../offchain/worker/guard";
import { createLocalArtifactStore } from "../../offchain/worker/store";
import { WorkerApi } from "../../offchain/sdk/worker-api";
import { explainInputRefusal } from "../../offchain/sdk/input-check";
import type { SdkError } from "../../offchain/sdk/errors";

const requester = ethers.Wallet.createRandom();
const stranger = ethers.Wallet.createRandom();
const owner = ethers.Wallet.createRandom();
const domain = authDomain(31337, "0x" + "42".repeat(20));
const INPUT = Buffer.from("Day one. Left the harbour at six with the tide.\n");

interface Harness {
  url: string;
  server: http.Server;
  jobs: Map<bigint, JobView>;
  received: { jobId: bigint; artifact: string }[];
  accepted: { modelId: bigint; uploader: string; files: string[] }[];
  refused: { jobId: bigint; problem: InputProblem }[];
  deps: ApiDeps;
}

async function harness(): Promise<Harness> {
  const store = createLocalArtifactStore({ dir: fs.mkdtempSync(path.join(os.tmpdir(), "ph-api-store-")) });
  const jobs = new Map<bigint, JobView>();
  const received: Harness["received"] = [];
  const accepted: Harness["accepted"] = [];
  const refused: Harness["refused"] = [];
  jobs.set(1n, {
    requester: requester.address,
    inputHash: sha256Hex(INPUT),
    acceptsInput: true,
    status: { state: "claimed" },
  });
  const deps: ApiDeps = {
    domain,
    store,
    getJob: async (id) => jobs.get(id),
    checkInput: async (_id, bytes) => checkJobInput("train", bytes, { file: "the uploaded input" }),
    inputRefused: async (jobId, problem) => {
      refused.push({ jobId, problem });
    },
    modelOwner: async (id) => (id === 5n ? owner.address : undefined),
    nonces: memoryNonceBook(),
    quotas: createQuotas({ windowMs: 60_000, maxRequests: 1000, maxBytes: 1e9 }),
    inputReceived: async (jobId, artifact) => {
      received.push({ jobId, artifact });
    },
    acceptModel: async (modelId, uploader, dir) => {
      if (uploader !== owner.address) throw new ApiError(403, "NOT_OWNER", "not the model's owner");
      accepted.push({ modelId, uploader, files: fs.readdirSync(dir).sort() });
      return { weightsRoot: ethers.ZeroHash };
    },
    health: () => ({ ok: true }),
    metrics: () => "posthuman_up 1\n",
    limits: { maxInputBytes: 1024, maxModelBytes: 3 * 1024 ** 3 },
    tmpDir: fs.mkdtempSync(path.join(os.tmpdir(), "ph-api-tmp-")),
  };
  const server = createApiServer(deps);
  const url = await listen(server, "127.0.0.1", 0);
  return { url, server, jobs, received, accepted, refused, deps };
}

async function upload(h: Harness, jobId: bigint, body: Buffer, signer: ethers.Signer, inputHash = sha256Hex(body)) {
  const headers = await signFresh(signer, domain, { type: "InputUpload", value: { jobId, inputHash } });
  return fetch(`${h.url}/jobs/${jobId}/input`, { method: "PUT", body: new Uint8Array(body), headers });
}

describe("worker HTTP API", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(() => {
    h.server.close();
    h.server.closeAllConnections();
  });

  describe("PUT /jobs/:id/input", () => {
    it("accepts the requester's input when it hashes to the on-chain commitment", async () => {
      const res = await upload(h, 1n, INPUT, requester);
      expect(res.status).to.equal(200);
      expect(h.received).to.deep.equal([{ jobId: 1n, artifact: sha256Hex(INPUT).slice(2) }]);
    });

    it("answers 507 DISK_FULL when the worker's disk is full, and the SDK tells the requester how to get paid back", async () => {
      const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      h.deps.store = { ...h.deps.store, putFile: () => Promise.reject(enospc) };
      const res = await upload(h, 1n, INPUT, requester);
      expect(res.status).to.equal(507);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).to.deep.equal({
        code: "DISK_FULL",
        message: "the worker's disk is full: try again later, or use another worker",
      });
      expect(h.received).to.deep.equal([]);
      const e = await new WorkerApi(h.url, domain).uploadInput(requester, 1n, INPUT).catch((x: unknown) => x);
      const sdk = explainInputRefusal(e, 1n, "corpus.txt", "Claimed") as SdkError;
      expect(sdk.code).to.equal("INPUT_NOT_DELIVERED");
      expect(sdk.message).to.contain("corpus.txt did not reach the worker");
      expect(sdk.message).to.contain("the worker's disk is full: try again later, or use another worker (DISK_FULL)");
    });

    it("refuses input that does not hash to the commitment", async () => {
      const other = Buffer.from("something else\n");
      const res = await upload(h, 1n, other, requester, sha256Hex(INPUT));
      expect(res.status).to.equal(422);
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal("INPUT_HASH_MISMATCH");
      expect(h.received).to.deep.equal([]);
    });

    it("refuses an upload signed by someone other than the requester", async () => {
      const res = await upload(h, 1n, INPUT, stranger);
      expect(res.status).to.equal(403);
      expect(h.received).to.deep.equal([]);
    });

    it("takes a contract requester's input signed by a key the contract approves (ERC-1271), and no other", async () => {
      // Job 2's requester is a contract that, like FinetuneBounty, approves its sponsor's signatures of a digest.
      const contract = ethers.Wallet.createRandom().address;
      const sponsor = owner;
      h.jobs.set(2n, {
        requester: contract,
        inputHash: sha256Hex(INPUT),
        acceptsInput: true,
        status: { state: "claimed" },
      });
      const asked: string[] = [];
      h.deps.contractSignatureValid = async (account, digest, sig) => {
        asked.push(digest);
        return account === contract && ethers.recoverAddress(digest, sig) === sponsor.address;
      };
      expect((await upload(h, 2n, INPUT, stranger)).status).to.equal(403);
      expect(h.received).to.deep.equal([]);
      expect((await upload(h, 2n, INPUT, sponsor)).status).to.equal(200);
      expect(h.received).to.deep.equal([{ jobId: 2n, artifact: sha256Hex(INPUT).slice(2) }]);
      // Each upload's digest covers its own expiry and nonce.
      expect(asked).to.have.length(2);
      expect(asked[0]).to.not.equal(asked[1]);
      // An EOA requester's own signature never needs the contract check.
      expect((await upload(h, 1n, INPUT, requester)).status).to.equal(200);
      expect(asked).to.have.length(2);
    });

    it("refuses input above the size limit while streaming", async () => {
      const big = Buffer.alloc(4000, 0x61);
      h.jobs.set(2n, { requester: requester.address, inputHash: sha256Hex(big), acceptsInput: true, status: {} });
      expect((await upload(h, 2n, big, requester)).status).to.equal(413); // declared length
      // Chunked, with no declared length: refused while streaming, and nothing is stored.
      const headers = await signFresh(requester, domain, {
        type: "InputUpload",
        value: { jobId: 2n, inputHash: sha256Hex(big) },
      });
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 8; i++) c.enqueue(big.subarray(i * 500, (i + 1) * 500));
          c.close();
        },
      });
      const res = await fetch(`${h.url}/jobs/2/input`, {
        method: "PUT",
        body,
        headers,
        duplex: "half",
      } as RequestInit);
      expect(res.status).to.equal(413);
      expect(await h.deps.store.has(sha256Hex(big).slice(2))).to.equal(false);
    });

    it("refuses committed input that breaks the input rules, says why, has the job failed, and stores nothing", async () => {
      const cases: [Buffer, string][] = [
        [Buffer.from([0x61, 0xff, 0xfe, 0x62]), "DATASET_INVALID_UTF8"],
        [Buffer.from([0x61, 0x00, 0x62]), "DATASET_BINARY"],
        [Buffer.from('{"txt": "no text field"}\n'), "DATASET_INVALID_JSONL"],
      ];
      for (const [bad, code] of cases) {
        h.jobs.set(3n, { requester: requester.address, inputHash: sha256Hex(bad), acceptsInput: true, status: {} });
        const res = await upload(h, 3n, bad, requester);
        expect(res.status).to.equal(422);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).to.equal(code);
        expect(body.error.message).to.match(/fails it on chain now and the fee is refunded/);
        expect(await h.deps.store.has(sha256Hex(bad).slice(2))).to.equal(false);
      }
      expect(h.refused.map((r) => r.problem.code)).to.deep.equal(cases.map(([, c]) => c));
      expect(h.received).to.deep.equal([]);
    });

    it("never stores refused content: a body that does not hash to the commitment is deleted", async () => {
      const other = Buffer.from("not the committed bytes at all\n");
      expect((await upload(h, 1n, other, requester, sha256Hex(INPUT))).status).to.equal(422);
      expect(await h.deps.store.has(sha256Hex(other).slice(2))).to.equal(false);
      expect(fs.readdirSync(h.deps.tmpDir as string)).to.deep.equal([]);
    });

    it("refuses a replayed, an expired and a far-future signature", async () => {
      const headers = await signFresh(requester, domain, {
        type: "InputUpload",
        value: { jobId: 1n, inputHash: sha256Hex(INPUT) },
      });
      const put = (hd: Record<string, string>) =>
        fetch(`${h.url}/jobs/1/input`, { method: "PUT", body: new Uint8Array(INPUT), headers: hd });
      expect((await put(headers)).status).to.equal(200);
      const again = await put(headers);
      expect(again.status).to.equal(409);
      expect(((await again.json()) as { error: { code: string } }).error.code).to.equal("REPLAYED");
      for (const [ttl, code] of [
        [-10, "EXPIRED"],
        [7200, "EXPIRY_TOO_FAR"],
      ] as const) {
        const f = freshness(ttl);
        const value = { jobId: 1n, inputHash: sha256Hex(INPUT), ...f };
        const sig = await signAuth(requester, domain, { type: "InputUpload", value });
        const res = await put({
          "x-posthuman-signature": sig,
          "x-posthuman-expiry": f.expiry.toString(),
          "x-posthuman-nonce": f.nonce,
        });
        expect(res.status).to.equal(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).to.equal(code);
      }
    });

    it("holds each address to its quota of requests and bytes per window", async () => {
      h.deps.quotas = createQuotas({ windowMs: 60_000, maxRequests: 2, maxBytes: 1e9 });
      expect((await upload(h, 1n, INPUT, requester)).status).to.equal(200);
      expect((await upload(h, 1n, INPUT, requester)).status).to.equal(200);
      const third = await upload(h, 1n, INPUT, requester);
      expect(third.status).to.equal(429);
      expect(Number(third.headers.get("retry-after"))).to.be.greaterThan(0);
      h.deps.quotas = createQuotas({ windowMs: 60_000, maxRequests: 100, maxBytes: INPUT.length + 10 });
      expect((await upload(h, 1n, INPUT, requester)).status).to.equal(200);
      expect((await upload(h, 1n, INPUT, requester)).status).to.equal(429);
    });

    it("refuses unsigned uploads, unknown jobs and closed jobs", async () => {
      expect((await fetch(`${h.url}/jobs/1/input`, { method: "PUT", body: INPUT })).status).to.equal(401);
      expect((await upload(h, 9n, INPUT, requester)).status).to.equal(404);
      h.jobs.set(1n, { ...h.jobs.get(1n)!, acceptsInput: false });
      expect((await upload(h, 1n, INPUT, requester)).status).to.equal(409);
    });
  });

  describe("GET /jobs/:id/result", () => {
    const result = Buffer.from('{"outputs":["hello"]}');
    async function read(signer: ethers.Signer, expiry = BigInt(Math.floor(Date.now() / 1000) + 60)) {
      const sig = await signAuth(signer, domain, { type: "ResultRequest", value: { jobId: 1n, expiry } });
      return fetch(`${h.url}/jobs/1/result`, {
        headers: { "x-posthuman-signature": sig, "x-posthuman-expiry": expiry.toString() },
      });
    }
    beforeEach(async () => {
      const put = await h.deps.store.put(result);
      h.jobs.set(1n, { ...h.jobs.get(1n)!, resultArtifact: put.hash });
    });

    it("gives the result to the requester", async () => {
      const res = await read(requester);
      expect(res.status).to.equal(200);
      expect(Buffer.from(await res.arrayBuffer())).to.deep.equal(result);
    });

    it("refuses anyone else, expired signatures, and one valid for longer than an hour", async () => {
      expect((await read(stranger)).status).to.equal(403);
      expect((await read(requester, 1000n)).status).to.equal(401);
      // A read has no nonce: a signature good for a week could be used by whoever saw it, for a week.
      const week = await read(requester, BigInt(Math.floor(Date.now() / 1000) + 7 * 86400));
      expect([week.status, ((await week.json()) as { error: { code: string } }).error.code]).to.deep.equal([
        401,
        "EXPIRY_TOO_FAR",
      ]);
    });
  });

  describe("PUT /models/:id", () => {
    const files: Record<string, Buffer> = {
      "config.json": Buffer.from('{"model_type":"gpt2"}'),
      "tokenizer.json": Buffer.from("{}"),
    };
    const entries = (names: string[]): ManifestEntry[] =>
      names.map((p) => ({ path: p, size: files[p]?.length ?? 3, sha256: sha256Hex(files[p] ?? Buffer.from("abc")) }));
    async function send(list: ManifestEntry[], body: Buffer, signer: ethers.Signer = owner) {
      const signed = await signFresh(signer, domain, {
        type: "ModelUpload",
        value: { modelId: 5n, manifestHash: manifestHash(list) },
      });
      return fetch(`${h.url}/models/5`, {
        method: "PUT",
        body: new Uint8Array(body),
        headers: { ...signed, "x-posthuman-manifest": Buffer.from(JSON.stringify(list)).toString("base64") },
      });
    }

    it("receives the files of the manifest from the model's owner", async () => {
      const list = entries(["config.json", "tokenizer.json"]);
      const res = await send(list, Buffer.concat([files["config.json"], files["tokenizer.json"]]));
      expect(res.status).to.equal(200);
      expect(h.accepted).to.deep.equal([
        { modelId: 5n, uploader: owner.address, files: ["config.json", "tokenizer.json"] },
      ]);
    });

    it("refuses file names outside the model layout (no path can escape)", async () => {
      for (const name of ["../evil.json", "/etc/passwd", "weights.bin"]) {
        const res = await send([{ path: name, size: 3, sha256: sha256Hex(Buffer.from("abc")) }], Buffer.from("abc"));
        expect(res.status).to.equal(400);
      }
      expect(h.accepted).to.deep.equal([]);
    });

    it("refuses a body whose bytes do not match the manifest", async () => {
      const list = entries(["config.json"]);
      const res = await send(list, Buffer.from('{"model_type":"gpt3"}'));
      expect(res.status).to.equal(422);
      expect(h.accepted).to.deep.equal([]);
    });

    it("refuses an upload by someone other than the owner", async () => {
      const list = entries(["config.json"]);
      expect((await send(list, files["config.json"], stranger)).status).to.equal(403);
    });

    it("refuses a stranger's 2 GiB upload from its headers, before reading the body", async () => {
      const size = 2 * 1024 ** 3;
      const list: ManifestEntry[] = [{ path: "model.safetensors", size, sha256: "0x" + "ab".repeat(32) }];
      const signed = await signFresh(stranger, domain, {
        type: "ModelUpload",
        value: { modelId: 5n, manifestHash: manifestHash(list) },
      });
      const { status, written } = await streamUpload(`${h.url}/models/5`, size, {
        ...signed,
        "x-posthuman-manifest": Buffer.from(JSON.stringify(list)).toString("base64"),
      });
      expect(status).to.equal(403);
      // The answer came while the client was still sending: at most what the sockets' buffers held, not 2 GiB.
      expect(written).to.be.lessThan(64 * 1024 ** 2);
      expect(h.accepted).to.deep.equal([]);
      expect(fs.readdirSync(h.deps.tmpDir as string)).to.deep.equal([]);
    });

    it("closes every file of an upload whose body ends short (no leaked descriptor)", async () => {
      const list = entries(["config.json", "tokenizer.json"]);
      const body = Buffer.concat([files["config.json"], files["tokenizer.json"]]);
      const before = openFds();
      for (let i = 0; i < 5; i++) {
        const signed = await signFresh(owner, domain, {
          type: "ModelUpload",
          value: { modelId: 5n, manifestHash: manifestHash(list) },
        });
        // Declares the full length, sends all but 5 bytes, and hangs up.
        await shortUpload(`${h.url}/models/5`, body, body.length - 5, {
          ...signed,
          "x-posthuman-manifest": Buffer.from(JSON.stringify(list)).toString("base64"),
        });
      }
      await new Promise((r) => setTimeout(r, 300));
      const leaked = openFds().filter((f) => !before.includes(f) && /ph-upload-/.test(f));
      expect(leaked).to.deep.equal([]);
      expect(fs.readdirSync(h.deps.tmpDir as string)).to.deep.equal([]);
      expect(h.accepted).to.deep.equal([]);
    });
  });

  describe("POST /models/inspect", () => {
    const config = Buffer.from('{"model_type":"gpt2"}');
    const list: ManifestEntry[] = [{ path: "config.json", size: config.length, sha256: sha256Hex(config) }];
    const manifest = Buffer.from(JSON.stringify(list)).toString("base64");
    beforeEach(() => {
      h.deps.inspectModel = async (dir) => ({
        weightsRoot: sha256Hex(fs.readFileSync(path.join(dir, "config.json"))),
        configHash: ethers.ZeroHash,
      });
    });

    it("is refused unsigned, and answers a signed request", async () => {
      const unsigned = await fetch(`${h.url}/models/inspect`, {
        method: "POST",
        body: new Uint8Array(config),
        headers: { "x-posthuman-manifest": manifest },
      });
      expect(unsigned.status).to.equal(401);
      const signed = await signFresh(stranger, domain, {
        type: "ModelInspect",
        value: { manifestHash: manifestHash(list) },
      });
      const res = await fetch(`${h.url}/models/inspect`, {
        method: "POST",
        body: new Uint8Array(config),
        headers: { ...signed, "x-posthuman-manifest": manifest },
      });
      expect(res.status).to.equal(200);
      expect(((await res.json()) as { weightsRoot: string }).weightsRoot).to.equal(sha256Hex(config));
    });

    it("refuses a folder over the inspection limit from the manifest alone", async () => {
      h.deps.limits.maxInspectBytes = 1024;
      const big: ManifestEntry[] = [{ path: "model.safetensors", size: 2 * 1024 ** 3, sha256: "0x" + "cd".repeat(32) }];
      const signed = await signFresh(stranger, domain, {
        type: "ModelInspect",
        value: { manifestHash: manifestHash(big) },
      });
      const { status, written } = await streamUpload(
        `${h.url}/models/inspect`,
        2 * 1024 ** 3,
        {
          ...signed,
          "x-posthuman-manifest": Buffer.from(JSON.stringify(big)).toString("base64"),
        },
        "POST",
      );
      expect(status).to.equal(413);
      expect(written).to.be.lessThan(64 * 1024 ** 2);
    });
  });

  describe("POST /models/:id/check-input", () => {
    // Model 7 is held, with a context of 16 tokens and a tokenizer that counts words (the real one is checked in
    // admission.test.ts, through the SDK and a real worker).
    const words = (t: string) => t.split(/\s+/).filter(Boolean).length;
    const infer = { kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } } as const;
    beforeEach(() => {
      h.deps.checkModelInput = async (modelId, p, bytes) =>
        modelId === 7n && p.kind === "Infer"
          ? checkJobInput("infer", bytes, {
              file: "the input",
              nPositions: 16,
              maxTokens: p.params.maxTokens,
              countTokens: words,
            })
          : undefined;
    });
    const check = async (
      modelId: bigint,
      body: Buffer,
      o: { signer?: ethers.Wallet; query?: string; headers?: Record<string, string>; hash?: string } = {},
    ) => {
      const inputHash = o.hash ?? sha256Hex(body);
      const signed = await signFresh(o.signer ?? stranger, domain, {
        type: "InputCheck",
        value: { modelId, inputHash },
      });
      const query = o.query ?? `kind=Infer&params=${encodeJobParams(infer)}`;
      const res = await fetch(`${h.url}/models/${modelId}/check-input?${query}`, {
        method: "POST",
        body: new Uint8Array(body),
        headers: { ...signed, "x-posthuman-input-hash": inputHash, ...o.headers },
      });
      return {
        status: res.status,
        body: (await res.json()) as { ok?: boolean; error?: { code: string; message: string } },
      };
    };

    it("answers anyone's signed request with the model's tokenizer: ok, or the rule the input breaks", async () => {
      expect(
        await check(7n, Buffer.from("one two three four five six seven eight nine ten eleven twelve\n")),
      ).to.deep.equal({
        status: 200,
        body: { ok: true },
      });
      const long = await check(
        7n,
        Buffer.from("short\none two three four five six seven eight nine ten eleven twelve thirteen\n"),
      );
      expect(long.status).to.equal(422);
      expect(long.body.error).to.deep.equal({
        code: "PROMPT_TOO_LONG",
        message: "prompt 2 of the input has 13 tokens; with maxTokens 4 the model's context of 16 leaves room for 12",
      });
      const unknown = await check(8n, Buffer.from("a prompt\n"));
      expect([unknown.status, unknown.body.error?.code]).to.deep.equal([404, "UNKNOWN_MODEL"]);
      expect(fs.readdirSync(h.deps.tmpDir!)).to.deep.equal([]); // nothing kept
    });

    it("refuses an unsigned or replayed request, a body that is not the one signed, a bad query and an oversized input", async () => {
      const body = Buffer.from("a prompt\n");
      const unsigned = await fetch(`${h.url}/models/7/check-input?kind=Infer&params=${encodeJobParams(infer)}`, {
        method: "POST",
        body: new Uint8Array(body),
      });
      expect(unsigned.status).to.equal(401);
      const other = await check(7n, body, { hash: sha256Hex(Buffer.from("another prompt\n")) });
      expect([other.status, other.body.error?.code]).to.deep.equal([422, "INPUT_HASH_MISMATCH"]);
      for (const query of ["kind=Sell&params=0x00", "kind=Infer&params=0x1234", "kind=Infer"]) {
        const bad = await check(7n, body, { query });
        expect([bad.status, bad.body.error?.code], query).to.deep.equal([400, "BAD_PARAMS"]);
      }
      const big = await check(7n, Buffer.alloc(2048, 0x61));
      expect([big.status, big.body.error?.code]).to.deep.equal([413, "INPUT_TOO_LARGE"]);
      const signed = await signFresh(stranger, domain, {
        type: "InputCheck",
        value: { modelId: 7n, inputHash: sha256Hex(body) },
      });
      const send = () =>
        fetch(`${h.url}/models/7/check-input?kind=Infer&params=${encodeJobParams(infer)}`, {
          method: "POST",
          body: new Uint8Array(body),
          headers: { ...signed, "x-posthuman-input-hash": sha256Hex(body) },
        });
      expect((await send()).status).to.equal(200);
      expect((await send()).status).to.equal(409); // the same nonce twice
    });

    it("checks one input at a time, each once its body is in: a slow sender holds nobody up", async () => {
      const order: string[] = [];
      let release = () => {};
      const held = new Promise<void>((r) => (release = r));
      const inner = h.deps.checkModelInput!;
      h.deps.checkModelInput = async (modelId, p, bytes) => {
        const prompt = bytes.toString().trim();
        order.push(`start ${prompt}`);
        if (prompt === "first") await held;
        order.push(`end ${prompt}`);
        return inner(modelId, p, bytes);
      };
      // A sender that declares 1000 bytes and sends 10 does not hold the checks up. (It is another client, at
      // another loopback address: one address has at most two checks under way, see api-limits.test.ts.)
      const inputHash = sha256Hex(Buffer.alloc(1000, 0x61));
      const signed = await signFresh(stranger, domain, { type: "InputCheck", value: { modelId: 7n, inputHash } });
      const slow = http.request(`${h.url}/models/7/check-input?kind=Infer&params=${encodeJobParams(infer)}`, {
        method: "POST",
        headers: { ...signed, "x-posthuman-input-hash": inputHash, "content-length": "1000" },
        localAddress: "127.0.0.2",
      });
      slow.on("error", () => undefined);
      slow.write(Buffer.alloc(10, 0x61));
      const first = check(7n, Buffer.from("first\n"));
      await new Promise((r) => setTimeout(r, 200));
      const second = check(7n, Buffer.from("second\n"));
      await new Promise((r) => setTimeout(r, 200));
      expect(order).to.deep.equal(["start first"]); // the second waits its turn
      release();
      expect((await first).status).to.equal(200);
      expect((await second).status).to.equal(200);
      expect(order).to.deep.equal(["start first", "end first", "start second", "end second"]);
      slow.destroy();
    });
  });

  describe("GET /models/:id/quote", () => {
    const infer = encodeJobParams({ kind: "Infer", params: { maxTokens: 4, temperature: 0, topK: 0 } });
    const asked: unknown[] = [];
    beforeEach(() => {
      asked.length = 0;
      h.deps.quoteJob = async (modelId, job) => {
        asked.push({ modelId, ...job });
        return modelId === 7n ? { take: true, estimateSec: 6, minFee: "0", minTtlSec: 52 } : undefined;
      };
    });
    const quote = async (path: string) => {
      const res = await fetch(`${h.url}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
    };

    it("passes the planned job to the worker and answers its decision; 404 for a model it does not serve", async () => {
      const ok = await quote(`/models/7/quote?kind=Infer&params=${infer}&fee=1000&ttl=900&inputBytes=22&prompts=1`);
      expect(ok).to.deep.equal({ status: 200, body: { take: true, estimateSec: 6, minFee: "0", minTtlSec: 52 } });
      expect(asked).to.deep.equal([
        {
          modelId: 7n,
          kind: "infer",
          params: infer,
          fee: 1000n,
          ttlSec: 900,
          inputBytes: 22,
          prompts: 1,
        },
      ]);
      const unknown = await quote(`/models/8/quote?kind=Infer&params=${infer}&fee=1&ttl=900`);
      expect([unknown.status, unknown.body.error?.code]).to.deep.equal([404, "UNKNOWN_MODEL"]);
      // Built without quotes: it says so, not that it lacks the model (which a client reads as "declines").
      h.deps.quoteJob = undefined;
      const none = await quote(`/models/7/quote?kind=Infer&params=${infer}&fee=1&ttl=900`);
      expect([none.status, none.body.error?.code]).to.deep.equal([404, "NOT_FOUND"]);
    });

    it("refuses a query it cannot read, before asking the worker", async () => {
      for (const [query, code] of [
        [`kind=Infer&params=${infer}&ttl=900`, "BAD_QUOTE"], // no fee
        [`kind=Infer&params=${infer}&fee=1`, "BAD_QUOTE"], // no ttl
        [`kind=Infer&params=${infer}&fee=-1&ttl=900`, "BAD_QUOTE"],
        [`kind=Infer&params=${infer}&fee=1&ttl=1e9`, "BAD_QUOTE"],
        [`kind=Infer&params=${infer}&fee=1&ttl=900&inputBytes=${"9".repeat(16)}`, "BAD_QUOTE"],
        [`kind=Infer&params=0x12&fee=1&ttl=900`, "BAD_PARAMS"],
      ]) {
        const bad = await quote(`/models/7/quote?${query}`);
        expect([bad.status, bad.body.error?.code], query).to.deep.equal([400, code]);
      }
      expect(asked).to.deep.equal([]);
    });
  });

  it("serves health and metrics", async () => {
    expect(await (await fetch(`${h.url}/healthz`)).json()).to.deep.equal({ ok: true });
    expect(await (await fetch(`${h.url}/metrics`)).text()).to.equal("posthuman_up 1\n");
  });
});

/** The targets of this process's open file descriptors (Linux). */
function openFds(): string[] {
  return fs.readdirSync("/proc/self/fd").map((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return "";
    }
  });
}

/**
 * PUTs (or POSTs) `size` bytes of zeros declared by content-length, as fast as the socket takes them, until the
 * server answers; returns the status and how many bytes were handed to the socket by then.
 */
function streamUpload(
  url: string,
  size: number,
  headers: Record<string, string>,
  method = "PUT",
): Promise<{ status: number; written: number }> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1024 * 1024);
    let written = 0;
    let done = false;
    const req = http.request(url, { method, headers: { ...headers, "content-length": String(size) } }, (res) => {
      done = true;
      res.resume();
      resolve({ status: res.statusCode ?? 0, written });
      req.destroy();
    });
    req.on("error", (e) => (done ? undefined : reject(e)));
    const pump = () => {
      while (!done && written < size) {
        written += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
    };
    pump();
  });
}

/** Sends `sent` bytes of `body` with the full length declared, then hangs up. */
function shortUpload(url: string, body: Buffer, sent: number, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: "PUT", headers: { ...headers, "content-length": String(body.length) } });
    req.on("error", () => resolve());
    req.on("response", (res) => {
      res.resume();
      resolve();
    });
    req.write(body.subarray(0, sent), () => setTimeout(() => req.destroy(), 50));
    req.on("close", () => resolve());
  });
}
