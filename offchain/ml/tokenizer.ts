import * as fs from "fs";
import { mergeSymbols, PairTable } from "./bpe";
import { MlError } from "./errors";

export { bytePairMerge, type BpeWork } from "./bpe";

/**
 * GPT-2's byte-level BPE, implemented from a Hugging Face tokenizer.json (model type BPE,
 * ByteLevel pre-tokenizer and decoder). `buildGpt2TokenizerJson()` produces GPT-2's own
 * tokenizer.json offline from the r50k_base ranks shipped in the `gpt-tokenizer` package.
 */

/** GPT-2's split pattern. `\s` is spelled as Unicode White_Space, which is what the Rust
 * tokenizers' regex engine (Oniguruma) means by `\s`; JavaScript's `\s` differs on U+0085 and U+FEFF. */
export const GPT2_SPLIT_PATTERN =
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+|\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+";

/** bytes_to_unicode() of GPT-2's encoder.py: a reversible map from bytes to printable characters. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  for (let i = 0; i < bs.length; i++) out[bs[i]] = String.fromCodePoint(cs[i]);
  return out;
}

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

export interface TokenizerJson {
  version?: string;
  added_tokens?: Array<{ id: number; content: string; special?: boolean } & Record<string, unknown>>;
  pre_tokenizer?: unknown;
  decoder?: unknown;
  model: {
    type?: string;
    vocab: Record<string, number>;
    merges: Array<string | [string, string]>;
  } & Record<string, unknown>;
}

const BYTE_ENCODER = bytesToUnicode();
const BYTE_DECODER = new Map<string, number>(BYTE_ENCODER.map((ch, b) => [ch, b]));

export class Gpt2Tokenizer {
  readonly vocabSize: number;
  /** The end of text: the id of its `<|endoftext|>` token, or of its last token when it has none. */
  readonly eosTokenId: number;
  /** Whether eosTokenId is an `<|endoftext|>` token (else the last token, for want of one). */
  readonly hasEndOfText: boolean;
  private readonly encoder: Map<string, number>;
  private readonly decoder: string[];
  /** Merges by token ids: (left id, right id) → (rank, merged id). */
  private readonly merges: PairTable;
  /** The id of each byte's symbol. */
  private readonly byteIds = new Int32Array(256);
  private readonly cache = new WordCache();
  private readonly added: AddedToken[];
  private readonly addedSplit: RegExp | null;
  private readonly pattern = new RegExp(GPT2_SPLIT_PATTERN, "gu");

  constructor(json: TokenizerJson) {
    const vocab: unknown = json.model?.vocab;
    if (!vocab || typeof vocab !== "object" || Array.isArray(vocab) || !Array.isArray(json.model.merges)) {
      throw new MlError("MODEL_INVALID", "tokenizer.json has no BPE model (model.vocab and model.merges)");
    }
    if (json.model.type !== undefined && json.model.type !== "BPE") {
      throw new MlError("MODEL_INVALID", `tokenizer.json model type ${String(json.model.type)} is not BPE`);
    }
    this.encoder = new Map(Object.entries(json.model.vocab));
    if (!Array.isArray(json.added_tokens ?? []))
      throw new MlError("MODEL_INVALID", "tokenizer.json added_tokens is not a list");
    this.added = (json.added_tokens ?? []).map((t) => ({
      id: t?.id,
      content: t?.content,
      special: t?.special ?? false,
    }));
    for (const t of this.added) {
      if (typeof t.content !== "string" || t.content === "")
        throw new MlError("MODEL_INVALID", `tokenizer.json has an added token (id ${String(t.id)}) without content`);
      this.encoder.set(t.content, t.id);
    }
    this.decoder = denseDecoder(this.encoder);
    this.vocabSize = this.decoder.length;
    this.merges = new PairTable(json.model.merges.length);
    json.model.merges.forEach((m, i) => {
      const [a, b, more] = Array.isArray(m) ? m : typeof m === "string" ? m.split(" ") : [];
      if (typeof a !== "string" || typeof b !== "string" || more !== undefined || !a || !b)
        throw new MlError("MODEL_INVALID", `tokenizer.json merge ${i} is not a pair of symbols: ${JSON.stringify(m)}`);
      for (const sym of [a, b, a + b]) {
        if (!this.encoder.has(sym))
          throw new MlError(
            "MODEL_INVALID",
            `tokenizer.json merge ${i} (${a} ${b}) names ${sym}, not in its vocabulary`,
          );
      }
      const id = (sym: string) => this.encoder.get(sym) as number;
      this.merges.set(id(a), id(b), i, id(a + b));
    });
    // Every byte has its symbol: then any text encodes (a symbol a byte, merged only into vocabulary tokens).
    const missing = BYTE_ENCODER.findIndex((ch) => !this.encoder.has(ch));
    if (missing >= 0)
      throw new MlError(
        "MODEL_INVALID",
        `tokenizer.json's vocabulary lacks the symbol of byte ${missing}: it cannot encode every text`,
      );
    BYTE_ENCODER.forEach((ch, b) => (this.byteIds[b] = this.encoder.get(ch) as number));
    const eos = this.added.find((t) => t.content === "<|endoftext|>");
    this.eosTokenId = eos ? eos.id : this.vocabSize - 1;
    this.hasEndOfText = eos !== undefined;
    this.addedSplit =
      this.added.length > 0
        ? new RegExp(
            "(" +
              this.added
                .map((t) => t.content)
                .sort((a, b) => b.length - a.length)
                .map(escapeRegExp)
                .join("|") +
              ")",
          )
        : null;
  }

  /** The most input bytes one token covers: a vocabulary token's bytes, or an added token's UTF-8 length. */
  get maxTokenBytes(): number {
    if (this.longest === undefined) {
      // A vocabulary token is byte-level (a character a byte); an added token matches the text as written.
      const added = new Set(this.added.map((t) => t.content));
      let most = 1;
      for (const tok of this.encoder.keys()) {
        most = Math.max(most, added.has(tok) ? new TextEncoder().encode(tok).length : [...tok].length);
      }
      this.longest = most;
    }
    return this.longest;
  }
  private longest?: number;

  static fromFile(file: string): Gpt2Tokenizer {
    return new Gpt2Tokenizer(JSON.parse(fs.readFileSync(file, "utf8")) as TokenizerJson);
  }

  /** Encodes text like Hugging Face's GPT-2 tokenizer: added tokens (<|endoftext|>) are matched first. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const parts = this.addedSplit ? text.split(this.addedSplit) : [text];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part.length === 0) continue;
      if (this.addedSplit && i % 2 === 1) {
        const id = this.encoder.get(part);
        if (id !== undefined) {
          ids.push(id);
          continue;
        }
      }
      this.encodeOrdinary(part, ids);
    }
    return ids;
  }

  /** Encodes text with no special-token matching ("<|endoftext|>" is plain text). */
  encodeOrdinary(text: string, out: number[] = []): number[] {
    this.pattern.lastIndex = 0;
    for (const m of text.matchAll(this.pattern)) {
      const word = m[0];
      let ids: ArrayLike<number> | undefined = this.cache.get(word);
      if (!ids) {
        ids = this.bpeWord(word);
        this.cache.add(word, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
    return out;
  }

  decode(ids: ArrayLike<number>, skipSpecial = false): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skipSpecial && this.added.some((t) => t.id === id && t.special)) continue;
      const tok = this.decoder[id];
      if (tok === undefined) throw new MlError("PARAMS_INVALID", `token id ${id} is outside the vocabulary`);
      const added = this.added.find((t) => t.id === id);
      if (added) {
        for (const b of Buffer.from(added.content, "utf8")) bytes.push(b);
        continue;
      }
      for (const ch of tok) {
        const b = BYTE_DECODER.get(ch);
        if (b !== undefined) bytes.push(b);
        else for (const x of Buffer.from(ch, "utf8")) bytes.push(x);
      }
    }
    return Buffer.from(bytes).toString("utf8");
  }

  /** A word's token ids: its UTF-8 bytes' symbols, merged. */
  private bpeWord(word: string): Int32Array {
    const bytes = Buffer.from(word, "utf8");
    const symbols = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) symbols[i] = this.byteIds[bytes[i]];
    return mergeSymbols(symbols, this.merges);
  }
}

/**
 * Words already merged, bounded by their bytes rather than by their count (a dataset of huge distinct words could
 * otherwise hold a great deal of memory for as long as the tokenizer lives: a worker keeps its models' tokenizers).
 * Only words of up to MAX_WORD UTF-16 units are kept (as Hugging Face's tokenizers keep words under 256 bytes): prose
 * repeats short words, and a long word's merge costs far more than its lookup saves. Each kept key is a copy, not a
 * slice of the text it came from, which would keep the whole text alive. Oldest first out.
 */
export class WordCache {
  static readonly MAX_WORD = 256;
  private readonly map = new Map<string, number[]>();
  /** Bytes the entries hold, estimated (cost). */
  bytes = 0;

  constructor(readonly maxBytes = 16 * 1024 * 1024) {}

  get size(): number {
    return this.map.size;
  }

  get(word: string): number[] | undefined {
    return this.map.get(word);
  }

  add(word: string, ids: ArrayLike<number>): void {
    if (word.length > WordCache.MAX_WORD || this.map.has(word)) return;
    const key = (" " + word).slice(1); // flattened into a string of its own: the text it was cut from can go
    this.map.set(key, Array.from(ids));
    this.bytes += WordCache.cost(key, ids.length);
    if (this.bytes <= this.maxBytes) return;
    // A quarter of the budget at a time: a Map walks past its deleted entries, so one at a time would be quadratic.
    for (const [k, v] of this.map) {
      if (this.bytes <= 0.75 * this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= WordCache.cost(k, v.length);
    }
  }

  /** An entry's bytes, estimated from above (measured, Node 20: 143 bytes for a 5-letter word of one token, 197 for
   * 20 letters and 12 tokens, 1,279 for 200 letters and 120 tokens). */
  private static cost(key: string, ids: number): number {
    return 2 * key.length + 8 * ids + 128;
  }
}

/** Most tokens a tokenizer may have: its decoder is an array as long as its largest id. */
export const MAX_TOKENIZER_TOKENS = 1 << 20;

/**
 * The id → token table of a vocabulary, refused unless its n ids are the integers 0 … n−1, one a token (a sparse
 * vocabulary would decode some generated ids to nothing; a huge id would allocate before anything else is checked).
 */
function denseDecoder(encoder: Map<string, number>): string[] {
  if (encoder.size > MAX_TOKENIZER_TOKENS)
    throw new MlError("MODEL_INVALID", `tokenizer.json has ${encoder.size} tokens, more than ${MAX_TOKENIZER_TOKENS}`);
  const decoder: string[] = [];
  for (const [tok, id] of encoder) {
    if (!Number.isSafeInteger(id) || id < 0 || id >= encoder.size)
      throw new MlError(
        "MODEL_INVALID",
        `tokenizer.json gives ${JSON.stringify(tok)} the id ${String(id)}: ids must be 0 … ${encoder.size - 1}, one a token`,
      );
    if (decoder[id] !== undefined)
      throw new MlError("MODEL_INVALID", `tokenizer.json gives the id ${id} to two tokens`);
    decoder[id] = tok;
  }
  return decoder;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

let gpt2JsonCache: TokenizerJson | null = null;

/**
 * GPT-2's tokenizer.json (the Hugging Face `gpt2` tokenizer: 50,000 merges, 50,257 tokens),
 * rebuilt offline from the r50k_base ranks that `gpt-tokenizer` ships: token ids are the ranks,
 * and each merge is recovered by running BPE on the token's bytes with the lower ranks only.
 */
export function buildGpt2TokenizerJson(): TokenizerJson {
  if (gpt2JsonCache) return gpt2JsonCache;
  const file = require.resolve("gpt-tokenizer/data/r50k_base.tiktoken");
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const byRank: Buffer[] = [];
  for (const line of lines) {
    if (!line) continue;
    const sp = line.indexOf(" ");
    byRank[Number(line.slice(sp + 1))] = Buffer.from(line.slice(0, sp), "base64");
  }
  const rankOf = new Map<string, number>();
  byRank.forEach((b, r) => rankOf.set(b.toString("latin1"), r));
  const toUnicode = (b: Buffer): string => {
    let s = "";
    for (const x of b) s += BYTE_ENCODER[x];
    return s;
  };
  const vocab: Record<string, number> = {};
  byRank.forEach((b, r) => {
    vocab[toUnicode(b)] = r;
  });
  const merges: string[] = [];
  for (let r = 256; r < byRank.length; r++) {
    const parts = bytePairSplit(byRank[r], rankOf, r);
    if (parts.length !== 2) throw new Error(`cannot recover the merge for rank ${r}`);
    merges.push(`${toUnicode(parts[0])} ${toUnicode(parts[1])}`);
  }
  const eosId = byRank.length; // 50256
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  // Shared by every caller in the process: frozen, so a caller that changes it fails there, not every later model.
  gpt2JsonCache = deepFreeze({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: eosId,
        content: "<|endoftext|>",
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab: { ...vocab, "<|endoftext|>": eosId },
      merges,
    },
  } as TokenizerJson);
  return gpt2JsonCache;
}

/** Freezes `o` and everything it holds. */
function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function bytePairSplit(token: Buffer, rankOf: Map<string, number>, maxRank: number): Buffer[] {
  let parts: Buffer[] = Array.from(token, (b) => Buffer.from([b]));
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i < parts.length - 1; i++) {
      const r = rankOf.get(Buffer.concat([parts[i], parts[i + 1]]).toString("latin1"));
      if (r !== undefined && r < maxRank && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return parts;
    parts = [...parts.slice(0, best), Buffer.concat([parts[best], parts[best + 1]]), ...parts.slice(best + 2)];
  }
}

/** tokenizer_config.json for a GPT-2 folder (as Hugging Face's `gpt2` has it, minus decode cleanup). */
export function gpt2TokenizerConfig(modelMaxLength: number): Record<string, unknown> {
  return {
    add_bos_token: false,
    add_prefix_space: false,
    bos_token: "<|endoftext|>",
    clean_up_tokenization_spaces: false,
    eos_token: "<|endoftext|>",
    errors: "replace",
    model_max_length: modelMaxLength,
    pad_token: null,
    tokenizer_class: "GPT2Tokenizer",
    unk_token: "<|endoftext|>",
  };
}
