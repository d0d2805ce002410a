/** The PostHuman SDK. */
export { PostHuman, NotEnoughError, readInput } from "./client";
export type { InitOptions, OnChainReceipt, RequestedJob } from "./client";
export { verifyJob } from "./verify";
export type { Verdict } from "./verify";
export { WorkerClient, WorkerApiError } from "./worker-client";
