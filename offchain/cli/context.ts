/**
 * What every user command shares: the global options, connecting the SDK with them, parsing arguments the way a
 * person writes them, and turning SDK errors into errors that say what to do.
 */
import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import { addressBookPath, readAddressBook } from "../deploy/address-book";
import type { PostHuman } from "../sdk/client";
import { isSdkError } from "../sdk/errors";
import { resolveWallet } from "../deploy/accounts";
import { commandHint } from "./hints";
import { CliError, createOutput } from "./output";

/** The global options, as every command sees them. */
export interface CommandContext {
  rpc: string;
  deployment?: string;
  account?: string;
  keyFile?: string;
  worker: string;
  json: boolean;
  dataDir: string;
}

/**
 * Connects the SDK with the global options: the address book, the RPC node, the signer and the local store. The SDK's
 * steps ("Requesting the job…", a worker's note) are said on stderr, or to `onStep`.
 */
export async function connect(
  c: CommandContext,
  needSigner = true,
  onStep: (line: string) => void = createOutput(c.json).info,
): Promise<PostHuman> {
  // Two explicit signers: refused rather than one silently ignored (an --account wins over POSTHUMAN_PRIVATE_KEY,
  // as --key-file does: a flag over the environment).
  if (c.account !== undefined && c.keyFile !== undefined)
    throw new CliError(
      `--account ${c.account} and --key-file ${c.keyFile} both say who signs: the command would use one and ignore the other`,
      "pass one of them: --account <name> for a dev account of a local chain, --key-file <file> for your own key",
    );
  const file = c.deployment ?? addressBookPath("localhost");
  const book = readAddressBook(file);
  if (!book)
    throw new CliError(
      `No address book at ${file}`,
      "start a local marketplace with `npm start` (posthuman up) in another terminal, or pass --deployment <file>",
    );
  // The worker's transport: a read whose kept-alive connection the node closed meanwhile is asked again.
  const { describeError, rpcFetchRequest } = await import("../worker/rpc");
  const { redactUrl } = await import("../worker/log");
  const provider = new ethers.JsonRpcProvider(rpcFetchRequest(c.rpc), book.chainId, {
    cacheTimeout: -1,
    staticNetwork: true,
  });
  try {
    await provider.getBlockNumber();
  } catch (e) {
    provider.destroy();
    // The URL may carry an API key: said redacted, as the worker's logs do.
    throw new CliError(
      `No chain answers at ${redactUrl(c.rpc)} (${describeError(e)})`,
      "start one with `npm start` (posthuman up) in another terminal, or pass --rpc <url>",
    );
  }
  let runner: ethers.Signer | ethers.Provider = provider;
  if (needSigner) {
    try {
      runner = new ethers.NonceManager(
        resolveWallet({ account: c.account, keyFile: c.keyFile }, book.chainId, provider),
      );
    } catch (e) {
      provider.destroy();
      throw new CliError((e as Error).message, "see `posthuman --help` for --account and --key-file");
    }
  }
  // The SDK (contract bindings, ocean.js) loads here, not at start-up: `--help` and local commands never need it.
  const { PostHuman } = await import("../sdk/client");
  try {
    return await PostHuman.init({ runner, book, workerUrl: c.worker, dataDir: c.dataDir, onStep });
  } catch (e) {
    provider.destroy();
    throw explain(e);
  }
}

/** Turns SDK errors into CLI errors with the command's hint (else the SDK's); everything else passes. */
export function explain(e: unknown): unknown {
  if (isSdkError(e)) {
    return new CliError(e.message, commandHint(e.code, e.data, e.hint) ?? e.hint, 1, e);
  }
  return e;
}

/** Runs an SDK call, rethrowing its errors as CLI errors. */
export async function sdk<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw explain(e);
  }
}

/** A token amount written in whole tokens ("1.5") as wei. */
export function amount(s: string, what: string): bigint {
  let v: bigint;
  try {
    v = ethers.parseEther(s);
  } catch {
    if (/^\d*\.\d+$/.test(s) && s.split(".")[1].replace(/0+$/, "").length > 18)
      throw new CliError(
        `${what} ${s} is finer than 1 wei: a token has 18 decimals`,
        "write at most 18 decimals (0.000000000000000001 is 1 wei)",
      );
    throw new CliError(`${what} "${s}" is not a number`, "write it in whole tokens, e.g. 1.5");
  }
  if (v <= 0n) throw new CliError(`${what} must be more than 0`, "write it in whole tokens, e.g. 1.5");
  return v;
}

export function id(s: string, what: "model" | "job" | "listing" = "model"): bigint {
  if (!/^\d+$/.test(s) || BigInt(s) === 0n) {
    const list = {
      model: "posthuman model list",
      job: "the job ids train, infer and eval print",
      listing: "posthuman market list",
    };
    throw new CliError(`${what} id "${s}" is not a positive number`, `see ${list[what]}`);
  }
  return BigInt(s);
}

/**
 * A whole number written in digits (not 1e3, 1.5, 0x10), from `min` to `max` (`max.why`: what harms the user past it;
 * without a max, up to the largest number counted exactly).
 */
export function int(s: string, what: string, min = 1, max?: { value: number; words?: string; why: string }): number {
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (Number.isNaN(n) || n < min)
    throw new CliError(
      `${what} "${s}" is not a whole number ≥ ${min}`,
      `write it in digits${max ? `, from ${min} to ${max.value}` : ", e.g. 10"}`,
    );
  if (max && n > max.value)
    throw new CliError(
      `${what} ${s} is more than ${max.words ?? max.value}`,
      `pass ${what} ${max.value} or less: ${max.why}`,
    );
  if (!Number.isSafeInteger(n))
    throw new CliError(`${what} ${s} is more than ${Number.MAX_SAFE_INTEGER}`, "write a smaller number");
  return n;
}

export function num(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) throw new CliError(`${what} "${s}" is not a number ≥ 0`);
  return n;
}

/** What a file system error code means to the user ("ENOENT" alone says nothing to most). */
const FILE_ERRORS: Record<string, string> = {
  ENOENT: "there is no such file",
  EISDIR: "it is a folder, not a file",
  EACCES: "permission denied",
  ENOTDIR: "a part of the path is not a folder",
};

/** Reads an input file; a clear error when it cannot (missing, a folder, not readable). */
export function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code ? `${FILE_ERRORS[code] ?? "error"} (${code})` : (e as Error).message;
    throw new CliError(`Cannot read ${file}: ${why}`, code === "EISDIR" ? "pass a file in it" : "check the path");
  }
}

export function absolute(p: string): string {
  return path.resolve(p);
}
