/**
 * Fault injection, for the crash tests only (test/worker/crash.test.ts): never set it on a real worker.
 *
 *   POSTHUMAN_WORKER_CRASH_AT=<point>[:<jobId>]
 *
 * makes the worker process kill itself with SIGKILL, the crash nothing can clean up after, at `point`:
 *   - a job state (seen, claimed, input_ready, running, output_stored, submitted, settled, failed): right after the
 *     state is committed to the database (for "seen": the ingestion transaction that recorded the request);
 *   - send.<action> (send.claim, send.submit, send.settle, send.fail): right after the transaction sender recorded
 *     the signed transaction of that action, before it is broadcast;
 *   - sent.<action>: right after the sender recorded the action as mined, before the pipeline hears of it (the
 *     transaction is on chain, the job's state does not say so yet).
 * With `:<jobId>` only that job's point fires, so a restarted worker armed for the next job finishes the last one.
 */
import type { Log } from "./log";

export const CRASH_ENV = "POSTHUMAN_WORKER_CRASH_AT";

export const CRASH_POINTS = [
  "seen",
  "claimed",
  "input_ready",
  "running",
  "output_stored",
  "submitted",
  "settled",
  "failed",
  "send.claim",
  "send.submit",
  "send.settle",
  "send.fail",
  "sent.claim",
  "sent.submit",
  "sent.settle",
  "sent.fail",
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** The armed crash, parsed from the environment; throws on a value that names no point. */
export function crashSwitch(env: NodeJS.ProcessEnv = process.env): { point: CrashPoint; jobId?: string } | undefined {
  const raw = env[CRASH_ENV];
  if (!raw) return undefined;
  const [point, jobId, ...rest] = raw.split(":");
  if (
    !(CRASH_POINTS as readonly string[]).includes(point) ||
    rest.length > 0 ||
    (jobId !== undefined && !/^\d+$/.test(jobId))
  ) {
    throw new Error(
      `${CRASH_ENV}="${raw}" must be <point>[:<jobId>] with point one of ${CRASH_POINTS.join(", ")} (a test switch: unset it)`,
    );
  }
  return { point: point as CrashPoint, ...(jobId !== undefined ? { jobId } : {}) };
}

/** Logs a warning when a crash is armed (so that a switch left set on a real worker is seen at once). */
export function warnIfArmed(log: Log): void {
  const armed = crashSwitch();
  if (armed)
    log.warn({ [CRASH_ENV]: process.env[CRASH_ENV] }, "fault injection armed: this worker will SIGKILL itself");
}

/** Kills the process with SIGKILL when `point` (for job `jobId`) is the armed one; does nothing otherwise. */
export function crashPoint(point: string, jobId: string | bigint): void {
  const raw = process.env[CRASH_ENV];
  if (!raw) return;
  const armed = crashSwitch();
  if (!armed || armed.point !== point || (armed.jobId !== undefined && armed.jobId !== String(jobId))) return;
  process.kill(process.pid, "SIGKILL");
}
