import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { createModel, Gpt2Tokenizer, buildGpt2TokenizerJson, readDataset, tokenizeDataset } from "../../offchain/ml";
import { evaluate } from "../../offchain/ml/evaluate";
import { disposeServed } from "../../offchain/ml/serve";
import { trainModel } from "../../offchain/ml/train";
import { checkJobInput, decidedByBytes, MAX_TOKEN_BYTES } from "../../offchain/ml/input-check";
import { CORPUS, expectMlError, tmpDir } from "./helpers";

describe("ml/data: datasets and their errors", function () {
  let dir: string;
  let modelDir: string;
  const limits = { maxBytes: 4096 };

  before(async function () {
    dir = tmpDir("data");
    modelDir = (await createModel(path.join(dir, "model"), { preset: "tiny", seed: 3 })).dir;
  });

  after(async function () {
    await disposeServed();
  });

  const file = (name: string, content: string | Buffer): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, content);
    return f;
  };

  it("reads UTF-8 text (BOM stripped) and JSONL {text}; JSONL documents end with EOS", function () {
    const t = readDataset(file("a.txt", "\ufeffHello world"));
    expect(t).to.include({ format: "text", bytes: 14 });
    expect(t.texts).to.deep.equal(["Hello world"]);
    expect(t.sha256).to.match(/^0x[0-9a-f]{64}$/);
    const j = readDataset(file("b.jsonl", '{"text": "First doc."}\n\n{"text": "Second 😀", "id": 2}\n'));
    expect(j.format).to.equal("jsonl");
    expect(j.texts).to.deep.equal(["First doc.", "Second 😀"]);
    const tok = new Gpt2Tokenizer(buildGpt2TokenizerJson());
    const ids = tokenizeDataset(j, tok);
    expect(ids.filter((x) => x === 50256)).to.have.length(2);
    expect(ids[ids.length - 1]).to.equal(50256);
  });

  it("empty files, whitespace-only text and empty JSONL are DATASET_EMPTY, naming the file", async function () {
    const empty = file("empty.txt", "");
    await expectMlError(() => readDataset(empty), "DATASET_EMPTY", empty);
    const blank = file("blank.txt", "  \n\t\n");
    await expectMlError(() => readDataset(blank), "DATASET_EMPTY", blank);
    const blankJsonl = file("blank.jsonl", '{"text": ""}\n');
    await expectMlError(() => readDataset(blankJsonl), "DATASET_EMPTY", blankJsonl);
  });

  it("binary data is DATASET_BINARY; invalid UTF-8 is DATASET_INVALID_UTF8 with the offset", async function () {
    const png = file(
      "image.txt",
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]),
    );
    await expectMlError(() => readDataset(png), "DATASET_BINARY", png, "NUL byte at offset 8");
    const ctrl = file("ctrl.txt", Buffer.from(Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? 0x01 : 0x41))));
    await expectMlError(() => readDataset(ctrl), "DATASET_BINARY", ctrl);
    const latin1 = file(
      "latin1.txt",
      Buffer.concat([Buffer.from("A café in "), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from(" town")]),
    );
    await expectMlError(() => readDataset(latin1), "DATASET_INVALID_UTF8", latin1, "offset 14");
    const truncated = file("trunc.txt", Buffer.concat([Buffer.from("emoji "), Buffer.from("😀").subarray(0, 3)]));
    await expectMlError(() => readDataset(truncated), "DATASET_INVALID_UTF8", "offset 6");
    const overlong = file("overlong.txt", Buffer.from([0x41, 0xc0, 0xaf, 0x41]));
    await expectMlError(() => readDataset(overlong), "DATASET_INVALID_UTF8", "offset 1");
    const surrogate = file("surrogate.txt", Buffer.from([0x41, 0xed, 0xa0, 0x80]));
    await expectMlError(() => readDataset(surrogate), "DATASET_INVALID_UTF8", "offset 1");
  });

  it("files above the configured size are DATASET_TOO_LARGE, naming the file and the limit; missing files DATASET_NOT_FOUND", async function () {
    const big = file("big.txt", "x".repeat(5000));
    const e = await expectMlError(
      () => readDataset(big, limits),
      "DATASET_TOO_LARGE",
      big,
      "5000 bytes",
      "limit is 4096",
    );
    expect((e as unknown as { details: Record<string, unknown> }).details).to.include({ limit: 4096, bytes: 5000 });
    await expectMlError(() => readDataset(path.join(dir, "nope.txt")), "DATASET_NOT_FOUND", "nope.txt");
    await expectMlError(() => readDataset(dir), "DATASET_NOT_FOUND", "not a regular file");
  });

  it("bad JSONL is DATASET_INVALID_JSONL with the line number", async function () {
    const notJson = file("bad1.jsonl", '{"text": "ok"}\n{"text": oops}\n');
    await expectMlError(() => readDataset(notJson), "DATASET_INVALID_JSONL", notJson, "line 2");
    const noText = file("bad2.jsonl", '{"text": "ok"}\n{"content": "x"}\n');
    await expectMlError(() => readDataset(noText), "DATASET_INVALID_JSONL", "line 2", '"text"');
    const arr = file("bad3.jsonl", '["text"]\n');
    await expectMlError(() => readDataset(arr), "DATASET_INVALID_JSONL", "line 1");
  });

  it("datasets shorter than one context window are DATASET_TOO_SHORT for evaluation and training, naming the file and the limit", async function () {
    const short = file("short.txt", "A sentence that is much shorter than sixty-four tokens.");
    await expectMlError(
      () => evaluate(modelDir, { datasets: [short], cacheDir: path.join(dir, "cache") }),
      "DATASET_TOO_SHORT",
      short,
      "needs at least 65",
    );
    await expectMlError(
      () =>
        trainModel({
          modelDir,
          outDir: path.join(dir, "o"),
          datasets: [short],
          seed: 1,
          steps: 1,
          lr: 1e-3,
          batchSize: 1,
          contextLength: 16,
        }),
      "DATASET_TOO_SHORT",
      short,
    );
    // The corpus is long enough for the tiny context, but not for a 16-token window list with 0.99 held out.
    await expectMlError(
      () =>
        trainModel({
          modelDir,
          outDir: path.join(dir, "o"),
          datasets: [CORPUS],
          seed: 1,
          steps: 1,
          lr: 1e-3,
          batchSize: 1,
          validationFraction: 0.99,
        }),
      "DATASET_TOO_SHORT",
    );
    // Limits apply in training too.
    await expectMlError(
      () =>
        trainModel({
          modelDir,
          outDir: path.join(dir, "o"),
          datasets: [CORPUS],
          seed: 1,
          steps: 1,
          lr: 1e-3,
          batchSize: 1,
          datasetLimits: limits,
        }),
      "DATASET_TOO_LARGE",
      CORPUS,
    );
  });

  it("says when the byte bounds decide the input rules, and when only the model's tokenizer can (decidedByBytes)", function () {
    const bytes = (n: number, c = "a") => Buffer.from(c.repeat(n));
    const infer = { file: "p.txt", nPositions: 64, maxTokens: 4 };
    // A prompt of at most 60 bytes has at most 60 tokens: it fits the 60 left, whatever the tokenizer does.
    expect(decidedByBytes("infer", bytes(60), infer)).to.equal(true);
    expect(decidedByBytes("infer", bytes(61), infer)).to.equal(false);
    expect(decidedByBytes("infer", bytes(6000), { file: "p.txt" })).to.equal(true); // no context known: no rule open
    // Evaluation with context 64 needs 65 tokens: certain from 65 × MAX_TOKEN_BYTES bytes on.
    const evaluate = { file: "e.txt", nPositions: 64, contextLength: 64 };
    expect(decidedByBytes("evaluate", bytes(65 * MAX_TOKEN_BYTES), evaluate)).to.equal(true);
    expect(decidedByBytes("evaluate", bytes(64 * MAX_TOKEN_BYTES), evaluate)).to.equal(false);
    // Training needs a validation window and a training window: 130 tokens at least.
    expect(decidedByBytes("train", bytes(130 * MAX_TOKEN_BYTES), evaluate)).to.equal(true);
    expect(decidedByBytes("train", bytes(129 * MAX_TOKEN_BYTES), evaluate)).to.equal(false);
    // Every undecided case is one the byte check lets through (the worker is asked only about those).
    expect(checkJobInput("train", bytes(129 * MAX_TOKEN_BYTES), evaluate).ok).to.equal(true);
    expect(checkJobInput("infer", bytes(61), infer).ok).to.equal(true);
  });
});
