import { inspect } from "node:util";
import pino, { type DestinationStream, type LevelWithSilent, type Logger } from "pino";

/** The worker's logger: pino, JSON lines. */
export type Log = Logger;

const CENSOR = "[redacted]";

/** Field names whose values are never written to a log, at any depth pino can reach through `REDACT_PATHS`. */
// Not "key": the sender logs idempotency keys, the store logs kv keys. The signer key lives in a `Secret` anyway.
const SECRET_FIELDS = ["privateKey", "signerKey", "secret", "password", "mnemonic", "authorization", "apiKey"];

/** pino redaction paths: the secret fields at the top level and up to two levels down. */
export const REDACT_PATHS: string[] = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Added to every line as `name`. */
  name?: string;
  /** Where lines go; standard error by default (stdout stays free for a CLI's own output). */
  destination?: DestinationStream;
  /**
   * Lines are also appended to this file (its folder created): those at `fileLevel` (default info) and above, and any
   * lower ones `level` lets through. `up` keeps its terminal to warnings while the file tells each job's story.
   */
  file?: string;
  fileLevel?: LevelWithSilent;
}

/** A pino logger writing JSON lines to stderr (and a file), with secret fields (see `REDACT_PATHS`) censored. */
export function createLogger(opts: LoggerOptions = {}): Log {
  const level = opts.level ?? "info";
  const options = {
    name: opts.name,
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    // Error objects under `err` get pino's serializer (type, message, stack); keep that for any field named so.
    serializers: { err: pino.stdSerializers.err },
  };
  const terminal = opts.destination ?? pino.destination({ dest: 2, sync: true });
  if (!opts.file) return pino({ ...options, level }, terminal);
  const rank = (l: LevelWithSilent) => pino.levels.values[l] ?? Infinity; // "silent" ranks above every level
  const wanted = opts.fileLevel ?? "info";
  const fileLevel = rank(level) < rank(wanted) ? level : wanted;
  // multistream's levels must be real ones: a "silent" stream is left out.
  const streams: pino.StreamEntry[] = [];
  if (fileLevel !== "silent")
    streams.push({
      level: fileLevel,
      stream: pino.destination({ dest: opts.file, append: true, mkdir: true, sync: true }),
    });
  if (level !== "silent") streams.push({ level, stream: terminal });
  return pino({ ...options, level: rank(level) < rank(fileLevel) ? level : fileLevel }, pino.multistream(streams));
}

/** A logger that writes nothing (for tests and library callers that pass none). */
export function silentLogger(): Log {
  return pino({ level: "silent" });
}

/**
 * A secret value (the signer key): prints, serializes and inspects as `[redacted]`, so that passing it to a logger,
 * `JSON.stringify` or `console.log` by mistake cannot leak it. `reveal()` is the one way to read it.
 */
export class Secret<T = string> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return CENSOR;
  }
  toJSON(): string {
    return CENSOR;
  }
  [inspect.custom](): string {
    return `Secret(${CENSOR})`;
  }
}

const SECRET_KEY = new RegExp(`^(${SECRET_FIELDS.join("|")})$`, "i");

/** A deep copy of `value` with secret fields (by name, any depth) and `Secret`s replaced by `[redacted]`. */
export function redactSecrets(value: unknown): unknown {
  if (value instanceof Secret) return CENSOR;
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? CENSOR : redactSecrets(v);
    return out;
  }
  return value;
}

/**
 * An RPC URL as it may be logged: providers put API keys in the path or the query
 * (`https://mainnet.infura.io/v3/<key>`) and credentials in the userinfo, so only the origin is kept.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const hidden = u.username || u.password || (u.pathname !== "/" && u.pathname !== "") || u.search;
    return `${u.protocol}//${u.host}${hidden ? "/" + CENSOR : ""}`;
  } catch {
    return CENSOR;
  }
}
