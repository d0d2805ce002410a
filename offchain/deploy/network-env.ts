import fs from "node:fs";
import type { HttpNetworkUserConfig } from "hardhat/types";

/**
 * The generic network for real chains (`--network remote`), configured from the environment only:
 *   POSTHUMAN_RPC_URL        https URL of an RPC node
 *   POSTHUMAN_CHAIN_ID       the chain id that node must answer with
 *   POSTHUMAN_PRIVATE_KEY    0x-prefixed deployer key, or
 *   POSTHUMAN_KEY_FILE       a file holding that key (never commit either)
 * Returns undefined when none is set; throws naming every missing or malformed value otherwise,
 * and when `--network remote` is asked for without them.
 */
export function remoteNetworkFromEnv(
  env: NodeJS.ProcessEnv,
  argv: string[] = process.argv,
): HttpNetworkUserConfig | undefined {
  const wantsRemote =
    argv.some((a, i) => a === "remote" && argv[i - 1] === "--network") || env.HARDHAT_NETWORK === "remote";
  const any = ["POSTHUMAN_RPC_URL", "POSTHUMAN_CHAIN_ID", "POSTHUMAN_PRIVATE_KEY", "POSTHUMAN_KEY_FILE"].some(
    (k) => env[k],
  );
  if (!any && !wantsRemote) return undefined;

  const problems: string[] = [];
  const url = env.POSTHUMAN_RPC_URL;
  if (!url) problems.push("POSTHUMAN_RPC_URL is not set (the RPC node's URL)");
  else if (!/^https?:\/\/|^wss?:\/\//.test(url))
    problems.push(`POSTHUMAN_RPC_URL=${url} is not an http(s) or ws(s) URL`);

  const chainId = Number(env.POSTHUMAN_CHAIN_ID);
  if (!env.POSTHUMAN_CHAIN_ID) problems.push("POSTHUMAN_CHAIN_ID is not set (e.g. 11155111 for Sepolia)");
  else if (!Number.isSafeInteger(chainId) || chainId <= 0)
    problems.push(`POSTHUMAN_CHAIN_ID=${env.POSTHUMAN_CHAIN_ID} is not a positive integer`);

  let key = env.POSTHUMAN_PRIVATE_KEY;
  if (!key && env.POSTHUMAN_KEY_FILE) {
    try {
      key = fs.readFileSync(env.POSTHUMAN_KEY_FILE, "utf8").trim();
    } catch (e) {
      problems.push(`POSTHUMAN_KEY_FILE=${env.POSTHUMAN_KEY_FILE} cannot be read (${(e as Error).message})`);
    }
  }
  if (!key && !env.POSTHUMAN_KEY_FILE)
    problems.push("neither POSTHUMAN_PRIVATE_KEY nor POSTHUMAN_KEY_FILE is set (the deployer's key)");
  else if (key && !/^0x[0-9a-fA-F]{64}$/.test(key))
    problems.push("the deployer key is not 0x followed by 64 hex digits (its value is not shown)");

  if (problems.length) {
    throw new Error(
      `The remote network is not configured:\n  - ${problems.join("\n  - ")}\nSee README.md, "Deploying to a real network".`,
    );
  }
  return { url: url as string, chainId, accounts: [key as string] };
}
