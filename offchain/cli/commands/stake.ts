/** `posthuman stake`: a worker operator's stake on the job market: show it, add to it, take it out. */
import type { Command } from "commander";
import type { PostHuman } from "../../sdk/client";
import { addStake, requestUnstake, stakeOf, withdrawStake, type StakeView } from "../../sdk/stake";
import { amount, connect, sdk } from "../context";
import { tokens } from "../render";
import { accountArgument } from "./tokens";
import type { Wiring } from "./shared";

export function addStakeCommands(program: Command, w: Wiring): void {
  const stake = program
    .command("stake")
    .description(
      "a worker's stake on the job market, which backs its claims (each locks collateral for its job): show it, " +
        "add to it, take it out (requested, then withdrawn after the market's delay)",
    );
  stake
    .command("show [account]")
    .description(
      "free, locked and unstaking stake, the market's minimum, the unstaking delay and the API registered of an " +
        "account or address (default: the signer's: --account, --key-file or POSTHUMAN_PRIVATE_KEY)",
    )
    .action((raw: string | undefined, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        if (raw !== undefined) accountArgument(raw); // a typo is refused before connecting
        const client = await connect(w.context(cmd), raw === undefined);
        const view = await sdk(stakeOf(client, raw && accountArgument(raw, client.book.chainId)));
        out.result(view, () => describe(view));
      }, cmd),
    );
  stake
    .command("add <amount>")
    .description("stake more OCEAN (approved to the job market first)")
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const n = amount(raw, "<amount>");
        const sent = await sdk(addStake(client, n, out.info));
        const view = await stakeOf(client);
        out.result(
          { staked: n, ...sent, stake: view },
          () => `staked ${tokens(n)} OCEAN (tx ${sent.txHash})\n${describe(view)}`,
        );
      }, cmd),
    );
  stake
    .command("unstake <amount>")
    .description("request free stake out: it stops backing claims now, and can be withdrawn after the market's delay")
    .action((raw: string, _o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client = await connect(w.context(cmd));
        const n = amount(raw, "<amount>");
        const sent = await sdk(requestUnstake(client, n, out.info));
        const at = new Date(sent.availableAt * 1000).toISOString();
        const all =
          sent.unstaking > n ? ` (${tokens(sent.unstaking)} OCEAN in all, with what was requested before)` : "";
        out.result(
          { unstaked: n, ...sent, stake: await stakeOf(client) },
          () => `${tokens(n)} OCEAN on its way out${all}, withdrawable from ${at} (tx ${sent.txHash})`,
        );
      }, cmd),
    );
  stake
    .command("withdraw")
    .description("withdraw the stake requested out, once the market's delay is over")
    .action((_o: unknown, cmd: Command) =>
      w.run(async (out) => {
        const client: PostHuman = await connect(w.context(cmd));
        const sent = await sdk(withdrawStake(client, out.info));
        out.result(sent, () => `withdrew ${tokens(sent.amount)} OCEAN (tx ${sent.txHash})`);
      }, cmd),
    );
}

function describe(v: StakeView): string {
  const unstaking =
    v.unstaking > 0n
      ? `${tokens(v.unstaking)} OCEAN, withdrawable from ${new Date(v.unstakeAvailableAt * 1000).toISOString()}`
      : "none";
  return [
    `account      ${v.account}`,
    `free         ${tokens(v.free)} OCEAN (backs new claims; the market's minimum is ${tokens(v.minWorkerStake)})`,
    `locked       ${tokens(v.locked)} OCEAN (collateral of ${v.activeClaims} claimed job${v.activeClaims === 1 ? "" : "s"})`,
    `unstaking    ${unstaking} (the market's delay: ${v.unstakeDelaySec} s)`,
    `api          ${v.endpoint || "none registered"}`,
    ...(v.free + v.locked < v.minWorkerStake
      ? [
          `note         under the market's minimum of ${tokens(v.minWorkerStake)} OCEAN: a worker with this key claims no job`,
        ]
      : []),
  ].join("\n");
}
