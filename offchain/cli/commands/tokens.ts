/**
 * `posthuman buy`, `balance`, `pay` and `send`: datatokens from Ocean's exchange, what an account holds, paying a
 * model, and moving OCEAN, datatokens or gas money to another account (a new worker's key, a friend).
 */
import type { Command } from "commander";
import { ethers } from "ethers";
import { DEV_ACCOUNTS, LOCAL_CHAIN_IDS, devAddress, devIndex } from "../../deploy/accounts";
import { amount, connect, id, sdk } from "../context";
import { CliError } from "../output";
import { table, tokens } from "../render";
import { datatokenCount } from "./market";
import { FRACTION_HELP, fractionWarning, type BuyOptions, type Wiring } from "./shared";

export function addTokenCommands(program: Command, w: Wiring): void {
  addBuy(program, w);
  addBalance(program, w);
  addPay(program, w);
  addSend(program, w);
}

function addBuy(program: Command, w: Wiring): void {
  program
    .command("buy <model>")
    .description("buy datatokens of a root model on Ocean's fixed-rate exchange (through ocean.js)")
    .requiredOption("--amount <n>", "datatokens to buy")
    .option("--max-cost <ocean>", "pay at most this (default: the quote)")
    .option("--allow-fraction", FRACTION_HELP)
    .action((raw: string, o: BuyOptions, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const n = amount(o.amount, "--amount");
        const maxBase = o.maxCost ? amount(o.maxCost, "--max-cost") : undefined;
        const r = await sdk(client.buyDatatokens(id(raw), n, { maxBase, allowFraction: o.allowFraction }));
        const warning = await fractionWarning(client, id(raw));
        out.result(
          { modelId: id(raw), amount: n, ...r, warning: warning ?? null },
          () => `bought ${datatokenCount(n)} of model ${raw} for ${tokens(r.cost)} OCEAN (tx ${r.txHash})`,
        );
        if (warning) out.info(`warning: ${warning}`);
      }, cmd),
    );
}

function addBalance(program: Command, w: Wiring): void {
  program
    .command("balance [account]")
    .description(
      "OCEAN, the chain's coin (gas money), datatokens and vault shares of an account: a 0x address, or a dev " +
        "account name on a local chain (default: yours)",
    )
    .action((address: string | undefined, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        if (address !== undefined) accountArgument(address); // a typo is refused before connecting
        const client = await connect(w.context(cmd), address === undefined);
        const who = address === undefined ? await client.address() : accountArgument(address, client.book.chainId);
        const models = await client.registry.list();
        const [base, coin, held] = await Promise.all([
          client.baseToken.balanceOf(who),
          client.provider.getBalance(who),
          Promise.all(
            models.map(async (m) => {
              const [dt, position] = await Promise.all([
                client.token(m.datatoken).balanceOf(who),
                client.vault(m.vault).position(who),
              ]);
              return { modelId: m.id, datatokens: dt, shares: position.shares, totalShares: position.totalShares };
            }),
          ),
        ]);
        const rows = held.filter((r) => r.datatokens > 0n || r.shares > 0n);
        out.result({ account: who, base, coin, models: rows }, () =>
          [
            `${who}: ${tokens(base)} OCEAN, ${tokens(coin)} ETH (the chain's coin, for gas)`,
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
}

/**
 * The account a command names: a 0x address, or a dev account's name (alice, bob…) or index on a local chain. Without
 * the chain id it only checks the argument is one of those.
 */
export function accountArgument(raw: string, chainId?: number): string {
  if (ethers.isAddress(raw)) return ethers.getAddress(raw);
  const i = devIndex(raw);
  if (i === undefined)
    throw new CliError(
      `"${raw}" is not an address: give a 0x address or a dev account name (${DEV_ACCOUNTS.join(", ")})`,
      "an address is 0x followed by 40 hex digits; dev account names work on a local chain only",
    );
  if (chainId !== undefined && !LOCAL_CHAIN_IDS.has(chainId))
    throw new CliError(
      `"${raw}" is a dev account name, known on a local chain only (this is chain ${chainId}): give a 0x address`,
    );
  return devAddress(i);
}

function addPay(program: Command, w: Wiring): void {
  program
    .command("pay <model>")
    .description(
      "pay a model directly (a licence, a tip): shared by its vault like any revenue, royalties included; a frozen " +
        "model is refused unless --to-frozen (its vault pays its holders nothing and forwards it to its parent's)",
    )
    .requiredOption("--amount <ocean>", "OCEAN to pay")
    .option("--to-frozen", "pay a frozen model anyway: it all goes to its parent's vault, none to its holders")
    .action((raw: string, o: { amount: string; toFrozen?: boolean }, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const modelId = id(raw);
        const value = amount(o.amount, "--amount");
        const r = await sdk(client.pay(modelId, value, { toFrozen: o.toFrozen }));
        if (r.frozen) out.info(`warning: ${r.frozen}`);
        out.result(
          { modelId, amount: value, ...r },
          () =>
            `paid ${o.amount} OCEAN to model ${raw}'s vault (tx ${r.txHash})` +
            (r.frozen ? `: model ${raw} is frozen, it goes to its parent's vault at its next distribution` : ""),
        );
      }, cmd),
    );
}

function addSend(program: Command, w: Wiring): void {
  program
    .command("send <to>")
    .description(
      "send OCEAN (with --model: that model's datatokens) to an address or a dev account, e.g. a new worker's key " +
        "before its `stake add`; --gas also sends the chain's coin (ETH) for its transactions",
    )
    .option("--amount <n>", "OCEAN to send (with --model: datatokens)")
    .option("--model <id>", "send datatokens of this model instead of OCEAN")
    .option("--gas <eth>", "also send this much of the chain's coin, for the account's gas")
    .option("--to-contract", "send even though <to> is a contract (tokens sent to most contracts are lost)")
    .action((raw: string, o: { amount?: string; model?: string; gas?: string; toContract?: boolean }, cmd: Command) =>
      w.run(async (out) => {
        if (o.amount === undefined && o.gas === undefined)
          throw new CliError(
            "nothing to send",
            "pass --amount <n> (OCEAN, or datatokens with --model), --gas <eth>, or both",
          );
        if (o.model !== undefined && o.amount === undefined)
          throw new CliError("--model needs --amount: how many of its datatokens to send");
        accountArgument(raw); // a typo is refused before connecting
        const value = o.amount === undefined ? 0n : amount(o.amount, "--amount");
        const gas = o.gas === undefined ? 0n : amount(o.gas, "--gas");
        const client = await connect(w.context(cmd));
        const [to, me] = [accountArgument(raw, client.book.chainId), await client.address()];
        if (to === me) throw new CliError(`${raw} is your own account: nothing to send`);
        if (!o.toContract && (await client.provider.getCode(to)) !== "0x")
          throw new CliError(
            `${to} is a contract, not a person's account: tokens sent to it are most likely lost. Nothing was sent.`,
            "check the address; pass --to-contract if you mean it",
          );
        const modelId = o.model === undefined ? undefined : id(o.model, "model");
        const token = modelId === undefined ? client.baseToken : await sdk(client.datatokenOf(modelId));
        const what = modelId === undefined ? "OCEAN" : `datatokens of model ${modelId}`;
        // Everything checked before the first transaction: nothing half sent.
        const [held, coin] = await Promise.all([token.balanceOf(me), client.provider.getBalance(me)]);
        if (held < value)
          throw new CliError(
            `You hold ${tokens(held)} ${what}, fewer than the ${tokens(value)} to send. Nothing was sent.`,
          );
        if (coin < gas)
          throw new CliError(
            `You hold ${ethers.formatEther(coin)} ETH (the chain's coin), less than --gas ${o.gas}. Nothing was sent.`,
          );
        const txs: string[] = [];
        if (value > 0n) txs.push((await sdk(token.transfer(to, value))).txHash);
        if (gas > 0n) {
          const tx = await client.signer.sendTransaction({ to, value: gas });
          txs.push((await tx.wait())?.hash ?? tx.hash);
        }
        const sent = [value > 0n ? `${tokens(value)} ${what}` : "", gas > 0n ? `${o.gas} ETH (gas money)` : ""];
        out.result(
          { to, amount: value, modelId: modelId ?? null, gas, txHashes: txs },
          () =>
            `sent ${sent.filter(Boolean).join(" and ")} to ${raw === to ? to : `${raw} (${to})`} (tx ${txs.join(", ")})`,
        );
      }, cmd),
    );
}
