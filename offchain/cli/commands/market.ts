/** `posthuman market …`: holder-to-holder datatoken listings (list, sell, buy, cancel). */
import type { Command } from "commander";
import { amount, connect, id, sdk } from "../context";
import { accountNamer, table, tokens } from "../render";
import { txCommand, type Wiring } from "./shared";

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
    (client, listing) => client.listings.cancelListing(listing),
    (raw, r) => `listing ${raw} cancelled: ${tokens(r.returned)} datatokens back (tx ${r.txHash})`,
  );
}

function addList(market: Command, w: Wiring): void {
  market
    .command("list")
    .description("open listings, cheapest first")
    .option("--model <id>", "only this model's")
    .option("--seller <address>", "only this seller's")
    .action((o: { model?: string; seller?: string }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd), false);
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
}

function addSell(market: Command, w: Wiring): void {
  market
    .command("sell <model>")
    .description("list datatokens for sale (escrowed by the market until bought or cancelled)")
    .requiredOption("--amount <n>", "datatokens to list")
    .requiredOption("--price <ocean>", "price per datatoken")
    .action((raw: string, o: { amount: string; price: string }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const r = await sdk(client.sellDatatokens(id(raw), amount(o.amount, "--amount"), amount(o.price, "--price")));
        out.result(
          { modelId: id(raw), amount: amount(o.amount, "--amount"), pricePerToken: amount(o.price, "--price"), ...r },
          () =>
            `listing ${r.listingId}: ${o.amount} datatokens of model ${raw} at ${o.price} OCEAN each (tx ${r.txHash})`,
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
    .action((raw: string, o: { amount: string; maxCost?: string }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
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
}
