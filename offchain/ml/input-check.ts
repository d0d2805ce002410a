/**
 * The one set of rules a job's input must meet, browser-safe (no Node APIs): the worker's API applies them to an
 * upload, the runtime (offchain/ml/data.ts) applies the byte-level ones to the files it reads, and the SDK, the CLI
 * and the web app apply them before any transaction, so nothing is paid for an input a worker would refuse.
 *
 *   text         not empty, no NUL byte, not mostly control bytes, valid UTF-8           (all kinds)
 *   dataset      JSONL lines are objects with a string "text"; some text at all         (train, evaluate)
 *                long enough for the context: train needs room for a validation window
 *                and a training window, evaluation one window of context + 1 tokens
 *   prompts      one a line, or JSONL with a string "prompt"; at least one; at most      (infer)
 *                MAX_PROMPTS; each prompt's tokens + maxTokens within the context
 *
 * Token counts are exact when the caller passes `countTokens` (the worker does, with the model's own tokenizer).
 * Without it they are bounded from the bytes (a byte-level BPE never makes more tokens than bytes, nor a token longer
 * than its longest: MAX_TOKEN_BYTES for GPT-2's, `maxTokenBytes` for another): only an input that fails for certain is
 * refused, the worker checks the rest. With it, the tokenizer runs only where those bounds leave the answer open.
 */

/** Codes a refused input carries; they are FAIL_REASONS names (the job fails on chain with that reason). */
export type InputCheckCode =
  | "DATASET_EMPTY"
  | "DATASET_BINARY"
  | "DATASET_INVALID_UTF8"
  | "DATASET_INVALID_JSONL"
  | "DATASET_TOO_LARGE"
  | "DATASET_TOO_SHORT"
  | "PROMPTS_INVALID"
  | "PROMPT_TOO_LONG";

export interface InputProblem {
  code: InputCheckCode;
  /** Says what is wrong, naming the file as the caller called it. */
  message: string;
  details: Record<string, unknown>;
}

export type InputCheck = { ok: true } | ({ ok: false } & InputProblem);

/** Prompts an inference job may hold (the runtime's default limit). */
export const MAX_PROMPTS = 1024;
/** The share of a training set kept for validation (the runtime's default). */
export const VALIDATION_FRACTION = 0.1;
/** The longest token of GPT-2's vocabulary, in UTF-8 bytes (a bound: no token covers more). */
export const MAX_TOKEN_BYTES = 128;
/**
 * The largest input a worker checks before a job is paid for (POST /models/:id/check-input): anyone may ask, so its
 * tokenizer's work is bounded (a larger input is checked at its upload, as before).
 */
export const MAX_CHECKED_INPUT_BYTES = 4 * 1024 * 1024;

export class InputCheckError extends Error {
  override readonly name = "InputCheckError";
  constructor(readonly problem: InputProblem) {
    super(problem.message);
  }
}

const fail = (code: InputCheckCode, message: string, details: Record<string, unknown> = {}): never => {
  throw new InputCheckError({ code, message, details });
};

/** JSONL when the first non-blank text starts with "{" (how a worker names the input file it runs). */
export function looksLikeJsonl(bytes: Uint8Array): boolean {
  return new TextDecoder().decode(bytes.subarray(0, 256)).trimStart().startsWith("{");
}

/**
 * Decodes bytes as UTF-8 text, refusing empty input, binary data (a NUL byte, or more than 10% control bytes in the
 * first 64 KiB) and invalid UTF-8, with the offending offset. Strips a byte-order mark. Throws InputCheckError.
 */
export function decodeInputText(bytes: Uint8Array, file: string): string {
  if (bytes.length === 0) fail("DATASET_EMPTY", `${file} is empty`, { file });
  const nul = bytes.indexOf(0);
  if (nul >= 0) fail("DATASET_BINARY", `${file} is binary data (NUL byte at offset ${nul})`, { file, offset: nul });
  let control = 0;
  const sample = Math.min(bytes.length, 65536);
  for (let i = 0; i < sample; i++) {
    const b = bytes[i];
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) control++;
  }
  if (control > sample * 0.1) {
    fail("DATASET_BINARY", `${file} is binary data (${control} control bytes in the first ${sample})`, { file });
  }
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    fail("DATASET_INVALID_UTF8", `${file} is not valid UTF-8 (first bad byte at offset ${offset})`, { file, offset });
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if ((b & 0xe0) === 0xc0) [n, min] = [1, 0x80];
    else if ((b & 0xf0) === 0xe0) [n, min] = [2, 0x800];
    else if ((b & 0xf8) === 0xf0) [n, min] = [3, 0x10000];
    else return i;
    if (i + n >= buf.length) return i;
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = buf[i + k];
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/** Parses JSONL where each non-blank line is an object with a string field `field`. Throws InputCheckError. */
export function parseJsonlField(text: string, file: string, field: string): string[] {
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim().length === 0) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      fail("DATASET_INVALID_JSONL", `${file} line ${i + 1} is not valid JSON`, { file, line: i + 1 });
    }
    const v =
      typeof obj === "object" && obj !== null && !Array.isArray(obj)
        ? (obj as Record<string, unknown>)[field]
        : undefined;
    if (typeof v !== "string") {
      fail("DATASET_INVALID_JSONL", `${file} line ${i + 1} has no string field "${field}"`, { file, line: i + 1 });
    }
    out.push(v as string);
  }
  return out;
}

/** Non-blank lines: an inference input's prompts (JSONL or plain), as the worker's estimates count them. */
export const promptCount = (input: Uint8Array) =>
  new TextDecoder()
    .decode(input)
    .split(/\r?\n/)
    .filter((l) => l.trim()).length;

/** The prompts of an inference input: JSONL {"prompt": …} lines, or one prompt per non-blank line. */
export function parsePrompts(text: string, file: string, jsonl: boolean): string[] {
  if (jsonl) return parseJsonlField(text, file, "prompt");
  return text.split(/\r?\n/).filter((l) => l.trim().length > 0);
}

export interface InputCheckContext {
  /** How the user calls the input (their file name): every message names it. */
  file: string;
  /** The model's context (config n_positions); unknown: the context rules are left to the worker. */
  nPositions?: number;
  /** A training or evaluation job's context length, when its params set one (else nPositions). */
  contextLength?: number;
  /** An inference job's new tokens per prompt. */
  maxTokens?: number;
  /** Largest accepted input in bytes. */
  maxBytes?: number;
  /** Exact token count with the model's tokenizer; absent: bounds from the byte count. */
  countTokens?: (text: string) => number;
  /** The most bytes one of the model's tokens covers (its tokenizer's; default MAX_TOKEN_BYTES, GPT-2's). */
  maxTokenBytes?: number;
}

const utf8Length = (s: string) => new TextEncoder().encode(s).length;

/** Checks a job's input for its kind; returns the first problem found, or ok. Never throws for bad input. */
export function checkJobInput(
  kind: "train" | "infer" | "evaluate",
  bytes: Uint8Array,
  c: InputCheckContext,
): InputCheck {
  try {
    checkOrThrow(kind, bytes, c);
    return { ok: true };
  } catch (e) {
    if (e instanceof InputCheckError) return { ok: false, ...e.problem };
    throw e;
  }
}

function checkOrThrow(kind: "train" | "infer" | "evaluate", bytes: Uint8Array, c: InputCheckContext): void {
  const { file } = c;
  if (c.maxBytes !== undefined && bytes.length > c.maxBytes) {
    fail("DATASET_TOO_LARGE", `${file} is ${bytes.length} bytes, the limit is ${c.maxBytes}`, { file });
  }
  const text = decodeInputText(bytes, file);
  const jsonl = looksLikeJsonl(bytes);
  if (kind === "infer") return checkPrompts(parsePrompts(text, file, jsonl), c);
  const texts = jsonl ? parseJsonlField(text, file, "text") : [text];
  if (texts.every((t) => t.trim().length === 0)) fail("DATASET_EMPTY", `${file} contains no text`, { file });
  if (c.nPositions === undefined) return;
  const ctx = Math.min(c.contextLength || c.nPositions, c.nPositions);
  // Plain text is one stream; JSONL documents are each followed by an end-of-text token.
  const eos = jsonl ? texts.length : 0;
  const window = ctx + 1;
  const neededFor = (t: number) =>
    (kind === "train" ? Math.max(window, Math.ceil(t * VALIDATION_FRACTION)) : 0) + window;
  // The tokenizer runs only where the bytes do not say the dataset is long enough (more tokens is never worse), so a
  // large dataset costs no tokenizing; what is left is under the windows' bytes × MAX_TOKEN_BYTES.
  const longest = c.maxTokenBytes ?? MAX_TOKEN_BYTES;
  const atLeast = texts.reduce((n, t) => n + Math.ceil(utf8Length(t) / longest), 0) + eos;
  if (c.countTokens && atLeast >= neededFor(atLeast)) return;
  const exact = c.countTokens !== undefined;
  const tokens =
    (exact ? texts.reduce((n, t) => n + c.countTokens!(t), 0) : texts.reduce((n, t) => n + utf8Length(t), 0)) + eos;
  const needed = neededFor(tokens);
  if (tokens < needed) {
    const what =
      kind === "train"
        ? `training with context ${ctx} needs at least ${needed} tokens (a validation window and a training window)`
        : `evaluation with context ${ctx} needs at least ${needed} tokens`;
    const count = exact ? `${tokens} tokens` : `at most ${tokens} tokens`;
    fail("DATASET_TOO_SHORT", `${file} has ${count}; ${what}`, { file, tokens, limit: needed });
  }
}

function checkPrompts(prompts: string[], c: InputCheckContext): void {
  const { file } = c;
  if (prompts.length === 0) fail("PROMPTS_INVALID", `no prompts in ${file}`, { file });
  if (prompts.length > MAX_PROMPTS) {
    fail("PROMPTS_INVALID", `${file} holds ${prompts.length} prompts, the limit is ${MAX_PROMPTS}`, { file });
  }
  if (c.nPositions === undefined) return;
  const room = c.nPositions - (c.maxTokens ?? 0);
  if (room < 1) {
    fail("PROMPT_TOO_LONG", `maxTokens ${c.maxTokens} leaves no room for a prompt in the context of ${c.nPositions}`, {
      file,
    });
  }
  prompts.forEach((p, i) => {
    // At most a token a byte, at least one a MAX_TOKEN_BYTES bytes: the tokenizer counts only where those differ on
    // the answer.
    const bytes = utf8Length(p);
    if (bytes <= room) return;
    const atLeast = Math.ceil(bytes / (c.maxTokenBytes ?? MAX_TOKEN_BYTES));
    const exact = c.countTokens !== undefined && atLeast <= room;
    const tokens = exact ? Math.max(1, c.countTokens!(p)) : atLeast;
    if (tokens > room) {
      const count = exact ? `${tokens} tokens` : `at least ${tokens} tokens`;
      fail(
        "PROMPT_TOO_LONG",
        `prompt ${i + 1} of ${file} has ${count}; with maxTokens ${c.maxTokens ?? 0} the model's context of ` +
          `${c.nPositions} leaves room for ${room}`,
        { file, prompt: i, tokens, limit: room },
      );
    }
  });
}

/**
 * Whether the byte bounds alone decide `checkJobInput`'s verdict for an input that passed them: true when the input
 * also passes with the strictest count the bytes allow (one token a byte for prompts, one a MAX_TOKEN_BYTES bytes
 * for datasets). False: only the model's tokenizer can tell (a prompt near the context, a dataset near the window).
 */
export function decidedByBytes(kind: "train" | "infer" | "evaluate", bytes: Uint8Array, c: InputCheckContext): boolean {
  const longest = c.maxTokenBytes ?? MAX_TOKEN_BYTES;
  const strictest = kind === "infer" ? utf8Length : (t: string) => Math.ceil(utf8Length(t) / longest);
  return checkJobInput(kind, bytes, { ...c, countTokens: strictest }).ok;
}
