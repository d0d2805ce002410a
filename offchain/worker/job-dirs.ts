/**
 * Each run's working folder, `<dataDir>/jobs/<id>/` (job.json, the input, the executor's outputs: a training run's
 * whole child model). Nothing reads it once the run's outputs are in the artifact store (the result and the child are
 * served from there), so it goes as soon as the job can never run again: when its outputs are stored, when it ends
 * without output, and at start-up for the jobs that ended while the worker was down (or before a crash let it tidy up).
 */
import fs from "node:fs";
import path from "node:path";
import type { JobRow, JobState } from "./jobs";
import type { Log } from "./log";

/** States in which a job may still run (again, after a restart): its folder is kept. */
const MAY_RUN: ReadonlySet<JobState> = new Set<JobState>(["seen", "claimed", "input_ready", "running"]);

/** The working folder of job `jobId`. */
export function jobDir(dataDir: string, jobId: string): string {
  return path.join(dataDir, "jobs", jobId);
}

/** Whether a job in `state` (undefined: unknown to the database) may need its working folder again. */
export function keepsJobDir(state: JobState | undefined): boolean {
  return state !== undefined && MAY_RUN.has(state);
}

/** Removes a job's working folder (nothing when there is none). */
export function removeJobDir(dataDir: string, jobId: string): void {
  fs.rmSync(jobDir(dataDir, jobId), { recursive: true, force: true });
}

/**
 * Removes the working folders of the jobs that will never run again (final, skipped, output stored, or unknown to the
 * database), keeping those that may. Returns the ids removed. Folders not named by a job id are left alone.
 */
export function sweepJobDirs(
  dataDir: string,
  jobs: { get(jobId: string): Pick<JobRow, "state"> | undefined },
  log: Log,
): string[] {
  const base = path.join(dataDir, "jobs");
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return []; // no run yet
  }
  const removed: string[] = [];
  for (const id of names) {
    if (!/^\d+$/.test(id) || keepsJobDir(jobs.get(id)?.state)) continue;
    try {
      removeJobDir(dataDir, id);
      removed.push(id);
    } catch (e) {
      log.warn({ jobId: id, err: (e as Error).message }, "could not remove the working folder of an ended job");
    }
  }
  if (removed.length) log.info({ jobs: removed }, `removed the working folders of ${removed.length} ended job(s)`);
  return removed;
}
