import * as fs from "fs";
import * as path from "path";
import {
  checkModelLimits,
  configHashOf,
  DEFAULT_MODEL_LIMITS,
  Gpt2Config,
  hfConfigJson,
  innerSize,
  ModelLimits,
  normalizeConfig,
  parameterCount,
  PresetName,
  PRESETS,
} from "./config";
import { MlError } from "./errors";
import { canonicalJson, sha256 } from "./hash";
import { Rng } from "./rng";
import { f32Raw, RawTensor, readSafetensors, SafetensorsFile, toFloat32, writeSafetensors } from "./safetensors";
import { buildGpt2TokenizerJson, Gpt2Tokenizer, gpt2TokenizerConfig, TokenizerJson } from "./tokenizer";

/**
 * The canonical model format: a Hugging Face GPT-2 folder.
 *   config.json, model.safetensors (GPT-2 names, Conv1D [in, out] weights, tied head),
 *   tokenizer.json, tokenizer_config.json, generation_config.json.
 * Tensor names are canonical without the `transformer.` prefix that GPT2LMHeadModel adds;
 * both spellings load, as do the attention-mask buffers (ignored) and a tied `lm_head.weight`.
 */

export type Weights = Map<string, Float32Array>;

export interface Checkpoint {
  dir: string;
  config: Gpt2Config;
  weights: Weights;
  tokenizer: Gpt2Tokenizer;
}

/** The tensors of a GPT-2 model, in model order, with their shapes. */
export function tensorSpecs(c: Gpt2Config): Array<[string, number[]]> {
  const d = c.n_embd;
  const f = innerSize(c);
  const specs: Array<[string, number[]]> = [
    ["wte.weight", [c.vocab_size, d]],
    ["wpe.weight", [c.n_positions, d]],
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}.`;
    specs.push(
      [p + "ln_1.weight", [d]],
      [p + "ln_1.bias", [d]],
      [p + "attn.c_attn.weight", [d, 3 * d]],
      [p + "attn.c_attn.bias", [3 * d]],
      [p + "attn.c_proj.weight", [d, d]],
      [p + "attn.c_proj.bias", [d]],
      [p + "ln_2.weight", [d]],
      [p + "ln_2.bias", [d]],
      [p + "mlp.c_fc.weight", [d, f]],
      [p + "mlp.c_fc.bias", [f]],
      [p + "mlp.c_proj.weight", [f, d]],
      [p + "mlp.c_proj.bias", [d]],
    );
  }
  specs.push(["ln_f.weight", [d]], ["ln_f.bias", [d]]);
  return specs;
}

const BUFFER_RE = /^h\.\d+\.attn\.(bias|masked_bias)$/;

function canonicalName(name: string): string {
  return name.startsWith("transformer.") ? name.slice("transformer.".length) : name;
}

/**
 * Maps a safetensors file to the canonical tensors: strips `transformer.`, drops attention-mask
 * buffers, checks that a stored `lm_head.weight` is the tied embedding, and checks names and shapes.
 */
export function canonicalTensors(file: SafetensorsFile, c: Gpt2Config, label: string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  let lmHead: RawTensor | undefined;
  for (const [name, t] of file.tensors) {
    const n = canonicalName(name);
    if (BUFFER_RE.test(n)) continue;
    if (n === "lm_head.weight") {
      lmHead = t;
      continue;
    }
    if (out.has(n)) throw new MlError("MODEL_INVALID", `${label}: tensor ${n} appears twice`);
    out.set(n, t);
  }
  const specs = tensorSpecs(c);
  const expected = new Set(specs.map(([n]) => n));
  for (const n of out.keys()) {
    if (!expected.has(n)) throw new MlError("MODEL_INVALID", `${label}: unexpected tensor ${n}`);
  }
  for (const [n, shape] of specs) {
    const t = out.get(n);
    if (!t) throw new MlError("MODEL_INVALID", `${label}: missing tensor ${n}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new MlError("MODEL_INVALID", `${label}: tensor ${n} has shape [${t.shape}], expected [${shape}]`);
    }
  }
  if (lmHead) {
    const wte = out.get("wte.weight") as RawTensor;
    if (lmHead.dtype !== wte.dtype || !Buffer.from(lmHead.data).equals(Buffer.from(wte.data))) {
      throw new MlError(
        "MODEL_INVALID",
        `${label}: lm_head.weight differs from wte.weight (untied heads are not supported)`,
      );
    }
  }
  return out;
}

export function readConfig(dir: string, limits: ModelLimits = DEFAULT_MODEL_LIMITS): Gpt2Config {
  const file = path.join(dir, "config.json");
  if (!fs.existsSync(file)) throw new MlError("MODEL_INVALID", `${dir} has no config.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    throw new MlError("MODEL_INVALID", `${file} is not valid JSON`);
  }
  const c = normalizeConfig(raw);
  checkModelLimits(c, limits);
  return c;
}

/** Reads the tokenizer of a folder: tokenizer.json, or vocab.json + merges.txt (the slow tokenizer's files). */
export function readTokenizerJson(dir: string): TokenizerJson {
  const tj = path.join(dir, "tokenizer.json");
  if (fs.existsSync(tj)) return JSON.parse(fs.readFileSync(tj, "utf8")) as TokenizerJson;
  const vj = path.join(dir, "vocab.json");
  const mt = path.join(dir, "merges.txt");
  if (fs.existsSync(vj) && fs.existsSync(mt)) {
    const vocab = JSON.parse(fs.readFileSync(vj, "utf8")) as Record<string, number>;
    const merges = fs
      .readFileSync(mt, "utf8")
      .split("\n")
      .filter((l) => l.length > 0 && !l.startsWith("#version"));
    const eos = vocab["<|endoftext|>"];
    const base = buildGpt2TokenizerJson();
    return {
      ...base,
      added_tokens: eos === undefined ? [] : [{ id: eos, content: "<|endoftext|>", special: true }],
      model: { ...base.model, vocab, merges },
    };
  }
  throw new MlError("MODEL_INVALID", `${dir} has neither tokenizer.json nor vocab.json + merges.txt`);
}

export interface LoadOptions {
  limits?: ModelLimits;
}

/** Loads a GPT-2 folder (ours or one saved by Hugging Face's save_pretrained) without conversion. */
export function loadCheckpoint(dir: string, opts: LoadOptions = {}): Checkpoint {
  const config = readConfig(dir, opts.limits);
  const file = path.join(dir, "model.safetensors");
  if (!fs.existsSync(file)) throw new MlError("MODEL_INVALID", `${dir} has no model.safetensors`);
  const raw = canonicalTensors(readSafetensors(file), config, file);
  const weights: Weights = new Map();
  for (const [name] of tensorSpecs(config)) weights.set(name, toFloat32(raw.get(name) as RawTensor, name));
  const tokenizer = new Gpt2Tokenizer(readTokenizerJson(dir));
  checkTokenizerFits(config, tokenizer, dir);
  return { dir, config, weights, tokenizer };
}

/**
 * Refuses a tokenizer that does not fit its folder's config.json: more tokens than the model has rows, or another end
 * of text (checkEndOfText). Both loaders apply it (loadCheckpoint, the PyTorch executor's), and a worker applies it to
 * the folders it holds before a job on one is paid for: it needs neither the weights nor the operator's limits.
 */
export function checkTokenizerFits(config: Gpt2Config, tokenizer: Gpt2Tokenizer, dir: string): void {
  if (tokenizer.vocabSize > config.vocab_size) {
    throw new MlError(
      "MODEL_INVALID",
      `tokenizer has ${tokenizer.vocabSize} tokens, the model only ${config.vocab_size}`,
    );
  }
  checkEndOfText(config, tokenizer, dir);
}

/** What each of config.json's end-of-text ids is for, as a refusal names it. */
const END_OF_TEXT_IDS = {
  eos_token_id: { role: "the id generation stops at", detail: "eosTokenId" },
  bos_token_id: { role: "the id an empty prompt starts from", detail: "bosTokenId" },
} as const;

/**
 * Refuses a folder whose config.json and tokenizer disagree on the end of text. Both runtimes stop generating at
 * config.json's `eos_token_id` and start an empty prompt from its `bos_token_id` (GPT-2's are both its end of text,
 * 50256), while documents are separated by the tokenizer's end of text (JSONL documents each followed by it;
 * `<|endoftext|>` written in a text): with two ids, a model is trained to end on one and stopped on the other, so it
 * never stops, or is started from a token it never saw begin a text. Checked wherever a model is loaded (upload,
 * inspection, publishing, every job) and by a worker on the folders it holds.
 */
export function checkEndOfText(config: Gpt2Config, tokenizer: Gpt2Tokenizer, dir: string): void {
  const eos = tokenizer.eosTokenId;
  for (const [key, { role, detail }] of Object.entries(END_OF_TEXT_IDS)) {
    const id = config[key as keyof typeof END_OF_TEXT_IDS];
    if (id === eos) continue;
    const what = tokenizer.hasEndOfText
      ? `its <|endoftext|> token is id ${eos}`
      : `it has no <|endoftext|> token, so its end of text is its last token, id ${eos}`;
    throw new MlError(
      "MODEL_INVALID",
      `${dir}: config.json's ${key} is ${id} (${role}), but the tokenizer's end of text (the id training data ` +
        `separates documents with) is not: ${what}. They must be the same id: set ${key} in config.json (and ` +
        `generation_config.json) to ${eos}, or fix the tokenizer`,
      { [detail]: id, tokenizerEos: eos },
    );
  }
}

/**
 * Why a loadable checkpoint is no model to serve: a weight that is not finite (every job on it would fail), or
 * vocabulary rows beyond its tokenizer's tokens (it could generate a token its tokenizer cannot write). A worker
 * refuses such a folder when it is inspected or uploaded, before anyone pays for a job on it.
 */
export function servableProblem(ck: Checkpoint): string | undefined {
  if (ck.tokenizer.vocabSize !== ck.config.vocab_size)
    return (
      `its config has ${ck.config.vocab_size} vocabulary rows and its tokenizer ${ck.tokenizer.vocabSize} tokens: ` +
      "they must be equal (export the model without vocabulary padding)"
    );
  for (const [name, t] of ck.weights) {
    for (let i = 0; i < t.length; i++)
      if (!Number.isFinite(t[i])) return `tensor ${name} holds a weight that is not finite (${t[i]} at ${i})`;
  }
  return undefined;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/**
 * The weights root: sha256 over the canonical tensors sorted by canonical name, each as
 *   u32 len(name) ‖ name ‖ u32 len(dtype) ‖ dtype ‖ u32 rank ‖ u64 dims… ‖ sha256(bytes),
 * after the domain tag "posthuman-weights-v1\n". File metadata, tensor order in the file, the
 * `transformer.` prefix, mask buffers and a tied lm_head do not change it.
 */
export function weightsRootOfFile(file: SafetensorsFile, c: Gpt2Config, label = "model.safetensors"): string {
  const tensors = canonicalTensors(file, c, label);
  const parts: Buffer[] = [Buffer.from("posthuman-weights-v1\n")];
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name) as RawTensor;
    const nb = Buffer.from(name, "utf8");
    const db = Buffer.from(t.dtype, "utf8");
    parts.push(u32(nb.length), nb, u32(db.length), db, u32(t.shape.length), ...t.shape.map(u64), sha256(t.data));
  }
  return "0x" + sha256(Buffer.concat(parts)).toString("hex");
}

export async function weightsRoot(dir: string): Promise<string> {
  const config = readConfig(dir, { maxParams: Infinity, maxContext: Infinity, maxVocab: Infinity });
  return weightsRootOfFile(readSafetensors(path.join(dir, "model.safetensors")), config);
}

export async function configHash(dir: string): Promise<string> {
  return configHashOf(readConfig(dir, { maxParams: Infinity, maxContext: Infinity, maxVocab: Infinity }));
}

/**
 * The hash of what a tokenizer does: its vocabulary, its merges (as "a b") and its added tokens (id, text), in
 * canonical JSON. File layout (tokenizer.json or vocab.json + merges.txt) and fields that do not change the token ids
 * do not count.
 */
export function tokenizerHashOf(t: TokenizerJson): string {
  const merges = t.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
  const added = (t.added_tokens ?? []).map((a) => [a.id, a.content]);
  return "0x" + sha256(canonicalJson({ vocab: t.model.vocab, merges, added })).toString("hex");
}

let gpt2TokenizerHash: string | undefined;

/**
 * The tokenizer hash the chain records for a model folder: 0 for GPT-2's own tokenizer (what `publishModel`
 * records), else the hash of the folder's tokenizer (recorded by `publishModelWithTokenizer`). A worker serves an
 * upload only when this matches the chain, so a tokenizer cannot change behind the chain's back.
 */
export async function onChainTokenizerHash(dir: string): Promise<string> {
  const h = tokenizerHashOf(readTokenizerJson(dir));
  gpt2TokenizerHash ??= tokenizerHashOf(buildGpt2TokenizerJson());
  return h === gpt2TokenizerHash ? "0x" + "0".repeat(64) : h;
}

export interface SaveOptions {
  /** Tokenizer to write; defaults to GPT-2's. */
  tokenizerJson?: TokenizerJson;
  /** Extra entries for posthuman.json (provenance, kept out of the hashes). */
  provenance?: Record<string, unknown>;
}

/** Writes a checkpoint folder in Hugging Face's layout (names as GPT2LMHeadModel.save_pretrained writes them). */
export function saveCheckpoint(dir: string, config: Gpt2Config, weights: Weights, opts: SaveOptions = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors: Array<[string, RawTensor]> = tensorSpecs(config).map(([name, shape]) => {
    const w = weights.get(name);
    if (!w) throw new Error(`saveCheckpoint: missing tensor ${name}`);
    if (w.length !== shape.reduce((a, b) => a * b, 1))
      throw new Error(`saveCheckpoint: ${name} has ${w.length} values for [${shape}]`);
    return ["transformer." + name, f32Raw(w, shape)];
  });
  writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
  for (const [name, text] of Object.entries(checkpointSideFiles(config, opts)))
    fs.writeFileSync(path.join(dir, name), text);
}

/** The files of a checkpoint folder besides model.safetensors, by name, as saveCheckpoint writes them. */
export function checkpointSideFiles(config: Gpt2Config, opts: SaveOptions = {}): Record<string, string> {
  const files: Record<string, string> = {
    "config.json": jsonText(hfConfigJson(config)),
    "generation_config.json": jsonText({
      bos_token_id: config.bos_token_id,
      eos_token_id: config.eos_token_id,
      transformers_version: "4.44.0",
    }),
    "tokenizer.json": JSON.stringify(opts.tokenizerJson ?? buildGpt2TokenizerJson()),
    "tokenizer_config.json": jsonText(gpt2TokenizerConfig(config.n_positions)),
    "special_tokens_map.json": jsonText({
      bos_token: "<|endoftext|>",
      eos_token: "<|endoftext|>",
      unk_token: "<|endoftext|>",
    }),
  };
  if (opts.provenance) files["posthuman.json"] = jsonText(opts.provenance);
  return files;
}

function jsonText(value: unknown): string {
  return JSON.stringify(JSON.parse(canonicalJson(value)), null, 2) + "\n";
}

export function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, jsonText(value));
}

/** GPT-2's initialisation (Hugging Face's _init_weights), from a seed, one random stream per tensor. */
export function initWeights(c: Gpt2Config, seed: number | string): Weights {
  const weights: Weights = new Map();
  const std = c.initializer_range;
  const projStd = std / Math.sqrt(2 * c.n_layer);
  for (const [name, shape] of tensorSpecs(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const w = new Float32Array(n);
    if (name.endsWith(".bias")) {
      // zeros
    } else if (/ln_(1|2|f)\.weight$/.test(name)) {
      w.fill(1);
    } else {
      const s = name.endsWith("c_proj.weight") ? projStd : std;
      const rng = new Rng(seed, "init:" + name);
      for (let i = 0; i < n; i++) w[i] = rng.normal() * s;
    }
    weights.set(name, w);
  }
  return weights;
}

export interface CreateOptions {
  preset?: PresetName;
  config?: Partial<Gpt2Config> & Record<string, unknown>;
  seed: number | string;
  limits?: ModelLimits;
}

export interface CreatedModel {
  dir: string;
  weightsRoot: string;
  configHash: string;
  params: number;
}

/** Creates a model folder from a preset or config and a seed; the same seed gives the same weights root. */
export async function createModel(dir: string, opts: CreateOptions): Promise<CreatedModel> {
  if (!opts.preset && !opts.config) throw new MlError("CONFIG_INVALID", "createModel needs a preset or a config");
  if (opts.preset && !(opts.preset in PRESETS)) throw new MlError("CONFIG_INVALID", `unknown preset ${opts.preset}`);
  const base = opts.preset ? PRESETS[opts.preset] : {};
  const config = normalizeConfig({ ...base, ...(opts.config ?? {}) });
  checkModelLimits(config, opts.limits);
  const weights = initWeights(config, opts.seed);
  saveCheckpoint(dir, config, weights, {
    provenance: { createdBy: "posthuman-ml", init: "gpt2-normal", seed: String(opts.seed) },
  });
  return { dir, weightsRoot: await weightsRoot(dir), configHash: configHashOf(config), params: parameterCount(config) };
}
