// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobMarket, JOB_MARKET_MAX_CALLBACK_GAS} from "./interfaces/IJobMarket.sol";
import {IJobMarketConsumer} from "./interfaces/IJobMarketConsumer.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IOceanDatatoken} from "./ocean/IOceanDatatoken.sol";
import {JobParams} from "./libraries/JobParams.sol";

/// @title JobMarket
/// @notice Escrowed training, inference and evaluation jobs on PostHuman models; see IJobMarket.
/// @dev Every payout happens in a transition out of a non-terminal state, after the state is written (checks,
/// effects, interactions) and under a reentrancy guard. The contract's base-token balance always equals the fees and
/// callback fees of non-terminal jobs + all worker stakes (free, locked, unstaking) + the bonds of challenged jobs.
/// A callback to a requester is always the last thing a transition does: the job's state and every payment of the
/// transition are final before the call, and the guard is still held during it.
contract JobMarket is IJobMarket, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Upper bound of the protocol fee: 10%.
    uint256 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint256 private constant _BPS = 10_000;
    /// @dev An Ocean order always consumes exactly one datatoken.
    uint256 private constant _ONE_DATATOKEN = 1e18;
    /// @dev Gas a delivery keeps besides the hook's limit and EIP-150's 1/64: the CALL itself (cold account: 2,600)
    /// and the market's work after it (failure record, CallbackDelivered, return), with a wide margin.
    uint256 private constant _CALLBACK_GAS_RESERVE = 12_000;

    /// @dev Bit 0 of StoredJob.callbackBits: the job has a callback. (Bit 0 stands for JobStatus.None, never a stage.)
    uint16 private constant _HAS_CALLBACK = 1;

    /// @dev Storage form of a job: the fields of IJobMarket.Job (getJob returns them) with the callback's record packed
    /// into the free bytes of the first two slots. `callbackBits` shares the status's slot, which every transition
    /// reads anyway, so a job without callback costs no extra storage access to find out; bit `1 << stage` is set when
    /// the delivery at that stage failed. The callback fee takes a slot of its own, written only for callback jobs.
    struct StoredJob {
        address requester;
        uint64 deadline;
        JobKind kind;
        JobStatus status;
        uint16 callbackBits;
        address worker;
        uint64 submittedAt;
        uint32 callbackGasLimit;
        address challenger;
        uint64 challengedAt;
        uint256 modelId;
        uint256 fee;
        uint256 collateral;
        bytes32 inputHash;
        bytes32 receiptHash;
        uint256 childModelId;
        uint256 callbackFee;
    }

    IModelRegistry private immutable _registry;
    IERC20 private immutable _baseToken;
    address private immutable _treasury;
    address private immutable _arbiter;
    uint16 private immutable _protocolFeeBps;
    uint16 private immutable _collateralBps;
    uint16 private immutable _challengerRewardBps;
    uint64 private immutable _challengeWindow;
    uint64 private immutable _arbitrationWindow;
    uint64 private immutable _unstakeDelay;
    uint256 private immutable _challengeBond;
    uint256 private immutable _minWorkerStake;

    uint256 private _jobCount;
    mapping(uint256 jobId => StoredJob) private _jobs;
    mapping(address worker => WorkerStake) private _stakes;

    /// @dev Fails on a zero address, a fee above the cap, a reward above 100%, or a registry bound to another market.
    constructor(Config memory cfg) {
        if (
            cfg.registry == address(0) ||
            cfg.baseToken == address(0) ||
            cfg.treasury == address(0) ||
            cfg.arbiter == address(0)
        ) {
            revert JobMarketZeroAddress();
        }
        if (cfg.protocolFeeBps > MAX_PROTOCOL_FEE_BPS) revert JobMarketInvalidBps(cfg.protocolFeeBps);
        if (cfg.challengerRewardBps > _BPS) revert JobMarketInvalidBps(cfg.challengerRewardBps);
        address bound = IModelRegistry(cfg.registry).config().jobMarket;
        if (bound != address(this)) revert JobMarketRegistryMismatch(bound);
        _registry = IModelRegistry(cfg.registry);
        _baseToken = IERC20(cfg.baseToken);
        _treasury = cfg.treasury;
        _arbiter = cfg.arbiter;
        _protocolFeeBps = cfg.protocolFeeBps;
        _collateralBps = cfg.collateralBps;
        _challengerRewardBps = cfg.challengerRewardBps;
        _challengeWindow = cfg.challengeWindow;
        _arbitrationWindow = cfg.arbitrationWindow;
        _unstakeDelay = cfg.unstakeDelay;
        _challengeBond = cfg.challengeBond;
        _minWorkerStake = cfg.minWorkerStake;
    }

    // ─── Requests ────────────────────────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function requestJob(JobRequest calldata request) external nonReentrant returns (uint256 jobId) {
        (, address datatoken, , bool frozen) = _registry.modelRuntime(request.modelId);
        return _request(request, datatoken, frozen, Callback(0, 0));
    }

    /// @inheritdoc IJobMarket
    function requestJobWithCallback(
        JobRequest calldata request,
        Callback calldata callback
    ) external nonReentrant returns (uint256 jobId) {
        uint32 gasLimit = callback.gasLimit;
        if (gasLimit == 0 || gasLimit > JOB_MARKET_MAX_CALLBACK_GAS) {
            revert JobMarketInvalidCallbackGas(gasLimit, JOB_MARKET_MAX_CALLBACK_GAS);
        }
        // The hooks are called on the requester: an account without code could never run them.
        if (msg.sender.code.length == 0) revert JobMarketCallbackConsumerNotContract(msg.sender);
        (, address datatoken, , bool frozen) = _registry.modelRuntime(request.modelId);
        return _request(request, datatoken, frozen, callback);
    }

    /// @inheritdoc IJobMarket
    function requestJobWithPermit(
        JobRequest calldata request,
        Permit calldata datatokenPermit,
        Permit calldata feePermit
    ) external nonReentrant returns (uint256 jobId) {
        (, address datatoken, , bool frozen) = _registry.modelRuntime(request.modelId);
        _permit(datatoken, _ONE_DATATOKEN, datatokenPermit);
        _permit(address(_baseToken), request.fee, feePermit);
        return _request(request, datatoken, frozen, Callback(0, 0));
    }

    /// @inheritdoc IJobMarket
    function cancelJob(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Open);
        if (msg.sender != j.requester) revert JobMarketNotRequester(jobId, msg.sender);
        j.status = JobStatus.Cancelled;
        emit JobCancelled(jobId, j.modelId, msg.sender, j.fee);
        // No delivery happened: the whole callback fee goes back with the fee. The requester cancels, so it is not
        // called back.
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        _baseToken.safeTransfer(msg.sender, j.fee + receiptShare + outcomeShare);
    }

    // ─── Work ────────────────────────────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function claimJob(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Open);
        if (block.timestamp > j.deadline) revert JobMarketLeaseExpired(jobId, j.deadline);
        uint256 modelId = j.modelId;
        (, , , bool frozen) = _registry.modelRuntime(modelId);
        if (frozen) revert JobMarketModelFrozen(modelId);
        WorkerStake storage s = _stakes[msg.sender];
        uint256 total = s.free + s.locked;
        if (total < _minWorkerStake) revert JobMarketStakeBelowMinimum(msg.sender, total, _minWorkerStake);
        uint256 collateral = collateralFor(j.fee);
        if (s.free < collateral) revert JobMarketInsufficientStake(msg.sender, s.free, collateral);
        // Cannot underflow: checked just above.
        unchecked {
            s.free -= collateral;
        }
        s.locked += collateral;
        j.worker = msg.sender;
        j.collateral = collateral;
        j.status = JobStatus.Claimed;
        emit JobClaimed(jobId, modelId, msg.sender, collateral, j.deadline);
    }

    /// @inheritdoc IJobMarket
    function submitReceipt(
        uint256 jobId,
        Receipt calldata receipt
    ) external nonReentrant returns (uint256 childModelId) {
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Claimed);
        if (msg.sender != j.worker) revert JobMarketNotClaimant(jobId, msg.sender);
        if (block.timestamp > j.deadline) revert JobMarketLeaseExpired(jobId, j.deadline);
        uint256 modelId = j.modelId;
        (, , bytes32 weightsRoot, ) = _registry.modelRuntime(modelId);
        if (receipt.servedWeightsRoot != weightsRoot) {
            revert JobMarketWrongWeightsRoot(jobId, weightsRoot, receipt.servedWeightsRoot);
        }
        j.status = JobStatus.Submitted;
        j.submittedAt = uint64(block.timestamp);
        j.receiptHash = keccak256(abi.encode(receipt));
        if (j.kind == JobKind.Train) {
            if (receipt.childWeightsRoot == bytes32(0)) revert JobMarketMissingChildWeights(jobId);
            childModelId = _registry.createDerivedModel(
                IModelRegistry.Derivation({
                    parentId: modelId,
                    jobId: jobId,
                    trainer: j.requester,
                    weightsRoot: receipt.childWeightsRoot,
                    configHash: receipt.childConfigHash,
                    dataHash: j.inputHash,
                    metadataURI: receipt.outputURI,
                    metric: receipt.metrics.valLossAfter
                })
            );
            j.childModelId = childModelId;
        }
        emit ReceiptSubmitted(jobId, modelId, msg.sender, receipt, childModelId);
        if (j.callbackBits & _HAS_CALLBACK != 0) {
            _deliver(
                jobId,
                j,
                JobStatus.Submitted,
                abi.encodeCall(IJobMarketConsumer.onJobReceipt, (jobId, j.kind, modelId, receipt, childModelId))
            );
        }
    }

    /// @inheritdoc IJobMarket
    function failJob(uint256 jobId, uint32 reason) external nonReentrant {
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Claimed);
        if (msg.sender != j.worker) revert JobMarketNotClaimant(jobId, msg.sender);
        if (block.timestamp > j.deadline) revert JobMarketLeaseExpired(jobId, j.deadline);
        j.status = JobStatus.Failed;
        _release(msg.sender, j.collateral);
        emit JobFailed(jobId, j.modelId, msg.sender, reason, j.fee);
        // No receipt was delivered: its share goes back to the requester; the claimant delivers the outcome.
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        _baseToken.safeTransfer(j.requester, j.fee + receiptShare);
        _finish(jobId, j, JobStatus.Failed, outcomeShare);
    }

    /// @inheritdoc IJobMarket
    function reclaimJob(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobs[jobId];
        JobStatus status = j.status;
        if (status != JobStatus.Open && status != JobStatus.Claimed) _revertStatus(jobId, status);
        if (block.timestamp <= j.deadline) revert JobMarketDeadlineNotReached(jobId, j.deadline);
        j.status = JobStatus.Reclaimed;
        uint256 slashed;
        if (status == JobStatus.Claimed) {
            slashed = j.collateral;
            _stakes[j.worker].locked -= slashed;
        }
        address requester = j.requester;
        emit JobReclaimed(jobId, j.modelId, requester, j.worker, j.fee, slashed);
        // No receipt was delivered: its share goes back to the requester; the caller delivers the outcome.
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        _baseToken.safeTransfer(requester, j.fee + slashed + receiptShare);
        _finish(jobId, j, JobStatus.Reclaimed, outcomeShare);
    }

    // ─── Challenges and settlement ───────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function challengeReceipt(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Submitted);
        uint64 closesAt = j.submittedAt + _challengeWindow;
        if (block.timestamp > closesAt) revert JobMarketChallengeWindowClosed(jobId, closesAt);
        j.status = JobStatus.Challenged;
        j.challenger = msg.sender;
        j.challengedAt = uint64(block.timestamp);
        emit JobChallenged(jobId, j.modelId, msg.sender, _challengeBond);
        _baseToken.safeTransferFrom(msg.sender, address(this), _challengeBond);
    }

    /// @inheritdoc IJobMarket
    function resolveChallenge(uint256 jobId, bool upheld) external nonReentrant {
        if (msg.sender != _arbiter) revert JobMarketNotArbiter(msg.sender);
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Challenged);
        address challenger = j.challenger;
        if (!upheld) {
            emit ChallengeResolved(jobId, j.modelId, challenger, false, 0);
            _settle(jobId, j, _challengeBond, false);
            return;
        }
        j.status = JobStatus.Slashed;
        uint256 slashed = j.collateral;
        _stakes[j.worker].locked -= slashed;
        uint256 reward = (slashed * _challengerRewardBps) / _BPS;
        emit ChallengeResolved(jobId, j.modelId, challenger, true, slashed);
        if (j.childModelId != 0) _registry.freezeModel(j.childModelId);
        // The receipt was wrong: the worker forfeits the receipt hook's share to the requester.
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        _baseToken.safeTransfer(j.requester, j.fee + slashed - reward + receiptShare);
        _baseToken.safeTransfer(challenger, _challengeBond + reward);
        _finish(jobId, j, JobStatus.Slashed, outcomeShare);
    }

    /// @inheritdoc IJobMarket
    function settleJob(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobs[jobId];
        JobStatus status = j.status;
        if (status == JobStatus.Submitted) {
            uint64 closesAt = j.submittedAt + _challengeWindow;
            if (block.timestamp <= closesAt) revert JobMarketChallengeWindowOpen(jobId, closesAt);
            _settle(jobId, j, 0, false);
        } else if (status == JobStatus.Challenged) {
            uint64 lapsesAt = j.challengedAt + _arbitrationWindow;
            if (block.timestamp <= lapsesAt) revert JobMarketArbitrationPending(jobId, lapsesAt);
            _settle(jobId, j, 0, true);
        } else {
            _revertStatus(jobId, status);
        }
    }

    // ─── Stake ───────────────────────────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert JobMarketZeroAmount();
        WorkerStake storage s = _stakes[msg.sender];
        s.free += amount;
        emit WorkerStaked(msg.sender, amount, s.free);
        _baseToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IJobMarket
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert JobMarketZeroAmount();
        WorkerStake storage s = _stakes[msg.sender];
        if (s.free < amount) revert JobMarketInsufficientStake(msg.sender, s.free, amount);
        // Cannot underflow: checked just above.
        unchecked {
            s.free -= amount;
        }
        s.unstaking += amount;
        uint64 availableAt = uint64(block.timestamp) + _unstakeDelay;
        s.unstakeAvailableAt = availableAt;
        emit UnstakeRequested(msg.sender, amount, availableAt);
    }

    /// @inheritdoc IJobMarket
    function withdrawStake() external nonReentrant {
        WorkerStake storage s = _stakes[msg.sender];
        uint256 amount = s.unstaking;
        if (amount == 0) revert JobMarketNothingToWithdraw(msg.sender);
        if (block.timestamp < s.unstakeAvailableAt) revert JobMarketUnstakeNotReady(msg.sender, s.unstakeAvailableAt);
        s.unstaking = 0;
        emit StakeWithdrawn(msg.sender, amount);
        _baseToken.safeTransfer(msg.sender, amount);
    }

    // ─── Views ───────────────────────────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function getJob(uint256 jobId) external view returns (Job memory) {
        StoredJob storage j = _jobs[jobId];
        if (j.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
        return
            Job({
                requester: j.requester,
                deadline: j.deadline,
                kind: j.kind,
                status: j.status,
                worker: j.worker,
                submittedAt: j.submittedAt,
                challenger: j.challenger,
                challengedAt: j.challengedAt,
                modelId: j.modelId,
                fee: j.fee,
                collateral: j.collateral,
                inputHash: j.inputHash,
                receiptHash: j.receiptHash,
                childModelId: j.childModelId
            });
    }

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
    function stakeOf(address worker) external view returns (WorkerStake memory) {
        return _stakes[worker];
    }

    /// @inheritdoc IJobMarket
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc IJobMarket
    function config() external view returns (Config memory) {
        return
            Config({
                registry: address(_registry),
                baseToken: address(_baseToken),
                treasury: _treasury,
                arbiter: _arbiter,
                protocolFeeBps: _protocolFeeBps,
                collateralBps: _collateralBps,
                challengerRewardBps: _challengerRewardBps,
                challengeWindow: _challengeWindow,
                arbitrationWindow: _arbitrationWindow,
                unstakeDelay: _unstakeDelay,
                challengeBond: _challengeBond,
                minWorkerStake: _minWorkerStake
            });
    }

    /// @inheritdoc IJobMarket
    function collateralFor(uint256 fee) public view returns (uint256) {
        return (fee * _collateralBps) / _BPS;
    }

    // ─── Internals ───────────────────────────────────────────────────────────────────────────────────────────────

    /// @dev Checks and records a request (with its callback when `callback.gasLimit` ≠ 0), then orders 1 datatoken on
    /// Ocean for the requester and escrows the fee and the callback fee.
    function _request(
        JobRequest calldata r,
        address datatoken,
        bool frozen,
        Callback memory callback
    ) private returns (uint256 jobId) {
        if (frozen) revert JobMarketModelFrozen(r.modelId);
        if (r.fee == 0) revert JobMarketZeroFee();
        if (r.deadline <= block.timestamp) revert JobMarketInvalidDeadline(r.deadline, block.timestamp);
        JobParams.validate(r.kind, r.params);

        jobId = ++_jobCount;
        StoredJob storage j = _jobs[jobId];
        j.requester = msg.sender;
        j.deadline = r.deadline;
        j.kind = r.kind;
        j.status = JobStatus.Open;
        j.modelId = r.modelId;
        j.fee = r.fee;
        j.inputHash = r.inputHash;
        if (callback.gasLimit != 0) {
            j.callbackBits = _HAS_CALLBACK;
            j.callbackGasLimit = callback.gasLimit;
            if (callback.fee != 0) j.callbackFee = callback.fee;
        }
        emit JobRequested(jobId, r.modelId, msg.sender, r.kind, r.inputHash, r.inputURI, r.fee, r.deadline, r.params);
        if (callback.gasLimit != 0) emit CallbackRequested(jobId, msg.sender, callback.gasLimit, callback.fee);

        IERC20(datatoken).safeTransferFrom(msg.sender, address(this), _ONE_DATATOKEN);
        // A zero provider fee with a zero signature passes Ocean's check (ecrecover yields address 0); the template
        // sends 0.97 of the datatoken to its payment collector (the model's vault) and 0.03 to Ocean's collector.
        IOceanDatatoken(datatoken).startOrder(
            msg.sender,
            0,
            IOceanDatatoken.ProviderFee(address(0), address(0), 0, 0, bytes32(0), bytes32(0), 0, ""),
            IOceanDatatoken.ConsumeMarketFee(address(0), address(0), 0)
        );
        _baseToken.safeTransferFrom(msg.sender, address(this), r.fee + callback.fee);
    }

    /// @dev Pays the worker its fee minus the protocol fee (plus `bonus`, a lost challenge's bond, and the receipt
    /// hook's share of a callback fee), frees its collateral, returns a lapsed challenge's bond, then delivers.
    function _settle(uint256 jobId, StoredJob storage j, uint256 bonus, bool lapsedChallenge) private {
        j.status = JobStatus.Settled;
        address worker = j.worker;
        _release(worker, j.collateral);
        uint256 protocolFee = (j.fee * _protocolFeeBps) / _BPS;
        uint256 payout = j.fee - protocolFee;
        emit JobSettled(jobId, j.modelId, worker, payout, protocolFee);
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        if (msg.sender == worker) {
            // One transfer when the worker settles its own job (the usual case).
            (receiptShare, outcomeShare) = (receiptShare + outcomeShare, 0);
        }
        _baseToken.safeTransfer(worker, payout + bonus + receiptShare);
        if (protocolFee != 0) _baseToken.safeTransfer(_treasury, protocolFee);
        // The arbiter did not decide in time: the receipt stands and the challenger gets the bond back.
        if (lapsedChallenge) _baseToken.safeTransfer(j.challenger, _challengeBond);
        _finish(jobId, j, JobStatus.Settled, outcomeShare);
    }

    /// @dev The two shares of a job's callback fee: the receipt hook's (rounded up) and the outcome hook's. (0, 0) for a
    /// job without callback, without reading the callback fee's slot.
    function _callbackShares(StoredJob storage j) private view returns (uint256 receiptShare, uint256 outcomeShare) {
        if (j.callbackBits & _HAS_CALLBACK == 0) return (0, 0);
        uint256 fee = j.callbackFee;
        outcomeShare = fee / 2;
        receiptShare = fee - outcomeShare;
    }

    /// @dev Last step of every transition into a terminal state that calls back: pays the caller the outcome hook's
    /// share, then delivers the outcome to the requester.
    function _finish(uint256 jobId, StoredJob storage j, JobStatus outcome, uint256 outcomeShare) private {
        if (j.callbackBits & _HAS_CALLBACK == 0) return;
        if (outcomeShare != 0) _baseToken.safeTransfer(msg.sender, outcomeShare);
        _deliver(jobId, j, outcome, abi.encodeCall(IJobMarketConsumer.onJobOutcome, (jobId, outcome, j.receiptHash)));
    }

    /// @dev Calls the requester's hook with `data` (built in memory beforehand) and exactly `gasLimit` gas, records a
    /// failure, and never reverts because of the hook. The job's state and the transition's payments are final before
    /// the call, and the reentrancy guard is held: a hook that calls back into the market fails like any other.
    function _deliver(uint256 jobId, StoredJob storage j, JobStatus stage, bytes memory data) private {
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

    /// @dev Returns a job's collateral from the worker's locked stake to its free stake.
    function _release(address worker, uint256 collateral) private {
        WorkerStake storage s = _stakes[worker];
        s.locked -= collateral;
        s.free += collateral;
    }

    function _permit(address token, uint256 value, Permit calldata p) private {
        if (p.deadline == 0) return;
        // A permit that fails (already used by a front-runner, or a token without permit) is ignored: the transfer
        // that follows then needs an allowance and fails with the token's own error otherwise.
        // solhint-disable-next-line no-empty-blocks
        try IERC20Permit(token).permit(msg.sender, address(this), value, p.deadline, p.v, p.r, p.s) {} catch {}
    }

    function _jobInStatus(uint256 jobId, JobStatus expected) private view returns (StoredJob storage j) {
        j = _jobs[jobId];
        if (j.status != expected) _revertStatus(jobId, j.status);
    }

    function _revertStatus(uint256 jobId, JobStatus status) private pure {
        if (status == JobStatus.None) revert JobMarketUnknownJob(jobId);
        revert JobMarketUnexpectedStatus(jobId, status);
    }
}
