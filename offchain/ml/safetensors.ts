import * as fs from "fs";
import { MlError } from "./errors";

/** The safetensors format: u64 LE header length, a JSON header, then the raw little-endian tensor bytes. */

export type DType = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "U8" | "I8" | "BOOL" | "I16" | "U16";

const DTYPE_SIZE: Record<DType, number> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
  U8: 1,
  I8: 1,
  BOOL: 1,
};

export interface RawTensor {
  dtype: DType;
  shape: number[];
  /** Little-endian bytes as stored. */
  data: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const MAX_HEADER_BYTES = 100_000_000;

/** Where a tensor's bytes lie in the data after the header. */
interface ByteRange {
  name: string;
  begin: number;
  end: number;
}

export function parseSafetensors(buf: Uint8Array, label = "model.safetensors"): SafetensorsFile {
  if (buf.byteLength < 8) throw new MlError("MODEL_INVALID", `${label} is too short to be safetensors`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > buf.byteLength) {
    throw new MlError("MODEL_INVALID", `${label} has a header length ${headerLen} beyond the file`);
  }
  let header: unknown;
  try {
    // Strict UTF-8, as every other reader of the file (the PyTorch runtime's included) decodes it.
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + headerLen)));
  } catch {
    throw new MlError("MODEL_INVALID", `${label} has an unreadable JSON header`);
  }
  if (!isObject(header)) throw new MlError("MODEL_INVALID", `${label}'s header is not a JSON object`);
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, RawTensor>();
  const ranges: ByteRange[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      // The format's metadata: strings by name (a reader that recursed into anything deeper could be made to fail)
      if (!isObject(entry) || !Object.values(entry).every((v) => typeof v === "string"))
        throw new MlError("MODEL_INVALID", `${label}'s __metadata__ is not an object of strings`);
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!isObject(entry)) throw new MlError("MODEL_INVALID", `${label}: tensor ${name} is not described by an object`);
    const e = entry as { dtype?: string; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype as DType;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_SIZE, dtype))
      throw new MlError("MODEL_INVALID", `${label}: tensor ${name} has unknown dtype ${e.dtype}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new MlError("MODEL_INVALID", `${label}: tensor ${name} has an invalid shape`);
    }
    if (!Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
      throw new MlError("MODEL_INVALID", `${label}: tensor ${name} has invalid data_offsets`);
    }
    const [begin, end] = e.data_offsets as number[];
    const shape = e.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
    if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end)) || end - begin !== expected || begin < 0) {
      throw new MlError("MODEL_INVALID", `${label}: tensor ${name} has data_offsets that do not match its shape`);
    }
    if (dataStart + end > buf.byteLength)
      throw new MlError(
        "MODEL_INVALID",
        `${label}: tensor ${name} has data_offsets [${begin}, ${end}] beyond the data, which is ${buf.byteLength - dataStart} bytes (a truncated file?)`,
      );
    tensors.set(name, { dtype, shape, data: buf.subarray(dataStart + begin, dataStart + end) });
    ranges.push({ name, begin, end });
  }
  checkLayout(ranges, buf.byteLength - dataStart, label);
  return { tensors, metadata };
}

/**
 * The layout the format requires (the reference reader, huggingface/safetensors' `Metadata::validate` and
 * `MetadataIncompleteBuffer`): sorted by offset, the tensors' byte ranges tile the data exactly, from 0 to its end,
 * with no overlap (two tensors reading the same bytes), no gap and nothing after the last one. Every writer does so
 * (ours, the PyTorch runtime's, Hugging Face's); a file that does not is refused as the reference refuses it.
 */
function checkLayout(ranges: ByteRange[], dataBytes: number, label: string): void {
  const span = (x: ByteRange) => `tensor ${x.name} [${x.begin}, ${x.end})`;
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let last: ByteRange | undefined;
  for (const r of ranges) {
    const at = last?.end ?? 0;
    if (last && r.begin < at)
      throw new MlError("MODEL_INVALID", `${label}: ${span(r)} overlaps ${span(last)}: a byte belongs to one tensor`);
    if (r.begin > at)
      throw new MlError(
        "MODEL_INVALID",
        `${label}: bytes [${at}, ${r.begin}) belong to no tensor (${last ? `between ${span(last)} and` : "before"} ` +
          `${span(r)}): safetensors stores the tensors back to back`,
      );
    last = r;
  }
  const end = last?.end ?? 0;
  if (end !== dataBytes)
    throw new MlError(
      "MODEL_INVALID",
      `${label}: ${dataBytes - end} bytes after the last tensor${last ? ` (${span(last)})` : ""} belong to no tensor: ` +
        "safetensors stores the tensors back to back up to the end of the file",
    );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function readSafetensors(file: string): SafetensorsFile {
  if (!fs.existsSync(file)) throw new MlError("MODEL_INVALID", `missing ${file}`);
  return parseSafetensors(fs.readFileSync(file), file);
}

/**
 * Serializes tensors in the given order (byte-identical output for identical input), with the
 * header keys sorted as the Python writer does and padded with spaces to a multiple of 8.
 */
export function serializeSafetensors(
  tensors: Array<[string, RawTensor]>,
  metadata: Record<string, string> = { format: "pt" },
): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const entries: Record<string, unknown> = {};
  for (const [name, t] of tensors) {
    const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype];
    if (expected !== t.data.byteLength)
      throw new Error(`tensor ${name}: ${t.data.byteLength} bytes for shape ${t.shape}`);
    entries[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  for (const k of Object.keys(entries).sort()) header[k] = entries[k];
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const headerBuf = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBuf.length + offset);
  out.writeBigUInt64LE(BigInt(headerBuf.length), 0);
  headerBuf.copy(out, 8);
  let pos = 8 + headerBuf.length;
  for (const [, t] of tensors) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(
  file: string,
  tensors: Array<[string, RawTensor]>,
  metadata?: Record<string, string>,
): void {
  fs.writeFileSync(file, serializeSafetensors(tensors, metadata));
}

/** Decodes a stored tensor to float32 (F32, F16, BF16, F64). */
export function toFloat32(t: RawTensor, label = "tensor"): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Float32Array(n);
  switch (t.dtype) {
    case "F32":
      if (LITTLE_ENDIAN) {
        new Uint8Array(out.buffer).set(t.data);
        return out;
      }
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case "BF16": {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        tmp.setUint32(0, view.getUint16(i * 2, true) << 16);
        out[i] = tmp.getFloat32(0);
      }
      return out;
    }
    case "F16":
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    default:
      throw new MlError("MODEL_INVALID", `${label} has dtype ${t.dtype}, expected a float type`);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function f32Raw(data: Float32Array, shape: number[]): RawTensor {
  if (LITTLE_ENDIAN) {
    return {
      dtype: "F32",
      shape,
      data: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
    };
  }
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return { dtype: "F32", shape, data: bytes };
}
