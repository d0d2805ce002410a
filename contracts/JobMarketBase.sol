// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IJobMarketConsumer} from "./interfaces/IJobMarketConsumer.sol";
import {WorkerStakes} from "./WorkerStakes.sol";

/// @title JobMarketBase
/// @notice The job market's storage and its callback machinery; see IJobMarket and JobMarket.
/// @dev Abstract base of JobMarket, kept apart so each file reads in one sitting: the storage form of a job, the
/// callback fee's shares, the delivery of a hook (the last step of every transition that calls back), permits and the
/// status checks every transition starts with.
abstract contract JobMarketBase is WorkerStakes {
    using SafeERC20 for IERC20;

    /// @dev Gas a delivery keeps besides the hook's limit and EIP-150's 1/64: the CALL itself (cold account: 2,600)
    /// and the market's work after it (failure record, CallbackDelivered, return), with a wide margin. The metered
    /// outcome share's transfers after it are paid from the rest of the caller's gas: short of it, the whole
    /// transition reverts (nothing is half done), and gas estimation finds the total.
    uint256 private constant _CALLBACK_GAS_RESERVE = 12_000;
    /// @dev Bit 0 of StoredJob.callbackBits: the job has a callback. (Bit 0 stands for JobStatus.None, never a stage.)
    uint16 internal constant _HAS_CALLBACK = 1;
    /// @dev StoredJob.flags: the requester joined a challenge taken by someone else (its bond is escrowed too).
    uint8 internal constant _REQUESTER_JOINED = 1;
    /// @dev StoredJob.flags: a failure blamed on the requester holds the claimant's collateral for its dispute window.
    uint8 internal constant _COLLATERAL_HELD = 2;
    /// @dev StoredJob.flags: an independent evaluation (EvaluateParams.independent).
    uint8 internal constant _INDEPENDENT = 4;

    /// @dev Storage form of a job (getJob returns IJobMarket.Job), four slots for a plain job's life plus the input and
    /// receipt hashes: model and job ids are counters far below 2**64 and fees are capped at 2**96 - 1, so they share a
    /// slot; the collateral is not stored (collateralFor(fee), the bps being immutable). `callbackBits` shares the
    /// status's slot, which every transition reads anyway, so a job without callback costs no extra storage access to
    /// find out; bit `1 << stage` is set when the delivery at that stage failed. The callback fee takes a slot of its
    /// own, written only for callback jobs. A failed job keeps its reason where a challenge would be recorded.
    struct StoredJob {
        address requester;
        uint64 deadline;
        JobKind kind;
        JobStatus status;
        uint16 callbackBits;
        address worker;
        uint64 submittedAt;
        uint32 callbackGasLimit;
        uint64 modelId;
        uint96 fee;
        uint64 childModelId;
        uint8 flags;
        address challenger;
        uint64 challengedAt;
        uint32 failReason;
        bytes32 inputHash;
        bytes32 receiptHash;
        uint256 callbackFee;
    }

    uint256 internal _jobCount;
    mapping(uint256 jobId => StoredJob) internal _jobs;

    /// @inheritdoc IJobMarket
    function callbackOf(uint256 jobId) external view returns (CallbackState memory) {
        StoredJob storage j = _jobs[jobId];
        if (j.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
        return
            CallbackState({
                gasLimit: j.callbackGasLimit,
                failedStages: j.callbackBits & ~_HAS_CALLBACK,
                fee: j.callbackFee
            });
    }

    /// @inheritdoc IJobMarket
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @dev The two shares of a job's callback fee: the receipt hook's (rounded up) and the outcome hook's. (0, 0) for a
    /// job without callback, without reading the callback fee's slot.
    function _callbackShares(StoredJob storage j) internal view returns (uint256 receiptShare, uint256 outcomeShare) {
        if (j.callbackBits & _HAS_CALLBACK == 0) return (0, 0);
        uint256 fee = j.callbackFee;
        outcomeShare = fee / 2;
        receiptShare = fee - outcomeShare;
    }

    /// @dev Last step of every transition into a terminal state that calls back: delivers the outcome to the requester,
    /// then pays the caller the outcome hook's share. A job that did not settle pays only the gas its delivery used, at
    /// `callbackGasPrice`, and the rest of the share goes back to the requester: nobody earns by ending a job that way.
    function _finish(uint256 jobId, StoredJob storage j, JobStatus outcome, uint256 outcomeShare) internal {
        if (j.callbackBits & _HAS_CALLBACK == 0) return;
        uint256 gasBefore = gasleft();
        _deliver(jobId, j, outcome, abi.encodeCall(IJobMarketConsumer.onJobOutcome, (jobId, outcome, j.receiptHash)));
        if (outcome != JobStatus.Settled) {
            uint256 used = (gasBefore - gasleft()) * _callbackGasPriceOf();
            if (used < outcomeShare) {
                _baseToken.safeTransfer(j.requester, outcomeShare - used);
                outcomeShare = used;
            }
        }
        if (outcomeShare != 0) _baseToken.safeTransfer(msg.sender, outcomeShare);
    }

    /// @dev Base token per unit of a hook's gas (the market's `callbackGasPrice`).
    function _callbackGasPriceOf() internal view virtual returns (uint256);

    /// @dev Calls the requester's hook with `data` (built in memory beforehand) and exactly `gasLimit` gas, records a
    /// failure, and never reverts because of the hook. The job's state and the transition's payments are final before
    /// the call, and the reentrancy guard is held: a hook that calls back into the market fails like any other.
    function _deliver(uint256 jobId, StoredJob storage j, JobStatus stage, bytes memory data) internal {
        address consumer = j.requester;
        uint256 gasLimit = j.callbackGasLimit;
        // EIP-150 forwards at most 63/64 of the gas left to a call. Demand enough that the hook gets all of gasLimit
        // and the market can still finish: otherwise a caller could starve the hook on purpose (and gas estimation
        // would happily find such a limit) while the transition itself succeeds.
        uint256 required = gasLimit + gasLimit / 63 + _CALLBACK_GAS_RESERVE;
        uint256 left = gasleft();
        if (left < required) revert JobMarketCallbackGasTooLow(jobId, left, required);
        bool success;
        // A plain CALL without value whose output size is 0: nothing the hook returns or reverts with is ever copied
        // (a "returnbomb" costs the market nothing), and a consumer without code simply succeeds. Solidity's
        // try/catch would copy and decode return data, and revert uncatchably on a decoding failure.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            success := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
        // Written after the call on purpose: it records the call itself, under the guard (no one can re-enter).
        if (!success) j.callbackBits |= uint16(1 << uint8(stage));
        emit CallbackDelivered(jobId, consumer, stage, success);
    }

    function _permit(address token, uint256 value, Permit calldata p) internal {
        if (p.deadline == 0) return;
        // A permit that fails (already used by a front-runner, or a token without permit) is ignored: the transfer
        // that follows then needs an allowance and fails with the token's own error otherwise.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(token).permit(msg.sender, address(this), value, p.deadline, p.v, p.r, p.s) {} catch {}
    }

    function _jobInStatus(uint256 jobId, JobStatus expected) internal view returns (StoredJob storage j) {
        j = _jobs[jobId];
        if (j.status != expected) _revertStatus(jobId, j.status);
    }

    function _revertStatus(uint256 jobId, JobStatus status) internal pure {
        if (status == JobStatus.None) revert JobMarketUnknownJob(jobId);
        revert JobMarketUnexpectedStatus(jobId, status);
    }
}
