/**
 * The PostHuman SDK for Node (`require("posthuman")`): `PostHuman.init({ runner, book, workerUrl, dataDir })`, then
 * the flows of the marketplace (publish, buy, sell, request, follow, fetch, verify, rewards). Everything of the
 * browser-safe entry (browser.ts, `posthuman/browser`) plus model folders on disk, the local store, verification by
 * re-execution and ocean.js. See README.md ("Guides") and docs/architecture.md.
 */
export * from "./browser";
export { PostHuman, type InitOptions, type PublishFolderOptions } from "./client";
export { LocalStore } from "./store";
export type { Check, Verdict, VerifyOptions } from "./verify";
export { WorkerClient, readModelFolder } from "./worker-client";
export { OceanJsExchangeClient } from "./ocean-exchange";
