/** `posthuman job …`: show, result, verify, upload, cancel, reclaim, challenge, resolve and settle a job. */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import type { PostHuman } from "../../sdk/client";
import { isSdkError } from "../../sdk/errors";
import { connect, explain, id, readFile, sdk } from "../context";
import { CliError } from "../output";
import { accountNamer, describeReceipt, progressReporter, tokens, workerSays } from "../render";
import {
  decision,
  noReceipt,
  pastDeadline,
  reRunFailed,
  refusal,
  verdictNext,
  verifyHint,
  workerLag,
} from "./job-state";
import { addUpload } from "./job-upload";
import type { Wiring } from "./shared";

export function addJobCommands(program: Command, w: Wiring): void {
  const job = program.command("job").description("inspect, fetch, verify, challenge, settle and recover jobs");
  addShow(job, w);
  addResult(job, w);
  addVerify(job, w);
  addUpload(job, w);
  addRecover(job, w, "cancel", "cancel your job while no worker has claimed it: the fee and the datatoken come back");
  addRecover(
    job,
    w,
    "reclaim",
    "after its deadline without a receipt: refund the fee and the datatoken, and slash the claimant's collateral to the requester",
  );
  addChallenge(job, w);
  addResolve(job, w);
  addDispute(job, w);
  job
    .command("settle <job>")
    .description("pay the worker of a job whose challenge window is over (anyone may; the worker usually does)")
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const jobId = id(raw, "job");
        const r = await client.jobs.settle(jobId).catch(async (e: unknown) => {
          throw (await whyRefused(client, "settle", jobId, e)) ?? explain(e);
        });
        out.result(r, () => `job ${raw} settled (tx ${r.txHash})`);
      }, cmd),
    );
}

/** A reverted cancel, reclaim or settle in the job's state's words (an unknown job as `job show` says it). */
async function whyRefused(
  client: PostHuman,
  action: "cancel" | "reclaim" | "settle",
  jobId: bigint,
  e: unknown,
): Promise<CliError | undefined> {
  if (!isSdkError(e, "REVERTED")) throw explain(e);
  const o = await sdk(client.jobOverview(jobId));
  return refusal(action, o, await client.chainNow());
}

function addShow(job: Command, w: Wiring): void {
  job
    .command("show <job>")
    .description("a job's on-chain record, receipt, and the worker's view (state, progress, failure)")
    .option(
      "--follow",
      "first wait for its receipt with the worker's progress, as train, infer and eval do (e.g. after a Ctrl-C in them)",
    )
    .action((raw: string, opts: { follow?: boolean }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
        const jobId = id(raw, "job");
        if (opts.follow) {
          // A job that ended without a receipt (failed, cancelled…) is said as train says it, with what to do.
          const progress = progressReporter(out.info, jobId);
          await sdk(client.followJob(jobId, { onProgress: (p) => progress.update(p) })).finally(() => progress.done());
        }
        const o = await sdk(client.jobOverview(jobId));
        const overdue = pastDeadline(o.job, await client.chainNow());
        // Every field is there, null where there is none (a receipt, a failure, the worker's view).
        const json = {
          ...o,
          receipt: o.receipt ?? null,
          failure: o.failure ?? null,
          worker: o.worker ?? null,
          workerSilence: o.workerSilence ?? null,
        };
        // The worker's word may lag the chain (it does not follow a challenge): said beside it, the chain's first.
        const lag = o.worker ? workerLag(o.worker.state, o.job.status) : undefined;
        const result = { ...json, deadlinePassed: overdue !== undefined, next: overdue ?? null };
        out.result({ ...result, workerBehind: lag ? o.job.status : null }, () =>
          [
            `job ${raw}: ${o.job.kind} on model ${o.job.modelId}, ${o.job.status}${o.failure ? ` (${o.failure.name})` : ""}; requester ${o.job.requester}`,
            `  fee ${tokens(o.job.fee)} OCEAN, deadline ${new Date(Number(o.job.deadline) * 1000).toISOString()}`,
            ...(overdue ? [`  ${overdue}`] : []),
            ...(o.receipt ? describeReceipt(o.receipt).map((l) => `  ${l}`) : ["  no receipt yet"]),
            ...(o.worker
              ? [`  worker says: ${workerSays(o.worker)}${lag ? ` (${lag})` : ""}`]
              : [
                  o.workerSilence === "unknown-job"
                    ? "  the worker answers but has not seen this job (yet): it acts on a request once it has ingested its block"
                    : "  the worker does not answer",
                ]),
          ].join("\n"),
        );
      }, cmd),
    );
}

/** What a cancel or a reclaim gave back, and to whom. */
interface Refund {
  jobId: bigint;
  txHash: string;
  /** The fee refunded (base token, wei); the datatoken came back with it. */
  refund: bigint;
  /** The claimant's collateral slashed to the requester (reclaim of a claimed job). */
  slashed?: bigint;
  /** The requester, who got them. */
  to: string;
}

/** Cancels a job (its requester only): the SDK returns the refund; the signer is the requester. */
async function cancelJob(client: PostHuman, jobId: bigint): Promise<Refund> {
  const r = await client.jobs.cancel(jobId);
  return { jobId, txHash: r.txHash, refund: r.refund, to: await client.address() };
}

/** Reclaims a job (anyone may): what went back to its requester. */
async function reclaimJob(client: PostHuman, jobId: bigint): Promise<Refund> {
  const r = await client.jobs.reclaim(jobId);
  return { jobId, txHash: r.txHash, refund: r.refund, slashed: r.slashed, to: r.requester };
}

/**
 * `job cancel` and `job reclaim`: the transaction, what came back and to whom; a refusal said in the job's state's
 * words (there is no such job; a claimed job is reclaimed, not cancelled; an open one cancelled, not reclaimed).
 */
function addRecover(job: Command, w: Wiring, action: "cancel" | "reclaim", description: string): void {
  job
    .command(`${action} <job>`)
    .description(description)
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const jobId = id(raw, "job");
        const r = await (action === "cancel" ? cancelJob(client, jobId) : reclaimJob(client, jobId)).catch(
          async (e: unknown) => {
            throw (await whyRefused(client, action, jobId, e)) ?? explain(e);
          },
        );
        const name = accountNamer(client.book.chainId);
        const slashed = r.slashed ? `, with the claimant's ${tokens(r.slashed)} OCEAN collateral` : "";
        out.result(
          r,
          () =>
            `job ${raw} ${action === "cancel" ? "cancelled" : "reclaimed"}: ${tokens(r.refund)} OCEAN and the ` +
            `datatoken refunded to ${name(r.to)}${slashed} (tx ${r.txHash})`,
        );
      }, cmd),
    );
}

function addResult(job: Command, w: Wiring): void {
  job
    .command("result <job>")
    .description("download a job's result (requester only) and check it against the receipt's output hash")
    .option(
      "--out <path>",
      "write the result document to this file; given a folder, into it as job-<job>-result.json (its folder must exist)",
    )
    .action((raw: string, o: { out?: string }, cmd: Command) =>
      w.run(async (out) => {
        const jobId = id(raw, "job");
        // Where it goes is checked before anything is fetched: a folder is written into, a missing folder refused.
        const file = o.out === undefined ? undefined : resultFile(o.out, jobId);
        const client = await connect(w.context(cmd));
        const r = await client.fetchResult(jobId).catch(async (e: unknown) => {
          // No receipt: there may be no such job, or it ended without one; say which.
          if (!isSdkError(e, "NO_RECEIPT")) throw explain(e);
          throw noReceipt(await sdk(client.jobOverview(jobId)), await client.chainNow());
        });
        if (file) writeResult(file, r.bytes);
        out.result(
          {
            jobId,
            verified: r.verified,
            outputHash: r.receipt.outputHash,
            out: file,
            result: JSON.parse(r.bytes.toString("utf8")) as unknown,
          },
          () =>
            file ? `written to ${file}; it matches the receipt's output hash: ${r.verified}` : r.bytes.toString("utf8"),
        );
        return r.verified ? 0 : 3;
      }, cmd),
    );
}

/**
 * Where `job result --out` writes: the file given, or job-<id>-result.json in a folder given. A file in a folder that
 * does not exist is refused (before anything is fetched).
 */
function resultFile(out: string, jobId: bigint): string {
  const isDir = (p: string) => {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  if (isDir(out)) return path.join(out, `job-${jobId}-result.json`);
  if (!isDir(path.dirname(path.resolve(out))))
    throw new CliError(
      `Cannot write the result to ${out}: the folder ${path.dirname(out)} does not exist.`,
      `create it first (mkdir -p ${path.dirname(out)}), or pass --out with a file in a folder that exists`,
      1,
      { code: "OUT_FOLDER_MISSING", data: { out } },
    );
  return out;
}

/** Writes a fetched result; a file that cannot be written is said with what to do (the result was fetched). */
function writeResult(file: string, bytes: Buffer): void {
  try {
    fs.writeFileSync(file, bytes);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new CliError(
      `Cannot write the result to ${file} (${code}): it was fetched, but not written.`,
      `pass --out with a file in a folder you can write to (e.g. --out ${path.join(".", path.basename(file))})`,
      1,
      { code: "OUT_UNWRITABLE", data: { out: file, reason: code } },
    );
  }
}

function addVerify(job: Command, w: Wiring): void {
  job
    .command("verify <job>")
    .description(
      "re-run a job locally with the runtime its receipt names (the builtin runtime on the device and thread count " +
        "of its runtime id, or the PyTorch executor; where this machine lacks it, a step says what is missing) and " +
        "compare with the receipt: exit 0 verified, 3 mismatch, 1 error. An --input or --model that is not the " +
        "job's (its hash is not the chain's) is refused before anything runs, as an error: it is no mismatch. " +
        "Needs the job's input and the served model's folder: both are found in --data-dir when you uploaded or " +
        "published them; a derived model missing here is rebuilt by verifying its training job first",
    )
    .option("--input <file>", "the job's input (default: the copy kept when it was uploaded)")
    .option("--model <dir>", "the served model's folder (default: the copy kept, or rebuilt from its parent)")
    .option("--child-out <dir>", "training jobs: also write the re-built child model here")
    .option("--no-rebuild", "do not rebuild a missing derived model from its training job")
    .action((raw: string, o: { input?: string; model?: string; childOut?: string; rebuild: boolean }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
        const jobId = id(raw, "job");
        const v = await sdk(
          client.verify(jobId, {
            input: o.input ? readFile(o.input) : undefined,
            inputName: o.input,
            modelDir: o.model,
            childOut: o.childOut,
            rebuild: o.rebuild,
            onStep: (l) => out.info(l),
          }),
        ).catch(async (e: unknown) => {
          // No receipt (or no such job): said in the job's state's words, as `job result` says it.
          if (e instanceof CliError && (e.code === "NO_RECEIPT" || e.code === "UNKNOWN_JOB")) {
            const o = await sdk(client.jobOverview(jobId));
            // (only when this job has none: the error may be about the parent job a rebuild verifies first)
            if (!["Submitted", "Challenged", "Settled", "Slashed"].includes(o.job.status))
              throw noReceipt(o, await client.chainNow());
          }
          throw reRunFailed(e, jobId) ?? verifyHint(e);
        });
        out.result(v, () =>
          [
            ...v.rebuilt.map((r) => `job ${r.jobId} (rebuilds model): ${r.verified ? "VERIFIED" : "MISMATCH"}`),
            `job ${raw}: ${v.verified ? "VERIFIED" : "MISMATCH"} (${v.kind}, ${v.seconds.toFixed(1)} s)`,
            ...v.checks.map(
              (c) => `  ${c.ok ? "✓" : "✗"} ${c.name}${c.ok ? "" : `: receipt ${c.expected}, re-run ${c.actual}`}`,
            ),
            ...(v.verified ? [] : [`→ ${verdictNext(v)}`]),
          ].join("\n"),
        );
        return v.verified ? 0 : 3;
      }, cmd),
    );
}

/**
 * `job challenge`: a new challenge, or the requester joining one that another account opened (the chain keeps the
 * first challenger; a join adds the requester's bond to it): said as what it was.
 */
function addChallenge(job: Command, w: Wiring): void {
  job
    .command("challenge <job>")
    .description(
      "challenge a receipt within its window (after `job verify` says MISMATCH), putting up the challenge bond; " +
        "the arbiter decides, and an upheld challenge slashes the worker. The job's requester may join a " +
        "challenge another account opened, within a challenge window of it",
    )
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const jobId = id(raw, "job");
        const r = await sdk(client.challengeReceipt(jobId));
        // Who holds the challenge now: another account than the signer means the signer joined it.
        const [j, me] = await Promise.all([sdk(client.jobs.get(jobId)), client.address()]);
        const joined = j.challenger.toLowerCase() !== me.toLowerCase();
        const name = accountNamer(client.book.chainId);
        out.result({ jobId, ...r, joined, challenger: j.challenger }, () =>
          joined
            ? `joined the existing challenge of job ${raw}'s receipt (opened by ${name(j.challenger)}) with a ` +
              `${tokens(r.bond)} OCEAN bond: if it is upheld, half the challenger's reward is yours (tx ${r.txHash})`
            : `receipt of job ${raw} challenged with a ${tokens(r.bond)} OCEAN bond (tx ${r.txHash})`,
        );
      }, cmd),
    );
}

function addResolve(job: Command, w: Wiring): void {
  job
    .command("resolve <job>")
    .description("the arbiter's decision on a challenged receipt (the arbiter's account only; on `up`, deployer)")
    .option("--upheld", "the receipt is wrong: slash the worker, refund the fee, return the bond")
    .option("--dismissed", "the receipt stands: the bond goes to the worker and the job settles")
    .action((raw: string, o: { upheld?: boolean; dismissed?: boolean }, cmd: Command) =>
      w.run(async (out) => {
        const upheld = decision(o);
        const client = await connect(w.context(cmd));
        const r = await sdk(client.resolveChallenge(id(raw, "job"), upheld));
        out.result({ jobId: id(raw, "job"), ...r }, () =>
          r.upheld
            ? `challenge of job ${raw} upheld: worker slashed ${tokens(r.slashed)} OCEAN, fee refunded (tx ${r.txHash})`
            : `challenge of job ${raw} dismissed: the bond went to the worker and the job settled (tx ${r.txHash})`,
        );
      }, cmd),
    );
}

function addDispute(job: Command, w: Wiring): void {
  job
    .command("dispute <job>")
    .description(
      "slash a worker that failed your job for its input after acknowledging that input (the acknowledgement the " +
        "worker signed at upload is kept in --data-dir; the dispute window is the challenge window after the failure)",
    )
    .option("--ack <hex>", "the worker's signed acknowledgement, when it is not kept in --data-dir")
    .action((raw: string, o: { ack?: string }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const jobId = id(raw, "job");
        const ack = o.ack ?? client.store?.ack(client.jobs.address, jobId);
        if (!ack)
          throw new CliError(
            `no acknowledgement of job ${raw}'s input is kept in ${client.store?.dir ?? "the data directory"}`,
            "pass --ack with the one the worker's API answered to the upload (inputAck)",
          );
        const r = await sdk(client.disputeFailure(jobId, ack));
        out.result(
          { jobId, ...r },
          () =>
            `job ${raw}: the worker had acknowledged the input it then blamed (${r.reason}): slashed ${tokens(r.slashed)} OCEAN to you (tx ${r.txHash})`,
        );
      }, cmd),
    );
}
