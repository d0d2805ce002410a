/**
 * The PostHuman SDK: `PostHuman.init({ runner, book, workerUrl, dataDir })`, then the flows of the marketplace
 * (publish, buy, sell, request, follow, fetch, verify, rewards). One class per contract on a typed base; every write
 * can be built unsigned (`buildXTx`) or sent. See README.md ("Guides") and docs/architecture.md.
 */
export {
  PostHuman,
  DEFAULT_JOB_FEE,
  DEFAULT_JOB_TTL_SEC,
  DEFAULT_WORKER_URL,
  type ClaimAllResult,
  type FollowProgress,
  type InitOptions,
  type JobOverview,
  type ModelMetrics,
  type PublishFolderOptions,
  type RequestedJob,
  type RewardRow,
} from "./client";
export { ContractClient, type SdkContext, type Sent, type UnsignedTx } from "./base";
export { SdkError, isSdkError, type SdkErrorCode } from "./errors";
export { ModelRegistryClient, type LineageNode, type ModelRecord } from "./registry";
export {
  JobMarketClient,
  jobKindName,
  jobStatusName,
  type JobRecord,
  type JobRequestRecord,
  type OnChainReceipt,
} from "./job-market";
export { DatatokenMarketClient, type ListingRecord } from "./datatoken-market";
export { FixedRateExchangeClient, type BuyQuote, type ExchangeState } from "./exchange";
export { RoyaltyVaultClient, type ClaimRecord, type VaultPosition } from "./vault";
export { TokenClient } from "./token";
export { LocalStore } from "./store";
export type { Check, Verdict, VerifyOptions } from "./verify";
export { WorkerClient, WorkerApiError } from "./worker-client";
