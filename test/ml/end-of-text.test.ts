import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { loadCheckpoint, readDataset, readTokenizerJson, tokenizeDataset, trainModel } from "../../offchain/ml";
import { evaluate } from "../../offchain/ml/evaluate";
import { BuiltinExecutor } from "../../offchain/ml/executor";
import { disposeServed, generate } from "../../offchain/ml/serve";
import { CORPUS, expectMlError, perturbedModel, tmpDir, withEndOfText } from "./helpers";

/** A copy of `model` with config.json's fields changed (and nothing else). */
function withConfig(model: string, change: Record<string, unknown>): string {
  const dir = path.join(tmpDir("eos-cfg"), "model");
  fs.cpSync(model, dir, { recursive: true });
  const file = path.join(dir, "config.json");
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), ...change }));
  return dir;
}

describe("ml/end of text: config.json's eos_token_id and bos_token_id and the tokenizer's end of text are one id", function () {
  this.timeout(300_000);
  let model: string;
  let cacheDir: string;

  before(function () {
    model = perturbedModel(path.join(tmpDir("eos-model"), "m"), "end-of-text");
    cacheDir = tmpDir("eos-cache");
  });

  after(async () => {
    await disposeServed();
  });

  it("a folder where they differ is refused wherever it is loaded, naming both ids (loading, generation from an export made before, evaluation, jobs)", async function () {
    // The export of the agreeing folder is in the cache: the folder below has the same weights and tokenizer.
    await generate(model, ["The keeper"], { maxNewTokens: 2 }, { cacheDir });
    const bad = withConfig(model, { eos_token_id: 7 });
    const says = ["MODEL_INVALID", "eos_token_id is 7", "its <|endoftext|> token is id 50256", "to 50256"];
    await expectMlError(() => loadCheckpoint(bad), ...(says as [string, ...string[]]));
    await expectMlError(
      () => generate(bad, ["The keeper"], { maxNewTokens: 2 }, { cacheDir }),
      ...(says as [string, ...string[]]),
    );
    await expectMlError(
      () => evaluate(bad, { datasets: [CORPUS], contextLength: 32, cacheDir }),
      ...(says as [string, ...string[]]),
    );
    const job = tmpDir("eos-job");
    fs.mkdirSync(path.join(job, "inputs"));
    fs.writeFileSync(path.join(job, "inputs", "p.txt"), "The keeper\n");
    fs.writeFileSync(
      path.join(job, "job.json"),
      JSON.stringify({ kind: "infer", params: { maxNewTokens: 2 }, modelDir: bad }),
    );
    await expectMlError(
      () => new BuiltinExecutor({ cacheDir }).run({ kind: "infer", jobDir: job }),
      ...(says as [string, ...string[]]),
    );

    // A tokenizer without <|endoftext|>: its end of text is its last token, which must then be config.json's.
    const none = withConfig(model, {});
    const tj = readTokenizerJson(none);
    delete tj.model.vocab["<|endoftext|>"];
    fs.writeFileSync(path.join(none, "tokenizer.json"), JSON.stringify({ ...tj, added_tokens: [] }));
    await expectMlError(
      () => loadCheckpoint(none),
      "MODEL_INVALID",
      "eos_token_id is 50256",
      "it has no <|endoftext|> token, so its end of text is its last token, id 50255",
    );
    const both = { eos_token_id: 50255, bos_token_id: 50255 };
    expect(loadCheckpoint(withConfig(none, both)).tokenizer.eosTokenId).to.equal(50255);
  });

  it("a folder whose bos_token_id is not the tokenizer's end of text is refused the same way, naming both ids", async function () {
    // GPT-2's bos is its end of text too: an empty prompt starts from it (encodePrompts).
    const bad = withConfig(model, { bos_token_id: 7 });
    const says = ["MODEL_INVALID", "bos_token_id is 7 (the id an empty prompt starts from)", "id 50256", "to 50256"];
    await expectMlError(() => loadCheckpoint(bad), ...(says as [string, ...string[]]));
    await expectMlError(
      () => generate(bad, [""], { maxNewTokens: 2 }, { cacheDir }),
      ...(says as [string, ...string[]]),
    );
    await expectMlError(
      () => evaluate(bad, { datasets: [CORPUS], contextLength: 32, cacheDir }),
      ...(says as [string, ...string[]]),
    );
    // Where only the tokenizer's end of text moved, both ids must follow it.
    const none = withConfig(model, {});
    const tj = readTokenizerJson(none);
    delete tj.model.vocab["<|endoftext|>"];
    fs.writeFileSync(path.join(none, "tokenizer.json"), JSON.stringify({ ...tj, added_tokens: [] }));
    await expectMlError(
      () => loadCheckpoint(withConfig(none, { eos_token_id: 50255 })),
      "MODEL_INVALID",
      "bos_token_id is 50256",
      "its last token, id 50255",
    );
  });

  it("where they agree on another id, documents are separated by it, generation stops at it, and a trained child keeps the tokenizer", async function () {
    // The end of text moved to the fourth token the model generates greedily (one it does not generate before).
    const plain = (await generate(model, ["The keeper"], { maxNewTokens: 8 }, { cacheDir })).generations[0].tokens;
    const eos = plain[3];
    expect(plain.indexOf(eos)).to.equal(3);
    const moved = withEndOfText(model, eos);
    const ck = loadCheckpoint(moved);
    expect([ck.config.eos_token_id, ck.tokenizer.eosTokenId, ck.tokenizer.encode("a<|endoftext|>")[1]]).to.deep.equal([
      eos,
      eos,
      eos,
    ]);
    const g = (await generate(moved, ["The keeper"], { maxNewTokens: 8 }, { cacheDir })).generations[0];
    expect(g).to.deep.include({ tokens: plain.slice(0, 3), finishReason: "eos" });
    const data = path.join(tmpDir("eos-data"), "d.jsonl");
    const line = JSON.stringify({ text: fs.readFileSync(CORPUS, "utf8").slice(0, 600) });
    fs.writeFileSync(data, `${line}\n${line}\n`);
    const ids = tokenizeDataset(readDataset(data), ck.tokenizer);
    expect(ids.filter((t) => t === eos)).to.have.length(2);
    expect(ids[ids.length - 1]).to.equal(eos);
    // The child carries its parent's tokenizer (the chain gives it the parent's tokenizer hash), so it still agrees.
    const out = path.join(tmpDir("eos-child"), "m");
    await trainModel({
      modelDir: moved,
      outDir: out,
      datasets: [data],
      seed: 1,
      steps: 1,
      lr: 1e-3,
      batchSize: 1,
      contextLength: 16,
    });
    expect(fs.readFileSync(path.join(out, "tokenizer.json"), "utf8")).to.equal(
      fs.readFileSync(path.join(moved, "tokenizer.json"), "utf8"),
    );
    expect(loadCheckpoint(out).tokenizer.eosTokenId).to.equal(eos);
  });
});
