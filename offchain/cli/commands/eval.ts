/**
 * `posthuman eval <models...>`: evaluate one or more models on your data: loss and perplexity, next to each model's
 * declared figure (a root's baseline on its benchmark; a derived model's trainer's validation loss, which is not a
 * benchmark run) and against its lineage root's baseline. Checks every model before requesting any job.
 */
import type { Command } from "commander";
import { ethers } from "ethers";
import { LOSS_SCALE, ONE_DATATOKEN, evaluationBenchmark, type JobParams } from "../../protocol/params";
import { sha256Hex } from "../../protocol/auth";
import type { PostHuman, RequestedJob } from "../../sdk/client";
import { amountText } from "../../sdk/core";
import type { OnChainReceipt } from "../../sdk/job-market";
import type { ModelRecord } from "../../sdk/registry";
import { amount, id, int, readFile, sdk } from "../context";
import { CliError, type Output } from "../output";
import { loss, lossDelta, table } from "../render";
import { baselineSource } from "./model";
import {
  finishJob,
  jobJson,
  notWaiting,
  requestJob,
  withJobOptions,
  withJobSession,
  type JobOptions,
  type JobRun,
} from "./requests";
import type { Wiring } from "./shared";

interface EvalOptions extends JobOptions {
  data: string;
  benchmark?: string;
  context: string;
  maxTokens: string;
  independent?: boolean;
}

interface EvalRow {
  modelId: bigint;
  generation: number;
  jobId: bigint;
  fee: bigint;
  /** Loss ×1e6 on the evaluation set, from the receipt. */
  loss: bigint;
  perplexity: number;
  tokens: bigint;
  /** The model's declared figure: a root's baseline, a derived model's trainer's validation loss (not comparable). */
  declaredBaseline: bigint;
  declaredBaselineSource: "benchmark" | "trainerValidation" | "none";
  rootModelId: bigint;
  rootBaseline: bigint;
  /** Evaluation loss minus the root's baseline, when the evaluation ran on the root's benchmark. */
  vsRootBaseline?: bigint;
  resultVerified?: boolean;
  receipt?: OnChainReceipt;
}

export function addEvalCommand(program: Command, w: Wiring): void {
  withJobOptions(
    program
      .command("eval <models...>")
      .description(
        "evaluate one or more models on your data: loss and perplexity, against their lineage root's declared " +
          "baseline (every model is checked before any job is requested)",
      )
      .requiredOption("--data <file>", "text or JSONL evaluation set")
      .option(
        "--benchmark <name>",
        "the benchmark --data is, to compare the loss with the baseline declared on it (default: the model's " +
          "declared one when --data is its known data, e.g. the demo's; else none: compared with nothing)",
      )
      .option("--context <n>", "context length", "64")
      .option("--max-tokens <n>", "most tokens evaluated", "100000")
      .option(
        "--independent",
        "only a worker that neither owns nor trained the model may take the job (the chain refuses their claims)",
      ),
  ).action((raws: string[], o: EvalOptions, cmd: Command) =>
    w.run(async (out) => {
      const input = readFile(o.data);
      await withJobSession(w, cmd, out, async (s) => {
        const models = await modelsOf(s.client, raws);
        await checkBeforeRequesting(s.client, models, amount(o.fee, "--fee"));
        const jobs: RequestedJob[] = [];
        for (const m of models) {
          try {
            jobs.push(await requestJob(s, m.id, evalParams(m, o, input), input, o, o.data));
          } catch (e) {
            throw withJobsGoingOn(e, `the evaluation of model ${m.id} was not requested`, jobs);
          }
        }
        if (!o.wait) {
          out.result({ jobs: jobs.map((job) => jobJson({ job })) }, () => jobs.map(notWaiting).join("\n"));
          return;
        }
        const runs: JobRun[] = [];
        for (const [i, job] of jobs.entries()) {
          try {
            runs.push(await finishJob(s, job));
          } catch (e) {
            throw withJobsGoingOn(e, "", jobs.slice(i + 1));
          }
        }
        const rows = await Promise.all(
          runs.map((r, i) => evalRow(s.client, models[i], evalBenchmark(models[i], o, input), r)),
        );
        printEvaluations(out, o, rows);
      });
    }, cmd),
  );
}

/** The models named, every one of them known (else nothing is requested, and every unknown id is said). */
async function modelsOf(client: PostHuman, raws: string[]): Promise<ModelRecord[]> {
  const ids = raws.map((r) => id(r));
  const count = await sdk(client.registry.count());
  const unknown = ids.filter((i) => i > count);
  if (unknown.length)
    throw new CliError(
      `Nothing was requested: there ${unknown.length === 1 ? "is no model" : "are no models"} ${idList(unknown)} on this chain (${count} model${count === 1n ? "" : "s"} so far).`,
      count === 0n ? "publish a model first" : `pick ids from 1 to ${count}: posthuman model list`,
    );
  return Promise.all(ids.map((i) => sdk(client.registry.get(i))));
}

/**
 * Everything the requests will take, checked before the first one: each model takes jobs (not frozen), one datatoken
 * of its model per evaluation, the base token for all the fees. Refuses with every problem at once, so no job is paid
 * for while a later one could not be.
 */
async function checkBeforeRequesting(client: PostHuman, models: ModelRecord[], fee: bigint): Promise<void> {
  const me = await sdk(client.address());
  const problems: string[] = [];
  const hints: string[] = [];
  const byId = new Map<bigint, { m: ModelRecord; n: bigint }>();
  for (const m of models) {
    const e = byId.get(m.id) ?? { m, n: 0n };
    e.n += 1n;
    byId.set(m.id, e);
  }
  const frozen = [...byId.values()].filter((e) => e.m.frozen).map((e) => e.m.id);
  if (frozen.length) {
    problems.push(
      `model${frozen.length === 1 ? "" : "s"} ${idList(frozen)} ${frozen.length === 1 ? "is" : "are"} frozen (training proved wrong) and take${frozen.length === 1 ? "s" : ""} no jobs`,
    );
    hints.push(`leave out ${frozen.length === 1 ? "model" : "models"} ${idList(frozen)}`);
  }
  const missing: string[] = [];
  for (const { m, n } of byId.values()) {
    if (m.frozen) continue;
    const need = n * ONE_DATATOKEN;
    const have = await client.token(m.datatoken).balanceOf(me);
    if (have >= need) continue;
    missing.push(
      have === 0n
        ? `no datatoken of model ${m.id}${n > 1n ? ` (its ${n} evaluations need ${n})` : ""}`
        : `${amountText(have)} datatoken${have === ONE_DATATOKEN ? "" : "s"} of model ${m.id} (its ${n} evaluations need ${n})`,
    );
    const more = amountText(need - have);
    hints.push(
      m.exchangeId !== ethers.ZeroHash
        ? `posthuman buy ${m.id} --amount ${more}`
        : `posthuman market list --model ${m.id}, then posthuman market buy <listing> --amount ${more}`,
    );
  }
  if (missing.length) problems.push(`you hold ${missing.join(", ")}: each evaluation takes 1 datatoken of its model`);
  const fees = fee * BigInt(models.length);
  const base = await client.baseToken.balanceOf(me);
  if (base < fees) {
    problems.push(
      `you hold ${amountText(base)} OCEAN, the ${models.length} fee${models.length === 1 ? "" : "s"} need ${amountText(fees)}`,
    );
    hints.push(`get ${amountText(fees - base)} more OCEAN (the base token) into ${me}`);
  }
  if (problems.length) throw new CliError(`Nothing was requested: ${problems.join("; ")}.`, hints.join("; "));
}

/**
 * An error met after some jobs were requested: says them, and how to follow them (they run, and are paid for, as
 * any job; a cancel before a worker claims one gives its fee and datatoken back).
 */
export function withJobsGoingOn(e: unknown, what: string, going: RequestedJob[]): unknown {
  if (!going.length) return e;
  const base = e instanceof Error ? e.message.replace(/\.$/, "") : String(e);
  const ids = going.map((j) => j.jobId);
  const list = going.map((j) => `job ${j.jobId} (model ${j.modelId})`).join(", ");
  const message =
    `${what ? `${what}: ` : ""}${base}. ` +
    `Already requested, and running: ${list}; follow ${going.length === 1 ? "it" : "each"} with ` +
    `${ids.map((i) => `posthuman job show ${i}`).join(", ")}.`;
  const hint =
    (e instanceof CliError && e.hint ? `${e.hint}; ` : "") +
    `to stop a job no worker has claimed yet (its fee and datatoken come back): posthuman job cancel ${ids[0]}`;
  return e instanceof CliError ? new CliError(message, hint, e.exitCode, e) : new CliError(message, hint);
}

/** "3", "3 and 4", "3, 4 and 5". */
function idList(ids: bigint[]): string {
  const s = ids.map(String);
  return s.length > 1 ? `${s.slice(0, -1).join(", ")} and ${s[s.length - 1]}` : s[0];
}

/**
 * The benchmark id an evaluation of `m` on `input` reports on: --benchmark, else the model's declared one when the
 * input is that benchmark's known data (the demo's), else "custom": a loss on other data is never set against the
 * declared baseline.
 */
function evalBenchmark(m: ModelRecord, o: EvalOptions, input: Buffer): string {
  return evaluationBenchmark(m.benchmarkId, sha256Hex(input), o.benchmark);
}

function evalParams(m: ModelRecord, o: EvalOptions, input: Buffer): JobParams {
  return {
    kind: "Evaluate",
    params: {
      benchmarkId: evalBenchmark(m, o, input),
      contextLength: int(o.context, "--context"),
      maxTokens: int(o.maxTokens, "--max-tokens"),
      independent: o.independent === true,
    },
  };
}

/**
 * One evaluation, next to the model's declared figure and against its lineage root's baseline (what the publisher
 * promised), compared only when the evaluation ran on the root's benchmark.
 */
async function evalRow(client: PostHuman, m: ModelRecord, bench: string, r: JobRun): Promise<EvalRow> {
  const anc = await client.registry.ancestors(m.id);
  const root = anc.length ? await client.registry.get(anc[anc.length - 1]) : m;
  const evalLoss = r.receipt?.metrics.evalLoss ?? 0n;
  return {
    modelId: m.id,
    generation: m.generation,
    jobId: r.job.jobId,
    fee: r.job.fee,
    loss: evalLoss,
    perplexity: Math.exp(Number(evalLoss) / Number(LOSS_SCALE)),
    tokens: r.receipt?.metrics.evalTokens ?? 0n,
    declaredBaseline: m.baselineMetric,
    declaredBaselineSource: baselineSource(m),
    rootModelId: root.id,
    rootBaseline: root.baselineMetric,
    vsRootBaseline: root.baselineMetric && bench === root.benchmarkId ? evalLoss - root.baselineMetric : undefined,
    resultVerified: r.resultVerified,
    receipt: r.receipt,
  };
}

function printEvaluations(out: Output, o: EvalOptions, rows: EvalRow[]): void {
  const trainers = rows.some((r) => r.declaredBaselineSource === "trainerValidation");
  // A lineage with a baseline, evaluated on data not known to be its benchmark's: said, with how to vouch for it.
  const uncompared = rows.filter((r) => r.rootBaseline && r.vsRootBaseline === undefined).map((r) => r.modelId);
  out.result({ benchmark: o.benchmark, evaluations: rows }, () =>
    [
      table(
        ["model", "gen", "job", "eval loss", "perplexity", "tokens", "declared", "root baseline", "vs root"],
        rows.map((r) => [
          String(r.modelId),
          String(r.generation),
          String(r.jobId),
          loss(r.loss),
          r.perplexity.toFixed(1),
          String(r.tokens),
          r.declaredBaseline
            ? `${loss(r.declaredBaseline)}${r.declaredBaselineSource === "trainerValidation" ? " †" : ""}`
            : "—",
          r.rootBaseline ? loss(r.rootBaseline) : "—",
          r.vsRootBaseline !== undefined ? lossDelta(r.vsRootBaseline) : "—",
        ]),
      ),
      ...(trainers
        ? [
            "† the trainer's validation loss on their own data (declared, not a benchmark run): not comparable with " +
              "these evaluation losses; compare a child with its parent evaluated on the same data",
          ]
        : []),
      ...(uncompared.length
        ? [
            `not compared with the root baseline (model${uncompared.length > 1 ? "s" : ""} ${idList(uncompared)}): ` +
              `${o.benchmark ? `--benchmark ${o.benchmark} is not` : `${o.data} is not known to be`} the data the ` +
              "baseline was declared on; pass --benchmark <its name> when it is",
          ]
        : []),
    ].join("\n"),
  );
}
