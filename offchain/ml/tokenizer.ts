import * as fs from "fs";
import { MlError } from "./errors";

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
  private readonly bpeRanks: Map<string, number>;
  private readonly cache = new Map<string, number[]>();
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
    this.bpeRanks = new Map();
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
      this.bpeRanks.set(`${a} ${b}`, i);
    });
    // Every byte has its symbol: then any text encodes (a symbol a byte, merged only into vocabulary tokens).
    const missing = BYTE_ENCODER.findIndex((ch) => !this.encoder.has(ch));
    if (missing >= 0)
      throw new MlError(
        "MODEL_INVALID",
        `tokenizer.json's vocabulary lacks the symbol of byte ${missing}: it cannot encode every text`,
      );
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
      let cached = this.cache.get(word);
      if (!cached) {
        cached = this.bpeWord(word);
        if (this.cache.size > 100_000) this.cache.clear();
        this.cache.set(word, cached);
      }
      for (const id of cached) out.push(id);
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

  private bpeWord(word: string): number[] {
    let mapped = "";
    for (const b of Buffer.from(word, "utf8")) mapped += BYTE_ENCODER[b];
    const symbols = this.bpe(mapped);
    return symbols.map((s) => {
      const id = this.encoder.get(s);
      if (id === undefined)
        throw new MlError("MODEL_INVALID", `tokenizer vocabulary lacks the symbol ${JSON.stringify(s)}`);
      return id;
    });
  }

  /** The bpe() of GPT-2's encoder.py: merge the lowest-ranked pair everywhere until none is left. */
  private bpe(token: string): string[] {
    return bytePairMerge(token, this.bpeRanks);
  }
}

/** How much work one bytePairMerge() call did (tests bound it by the word's length). */
export interface BpeWork {
  pushes: number;
  pops: number;
  merges: number;
}

/**
 * The bpe() of GPT-2's encoder.py, symbol for symbol, in O(n log n) for a word of n characters.
 *
 * The reference works in rounds: find the lowest rank r of any adjacent pair (A, B), then merge every
 * non-overlapping occurrence of A B in one left-to-right pass ("aaa" with a a gives aa a), and repeat.
 * Rescanning the word each round makes a long word quadratic. Here the word is a linked list of symbols,
 * and a min-heap keyed by (rank, left position) holds an entry for every adjacent pair that has a rank
 * (the invariant between rounds), plus stale entries, for pairs a merge has since changed, dropped when
 * popped. A round takes the heap's lowest rank r and pops every entry of rank r, merging the valid ones
 * in position order. That is the reference's round:
 *  - by the invariant, no current pair ranks below r, and one ranks r iff a valid entry does;
 *  - a rank names one pair (A, B), and a merge makes AB, longer than A and B, so the pairs a merge
 *    creates, (X, AB) and (AB, Y), never rank r: the round merges occurrences of the word it started on;
 *  - in position order, an occurrence is still valid iff the one just before it was not merged (which
 *    took its A): the reference's greedy left-to-right pass, overlapping runs where A = B included;
 *  - the pairs a round changes are pushed only when it ends, so one ranking below r (possible in a
 *    tokenizer.json whose merges are not in training order) waits for the next round, as in the reference.
 * A word of n characters has n - 1 pairs and at most n - 1 merges, each changing two pairs: at most 3n
 * pushes, and as many pops.
 */
export function bytePairMerge(token: string, ranks: ReadonlyMap<string, number>, work?: BpeWork): string[] {
  const word = new SymbolList(Array.from(token));
  const heap = new PairHeap(3 * word.length);
  /** Pushes the pair whose left symbol starts at `left`, if it has a right neighbour and a rank. */
  const push = (left: number): void => {
    const right = word.next[left];
    if (right < 0 || right >= word.length) return;
    const rank = ranks.get(word.symbol[left] + " " + word.symbol[right]);
    if (rank !== undefined) heap.push(rank, left, word.next[right]);
  };
  for (let i = 0; i + 1 < word.length; i++) push(i);
  let merges = 0;
  while (heap.size > 0) {
    const rank = heap.topRank();
    const changed: number[] = []; // left symbols of the pairs this round changes
    for (let left = popValid(heap, word, rank); left >= 0; left = popValid(heap, word, rank)) {
      word.merge(left);
      merges++;
      // The pairs ending and starting at the merged symbol changed; the one ending there may be the pair
      // the round's previous merge started (abab: ab + ab), recorded already.
      const before = word.prev[left];
      if (before >= 0 && changed[changed.length - 1] !== before) changed.push(before);
      changed.push(left);
    }
    changed.forEach(push); // only now, as they stand at the round's end: none of them has rank `rank`
  }
  if (work) Object.assign(work, { pushes: heap.pushes, pops: heap.pops, merges });
  return word.symbols();
}

/** Pops the entries of rank `rank` until one still describes a pair of the word: its left symbol, or -1. */
function popValid(heap: PairHeap, word: SymbolList, rank: number): number {
  while (heap.size > 0 && heap.topRank() === rank) {
    const entry = heap.pop();
    const left = heap.leftOf(entry);
    const right = word.next[left]; // -1 if `left` was merged away, word.length if it is the last symbol
    if (right >= 0 && right < word.length && word.next[right] === heap.endOf(entry)) return left;
  }
  return -1;
}

/**
 * A word as a doubly linked list of symbols over its characters. A symbol is named by the index of its
 * first character and spans up to the next symbol's start, so `next[i]` is where symbol i ends (`length`
 * for the last one); a merged-away symbol has next = prev = -1. A symbol only grows, by taking its right
 * neighbour, so the end of the pair starting at i, next[next[i]], grows each time that pair changes:
 * (left, end) tells whether a heap entry still describes the current pair.
 */
class SymbolList {
  readonly length: number;
  readonly symbol: string[];
  readonly next: Int32Array;
  readonly prev: Int32Array;

  constructor(chars: string[]) {
    this.length = chars.length;
    this.symbol = chars;
    this.next = new Int32Array(chars.length);
    this.prev = new Int32Array(chars.length);
    for (let i = 0; i < chars.length; i++) {
      this.next[i] = i + 1;
      this.prev[i] = i - 1;
    }
  }

  /** Merges symbol `left` with the symbol after it. */
  merge(left: number): void {
    const right = this.next[left];
    const after = this.next[right];
    this.symbol[left] += this.symbol[right];
    this.next[left] = after;
    if (after < this.length) this.prev[after] = left;
    this.next[right] = this.prev[right] = -1;
  }

  symbols(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.length; i = this.next[i]) out.push(this.symbol[i]);
    return out;
  }
}

/**
 * A binary min-heap of pair entries by (rank, left). An entry is a number into flat arrays (no object per
 * entry): the pair's rank, its left symbol's start and the pair's end. `capacity` bounds the pushes.
 */
class PairHeap {
  pushes = 0;
  pops = 0;
  size = 0;
  private readonly rank: Float64Array;
  private readonly left: Int32Array;
  private readonly end: Int32Array;
  private readonly heap: Int32Array; // entry numbers, heap-ordered

  constructor(capacity: number) {
    this.rank = new Float64Array(capacity);
    this.left = new Int32Array(capacity);
    this.end = new Int32Array(capacity);
    this.heap = new Int32Array(capacity);
  }

  topRank(): number {
    return this.rank[this.heap[0]];
  }

  leftOf(entry: number): number {
    return this.left[entry];
  }

  endOf(entry: number): number {
    return this.end[entry];
  }

  push(rank: number, left: number, end: number): void {
    const entry = this.pushes++;
    this.rank[entry] = rank;
    this.left[entry] = left;
    this.end[entry] = end;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.lower(entry, this.heap[parent])) break;
      this.heap[i] = this.heap[parent];
      i = parent;
    }
    this.heap[i] = entry;
  }

  /** Removes and returns the lowest entry (the heap must not be empty). */
  pop(): number {
    const top = this.heap[0];
    const last = this.heap[--this.size];
    this.pops++;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.size) break;
      if (child + 1 < this.size && this.lower(this.heap[child + 1], this.heap[child])) child++;
      if (!this.lower(this.heap[child], last)) break;
      this.heap[i] = this.heap[child];
      i = child;
    }
    this.heap[i] = last;
    return top;
  }

  private lower(a: number, b: number): boolean {
    return this.rank[a] < this.rank[b] || (this.rank[a] === this.rank[b] && this.left[a] < this.left[b]);
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
