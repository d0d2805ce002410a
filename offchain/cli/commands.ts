/**
 * The user commands of `posthuman`: models, datatokens, jobs, receipts and rewards, each a thin layer over the SDK
 * (offchain/sdk). Every command prints one JSON document on stdout with --json (logs and progress on stderr), and
 * human text otherwise. The model runtime is loaded only by the commands that run it, so the others start fast.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { ethers } from "ethers";
import { benchmarkId, toFixedLoss, type JobParams } from "../protocol/params";
import type { PostHuman, RequestedJob } from "../sdk/client";
import type { OnChainReceipt } from "../sdk/job-market";
import type { LineageNode, ModelRecord } from "../sdk/registry";
import { absolute, amount, connect, id, int, num, readFile, sdk, type CommandContext } from "./context";
import { CliError, type Output } from "./output";
import { accountNamer, describeReceipt, loss, lossDelta, progressReporter, short, table, tokens, tree } from "./render";

/** Runs a command body with its output; a returned number is the exit code. */
export type Run = (fn: (out: Output) => Promise<number | void>, cmd: Command) => Promise<void>;

const DEMO_BENCHMARK = "posthuman-demo/elena-eval";

/** Train params as the chain encodes them (learning rate and weight decay ×1e9). */
export function trainParams(o: {
  steps: number;
  lr: number;
  batch: number;
  context: number;
  warmup?: number;
}): JobParams {
  return {
    kind: "Train",
    params: {
      steps: o.steps,
      batchSize: o.batch,
      contextLength: o.context,
      learningRate: BigInt(Math.round(o.lr * 1e9)),
      warmupSteps: o.warmup ?? Math.min(2, o.steps),
      weightDecay: 10_000_000n,
    },
  };
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

interface JobRun {
  job: RequestedJob;
  receipt?: OnChainReceipt;
  resultVerified?: boolean;
  result?: Record<string, unknown>;
}

/** Follows a requested job to its receipt with a progress bar, then fetches and checks its result. */
async function finishJob(client: PostHuman, out: Output, job: RequestedJob): Promise<JobRun> {
  const progress = progressReporter(out.info, job.jobId);
  let receipt: OnChainReceipt;
  try {
    receipt = await sdk(client.followJob(job.jobId, { onProgress: (p) => progress.update(p) }));
  } finally {
    progress.done();
  }
  const res = await sdk(client.fetchResult(job.jobId));
  out.info(`job ${job.jobId}: receipt in tx ${receipt.txHash}; result matches its output hash: ${res.verified}`);
  return {
    job,
    receipt,
    resultVerified: res.verified,
    result: JSON.parse(res.bytes.toString("utf8")) as Record<string, unknown>,
  };
}

function describeRequest(job: RequestedJob): string {
  return `job ${job.jobId} requested in tx ${job.txHash}: 1 datatoken of model ${job.modelId} ordered on Ocean, ${tokens(job.fee)} OCEAN escrowed; input uploaded`;
}

function notWaiting(job: RequestedJob): string {
  return `job ${job.jobId} requested; follow it with: posthuman job show ${job.jobId} (its result: posthuman job result ${job.jobId})`;
}

function jobJson(r: JobRun) {
  return {
    jobId: r.job.jobId,
    kind: r.job.kind,
    modelId: r.job.modelId,
    requestTx: r.job.txHash,
    inputHash: r.job.inputHash,
    fee: r.job.fee,
    deadline: r.job.deadline,
    receipt: r.receipt,
    resultVerified: r.resultVerified,
    result: r.result,
  };
}

function modelLine(m: ModelRecord, name: string, who: (a: string) => string): string {
  return `model ${m.id} "${name}" · gen ${m.generation} · owner ${who(m.owner)}${m.frozen ? " · FROZEN" : ""}`;
}

export function addUserCommands(program: Command, run: Run, context: (cmd: Command) => CommandContext): void {
  /** A command that sends one transaction about the `<what>` it names and says what it did. */
  const txCommand = <R extends { txHash: string }>(
    parent: Command,
    what: "job" | "listing",
    name: string,
    description: string,
    send: (client: PostHuman, target: bigint) => Promise<R>,
    say: (raw: string, r: R) => string,
  ): void => {
    parent
      .command(`${name} <${what}>`)
      .description(description)
      .action((raw: string, _o: unknown, cmd: Command) =>
        run(async (out) => {
          const client = await connect(context(cmd));
          const r = await sdk(send(client, id(raw, what)));
          out.result(r, () => say(raw, r));
        }, cmd),
      );
  };

  // ─── Models ──────────────────────────────────────────────────────────────────────────────────────────────
  const model = program.command("model").description("create, publish and inspect models");

  model
    .command("create <folder>")
    .description("make a GPT-2 model folder locally with the builtin runtime, optionally trained on a text file")
    .option("--preset <name>", "tiny (2 layers, width 64, 3.3 M parameters) or small (GPT-2 small, 124 M)", "tiny")
    .option("--seed <n>", "seed of the initial weights (the same seed gives the same weights)", "1")
    .option("--train <file>", "then train it on this text or JSONL file")
    .option("--steps <n>", "training steps", "40")
    .option("--lr <x>", "learning rate", "0.003")
    .option("--batch <n>", "batch size", "8")
    .option("--context <n>", "context length", "64")
    .option("--eval <file>", "then measure its loss on this file (what to declare with `model publish --baseline`)")
    .action(
      (
        folder: string,
        o: {
          preset: string;
          seed: string;
          train?: string;
          steps: string;
          lr: string;
          batch: string;
          context: string;
          eval?: string;
        },
        cmd: Command,
      ) =>
        run(async (out) => {
          if (o.preset !== "tiny" && o.preset !== "small")
            throw new CliError(`unknown preset "${o.preset}"`, "use --preset tiny or --preset small");
          if (fs.existsSync(folder) && fs.readdirSync(folder).length)
            throw new CliError(`${folder} exists and is not empty`, "choose a new folder");
          if (o.eval) readFile(o.eval);
          const ml = await import("../ml");
          const seed = int(o.seed, "--seed", 0);
          let training:
            | {
                steps: number;
                trainLossBefore: number;
                trainLossAfter: number;
                valLossBefore: number;
                valLossAfter: number;
              }
            | undefined;
          if (o.train) {
            readFile(o.train);
            const init = `${folder.replace(/\/$/, "")}.init-${process.pid}`;
            await ml.createModel(init, { preset: o.preset, seed });
            out.info(`created ${o.preset} weights from seed ${seed}; training on ${o.train}…`);
            try {
              const r = await ml.trainModel({
                modelDir: init,
                outDir: folder,
                datasets: [o.train],
                steps: int(o.steps, "--steps"),
                lr: num(o.lr, "--lr"),
                batchSize: int(o.batch, "--batch"),
                contextLength: int(o.context, "--context"),
                seed,
                onProgress: (p) => {
                  if (p.phase === "train" && (p.step % 10 === 0 || p.step === p.totalSteps))
                    out.info(`  step ${p.step}/${p.totalSteps} loss ${p.loss?.toFixed(3) ?? ""}`);
                },
              });
              training = {
                steps: r.stepsDone,
                trainLossBefore: r.trainLossBefore,
                trainLossAfter: r.trainLossAfter,
                valLossBefore: r.valLossBefore,
                valLossAfter: r.valLossAfter,
              };
            } finally {
              fs.rmSync(init, { recursive: true, force: true });
            }
          } else {
            await ml.createModel(folder, { preset: o.preset, seed });
          }
          // The same evaluation a worker runs (one thread, this context length), so a declared baseline is reproducible.
          const evaluation = o.eval
            ? await ml.evaluate(folder, {
                datasets: [o.eval],
                contextLength: int(o.context, "--context"),
                threads: 1,
              })
            : undefined;
          const summary = {
            folder: absolute(folder),
            preset: o.preset,
            seed,
            weightsRoot: await ml.weightsRoot(folder),
            configHash: await ml.configHash(folder),
            training,
            evaluation: evaluation && {
              file: o.eval,
              loss: evaluation.loss,
              perplexity: evaluation.perplexity,
              tokens: evaluation.tokenCount,
            },
          };
          out.result(summary, () =>
            [
              `model folder ${summary.folder}`,
              `  weights root ${summary.weightsRoot}`,
              ...(training
                ? [
                    `  trained ${training.steps} steps: loss ${training.trainLossBefore.toFixed(3)} → ${training.trainLossAfter.toFixed(3)} (validation ${training.valLossBefore.toFixed(3)} → ${training.valLossAfter.toFixed(3)})`,
                  ]
                : []),
              ...(summary.evaluation
                ? [
                    `  loss on ${o.eval}: ${summary.evaluation.loss.toFixed(4)} (perplexity ${summary.evaluation.perplexity.toFixed(1)}, ${summary.evaluation.tokens} tokens)`,
                  ]
                : []),
              `next: posthuman --account <you> model publish ${folder} --name <name> --price 1 --supply 20${summary.evaluation ? ` --baseline <benchmark>=${summary.evaluation.loss.toFixed(4)}` : ""}`,
            ].join("\n"),
          );
        }, cmd),
    );

  model
    .command("publish <folder>")
    .description(
      "register a model folder on chain (an Ocean data NFT + datatoken on the exchange) and upload it to the worker",
    )
    .requiredOption("--name <name>", "the model's name (its Ocean data NFT's)")
    .option("--symbol <symbol>", "data NFT symbol (default: from the name)")
    .option("--price <ocean>", "price of one datatoken on Ocean's fixed-rate exchange", "1")
    .option("--supply <n>", "datatokens minted to you at once", "10")
    .option("--baseline <benchmark=loss>", `declared baseline, e.g. ${DEMO_BENCHMARK}=9.07`)
    .option("--dataset <file>", "the data the model was trained on (its sha256 is recorded)")
    .option("--metadata-uri <uri>", "where the model card lives")
    .option("--no-upload", "register only (upload later with `model upload`)")
    .action(
      (
        folder: string,
        o: {
          name: string;
          symbol?: string;
          price: string;
          supply: string;
          baseline?: string;
          dataset?: string;
          metadataUri?: string;
          upload: boolean;
        },
        cmd: Command,
      ) =>
        run(async (out) => {
          if (!fs.existsSync(path.join(folder, "config.json")))
            throw new CliError(
              `${folder} is not a model folder (no config.json)`,
              "make one with: posthuman model create <folder>",
            );
          let baseline: { benchmarkId: string; metric: bigint } | undefined;
          if (o.baseline) {
            const m = /^(.+)=([0-9]*\.?[0-9]+)$/.exec(o.baseline);
            if (!m)
              throw new CliError(
                `--baseline "${o.baseline}" is not <benchmark>=<loss>`,
                `e.g. --baseline ${DEMO_BENCHMARK}=9.07`,
              );
            baseline = { benchmarkId: benchmarkId(m[1]), metric: toFixedLoss(Number(m[2])) };
          }
          const client = await connect(context(cmd));
          const symbol =
            o.symbol ??
            (o.name
              .replace(/[^A-Za-z0-9]/g, "")
              .slice(0, 8)
              .toUpperCase() ||
              "MODEL");
          const r = await sdk(
            client.publishModel({
              dir: folder,
              name: o.name,
              symbol,
              dataHash: o.dataset ? ethers.sha256(readFile(o.dataset)) : undefined,
              metadataURI: o.metadataUri,
              baseline,
              pricing: { kind: "FixedRate", rate: amount(o.price, "--price") },
              initialSupply: amount(o.supply, "--supply"),
              upload: o.upload,
            }),
          );
          out.result(
            { ...r, name: o.name, symbol, price: amount(o.price, "--price"), supply: amount(o.supply, "--supply") },
            () =>
              [
                `published model ${r.modelId} "${o.name}" in tx ${r.txHash}`,
                `  datatoken ${r.datatoken} (${o.supply} minted to you; sold at ${o.price} OCEAN on the exchange)`,
                `  vault     ${r.vault}`,
                `  weights   ${r.weightsRoot} ${r.uploaded ? "(uploaded to the worker)" : "(not uploaded)"}`,
              ].join("\n"),
          );
        }, cmd),
    );

  model
    .command("upload <folder> <model>")
    .description("upload a published model's folder to the worker (again), so that it can serve jobs")
    .action((folder: string, raw: string, _o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const r = await sdk(client.uploadModel(id(raw), folder));
        await client.store?.saveModel(folder);
        out.result({ modelId: id(raw), ...r }, () => `model ${raw} uploaded: weights root ${r.weightsRoot}`);
      }, cmd),
    );

  model
    .command("list")
    .description("every model on chain")
    .action((_o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const models = await client.registry.list();
        const names = await Promise.all(models.map((m) => client.registry.name(m)));
        const who = accountNamer(client.book.chainId);
        out.result(
          models.map((m, i) => ({ ...m, name: names[i] })),
          () =>
            models.length
              ? table(
                  ["id", "name", "gen", "parent", "owner", "weights root"],
                  models.map((m, i) => [
                    String(m.id),
                    names[i] + (m.frozen ? " (frozen)" : ""),
                    String(m.generation),
                    m.parentId ? String(m.parentId) : "—",
                    who(m.owner),
                    short(m.weightsRoot),
                  ]),
                )
              : "no models yet: publish one with `posthuman model publish`",
        );
      }, cmd),
    );

  model
    .command("show <model>")
    .description("one model: owner, lineage, datatoken, vault, price, declared baseline")
    .action((raw: string, _o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const m = await sdk(client.registry.get(id(raw)));
        const name = await client.registry.name(m);
        const exchange = m.exchangeId !== ethers.ZeroHash ? await client.exchange.get(m.exchangeId) : undefined;
        const listings = await client.listings.list({ modelId: m.id });
        out.result({ ...m, name, exchange, listings }, () =>
          [
            modelLine(m, name, accountNamer(client.book.chainId)),
            `  parent        ${m.parentId ? `model ${m.parentId} (training job ${m.jobId}, parent side ${m.parentSide})` : "none (a root model)"}`,
            `  datatoken     ${m.datatoken}`,
            `  vault         ${m.vault}`,
            `  weights root  ${m.weightsRoot}`,
            `  data hash     ${m.dataHash}`,
            `  baseline      ${m.baselineMetric ? `loss ${loss(m.baselineMetric)} on benchmark ${short(m.benchmarkId)}` : "none declared"}`,
            `  exchange      ${exchange ? `${tokens(exchange.rate)} OCEAN per datatoken` : "none (buy from holders: market list)"}`,
            `  listings      ${listings.length ? listings.map((l) => `#${l.id} ${tokens(l.remaining)} at ${tokens(l.pricePerToken)}`).join(", ") : "none"}`,
          ].join("\n"),
        );
      }, cmd),
    );

  model
    .command("lineage <model>")
    .description("the model's family as a tree: its root ancestor, every descendant, who trained each")
    .action((raw: string, _o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const target = id(raw);
        const root = await sdk(client.lineage(target));
        const ancestors = await client.registry.ancestors(target);
        const names = new Map<bigint, string>();
        const collect = async (n: LineageNode) => {
          names.set(n.model.id, await client.registry.name(n.model));
          for (const c of n.children) await collect(c);
        };
        await collect(root);
        const who = accountNamer(client.book.chainId);
        const lines = tree(
          root,
          (n) =>
            `model ${n.model.id} "${names.get(n.model.id)}" · gen ${n.model.generation} · ${n.model.generation ? `trained by ${who(n.model.owner)} in job ${n.model.jobId}; shared with ${who(n.model.parentSide)}` : `published by ${who(n.model.owner)}`}`,
          target,
        );
        const plainTree = (n: LineageNode): unknown => ({
          id: n.model.id,
          name: names.get(n.model.id),
          owner: n.model.owner,
          parentSide: n.model.parentSide,
          generation: n.model.generation,
          jobId: n.model.jobId,
          weightsRoot: n.model.weightsRoot,
          children: n.children.map(plainTree),
        });
        out.result({ model: target, ancestors, tree: plainTree(root), lines }, () => lines.join("\n"));
      }, cmd),
    );

  model
    .command("metrics <model>")
    .description("what the receipts say about a model: evaluations against its baseline, finetunes from it")
    .action((raw: string, _o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const m = await sdk(client.metrics(id(raw)));
        out.result(m, () =>
          [
            `model ${raw}: baseline ${m.model.baselineMetric ? loss(m.model.baselineMetric) : "none"}`,
            ...m.evaluations.map(
              (e) =>
                `  eval job ${e.jobId}: loss ${loss(e.loss)} over ${e.tokens} tokens${e.benchmarkId === m.model.benchmarkId && m.model.baselineMetric ? ` (${lossDelta(e.loss - m.model.baselineMetric)} vs its baseline)` : ""}`,
            ),
            ...m.finetunes.map(
              (f) =>
                `  train job ${f.jobId} → model ${f.childModelId}: validation loss ${loss(f.valLossBefore)} → ${loss(f.valLossAfter)}`,
            ),
            ...m.inferences.map((i) => `  infer job ${i.jobId}: output ${short(i.outputHash)}`),
          ].join("\n"),
        );
      }, cmd),
    );

  // ─── Datatokens ──────────────────────────────────────────────────────────────────────────────────────────
  program
    .command("buy <model>")
    .description("buy datatokens of a root model on Ocean's fixed-rate exchange (through ocean.js)")
    .requiredOption("--amount <n>", "datatokens to buy")
    .option("--max-cost <ocean>", "pay at most this (default: the quote)")
    .action((raw: string, o: { amount: string; maxCost?: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const n = amount(o.amount, "--amount");
        const r = await sdk(
          client.buyDatatokens(id(raw), n, { maxBase: o.maxCost ? amount(o.maxCost, "--max-cost") : undefined }),
        );
        out.result(
          { modelId: id(raw), amount: n, ...r },
          () => `bought ${o.amount} datatokens of model ${raw} for ${tokens(r.cost)} OCEAN (tx ${r.txHash})`,
        );
      }, cmd),
    );

  const market = program.command("market").description("holder-to-holder datatoken listings");
  market
    .command("list")
    .description("open listings, cheapest first")
    .option("--model <id>", "only this model's")
    .option("--seller <address>", "only this seller's")
    .action((o: { model?: string; seller?: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const ls = await client.listings.list({ modelId: o.model ? id(o.model) : undefined, seller: o.seller });
        const who = accountNamer(client.book.chainId);
        out.result(ls, () =>
          ls.length
            ? table(
                ["listing", "model", "left", "price", "seller"],
                ls.map((l) => [
                  String(l.id),
                  String(l.modelId),
                  tokens(l.remaining),
                  tokens(l.pricePerToken),
                  who(l.seller),
                ]),
              )
            : "no open listings",
        );
      }, cmd),
    );
  market
    .command("sell <model>")
    .description("list datatokens for sale (escrowed by the market until bought or cancelled)")
    .requiredOption("--amount <n>", "datatokens to list")
    .requiredOption("--price <ocean>", "price per datatoken")
    .action((raw: string, o: { amount: string; price: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const r = await sdk(client.sellDatatokens(id(raw), amount(o.amount, "--amount"), amount(o.price, "--price")));
        out.result(
          { modelId: id(raw), amount: amount(o.amount, "--amount"), pricePerToken: amount(o.price, "--price"), ...r },
          () =>
            `listing ${r.listingId}: ${o.amount} datatokens of model ${raw} at ${o.price} OCEAN each (tx ${r.txHash})`,
        );
      }, cmd),
    );
  market
    .command("buy <listing>")
    .description("buy datatokens from a holder's listing")
    .requiredOption("--amount <n>", "datatokens to take")
    .option("--max-cost <ocean>", "pay at most this (default: the quote)")
    .action((raw: string, o: { amount: string; maxCost?: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const n = amount(o.amount, "--amount");
        const r = await sdk(
          client.buyFromListing(id(raw, "listing"), n, {
            maxCost: o.maxCost ? amount(o.maxCost, "--max-cost") : undefined,
          }),
        );
        out.result(
          { listingId: id(raw, "listing"), amount: n, ...r },
          () =>
            `bought ${o.amount} datatokens of model ${r.modelId} from ${accountNamer(client.book.chainId)(r.seller)} for ${tokens(r.cost)} OCEAN (tx ${r.txHash})`,
        );
      }, cmd),
    );
  txCommand(
    market,
    "listing",
    "cancel",
    "take your unsold datatokens back",
    (client, listing) => client.listings.cancelListing(listing),
    (raw, r) => `listing ${raw} cancelled: ${tokens(r.returned)} datatokens back (tx ${r.txHash})`,
  );

  program
    .command("balance [address]")
    .description("OCEAN, datatokens and vault shares of an account (default: yours)")
    .action((address: string | undefined, _o: unknown, cmd: Command) =>
      run(async (out) => {
        const ctx = context(cmd);
        const client = await connect(ctx, address === undefined);
        const who = address ?? (await client.address());
        const models = await client.registry.list();
        const rows: { modelId: bigint; datatokens: bigint; shares: bigint; totalShares: bigint }[] = [];
        for (const m of models) {
          const [dt, shares] = await Promise.all([
            client.token(m.datatoken).balanceOf(who),
            client.vault(m.vault).position(who),
          ]);
          if (dt > 0n || shares.shares > 0n)
            rows.push({ modelId: m.id, datatokens: dt, shares: shares.shares, totalShares: shares.totalShares });
        }
        const base = await client.baseToken.balanceOf(who);
        out.result({ account: who, base, models: rows }, () =>
          [
            `${who}: ${tokens(base)} OCEAN`,
            ...(rows.length
              ? [
                  table(
                    ["model", "datatokens", "vault share"],
                    rows.map((r) => [
                      String(r.modelId),
                      tokens(r.datatokens),
                      `${((Number(r.shares) * 100) / Number(r.totalShares)).toFixed(1)}%`,
                    ]),
                  ),
                ]
              : []),
          ].join("\n"),
        );
      }, cmd),
    );

  // ─── Jobs ────────────────────────────────────────────────────────────────────────────────────────────────
  const jobOptions = (c: Command) =>
    c
      .option("--fee <ocean>", "fee escrowed for the worker, paid when the job settles", "1")
      .option("--ttl <seconds>", "time the worker has to deliver a receipt", "900")
      .option("--no-wait", "print the job id once requested and return (follow it with `job show`)");

  const requestAndFinish = async (
    cmd: Command,
    out: Output,
    modelId: bigint,
    params: JobParams,
    input: Buffer,
    o: { fee: string; ttl: string; wait: boolean },
    inputName: string,
  ): Promise<JobRun> => {
    const client = await connect(context(cmd));
    const job = await sdk(
      client.requestJob(modelId, params, input, {
        fee: amount(o.fee, "--fee"),
        ttlSec: int(o.ttl, "--ttl", 60),
        inputName,
      }),
    );
    out.info(describeRequest(job));
    if (!o.wait) return { job };
    return finishJob(client, out, job);
  };

  jobOptions(
    program
      .command("train <model>")
      .description(
        "finetune a model on your data: a worker trains it and the chain records the child model, whose datatokens and " +
          "revenue you share with the parent's owner (the job's seed is derived from its id and input, so anyone can re-run it)",
      )
      .requiredOption("--data <file>", "text, or JSONL with a text field per line")
      .option("--steps <n>", "training steps", "24")
      .option("--lr <x>", "learning rate", "0.003")
      .option("--batch <n>", "batch size", "8")
      .option("--context <n>", "context length (at most the model's)", "64"),
  ).action(
    (
      raw: string,
      o: {
        data: string;
        steps: string;
        lr: string;
        batch: string;
        context: string;
        fee: string;
        ttl: string;
        wait: boolean;
      },
      cmd: Command,
    ) =>
      run(async (out) => {
        const params = trainParams({
          steps: int(o.steps, "--steps"),
          lr: num(o.lr, "--lr"),
          batch: int(o.batch, "--batch"),
          context: int(o.context, "--context"),
        });
        const r = await requestAndFinish(cmd, out, id(raw), params, readFile(o.data), o, o.data);
        const child = r.receipt?.childModelId;
        out.result({ ...jobJson(r), childModelId: child }, () =>
          r.receipt
            ? [
                `job ${r.job.jobId} done: model ${child} is born (parent ${raw})`,
                ...describeReceipt(r.receipt).map((l) => `  ${l}`),
              ].join("\n")
            : notWaiting(r.job),
        );
      }, cmd),
  );

  jobOptions(
    program
      .command("infer <model>")
      .description("generate text from prompts (the job's seed is derived from its id and input)")
      .option("--prompt <text>", "one prompt")
      .option("--prompts <file>", 'one prompt per line, or JSONL {"prompt": ...}')
      .option("--max-tokens <n>", "new tokens per prompt", "32")
      .option("--temperature <x>", "0 = greedy", "0")
      .option("--top-k <n>", "sample from the k likeliest tokens (0: all)", "0"),
  ).action(
    (
      raw: string,
      o: {
        prompt?: string;
        prompts?: string;
        maxTokens: string;
        temperature: string;
        topK: string;
        fee: string;
        ttl: string;
        wait: boolean;
      },
      cmd: Command,
    ) =>
      run(async (out) => {
        if (!o.prompt && !o.prompts) throw new CliError("no prompt given", "pass --prompt <text> or --prompts <file>");
        const input = o.prompts ? readFile(o.prompts) : Buffer.from(`${o.prompt}\n`);
        const params: JobParams = {
          kind: "Infer",
          params: {
            maxTokens: int(o.maxTokens, "--max-tokens"),
            temperature: Math.round(num(o.temperature, "--temperature") * 1e6),
            topK: int(o.topK, "--top-k", 0),
          },
        };
        const r = await requestAndFinish(cmd, out, id(raw), params, input, o, o.prompts ?? "the --prompt text");
        const gens = (r.result?.generations as { prompt: string; text: string }[] | undefined) ?? [];
        out.result({ ...jobJson(r), generations: gens }, () =>
          r.receipt
            ? [
                `job ${r.job.jobId} done`,
                ...describeReceipt(r.receipt).map((l) => `  ${l}`),
                // One line per generation (the JSON output and `job result` keep the text as generated).
                ...gens.map((g) => `» ${`${g.prompt}${g.text}`.replace(/\s+/g, " ").trim()}`),
              ].join("\n")
            : notWaiting(r.job),
        );
      }, cmd),
  );

  jobOptions(
    program
      .command("eval <models...>")
      .description("evaluate one or more models on your data: loss and perplexity, against the declared baseline")
      .requiredOption("--data <file>", "text or JSONL evaluation set")
      .option("--benchmark <name>", "benchmark the loss is reported on (default: the model's declared one)")
      .option("--context <n>", "context length", "64")
      .option("--max-tokens <n>", "most tokens evaluated", "100000"),
  ).action(
    (
      raws: string[],
      o: {
        data: string;
        benchmark?: string;
        context: string;
        maxTokens: string;
        fee: string;
        ttl: string;
        wait: boolean;
      },
      cmd: Command,
    ) =>
      run(async (out) => {
        const input = readFile(o.data);
        const client = await connect(context(cmd));
        const models = await Promise.all(raws.map((r) => sdk(client.registry.get(id(r)))));
        const jobs: RequestedJob[] = [];
        for (const m of models) {
          const bench = o.benchmark
            ? benchmarkId(o.benchmark)
            : m.benchmarkId === ethers.ZeroHash
              ? benchmarkId("custom")
              : m.benchmarkId;
          const params: JobParams = {
            kind: "Evaluate",
            params: {
              benchmarkId: bench,
              contextLength: int(o.context, "--context"),
              maxTokens: int(o.maxTokens, "--max-tokens"),
            },
          };
          const job = await sdk(
            client.requestJob(m.id, params, input, {
              fee: amount(o.fee, "--fee"),
              ttlSec: int(o.ttl, "--ttl", 60),
              inputName: o.data,
            }),
          );
          out.info(describeRequest(job));
          jobs.push(job);
        }
        if (!o.wait) {
          out.result({ jobs: jobs.map((job) => jobJson({ job })) }, () => jobs.map(notWaiting).join("\n"));
          return;
        }
        const runs: JobRun[] = [];
        for (const job of jobs) runs.push(await finishJob(client, out, job));
        // The lineage root's declared baseline is what the publisher promised; each model's own is shown too.
        const rootBaseline = async (m: ModelRecord) => {
          const anc = await client.registry.ancestors(m.id);
          const root = anc.length ? await client.registry.get(anc[anc.length - 1]) : m;
          return root;
        };
        const rows: EvalRow[] = [];
        for (const [i, r] of runs.entries()) {
          const m = models[i];
          const root = await rootBaseline(m);
          const evalLoss = r.receipt?.metrics.evalLoss ?? 0n;
          rows.push({
            modelId: m.id,
            generation: m.generation,
            jobId: r.job.jobId,
            fee: r.job.fee,
            loss: evalLoss,
            perplexity: Math.exp(Number(evalLoss) / 1e6),
            tokens: r.receipt?.metrics.evalTokens ?? 0n,
            declaredBaseline: m.baselineMetric,
            rootModelId: root.id,
            rootBaseline: root.baselineMetric,
            vsRootBaseline: root.baselineMetric ? evalLoss - root.baselineMetric : undefined,
            resultVerified: r.resultVerified,
            receipt: r.receipt,
          });
        }
        out.result({ benchmark: o.benchmark, evaluations: rows }, () =>
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
      }, cmd),
  );

  const job = program.command("job").description("inspect, fetch, verify, challenge, settle and recover jobs");
  job
    .command("show <job>")
    .description("a job's on-chain record, receipt, and the worker's view (state, progress, failure)")
    .action((raw: string, _o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const o = await sdk(client.jobOverview(id(raw, "job")));
        out.result(o, () =>
          [
            `job ${raw}: ${o.job.kind} on model ${o.job.modelId}, ${o.job.status}${o.failure ? ` (${o.failure.name})` : ""}; requester ${o.job.requester}`,
            `  fee ${tokens(o.job.fee)} OCEAN, deadline ${new Date(Number(o.job.deadline) * 1000).toISOString()}`,
            ...(o.receipt ? describeReceipt(o.receipt).map((l) => `  ${l}`) : ["  no receipt yet"]),
            ...(o.worker
              ? [
                  `  worker says: ${String(o.worker.state)}${o.worker.progress ? ` ${JSON.stringify(o.worker.progress)}` : ""}`,
                ]
              : ["  the worker does not answer"]),
          ].join("\n"),
        );
      }, cmd),
    );
  job
    .command("result <job>")
    .description("download a job's result (requester only) and check it against the receipt's output hash")
    .option("--out <file>", "write the result document here")
    .action((raw: string, o: { out?: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const r = await sdk(client.fetchResult(id(raw, "job")));
        if (o.out) fs.writeFileSync(o.out, r.bytes);
        out.result(
          {
            jobId: id(raw, "job"),
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
  job
    .command("verify <job>")
    .description(
      "re-run a job locally with the builtin runtime and compare with its receipt: exit 0 verified, 3 mismatch, 1 error. " +
        "Needs the job's input and the served model's folder: both are found in --data-dir when you uploaded or " +
        "published them; a derived model missing here is rebuilt by verifying its training job first",
    )
    .option("--input <file>", "the job's input (default: the copy kept when it was uploaded)")
    .option("--model <dir>", "the served model's folder (default: the copy kept, or rebuilt from its parent)")
    .option("--child-out <dir>", "training jobs: also write the re-built child model here")
    .option("--no-rebuild", "do not rebuild a missing derived model from its training job")
    .action((raw: string, o: { input?: string; model?: string; childOut?: string; rebuild: boolean }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
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
  txCommand(
    job,
    "job",
    "cancel",
    "cancel your job while no worker has claimed it: the fee comes back (the datatoken was consumed)",
    (client, j) => client.jobs.cancel(j),
    (raw, r) => `job ${raw} cancelled: ${tokens(r.refund)} OCEAN refunded (tx ${r.txHash})`,
  );
  txCommand(
    job,
    "job",
    "reclaim",
    "after its deadline without a receipt: refund the fee and slash the claimant's collateral to the requester",
    (client, j) => client.jobs.reclaim(j),
    (raw, r) => `job ${raw} reclaimed (tx ${r.txHash})`,
  );

  txCommand(
    job,
    "job",
    "challenge",
    "challenge a receipt within its window (after `job verify` says MISMATCH), putting up the challenge bond; " +
      "the arbiter decides, and an upheld challenge slashes the worker",
    (client, j) => client.challengeReceipt(j),
    (raw, r) => `receipt of job ${raw} challenged with a ${tokens(r.bond)} OCEAN bond (tx ${r.txHash})`,
  );

  job
    .command("resolve <job>")
    .description("the arbiter's decision on a challenged receipt (the arbiter's account only; on `up`, deployer)")
    .option("--upheld", "the receipt is wrong: slash the worker, refund the fee, return the bond")
    .option("--dismissed", "the receipt stands: the bond goes to the worker and the job settles")
    .action((raw: string, o: { upheld?: boolean; dismissed?: boolean }, cmd: Command) =>
      run(async (out) => {
        if (Boolean(o.upheld) === Boolean(o.dismissed)) {
          throw new CliError("no decision given", "add --upheld (the receipt is wrong) or --dismissed (it stands)");
        }
        const client = await connect(context(cmd));
        const r = await sdk(client.jobs.resolve(id(raw, "job"), Boolean(o.upheld)));
        out.result({ jobId: id(raw, "job"), ...r }, () =>
          r.upheld
            ? `challenge of job ${raw} upheld: worker slashed ${tokens(r.slashed)} OCEAN, fee refunded (tx ${r.txHash})`
            : `challenge of job ${raw} dismissed: the bond went to the worker and the job settled (tx ${r.txHash})`,
        );
      }, cmd),
    );
  txCommand(
    job,
    "job",
    "settle",
    "pay the worker of a job whose challenge window is over (anyone may; the worker usually does)",
    (client, j) => client.jobs.settle(j),
    (raw, r) => `job ${raw} settled (tx ${r.txHash})`,
  );

  // ─── Revenue ─────────────────────────────────────────────────────────────────────────────────────────────
  program
    .command("pay <model>")
    .description("pay a model directly (a licence, a tip): shared by its vault like any revenue, royalties included")
    .requiredOption("--amount <ocean>", "OCEAN to pay")
    .action((raw: string, o: { amount: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const r = await sdk(client.pay(id(raw), amount(o.amount, "--amount")));
        out.result(
          { modelId: id(raw), amount: amount(o.amount, "--amount"), ...r },
          () => `paid ${o.amount} OCEAN to model ${raw}'s vault (tx ${r.txHash})`,
        );
      }, cmd),
    );

  program
    .command("rewards")
    .description(
      "your vault shares, claimable revenue per model and past claims; --claim moves revenue along the lineage " +
        "(exchange sales into vaults, children's royalties up to parents) and claims it",
    )
    .option("--claim", "collect, distribute and claim everything claimable")
    .action((o: { claim?: boolean }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const me = await client.address();
        const claimed = o.claim ? await sdk(client.claimAll(me)) : undefined;
        if (claimed) {
          for (const c of claimed.collected)
            out.info(
              `collected ${tokens(c.amount)} OCEAN of model ${c.modelId}'s sales into its vault (tx ${c.txHash})`,
            );
          for (const d of claimed.distributed)
            out.info(
              `distributed model ${d.modelId}'s vault: ${tokens(d.toHolders)} OCEAN to holders, ${tokens(d.toParent)} up to its parent (tx ${d.txHash})`,
            );
        }
        const rows = await client.rewards(me);
        const totals = {
          claimedBase: claimed?.claimed.reduce((a, c) => a + c.base, 0n) ?? 0n,
          claimedDatatokens: claimed?.claimed.reduce((a, c) => a + c.datatokens, 0n) ?? 0n,
        };
        out.result({ account: me, models: rows, claimed, ...totals }, () =>
          [
            rows.length
              ? table(
                  [
                    "model",
                    "vault share",
                    "not distributed yet",
                    "claimable OCEAN",
                    "claimable DT",
                    "claimed so far OCEAN",
                    "claimed so far DT",
                  ],
                  rows.map((r) => [
                    String(r.modelId),
                    `${((Number(r.shares) * 100) / Number(r.totalShares)).toFixed(1)}%`,
                    tokens(r.undistributed),
                    tokens(r.claimableBase),
                    tokens(r.claimableDatatokens),
                    tokens(r.claims.reduce((a, c) => a + c.base, 0n)),
                    tokens(r.claims.reduce((a, c) => a + c.datatokens, 0n)),
                  ]),
                )
              : "no vault shares: publish a model, or finetune one",
            ...(claimed
              ? [`claimed now: ${tokens(totals.claimedBase)} OCEAN and ${tokens(totals.claimedDatatokens)} datatokens`]
              : rows.some((r) => r.undistributed > 0n || r.claimableBase > 0n || r.claimableDatatokens > 0n)
                ? [
                    "claim it with: posthuman rewards --claim (it distributes what is waiting first, children before parents)",
                  ]
                : []),
          ].join("\n"),
        );
      }, cmd),
    );
}
