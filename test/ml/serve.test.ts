import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import { createModel, initWeights, loadCheckpoint, PRESETS, saveCheckpoint } from "../../offchain/ml";
import { evaluate, evaluateTf, planWindows } from "../../offchain/ml/evaluate";
import { logitsOf } from "../../offchain/ml/gpt2-tf";
import { buildOnnxModel, exportOnnx } from "../../offchain/ml/onnx-export";
import { LogitsProcessorList, random, Tensor } from "@huggingface/transformers";
import * as ort from "onnxruntime-node";
import { decodeGraphFile } from "../../offchain/ml/decode-graph";
import { ortSession } from "../../offchain/ml/ort-session";
import {
  disposeServed,
  generate,
  GenerateParams,
  loadServed,
  onnxLogits,
  prepareServingDir,
  sessionOf,
  TopKTopP,
} from "../../offchain/ml/serve";
import { pruneServingCache } from "../../offchain/ml/serving-cache";
import { ensureWasmBackend } from "../../offchain/ml/tf-backend";
import { CORPUS, expectMlError, perturbedModel, tmpDir } from "./helpers";

describe("ml/serve: ONNX export, generation, evaluation", function () {
  let modelDir: string;
  let cacheDir: string;

  before(async function () {
    await ensureWasmBackend();
    modelDir = perturbedModel(path.join(tmpDir("srv"), "m"), "serve");
    cacheDir = tmpDir("cache");
  });

  after(async function () {
    await disposeServed();
  });

  it("export is deterministic and its logits match the training graph (max abs diff ≤ 1e-4)", async function () {
    const ck = loadCheckpoint(modelDir);
    const a = Buffer.from(buildOnnxModel(ck));
    const b = Buffer.from(buildOnnxModel(loadCheckpoint(modelDir)));
    expect(a.equals(b)).to.equal(true);
    const out = await exportOnnx(modelDir, path.join(tmpDir("exp"), "serve"));
    expect(fs.readFileSync(out.onnxPath).equals(a)).to.equal(true);
    for (const f of ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"])
      expect(fs.existsSync(path.join(out.dir, f)), f).to.equal(true);

    const served = await loadServed(modelDir, { cacheDir });
    const ids = [
      [464, 46371, 28356, 319, 262, 7840, 36023, 4030, 257, 37208, 286, 790, 4074, 326, 3804, 13],
      [50256, 15496, 995, 0, 220, 49363, 77, 26884, 66, 9101, 67, 2634, 30325, 222, 41840, 102],
    ];
    const onnx = await onnxLogits(served, ids);
    const tfl = logitsOf(ck.config, ck.weights, ids);
    let maxDiff = 0;
    for (let i = 0; i < tfl.length; i++) maxDiff = Math.max(maxDiff, Math.abs(tfl[i] - onnx[i]));
    expect(onnx.length).to.equal(tfl.length);
    expect(maxDiff).to.be.lessThan(1e-4);
    // Full 64-token context.
    const long = [Array.from({ length: 64 }, (_, i) => (i * 7919) % 50257)];
    const onnxLong = await onnxLogits(served, long);
    const tfLong = logitsOf(ck.config, ck.weights, long);
    let maxLong = 0;
    for (let i = 0; i < tfLong.length; i++) maxLong = Math.max(maxLong, Math.abs(tfLong[i] - onnxLong[i]));
    expect(maxLong).to.be.lessThan(1e-4);
    console.log(
      `      export parity: max |Δlogit| = ${maxDiff.toExponential(2)} (16 tokens ×2), ${maxLong.toExponential(2)} (64 tokens)`,
    );
  });

  it("generation: greedy is deterministic and follows the training graph's argmax through the KV cache; seeded sampling is reproducible and depends on the seed", async function () {
    const prompts = ["The lighthouse keeper", "Emoji 😀 and ünïcode", ""];
    const g1 = await generate(modelDir, prompts, { maxNewTokens: 12 }, { cacheDir });
    expect(g1.generations[0].finishReason).to.equal("length");
    const g2 = await generate(modelDir, prompts, { maxNewTokens: 12 }, { cacheDir });
    expect(g1.generations).to.deep.equal(g2.generations);
    expect(g1.generations).to.have.length(3);
    for (const g of g1.generations) {
      expect(g.tokens.length).to.be.at.most(12);
      expect(g.text).to.be.a("string");
    }
    // Greedy = argmax of the training graph's logits, step by step.
    const ck = loadCheckpoint(modelDir);
    const seq = ck.tokenizer.encode(prompts[0]);
    for (let s = 0; s < 8; s++) {
      const lg = logitsOf(ck.config, ck.weights, [seq]);
      const last = lg.subarray((seq.length - 1) * 50257, seq.length * 50257);
      let best = 0;
      for (let v = 1; v < 50257; v++) if (last[v] > last[best]) best = v;
      seq.push(best);
    }
    expect(g1.generations[0].tokens.slice(0, 8)).to.deep.equal(seq.slice(-8));

    const params = { maxNewTokens: 16, temperature: 1.2, topK: 50, topP: 0.9, seed: 7 };
    const s1 = await generate(modelDir, prompts, params, { cacheDir });
    const s2 = await generate(modelDir, prompts, params, { cacheDir });
    const s3 = await generate(modelDir, prompts, { ...params, seed: 8 }, { cacheDir });
    expect(s1.generations).to.deep.equal(s2.generations);
    expect(s3.generations.map((g) => g.tokens)).to.not.deep.equal(s1.generations.map((g) => g.tokens));
    const pure = await generate(modelDir, ["x"], { maxNewTokens: 16, temperature: 0.7, seed: 1 }, { cacheDir });
    expect(pure.generations[0].tokens.length).to.be.greaterThan(0);
  });

  it("generation drives onnxruntime directly and chooses the tokens transformers.js' generate chooses (greedy, temperature, top-k, top-p)", async function () {
    const served = await loadServed(modelDir, { cacheDir });
    const prompts = ["The lighthouse keeper", "Emoji 😀 and ünïcode", ""];
    const cases: GenerateParams[] = [
      { maxNewTokens: 14 },
      { maxNewTokens: 14, temperature: 0.8, seed: 3 },
      { maxNewTokens: 14, temperature: 1.3, topK: 40, seed: 5 },
      { maxNewTokens: 14, temperature: 1, topP: 0.9, seed: 9 },
      { maxNewTokens: 14, temperature: 0.7, topK: 100, topP: 0.8, seed: 11 },
    ];
    for (const p of cases) {
      const ours = await generate(modelDir, prompts, p, { cacheDir });
      for (let i = 0; i < prompts.length; i++) {
        const ids = served.tokenizer.encode(prompts[i]);
        if (ids.length === 0) ids.push(served.config.bos_token_id);
        const sample = (p.temperature ?? 0) > 0;
        random.seed(((p.seed ?? 0) + i) % 2 ** 32);
        const processors = new LogitsProcessorList();
        if (sample && ((p.topK ?? 0) > 0 || (p.topP ?? 1) < 1)) processors.push(new TopKTopP(p.topK ?? 0, p.topP ?? 1));
        const out = (await served.model.generate({
          input_ids: new Tensor(
            "int64",
            BigInt64Array.from(ids, (x) => BigInt(x)),
            [1, ids.length],
          ),
          attention_mask: new Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
          max_new_tokens: p.maxNewTokens,
          do_sample: sample,
          temperature: sample ? p.temperature : 1,
          top_k: sample ? (p.topK ?? 0) : 0,
          eos_token_id: served.config.eos_token_id,
          pad_token_id: served.config.eos_token_id,
          logits_processor: processors,
        } as Parameters<typeof served.model.generate>[0])) as Tensor;
        let theirs = Array.from(out.data as BigInt64Array, (x) => Number(x)).slice(ids.length);
        const eos = theirs.indexOf(served.config.eos_token_id);
        if (eos >= 0) theirs = theirs.slice(0, eos);
        expect(ours.generations[i].tokens, `${JSON.stringify(p)} prompt ${i}`).to.deep.equal(theirs);
      }
    }
  });

  it("the CPU decoding graph gives the serving graph's last-position logits and their argmax, with the cache", async function () {
    const served = await loadServed(modelDir, { cacheDir });
    const c = served.config;
    const hd = c.n_embd / c.n_head;
    const serving = sessionOf(served);
    const dec = await ortSession(decodeGraphFile(served.servingDir, c.vocab_size), "cpu", 2);
    const feeds = (ids: number[], past: number, cache: Record<string, ort.Tensor>): Record<string, ort.Tensor> => ({
      input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(past + ids.length).fill(1n), [1, past + ids.length]),
      position_ids: new ort.Tensor(
        "int64",
        BigInt64Array.from(ids, (_, j) => BigInt(past + j)),
        [1, ids.length],
      ),
      ...cache,
    });
    const empty: Record<string, ort.Tensor> = {};
    for (let i = 0; i < c.n_layer; i++)
      for (const kv of ["key", "value"])
        empty[`past_key_values.${i}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [1, c.n_head, 0, hd]);
    const prompt = served.tokenizer.encode("The lighthouse keeper on the northern cape");
    const a = await serving.run(feeds(prompt, 0, empty));
    const b = await dec.run(feeds(prompt, 0, empty));
    const cache = (r: ort.InferenceSession.OnnxValueMapType): Record<string, ort.Tensor> =>
      Object.fromEntries(Object.keys(empty).map((k) => [k, r[k.replace("past_key_values", "present")] as ort.Tensor]));
    // One cached step after the prompt, on each graph's own cache.
    const a2 = await serving.run(feeds([prompt[0]], prompt.length, cache(a)));
    const b2 = await dec.run(feeds([prompt[0]], prompt.length, cache(b)));
    for (const [full, last] of [
      [a, b],
      [a2, b2],
    ]) {
      const fl = full.logits.data as Float32Array;
      const want = fl.subarray(fl.length - c.vocab_size);
      const got = last.logits.data as Float32Array;
      expect(last.logits.dims).to.deep.equal([1, c.vocab_size]);
      let maxDiff = 0;
      for (let v = 0; v < c.vocab_size; v++) maxDiff = Math.max(maxDiff, Math.abs(got[v] - want[v]));
      expect(maxDiff).to.be.lessThan(1e-5);
      const first = got.indexOf(Math.max(...got));
      expect(Number((last.next_token.data as BigInt64Array)[0])).to.equal(first);
    }
  });

  it("generation stops at EOS", async function () {
    // ln_f outputs a constant aligned with the EOS embedding, so the tied head always prefers EOS.
    const c = PRESETS.tiny;
    const w = initWeights(c, "eos");
    const d = c.n_embd;
    (w.get("ln_f.weight") as Float32Array).fill(0);
    (w.get("ln_f.bias") as Float32Array).set(
      (w.get("wte.weight") as Float32Array).subarray(c.eos_token_id * d, (c.eos_token_id + 1) * d).map((v) => v * 100),
    );
    const dir = path.join(tmpDir("eos"), "m");
    saveCheckpoint(dir, c, w);
    const g = await generate(dir, ["Hello"], { maxNewTokens: 10 }, { cacheDir });
    expect(g.generations[0]).to.include({ finishReason: "eos", text: "" });
    expect(g.generations[0].tokens).to.deep.equal([]);
  });

  it("evaluation: the ONNX path equals the training graph within 1e-4; every token is scored once", async function () {
    for (const [ctx, stride] of [
      [64, 32],
      [16, 16],
      [10, 3],
      [64, 64],
      [2, 1],
    ]) {
      const ws = planWindows(1000, ctx, stride);
      const scored = ws.reduce((a, w) => a + w.trg, 0);
      expect(scored, `${ctx}/${stride}`).to.equal(999);
      for (const w of ws) expect(w.end - w.begin).to.be.at.most(ctx);
    }
    const onnx = await evaluate(modelDir, { datasets: [CORPUS], cacheDir });
    const tfe = await evaluateTf(modelDir, { datasets: [CORPUS] });
    expect(onnx.tokenCount).to.equal(onnx.datasetTokens - 1);
    expect(onnx.tokenCount).to.equal(tfe.tokenCount);
    expect(Math.abs(onnx.loss - tfe.loss)).to.be.lessThan(1e-4);
    expect(Math.abs(onnx.perplexity - tfe.perplexity) / tfe.perplexity).to.be.lessThan(1e-4);
    expect(onnx.perplexity).to.be.closeTo(Math.exp(onnx.loss), 1e-9);
    const again = await evaluate(modelDir, { datasets: [CORPUS], cacheDir });
    expect(again.loss).to.equal(onnx.loss);
    const shortCtx = await evaluate(modelDir, { datasets: [CORPUS], cacheDir, contextLength: 16, stride: 8 });
    const shortTf = await evaluateTf(modelDir, { datasets: [CORPUS], contextLength: 16, stride: 8 });
    expect(Math.abs(shortCtx.loss - shortTf.loss)).to.be.lessThan(1e-4);
    console.log(
      `      eval parity: |Δloss| = ${Math.abs(onnx.loss - tfe.loss).toExponential(2)} (ctx 64), ${Math.abs(shortCtx.loss - shortTf.loss).toExponential(2)} (ctx 16)`,
    );
  });

  it("bad inputs: prompt too long, bad sampling parameters, a CUDA device that is not there", async function () {
    const long = "word ".repeat(80);
    await expectMlError(
      () => generate(modelDir, [long], { maxNewTokens: 4 }, { cacheDir }),
      "PROMPT_TOO_LONG",
      "prompt 0",
      "context of 64",
    );
    await expectMlError(() => generate(modelDir, ["a b c"], { maxNewTokens: 62 }, { cacheDir }), "PROMPT_TOO_LONG");
    await expectMlError(
      () => generate(modelDir, ["a"], { maxNewTokens: 0 }, { cacheDir }),
      "PARAMS_INVALID",
      "maxNewTokens",
    );
    await expectMlError(
      () => generate(modelDir, ["a"], { maxNewTokens: 2, topP: 1.5, temperature: 1 }, { cacheDir }),
      "PARAMS_INVALID",
      "topP",
    );
    await expectMlError(
      () => generate(modelDir, ["a"], { maxNewTokens: 2 }, { cacheDir, device: "cuda" }),
      "DEVICE_UNAVAILABLE",
    );
    await expectMlError(
      () => evaluate(modelDir, { datasets: [CORPUS], cacheDir, device: "cuda" }),
      "DEVICE_UNAVAILABLE",
    );
    await expectMlError(
      () => evaluate(modelDir, { datasets: [CORPUS], cacheDir, contextLength: 65 }),
      "PARAMS_INVALID",
      "contextLength",
    );
  });

  it("a freshly created model serves too (the cache is keyed by weights root)", async function () {
    const count = (): number => fs.readdirSync(cacheDir).filter((n) => n.startsWith("gpt2-onnx-")).length;
    const before = count();
    const m = await createModel(path.join(tmpDir("fresh"), "m"), { preset: "tiny", seed: 99 });
    const g = await generate(m.dir, ["Hi"], { maxNewTokens: 3 }, { cacheDir });
    expect(g.generations[0].tokens).to.have.length(3);
    expect(count()).to.equal(before + 1);
    await generate(modelDir, ["Hi"], { maxNewTokens: 3 }, { cacheDir });
    expect(count()).to.equal(before + 1);
  });

  it("the serving cache keeps to its size: least recently used exports go, never the one in hand nor one in recent use", async function () {
    const cache = tmpDir("bounded");
    const models = [];
    for (const seed of [1, 2, 3])
      models.push((await createModel(path.join(tmpDir("lru"), "m"), { preset: "tiny", seed })).dir);
    const unbounded = { cacheDir: cache, cacheMaxBytes: Number.MAX_SAFE_INTEGER };
    const [a, b] = [await prepareServingDir(models[0], unbounded), await prepareServingDir(models[1], unbounded)];
    const size = (d: string): number =>
      fs
        .readdirSync(d, { recursive: true })
        .map((f) => fs.statSync(path.join(d, String(f))))
        .reduce((n, st) => n + (st.isFile() ? st.size : 0), 0);
    const hoursAgo = (h: number): Date => new Date(Date.now() - h * 3_600_000);
    fs.utimesSync(path.join(a.dir, "last-used"), hoursAgo(3), hoursAgo(3));
    fs.utimesSync(path.join(b.dir, "last-used"), hoursAgo(2), hoursAgo(2));
    // Half-written exports: one of a process that is gone (pids stop below 2^22), one of this process.
    const deadPartial = path.join(cache, `.export-${2 ** 22 + 1}-x`);
    const livePartial = path.join(cache, `.export-${process.pid}-y`);
    for (const d of [deadPartial, livePartial]) fs.mkdirSync(d);

    // Room for two exports: the oldest (a) goes when c arrives.
    const c = await prepareServingDir(models[2], { cacheDir: cache, cacheMaxBytes: size(b.dir) * 2 + 1000 });
    expect(fs.existsSync(a.dir), "least recently used").to.equal(false);
    expect(fs.existsSync(b.dir)).to.equal(true);
    expect(fs.existsSync(c.dir)).to.equal(true);
    expect(fs.existsSync(deadPartial)).to.equal(false);
    expect(fs.existsSync(livePartial)).to.equal(true);

    // Asking for b again marks it used: with no room at all, only what was used in the last ten minutes stays.
    await prepareServingDir(models[1], unbounded);
    expect(fs.statSync(path.join(b.dir, "last-used")).mtimeMs).to.be.greaterThan(hoursAgo(0.1).getTime());
    expect(pruneServingCache(cache, { maxBytes: 0 }).removed).to.deep.equal([]);
    const later = pruneServingCache(cache, { maxBytes: 0, keep: c.dir, now: Date.now() + 3_600_000 });
    expect(later.removed).to.deep.equal([b.dir]);
    expect(later.bytes).to.equal(size(c.dir));

    // An evicted model is exported again when asked for, to the same folder.
    const again = await prepareServingDir(models[0], unbounded);
    expect(again).to.deep.equal(a);
    const g = await generate(models[0], ["Hi"], { maxNewTokens: 2 }, { cacheDir: cache });
    expect(g.generations[0].tokens).to.have.length(2);
  });
});
