// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IJobMarket} from "./IJobMarket.sol";

/// @title A contract that requests PostHuman jobs and is called back with their receipts and outcomes.
/// @notice Request with `IJobMarket.requestJobWithCallback(request, Callback(gasLimit, fee))` from the contract itself
/// (it holds the model's datatoken and the base token, and approves the market for one datatoken and
/// `request.fee + callback.fee`). The market then calls, on the requester:
///  - `onJobReceipt` once, when the claimant submits its receipt. The receipt is not final yet: it can be challenged
///    until `submittedAt + challengeWindow`, and a challenge the arbiter upholds makes it void.
///  - `onJobOutcome` once, when the job ends: Settled (the receipt stands; act on it now), Slashed (the receipt was
///    proved wrong), Failed or Reclaimed (no receipt; the fee came back to the requester).
/// Each hook runs with exactly the gas limit the requester chose; the market's guard against reentrancy is held during
/// the call, so a hook can read the market (`getJob`, `callbackOf`, `config`) but any call that changes it reverts.
/// A hook that reverts or runs out of gas changes nothing for the job, its payments or refunds: the market records the
/// failure (`callbackOf(jobId).failedStages`, event CallbackDelivered) and moves on. Hooks must therefore check
/// `msg.sender` (only the job market may call them) and should be cheap and unable to fail; whatever a hook missed can
/// be pulled later: the full receipt is in the ReceiptSubmitted event and `keccak256(abi.encode(receipt))` must equal
/// `getJob(jobId).receiptHash` (see contracts/examples/FinetuneBounty.sol, `recordReceipt`).
interface IJobMarketConsumer {
    /// @notice The claimant of job `jobId` submitted `receipt` (the job is now Submitted). For a Train job,
    /// `childModelId` is the model it created (0 otherwise). `receipt.servedWeightsRoot` is the model's recorded
    /// weights root; `receipt.metrics` carries the losses (×1e6) and token count.
    function onJobReceipt(
        uint256 jobId,
        IJobMarket.JobKind kind,
        uint256 modelId,
        IJobMarket.Receipt calldata receipt,
        uint256 childModelId
    ) external;

    /// @notice Job `jobId` ended with `outcome` (Settled, Slashed, Failed or Reclaimed). `receiptHash` is
    /// keccak256(abi.encode(receipt)) of the receipt `onJobReceipt` carried, 0 when there was none.
    function onJobOutcome(uint256 jobId, IJobMarket.JobStatus outcome, bytes32 receiptHash) external;
}
