/** `posthuman market …`: holder-to-holder datatoken listings (list, sell, buy, cancel). */
import type { Command } from "commander";
import { amountText } from "../../protocol/params";
import type { ListingRecord } from "../../sdk/datatoken-market";
import { isUnsettled, modelSettlements, settlementLabel, type ModelSettlement } from "../../sdk/settlement";
import { amount, connect, id, sdk } from "../context";
import { accountNamer, table } from "../render";
import { FRACTION_HELP, fractionWarning, txCommand, type BuyOptions, type Wiring } from "./shared";

const ONE = 10n ** 18n;

/** Datatoken wei as "1 datatoken", "3 datatokens", "0.000000000000000001 datatokens": exact, never rounded to 0. */
export function datatokenCount(wei: bigint): string {
  return `${amountText(wei)} datatoken${wei === ONE ? "" : "s"}`;
}

/** A purchase's cost, exact; the market rounds it up to the next wei when amount × price is not a whole wei. */
export function costText(cost: bigint, amount: bigint, pricePerToken: bigint): string {
  return `${amountText(cost)} OCEAN${(amount * pricePerToken) % ONE !== 0n ? " (rounded up to the next wei)" : ""}`;
}

export function addMarketCommands(program: Command, w: Wiring): void {
  const market = program.command("market").description("holder-to-holder datatoken listings");
  addList(market, w);
  addSell(market, w);
  addBuy(market, w);
  txCommand(
    w,
    market,
    "listing",
    "cancel",
    "take your unsold datatokens back",
    (client, listing) => client.cancelListing(listing), // refuses another's listing before sending
    (raw, r) => `listing ${raw} cancelled: ${datatokenCount(r.returned)} back (tx ${r.txHash})`,
  );
}

function addList(market: Command, w: Wiring): void {
  market
    .command("list")
    .description("open listings, cheapest first, and whether each model's training can still be challenged")
    .option("--model <id>", "only this model's")
    .option("--seller <address>", "only this seller's")
    .option("--settled-only", "hide listings of models whose training receipt can still be challenged")
    .action((o: { model?: string; seller?: string; settledOnly?: boolean }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
        const modelId = o.model ? id(o.model) : undefined;
        if (modelId !== undefined) await sdk(client.registry.get(modelId)); // "There is no model 99 …"
        const all = await sdk(client.listings.list({ modelId, seller: o.seller }));
        const settled = await sdk(
          modelSettlements(
            client,
            all.map((l) => l.modelId),
          ),
        );
        const ls = all
          .map((l) => ({ ...l, settlement: settled.get(l.modelId)! }))
          .filter((l) => !o.settledOnly || !isUnsettled(l.settlement));
        const who = accountNamer(client.book.chainId);
        out.result(ls, () => (ls.length ? listingTable(ls, who) : noListings(all.length, modelId)));
      }, cmd),
    );
}

function listingTable(ls: (ListingRecord & { settlement: ModelSettlement })[], who: (a: string) => string): string {
  const rows = ls.map((l) => [
    String(l.id),
    String(l.modelId),
    amountText(l.remaining),
    amountText(l.pricePerToken),
    who(l.seller),
    settlementLabel(l.settlement),
  ]);
  const risky = ls.filter((l) => isUnsettled(l.settlement)).length;
  const note = risky
    ? "\nA model whose training can still be challenged is frozen if a challenge is upheld: its datatokens then " +
      "take no jobs and cannot be resold. `market buy` asks for --accept-unsettled before buying them."
    : "";
  const descendants = [...new Set(ls.filter((l) => l.settlement.frozenAncestor).map((l) => l.modelId))];
  const lineage = descendants.length
    ? `\nModel${descendants.length > 1 ? "s" : ""} ${descendants.join(", ")} descend${descendants.length > 1 ? "" : "s"} ` +
      "from a frozen model (a training in its lineage was proved wrong by an upheld challenge); such a model " +
      "still takes jobs, and `market buy` asks for --accept-unsettled before buying it."
    : "";
  return table(["listing", "model", "left", "price", "seller", "training"], rows) + note + lineage;
}

function noListings(hidden: number, modelId?: bigint): string {
  const of = modelId !== undefined ? ` of model ${modelId}` : "";
  return hidden
    ? `no settled listings${of} (${hidden} open listing${hidden === 1 ? "" : "s"} of models whose training can still be challenged: drop --settled-only to see them)`
    : `no open listings${of}`;
}

function addSell(market: Command, w: Wiring): void {
  market
    .command("sell <model>")
    .description("list datatokens for sale (escrowed by the market until bought or cancelled)")
    .requiredOption("--amount <n>", "datatokens to list")
    .requiredOption("--price <ocean>", "price per datatoken")
    .option("--allow-fraction", FRACTION_HELP)
    .action((raw: string, o: { amount: string; price: string; allowFraction?: boolean }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const [n, price] = [amount(o.amount, "--amount"), amount(o.price, "--price")];
        const r = await sdk(client.sellDatatokens(id(raw), n, price, { allowFraction: o.allowFraction }));
        out.result(
          { modelId: id(raw), amount: n, pricePerToken: price, ...r },
          () =>
            `listing ${r.listingId}: ${datatokenCount(n)} of model ${raw} at ${amountText(price)} OCEAN each (tx ${r.txHash})`,
        );
      }, cmd),
    );
}

function addBuy(market: Command, w: Wiring): void {
  market
    .command("buy <listing>")
    .description("buy datatokens from a holder's listing")
    .requiredOption("--amount <n>", "datatokens to take")
    .option("--max-cost <ocean>", "pay at most this (default: the quote)")
    .option(
      "--accept-unsettled",
      "buy even though the model's training receipt can still be challenged (if upheld, the model is frozen), or " +
        "the model descends from a frozen model",
    )
    .option("--allow-fraction", FRACTION_HELP)
    .action((raw: string, o: BuyOptions & { acceptUnsettled?: boolean }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const listingId = id(raw, "listing");
        const n = amount(o.amount, "--amount");
        const maxCost = o.maxCost ? amount(o.maxCost, "--max-cost") : undefined;
        const l = await sdk(client.listings.get(listingId));
        const r = await sdk(
          client.buyFromListing(listingId, n, {
            maxCost,
            acceptUnsettled: o.acceptUnsettled,
            allowFraction: o.allowFraction,
          }),
        );
        const warning = await fractionWarning(client, r.modelId);
        out.result(
          { listingId, amount: n, ...r, warning: warning ?? null },
          () =>
            `bought ${datatokenCount(n)} of model ${r.modelId} from ${accountNamer(client.book.chainId)(r.seller)} for ${costText(r.cost, n, l.pricePerToken)} (tx ${r.txHash})` +
            (r.unsettled ? `\nYou accepted the risk: ${r.unsettled}` : ""),
        );
        if (warning) out.info(`warning: ${warning}`);
      }, cmd),
    );
}
