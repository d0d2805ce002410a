import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { expect } from "chai";
import {
  bytesToUnicode,
  buildGpt2TokenizerJson,
  Gpt2Config,
  initWeights,
  innerSize,
  isMlError,
  RawTensor,
  f32Raw,
  serializeSafetensors,
  PRESETS,
  saveCheckpoint,
  tensorSpecs,
  TokenizerJson,
  Weights,
} from "../../offchain/ml";
import { SOFTWARE_ENV, webgpuStatus } from "../../offchain/ml/webgpu-device";

const createdDirs: string[] = [];
process.on("exit", () => {
  for (const d of createdDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the test process exits. */
export function tmpDir(label: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `posthuman-ml-${label}-`));
  createdDirs.push(d);
  return d;
}

export async function expectMlError(fn: () => unknown, code: string, ...mentions: string[]): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (!isMlError(e)) throw e;
    expect(e.code).to.equal(code);
    for (const m of mentions) expect(e.message).to.include(m);
    return e;
  }
  throw new Error(`expected an MlError ${code}, nothing was thrown`);
}

/** config.json exactly as Hugging Face's `gpt2` ships it, with the dimensions replaced. */
export function hfGpt2ConfigJson(
  c: Pick<Gpt2Config, "n_layer" | "n_embd" | "n_head" | "n_positions" | "vocab_size">,
): Record<string, unknown> {
  return {
    activation_function: "gelu_new",
    architectures: ["GPT2LMHeadModel"],
    attn_pdrop: 0.1,
    bos_token_id: 50256,
    embd_pdrop: 0.1,
    eos_token_id: 50256,
    initializer_range: 0.02,
    layer_norm_epsilon: 1e-5,
    model_type: "gpt2",
    n_ctx: c.n_positions,
    n_embd: c.n_embd,
    n_head: c.n_head,
    n_layer: c.n_layer,
    n_positions: c.n_positions,
    resid_pdrop: 0.1,
    summary_activation: null,
    summary_first_dropout: 0.1,
    summary_proj_to_labels: true,
    summary_type: "cls_index",
    summary_use_proj: true,
    task_specific_params: { "text-generation": { do_sample: true, max_length: 50 } },
    vocab_size: c.vocab_size,
  };
}

export interface HfFolderOptions {
  /** "hub": names as the `gpt2` repository has them (no prefix, attention mask buffers);
   *  "save_pretrained": GPT2LMHeadModel.save_pretrained of older transformers (transformer. prefix, lm_head.weight tied copy). */
  style: "hub" | "save_pretrained";
  /** Write the slow tokenizer's vocab.json + merges.txt instead of tokenizer.json. */
  slowTokenizerFiles?: boolean;
}

/**
 * Writes a folder in Hugging Face's GPT-2 format by hand, independently of the runtime's writer:
 * Conv1D weights as [in, out], tied head, safetensors with metadata {"format": "pt"} and data in
 * the order the Rust writer uses (by dtype, then name), and the tokenizer files.
 */
export function writeHfFolder(dir: string, c: Gpt2Config, w: Weights, opts: HfFolderOptions): void {
  fs.mkdirSync(dir, { recursive: true });
  const entries: Array<[string, RawTensor]> = [];
  const prefix = opts.style === "save_pretrained" ? "transformer." : "";
  for (const [name, shape] of tensorSpecs(c)) entries.push([prefix + name, f32Raw(w.get(name) as Float32Array, shape)]);
  if (opts.style === "hub") {
    const p = c.n_positions;
    const mask = new Float32Array(p * p);
    for (let i = 0; i < p; i++) for (let j = 0; j <= i; j++) mask[i * p + j] = 1;
    for (let i = 0; i < c.n_layer; i++) {
      entries.push([`h.${i}.attn.bias`, f32Raw(mask, [1, 1, p, p])]);
      entries.push([`h.${i}.attn.masked_bias`, f32Raw(new Float32Array([-1e4]), [])]);
    }
  } else {
    entries.push(["lm_head.weight", f32Raw(w.get("wte.weight") as Float32Array, [c.vocab_size, c.n_embd])]);
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  fs.writeFileSync(path.join(dir, "model.safetensors"), serializeSafetensors(entries, { format: "pt" }));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(hfGpt2ConfigJson(c), null, 2));
  fs.writeFileSync(
    path.join(dir, "generation_config.json"),
    JSON.stringify(
      { _from_model_config: true, bos_token_id: 50256, eos_token_id: 50256, transformers_version: "4.26.0.dev0" },
      null,
      2,
    ),
  );
  fs.writeFileSync(
    path.join(dir, "tokenizer_config.json"),
    JSON.stringify({
      add_prefix_space: false,
      bos_token: "<|endoftext|>",
      clean_up_tokenization_spaces: true,
      eos_token: "<|endoftext|>",
      model_max_length: 1024,
      tokenizer_class: "GPT2Tokenizer",
      unk_token: "<|endoftext|>",
    }),
  );
  const tj = buildGpt2TokenizerJson();
  if (opts.slowTokenizerFiles) {
    const vocab: Record<string, number> = { ...tj.model.vocab };
    fs.writeFileSync(path.join(dir, "vocab.json"), JSON.stringify(vocab));
    fs.writeFileSync(path.join(dir, "merges.txt"), "#version: 0.2\n" + (tj.model.merges as string[]).join("\n") + "\n");
  } else {
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tj));
  }
}

/**
 * A plain float64 GPT-2 forward written from Hugging Face's modeling_gpt2 (Conv1D: y = x·W + b with
 * W [in, out]; heads are contiguous slices of q, k, v; logits = h·wteᵀ). Independent of the runtime.
 */
export function referenceLogits(c: Gpt2Config, w: Weights, ids: number[]): Float64Array[] {
  const d = c.n_embd;
  const H = c.n_head;
  const hd = d / H;
  const f = innerSize(c);
  const T = ids.length;
  const W = (n: string): Float32Array => w.get(n) as Float32Array;
  const linear = (x: number[], wt: Float32Array, b: Float32Array, inn: number, out: number): number[] => {
    const y = Array.from(b);
    for (let i = 0; i < inn; i++) {
      const xi = x[i];
      for (let j = 0; j < out; j++) y[j] += xi * wt[i * out + j];
    }
    return y;
  };
  const ln = (x: number[], g: Float32Array, b: Float32Array): number[] => {
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const vr = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
    return x.map((v, i) => ((v - mean) / Math.sqrt(vr + c.layer_norm_epsilon)) * g[i] + b[i]);
  };
  const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  let hs: number[][] = ids.map((id, t) => {
    const row: number[] = [];
    for (let k = 0; k < d; k++) row.push(W("wte.weight")[id * d + k] + W("wpe.weight")[t * d + k]);
    return row;
  });
  for (let l = 0; l < c.n_layer; l++) {
    const p = `h.${l}.`;
    const qkv = hs.map((x) =>
      linear(
        ln(x, W(p + "ln_1.weight"), W(p + "ln_1.bias")),
        W(p + "attn.c_attn.weight"),
        W(p + "attn.c_attn.bias"),
        d,
        3 * d,
      ),
    );
    const attnOut: number[][] = hs.map(() => new Array<number>(d).fill(0));
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const scores: number[] = [];
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let k = 0; k < hd; k++) s += qkv[i][h * hd + k] * qkv[j][d + h * hd + k];
          scores.push(s / Math.sqrt(hd));
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, v) => a + v, 0);
        for (let j = 0; j <= i; j++)
          for (let k = 0; k < hd; k++) attnOut[i][h * hd + k] += (e[j] / z) * qkv[j][2 * d + h * hd + k];
      }
    }
    hs = hs.map((x, i) => {
      const a = linear(attnOut[i], W(p + "attn.c_proj.weight"), W(p + "attn.c_proj.bias"), d, d);
      const x1 = x.map((v, k) => v + a[k]);
      const m = linear(
        ln(x1, W(p + "ln_2.weight"), W(p + "ln_2.bias")),
        W(p + "mlp.c_fc.weight"),
        W(p + "mlp.c_fc.bias"),
        d,
        f,
      ).map(gelu);
      const o = linear(m, W(p + "mlp.c_proj.weight"), W(p + "mlp.c_proj.bias"), f, d);
      return x1.map((v, k) => v + o[k]);
    });
  }
  const wte = W("wte.weight");
  return hs.map((x) => {
    const h = ln(x, W("ln_f.weight"), W("ln_f.bias"));
    const out = new Float64Array(c.vocab_size);
    for (let v = 0; v < c.vocab_size; v++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += h[k] * wte[v * d + k];
      out[v] = s;
    }
    return out;
  });
}

export const FIXTURES = path.join(__dirname, "fixtures");
export const CORPUS = path.join(FIXTURES, "corpus.txt");

export { bytesToUnicode };

/**
 * A copy of `model` whose end of text is token `eos`: config.json's eos_token_id and bos_token_id, and in tokenizer.json the ids of
 * <|endoftext|> and of the token that had `eos`, swapped (the two must agree: checkEndOfText).
 */
export function withEndOfText(model: string, eos: number): string {
  const dir = path.join(tmpDir("eos"), "model");
  fs.cpSync(model, dir, { recursive: true });
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, eos_token_id: eos, bos_token_id: eos }));
  const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")) as TokenizerJson;
  const vocab = tj.model.vocab;
  const other = Object.keys(vocab).find((k) => vocab[k] === eos) as string;
  [vocab[other], vocab["<|endoftext|>"]] = [vocab["<|endoftext|>"], eos];
  for (const t of tj.added_tokens ?? []) if (t.content === "<|endoftext|>") t.id = eos;
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tj));
  return dir;
}

/** A tiny model whose weights are scaled and shifted away from the initialisation (varied greedy tokens). */
export function perturbedModel(dir: string, seed: string, config: Gpt2Config = PRESETS.tiny): string {
  const w = initWeights(config, seed);
  for (const [name, t] of w) {
    if (name.endsWith(".bias") || name.includes("ln_"))
      for (let i = 0; i < t.length; i++) t[i] += 0.1 * Math.sin(7 * i + name.length);
    else for (let i = 0; i < t.length; i++) t[i] *= 3;
  }
  saveCheckpoint(dir, config, w);
  return dir;
}

/**
 * The software WebGPU of scripts/software-webgpu.sh (Mesa's lavapipe) for this process: sets VK_DRIVER_FILES and
 * POSTHUMAN_WEBGPU_SOFTWARE and returns a function that restores them; or the reason there is none.
 */
export function useSoftwareWebgpu(): { restore: () => void } | { why: string } {
  const script = path.join(__dirname, "..", "..", "scripts", "software-webgpu.sh");
  const r = spawnSync("bash", [script, "--print"], { encoding: "utf8" });
  const icd = r.status === 0 ? r.stdout.trim() : "";
  if (!icd) return { why: "no software WebGPU: run `bash scripts/software-webgpu.sh` once (CI does)" };
  const env = { ...process.env, VK_DRIVER_FILES: icd, [SOFTWARE_ENV]: "1" };
  const st = webgpuStatus({ env, platform: process.platform, arch: process.arch });
  if (!st.available) return { why: st.missing.join("; ") };
  // One llvmpipe thread: the other test file running beside this one keeps a core (timing-sensitive tests).
  const set = { VK_DRIVER_FILES: icd, [SOFTWARE_ENV]: "1", LP_NUM_THREADS: process.env.LP_NUM_THREADS ?? "1" };
  const saved = Object.fromEntries(Object.keys(set).map((k) => [k, process.env[k]]));
  Object.assign(process.env, set);
  return {
    restore: () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}
