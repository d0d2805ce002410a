import fs from "node:fs";
import path from "node:path";
import { ethers } from "ethers";
import { addressBookPath, readAddressBook, writeAddressBook, type AddressBook } from "../../scripts/lib/address-book";
import { deployAll } from "../../scripts/lib/deploy";
import { devWallet, DEV_ACCOUNTS } from "./accounts";
import { startLocalChain, type LocalChain } from "./local-chain";
import type { Output } from "./output";

export interface UpOptions {
  dataDir: string;
  host: string;
  chainPort: number;
  /** Where the address book is written for the other commands (deployments/localhost.json). */
  deploymentFile?: string;
}

export interface UpHandle {
  chain: LocalChain;
  book: AddressBook;
  deploymentFile: string;
  stop(): Promise<void>;
}

/** Starts the embedded chain, deploys Ocean + PostHuman when missing, and returns what is running. */
export async function up(opts: UpOptions, out: Output): Promise<UpHandle> {
  fs.mkdirSync(opts.dataDir, { recursive: true });
  out.info(`Data directory: ${path.resolve(opts.dataDir)}`);
  const chain = await startLocalChain({ dataDir: opts.dataDir, host: opts.host, port: opts.chainPort, log: out.info });
  out.info(
    chain.replayed
      ? `Local chain restored from its journal (${chain.replayed} requests) on ${chain.url}`
      : `Fresh local chain on ${chain.url}`,
  );
  try {
    const provider = new ethers.JsonRpcProvider(chain.url, undefined, { cacheTimeout: -1 });
    const deployer = new ethers.NonceManager(devWallet(0).connect(provider));
    const ownBook = path.join(opts.dataDir, "deployments.json");
    const { book, deployed } = await deployAll(deployer, { existing: readAddressBook(ownBook), log: out.info });
    writeAddressBook(ownBook, book);
    const deploymentFile = opts.deploymentFile ?? addressBookPath("localhost");
    writeAddressBook(deploymentFile, book);
    out.info(deployed.length ? `Deployed: ${deployed.join(", ")}` : "Contracts already deployed: nothing to do.");
    provider.destroy();
    return {
      chain,
      book,
      deploymentFile,
      async stop() {
        await chain.stop();
      },
    };
  } catch (e) {
    await chain.stop();
    throw e;
  }
}

export function describeUp(h: UpHandle): string {
  const lines = [
    `PostHuman is up.`,
    `  chain      ${h.chain.url} (chain id ${h.book.chainId})`,
    `  addresses  ${h.deploymentFile}`,
    ...Object.entries(h.book.contracts).map(([k, v]) => `    ${k.padEnd(26)} ${v}`),
    ``,
    `Dev accounts: ${DEV_ACCOUNTS.join(", ")} (pass --account <name> to any command).`,
    `Try, from another terminal:`,
    `  npx posthuman model create ./m1 --preset tiny --account alice`,
    `  npx posthuman demo`,
    `Stop with Ctrl-C; the chain's state is kept in the data directory and restored by the next 'up'.`,
  ];
  return lines.join("\n");
}
