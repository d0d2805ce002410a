import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import {
  checkModelLimits,
  configHash,
  createModel,
  initWeights,
  loadCheckpoint,
  parameterCount,
  parseSafetensors,
  PRESETS,
  readSafetensors,
  serializeSafetensors,
  RawTensor,
  weightsRoot,
  Gpt2Config,
} from "../../offchain/ml";
import { expectMlError, tmpDir, writeHfFolder } from "./helpers";

describe("ml/checkpoint: safetensors, HF folders, weights root", function () {
  it("safetensors: round trip of several dtypes and shapes, byte-identical re-serialization", function () {
    const tensors: Array<[string, RawTensor]> = [
      [
        "a.weight",
        { dtype: "F32", shape: [2, 3], data: new Uint8Array(new Float32Array([1, -2, 3.5, 0, 1e-7, -0]).buffer) },
      ],
      ["b", { dtype: "F16", shape: [4], data: new Uint8Array([0, 60, 0, 192, 0, 0, 0, 124]) }],
      ["c.scalar", { dtype: "I64", shape: [], data: new Uint8Array(8).fill(7) }],
      ["d.empty", { dtype: "F32", shape: [0, 5], data: new Uint8Array(0) }],
    ];
    const buf = serializeSafetensors(tensors, { format: "pt", note: "x" });
    const headerLen = Number(buf.readBigUInt64LE(0));
    expect((8 + headerLen) % 8).to.equal(0);
    const parsed = parseSafetensors(buf);
    expect(parsed.metadata).to.deep.equal({ format: "pt", note: "x" });
    for (const [name, t] of tensors) {
      const p = parsed.tensors.get(name) as RawTensor;
      expect(p.dtype).to.equal(t.dtype);
      expect(p.shape).to.deep.equal(t.shape);
      expect(Buffer.from(p.data).equals(Buffer.from(t.data))).to.equal(true);
    }
    const again = serializeSafetensors([...parsed.tensors.entries()], parsed.metadata);
    expect(again.equals(buf)).to.equal(true);
  });

  it("safetensors: truncated or corrupt files are refused with MODEL_INVALID", async function () {
    const buf = serializeSafetensors([["x", { dtype: "F32", shape: [4], data: new Uint8Array(16) }]]);
    await expectMlError(() => parseSafetensors(buf.subarray(0, buf.length - 4)), "MODEL_INVALID", "data_offsets");
    await expectMlError(() => parseSafetensors(buf.subarray(0, 5)), "MODEL_INVALID");
    const bad = Buffer.from(buf);
    bad.writeBigUInt64LE(BigInt(1e12), 0);
    await expectMlError(() => parseSafetensors(bad), "MODEL_INVALID", "header");
    // Headers that parse as JSON but are no safetensors header: MODEL_INVALID, never a TypeError (nor a model)
    const withHeader = (h: string | Buffer) => {
      const head = Buffer.from(h);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(head.length));
      return Buffer.concat([len, head, Buffer.alloc(16)]);
    };
    const x = '"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}';
    for (const [header, says] of [
      ["null", "not a JSON object"],
      ["5", "not a JSON object"],
      ["[1,2]", "not a JSON object"],
      ['{"a":null}', "not described by an object"],
      ['{"a":{"dtype":"constructor","shape":[4],"data_offsets":[0,16]}}', "unknown dtype"],
      [`{${x},"__metadata__":{"deep":{"deeper":"x"}}}`, "__metadata__ is not an object of strings"],
      [
        Buffer.concat([Buffer.from(`{${x},"__metadata__":{"n":"`), Buffer.from([0xff]), Buffer.from('"}}')]),
        "unreadable",
      ],
    ] as const)
      await expectMlError(() => parseSafetensors(withHeader(header)), "MODEL_INVALID", says);
    expect(parseSafetensors(withHeader(`{${x},"__metadata__":{"format":"pt"}}`)).tensors.size).to.equal(1);
  });

  it("safetensors: byte ranges must tile the data (no overlap, no gap, nothing after, nothing beyond), naming the tensors", async function () {
    const file = (entries: Record<string, [number, number]>, dataBytes: number) => {
      const header: Record<string, unknown> = {};
      for (const [name, [a, b]] of Object.entries(entries))
        header[name] = { dtype: "F32", shape: [(b - a) / 4], data_offsets: [a, b] };
      const head = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(head.length));
      return Buffer.concat([len, head, Buffer.alloc(dataBytes)]);
    };
    // Out of order in the header, back to back in the data: what the reference reader accepts.
    expect(parseSafetensors(file({ b: [16, 32], a: [0, 16], z: [32, 32] }, 32)).tensors.size).to.equal(3);
    expect(parseSafetensors(file({}, 0)).tensors.size).to.equal(0);
    for (const [entries, bytes, ...says] of [
      [{ a: [0, 16], b: [8, 24] }, 24, "tensor b [8, 24) overlaps tensor a [0, 16)"],
      [{ a: [0, 16], b: [0, 16] }, 16, "overlaps", "a [0, 16)", "b [0, 16)"],
      [{ a: [0, 16], b: [20, 24] }, 24, "bytes [16, 20) belong to no tensor (between tensor a [0, 16) and tensor b"],
      [{ a: [8, 24] }, 24, "bytes [0, 8) belong to no tensor (before tensor a [8, 24))"],
      [{ a: [0, 16] }, 20, "4 bytes after the last tensor (tensor a [0, 16))"],
      [{}, 4, "4 bytes after the last tensor belong to no tensor"],
      [{ a: [0, 16], b: [16, 32] }, 24, "tensor b has data_offsets [16, 32] beyond the data, which is 24 bytes"],
    ] as Array<[Record<string, [number, number]>, number, ...string[]]>)
      await expectMlError(() => parseSafetensors(file(entries, bytes)), "MODEL_INVALID", ...says);
    // Every writer of this project tiles the data: ours (any tensor order) and the PyTorch runtime's (pytorch.test.ts).
    const t = (n: number): RawTensor => ({ dtype: "F32", shape: [n], data: new Uint8Array(4 * n) });
    const ours = serializeSafetensors([
      ["z", t(3)],
      ["a", t(0)],
      ["m", t(5)],
    ]);
    expect([...parseSafetensors(ours).tensors.keys()]).to.have.members(["z", "a", "m"]);
  });

  it("create: the same seed gives the same weights root, another seed another one", async function () {
    const a = await createModel(path.join(tmpDir("c"), "m"), { preset: "tiny", seed: 42 });
    const b = await createModel(path.join(tmpDir("c"), "m"), { preset: "tiny", seed: 42 });
    const c = await createModel(path.join(tmpDir("c"), "m"), { preset: "tiny", seed: 43 });
    expect(a.weightsRoot).to.match(/^0x[0-9a-f]{64}$/);
    expect(a.weightsRoot).to.equal(b.weightsRoot);
    expect(c.weightsRoot).to.not.equal(a.weightsRoot);
    expect(a.configHash).to.equal(c.configHash);
    expect(await weightsRoot(a.dir)).to.equal(a.weightsRoot);
    expect(await configHash(a.dir)).to.equal(a.configHash);
    expect(a.params).to.equal(parameterCount(PRESETS.tiny));
    expect(
      fs
        .readFileSync(path.join(a.dir, "model.safetensors"))
        .equals(fs.readFileSync(path.join(b.dir, "model.safetensors"))),
    ).to.equal(true);
    for (const f of [
      "config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
      "generation_config.json",
    ]) {
      expect(fs.existsSync(path.join(a.dir, f)), f).to.equal(true);
    }
    const cfg = JSON.parse(fs.readFileSync(path.join(a.dir, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg).to.include({
      model_type: "gpt2",
      n_layer: 2,
      n_head: 4,
      n_embd: 64,
      n_positions: 64,
      vocab_size: 50257,
    });
  });

  it("create: the written tensors have GPT-2's names, shapes and init statistics", async function () {
    const m = await createModel(path.join(tmpDir("c"), "m"), { preset: "tiny", seed: 1 });
    const st = readSafetensors(path.join(m.dir, "model.safetensors"));
    expect(st.metadata).to.deep.equal({ format: "pt" });
    expect(st.tensors.get("transformer.wte.weight")?.shape).to.deep.equal([50257, 64]);
    expect(st.tensors.get("transformer.h.1.attn.c_attn.weight")?.shape).to.deep.equal([64, 192]);
    expect(st.tensors.get("transformer.h.1.mlp.c_fc.weight")?.shape).to.deep.equal([64, 256]);
    expect(st.tensors.get("transformer.h.1.mlp.c_proj.weight")?.shape).to.deep.equal([256, 64]);
    expect(st.tensors.has("lm_head.weight")).to.equal(false);
    const ck = loadCheckpoint(m.dir);
    const wte = ck.weights.get("wte.weight") as Float32Array;
    const mean = wte.reduce((a, v) => a + v, 0) / wte.length;
    const std = Math.sqrt(wte.reduce((a, v) => a + (v - mean) ** 2, 0) / wte.length);
    expect(Math.abs(mean)).to.be.lessThan(1e-3);
    expect(std).to.be.closeTo(0.02, 5e-4);
    expect(Array.from(ck.weights.get("h.0.ln_1.weight") as Float32Array).every((v) => v === 1)).to.equal(true);
  });

  it("loads a Hugging Face GPT-2 folder without conversion: hub names with mask buffers, save_pretrained names with a tied lm_head, slow tokenizer files", async function () {
    const c: Gpt2Config = { ...PRESETS.tiny, n_positions: 32 };
    const w = initWeights(c, "hf");
    const hub = path.join(tmpDir("hf"), "gpt2");
    const saved = path.join(tmpDir("hf"), "distilgpt2");
    const slow = path.join(tmpDir("hf"), "slow");
    writeHfFolder(hub, c, w, { style: "hub" });
    writeHfFolder(saved, c, w, { style: "save_pretrained" });
    writeHfFolder(slow, c, w, { style: "hub", slowTokenizerFiles: true });
    const roots = new Set<string>();
    for (const dir of [hub, saved, slow]) {
      const ck = loadCheckpoint(dir);
      expect(ck.config).to.include({ n_layer: 2, n_embd: 64, n_head: 4, n_positions: 32, vocab_size: 50257 });
      for (const [name, t] of w)
        expect(Buffer.from((ck.weights.get(name) as Float32Array).buffer).equals(Buffer.from(t.buffer)), name).to.equal(
          true,
        );
      expect(ck.tokenizer.encode("Hello there")).to.deep.equal([15496, 612]);
      roots.add(await weightsRoot(dir));
    }
    expect(
      roots.size,
      "weights root is independent of names' prefix, buffers, tensor order and file metadata",
    ).to.equal(1);
    expect(await configHash(hub)).to.equal(await configHash(saved));
  });

  it("refuses an untied lm_head, a wrong shape and a missing tensor", async function () {
    const c: Gpt2Config = { ...PRESETS.tiny, n_positions: 16 };
    const w = initWeights(c, 3);
    const dir = path.join(tmpDir("bad"), "m");
    writeHfFolder(dir, c, w, { style: "save_pretrained" });
    const file = path.join(dir, "model.safetensors");
    const st = readSafetensors(file);
    const untied = new Map(st.tensors);
    const lm = untied.get("lm_head.weight") as RawTensor;
    const changed = Uint8Array.from(lm.data);
    changed[0] ^= 1;
    untied.set("lm_head.weight", { ...lm, data: changed });
    fs.writeFileSync(file, serializeSafetensors([...untied.entries()], st.metadata));
    await expectMlError(() => loadCheckpoint(dir), "MODEL_INVALID", "lm_head.weight");

    const transposed = new Map(st.tensors);
    const fc = transposed.get("transformer.h.0.mlp.c_fc.weight") as RawTensor;
    transposed.set("transformer.h.0.mlp.c_fc.weight", { ...fc, shape: [fc.shape[1], fc.shape[0]] });
    fs.writeFileSync(file, serializeSafetensors([...transposed.entries()], st.metadata));
    await expectMlError(() => loadCheckpoint(dir), "MODEL_INVALID", "h.0.mlp.c_fc.weight", "[256,64]");

    const missing = new Map(st.tensors);
    missing.delete("transformer.ln_f.bias");
    fs.writeFileSync(file, serializeSafetensors([...missing.entries()], st.metadata));
    await expectMlError(() => loadCheckpoint(dir), "MODEL_INVALID", "ln_f.bias");
  });

  it("limits: a config beyond the operator's limits is refused before anything is allocated", async function () {
    const huge = { vocab_size: 1_000_000_000, n_embd: 100_000, n_layer: 1000, n_head: 100, n_positions: 64 };
    const t0 = Date.now();
    await expectMlError(
      () => createModel(path.join(tmpDir("lim"), "m"), { config: huge, seed: 1 }),
      "MODEL_TOO_LARGE",
      "parameters",
    );
    expect(Date.now() - t0).to.be.lessThan(1000);
    await expectMlError(
      () => createModel(path.join(tmpDir("lim"), "m"), { preset: "tiny", config: { n_positions: 4096 }, seed: 1 }),
      "MODEL_TOO_LARGE",
      "context",
    );
    await expectMlError(
      () =>
        checkModelLimits(
          { ...PRESETS.tiny, vocab_size: 100_000 },
          { maxParams: 1e12, maxContext: 1e6, maxVocab: 65536 },
        ),
      "MODEL_TOO_LARGE",
      "vocab_size",
    );
    await expectMlError(
      () =>
        createModel(path.join(tmpDir("lim"), "m"), {
          preset: "small",
          seed: 1,
          limits: { maxParams: 50e6, maxContext: 2048, maxVocab: 65536 },
        }),
      "MODEL_TOO_LARGE",
    );
    // A folder whose config is too large is refused before its weights are read (here there are none).
    const dir = tmpDir("lim");
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ model_type: "gpt2", ...huge }));
    await expectMlError(() => loadCheckpoint(dir), "MODEL_TOO_LARGE");
    await expectMlError(
      () => createModel(path.join(tmpDir("lim"), "m"), { config: { ...PRESETS.tiny, n_head: 5 }, seed: 1 }),
      "CONFIG_INVALID",
      "multiple",
    );
  });
});
