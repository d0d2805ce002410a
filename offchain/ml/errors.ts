/**
 * Typed errors of the model runtime. Errors that are the input's fault carry a stable `code`
 * so that a worker can fail a job on chain with a reason code instead of crashing.
 */
export const ML_ERROR_CODES = [
  "DATASET_NOT_FOUND",
  "DATASET_EMPTY",
  "DATASET_BINARY",
  "DATASET_INVALID_UTF8",
  "DATASET_INVALID_JSONL",
  "DATASET_TOO_LARGE",
  "DATASET_TOO_SHORT",
  "MODEL_TOO_LARGE",
  "MODEL_INVALID",
  "CONFIG_INVALID",
  "PROMPT_TOO_LONG",
  "PROMPTS_INVALID",
  "PARAMS_INVALID",
  "DEVICE_UNAVAILABLE",
  "JOB_INVALID",
  "EXECUTOR_FAILED",
  "ABORTED",
  "MEMORY_LIMIT",
] as const;

export type MlErrorCode = (typeof ML_ERROR_CODES)[number];

export class MlError extends Error {
  readonly code: MlErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: MlErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(`${code}: ${message}`);
    this.name = "MlError";
    this.code = code;
    this.details = details;
  }
}

export function isMlError(e: unknown): e is MlError {
  return e instanceof MlError || (typeof e === "object" && e !== null && (e as { name?: unknown }).name === "MlError");
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new MlError("ABORTED", "the job was aborted");
}
