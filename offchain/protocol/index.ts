/**
 * The protocol's shared vocabulary, browser-safe (ethers, zod and typechain types only): what the worker, the SDK,
 * the CLI and the web app must agree on. Exported by the package as `posthuman/helpers`.
 */
export * from "./params";
export * from "./structs";
export * from "./job-spec";
export * from "./auth";
export * from "./model-upload";
export * from "./receipt";
export * from "./address-book";
export * from "./contracts";
