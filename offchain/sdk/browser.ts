/**
 * The browser-safe entry of the PostHuman SDK: everything but files, the local store, verification by re-execution
 * and ocean.js (those are the Node entry's, index.ts). The web app (offchain/web) is built on it; test/sdk checks
 * that nothing it imports needs Node.
 */
export {
  PostHumanCore,
  DEFAULT_JOB_FEE,
  DEFAULT_JOB_TTL_SEC,
  MAX_JOB_TTL_SEC,
  DEFAULT_WORKER_URL,
  amountText,
  connectContext,
  type CoreOptions,
  type FollowProgress,
  type JobOverview,
  type ModelMetrics,
  type PublishFilesOptions,
  type RequestedJob,
} from "./core";
export type { ClaimAllResult, RewardRow } from "./revenue";
export { ContractClient, chainNow, type SdkContext, type Sent, type UnsignedTx } from "./base";
export { SdkError, isSdkError, type SdkErrorCode } from "./errors";
export { apiLookup, apiOf } from "./claimant";
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
export {
  frozenAncestorIn,
  frozenLineageWarning,
  isUnsettled,
  modelSettlement,
  modelSettlements,
  settlementLabel,
  unsettledWarning,
  type FrozenAncestor,
  type ModelSettlement,
  type SettlementSource,
  type UnsettledModel,
} from "./settlement";
export { FixedRateExchangeClient, type BuyQuote, type ExchangeState } from "./exchange";
export { RoyaltyVaultClient, type ClaimRecord, type VaultPosition } from "./vault";
export { TokenClient } from "./token";
export {
  WorkerApi,
  WorkerApiError,
  INPUT_UPLOAD_TIMEOUT_MS,
  RESULT_REQUEST_TTL_SEC,
  modelBundle,
  sha256Of,
  type JobStatusView,
  type ModelBundle,
  type ModelFile,
  type WorkerHealth,
} from "./worker-api";
export { CARD_LIMITS, cardURI, cleanCard, readCard, type ModelCard } from "./model-card";
export { logsInRanges } from "../protocol/logs";
