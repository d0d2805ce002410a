import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { z } from "zod";

/** A sha256 content hash: 64 lower-case hex digits (no 0x). */
export type ArtifactHash = string;

/** What `put` accepts: bytes, or a stream of bytes (a file, an HTTP upload). */
export type ArtifactSource = Uint8Array | Readable | AsyncIterable<Uint8Array>;

export interface PutOptions {
  /** Refuse (and clean up) past this many bytes; the store's own limit applies when smaller. */
  maxBytes?: number;
}
export interface PutResult {
  hash: ArtifactHash;
  size: number;
}

/** One file of a tree: its path relative to the tree's root, with `/` separators. */
export interface TreeEntry {
  path: string;
  hash: ArtifactHash;
  size: number;
}
/** A folder as stored: files sorted by path (empty folders are not kept). Stored itself as an artifact. */
export interface TreeManifest {
  version: 1;
  files: TreeEntry[];
}
export interface PutTreeResult {
  /** The hash of the manifest: names the whole tree. */
  root: ArtifactHash;
  manifest: TreeManifest;
  /** Bytes of all files together. */
  size: number;
}

/**
 * Content-addressed artifact storage (models, datasets, job inputs and outputs). The local directory is the default;
 * an S3 or IPFS implementation keeps the same contract: objects are immutable and named by sha256 of their bytes.
 */
export interface ArtifactStore {
  put(source: ArtifactSource, opts?: PutOptions): Promise<PutResult>;
  putFile(file: string, opts?: PutOptions): Promise<PutResult>;
  has(hash: ArtifactHash): Promise<boolean>;
  /** Size in bytes, or undefined when absent. */
  size(hash: ArtifactHash): Promise<number | undefined>;
  /** A stream of the object's bytes; rejects with kind "not-found" when absent. */
  get(hash: ArtifactHash): Promise<Readable>;
  getBuffer(hash: ArtifactHash): Promise<Buffer>;
  /**
   * Stores every regular file under `dir` and a manifest of them; refuses symlinks and special files anywhere in it.
   * `maxBytes` bounds the files' total.
   */
  putTree(dir: string, opts?: PutOptions): Promise<PutTreeResult>;
  /** Reads and validates a manifest (paths are checked again: a manifest is data, maybe from elsewhere). */
  getTree(root: ArtifactHash): Promise<TreeManifest>;
  /**
   * Writes the tree into `dest`, which must not exist or be an empty folder. Files are checked against their hashes
   * while copied; the tree appears at `dest` all at once (built beside it, then renamed).
   */
  materialize(root: ArtifactHash, dest: string): Promise<TreeManifest>;
  /**
   * Points the name `ref` (a safe relative path such as `weights/0x…`) at a stored object, replacing what it pointed
   * at. Refs are how the workers sharing a store find what one of them stored (a model's tree by its weights root).
   */
  setRef(ref: string, hash: ArtifactHash): Promise<void>;
  /** The object `ref` points at, or undefined. */
  getRef(ref: string): Promise<ArtifactHash | undefined>;
}

export type ArtifactErrorKind = "too-large" | "not-found" | "bad-hash" | "unsafe-path" | "corrupt" | "bad-manifest";

export class ArtifactStoreError extends Error {
  override readonly name = "ArtifactStoreError";
  constructor(
    readonly kind: ArtifactErrorKind,
    message: string,
  ) {
    super(message);
  }
}

const HASH = /^[0-9a-f]{64}$/;

export function assertArtifactHash(hash: string): asserts hash is ArtifactHash {
  if (!HASH.test(hash)) {
    throw new ArtifactStoreError("bad-hash", `"${hash.slice(0, 80)}" is not a sha256 hash (64 lower-case hex digits).`);
  }
}

/**
 * Checks a tree-relative path: `/`-separated, not absolute, no `.`/`..`/empty segments, no backslash, NUL or drive
 * letter. Throws kind "unsafe-path" naming it.
 */
export function assertSafeRelativePath(p: string): void {
  const bad = (why: string): never => {
    throw new ArtifactStoreError("unsafe-path", `Path "${p.slice(0, 200)}" is refused: ${why}.`);
  };
  if (p.length === 0) bad("it is empty");
  if (p.length > 4096) bad("it is longer than 4096 characters");
  if (p.startsWith("/") || /^[A-Za-z]:/.test(p)) bad("it is absolute");
  if (p.includes("\\")) bad("it holds a backslash");
  if (p.includes("\0")) bad("it holds a NUL character");
  for (const seg of p.split("/")) {
    if (seg === "" || seg === "." || seg === "..") bad(`it holds a "${seg}" segment`);
  }
}

const ManifestSchema = z.object({
  version: z.literal(1),
  files: z.array(
    z.object({
      path: z.string(),
      hash: z.string().regex(HASH),
      size: z.number().int().nonnegative(),
    }),
  ),
});

export interface LocalArtifactStoreOptions {
  /** The store's directory (objects/ and tmp/ are created in it). */
  dir: string;
  /** Largest single object accepted (default: no limit). Per-call `maxBytes` can only lower it. */
  maxBytes?: number;
}

/**
 * The local content-addressed store: objects at `<dir>/objects/<first 2 hex>/<hash>`, read-only; refs at
 * `<dir>/refs/<ref>`, each holding one hash. Writes go to `<dir>/tmp/` first, are fsynced, then renamed into place
 * (atomic on one filesystem), so a reader never sees part of an object or of a ref and a crash leaves at most a stray
 * temp file (removed by the next `createLocalArtifactStore`). Several processes may share the directory.
 */
export function createLocalArtifactStore(opts: LocalArtifactStoreOptions): ArtifactStore {
  const root = path.resolve(opts.dir);
  const s: StoreDirs = {
    root,
    objects: path.join(root, "objects"),
    tmp: path.join(root, "tmp"),
    refs: path.join(root, "refs"),
    maxBytes: opts.maxBytes,
  };
  fs.mkdirSync(s.objects, { recursive: true });
  fs.mkdirSync(s.tmp, { recursive: true });
  removeDeadTemps(s.tmp);
  const store: ArtifactStore = {
    put: (source, o) => putObject(s, source, o),
    putFile: async (file, o) => putObject(s, fs.createReadStream(file), o),
    has: async (hash) => (await objectSize(s, hash)) !== undefined,
    size: (hash) => objectSize(s, hash),
    get: (hash) => getObject(s, hash),
    getBuffer: async (hash) => readAll(await getObject(s, hash)),
    putTree: (dir, o) => putTree(s, dir, o),
    getTree: (rootHash) => getTree(s, rootHash),
    setRef: (ref, hash) => setRef(s, ref, hash),
    getRef: (ref) => getRef(s, ref),
    materialize: (rootHash, dest) => materialize(s, rootHash, dest),
  };
  return store;
}

/** Where a local store keeps its objects, temp files and refs, and its own size limit. */
interface StoreDirs {
  root: string;
  objects: string;
  tmp: string;
  refs: string;
  maxBytes?: number;
}

/**
 * Removes the temp files of dead processes: those of a crashed put were never renamed, so never part of the store (a
 * temp file is named after the pid that writes it; other live processes may share the store).
 */
function removeDeadTemps(tmp: string): void {
  for (const f of fs.readdirSync(tmp)) {
    const pid = Number(f.split("-")[0]);
    if (!Number.isSafeInteger(pid) || !isAlive(pid)) fs.rmSync(path.join(tmp, f), { force: true, recursive: true });
  }
}

/** The file of a ref, after checking its name. */
function refPath(s: StoreDirs, ref: string): string {
  assertSafeRelativePath(ref);
  if (!/^[A-Za-z0-9._/-]+$/.test(ref)) {
    throw new ArtifactStoreError("unsafe-path", `Ref "${ref.slice(0, 200)}" may hold only letters, digits, . _ - /.`);
  }
  return path.join(s.refs, ...ref.split("/"));
}

/** The file of an object, after checking its hash. */
function objectPath(s: StoreDirs, hash: ArtifactHash): string {
  assertArtifactHash(hash);
  return path.join(s.objects, hash.slice(0, 2), hash);
}

/** Streams a source into a temp file while hashing it, then renames it into place (or drops it when already stored). */
async function putObject(s: StoreDirs, source: ArtifactSource, o?: PutOptions): Promise<PutResult> {
  const limit = Math.min(o?.maxBytes ?? Infinity, s.maxBytes ?? Infinity);
  const tmpFile = path.join(s.tmp, `${process.pid}-${crypto.randomUUID()}.part`);
  const hasher = crypto.createHash("sha256");
  let size = 0;
  const fh = await fsp.open(tmpFile, "wx", 0o600);
  let closed = false;
  try {
    for await (const chunk of chunksOf(source)) {
      size += chunk.byteLength;
      if (size > limit) {
        throw new ArtifactStoreError("too-large", `The artifact is larger than the limit of ${limit} bytes.`);
      }
      hasher.update(chunk);
      await writeAll(fh, chunk);
    }
    await fh.sync();
    await fh.chmod(0o444);
    await fh.close();
    closed = true;
    const hash = hasher.digest("hex");
    const final = objectPath(s, hash);
    if (fs.existsSync(final)) {
      await fsp.rm(tmpFile, { force: true }); // same bytes are already stored
    } else {
      await fsp.mkdir(path.dirname(final), { recursive: true });
      await fsp.rename(tmpFile, final);
      await fsyncDir(path.dirname(final));
    }
    return { hash, size };
  } catch (e) {
    if (!closed) await fh.close().catch(() => undefined);
    await fsp.rm(tmpFile, { force: true });
    if (source instanceof Readable) source.destroy();
    throw e;
  }
}

/** A stream of a stored object's bytes; kind "not-found" when absent. */
async function getObject(s: StoreDirs, hash: ArtifactHash): Promise<Readable> {
  const file = objectPath(s, hash);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ArtifactStoreError("not-found", `Artifact ${hash} is not in the store ${s.root}.`);
    }
    throw e;
  }
  return fh.createReadStream();
}

/** A stored object's size in bytes, or undefined when absent. */
async function objectSize(s: StoreDirs, hash: ArtifactHash): Promise<number | undefined> {
  try {
    return (await fsp.stat(objectPath(s, hash))).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** Reads a tree manifest and checks it: its schema, each path's safety, no path twice. */
async function getTree(s: StoreDirs, rootHash: ArtifactHash): Promise<TreeManifest> {
  const raw = (await readAll(await getObject(s, rootHash))).toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ArtifactStoreError("bad-manifest", `Artifact ${rootHash} is not a tree manifest (not JSON).`);
  }
  const m = ManifestSchema.safeParse(parsed);
  if (!m.success) {
    throw new ArtifactStoreError("bad-manifest", `Artifact ${rootHash} is not a tree manifest: ${m.error.message}`);
  }
  const seen = new Set<string>();
  for (const f of m.data.files) {
    assertSafeRelativePath(f.path);
    if (seen.has(f.path)) throw new ArtifactStoreError("bad-manifest", `Tree ${rootHash} lists ${f.path} twice.`);
    seen.add(f.path);
  }
  return m.data;
}

/** Stores each regular file under `dir` (within `maxBytes` in all), then their manifest. */
async function putTree(s: StoreDirs, dir: string, o?: PutOptions): Promise<PutTreeResult> {
  const base = path.resolve(dir);
  const st = await fsp.lstat(base);
  if (!st.isDirectory()) throw new ArtifactStoreError("unsafe-path", `${dir} is not a folder.`);
  const rels = await listTree(base);
  let remaining = o?.maxBytes ?? Infinity;
  const files: TreeEntry[] = [];
  for (const rel of rels) {
    const r = await putObject(s, fs.createReadStream(path.join(base, ...rel.split("/"))), { maxBytes: remaining });
    remaining -= r.size;
    files.push({ path: rel, hash: r.hash, size: r.size });
  }
  const manifest: TreeManifest = { version: 1, files };
  const m = await putObject(s, Buffer.from(JSON.stringify(manifest)));
  return { root: m.hash, manifest, size: files.reduce((sum, f) => sum + f.size, 0) };
}

/** Points a ref at a hash: written to a temp file, fsynced, renamed into place. */
async function setRef(s: StoreDirs, ref: string, hash: ArtifactHash): Promise<void> {
  const file = refPath(s, ref);
  assertArtifactHash(hash);
  const tmpFile = path.join(s.tmp, `${process.pid}-${crypto.randomUUID()}.ref`);
  await fsp.writeFile(tmpFile, hash + "\n", { flag: "wx", mode: 0o644 });
  const fh = await fsp.open(tmpFile, "r");
  await fh.sync().finally(() => fh.close());
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.rename(tmpFile, file);
  await fsyncDir(path.dirname(file));
}

/** The hash a ref points at, or undefined when it is not set. */
async function getRef(s: StoreDirs, ref: string): Promise<ArtifactHash | undefined> {
  let raw: string;
  try {
    raw = (await fsp.readFile(refPath(s, ref), "utf8")).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  if (!HASH.test(raw)) throw new ArtifactStoreError("corrupt", `Ref ${ref} does not hold a hash.`);
  return raw;
}

/** Copies a tree's files, checked against their hashes, into a folder beside `dest`, then renames it to `dest`. */
async function materialize(s: StoreDirs, rootHash: ArtifactHash, dest: string): Promise<TreeManifest> {
  const manifest = await getTree(s, rootHash);
  const target = path.resolve(dest);
  if (fs.existsSync(target)) {
    const st = await fsp.lstat(target);
    if (!st.isDirectory() || (await fsp.readdir(target)).length > 0) {
      throw new ArtifactStoreError(
        "unsafe-path",
        `Cannot materialize into ${dest}: it exists and is not an empty folder.`,
      );
    }
  }
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const staging = `${target}.partial-${crypto.randomUUID()}`;
  await fsp.mkdir(staging);
  try {
    for (const f of manifest.files) {
      const out = path.resolve(staging, ...f.path.split("/"));
      if (!out.startsWith(staging + path.sep)) {
        throw new ArtifactStoreError("unsafe-path", `Path "${f.path}" would leave the destination.`);
      }
      await fsp.mkdir(path.dirname(out), { recursive: true });
      await copyVerified(await getObject(s, f.hash), out, f.hash);
    }
    if (fs.existsSync(target)) await fsp.rmdir(target); // empty, checked above
    await fsp.rename(staging, target);
  } catch (e) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw e;
  }
  return manifest;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Relative paths (with `/`) of the regular files under `base`, sorted; refuses symlinks and special files. */
async function listTree(base: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fsp.readdir(path.join(base, ...rel.split("/").filter(Boolean)), { withFileTypes: true });
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      assertSafeRelativePath(p);
      if (e.isSymbolicLink()) throw new ArtifactStoreError("unsafe-path", `Path "${p}" is a symbolic link: refused.`);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(p);
      else throw new ArtifactStoreError("unsafe-path", `Path "${p}" is not a regular file or folder: refused.`);
    }
  };
  await walk("");
  return out.sort();
}

async function* chunksOf(source: ArtifactSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
    yield typeof chunk === "string" ? Buffer.from(chunk) : chunk;
  }
}

async function writeAll(fh: fsp.FileHandle, chunk: Uint8Array): Promise<void> {
  for (let off = 0; off < chunk.byteLength;) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
    off += bytesWritten;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

async function copyVerified(src: Readable, out: string, hash: ArtifactHash): Promise<void> {
  const hasher = crypto.createHash("sha256");
  const fh = await fsp.open(out, "wx", 0o644);
  try {
    for await (const c of src) {
      const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
      hasher.update(chunk);
      await writeAll(fh, chunk);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  const got = hasher.digest("hex");
  if (got !== hash) {
    throw new ArtifactStoreError("corrupt", `Stored object ${hash} has changed on disk (its bytes hash to ${got}).`);
  }
}

/** Every method of the interface (an object that lists them all is an ArtifactStore). */
const STORE_METHODS = [
  "put",
  "putFile",
  "has",
  "size",
  "get",
  "getBuffer",
  "putTree",
  "getTree",
  "materialize",
  "setRef",
  "getRef",
] as const satisfies readonly (keyof ArtifactStore)[];

/**
 * The same store, with every failed call shown to `onError` first (then rethrown as it was): the worker's disk guard
 * learns of a full disk from an upload as well as from a job step.
 */
export function watchedStore(store: ArtifactStore, onError: (e: unknown) => void): ArtifactStore {
  const watched = {} as Record<keyof ArtifactStore, unknown>;
  for (const name of STORE_METHODS) {
    const method = store[name] as (...args: unknown[]) => Promise<unknown>;
    watched[name] = (...args: unknown[]) =>
      method.apply(store, args).catch((e: unknown) => {
        onError(e);
        throw e;
      });
  }
  return watched as unknown as ArtifactStore;
}
