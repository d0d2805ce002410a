/**
 * How the CLI talks: with --json, exactly one JSON document on stdout (bigints as decimal strings);
 * otherwise human text on stdout. Logs and progress always go to stderr, so stdout stays parseable.
 */
import path from "node:path";

/**
 * An error the user can act on: what went wrong, and the command or option that fixes it. One that came from the SDK
 * keeps its `code` and `data` (the facts behind it), which --json prints for programs to branch on.
 */
export class CliError extends Error {
  readonly code?: string;
  readonly data?: Record<string, unknown>;

  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode: number = 1,
    from: { code?: string; data?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = "CliError";
    this.code = from.code;
    this.data = from.data && Object.keys(from.data).length > 0 ? from.data : undefined;
  }
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

export interface Output {
  json: boolean;
  /** The command's result: JSON on stdout with --json, else the human rendering. */
  result(value: unknown, human: () => string): void;
  /** Progress and notes for people: stderr, never stdout. */
  info(line: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      process.stdout.write(json ? toJson(value) + "\n" : asTyped(human()) + "\n");
    },
    info(line) {
      process.stderr.write(asTyped(line) + "\n");
    },
  };
}

/** The repository's `posthuman` script (the README's `./posthuman`). */
const SCRIPT = path.join(__dirname, "..", "..", "posthuman");

/**
 * The command as the user typed it, for the commands a message names: the `posthuman` script by its path from here
 * when that is what ran (`./posthuman` from the repository's root, as the README has it), else `posthuman` (npx, an
 * installed bin, `node …/posthuman.js`).
 */
export function commandName(ran = process.argv[1], cwd = process.cwd()): string {
  if (!ran || path.resolve(cwd, ran) !== SCRIPT) return "posthuman";
  const rel = path.relative(cwd, SCRIPT);
  return rel.includes(path.sep) ? rel : `./${rel}`;
}

const NAMED =
  /(^|[\s(`'":])posthuman(?= (?:up|model|buy|balance|pay|send|market|train|infer|eval|job|rewards|stake|demo|worker|help|--[a-z]))/g;

/** Human text with each command it names ("posthuman job show 3") written as the user typed this one. JSON keeps `posthuman`. */
export function asTyped(text: string, name = commandName()): string {
  return name === "posthuman" ? text : text.replace(NAMED, `$1${name}`);
}

/** Prints an error the way the user should read it and returns the exit code. */
export function reportError(e: unknown, json: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const hint = err instanceof CliError ? err.hint : undefined;
  const code = err instanceof CliError ? err.exitCode : 1;
  // An ethers error's message lists the request, URL included (an API key may be in it): its short message is said
  // (the whole one with POSTHUMAN_DEBUG, in the stack).
  const short = (err as { shortMessage?: unknown }).shortMessage;
  const ethersCode = (err as { code?: unknown }).code;
  const message =
    typeof short === "string" && short
      ? `${short}${typeof ethersCode === "string" ? ` (${ethersCode})` : ""}`
      : err.message;
  if (json) {
    // Always the four keys, null where there is nothing to say (a script reads one shape).
    const [errCode, data] = err instanceof CliError ? [err.code, err.data] : [];
    process.stdout.write(
      toJson({ error: { message, hint: hint ?? null, code: errCode ?? null, data: data ?? null } }) + "\n",
    );
  } else {
    process.stderr.write(asTyped(`Error: ${message}\n${hint ? `→ ${hint}\n` : ""}`));
  }
  if (process.env.POSTHUMAN_DEBUG && err.stack) process.stderr.write(err.stack + "\n");
  return code;
}
