import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { AutoTokenizer, env } from "@huggingface/transformers";
import { encode as r50kEncode } from "gpt-tokenizer/cjs/encoding/r50k_base";
import { buildGpt2TokenizerJson, Gpt2Tokenizer, gpt2TokenizerConfig, type TokenizerJson } from "../../offchain/ml";
import { checkJobInput, MAX_TOKEN_BYTES } from "../../offchain/ml/input-check";
import { CORPUS, tmpDir } from "./helpers";

const SAMPLES = [
  "Hello world!",
  "  leading spaces and trailing   ",
  "tabs\tand\t\ttabs, newlines\n\n\nand\r\nCRLF \n \n",
  "whitespace runs:      end      \t  \n   x",
  "Ünïcödé: café, naïve, façade, Ångström, Straße",
  "中文字符，日本語のテキスト、한국어 텍스트",
  "Emoji 😀🎉 family 👩‍👩‍👧‍👦 flags 🇫🇷🇯🇵 skin 👍🏽 keycap 1️⃣",
  "Math ∑∫√∞ ≠ ≤ ≥ and arrows → ← ↔",
  "It's we're they've I'm you'll he'd 'tis O'Neil's",
  "Numbers 1234567890 3.14159 1e-10 0x1F 1,000,000",
  "URL https://example.org/a/b?c=d&e=f#frag and email a.b@c.de",
  "code: def f(x):\n    return x**2  # square\n\tif (a && b) { c(); }",
  "mixed scripts: Ελληνικά Русский עברית العربية हिन्दी",
  "zero\u200bwidth\u200djoiner and non\u00a0breaking\u3000space",
  "",
  " ",
  "a",
];

describe("ml/tokenizer: GPT-2 byte-level BPE", function () {
  let ours: Gpt2Tokenizer;
  let hf: { encode(text: string): number[] };
  const prose = fs.readFileSync(CORPUS, "utf8");

  before(async function () {
    const json = buildGpt2TokenizerJson();
    ours = new Gpt2Tokenizer(json);
    const dir = tmpDir("tok");
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(json));
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(gpt2TokenizerConfig(1024)));
    env.allowRemoteModels = false;
    env.localModelPath = path.dirname(dir) + path.sep;
    hf = await AutoTokenizer.from_pretrained(path.basename(dir));
  });

  it("knows the most bytes one of its tokens covers, which the input rules bound token counts with", function () {
    expect(ours.maxTokenBytes).to.equal(MAX_TOKEN_BYTES); // GPT-2's longest: 128 bytes
    // A tokenizer with a longer added token: its bound, not GPT-2's, or a one-token prompt would be refused.
    // (A copy: buildGpt2TokenizerJson's answer is shared by every model this process creates, and frozen.)
    const gpt2 = buildGpt2TokenizerJson();
    expect(() => gpt2.added_tokens!.push({ id: 50257, content: "x" })).to.throw(TypeError);
    const long = "§".repeat(150); // 300 bytes of UTF-8
    const added = [...(gpt2.added_tokens ?? []), { id: 50257, content: long, special: false }];
    const custom = new Gpt2Tokenizer({ ...gpt2, added_tokens: added });
    expect(custom.maxTokenBytes).to.equal(300);
    expect(custom.encode(long)).to.deep.equal([50257]);
    const rules = { file: "p.txt", nPositions: 4, maxTokens: 2, countTokens: (t: string) => custom.encode(t).length };
    expect(checkJobInput("infer", Buffer.from(`${long}\n`), { ...rules, maxTokenBytes: 300 }).ok).to.equal(true);
    expect(checkJobInput("infer", Buffer.from(`${long}\n`), rules)).to.include({ ok: false, code: "PROMPT_TOO_LONG" });
  });

  it("rebuilds GPT-2's vocabulary and merges (50,257 tokens, 50,000 merges, the known first merges)", function () {
    const json = buildGpt2TokenizerJson();
    expect(Object.keys(json.model.vocab)).to.have.length(50257);
    expect(json.model.merges).to.have.length(50000);
    expect(json.model.merges.slice(0, 5)).to.deep.equal(["Ġ t", "Ġ a", "h e", "i n", "r e"]);
    expect(json.model.vocab["<|endoftext|>"]).to.equal(50256);
    expect(json.model.vocab["Ġthe"]).to.equal(262);
  });

  it("gives the ids of gpt-tokenizer (r50k_base) on unicode, emoji, whitespace runs", function () {
    for (const s of SAMPLES) expect(ours.encode(s), JSON.stringify(s)).to.deep.equal(r50kEncode(s));
  });

  it("gives the ids of transformers.js loading the same tokenizer.json", function () {
    for (const s of SAMPLES) expect(ours.encode(s), JSON.stringify(s)).to.deep.equal(Array.from(hf.encode(s)));
  });

  it("matches both on a few KB of prose, and decodes back to the exact text", function () {
    expect(prose.length).to.be.greaterThan(4000);
    const ids = ours.encode(prose);
    expect(ids).to.deep.equal(r50kEncode(prose));
    expect(ids).to.deep.equal(Array.from(hf.encode(prose)));
    expect(ours.decode(ids)).to.equal(prose);
    for (const s of SAMPLES) expect(ours.decode(ours.encode(s))).to.equal(s);
  });

  it("encodes <|endoftext|> as the special token like Hugging Face, and as text with encodeOrdinary", function () {
    const s = "first<|endoftext|>second";
    expect(ours.encode(s)).to.deep.equal(Array.from(hf.encode(s)));
    expect(ours.encode(s)).to.include(50256);
    expect(ours.encodeOrdinary(s)).to.not.include(50256);
    expect(ours.decode(ours.encode(s))).to.equal(s);
    expect(ours.decode(ours.encode(s), true)).to.equal("firstsecond");
  });

  it("refuses, before allocating anything by an id, a tokenizer some text could not be encoded with", function () {
    const gpt2 = buildGpt2TokenizerJson();
    const vocab = (edit: (v: Record<string, number>) => void) => {
      const v = { ...gpt2.model.vocab };
      edit(v);
      return { ...gpt2, model: { ...gpt2.model, vocab: v } };
    };
    const refusals: [string, TokenizerJson, RegExp][] = [
      [
        "a byte without its symbol",
        vocab((v) => (v.renamed = v.z) && delete v.z),
        /merge .* names z,|lacks the symbol of byte/,
      ],
      ["a negative id", vocab((v) => (v.z = -5)), /gives "z" the id -5/],
      [
        "an id past the vocabulary (a 3 KB file asking for 300 million slots)",
        vocab((v) => (v.z = 3e8)),
        /the id 300000000/,
      ],
      ["a fractional id", vocab((v) => (v.z = 1.5)), /the id 1.5/],
      ["two tokens sharing an id", vocab((v) => (v.zzz = v.z)), /the id \d+ to two tokens|ids must be 0/],
      ["an empty added token", { ...gpt2, added_tokens: [{ id: 50256, content: "" }] }, /without content/],
      ["a merge of three symbols", { ...gpt2, model: { ...gpt2.model, merges: ["a b c"] } }, /not a pair of symbols/],
      ["a merge into a token it lacks", { ...gpt2, model: { ...gpt2.model, merges: ["q x"] } }, /names qx, not in/],
    ];
    for (const [what, json, message] of refusals) {
      const started = Date.now();
      expect(() => new Gpt2Tokenizer(json), what).to.throw(message);
      // (the huge id was refused after minutes of allocating before; on a busy machine a build takes a second)
      if (/300 million/.test(what)) expect(Date.now() - started, what).to.be.lessThan(20_000);
    }
    const nullVocab = { ...gpt2, model: { ...gpt2.model, vocab: null as unknown as Record<string, number> } };
    expect(() => new Gpt2Tokenizer(nullVocab)).to.throw(/has no BPE model/);
    // Once built, any text encodes, so a job's input can fail only for its own reasons.
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, b) => b)).toString("latin1");
    expect(new Gpt2Tokenizer(gpt2).decode(new Gpt2Tokenizer(gpt2).encode(bytes))).to.equal(bytes);
  });
});
