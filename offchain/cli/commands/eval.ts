/**
 * `posthuman eval <models...>`: evaluate one or more models on your data: loss and perplexity, against each model's
 * declared baseline and its lineage root's.
 */
import type { Command } from "commander";
import { ethers } from "ethers";
import { LOSS_SCALE, benchmarkId, type JobParams } from "../../protocol/params";
import type { PostHuman, RequestedJob } from "../../sdk/client";
import type { OnChainReceipt } from "../../sdk/job-market";
import type { ModelRecord } from "../../sdk/registry";
import { connect, id, int, readFile, sdk } from "../context";
import type { Output } from "../output";
import { loss, lossDelta, table } from "../render";
import { finishJob, jobJson, notWaiting, requestJob, withJobOptions, type JobOptions, type JobRun } from "./requests";
import type { Wiring } from "./shared";

interface EvalOptions extends JobOptions {
  data: string;
  benchmark?: string;
  context: string;
  maxTokens: string;
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
  declaredBaseline: bigint;
  rootModelId: bigint;
  rootBaseline: bigint;
  vsRootBaseline?: bigint;
  resultVerified?: boolean;
  receipt?: OnChainReceipt;
}

export function addEvalCommand(program: Command, w: Wiring): void {
  withJobOptions(
    program
      .command("eval <models...>")
      .description("evaluate one or more models on your data: loss and perplexity, against the declared baseline")
      .requiredOption("--data <file>", "text or JSONL evaluation set")
      .option("--benchmark <name>", "benchmark the loss is reported on (default: the model's declared one)")
      .option("--context <n>", "context length", "64")
      .option("--max-tokens <n>", "most tokens evaluated", "100000"),
  ).action((raws: string[], o: EvalOptions, cmd: Command) =>
    w.run(async (out) => {
      const input = readFile(o.data);
      const client = await connect(w.context(cmd));
      const models = await Promise.all(raws.map((r) => sdk(client.registry.get(id(r)))));
      const jobs: RequestedJob[] = [];
      for (const m of models) jobs.push(await requestJob(client, out, m.id, evalParams(m, o), input, o, o.data));
      if (!o.wait) {
        out.result({ jobs: jobs.map((job) => jobJson({ job })) }, () => jobs.map(notWaiting).join("\n"));
        return;
      }
      const runs: JobRun[] = [];
      for (const job of jobs) runs.push(await finishJob(client, out, job));
      const rows = await Promise.all(runs.map((r, i) => evalRow(client, models[i], r)));
      printEvaluations(out, o.benchmark, rows);
    }, cmd),
  );
}

function evalParams(m: ModelRecord, o: EvalOptions): JobParams {
  const bench = o.benchmark
    ? benchmarkId(o.benchmark)
    : m.benchmarkId === ethers.ZeroHash
      ? benchmarkId("custom")
      : m.benchmarkId;
  return {
    kind: "Evaluate",
    params: {
      benchmarkId: bench,
      contextLength: int(o.context, "--context"),
      maxTokens: int(o.maxTokens, "--max-tokens"),
    },
  };
}

/** One evaluation against the model's own baseline and its lineage root's (what the publisher promised). */
async function evalRow(client: PostHuman, m: ModelRecord, r: JobRun): Promise<EvalRow> {
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
    rootModelId: root.id,
    rootBaseline: root.baselineMetric,
    vsRootBaseline: root.baselineMetric ? evalLoss - root.baselineMetric : undefined,
    resultVerified: r.resultVerified,
    receipt: r.receipt,
  };
}

function printEvaluations(out: Output, benchmark: string | undefined, rows: EvalRow[]): void {
  out.result({ benchmark, evaluations: rows }, () =>
    table(
      ["model", "gen", "job", "eval loss", "perplexity", "tokens", "own baseline", "root baseline", "vs root"],
      rows.map((r) => [
        String(r.modelId),
        String(r.generation),
        String(r.jobId),
        loss(r.loss),
        r.perplexity.toFixed(1),
        String(r.tokens),
        r.declaredBaseline ? loss(r.declaredBaseline) : "—",
        r.rootBaseline ? loss(r.rootBaseline) : "—",
        r.vsRootBaseline !== undefined ? lossDelta(r.vsRootBaseline) : "—",
      ]),
    ),
  );
}
