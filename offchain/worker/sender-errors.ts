/** Why a sender's action did not happen: decoded revert reasons and the errors `Sender.send` rejects with. */
import { Interface, type TransactionReceipt } from "ethers";
import { describeError } from "./rpc";

// ---- revert reasons ---------------------------------------------------------------------------------------

/** Why a call reverted, decoded. */
export type RevertReason =
  | { kind: "custom"; name: string; signature: string; args: unknown[] } // a custom error of a known Interface
  | { kind: "error"; message: string } // require(…, "message") / Error(string)
  | { kind: "panic"; code: bigint; description: string } // Panic(uint256): overflow, assert, …
  | { kind: "unknown"; data: string }; // no data, or an error of no given Interface

/** A custom error, as `decodeRevert` gives it. */
export type CustomError = Extract<RevertReason, { kind: "custom" }>;

const PANICS: Record<number, string> = {
  0x01: "assert failed",
  0x11: "arithmetic overflow or underflow",
  0x12: "division by zero",
  0x21: "invalid enum value",
  0x22: "bad storage byte array",
  0x31: "pop on an empty array",
  0x32: "array index out of bounds",
  0x41: "out of memory",
  0x51: "call to an uninitialized function",
};

/** Decodes revert data with the given contract interfaces (custom errors), or as Error(string) / Panic(uint256). */
export function decodeRevert(data: string | null | undefined, interfaces: readonly Interface[] = []): RevertReason {
  if (!data || data === "0x") return { kind: "unknown", data: data ?? "0x" };
  for (const iface of interfaces) {
    try {
      const parsed = iface.parseError(data);
      if (parsed) {
        if (parsed.name === "Error" && parsed.signature === "Error(string)") {
          return { kind: "error", message: String(parsed.args[0]) };
        }
        if (parsed.signature === "Panic(uint256)") break;
        return { kind: "custom", name: parsed.name, signature: parsed.signature, args: parsed.args.toArray(true) };
      }
    } catch {
      // not this interface's error (or undecodable arguments): try the next
    }
  }
  const selector = data.slice(0, 10).toLowerCase();
  try {
    if (selector === "0x08c379a0") {
      const [message] = ERROR_ABI.decodeErrorResult("Error", data);
      return { kind: "error", message: String(message) };
    }
    if (selector === "0x4e487b71") {
      const [code] = ERROR_ABI.decodeErrorResult("Panic", data) as unknown as [bigint];
      return { kind: "panic", code, description: PANICS[Number(code)] ?? "unknown panic code" };
    }
  } catch {
    // malformed: fall through
  }
  return { kind: "unknown", data };
}

/** `WorkerTestEmitterRefused(7, "refused on purpose")`, `Error("…")`, `Panic(0x11: arithmetic overflow…)`. */
export function formatRevert(r: RevertReason): string {
  switch (r.kind) {
    case "custom":
      return `${r.name}(${r.args.map(formatArg).join(", ")})`;
    case "error":
      return `Error(${JSON.stringify(r.message)})`;
    case "panic":
      return `Panic(0x${r.code.toString(16)}: ${r.description})`;
    case "unknown":
      return `unknown revert (data ${r.data.length > 74 ? r.data.slice(0, 74) + "…" : r.data})`;
  }
}

function formatArg(a: unknown): string {
  if (typeof a === "bigint") return a.toString();
  if (typeof a === "string") return JSON.stringify(a);
  if (Array.isArray(a)) return `[${a.map(formatArg).join(", ")}]`;
  return String(a);
}

// Standard Error(string) and Panic(uint256), for revert data of contracts without a given Interface.
const ERROR_ABI = new Interface(["error Error(string)", "error Panic(uint256)"]);

// ---- errors send() rejects with ---------------------------------------------------------------------------

/** The simulation (eth_call / estimateGas) reverted: nothing was signed or sent, no nonce used. */
export class SimulationRevertedError extends Error {
  override readonly name = "SimulationRevertedError";
  readonly kind = "simulation-reverted";
  constructor(
    readonly key: string,
    readonly reason: RevertReason,
  ) {
    super(`Action ${key} would revert: ${formatRevert(reason)}. Nothing was sent.`);
  }
}
/** The transaction was mined and reverted (the chain changed after the simulation). It was paid for. */
export class TxRevertedError extends Error {
  override readonly name = "TxRevertedError";
  readonly kind = "reverted";
  constructor(
    readonly key: string,
    readonly receipt: TransactionReceipt,
  ) {
    super(
      `Action ${key}: transaction ${receipt.hash} reverted in block ${receipt.blockNumber}. ` +
        `It will not be sent again under this key; use a new key to try again.`,
    );
  }
}
/** The node refused the transaction for good (insufficient funds, …): nothing is out there, the nonce is free. */
export class TxRejectedError extends Error {
  override readonly name = "TxRejectedError";
  readonly kind = "rejected";
  constructor(
    readonly key: string,
    override readonly cause: unknown,
  ) {
    super(`Action ${key} was refused by the node: ${describeError(cause)}.`);
  }
}
/** Another transaction of the same account took this action's nonce; none of the action's transactions was mined. */
export class NonceTakenError extends Error {
  override readonly name = "NonceTakenError";
  readonly kind = "nonce-taken";
  constructor(
    readonly key: string,
    readonly nonce: number,
  ) {
    super(
      `Action ${key}: nonce ${nonce} was used by a transaction this sender did not sign (is another process using ` +
        `the same key?). The action was not performed; sending it again under the same key is safe.`,
    );
  }
}
export class SenderClosedError extends Error {
  override readonly name = "SenderClosedError";
  readonly kind = "closed";
  constructor(readonly key: string) {
    super(`The sender was closed while action ${key} was in flight; a new sender resumes it.`);
  }
}
export type SendError =
  SimulationRevertedError | TxRevertedError | TxRejectedError | NonceTakenError | SenderClosedError;
