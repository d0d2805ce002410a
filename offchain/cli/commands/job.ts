/** `posthuman job …`: show, result, verify, cancel, reclaim, challenge, resolve and settle a job. */
import fs from "node:fs";
import type { Command } from "commander";
import type { PostHuman } from "../../sdk/client";
import { isSdkError } from "../../sdk/errors";
import { connect, explain, id, readFile, sdk } from "../context";
import { CliError } from "../output";
import { accountNamer, describeReceipt, tokens, workerSays } from "../render";
import { noReceipt, pastDeadline, refusal } from "./job-state";
import { txCommand, type Wiring } from "./shared";

export function addJobCommands(program: Command, w: Wiring): void {
  const job = program.command("job").description("inspect, fetch, verify, challenge, settle and recover jobs");
  addShow(job, w);
  addResult(job, w);
  addVerify(job, w);
  addRecover(job, w, "cancel", "cancel your job while no worker has claimed it: the fee and the datatoken come back");
  addRecover(
    job,
    w,
    "reclaim",
    "after its deadline without a receipt: refund the fee and the datatoken, and slash the claimant's collateral to the requester",
  );
  txCommand(
    w,
    job,
    "job",
    "challenge",
    "challenge a receipt within its window (after `job verify` says MISMATCH), putting up the challenge bond; " +
      "the arbiter decides, and an upheld challenge slashes the worker",
    (client, j) => client.challengeReceipt(j),
    (raw, r) => `receipt of job ${raw} challenged with a ${tokens(r.bond)} OCEAN bond (tx ${r.txHash})`,
  );
  addResolve(job, w);
  addDispute(job, w);
  txCommand(
    w,
    job,
    "job",
    "settle",
    "pay the worker of a job whose challenge window is over (anyone may; the worker usually does)",
    (client, j) => client.jobs.settle(j),
    (raw, r) => `job ${raw} settled (tx ${r.txHash})`,
  );
}

function addShow(job: Command, w: Wiring): void {
  job
    .command("show <job>")
    .description("a job's on-chain record, receipt, and the worker's view (state, progress, failure)")
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
        const o = await sdk(client.jobOverview(id(raw, "job")));
        const overdue = pastDeadline(o.job, await client.chainNow());
        // Every field is there, null where there is none (a receipt, a failure, the worker's view).
        const json = { ...o, receipt: o.receipt ?? null, failure: o.failure ?? null, worker: o.worker ?? null };
        out.result({ ...json, deadlinePassed: overdue !== undefined, next: overdue ?? null }, () =>
          [
            `job ${raw}: ${o.job.kind} on model ${o.job.modelId}, ${o.job.status}${o.failure ? ` (${o.failure.name})` : ""}; requester ${o.job.requester}`,
            `  fee ${tokens(o.job.fee)} OCEAN, deadline ${new Date(Number(o.job.deadline) * 1000).toISOString()}`,
            ...(overdue ? [`  ${overdue}`] : []),
            ...(o.receipt ? describeReceipt(o.receipt).map((l) => `  ${l}`) : ["  no receipt yet"]),
            ...(o.worker ? [`  worker says: ${workerSays(o.worker)}`] : ["  the worker does not answer"]),
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
            if (!isSdkError(e, "REVERTED")) throw explain(e);
            // No such job is said as `job show` says it (UNKNOWN_JOB, with the count).
            const o = await sdk(client.jobOverview(jobId));
            throw refusal(action, o, await client.chainNow()) ?? explain(e);
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
    .option("--out <file>", "write the result document here")
    .action((raw: string, o: { out?: string }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const jobId = id(raw, "job");
        const r = await client.fetchResult(jobId).catch(async (e: unknown) => {
          // No receipt: there may be no such job, or it ended without one; say which.
          if (!isSdkError(e, "NO_RECEIPT")) throw explain(e);
          throw noReceipt(await sdk(client.jobOverview(jobId)), await client.chainNow());
        });
        if (o.out) fs.writeFileSync(o.out, r.bytes);
        out.result(
          {
            jobId,
            verified: r.verified,
            outputHash: r.receipt.outputHash,
            out: o.out,
            result: JSON.parse(r.bytes.toString("utf8")) as unknown,
          },
          () =>
            o.out
              ? `written to ${o.out}; it matches the receipt's output hash: ${r.verified}`
              : r.bytes.toString("utf8"),
        );
        return r.verified ? 0 : 3;
      }, cmd),
    );
}

function addVerify(job: Command, w: Wiring): void {
  job
    .command("verify <job>")
    .description(
      "re-run a job locally with the runtime its receipt names (the builtin runtime on the device and thread count " +
        "of its runtime id, or the PyTorch executor; where this machine lacks it, a step says what is missing) and " +
        "compare with the receipt: exit 0 verified, 3 mismatch, 1 error. " +
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
        const v = await sdk(
          client.verify(id(raw, "job"), {
            input: o.input ? readFile(o.input) : undefined,
            modelDir: o.model,
            childOut: o.childOut,
            rebuild: o.rebuild,
            onStep: (l) => out.info(l),
          }),
        );
        out.result(v, () =>
          [
            ...v.rebuilt.map((r) => `job ${r.jobId} (rebuilds model): ${r.verified ? "VERIFIED" : "MISMATCH"}`),
            `job ${raw}: ${v.verified ? "VERIFIED" : "MISMATCH"} (${v.kind}, ${v.seconds.toFixed(1)} s)`,
            ...v.checks.map(
              (c) => `  ${c.ok ? "✓" : "✗"} ${c.name}${c.ok ? "" : `: receipt ${c.expected}, re-run ${c.actual}`}`,
            ),
            ...(v.verified ? [] : [`→ challenge it within its window: posthuman job challenge ${raw}`]),
          ].join("\n"),
        );
        return v.verified ? 0 : 3;
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
        if (Boolean(o.upheld) === Boolean(o.dismissed)) {
          throw new CliError("no decision given", "add --upheld (the receipt is wrong) or --dismissed (it stands)");
        }
        const client = await connect(w.context(cmd));
        const r = await sdk(client.jobs.resolve(id(raw, "job"), Boolean(o.upheld)));
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
