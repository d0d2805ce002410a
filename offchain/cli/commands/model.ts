/**
 * `posthuman model …`: create (model-create.ts), publish, upload, describe, list, show, lineage and metrics.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { ethers } from "ethers";
import { benchmarkId, knownBenchmarkName, toFixedLoss } from "../../protocol/params";
import type { PostHuman } from "../../sdk/client";
import type { ModelCard } from "../../sdk/model-card";
import type { LineageNode, ModelRecord } from "../../sdk/registry";
import { frozenAncestorIn, frozenLineageWarning, modelSettlement, settlementLabel } from "../../sdk/settlement";
import { amount, connect, id, readFile, sdk } from "../context";
import { CliError } from "../output";
import { accountNamer, loss, lossDelta, short, table, tokens, tree } from "../render";
import { addModelCreate } from "./model-create";
import { DEMO_BENCHMARK, type Wiring } from "./shared";

export function addModelCommands(program: Command, w: Wiring): void {
  const model = program.command("model").description("create, publish, name and inspect models");
  addModelCreate(model, w);
  addPublish(model, w);
  addUpload(model, w);
  addDescribe(model, w);
  addList(model, w);
  addShow(model, w);
  addLineage(model, w);
  addMetrics(model, w);
}

/** A model's card, read as the web app reads it (sdk/model-card.ts `modelCard`). */
export async function cardOf(client: PostHuman, m: ModelRecord): Promise<ModelCard> {
  const { modelCard } = await cards();
  return modelCard(client, m, async () => (await client.jobs.requested(m.jobId)).inputURI);
}

/** A model's display name: its card's name (set by its owner or, for a child, by its trainer), else its data NFT's. */
export async function modelName(client: PostHuman, m: ModelRecord): Promise<string> {
  return (await cardOf(client, m)).name ?? (await client.registry.name(m));
}

/** The SDK's model cards, loaded by the commands that use them (they bring the contract bindings). */
const cards = () => import("../../sdk/model-card");

/** Checks a card from the command line; undefined when no --name was given. */
export async function cardFromOptions(o: { name?: string; description?: string }): Promise<ModelCard | undefined> {
  if (o.name === undefined) {
    if (o.description !== undefined) throw new CliError("--description needs --name", "add --name <name>");
    return undefined;
  }
  const card = { name: o.name, description: o.description?.replace(/\r\n/g, "\n") };
  const problem = (await cards()).cardProblem(card);
  if (problem) throw new CliError(problem.charAt(0).toUpperCase() + problem.slice(1), "shorten it or remove them");
  return card;
}

/**
 * Whether a model's declared baseline is its trainer's validation loss: a derived model's is the loss the training
 * job measured on the trainer's own validation split, filed under its parent's benchmark id (docs/contracts.md), not
 * a run on that benchmark, so it does not compare with evaluation losses.
 */
export function baselineIsTrainersValidation(m: ModelRecord): boolean {
  return m.parentId !== 0n || m.generation > 0;
}

/** What a model's declared figure is, for JSON output: a benchmark baseline, a trainer's validation loss, none. */
export function baselineSource(m: ModelRecord): "benchmark" | "trainerValidation" | "none" {
  if (!m.baselineMetric) return "none";
  return baselineIsTrainersValidation(m) ? "trainerValidation" : "benchmark";
}

/** A model's declared figure, labelled: "baseline  loss 3.2500 on benchmark 0x…", or the trainer's validation loss. */
function baselineLine(m: ModelRecord): string {
  if (baselineIsTrainersValidation(m) && m.baselineMetric)
    return `  val. loss     ${loss(m.baselineMetric)}: the trainer's validation loss on their own data (declared, not a benchmark run)`;
  return `  baseline      ${m.baselineMetric ? `loss ${loss(m.baselineMetric)} on benchmark ${knownBenchmarkName(m.benchmarkId) ?? short(m.benchmarkId)}` : "none declared"}`;
}

function modelLine(m: ModelRecord, name: string, who: (a: string) => string): string {
  return `model ${m.id} "${name}" · gen ${m.generation} · owner ${who(m.owner)}${m.frozen ? " · FROZEN" : ""}`;
}

interface PublishOptions {
  name: string;
  symbol?: string;
  price: string;
  supply: string;
  baseline?: string;
  dataset?: string;
  metadataUri?: string;
  upload: boolean;
}

function parseBaseline(raw: string | undefined): { benchmarkId: string; metric: bigint } | undefined {
  if (!raw) return undefined;
  const m = /^(.+)=([0-9]*\.?[0-9]+)$/.exec(raw);
  if (!m) throw new CliError(`--baseline "${raw}" is not <benchmark>=<loss>`, `e.g. --baseline ${DEMO_BENCHMARK}=9.07`);
  return { benchmarkId: benchmarkId(m[1]), metric: toFixedLoss(Number(m[2])) };
}

function addPublish(model: Command, w: Wiring): void {
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
    .addHelpText(
      "after",
      "\nA publish cut short after the registration (the worker unreachable, Ctrl-C) is finished by running it again:" +
        "\nthe folder's weights are your model already, so only its files are uploaded (nothing is registered twice).",
    )
    .action((folder: string, o: PublishOptions, cmd: Command) =>
      w.run(async (out) => {
        if (!fs.existsSync(path.join(folder, "config.json")))
          throw new CliError(
            `${folder} is not a model folder (no config.json)`,
            "make one with: posthuman model create <folder>",
          );
        const baseline = parseBaseline(o.baseline);
        const client = await connect(w.context(cmd));
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
        // Resumed: the model was registered by an earlier publish of this folder (its name and price are that one's).
        if (r.resumed)
          return out.result(r, () =>
            [
              `model ${r.modelId} was registered already (in tx ${r.txHash}, by an earlier publish of this folder): ` +
                "nothing was registered or paid again",
              `  weights   ${r.weightsRoot} ${r.uploaded ? "(uploaded to the worker now)" : "(not uploaded)"}`,
              // Said: a second publish with another --name or --price otherwise looks as if it applied them.
              `  this run's --name, --price and --supply are not applied: the model keeps its first publish's ` +
                `(rename it with posthuman model describe ${r.modelId} --name …)`,
            ].join("\n"),
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
}

function addUpload(model: Command, w: Wiring): void {
  model
    .command("upload <folder> <model>")
    .description("upload a published model's folder to the worker (again), so that it can serve jobs")
    .action((folder: string, raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const r = await sdk(client.uploadModel(id(raw), folder));
        await client.store?.saveModel(folder);
        out.result({ modelId: id(raw), ...r }, () => `model ${raw} uploaded: weights root ${r.weightsRoot}`);
      }, cmd),
    );
}

function addDescribe(model: Command, w: Wiring): void {
  model
    .command("describe <model>")
    .description(
      "rename and describe a model you own, in its Ocean metadata (a child is named at its finetune: train --name)",
    )
    .usage("<model> --name <name> [--description <text>]")
    .requiredOption("--name <name>", "required: the model's name (1–80 characters)")
    .option("--description <text>", "what it is, what it was trained on, how to use it")
    // A missing --name is said in one line with what to add, not followed by the whole help page.
    .showHelpAfterError("usage: posthuman model describe <model> --name <name> [--description <text>] (more: --help)")
    .action((raw: string, o: { name: string; description?: string }, cmd: Command) =>
      w.run(async (out) => {
        const card = (await cardFromOptions(o)) as ModelCard;
        const client = await connect(w.context(cmd));
        const [m, me] = await Promise.all([sdk(client.registry.get(id(raw))), client.address()]);
        if (m.owner.toLowerCase() !== me.toLowerCase())
          throw new CliError(
            `model ${raw} is owned by ${accountNamer(client.book.chainId)(m.owner)}: only its owner names it`,
            "pass the owner's --account or --key-file",
          );
        const r = await sdk((await cards()).describeModel(client, id(raw), card));
        out.result({ modelId: id(raw), ...card, ...r }, () => `model ${raw} is now "${card.name}" (tx ${r.txHash})`);
      }, cmd),
    );
}

function addList(model: Command, w: Wiring): void {
  model
    .command("list")
    .description("every model on chain")
    .action((_o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
        const models = await client.registry.list();
        const names = await Promise.all(models.map((m) => modelName(client, m)));
        const who = accountNamer(client.book.chainId);
        out.result(
          models.map((m, i) => ({ ...m, name: names[i] })),
          () =>
            models.length
              ? table(
                  ["id", "name", "gen", "parent", "owner", "weights root"],
                  models.map((m, i) => [
                    String(m.id),
                    names[i] + (m.frozen ? " (frozen)" : "") + frozenLineage(models, m.id),
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
}

/** " (descends from frozen model N)" for a model with a frozen ancestor, else "". */
function frozenLineage(models: ModelRecord[], modelId: bigint): string {
  const a = frozenAncestorIn(models, modelId);
  return a ? ` (descends from frozen model ${a.modelId})` : "";
}

function addShow(model: Command, w: Wiring): void {
  model
    .command("show <model>")
    .description("one model: its card, owner, lineage, datatoken, vault, price, declared baseline")
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
        const m = await sdk(client.registry.get(id(raw)));
        const card = await cardOf(client, m);
        const name = card.name ?? (await client.registry.name(m));
        const exchange = m.exchangeId !== ethers.ZeroHash ? await client.exchange.get(m.exchangeId) : undefined;
        const listings = await client.listings.list({ modelId: m.id });
        const source = baselineSource(m);
        const settlement = await sdk(modelSettlement(client, m.id));
        const json = { ...m, name, description: card.description, baselineSource: source, exchange, listings };
        out.result({ ...json, settlement }, () =>
          [
            modelLine(m, name, accountNamer(client.book.chainId)),
            ...(card.description ? card.description.split("\n").map((l) => `  │ ${l}`) : []),
            `  parent        ${m.parentId ? `model ${m.parentId} (training job ${m.jobId}, parent side ${m.parentSide})` : "none (a root model)"}`,
            ...(m.parentId ? [`  training      ${settlementLabel(settlement)}`] : []),
            ...(settlement.frozenAncestor ? [`  WARNING       ${frozenLineageWarning(settlement)}`] : []),
            `  datatoken     ${m.datatoken}`,
            `  vault         ${m.vault}`,
            `  weights root  ${m.weightsRoot}`,
            `  data hash     ${m.dataHash}`,
            baselineLine(m),
            `  exchange      ${exchange ? `${tokens(exchange.rate)} OCEAN per datatoken` : "none (buy from holders: market list)"}`,
            `  listings      ${listings.length ? listings.map((l) => `#${l.id} ${tokens(l.remaining)} at ${tokens(l.pricePerToken)}`).join(", ") : "none"}`,
          ].join("\n"),
        );
      }, cmd),
    );
}

function addLineage(model: Command, w: Wiring): void {
  model
    .command("lineage <model>")
    .description("the model's family as a tree: its root ancestor, every descendant, who trained each")
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
        const target = id(raw);
        const root = await sdk(client.lineage(target));
        const ancestors = await client.registry.ancestors(target);
        const names = new Map<bigint, string>();
        const collect = async (n: LineageNode) => {
          names.set(n.model.id, await modelName(client, n.model));
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
}

function addMetrics(model: Command, w: Wiring): void {
  model
    .command("metrics <model>")
    .description("what the receipts say about a model: evaluations against its baseline, finetunes from it")
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
        const m = await sdk(client.metrics(id(raw)));
        // Only a root model's baseline is a figure on a benchmark that an evaluation on that benchmark compares with.
        const derived = baselineIsTrainersValidation(m.model);
        const comparable = (benchmark: string) =>
          !derived && !!m.model.baselineMetric && benchmark === m.model.benchmarkId;
        out.result({ ...m, baselineSource: baselineSource(m.model) }, () =>
          [
            derived
              ? `model ${raw}: trainer's validation loss ${m.model.baselineMetric ? loss(m.model.baselineMetric) : "none"} (declared, on their own data, not a benchmark run: compare its evaluations with model ${m.model.parentId}'s on the same data)`
              : `model ${raw}: baseline ${m.model.baselineMetric ? loss(m.model.baselineMetric) : "none"}`,
            ...m.evaluations.map(
              (e) =>
                `  eval job ${e.jobId}: loss ${loss(e.loss)} over ${e.tokens} tokens${comparable(e.benchmarkId) ? ` (${lossDelta(e.loss - m.model.baselineMetric)} vs its baseline)` : ""}`,
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
}
