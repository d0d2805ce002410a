/**
 * Ctrl-C in train, infer and eval. Once a job is requested it is on chain and paid for: Ctrl-C then stops the command,
 * not the job, and says which job goes on, whether its input reached the worker, and what to do next. The command
 * keeps the jobs it heard of: from the SDK's onRequested (mined, its input not uploaded yet), then from the request's
 * result (its input uploaded). A Ctrl-C while the request's transaction is on its way waits for it to be mined, so that
 * its job can be named (a second Ctrl-C stops at once).
 */
import { asTyped, CliError, reportError, type Output } from "../output";

/** Where a requested job's input is: not sent (Ctrl-C came first), on its way, or with the worker. */
export type InputState = "not sent" | "sending" | "uploaded";

/** The exit code of a command stopped by Ctrl-C (128 + SIGINT), as a shell reports it. */
export const STOPPED_EXIT_CODE = 130;

export class JobsInFlight {
  /** The jobs requested and not finished yet, by id. */
  readonly jobs = new Map<bigint, InputState>();
  /** The jobs followed to their receipt. */
  readonly done: bigint[] = [];
  /** A request's transaction is on its way (the SDK's onSending, and no job id yet). */
  sending = false;
  /** Ctrl-C came while `sending`: stop once the job's id is heard. */
  private stopWhenHeard?: () => void;

  /** The SDK sends a request's transaction (JobRequestOptions.onSending). */
  requesting(): void {
    this.sending = true;
  }

  /** The request is mined: its job's id, before its input is uploaded (JobRequestOptions.onRequested). */
  heard(jobId: bigint): void {
    this.sending = false;
    const stop = this.stopWhenHeard;
    this.jobs.set(jobId, stop ? "not sent" : "sending");
    stop?.();
  }

  /** The SDK's request returned: the job is on chain with its input uploaded (unless it says otherwise). */
  requested(job: { jobId: bigint; uploaded: boolean }): void {
    this.sending = false;
    this.jobs.set(job.jobId, job.uploaded ? "uploaded" : "not sent");
  }

  /** The job has its receipt. */
  finished(jobId: bigint): void {
    this.jobs.delete(jobId);
    this.done.push(jobId);
  }

  /**
   * Ctrl-C: `stop` now, or (a request's transaction on its way) once its job is heard; `info` says so. A second
   * Ctrl-C stops at once.
   */
  interrupt(stop: () => void, info: (line: string) => void): void {
    if (!this.sending || this.stopWhenHeard) return stop();
    this.stopWhenHeard = stop;
    info(
      "Ctrl-C: the job's request is on its way; stopping once it is mined, to name the job (Ctrl-C again to stop now)",
    );
  }
}

/** "job 7", "jobs 7 and 8", "jobs 7, 8 and 9". */
function jobList(ids: bigint[]): string {
  const s = ids.map(String);
  const list = s.length > 1 ? `${s.slice(0, -1).join(", ")} and ${s[s.length - 1]}` : s[0];
  return `job${ids.length > 1 ? "s" : ""} ${list}`;
}

/** The commands that show each job. */
function showCommands(ids: bigint[]): string {
  return ids.map((id) => `posthuman job show ${id}`).join(", ");
}

/** What a Ctrl-C leaves behind, in words: the error the command stops with (exit code 130). */
export function stoppedError(f: Pick<JobsInFlight, "jobs" | "done" | "sending">): CliError {
  const { jobs, done, sending } = f;
  const all = [...jobs.keys()];
  const data = { jobs: [...jobs].map(([jobId, input]) => ({ jobId, input })), done, sending };
  const from = { code: "INTERRUPTED", data };
  if (all.length === 0 && done.length > 0 && !sending)
    return new CliError(
      `Stopped: ${jobList(done)} ${done.length === 1 ? "has its receipt" : "have their receipts"}.`,
      `fetch ${done.length === 1 ? "its result" : "their results"} with: ${done.map((id) => `posthuman job result ${id}`).join(", ")}`,
      STOPPED_EXIT_CODE,
      from,
    );
  if (all.length === 0)
    return sending
      ? new CliError(
          "Stopped while a job's request was on its way: it may be on chain, paid for, without its input.",
          "if it was mined, its fee and datatoken stay escrowed until you cancel it: find it among the newest jobs " +
            "(posthuman job show <id>; ids count up, yours names you as requester) and cancel it: posthuman job " +
            "cancel <id>",
          STOPPED_EXIT_CODE,
          from,
        )
      : new CliError("Stopped: no job was requested (nothing escrowed).", undefined, STOPPED_EXIT_CODE, from);
  const uploaded = all.filter((id) => jobs.get(id) === "uploaded");
  const missing = all.filter((id) => jobs.get(id) !== "uploaded");
  const cut = missing.some((id) => jobs.get(id) === "sending");
  // Said of every job ("it", "they") or of some ("job 5"), in the right number.
  const who = (ids: bigint[]) => (ids.length === all.length ? (ids.length === 1 ? "it" : "they") : jobList(ids));
  const verb = (ids: bigint[], one: string, many: string) => (ids.length === 1 ? one : many);
  const parts: string[] = [];
  if (uploaded.length)
    parts.push(
      `${who(uploaded)} ${verb(uploaded, "stays", "stay")} on chain and ${verb(uploaded, "goes", "go")} on ` +
        `(${verb(uploaded, "its input was", "their inputs were")} uploaded)`,
    );
  if (missing.length)
    parts.push(
      `${who(missing)} ${verb(missing, "stays", "stay")} on chain, fee and datatoken escrowed, but ` +
        (cut
          ? `${verb(missing, "its input's upload was", "their inputs' uploads were")} cut short: the worker may not have ${verb(missing, "it", "them")}`
          : `${verb(missing, "its input was", "their inputs were")} not uploaded`),
    );
  const them = all.length === 1 ? "it" : "them";
  const hints = [`see ${them} with: ${showCommands(all)}`];
  if (missing.length) {
    const it = missing.length === 1 ? "it" : "them";
    hints.push(
      `deliver ${it}: ${missing.map((id) => `posthuman job upload ${id}`).join(", ")}; or ` +
        `cancel ${it} while no worker has claimed ${it}: ${missing.map((id) => `posthuman job cancel ${id}`).join(", ")} ` +
        `(the fee and the datatoken come back); a worker that claimed one fails it INPUT_MISSING once its input ` +
        "wait is over, which refunds them too",
    );
  }
  return new CliError(
    `Stopped following ${jobList(all)}: ${parts.join("; ")}.`,
    hints.join("; "),
    STOPPED_EXIT_CODE,
    from,
  );
}

/**
 * While a job command runs: Ctrl-C says what it leaves behind (`stoppedError`) and exits 130, without --json as one
 * paragraph on stderr, with it as the JSON error on stdout. Returns the function that stops watching.
 */
export function stopOnCtrlC(jobs: JobsInFlight, out: Output): () => void {
  const stop = () => {
    const e = stoppedError(jobs);
    if (out.json) reportError(e, true);
    // A progress bar drawn in place ends first.
    else
      process.stderr.write(asTyped(`${process.stderr.isTTY ? "\n" : ""}${e.message}${e.hint ? ` → ${e.hint}` : ""}\n`));
    process.exit(STOPPED_EXIT_CODE);
  };
  const onSignal = () => jobs.interrupt(stop, out.info);
  process.on("SIGINT", onSignal);
  return () => process.off("SIGINT", onSignal);
}
