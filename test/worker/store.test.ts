import { expect } from "chai";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import {
  ArtifactStoreError,
  assertSafeRelativePath,
  createLocalArtifactStore,
  type ArtifactStore,
} from "../../offchain/worker/store";

const sha = (b: Buffer | string): string => crypto.createHash("sha256").update(b).digest("hex");

async function failure(p: Promise<unknown>): Promise<ArtifactStoreError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, "expected a rejection").to.be.instanceOf(ArtifactStoreError);
  return e as ArtifactStoreError;
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .sort();
}

describe("createLocalArtifactStore", () => {
  let dir: string;
  let root: string;
  let store: ArtifactStore;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ph-store-"));
    root = path.join(dir, "store");
    store = createLocalArtifactStore({ dir: root, maxBytes: 1024 * 1024 });
  });

  describe("put / get", () => {
    it("stores bytes and streams under their sha256 and gives them back", async () => {
      const data = Buffer.from("weights of M1\n".repeat(1000));
      const a = await store.put(data);
      expect(a).to.deep.equal({ hash: sha(data), size: data.length });
      const b = await store.put(Readable.from([data.subarray(0, 5000), data.subarray(5000)]));
      expect(b).to.deep.equal(a); // same content, one object
      expect(filesUnder(path.join(root, "objects"))).to.have.length(1);
      expect(await store.has(a.hash)).to.equal(true);
      expect(await store.size(a.hash)).to.equal(data.length);
      expect((await store.getBuffer(a.hash)).equals(data)).to.equal(true);
      const streamed: Buffer[] = [];
      for await (const c of await store.get(a.hash)) streamed.push(c as Buffer);
      expect(Buffer.concat(streamed).equals(data)).to.equal(true);
    });

    it("stores a file with putFile, and refuses an unknown or malformed hash", async () => {
      const f = path.join(dir, "in.bin");
      fs.writeFileSync(f, crypto.randomBytes(3000));
      const r = await store.putFile(f);
      expect(r.hash).to.equal(sha(fs.readFileSync(f)));
      expect((await failure(store.get("0".repeat(64)))).kind).to.equal("not-found");
      expect(await store.has("f".repeat(64))).to.equal(false);
      for (const bad of ["../../../etc/passwd", "ab/../../x", "A".repeat(64), "0x" + "0".repeat(62), ""]) {
        expect((await failure(store.get(bad))).kind, bad).to.equal("bad-hash");
      }
    });

    it("aborts a streaming put past the size limit, without reading the rest, and leaves no file", async () => {
      let produced = 0;
      const endless = new Readable({
        read() {
          produced++;
          this.push(Buffer.alloc(64 * 1024, 7));
        },
      });
      const e = await failure(store.put(endless, { maxBytes: 256 * 1024 }));
      expect(e.kind).to.equal("too-large");
      expect(produced).to.be.lessThan(32); // stopped soon after 256 KiB, not at the store's 1 MiB
      expect(endless.destroyed).to.equal(true);
      expect(filesUnder(root)).to.deep.equal([]);

      // The store's own limit applies when the call asks for more.
      const big = Buffer.alloc(1024 * 1024 + 1);
      expect((await failure(store.put(big, { maxBytes: 10 * 1024 * 1024 }))).kind).to.equal("too-large");
      expect((await store.put(big.subarray(1))).size).to.equal(1024 * 1024);
    });

    it("leaves no partial object when the source fails midway", async () => {
      async function* failing() {
        yield Buffer.from("first part of the upload");
        throw new Error("connection reset by the client");
      }
      const e = await store.put(failing()).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      expect(e?.message).to.equal("connection reset by the client");
      expect(filesUnder(root)).to.deep.equal([]);
    });

    it("removes temp files of a crashed process when it opens, and keeps objects read-only", async () => {
      const { hash } = await store.put(Buffer.from("kept"));
      const stray = path.join(root, "tmp", "999999999-crashed.part");
      fs.writeFileSync(stray, "half");
      createLocalArtifactStore({ dir: root });
      expect(fs.existsSync(stray)).to.equal(false);
      const mode = fs.statSync(path.join(root, "objects", hash.slice(0, 2), hash)).mode & 0o222;
      expect(mode).to.equal(0);
    });
  });

  describe("trees", () => {
    function makeModel(at: string): void {
      fs.mkdirSync(path.join(at, "onnx"), { recursive: true });
      fs.writeFileSync(path.join(at, "config.json"), '{"model_type":"gpt2"}');
      fs.writeFileSync(path.join(at, "model.safetensors"), crypto.randomBytes(5000));
      fs.writeFileSync(path.join(at, "onnx", "model.onnx"), crypto.randomBytes(2000));
    }

    it("puts a folder as a manifest of files and materializes it elsewhere, byte for byte", async () => {
      const src = path.join(dir, "m1");
      makeModel(src);
      const t = await store.putTree(src);
      expect(t.manifest.files.map((f) => f.path)).to.deep.equal([
        "config.json",
        "model.safetensors",
        "onnx/model.onnx",
      ]);
      expect(t.size).to.equal(7000 + 21);
      expect(await store.getTree(t.root)).to.deep.equal(t.manifest);
      expect((await store.putTree(src)).root).to.equal(t.root); // deterministic

      const dest = path.join(dir, "out", "m1-copy");
      await store.materialize(t.root, dest);
      expect(filesUnder(dest)).to.deep.equal(["config.json", "model.safetensors", path.join("onnx", "model.onnx")]);
      for (const f of filesUnder(src)) {
        expect(fs.readFileSync(path.join(dest, f)).equals(fs.readFileSync(path.join(src, f)))).to.equal(true);
      }
      expect(fs.readdirSync(path.dirname(dest))).to.deep.equal(["m1-copy"]); // no staging folder left

      const occupied = path.join(dir, "busy");
      fs.mkdirSync(occupied);
      fs.writeFileSync(path.join(occupied, "a"), "x");
      expect((await failure(store.materialize(t.root, occupied))).kind).to.equal("unsafe-path");
    });

    it("refuses a folder holding a symbolic link, and a tree past its size limit", async () => {
      const src = path.join(dir, "m2");
      makeModel(src);
      fs.symlinkSync("/etc/passwd", path.join(src, "onnx", "leak"));
      const e = await failure(store.putTree(src));
      expect(e.kind).to.equal("unsafe-path");
      expect(e.message).to.include("onnx/leak");
      fs.rmSync(path.join(src, "onnx", "leak"));
      expect((await failure(store.putTree(src, { maxBytes: 6000 }))).kind).to.equal("too-large");
    });

    it("refuses a manifest whose paths would leave the destination, writing nothing", async () => {
      const blob = await store.put(Buffer.from("evil"));
      for (const p of ["../escape", "a/../../escape", "/etc/cron.d/x", "a//b", "./a", "C:/x", "a\\..\\b"]) {
        const manifest = { version: 1, files: [{ path: p, hash: blob.hash, size: 4 }] };
        const { hash } = await store.put(Buffer.from(JSON.stringify(manifest)));
        const dest = path.join(dir, "dest", "x");
        const e = await failure(store.materialize(hash, dest));
        expect(e.kind, p).to.equal("unsafe-path");
        expect(filesUnder(dir).filter((f) => f.includes("escape"))).to.deep.equal([]);
        expect(fs.existsSync(dest)).to.equal(false);
      }
      expect(() => assertSafeRelativePath("models/m1/config.json")).to.not.throw();
    });

    it("detects an object changed on disk while materializing, and leaves nothing behind", async () => {
      const src = path.join(dir, "m3");
      makeModel(src);
      const t = await store.putTree(src);
      const victim = t.manifest.files[1].hash;
      const file = path.join(root, "objects", victim.slice(0, 2), victim);
      fs.chmodSync(file, 0o644);
      fs.writeFileSync(file, "tampered");
      const dest = path.join(dir, "m3-copy");
      expect((await failure(store.materialize(t.root, dest))).kind).to.equal("corrupt");
      expect(fs.existsSync(dest)).to.equal(false);
      expect(fs.readdirSync(dir).filter((f) => f.includes("partial"))).to.deep.equal([]);
    });
  });

  describe("refs", () => {
    it("points a name at an object, moves it, and shows it to another store on the same directory", async () => {
      const a = await store.put(Buffer.from("tree A"));
      const b = await store.put(Buffer.from("tree B"));
      const ref = `weights/0x${"ab".repeat(32)}`;
      expect(await store.getRef(ref)).to.equal(undefined);
      await store.setRef(ref, a.hash);
      const other = createLocalArtifactStore({ dir: root }); // another worker process sharing the store
      expect(await other.getRef(ref)).to.equal(a.hash);
      await other.setRef(ref, b.hash);
      expect(await store.getRef(ref)).to.equal(b.hash);
      expect(filesUnder(path.join(root, "tmp"))).to.deep.equal([]);
    });

    it("refuses a ref that is not a safe relative name, or a target that is not a hash", async () => {
      const { hash } = await store.put(Buffer.from("x"));
      for (const bad of ["../escape", "/abs", "a//b", "weights/x y", ""]) {
        expect((await failure(store.setRef(bad, hash))).kind, bad).to.equal("unsafe-path");
      }
      expect((await failure(store.setRef("weights/x", "not-a-hash"))).kind).to.equal("bad-hash");
    });
  });
});
