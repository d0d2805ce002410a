import * as fs from "fs";
import * as path from "path";
import { decodeInputText, InputCheckError, parseJsonlField } from "./input-check";
import { MlError } from "./errors";
import { sha256Hex0x } from "./hash";
import { Gpt2Tokenizer } from "./tokenizer";

/** Datasets: UTF-8 plain text, or JSONL with one {"text": ...} object a line. */

export interface DatasetLimits {
  /** Largest accepted file, in bytes. */
  maxBytes: number;
}

export const DEFAULT_DATASET_LIMITS: DatasetLimits = { maxBytes: 64 * 1024 * 1024 };

export type DatasetFormat = "text" | "jsonl";

export interface Dataset {
  file: string;
  format: DatasetFormat;
  /** Documents: the whole file for plain text, one per JSONL line. */
  texts: string[];
  bytes: number;
  /** 0x sha256 of the file's bytes. */
  sha256: string;
}

export function formatOf(file: string): DatasetFormat {
  const ext = path.extname(file).toLowerCase();
  return ext === ".jsonl" || ext === ".ndjson" ? "jsonl" : "text";
}

/**
 * Reads and validates raw bytes as UTF-8 text: refuses empty files, binary data (NUL bytes or
 * mostly control characters) and invalid UTF-8, naming the file and the offending offset.
 * The rules are ml/input-check.ts's, the ones the SDK and the worker's API apply before a job is paid.
 */
export function decodeText(buf: Buffer, file: string): string {
  return asMlError(() => decodeInputText(buf, file));
}

/** Runs a check of ml/input-check.ts, turning its refusal into the runtime's MlError (same code and message). */
function asMlError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InputCheckError) throw new MlError(e.problem.code, e.problem.message, e.problem.details);
    throw e;
  }
}

/** Reads a file within the size limit; errors name the file and the limit. Never throws anything but MlError for bad input. */
export function readTextFile(
  file: string,
  limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
): { text: string; buf: Buffer } {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new MlError("DATASET_NOT_FOUND", `${file} does not exist`, { file });
  }
  if (!st.isFile()) throw new MlError("DATASET_NOT_FOUND", `${file} is not a regular file`, { file });
  if (st.size > limits.maxBytes) {
    throw new MlError("DATASET_TOO_LARGE", `${file} is ${st.size} bytes, the limit is ${limits.maxBytes}`, {
      file,
      bytes: st.size,
      limit: limits.maxBytes,
    });
  }
  const buf = fs.readFileSync(file);
  return { text: decodeText(buf, file), buf };
}

/** Reads a dataset (plain text or JSONL {"text": ...}) and validates it. */
export function readDataset(
  file: string,
  limits: DatasetLimits = DEFAULT_DATASET_LIMITS,
  format?: DatasetFormat,
): Dataset {
  const { text, buf } = readTextFile(file, limits);
  const fmt = format ?? formatOf(file);
  let texts: string[];
  if (fmt === "jsonl") {
    texts = parseJsonl(text, file, "text");
  } else {
    texts = [text];
  }
  if (texts.every((t) => t.trim().length === 0))
    throw new MlError("DATASET_EMPTY", `${file} contains no text`, { file });
  return { file, format: fmt, texts, bytes: buf.length, sha256: sha256Hex0x(buf) };
}

/** Parses JSONL where each non-blank line is an object with a string field `field`. */
export function parseJsonl(text: string, file: string, field: string): string[] {
  return asMlError(() => parseJsonlField(text, file, field));
}

/**
 * Tokenizes a dataset into one stream: plain text as is; JSONL documents each followed by EOS.
 * Text "<|endoftext|>" is the EOS token, as in Hugging Face's tokenizer.
 */
export function tokenizeDataset(ds: Dataset, tok: Gpt2Tokenizer): number[] {
  const ids: number[] = [];
  for (const t of ds.texts) {
    for (const id of tok.encode(t)) ids.push(id);
    if (ds.format === "jsonl") ids.push(tok.eosTokenId);
  }
  return ids;
}

/** Refuses a token stream shorter than `needed` tokens, naming the file and the limit. */
export function requireTokens(ds: Dataset, tokens: number, needed: number, what: string): void {
  if (tokens < needed) {
    throw new MlError("DATASET_TOO_SHORT", `${ds.file} has ${tokens} tokens; ${what} needs at least ${needed}`, {
      file: ds.file,
      tokens,
      limit: needed,
    });
  }
}
