import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type http from "node:http";
import { ethers } from "ethers";
import { createApiServer, listen, ApiError, type ApiDeps, type JobView } from "../../offchain/worker/api";
import { manifestHash, type ManifestEntry } from "../../offchain/protocol/model-upload";
import { authDigest, authDomain, sha256Hex, signAuth } from "../../offchain/protocol/auth";
import { createLocalArtifactStore } from "../../offchain/worker/store";

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
  deps: ApiDeps;
}

async function harness(): Promise<Harness> {
  const store = createLocalArtifactStore({ dir: fs.mkdtempSync(path.join(os.tmpdir(), "ph-api-store-")) });
  const jobs = new Map<bigint, JobView>();
  const received: Harness["received"] = [];
  const accepted: Harness["accepted"] = [];
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
    limits: { maxInputBytes: 1024, maxModelBytes: 4096 },
  };
  const server = createApiServer(deps);
  const url = await listen(server, "127.0.0.1", 0);
  return { url, server, jobs, received, accepted, deps };
}

async function upload(h: Harness, jobId: bigint, body: Buffer, signer: ethers.Signer, inputHash = sha256Hex(body)) {
  const sig = await signAuth(signer, domain, { type: "InputUpload", value: { jobId, inputHash } });
  return fetch(`${h.url}/jobs/${jobId}/input`, {
    method: "PUT",
    body: new Uint8Array(body),
    headers: { "x-posthuman-signature": sig },
  });
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
      const digest = authDigest(domain, { type: "InputUpload", value: { jobId: 2n, inputHash: sha256Hex(INPUT) } });
      expect((await upload(h, 2n, INPUT, stranger)).status).to.equal(403);
      expect(h.received).to.deep.equal([]);
      expect((await upload(h, 2n, INPUT, sponsor)).status).to.equal(200);
      expect(h.received).to.deep.equal([{ jobId: 2n, artifact: sha256Hex(INPUT).slice(2) }]);
      expect(asked).to.deep.equal([digest, digest]);
      // An EOA requester's own signature never needs the contract check.
      expect((await upload(h, 1n, INPUT, requester)).status).to.equal(200);
      expect(asked).to.have.length(2);
    });

    it("refuses input above the size limit while streaming", async () => {
      const big = Buffer.alloc(4000, 0x61);
      h.jobs.set(2n, { requester: requester.address, inputHash: sha256Hex(big), acceptsInput: true, status: {} });
      expect((await upload(h, 2n, big, requester)).status).to.equal(413); // declared length
      // Chunked, with no declared length: refused while streaming, and nothing is stored.
      const sig = await signAuth(requester, domain, {
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
        headers: { "x-posthuman-signature": sig },
        duplex: "half",
      } as RequestInit);
      expect(res.status).to.equal(413);
      expect(await h.deps.store.has(sha256Hex(big).slice(2))).to.equal(false);
    });

    it("refuses invalid UTF-8 and binary data", async () => {
      for (const bad of [Buffer.from([0x61, 0xff, 0xfe, 0x62]), Buffer.from([0x61, 0x00, 0x62])]) {
        h.jobs.set(3n, { requester: requester.address, inputHash: sha256Hex(bad), acceptsInput: true, status: {} });
        const res = await upload(h, 3n, bad, requester);
        expect(res.status).to.equal(415);
      }
      expect(h.received).to.deep.equal([]);
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

    it("refuses anyone else, and expired signatures", async () => {
      expect((await read(stranger)).status).to.equal(403);
      expect((await read(requester, 1000n)).status).to.equal(401);
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
      const sig = await signAuth(signer, domain, {
        type: "ModelUpload",
        value: { modelId: 5n, manifestHash: manifestHash(list) },
      });
      return fetch(`${h.url}/models/5`, {
        method: "PUT",
        body: new Uint8Array(body),
        headers: {
          "x-posthuman-signature": sig,
          "x-posthuman-manifest": Buffer.from(JSON.stringify(list)).toString("base64"),
        },
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
  });

  it("serves health and metrics", async () => {
    expect(await (await fetch(`${h.url}/healthz`)).json()).to.deep.equal({ ok: true });
    expect(await (await fetch(`${h.url}/metrics`)).text()).to.equal("posthuman_up 1\n");
  });
});
