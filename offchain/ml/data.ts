import * as fs from "fs";
import * as path from "path";
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
 */
export function decodeText(buf: Buffer, file: string): string {
  if (buf.length === 0) throw new MlError("DATASET_EMPTY", `${file} is empty`, { file });
  const nul = buf.indexOf(0);
  if (nul >= 0)
    throw new MlError("DATASET_BINARY", `${file} is binary data (NUL byte at offset ${nul})`, { file, offset: nul });
  let control = 0;
  const sample = Math.min(buf.length, 65536);
  for (let i = 0; i < sample; i++) {
    const b = buf[i];
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) control++;
  }
  if (control > sample * 0.1) {
    throw new MlError("DATASET_BINARY", `${file} is binary data (${control} control bytes in the first ${sample})`, {
      file,
    });
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buf);
  } catch {
    const offset = firstInvalidUtf8(buf);
    throw new MlError("DATASET_INVALID_UTF8", `${file} is not valid UTF-8 (first bad byte at offset ${offset})`, {
      file,
      offset,
    });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text;
}

function firstInvalidUtf8(buf: Buffer): number {
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
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim().length === 0) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new MlError("DATASET_INVALID_JSONL", `${file} line ${i + 1} is not valid JSON`, { file, line: i + 1 });
    }
    const v =
      typeof obj === "object" && obj !== null && !Array.isArray(obj)
        ? (obj as Record<string, unknown>)[field]
        : undefined;
    if (typeof v !== "string") {
      throw new MlError("DATASET_INVALID_JSONL", `${file} line ${i + 1} has no string field "${field}"`, {
        file,
        line: i + 1,
      });
    }
    out.push(v);
  }
  return out;
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
