// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {
    IJobMarket,
    JOB_MARKET_MAX_CALLBACK_GAS,
    JOB_MARKET_REQUESTER_FAULTS,
    JOB_MARKET_WEIGHTS_ROOT_TAKEN
} from "./interfaces/IJobMarket.sol";
import {IJobMarketConsumer} from "./interfaces/IJobMarketConsumer.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IOceanDatatoken} from "./ocean/IOceanDatatoken.sol";
import {JobParams} from "./libraries/JobParams.sol";
import {WorkerStakes} from "./WorkerStakes.sol";
import {JobMarketBase} from "./JobMarketBase.sol";

/// @title JobMarket
/// @notice Escrowed training, inference and evaluation jobs on PostHuman models; see IJobMarket.
/// @dev Every payout happens in a transition out of a non-terminal state, after the state is written (checks,
/// effects, interactions) and under a reentrancy guard. The contract's base-token balance always equals the fees and
/// callback fees of non-terminal jobs + all worker stakes (free, locked, unstaking) + the bonds of challenged jobs; it
/// holds one datatoken of a model per non-terminal job on it.
/// A callback to a requester is always the last thing a transition does: the job's state and every payment of the
/// transition are final before the call, and the guard is still held during it.
contract JobMarket is JobMarketBase, EIP712 {
    using SafeERC20 for IERC20;

    /// @notice Upper bound of the protocol fee: 10%.
    uint256 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint256 private constant _BPS = 10_000;
    /// @dev An Ocean order always consumes exactly one datatoken.
    uint256 private constant _ONE_DATATOKEN = 1e18;
    /// @dev EIP-712 type hash of the worker's input acknowledgement (folded at compile time: no string at run time).
    // solhint-disable-next-line gas-small-strings
    bytes32 private constant _INPUT_RECEIVED_TYPEHASH = keccak256("InputReceived(uint256 jobId,bytes32 inputHash)");

    IModelRegistry private immutable _registry;
    address private immutable _treasury;
    address private immutable _arbiter;
    uint16 private immutable _protocolFeeBps;
    uint16 private immutable _collateralBps;
    uint16 private immutable _challengerRewardBps;
    uint16 private immutable _failPenaltyBps;
    uint16 private immutable _maxDepth;
    uint64 private immutable _challengeWindow;
    uint64 private immutable _arbitrationWindow;
    uint256 private immutable _challengeBond;
    uint256 private immutable _callbackGasPrice;

    /// @dev Fails on a zero address, a fee above the cap, a reward or penalty above 100%, an arbitration window not
    /// longer than the challenge window, or a registry bound to another market.
    constructor(
        Config memory cfg
    ) WorkerStakes(IERC20(cfg.baseToken), cfg.unstakeDelay, cfg.minWorkerStake) EIP712("PostHuman JobMarket", "1") {
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
        if (cfg.failPenaltyBps > _BPS) revert JobMarketInvalidBps(cfg.failPenaltyBps);
        // No collateral, nothing to slash: a receipt proved wrong, a failure or a missed deadline would cost nothing.
        if (cfg.collateralBps == 0) revert JobMarketInvalidBps(0);
        // The arbiter decides a third party's challenge after a challenge window (the requester's join period).
        if (cfg.arbitrationWindow <= cfg.challengeWindow) {
            revert JobMarketInvalidWindows(cfg.challengeWindow, cfg.arbitrationWindow);
        }
        IModelRegistry.Config memory registryConfig = IModelRegistry(cfg.registry).config();
        if (registryConfig.jobMarket != address(this)) revert JobMarketRegistryMismatch(registryConfig.jobMarket);
        _registry = IModelRegistry(cfg.registry);
        _treasury = cfg.treasury;
        _arbiter = cfg.arbiter;
        _protocolFeeBps = cfg.protocolFeeBps;
        _collateralBps = cfg.collateralBps;
        _challengerRewardBps = cfg.challengerRewardBps;
        _failPenaltyBps = cfg.failPenaltyBps;
        _maxDepth = registryConfig.maxDepth;
        _challengeWindow = cfg.challengeWindow;
        _arbitrationWindow = cfg.arbitrationWindow;
        _challengeBond = cfg.challengeBond;
        _callbackGasPrice = cfg.callbackGasPrice;
    }

    // ─── Requests ────────────────────────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function requestJob(JobRequest calldata request) external nonReentrant returns (uint256 jobId) {
        return _request(request, _datatokenFor(request), Callback(0, 0));
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
        // Two deliveries of up to gasLimit each, paid by the requester at a price per gas: no heavy hook for free.
        uint256 required = 2 * uint256(gasLimit) * _callbackGasPrice;
        if (callback.fee < required) revert JobMarketCallbackFeeTooLow(callback.fee, required);
        // The hooks are called on the requester: an account without code could never run them.
        if (msg.sender.code.length == 0) revert JobMarketCallbackConsumerNotContract(msg.sender);
        return _request(request, _datatokenFor(request), callback);
    }

    /// @inheritdoc IJobMarket
    function requestJobWithPermit(
        JobRequest calldata request,
        Permit calldata datatokenPermit,
        Permit calldata feePermit
    ) external nonReentrant returns (uint256 jobId) {
        address datatoken = _datatokenFor(request);
        _permit(datatoken, _ONE_DATATOKEN, datatokenPermit);
        _permit(address(_baseToken), request.fee, feePermit);
        return _request(request, datatoken, Callback(0, 0));
    }

    /// @inheritdoc IJobMarket
    function cancelJob(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Open);
        if (msg.sender != j.requester) revert JobMarketNotRequester(jobId, msg.sender);
        j.status = JobStatus.Cancelled;
        emit JobCancelled(jobId, j.modelId, msg.sender, j.fee);
        // No delivery happened: the whole callback fee goes back with the fee and the datatoken. The requester cancels,
        // so it is not called back.
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        _refund(j, j.fee + receiptShare + outcomeShare);
    }

    // ─── Work ────────────────────────────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function claimJob(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Open);
        uint64 deadline = j.deadline;
        if (block.timestamp > deadline) revert JobMarketLeaseExpired(jobId, deadline);
        uint256 modelId = j.modelId;
        (, bool frozen, ) = _registry.modelStatus(modelId);
        // A Train job on a model at maxDepth was refused at its request; a frozen model refuses receipts.
        if (frozen) revert JobMarketModelFrozen(modelId);
        if (j.flags & _INDEPENDENT != 0) {
            // The model's makers: its owner (publisher, or requester of its training) and its training's worker.
            (address owner, uint256 trainingJob) = _registry.makersOf(modelId);
            if (msg.sender == owner || msg.sender == _jobs[trainingJob].worker) {
                revert JobMarketNotIndependent(jobId, msg.sender);
            }
        }
        uint256 collateral = collateralFor(j.fee);
        _lock(msg.sender, collateral);
        j.worker = msg.sender;
        j.status = JobStatus.Claimed;
        emit JobClaimed(jobId, modelId, msg.sender, collateral, deadline);
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
        // A model frozen after the claim (its training was proved wrong) takes no receipt: the claimant fails the job
        // at no cost instead (failJob), and the requester gets everything back.
        (, bool frozen, ) = _registry.modelStatus(modelId);
        if (frozen) revert JobMarketModelFrozen(modelId);
        // A weights root belongs to exactly one model: the served root is this model's iff the registry maps it back.
        if (_registry.modelOfWeightsRoot(receipt.servedWeightsRoot) != modelId) {
            (, bytes32 weightsRoot, , ) = _registry.modelForJob(modelId);
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
                    committer: msg.sender,
                    weightsRoot: receipt.childWeightsRoot,
                    configHash: receipt.childConfigHash,
                    dataHash: j.inputHash,
                    metadataURI: receipt.outputURI,
                    metric: receipt.metrics.valLossAfter
                })
            );
            // Cannot truncate: model ids are a counter.
            j.childModelId = uint64(childModelId);
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
        j.failReason = reason;
        uint256 collateral = collateralFor(j.fee);
        uint256 penalty;
        if (_modelBlocker(j.kind, j.modelId) != SubmitBlocker.None) {
            // The job became impossible through no fault of the worker (its model was frozen after the claim).
            _unlock(msg.sender, collateral, 0);
        } else if (_blamesRequester(reason)) {
            // Free for the worker, unless its signed input acknowledgement shows up within the dispute window.
            j.flags |= _COLLATERAL_HELD;
            j.submittedAt = uint64(block.timestamp);
        } else {
            penalty = (collateral * _failPenaltyBps) / _BPS;
            _unlock(msg.sender, collateral, penalty);
        }
        // A Train job's taken child root: its penalty is the treasury's, since paid to the requester it would reward
        // registering the root first. Only a Train job has a child root: any other job's penalty is the requester's.
        uint256 toRequester = reason == JOB_MARKET_WEIGHTS_ROOT_TAKEN && j.kind == JobKind.Train ? 0 : penalty;
        emit JobFailed(jobId, j.modelId, msg.sender, reason, j.fee + toRequester);
        if (penalty != 0) emit WorkerPenalized(jobId, msg.sender, reason, penalty);
        if (penalty != toRequester) _baseToken.safeTransfer(_treasury, penalty);
        // No receipt was delivered: its share goes back to the requester; the claimant delivers the outcome.
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        _refund(j, j.fee + receiptShare + toRequester);
        _finish(jobId, j, JobStatus.Failed, outcomeShare);
    }

    /// @inheritdoc IJobMarket
    function disputeFailure(uint256 jobId, bytes calldata inputAck) external nonReentrant {
        StoredJob storage j = _heldFailure(jobId);
        uint64 closesAt = j.submittedAt + _challengeWindow;
        if (block.timestamp > closesAt) revert JobMarketDisputeWindowClosed(jobId, closesAt);
        address worker = j.worker;
        bytes32 digest = _inputAckDigest(jobId, j.inputHash);
        // ECDSA only: an acknowledgement must stay a proof once given. An ERC-1271 answer is read at the dispute, and a
        // contract worker could withdraw it in the transaction that fails the job.
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, inputAck);
        if (err != ECDSA.RecoverError.NoError || signer != worker) revert JobMarketInvalidInputAck(jobId, worker);
        j.status = JobStatus.Slashed;
        j.flags &= ~_COLLATERAL_HELD;
        uint256 collateral = collateralFor(j.fee);
        _unlock(worker, collateral, collateral);
        emit FailureDisputed(jobId, worker, msg.sender, collateral);
        emit WorkerPenalized(jobId, worker, j.failReason, collateral);
        _baseToken.safeTransfer(j.requester, collateral);
    }

    /// @inheritdoc IJobMarket
    function releaseFailureCollateral(uint256 jobId) external nonReentrant {
        StoredJob storage j = _heldFailure(jobId);
        uint64 closesAt = j.submittedAt + _challengeWindow;
        if (block.timestamp <= closesAt) revert JobMarketDisputeWindowOpen(jobId, closesAt);
        j.flags &= ~_COLLATERAL_HELD;
        uint256 collateral = collateralFor(j.fee);
        _unlock(j.worker, collateral, 0);
        emit FailureCollateralReleased(jobId, j.worker, collateral);
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
            uint256 collateral = collateralFor(j.fee);
            // A job whose model was frozen after the claim could not be finished: the claimant is not to blame.
            if (_modelBlocker(j.kind, j.modelId) == SubmitBlocker.None) slashed = collateral;
            _unlock(j.worker, collateral, slashed);
        }
        emit JobReclaimed(jobId, j.modelId, j.requester, j.worker, j.fee, slashed);
        // No receipt was delivered: its share goes back to the requester; the caller delivers the outcome.
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        _refund(j, j.fee + slashed + receiptShare);
        _finish(jobId, j, JobStatus.Reclaimed, outcomeShare);
    }

    // ─── Challenges and settlement ───────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function challengeReceipt(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobs[jobId];
        JobStatus status = j.status;
        if (status != JobStatus.Submitted && status != JobStatus.Challenged) _revertStatus(jobId, status);
        // A claimant challenging its own receipt would take the only slot and, if upheld, win back its own collateral.
        if (msg.sender == j.worker) revert JobMarketClaimantCannotChallenge(jobId);
        if (status == JobStatus.Submitted) {
            uint64 closesAt = j.submittedAt + _challengeWindow;
            if (block.timestamp > closesAt) revert JobMarketChallengeWindowClosed(jobId, closesAt);
            j.status = JobStatus.Challenged;
            j.challenger = msg.sender;
            j.challengedAt = uint64(block.timestamp);
        } else {
            // Someone holds the challenge: the requester, and only it, may still join it for a challenge window from
            // the challenge, so an accomplice of the worker cannot lock the requester out or collect the reward in its
            // place. The arbiter decides only after that join period: nobody joins having seen the decision.
            address challenger = j.challenger;
            if (msg.sender != j.requester || challenger == msg.sender || j.flags & _REQUESTER_JOINED != 0) {
                revert JobMarketAlreadyChallenged(jobId, challenger);
            }
            uint64 joinClosesAt = j.challengedAt + _challengeWindow;
            if (block.timestamp > joinClosesAt) revert JobMarketChallengeWindowClosed(jobId, joinClosesAt);
            j.flags |= _REQUESTER_JOINED;
        }
        emit JobChallenged(jobId, j.modelId, msg.sender, _challengeBond);
        _baseToken.safeTransferFrom(msg.sender, address(this), _challengeBond);
    }

    /// @inheritdoc IJobMarket
    function resolveChallenge(uint256 jobId, bool upheld) external nonReentrant {
        if (msg.sender != _arbiter) revert JobMarketNotArbiter(msg.sender);
        StoredJob storage j = _jobInStatus(jobId, JobStatus.Challenged);
        address challenger = j.challenger;
        bool joined = j.flags & _REQUESTER_JOINED != 0;
        // A third party's challenge the requester may still join (see challengeReceipt) is decided after that.
        uint64 joinClosesAt = j.challengedAt + _challengeWindow;
        if (!joined && challenger != j.requester && block.timestamp <= joinClosesAt) {
            revert JobMarketChallengeWindowOpen(jobId, joinClosesAt);
        }
        if (!upheld) {
            emit ChallengeResolved(jobId, j.modelId, challenger, false, 0);
            // A frivolous challenge costs its bond: every bond goes to the worker.
            _settle(jobId, j, joined ? 2 * _challengeBond : _challengeBond);
            return;
        }
        j.status = JobStatus.Slashed;
        uint256 slashed = collateralFor(j.fee);
        _unlock(j.worker, slashed, slashed);
        emit ChallengeResolved(jobId, j.modelId, challenger, true, slashed);
        if (j.childModelId != 0) _registry.freezeModel(j.childModelId);
        address requester = j.requester;
        // The slashed collateral goes to the requester, but for the reward: the challenger's, none of it when the
        // requester challenged first, half when it joined. Half, not all, either way round: a worker's accomplice
        // holding the challenge gains half while the worker loses the whole collateral, and a worker's accomplice that
        // requested the job (to get a slash back by joining) still loses half to the one who proved the receipt wrong.
        uint256 reward = (slashed * _challengerRewardBps) / _BPS;
        if (challenger == requester) reward = 0;
        else if (joined) reward /= 2;
        uint256 toChallenger = _challengeBond + reward;
        uint256 toRequester = j.fee + slashed - reward + (joined ? _challengeBond : 0);
        if (challenger == requester) (toRequester, toChallenger) = (toRequester + toChallenger, 0);
        // The receipt was wrong: the worker forfeits the receipt hook's share to the requester.
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        _refund(j, toRequester + receiptShare);
        if (toChallenger != 0) _baseToken.safeTransfer(challenger, toChallenger);
        _finish(jobId, j, JobStatus.Slashed, outcomeShare);
    }

    /// @inheritdoc IJobMarket
    function settleJob(uint256 jobId) external nonReentrant {
        StoredJob storage j = _jobs[jobId];
        JobStatus status = j.status;
        if (status == JobStatus.Submitted) {
            uint64 closesAt = j.submittedAt + _challengeWindow;
            if (block.timestamp <= closesAt) revert JobMarketChallengeWindowOpen(jobId, closesAt);
            _settle(jobId, j, 0);
        } else if (status == JobStatus.Challenged) {
            uint64 lapsesAt = j.challengedAt + _arbitrationWindow;
            if (block.timestamp <= lapsesAt) revert JobMarketArbitrationPending(jobId, lapsesAt);
            // Nobody proved the receipt wrong in time: it stands, and the challenge bonds go to the worker.
            _settle(jobId, j, j.flags & _REQUESTER_JOINED != 0 ? 2 * _challengeBond : _challengeBond);
        } else {
            _revertStatus(jobId, status);
        }
    }

    // ─── Views ───────────────────────────────────────────────────────────────────────────────────────────────────

    /// @inheritdoc IJobMarket
    function getJob(uint256 jobId) external view returns (Job memory) {
        StoredJob storage j = _jobs[jobId];
        if (j.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
        address worker = j.worker;
        return
            Job({
                requester: j.requester,
                deadline: j.deadline,
                kind: j.kind,
                status: j.status,
                worker: worker,
                submittedAt: j.submittedAt,
                challenger: j.challenger,
                challengedAt: j.challengedAt,
                modelId: j.modelId,
                fee: j.fee,
                collateral: worker == address(0) ? 0 : collateralFor(j.fee),
                inputHash: j.inputHash,
                receiptHash: j.receiptHash,
                childModelId: j.childModelId
            });
    }

    /// @inheritdoc IJobMarket
    function failureOf(uint256 jobId) external view returns (uint32 reason, bool collateralHeld) {
        StoredJob storage j = _jobs[jobId];
        if (j.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
        return (j.failReason, j.flags & _COLLATERAL_HELD != 0);
    }

    /// @inheritdoc IJobMarket
    function submitBlocker(uint256 jobId) public view returns (SubmitBlocker) {
        StoredJob storage j = _jobs[jobId];
        if (j.status != JobStatus.Open && j.status != JobStatus.Claimed) return SubmitBlocker.NotLive;
        if (block.timestamp > j.deadline) return SubmitBlocker.DeadlinePassed;
        return _modelBlocker(j.kind, j.modelId);
    }

    /// @inheritdoc IJobMarket
    function isSubmittable(uint256 jobId) external view returns (bool) {
        return submitBlocker(jobId) == SubmitBlocker.None;
    }

    /// @inheritdoc IJobMarket
    function inputAckDigest(uint256 jobId, bytes32 inputHash) external view returns (bytes32) {
        return _inputAckDigest(jobId, inputHash);
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
                minWorkerStake: _minWorkerStake,
                callbackGasPrice: _callbackGasPrice,
                failPenaltyBps: _failPenaltyBps
            });
    }

    /// @inheritdoc IJobMarket
    function collateralFor(uint256 fee) public view returns (uint256) {
        return (fee * _collateralBps) / _BPS;
    }

    // ─── Internals ───────────────────────────────────────────────────────────────────────────────────────────────

    /// @dev The datatoken of the requested model, after refusing what could never be submitted: a frozen model, and a
    /// Train job whose child would be deeper than the registry allows.
    function _datatokenFor(JobRequest calldata r) private view returns (address datatoken) {
        bool frozen;
        uint16 generation;
        (datatoken, frozen, generation) = _registry.modelStatus(r.modelId);
        if (frozen) revert JobMarketModelFrozen(r.modelId);
        if (r.kind == JobKind.Train && generation >= _maxDepth) {
            revert JobMarketLineageTooDeep(r.modelId, uint256(generation) + 1, _maxDepth);
        }
    }

    /// @dev Checks and records a request (with its callback when `callback.gasLimit` ≠ 0), then escrows 1 datatoken,
    /// the fee and the callback fee.
    function _request(
        JobRequest calldata r,
        address datatoken,
        Callback memory callback
    ) private returns (uint256 jobId) {
        if (r.fee == 0) revert JobMarketZeroFee();
        if (r.fee + callback.fee > type(uint96).max)
            revert JobMarketFeeTooLarge(r.fee + callback.fee, type(uint96).max);
        if (r.deadline <= block.timestamp) revert JobMarketInvalidDeadline(r.deadline, block.timestamp);
        JobParams.validate(r.kind, r.params);

        jobId = ++_jobCount;
        StoredJob storage j = _jobs[jobId];
        j.requester = msg.sender;
        j.deadline = r.deadline;
        j.kind = r.kind;
        j.status = JobStatus.Open;
        // Cannot truncate: the model exists (the registry answered), and ids are a counter; the fee is checked above.
        j.modelId = uint64(r.modelId);
        j.fee = uint96(r.fee);
        j.inputHash = r.inputHash;
        if (r.kind == JobKind.Evaluate && JobParams.independent(r.params)) j.flags = _INDEPENDENT;
        if (callback.gasLimit != 0) {
            j.callbackBits = _HAS_CALLBACK;
            j.callbackGasLimit = callback.gasLimit;
            if (callback.fee != 0) j.callbackFee = callback.fee;
        }
        emit JobRequested(jobId, r.modelId, msg.sender, r.kind, r.inputHash, r.inputURI, r.fee, r.deadline, r.params);
        if (callback.gasLimit != 0) emit CallbackRequested(jobId, msg.sender, callback.gasLimit, callback.fee);
        IERC20(datatoken).safeTransferFrom(msg.sender, address(this), _ONE_DATATOKEN);
        _baseToken.safeTransferFrom(msg.sender, address(this), r.fee + callback.fee);
    }

    /// @dev Pays the worker its fee minus the protocol fee (plus `bonus`, the bonds of a lost or lapsed challenge, and
    /// the receipt hook's share of a callback fee), frees its collateral, consumes the escrowed datatoken through an
    /// Ocean order for the requester, then delivers.
    function _settle(uint256 jobId, StoredJob storage j, uint256 bonus) private {
        j.status = JobStatus.Settled;
        address worker = j.worker;
        uint256 fee = j.fee;
        _unlock(worker, collateralFor(fee), 0);
        uint256 protocolFee = (fee * _protocolFeeBps) / _BPS;
        uint256 payout = fee - protocolFee;
        emit JobSettled(jobId, j.modelId, worker, payout, protocolFee);
        (uint256 receiptShare, uint256 outcomeShare) = _callbackShares(j);
        if (msg.sender == worker) {
            // One transfer when the worker settles its own job (the usual case).
            (receiptShare, outcomeShare) = (receiptShare + outcomeShare, 0);
        }
        // A zero provider fee with a zero signature passes Ocean's check (ecrecover yields address 0); the template
        // sends 0.97 of the datatoken to its payment collector (the model's vault) and 0.03 to Ocean's collector, and
        // emits OrderStarted with the requester as consumer.
        (address datatoken, bool frozen, ) = _registry.modelStatus(j.modelId);
        if (frozen) {
            // The model was proved fabricated after the receipt: the worker ran it as asked and is paid, but the
            // requester does not pay the model (its frozen vault would burn the datatoken): the datatoken goes back.
            IERC20(datatoken).safeTransfer(j.requester, _ONE_DATATOKEN);
        } else {
            IOceanDatatoken(datatoken).startOrder(
                j.requester,
                0,
                IOceanDatatoken.ProviderFee(address(0), address(0), 0, 0, bytes32(0), bytes32(0), 0, ""),
                IOceanDatatoken.ConsumeMarketFee(address(0), address(0), 0)
            );
        }
        _baseToken.safeTransfer(worker, payout + bonus + receiptShare);
        if (protocolFee != 0) _baseToken.safeTransfer(_treasury, protocolFee);
        _finish(jobId, j, JobStatus.Settled, outcomeShare);
    }

    /// @dev Pays `amount` of the base token and returns the escrowed datatoken to the requester of a job that did not
    /// settle.
    function _refund(StoredJob storage j, uint256 amount) private {
        address requester = j.requester;
        IERC20(_datatokenOf(j.modelId)).safeTransfer(requester, _ONE_DATATOKEN);
        _baseToken.safeTransfer(requester, amount);
    }

    function _callbackGasPriceOf() internal view override returns (uint256) {
        return _callbackGasPrice;
    }

    function _datatokenOf(uint256 modelId) private view returns (address datatoken) {
        (datatoken, , ) = _registry.modelStatus(modelId);
    }

    /// @dev What about the model would stop a receipt of a job of this kind (None: nothing).
    function _modelBlocker(JobKind kind, uint256 modelId) private view returns (SubmitBlocker) {
        (, bool frozen, uint16 generation) = _registry.modelStatus(modelId);
        if (frozen) return SubmitBlocker.ModelFrozen;
        if (kind == JobKind.Train && generation >= _maxDepth) return SubmitBlocker.LineageTooDeep;
        return SubmitBlocker.None;
    }

    function _blamesRequester(uint32 reason) private pure returns (bool) {
        return reason < 256 && (JOB_MARKET_REQUESTER_FAULTS >> reason) & 1 == 1;
    }

    /// @dev A Failed job whose collateral is held for its dispute window.
    function _heldFailure(uint256 jobId) private view returns (StoredJob storage j) {
        j = _jobInStatus(jobId, JobStatus.Failed);
        if (j.flags & _COLLATERAL_HELD == 0) revert JobMarketNotDisputable(jobId);
    }

    function _inputAckDigest(uint256 jobId, bytes32 inputHash) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_INPUT_RECEIVED_TYPEHASH, jobId, inputHash)));
    }
}
