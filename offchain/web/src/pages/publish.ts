/**
 * Publishing: the files of a model folder go to the worker, which computes their weights root (and keeps nothing);
 * the model is registered on chain with it, then the signed folder is uploaded for the worker to serve.
 */
import { ethers } from "ethers";
import { benchmarkId, toFixedLoss } from "../../../protocol/params";
import { runAction, type App } from "../app";
import { field, fill, h } from "../dom";
import { UserError } from "../errors";
import { parseTokens } from "../format";
import { CARD_LIMITS, type ModelFile } from "../../../sdk/browser";
import { MODEL_FILE_NAMES } from "../../../protocol/model-upload";

export async function publishPage(app: App, main: HTMLElement): Promise<void> {
  const files = h("input", { type: "file", multiple: true, name: "model-files", accept: ".json,.safetensors,.txt" });
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 64, autocomplete: "off" });
  const symbol = h("input", { type: "text", name: "symbol", maxlength: 11, autocomplete: "off" });
  const price = h("input", { type: "text", inputmode: "decimal", name: "price", value: "1" });
  const supply = h("input", { type: "text", inputmode: "decimal", name: "supply", value: "10" });
  const bench = h("input", { type: "text", name: "benchmark", placeholder: "e.g. wikitext-2/loss" });
  const baseline = h("input", { type: "text", inputmode: "decimal", name: "baseline", placeholder: "e.g. 3.25" });
  const dataset = h("input", { type: "file", name: "dataset" });
  const description = h("textarea", { rows: 3, name: "description", maxlength: CARD_LIMITS.description });
  const license = h("input", {
    type: "text",
    name: "license",
    maxlength: CARD_LIMITS.license,
    placeholder: "e.g. Apache-2.0",
  });
  const status = h("div", { class: "status", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Publish the model");
  const form = h(
    "form",
    { class: "publish" },
    h(
      "fieldset",
      null,
      h("legend", null, "The model folder"),
      field(
        "Model files",
        files,
        `Choose every file of a Hugging Face GPT-2 folder (\`./posthuman model create <folder>\` in a clone of the repository makes one). Accepted: ${MODEL_FILE_NAMES.join(", ")}; config.json and model.safetensors are required, other files (posthuman.json, a README) are not uploaded; a README.md becomes the model card's README.`,
      ),
    ),
    h(
      "fieldset",
      null,
      h("legend", null, "On the market"),
      field("Name", name),
      field("Description", description, "What the model is for and what it was trained on: shown on its card."),
      field("Licence", license, "Under which terms buyers may use what the model generates."),
      field("Symbol (optional)", symbol, "Up to 11 letters; derived from the name when empty."),
      field("Price of one datatoken (OCEAN)", price, "Sold on Ocean's fixed-rate exchange; each job consumes one."),
      field("Datatokens minted to you", supply),
    ),
    h(
      "fieldset",
      null,
      h("legend", null, "Declared baseline (optional)"),
      field(
        "Benchmark name",
        bench,
        "The chain records its hash; the name is kept in the model's card, so evaluators can name the same benchmark.",
      ),
      field("Baseline loss (nats)", baseline, "Evaluations of your model are compared with it."),
      field("Training data (optional)", dataset, "Its sha256 is recorded on chain as the model's data hash."),
    ),
    button,
    status,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void runAction(
      button,
      status,
      async (say) => {
        const chosen = Array.from(files.files ?? []);
        if (!chosen.length) throw new UserError("No model files chosen.", "Choose the files of the model folder.");
        if (!name.value.trim()) throw new UserError("The model needs a name.");
        const modelFiles: ModelFile[] = await Promise.all(
          chosen.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })),
        );
        let base = { benchmarkId: ethers.ZeroHash, metric: 0n };
        if (bench.value.trim() || baseline.value.trim()) {
          const v = Number(baseline.value);
          if (!bench.value.trim() || !(v > 0) || !Number.isFinite(v)) {
            throw new UserError(
              "A baseline needs both a benchmark name and a loss above 0.",
              "e.g. wikitext-2/loss and 3.25",
            );
          }
          base = { benchmarkId: benchmarkId(bench.value.trim()), metric: toFixedLoss(v) };
        }
        const data = dataset.files?.[0];
        const n = name.value.trim();
        const readme = modelFiles.find((f) => /^readme(\.md|\.txt)?$/i.test(f.name));
        const card = {
          description: description.value,
          license: license.value,
          // Only its hash goes on chain: the card keeps the name, for evaluators to name the same benchmark.
          benchmark: base.metric > 0n ? bench.value.trim() : undefined,
          readme: readme ? new TextDecoder().decode(readme.bytes.slice(0, 8 * CARD_LIMITS.readme)) : undefined,
        };
        return app.actions(say).publish(
          modelFiles,
          {
            name: n,
            symbol:
              symbol.value.trim() ||
              n
                .replace(/[^A-Za-z0-9]/g, "")
                .slice(0, 8)
                .toUpperCase() ||
              "PHM",
            dataHash: data ? ethers.sha256(new Uint8Array(await data.arrayBuffer())) : ethers.ZeroHash,
            metadataURI: "",
            baseline: base,
            pricing: { kind: "FixedRate", rate: parseTokens(price.value, "The price") },
            initialSupply: supply.value.trim() === "0" ? 0n : parseTokens(supply.value, "The supply"),
          },
          card,
        );
      },
      (r) => [
        r.resumed
          ? `These weights were registered already as your model ${r.modelId}, whose upload had been cut short: its files are uploaded now and the worker serves it (its name, price and card are those of its registration). `
          : `Model ${r.modelId} is published. `,
        r.skipped.length ? `(Skipped, not part of a model upload: ${r.skipped.join(", ")}.) ` : "",
        h("a", { href: `#/model/${r.modelId}` }, `Open model #${r.modelId}`),
      ],
    );
  });
  fill(
    main,
    h("h1", { tabindex: -1 }, "Publish a model"),
    h(
      "p",
      { class: "lead" },
      "Your model becomes an Ocean data NFT with a datatoken priced on Ocean's exchange. Its weights go to the worker only (buyers get compute, never the files). The worker first computes the folder's weights root, the chain records it, then the worker checks the upload against it.",
    ),
    form,
  );
}
