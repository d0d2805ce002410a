/**
 * The user commands of `posthuman`: models, datatokens, jobs, receipts and rewards, each a thin layer over the SDK.
 * Every command prints one JSON document with --json, and human text otherwise.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { ethers } from "ethers";
import { addressBookPath, readAddressBook } from "../../scripts/lib/address-book";
import { benchmarkId, toFixedLoss, type JobParams } from "../../scripts/lib/posthuman";
import { configHash, createModel, trainModel, weightsRoot } from "../ml";
import { NotEnoughError, PostHuman, readInput, verifyJob, type OnChainReceipt } from "../sdk";
import { WorkerApiError } from "../sdk/worker-client";
import { resolveWallet } from "./accounts";
import { CliError, toJson, type Output } from "./output";

export interface CommandContext {
  rpc: string;
  deployment?: string;
  account?: string;
  keyFile?: string;
  worker: string;
  json: boolean;
}

type Run = (fn: (out: Output) => Promise<void>, cmd: Command) => Promise<void>;

const ether = (s: string, what: string): bigint => {
  try {
    return ethers.parseEther(s);
  } catch {
    throw new CliError(`${what} "${s}" is not a number`, `write it in whole tokens, e.g. 1.5`);
  }
};
const id = (s: string, what = "model"): bigint => {
  if (!/^\d+$/.test(s))
    throw new CliError(
      `${what} id "${s}" is not a number`,
      `list them with: posthuman ${what === "job" ? "job show <id>" : "model list"}`,
    );
  return BigInt(s);
};
const fmt = (wei: bigint) => ethers.formatEther(wei);
/** A struct returned by a contract call as a plain object (ethers returns a Result). */
const plain = (x: object): Record<string, unknown> => (x as ethers.Result).toObject();

/** Connects the SDK with the global options: the address book, the RPC node and the signer. */
export async function connect(c: CommandContext, needSigner = true): Promise<PostHuman> {
  const file = c.deployment ?? addressBookPath("localhost");
  const book = readAddressBook(file);
  if (!book)
    throw new CliError(
      `No address book at ${file}`,
      "start a local marketplace with `npm start` (posthuman up), or pass --deployment <file>",
    );
  const provider = new ethers.JsonRpcProvider(c.rpc, book.chainId, { cacheTimeout: -1, staticNetwork: true });
  try {
    await provider.getBlockNumber();
  } catch {
    provider.destroy();
    throw new CliError(
      `No chain answers at ${c.rpc}`,
      "start one with `npm start` (posthuman up), or pass --rpc <url>",
    );
  }
  const runner = needSigner
    ? new ethers.NonceManager(resolveWallet({ account: c.account, keyFile: c.keyFile }, book.chainId, provider))
    : provider;
  return PostHuman.init({ runner, book, workerUrl: c.worker });
}

/** Turns SDK errors into errors that say what to do. */
function explain(e: unknown): never {
  if (e instanceof NotEnoughError) throw new CliError(e.message, e.hint);
  if (e instanceof WorkerApiError && e.code === "UNREACHABLE")
    throw new CliError(e.message, "start a worker: `npm start` runs one, or `posthuman worker` against any network");
  throw e;
}

function describeReceipt(r: OnChainReceipt): string {
  const m = r.metrics;
  const l = (x: bigint) => (Number(x) / 1e6).toFixed(4);
  const lines = [
    `  receipt tx ${r.txHash}`,
    `  worker ${r.worker}`,
    `  output hash ${r.outputHash}`,
    `  served weights ${r.servedWeightsRoot}`,
  ];
  if (m.valLossBefore || m.valLossAfter)
    lines.push(`  validation loss ${l(m.valLossBefore)} → ${l(m.valLossAfter)}; child model ${r.childModelId}`);
  if (m.evalTokens)
    lines.push(
      `  eval loss ${l(m.evalLoss)} (perplexity ${Math.exp(Number(m.evalLoss) / 1e6).toFixed(1)}) over ${m.evalTokens} tokens`,
    );
  return lines.join("\n");
}

async function runJob(
  ctx: CommandContext,
  out: Output,
  modelId: bigint,
  params: JobParams,
  input: Buffer,
  o: { fee: string; wait: boolean },
) {
  const client = await connect(ctx);
  const job = await client.request(modelId, params, input, { fee: ether(o.fee, "fee") }).catch(explain);
  out.info(`job ${job.jobId} requested (tx ${job.txHash}); input uploaded`);
  if (!o.wait) return out.result({ jobId: job.jobId, txHash: job.txHash }, () => `job ${job.jobId}`);
  let last = "";
  const receipt = await client.follow(job.jobId, (s) => {
    const p = s.progress as { phase?: string; step?: number; totalSteps?: number; loss?: number } | null;
    const line = `${s.state}${p ? ` ${p.phase} ${"█".repeat(Math.round((10 * (p.step ?? 0)) / Math.max(1, p.totalSteps ?? 1))).padEnd(10, "·")} ${p.step}/${p.totalSteps}${p.loss ? ` loss ${p.loss.toFixed(3)}` : ""}` : ""}`;
    if (line !== last) out.info(`  ${line}`);
    last = line;
  });
  const res = await client.result(job.jobId);
  const doc = JSON.parse(res.bytes.toString()) as Record<string, unknown>;
  out.result({ jobId: job.jobId, receipt, resultVerified: res.verified, result: doc }, () => {
    const gens =
      (doc.generations as { prompt: string; text: string }[] | undefined)?.map((g) => `» ${g.prompt}${g.text}`) ?? [];
    return [
      `job ${job.jobId} done; result matches the receipt: ${res.verified}`,
      describeReceipt(receipt),
      ...gens,
    ].join("\n");
  });
}

export function addUserCommands(program: Command, run: Run, context: (cmd: Command) => CommandContext): void {
  const model = program.command("model").description("create, publish and inspect models");

  model
    .command("create <folder>")
    .description("make a GPT-2 model folder locally with the builtin runtime (optionally trained on a text file)")
    .option("--preset <name>", "tiny (2 layers, width 64) or small (GPT-2 small)", "tiny")
    .option("--seed <n>", "random seed of the weights", "1")
    .option("--train <file>", "train it on this text or JSONL file")
    .option("--steps <n>", "training steps", "50")
    .action(
      (folder: string, o: { preset: "tiny" | "small"; seed: string; train?: string; steps: string }, cmd: Command) =>
        run(async (out) => {
          if (fs.existsSync(folder) && fs.readdirSync(folder).length)
            throw new CliError(`${folder} exists and is not empty`, "choose a new folder");
          let dir = folder;
          if (o.train) {
            dir = `${folder}.init`;
            await createModel(dir, { preset: o.preset, seed: Number(o.seed) });
            const r = await trainModel({
              modelDir: dir,
              outDir: folder,
              datasets: [o.train],
              steps: Number(o.steps),
              lr: 3e-3,
              batchSize: 8,
              seed: Number(o.seed),
              onProgress: (p) =>
                p.step % 10 === 0 && out.info(`  step ${p.step}/${p.totalSteps} loss ${p.loss?.toFixed(3) ?? ""}`),
            });
            fs.rmSync(dir, { recursive: true, force: true });
            out.info(`trained: loss ${r.trainLossBefore.toFixed(3)} → ${r.trainLossAfter.toFixed(3)}`);
          } else {
            await createModel(folder, { preset: o.preset, seed: Number(o.seed) });
          }
          const summary = {
            folder: path.resolve(folder),
            weightsRoot: await weightsRoot(folder),
            configHash: await configHash(folder),
          };
          out.result(summary, () => `model folder ${summary.folder}\n  weights root ${summary.weightsRoot}`);
        }, cmd),
    );

  model
    .command("publish <folder>")
    .description("register a model folder on chain (an Ocean data NFT + datatoken) and upload it to the worker")
    .requiredOption("--name <name>", "model name")
    .option("--symbol <symbol>", "datatoken symbol (default: from the name)")
    .option("--price <ocean>", "price of one datatoken on Ocean's exchange", "1")
    .option("--supply <n>", "datatokens minted to you", "10")
    .option("--baseline <benchmark=value>", "declared baseline, e.g. wikitext-2/loss=3.25")
    .option("--dataset <file>", "the data the model was trained on (its hash is recorded)")
    .action(
      (
        folder: string,
        o: { name: string; symbol?: string; price: string; supply: string; baseline?: string; dataset?: string },
        cmd: Command,
      ) =>
        run(async (out) => {
          const client = await connect(context(cmd));
          let baseline = { benchmarkId: ethers.ZeroHash, metric: 0n };
          if (o.baseline) {
            const m = /^(.+)=([0-9.]+)$/.exec(o.baseline);
            if (!m)
              throw new CliError(
                `--baseline "${o.baseline}" is not <benchmark>=<value>`,
                "e.g. --baseline wikitext-2/loss=3.25",
              );
            baseline = { benchmarkId: benchmarkId(m[1]), metric: toFixedLoss(Number(m[2])) };
          }
          const r = await client
            .publish({
              name: o.name,
              symbol:
                o.symbol ??
                o.name
                  .replace(/[^A-Za-z0-9]/g, "")
                  .slice(0, 8)
                  .toUpperCase(),
              weightsRoot: await weightsRoot(folder),
              configHash: await configHash(folder),
              dataHash: o.dataset ? ethers.sha256(readInput(o.dataset)) : ethers.ZeroHash,
              metadataURI: "",
              baseline,
              pricing: { kind: "FixedRate", rate: ether(o.price, "price") },
              initialSupply: ether(o.supply, "supply"),
              dir: folder,
            })
            .catch(explain);
          out.result(
            r,
            () =>
              `published model ${r.modelId} (tx ${r.txHash})\n  datatoken ${r.datatoken}\n  weights uploaded to the worker`,
          );
        }, cmd),
    );

  model
    .command("list")
    .description("every model on chain")
    .action((_o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const models = await client.models();
        out.result(
          models,
          () =>
            models
              .map(
                ({ id: i, model: m }) =>
                  `${String(i).padStart(4)}  gen ${m.generation}  parent ${m.parentId}  ${m.frozen ? "FROZEN " : ""}owner ${m.owner}  root ${m.weightsRoot.slice(0, 14)}…`,
              )
              .join("\n") || "no models yet",
        );
      }, cmd),
    );

  model
    .command("show <id>")
    .description("one model: owner, lineage, datatoken, vault, baseline")
    .action((raw: string, _o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const m = await client.model(id(raw));
        out.result(plain(m), () =>
          Object.entries(plain(m))
            .map(([k, v]) => `  ${k.padEnd(16)} ${String(v)}`)
            .join("\n"),
        );
      }, cmd),
    );

  model
    .command("lineage <id>")
    .description("the model's ancestors and descendants as a tree")
    .action((raw: string, _o: unknown, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const all = await client.models();
        const target = id(raw);
        const root = [...(await client.ancestors(target))].pop() ?? target;
        const lines: string[] = [];
        const walk = (node: bigint, depth: number) => {
          const m = all.find((x) => x.id === node)?.model;
          lines.push(
            `${"   ".repeat(depth)}${depth ? "└─ " : ""}model ${node}${node === target ? " ◀" : ""}  (gen ${m?.generation}, owner ${m?.owner})`,
          );
          for (const c of all.filter((x) => x.model.parentId === node && x.id !== node)) walk(c.id, depth + 1);
        };
        walk(root, 0);
        out.result({ root, ancestors: await client.ancestors(target), tree: lines }, () => lines.join("\n"));
      }, cmd),
    );

  program
    .command("buy <model>")
    .description("buy datatokens of a model on Ocean's fixed-rate exchange")
    .requiredOption("--amount <n>", "datatokens to buy")
    .action((raw: string, o: { amount: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const r = await client.buy(id(raw), ether(o.amount, "amount")).catch(explain);
        out.result(r, () => `bought ${o.amount} datatokens of model ${raw} for ${fmt(r.cost)} OCEAN`);
      }, cmd),
    );

  const market = program.command("market").description("holder-to-holder datatoken listings");
  market
    .command("list")
    .option("--model <id>", "only this model's listings")
    .action((o: { model?: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const ls = await client.listings(o.model ? id(o.model) : undefined);
        out.result(
          ls.map((l) => ({ id: l.id, ...plain(l.listing) })),
          () =>
            ls
              .map(
                (l) =>
                  `listing ${l.id}: ${fmt(l.listing.remaining)} of model ${l.listing.modelId} at ${fmt(l.listing.pricePerToken)} OCEAN by ${l.listing.seller}`,
              )
              .join("\n") || "no listings",
        );
      }, cmd),
    );
  market
    .command("sell <model>")
    .requiredOption("--amount <n>", "datatokens to list (escrowed)")
    .requiredOption("--price <ocean>", "price per datatoken")
    .action((raw: string, o: { amount: string; price: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const r = await client.list(id(raw), ether(o.amount, "amount"), ether(o.price, "price")).catch(explain);
        out.result(r, () => `listing ${r.listingId} created (tx ${r.txHash})`);
      }, cmd),
    );
  market
    .command("buy <listing>")
    .requiredOption("--amount <n>", "datatokens to take")
    .action((raw: string, o: { amount: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const r = await client.buyListing(id(raw, "listing"), ether(o.amount, "amount")).catch(explain);
        out.result(r, () => `bought ${o.amount} for ${fmt(r.cost)} OCEAN (tx ${r.txHash})`);
      }, cmd),
    );

  const jobOptions = (c: Command) =>
    c
      .option("--fee <ocean>", "fee escrowed for the worker", "1")
      .option("--no-wait", "print the job id and return at once");
  jobOptions(
    program
      .command("train <model>")
      .description("finetune a model on your data (creates a child model)")
      .requiredOption("--data <file>", "text or JSONL dataset")
      .option("--steps <n>", "training steps", "24")
      .option("--lr <x>", "learning rate", "0.003")
      .option("--batch <n>", "batch size", "8")
      .option("--context <n>", "context length", "64"),
  ).action(
    (
      raw: string,
      o: { data: string; steps: string; lr: string; batch: string; context: string; fee: string; wait: boolean },
      cmd: Command,
    ) =>
      run(async (out) => {
        const params: JobParams = {
          kind: "Train",
          params: {
            steps: Number(o.steps),
            batchSize: Number(o.batch),
            contextLength: Number(o.context),
            learningRate: BigInt(Math.round(Number(o.lr) * 1e9)),
            warmupSteps: 2,
            weightDecay: 10_000_000n,
          },
        };
        await runJob(context(cmd), out, id(raw), params, readInput(o.data), o);
      }, cmd),
  );
  jobOptions(
    program
      .command("infer <model>")
      .description("generate text from prompts")
      .option("--prompt <text>", "one prompt")
      .option("--prompts <file>", 'one prompt per line, or JSONL {"prompt": ...}')
      .option("--max-tokens <n>", "new tokens per prompt", "32")
      .option("--temperature <x>", "0 = greedy", "0"),
  ).action(
    (
      raw: string,
      o: { prompt?: string; prompts?: string; maxTokens: string; temperature: string; fee: string; wait: boolean },
      cmd: Command,
    ) =>
      run(async (out) => {
        if (!o.prompt && !o.prompts) throw new CliError("no prompt given", "pass --prompt <text> or --prompts <file>");
        const input = o.prompts ? readInput(o.prompts) : Buffer.from(`${o.prompt}\n`);
        const params: JobParams = {
          kind: "Infer",
          params: { maxTokens: Number(o.maxTokens), temperature: Math.round(Number(o.temperature) * 1e6), topK: 0 },
        };
        await runJob(context(cmd), out, id(raw), params, input, o);
      }, cmd),
  );
  jobOptions(
    program
      .command("eval <model>")
      .description("evaluate a model on your data: loss, perplexity, tokens")
      .requiredOption("--data <file>", "text or JSONL evaluation set")
      .option("--benchmark <name>", "benchmark the figure is compared with", "custom")
      .option("--context <n>", "context length", "64"),
  ).action(
    (raw: string, o: { data: string; benchmark: string; context: string; fee: string; wait: boolean }, cmd: Command) =>
      run(async (out) => {
        const params: JobParams = {
          kind: "Evaluate",
          params: { benchmarkId: benchmarkId(o.benchmark), contextLength: Number(o.context), maxTokens: 1_000_000 },
        };
        await runJob(context(cmd), out, id(raw), params, readInput(o.data), o);
      }, cmd),
  );

  const job = program.command("job").description("inspect, fetch and verify jobs");
  job.command("show <id>").action((raw: string, _o: unknown, cmd: Command) =>
    run(async (out) => {
      const client = await connect(context(cmd), false);
      const j = await client.job(id(raw, "job"));
      const receipt = await client.receipt(id(raw, "job"));
      let worker: Record<string, unknown> | undefined;
      try {
        worker = await client.worker.jobStatus(id(raw, "job"));
      } catch {
        worker = undefined;
      }
      const status = [
        "None",
        "Open",
        "Claimed",
        "Submitted",
        "Challenged",
        "Settled",
        "Cancelled",
        "Failed",
        "Reclaimed",
        "Slashed",
      ][Number(j.status)];
      out.result({ job: plain(j), status, receipt, worker }, () =>
        [
          `job ${raw}: ${status} (model ${j.modelId}, worker ${j.worker})`,
          ...(receipt ? [describeReceipt(receipt)] : []),
          ...(worker ? [`  worker says: ${toJson(worker)}`] : []),
        ].join("\n"),
      );
    }, cmd),
  );
  job
    .command("result <id>")
    .option("--out <file>", "write the result document here")
    .action((raw: string, o: { out?: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const r = await client.result(id(raw, "job")).catch(explain);
        if (o.out) fs.writeFileSync(o.out, r.bytes);
        out.result({ verified: r.verified, result: JSON.parse(r.bytes.toString()) as unknown }, () =>
          o.out ? `written to ${o.out}; matches the receipt: ${r.verified}` : r.bytes.toString(),
        );
      }, cmd),
    );
  job
    .command("verify <id>")
    .description("re-run the job locally with the builtin runtime and compare hashes (exit 0 verified, 3 mismatch)")
    .requiredOption("--input <file>", "the job's input (the requester has it)")
    .requiredOption(
      "--model <dir>",
      "the served model's folder (the publisher has it; a child is rebuilt by verifying its training job)",
    )
    .option("--child-out <dir>", "for a training job: where to write the re-built child model")
    .action((raw: string, o: { input: string; model: string; childOut?: string }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd), false);
        const v = await verifyJob(client, id(raw, "job"), {
          input: readInput(o.input),
          modelDir: o.model,
          childOut: o.childOut,
        });
        out.result(v, () =>
          [
            `job ${raw}: ${v.verified ? "VERIFIED" : "MISMATCH"}`,
            ...v.checks.map(
              (c) => `  ${c.ok ? "✓" : "✗"} ${c.name} ${c.ok ? "" : `expected ${c.expected}, got ${c.actual}`}`,
            ),
          ].join("\n"),
        );
        if (!v.verified)
          throw new CliError(
            `job ${raw} does not verify`,
            "challenge its receipt within the window (see docs/contracts.md)",
            3,
          );
      }, cmd),
    );

  program
    .command("rewards")
    .description("your vault shares and claimable revenue per model; --claim claims them")
    .option("--claim", "claim everything claimable")
    .action((o: { claim?: boolean }, cmd: Command) =>
      run(async (out) => {
        const client = await connect(context(cmd));
        const me = await client.address();
        const rows: {
          modelId: bigint;
          shares: bigint;
          totalShares: bigint;
          claimableBase: bigint;
          claimableDatatokens: bigint;
          claimed?: { base: bigint; datatokens: bigint; txHash: string };
        }[] = [];
        for (const { id: mid } of await client.models()) {
          const c = await client.claimable(mid, me);
          if (c.shares === 0n && c.base === 0n && c.datatokens === 0n) continue;
          const claimed = o.claim && (c.base > 0n || c.datatokens > 0n) ? await client.claim(mid) : undefined;
          rows.push({
            modelId: mid,
            shares: c.shares,
            totalShares: c.totalShares,
            claimableBase: c.base,
            claimableDatatokens: c.datatokens,
            claimed,
          });
        }
        out.result(
          rows,
          () =>
            rows
              .map(
                (r) =>
                  `model ${r.modelId}: ${((Number(r.shares) * 100) / Number(r.totalShares)).toFixed(1)}% of the vault, claimable ${fmt(r.claimableBase)} OCEAN + ${fmt(r.claimableDatatokens)} DT${r.claimed ? ` → claimed (tx ${r.claimed.txHash})` : ""}`,
              )
              .join("\n") || "no vault shares",
        );
      }, cmd),
    );
}
