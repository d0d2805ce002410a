// The off-chain worker's foundations: configuration, logging, RPC, the SQLite store, event ingestion, the
// transaction sender and the artifact store. Contract-agnostic: the job pipeline builds on these.
export * from "./config";
export * from "./db";
export * from "./ingest";
export * from "./log";
export * from "./rpc";
export * from "./sender";
export * from "./store";
