import { MlError } from "./errors";
import { canonicalJson, sha256Hex0x } from "./hash";

/** The GPT-2 architecture fields this runtime understands (a subset of Hugging Face's GPT2Config). */
export interface Gpt2Config {
  model_type: "gpt2";
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** Width of the MLP; null means 4 × n_embd (Hugging Face's convention). */
  n_inner: number | null;
  activation_function: "gelu_new" | "gelu_pytorch_tanh" | "gelu";
  layer_norm_epsilon: number;
  bos_token_id: number;
  eos_token_id: number;
  initializer_range: number;
}

export type PresetName = "tiny" | "small";

const GPT2_DEFAULTS: Omit<Gpt2Config, "vocab_size" | "n_positions" | "n_embd" | "n_layer" | "n_head"> = {
  model_type: "gpt2",
  n_inner: null,
  activation_function: "gelu_new",
  layer_norm_epsilon: 1e-5,
  bos_token_id: 50256,
  eos_token_id: 50256,
  initializer_range: 0.02,
};

export const PRESETS: Record<PresetName, Gpt2Config> = {
  tiny: { ...GPT2_DEFAULTS, vocab_size: 50257, n_positions: 64, n_embd: 64, n_layer: 2, n_head: 4 },
  small: { ...GPT2_DEFAULTS, vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 },
};

/** Operator limits: a model beyond them is refused before any tensor is allocated. */
export interface ModelLimits {
  maxParams: number;
  maxContext: number;
  maxVocab: number;
}

export const DEFAULT_MODEL_LIMITS: ModelLimits = { maxParams: 200_000_000, maxContext: 2048, maxVocab: 65_536 };

export function innerSize(c: Gpt2Config): number {
  return c.n_inner ?? 4 * c.n_embd;
}

/** Number of parameters (the tied head counted once), computed from the config alone. */
export function parameterCount(c: Gpt2Config): number {
  const d = c.n_embd;
  const f = innerSize(c);
  const perLayer = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d);
  return c.vocab_size * d + c.n_positions * d + c.n_layer * perLayer + 2 * d;
}

function posInt(raw: Record<string, unknown>, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    throw new MlError("CONFIG_INVALID", `config field ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Reads a config.json object (Hugging Face GPT2Config or our own) into a Gpt2Config, validating
 * every field this runtime relies on. Unknown fields are ignored; unsupported variants are refused.
 */
export function normalizeConfig(raw: unknown): Gpt2Config {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new MlError("CONFIG_INVALID", "config must be a JSON object");
  }
  const r = raw as Record<string, unknown>;
  if (r.model_type !== undefined && r.model_type !== "gpt2") {
    throw new MlError("CONFIG_INVALID", `model_type must be "gpt2", got ${JSON.stringify(r.model_type)}`);
  }
  const act = r.activation_function ?? "gelu_new";
  if (act !== "gelu_new" && act !== "gelu_pytorch_tanh" && act !== "gelu") {
    throw new MlError("CONFIG_INVALID", `activation_function ${JSON.stringify(act)} is not supported`);
  }
  if (r.scale_attn_by_inverse_layer_idx === true) {
    throw new MlError("CONFIG_INVALID", "scale_attn_by_inverse_layer_idx is not supported");
  }
  if (r.scale_attn_weights === false) throw new MlError("CONFIG_INVALID", "scale_attn_weights=false is not supported");
  if (r.tie_word_embeddings === false) throw new MlError("CONFIG_INVALID", "untied output heads are not supported");
  const nInnerRaw = r.n_inner ?? null;
  const c: Gpt2Config = {
    model_type: "gpt2",
    vocab_size: posInt(r, "vocab_size"),
    n_positions: posInt(r, "n_positions", typeof r.n_ctx === "number" ? r.n_ctx : undefined),
    n_embd: posInt(r, "n_embd"),
    n_layer: posInt(r, "n_layer"),
    n_head: posInt(r, "n_head"),
    n_inner: nInnerRaw === null ? null : posInt(r, "n_inner"),
    activation_function: act,
    layer_norm_epsilon: typeof r.layer_norm_epsilon === "number" ? r.layer_norm_epsilon : 1e-5,
    bos_token_id: typeof r.bos_token_id === "number" ? r.bos_token_id : 50256,
    eos_token_id: typeof r.eos_token_id === "number" ? r.eos_token_id : 50256,
    initializer_range: typeof r.initializer_range === "number" ? r.initializer_range : 0.02,
  };
  if (c.n_embd % c.n_head !== 0) {
    throw new MlError("CONFIG_INVALID", `n_embd (${c.n_embd}) must be a multiple of n_head (${c.n_head})`);
  }
  if (!(c.layer_norm_epsilon > 0)) throw new MlError("CONFIG_INVALID", "layer_norm_epsilon must be positive");
  for (const k of ["bos_token_id", "eos_token_id"] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 0 || c[k] >= c.vocab_size) {
      throw new MlError("CONFIG_INVALID", `${k} (${c[k]}) must be a token id below vocab_size (${c.vocab_size})`);
    }
  }
  return c;
}

/** Refuses a config beyond the operator's limits. Call before allocating anything. */
export function checkModelLimits(c: Gpt2Config, limits: ModelLimits = DEFAULT_MODEL_LIMITS): void {
  const params = parameterCount(c);
  if (params > limits.maxParams) {
    throw new MlError("MODEL_TOO_LARGE", `model has ${params} parameters, the limit is ${limits.maxParams}`, {
      params,
      limit: limits.maxParams,
    });
  }
  if (c.n_positions > limits.maxContext) {
    throw new MlError(
      "MODEL_TOO_LARGE",
      `context n_positions=${c.n_positions} exceeds the limit ${limits.maxContext}`,
      {
        context: c.n_positions,
        limit: limits.maxContext,
      },
    );
  }
  if (c.vocab_size > limits.maxVocab) {
    throw new MlError("MODEL_TOO_LARGE", `vocab_size=${c.vocab_size} exceeds the limit ${limits.maxVocab}`, {
      vocab: c.vocab_size,
      limit: limits.maxVocab,
    });
  }
}

/** The architecture as a canonical object: what configHash covers. */
export function canonicalConfig(c: Gpt2Config): Record<string, unknown> {
  return {
    activation_function: c.activation_function === "gelu_pytorch_tanh" ? "gelu_new" : c.activation_function,
    bos_token_id: c.bos_token_id,
    eos_token_id: c.eos_token_id,
    layer_norm_epsilon: c.layer_norm_epsilon,
    model_type: "gpt2",
    n_embd: c.n_embd,
    n_head: c.n_head,
    n_inner: innerSize(c),
    n_layer: c.n_layer,
    n_positions: c.n_positions,
    tie_word_embeddings: true,
    vocab_size: c.vocab_size,
  };
}

export function configHashOf(c: Gpt2Config): string {
  return sha256Hex0x("posthuman-config-v1\n" + canonicalJson(canonicalConfig(c)));
}

/** The config.json we write: Hugging Face's GPT2Config fields, so transformers (Python and JS) load it. */
export function hfConfigJson(c: Gpt2Config): Record<string, unknown> {
  return {
    activation_function: c.activation_function,
    architectures: ["GPT2LMHeadModel"],
    attn_pdrop: 0.0,
    bos_token_id: c.bos_token_id,
    embd_pdrop: 0.0,
    eos_token_id: c.eos_token_id,
    initializer_range: c.initializer_range,
    layer_norm_epsilon: c.layer_norm_epsilon,
    model_type: "gpt2",
    n_ctx: c.n_positions,
    n_embd: c.n_embd,
    n_head: c.n_head,
    n_inner: c.n_inner,
    n_layer: c.n_layer,
    n_positions: c.n_positions,
    reorder_and_upcast_attn: false,
    resid_pdrop: 0.0,
    scale_attn_by_inverse_layer_idx: false,
    scale_attn_weights: true,
    summary_activation: null,
    summary_first_dropout: 0.1,
    summary_proj_to_labels: true,
    summary_type: "cls_index",
    summary_use_proj: true,
    tie_word_embeddings: true,
    torch_dtype: "float32",
    transformers_version: "4.44.0",
    use_cache: true,
    vocab_size: c.vocab_size,
  };
}

/**
 * onnxruntime intra-op threads when none are given (serving, evaluation, training): both cores of the 2-core
 * machines this runtime is measured on. Part of the runtime id: results are reproducible for a fixed count.
 */
export const DEFAULT_THREADS = 2;
/** Most onnxruntime threads a worker may be set to (its `--threads`); a verifier searches runtime ids up to it. */
export const MAX_THREADS = 256;

/** FLOPs of one forward pass over `tokens` tokens in windows of length `t` (matmuls only, 2·m·n·k). */
export function forwardFlops(c: Gpt2Config, tokens: number, t: number): number {
  const d = c.n_embd;
  const f = innerSize(c);
  const perTokenLayer = 2 * (d * 3 * d + d * d + 2 * d * f) + 2 * 2 * t * d; // projections + attention (q·k, p·v; full square)
  return tokens * (c.n_layer * perTokenLayer + 2 * d * c.vocab_size);
}
