import { expect } from "chai";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as v8 from "v8";
import * as vm from "vm";
import { encode as r50kEncode } from "gpt-tokenizer/cjs/encoding/r50k_base";
import {
  buildGpt2TokenizerJson,
  bytePairMerge,
  bytesToUnicode,
  Gpt2Tokenizer,
  GPT2_SPLIT_PATTERN,
  type BpeWork,
  WordCache,
} from "../../offchain/ml/tokenizer";
import { CORPUS } from "./helpers";

/**
 * The merge loop of GPT-2's encoder.py, as Gpt2Tokenizer had it before bytePairMerge: each round rescans
 * the word for its lowest-ranked pair and merges every occurrence of it left to right (quadratic on a long
 * word). Kept here as the reference bytePairMerge must equal symbol for symbol.
 */
function referenceBpe(token: string, ranks: ReadonlyMap<string, number>): string[] {
  let word = Array.from(token);
  if (word.length < 2) return word;
  for (;;) {
    let best: string | null = null;
    let bestRank = Infinity;
    for (let i = 0; i < word.length - 1; i++) {
      const r = ranks.get(word[i] + " " + word[i + 1]);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = word[i] + " " + word[i + 1];
      }
    }
    if (best === null) break;
    const sp = best.indexOf(" ");
    const first = best.slice(0, sp);
    const second = best.slice(sp + 1);
    const next: string[] = [];
    let i = 0;
    while (i < word.length) {
      if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
        next.push(first + second);
        i += 2;
      } else {
        next.push(word[i]);
        i += 1;
      }
    }
    word = next;
    if (word.length === 1) break;
  }
  return word;
}

const BYTE_ENCODER = bytesToUnicode();

/** A word as bpe() sees it: one printable character per UTF-8 byte. */
function byteLevel(word: string): string {
  let mapped = "";
  for (const b of Buffer.from(word, "utf8")) mapped += BYTE_ENCODER[b];
  return mapped;
}

/** The pre-tokenizer's words of `text`, byte-level, each once. */
function wordsOf(text: string): string[] {
  return [...new Set(Array.from(text.matchAll(new RegExp(GPT2_SPLIT_PATTERN, "gu")), (m) => byteLevel(m[0])))];
}

/** A seeded generator (mulberry32), so a failure names a case that can be rerun. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

function randomString(rand: (n: number) => number, alphabet: string[], length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += alphabet[rand(alphabet.length)];
  return s;
}

/**
 * A made-up merge table over `alphabet`: each merge joins two tokens made so far. Shuffled, a merge may rank
 * below the merges that make its parts (as no trained table has it), which bpe() must still follow exactly.
 */
function randomRanks(rand: (n: number) => number, alphabet: string[], count: number, shuffle: boolean) {
  const tokens = [...alphabet];
  const merges: string[] = [];
  for (let tries = 0; merges.length < count && tries < count * 10; tries++) {
    const a = tokens[rand(tokens.length)];
    const b = tokens[rand(tokens.length)];
    if (merges.includes(`${a} ${b}`)) continue;
    merges.push(`${a} ${b}`);
    tokens.push(a + b);
  }
  if (shuffle) {
    for (let i = merges.length - 1; i > 0; i--) {
      const j = rand(i + 1);
      [merges[i], merges[j]] = [merges[j], merges[i]];
    }
  }
  return new Map(merges.map((m, i) => [m, i]));
}

function expectSame(token: string, ranks: ReadonlyMap<string, number>): void {
  const ours = bytePairMerge(token, ranks);
  const reference = referenceBpe(token, ranks);
  // chai only on a difference: its deep equality is slow for the tens of thousands of words compared here
  if (ours.length !== reference.length || ours.some((s, i) => s !== reference[i])) {
    expect(ours, JSON.stringify(token)).to.deep.equal(reference);
  }
}

describe("ml/tokenizer: BPE merges in O(n log n), symbol for symbol as encoder.py's bpe()", function () {
  let gpt2: Gpt2Tokenizer;
  let ranks: Map<string, number>;

  before(function () {
    const json = buildGpt2TokenizerJson();
    gpt2 = new Gpt2Tokenizer(json);
    ranks = new Map(json.model.merges.map((m, i) => [Array.isArray(m) ? `${m[0]} ${m[1]}` : m, i]));
  });

  it("equals the reference on every word of real text (prose, the docs, source code)", function () {
    const root = path.join(__dirname, "..", "..");
    const files = [CORPUS, path.join(root, "README.md"), path.join(root, "offchain", "ml", "tokenizer.ts")];
    const docs = path.join(root, "docs");
    for (const f of fs.readdirSync(docs).filter((f) => f.endsWith(".md"))) files.push(path.join(docs, f));
    let words = 0;
    for (const file of files) {
      const text = fs.readFileSync(file, "utf8");
      const unique = wordsOf(text);
      for (const w of unique) expectSame(w, ranks);
      words += unique.length;
      // As plain text: the docs write <|endoftext|> out.
      expect(gpt2.encodeOrdinary(text), file).to.deep.equal(r50kEncode(text, { disallowedSpecial: new Set() }));
    }
    expect(words).to.be.greaterThan(2000);
  });

  it("equals the reference on runs and repeats, where a pair overlaps itself (aaaa, abab, ĠĠĠĠ)", function () {
    const units = ["a", "e", "ab", "aab", "abc", "Ġ", "ĠĠa", "Ċ", "0", "00", "=", "-", "ll", "\u00e9"];
    for (const unit of units) {
      for (let k = 1; k <= 40; k++) expectSame(byteLevel(unit.repeat(k)), ranks);
      expectSame(byteLevel(unit.repeat(1000)), ranks);
    }
    for (const k of [1, 2, 3, 4, 5, 8, 15, 16, 17]) {
      for (const [x, y] of [
        ["a", "b"],
        ["ab", "a"],
        ["Ġ", "t"],
        ["e", "ee"],
      ]) {
        expectSame(byteLevel(x.repeat(k) + y + x.repeat(k)), ranks);
        expectSame(byteLevel((x + y).repeat(k) + x), ranks);
      }
    }
  });

  it("equals the reference on random strings over small alphabets", function () {
    const rand = rng(1);
    const alphabets = ["a", "ab", "ae", "abc", "aeiou", "Ġa", "Ġe t", "0123", "ethan", "abcdefghijklmnopqrstuvwxyz"];
    for (const alphabet of alphabets) {
      const chars = Array.from(byteLevel(alphabet));
      for (let i = 0; i < 300; i++) expectSame(randomString(rand, chars, 1 + rand(120)), ranks);
      for (let i = 0; i < 3; i++) expectSame(randomString(rand, chars, 2000), ranks);
    }
  });

  it("equals the reference on random unicode, as words and as one long byte-level word", function () {
    const rand = rng(2);
    const ranges: Array<[number, number]> = [
      [0x20, 0x7e],
      [0x09, 0x0d],
      [0xa0, 0x24f],
      [0x300, 0x36f], // combining marks
      [0x400, 0x4ff],
      [0x4e00, 0x4fff],
      [0xac00, 0xac80],
      [0x1f300, 0x1f64f], // emoji (two UTF-16 units)
    ];
    for (let i = 0; i < 300; i++) {
      let s = "";
      for (let n = 1 + rand(80); n > 0; n--) {
        const [lo, hi] = ranges[rand(ranges.length)];
        s += String.fromCodePoint(lo + rand(hi - lo + 1));
      }
      for (const w of wordsOf(s)) expectSame(w, ranks);
      expectSame(byteLevel(s), ranks);
      expect(gpt2.encode(s), JSON.stringify(s)).to.deep.equal(r50kEncode(s));
    }
  });

  it("equals the reference under merge tables in any rank order (a merge may rank below its parts')", function () {
    // "ab a" ranks below "a b", which makes its left part: the reference merges both a b first (ab ab);
    // merging a pair as soon as a merge makes it would give aba b.
    const reordered = new Map([
      ["ab a", 0],
      ["a b", 1],
    ]);
    expect(bytePairMerge("abab", reordered)).to.deep.equal(["ab", "ab"]);
    expectSame("abab", reordered);
    expectSame("ababab", reordered);
    const rand = rng(3);
    for (let table = 0; table < 30; table++) {
      // Every string of 1 to 10 letters a and b: the binary digits of 2 to 2047 after the leading 1.
      const merges = randomRanks(rand, ["a", "b"], 2 + rand(20), table % 2 === 0);
      for (let bits = 2; bits < 2 ** 11; bits++) {
        expectSame(bits.toString(2).slice(1).replace(/0/g, "a").replace(/1/g, "b"), merges);
      }
    }
    for (let table = 0; table < 400; table++) {
      const alphabet = ["a", "b", "c", "d"].slice(0, 1 + rand(4));
      const merges = randomRanks(rand, alphabet, 1 + rand(40), table % 2 === 0);
      for (let i = 0; i < 20; i++) expectSame(randomString(rand, alphabet, 1 + rand(60)), merges);
      expectSame(randomString(rand, alphabet, 500), merges);
    }
  });

  it("does a bounded amount of heap work: a 128,000-letter word takes at most 3n pushes", function () {
    const rand = rng(4);
    const letters = Array.from("abcdefghijklmnopqrstuvwxyz");
    const check = (word: string): string[] => {
      const work: BpeWork = { pushes: 0, pops: 0, merges: 0 };
      const symbols = bytePairMerge(word, ranks, work);
      const n = word.length;
      expect(work.merges).to.equal(n - symbols.length);
      expect(work.pushes).to.be.at.most(n - 1 + 2 * work.merges);
      expect(work.pushes).to.be.at.most(3 * n);
      expect(work.pops).to.equal(work.pushes); // every entry is popped once: valid or stale
      expect(symbols.join("")).to.equal(word);
      return symbols;
    };
    const long = randomString(rand, letters, 128_000);
    check(long);
    check("a".repeat(128_000));
    check("ab".repeat(64_000));
    check(byteLevel(" ".repeat(128_000)));
    const ids = gpt2.encode(long);
    expect(ids.length).to.be.greaterThan(40_000);
    expect(gpt2.decode(ids)).to.equal(long);
    // A word long enough for the reference's rounds to matter, still quick for it.
    const mid = randomString(rand, letters, 4000);
    expect(check(mid)).to.deep.equal(referenceBpe(mid, ranks));
  });
});

describe("ml/tokenizer: the word cache holds a bounded number of bytes, and only short words", function () {
  this.timeout(120_000);

  /** Distinct words of `length` letters from a seed. */
  const words = (seed: number, count: number, length: number): string[] => {
    const rand = rng(seed);
    return Array.from({ length: count }, () => randomString(rand, Array.from("abcdefghijklmnopqrstuvwxyz"), length));
  };

  it("evicts the oldest words past its byte budget, and keeps no word over 256 UTF-16 units", function () {
    const cache = new WordCache(1 << 20);
    const ws = words(5, 20_000, 40);
    for (const w of ws) cache.add(w, new Int32Array(20).fill(7));
    expect(cache.bytes).to.be.at.most(1 << 20);
    expect(cache.size).to.be.within(2000, 20_000 - 1);
    expect(cache.get(ws[ws.length - 1])).to.deep.equal(new Array(20).fill(7));
    expect(cache.get(ws[0])).to.equal(undefined);
    const [long, longest] = words(6, 2, 257);
    cache.add(long, [1]);
    cache.add(longest.slice(1), [2]);
    expect(cache.get(long)).to.equal(undefined);
    expect(cache.get(longest.slice(1))).to.deep.equal([2]);
  });

  it("a tokenizer's cache stays within its budget whatever the text: long distinct words are merged, not kept", function () {
    const tok = new Gpt2Tokenizer(buildGpt2TokenizerJson());
    const cache = (tok as unknown as { cache: WordCache }).cache;
    const long = words(7, 2000, 300).join(" ");
    expect(tok.decode(tok.encode(long))).to.equal(long);
    expect(cache.size).to.equal(0);
    const many = words(8, 150_000, 20).join(" ");
    expect(tok.encode(many).length).to.be.above(many.length / 4);
    expect(cache.bytes).to.be.at.most(cache.maxBytes);
    expect(cache.size).to.be.above(10_000);
  });

  it("keeps a copy of each word, not a slice that holds the whole text it was cut from", async function () {
    v8.setFlagsFromString("--expose_gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const settle = async () => {
      for (let i = 0; i < 5; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 30));
      }
    };
    /** Bytes of external strings held after `keep` stored ten 100-letter slices of a 16 MB text. */
    const held = async (keep: (word: string) => void): Promise<number> => {
      await settle();
      const before = process.memoryUsage().external;
      const b = crypto.randomFillSync(Buffer.alloc(16e6));
      for (let i = 0; i < b.length; i++) b[i] = 97 + (b[i] % 26);
      let text: string | null = b.toString("latin1"); // an external string, as a dataset read from a file
      for (let i = 0; i < 10; i++) keep(text.slice(1000 * i, 1000 * i + 100));
      text = null;
      await settle();
      return process.memoryUsage().external - before;
    };
    const map = new Map<string, number[]>();
    expect(await held((w) => map.set(w, [1])), "a Map keeps the text (the measure works)").to.be.above(15e6);
    const cache = new WordCache();
    expect(await held((w) => cache.add(w, [1]))).to.be.below(1e6);
    expect(cache.size).to.equal(10);
  });
});
