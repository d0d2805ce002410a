import { MlError } from "./errors";
import type { ExecJob, ExecResult, Executor, JobKind } from "./executor";
import { canonicalJson, sha256Hex0x } from "./hash";

const KINDS: JobKind[] = ["train", "infer", "evaluate"];

/**
 * One executor per job kind (a worker that trains with PyTorch and serves with the builtin runtime, say).
 * Each result carries the runtime id of the executor that ran it; this router's own id only names the mapping.
 */
export class KindRouter implements Executor {
  readonly id: string;
  readonly runtimeId: string;

  constructor(readonly byKind: Partial<Record<JobKind, Executor>>) {
    this.id = `by-kind(${KINDS.map((k) => `${k}:${byKind[k]?.id ?? "-"}`).join(",")})`;
    this.runtimeId = sha256Hex0x(
      canonicalJson({ router: Object.fromEntries(KINDS.map((k) => [k, byKind[k]?.runtimeId ?? null])) }),
    );
  }

  run(job: ExecJob): Promise<ExecResult> {
    const e = this.byKind[job.kind];
    if (!e) return Promise.reject(new MlError("JOB_INVALID", `this worker has no executor for ${job.kind} jobs`));
    return e.run(job);
  }
}
