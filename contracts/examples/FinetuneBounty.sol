// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {IJobMarketConsumer} from "../interfaces/IJobMarketConsumer.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IFinetuneBounty} from "./IFinetuneBounty.sol";

/// @title FinetuneBounty (example consumer of PostHuman callbacks)
/// @notice Pays a reward once, to the owner of the first finetune of a model whose evaluation on a named dataset
/// settles below a target loss; see IFinetuneBounty. Written as an example: it only uses the public interfaces
/// (`contracts/interfaces/`), as a contract installed from the npm package would.
/// @dev Hooks do little (a few storage writes, at most one registry read and one transfer) so that a modest
/// callback gas limit covers them; nothing in them can revert for a job of this bounty but a failed reward transfer.
contract FinetuneBounty is IFinetuneBounty, IERC1271 {
    using SafeERC20 for IERC20;

    /// @dev What a model's entries have come to.
    enum ModelState {
        None,
        Evaluating,
        Judged
    }

    IJobMarket private immutable _market;
    IModelRegistry private immutable _registry;
    IERC20 private immutable _baseToken;
    /// @notice Deployed the bounty; may withdraw what is left, and signs for it where a signature of the requester is
    /// needed (ERC-1271: a worker's API asks the requester to sign the input upload and the result request).
    address public immutable sponsor;

    Terms private _terms;
    uint256 private _winningModelId;
    uint256 private _openEvaluations;
    mapping(uint256 jobId => Entry) private _entries;
    mapping(uint256 modelId => ModelState) private _models;
    /// @dev Who paid an evaluation (and gets it back if it does not settle).
    mapping(uint256 jobId => address entrant) private _entrantOf;

    constructor(IJobMarket market, Terms memory terms_) {
        _market = market;
        IJobMarket.Config memory cfg = market.config();
        _registry = IModelRegistry(cfg.registry);
        _baseToken = IERC20(cfg.baseToken);
        sponsor = msg.sender;
        _terms = terms_;
    }

    modifier onlyJobMarket() {
        if (msg.sender != address(_market)) revert FinetuneBountyNotJobMarket(msg.sender);
        _;
    }

    /// @inheritdoc IFinetuneBounty
    function enter(uint256 modelId) external returns (uint256 jobId) {
        Terms storage t = _terms;
        if (_winningModelId != 0) revert FinetuneBountyWon(_winningModelId);
        if (block.timestamp > t.expiresAt) revert FinetuneBountyExpired(t.expiresAt);
        uint256[] memory up = _registry.ancestors(modelId, t.maxGenerations);
        uint256 below = _indexOf(up, t.baseModelId, modelId, t.maxGenerations);
        IModelRegistry.Model memory model = _registry.getModel(modelId);
        if (msg.sender != model.owner) revert FinetuneBountyNotOwner(modelId, model.owner, msg.sender);
        if (_models[modelId] != ModelState.None) revert FinetuneBountyAlreadyEntered(modelId);
        uint256 balance = _baseToken.balanceOf(address(this));
        if (balance < t.reward) revert FinetuneBountyUnderfunded(balance, t.reward);
        // The model, and every model between it and the base, must come from a training job whose receipt can no
        // longer be proved wrong: a finetune of a fabricated (or frozen) parent does not compete.
        IJobMarket.Job memory training = _market.getJob(model.jobId);
        if (training.status != IJobMarket.JobStatus.Settled) {
            revert FinetuneBountyTrainingNotSettled(modelId, model.jobId);
        }
        _requireSettled(up, below);

        address datatoken = model.datatoken;
        uint256 cost = t.evalFee + t.callbackFee;
        _models[modelId] = ModelState.Evaluating;
        ++_openEvaluations;
        IERC20(datatoken).safeTransferFrom(msg.sender, address(this), 1e18);
        // The entrant pays its evaluation: entries cannot drain the sponsor's reward.
        _baseToken.safeTransferFrom(msg.sender, address(this), cost);
        IERC20(datatoken).forceApprove(address(_market), 1e18);
        _baseToken.forceApprove(address(_market), cost);
        jobId = _market.requestJobWithCallback(
            IJobMarket.JobRequest({
                modelId: modelId,
                kind: IJobMarket.JobKind.Evaluate,
                inputHash: t.datasetHash,
                inputURI: t.datasetURI,
                fee: t.evalFee,
                deadline: uint64(block.timestamp) + t.evalLease,
                params: abi.encode(
                    IJobMarket.EvaluateParams({
                        benchmarkId: t.benchmarkId,
                        contextLength: t.contextLength,
                        maxTokens: t.maxTokens,
                        independent: true
                    })
                )
            }),
            IJobMarket.Callback({gasLimit: t.callbackGasLimit, fee: t.callbackFee})
        );
        _entries[jobId] = Entry({modelId: modelId, loss: 0, state: EntryState.Evaluating, receiptHash: bytes32(0)});
        _entrantOf[jobId] = msg.sender;
        emit EntryRequested(jobId, modelId, msg.sender);
    }

    /// @inheritdoc IFinetuneBounty
    function challenge(uint256 jobId) external {
        if (msg.sender != sponsor) revert FinetuneBountyNotSponsor(msg.sender);
        if (_entries[jobId].state != EntryState.Evaluating) revert FinetuneBountyUnknownEntry(jobId);
        uint256 bond = _market.config().challengeBond;
        _baseToken.safeTransferFrom(msg.sender, address(this), bond);
        _baseToken.forceApprove(address(_market), bond);
        _market.challengeReceipt(jobId);
    }

    /// @inheritdoc IJobMarketConsumer
    function onJobReceipt(
        uint256 jobId,
        IJobMarket.JobKind,
        uint256,
        IJobMarket.Receipt calldata receipt,
        uint256
    ) external onlyJobMarket {
        Entry storage e = _entries[jobId];
        if (e.state != EntryState.Evaluating) return;
        _record(jobId, e, receipt);
    }

    /// @inheritdoc IJobMarketConsumer
    function onJobOutcome(uint256 jobId, IJobMarket.JobStatus outcome, bytes32 receiptHash) external onlyJobMarket {
        Entry storage e = _entries[jobId];
        if (e.state != EntryState.Evaluating) return;
        // A Settled outcome whose receipt this bounty never recorded waits for `recordReceipt`.
        if (outcome == IJobMarket.JobStatus.Settled && (receiptHash == bytes32(0) || e.receiptHash != receiptHash)) {
            return;
        }
        _end(jobId, e, outcome);
    }

    /// @inheritdoc IFinetuneBounty
    function recordReceipt(uint256 jobId, IJobMarket.Receipt calldata receipt) external {
        Entry storage e = _entries[jobId];
        if (e.state != EntryState.Evaluating) revert FinetuneBountyUnknownEntry(jobId);
        bytes32 onChain = _market.getJob(jobId).receiptHash;
        bytes32 given = keccak256(abi.encode(receipt));
        if (given != onChain) revert FinetuneBountyReceiptMismatch(jobId, onChain, given);
        _record(jobId, e, receipt);
        _sync(jobId, e);
    }

    /// @inheritdoc IFinetuneBounty
    function syncOutcome(uint256 jobId) external {
        Entry storage e = _entries[jobId];
        if (e.state != EntryState.Evaluating) revert FinetuneBountyUnknownEntry(jobId);
        _sync(jobId, e);
    }

    /// @inheritdoc IFinetuneBounty
    function withdraw(address to) external {
        if (msg.sender != sponsor) revert FinetuneBountyNotSponsor(msg.sender);
        if (_winningModelId == 0 && (block.timestamp <= _terms.expiresAt || _openEvaluations != 0)) {
            revert FinetuneBountyStillOpen(_terms.expiresAt, _openEvaluations);
        }
        // What an open evaluation may get back from the market is its entrant's, paid when the entry ends: kept here,
        // as a hook that missed its call leaves a refund in the bounty until `syncOutcome`.
        uint256 owed = _openEvaluations * (_terms.evalFee + (_terms.callbackFee - _terms.callbackFee / 2));
        uint256 balance = _baseToken.balanceOf(address(this));
        uint256 amount = balance > owed ? balance - owed : 0;
        emit Withdrawn(to, amount);
        _baseToken.safeTransfer(to, amount);
    }

    /// @notice ERC-1271: a signature by the sponsor is the bounty's signature.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == sponsor ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    /// @inheritdoc IFinetuneBounty
    function terms() external view returns (Terms memory) {
        return _terms;
    }

    /// @inheritdoc IFinetuneBounty
    function entryOf(uint256 jobId) external view returns (Entry memory) {
        return _entries[jobId];
    }

    /// @inheritdoc IFinetuneBounty
    function status() external view returns (uint256 winningModelId, uint256 openEvaluations) {
        return (_winningModelId, _openEvaluations);
    }

    function _record(uint256 jobId, Entry storage e, IJobMarket.Receipt calldata receipt) private {
        e.loss = receipt.metrics.evalLoss;
        e.receiptHash = keccak256(abi.encode(receipt));
        emit EntryEvaluated(jobId, e.modelId, e.loss);
    }

    /// @dev Ends the entry if its job ended; a Settled job needs its receipt recorded first.
    function _sync(uint256 jobId, Entry storage e) private {
        IJobMarket.JobStatus s = _market.getJob(jobId).status;
        bool ended =
            s == IJobMarket.JobStatus.Slashed ||
                s == IJobMarket.JobStatus.Failed ||
                s == IJobMarket.JobStatus.Reclaimed ||
                (s == IJobMarket.JobStatus.Settled && e.receiptHash != bytes32(0));
        if (ended) _end(jobId, e, s);
    }

    /// @dev Closes an entry. A Settled evaluation is judged, and the model may not enter again (it was requested as
    /// independent: neither the model's trainer nor its owner could claim it); any other outcome lets the model enter
    /// again, and one that did not settle gives the entrant back what the market refunded for it. Pays the reward when
    /// this one wins: state first, transfer last.
    function _end(uint256 jobId, Entry storage e, IJobMarket.JobStatus outcome) private {
        e.state = EntryState.Ended;
        --_openEvaluations;
        uint256 modelId = e.modelId;
        if (outcome != IJobMarket.JobStatus.Settled) {
            _models[modelId] = ModelState.None;
            emit EntryEnded(jobId, modelId, outcome, false);
            _refundEntrant(jobId, modelId);
            return;
        }
        (address owner, , , bool frozen) = _registry.modelRuntime(modelId);
        _models[modelId] = ModelState.Judged;
        bool won = _winningModelId == 0 && !frozen && e.loss < _terms.targetLoss;
        emit EntryEnded(jobId, modelId, outcome, won);
        if (!won) return;
        _winningModelId = modelId;
        uint256 reward = _terms.reward;
        emit BountyPaid(modelId, owner, jobId, e.loss, reward);
        _baseToken.safeTransfer(owner, reward);
    }

    /// @dev Gives the entrant of an evaluation that did not settle its datatoken, its fee and the receipt share of the
    /// callback fee, which the market has just refunded to the bounty (whatever else the market paid, e.g. a slashed
    /// worker's collateral, stays with the bounty). Never reverts: what the bounty no longer holds is skipped.
    function _refundEntrant(uint256 jobId, uint256 modelId) private {
        address entrant = _entrantOf[jobId];
        uint256 amount = _terms.evalFee + (_terms.callbackFee - _terms.callbackFee / 2);
        if (_baseToken.balanceOf(address(this)) >= amount) _baseToken.safeTransfer(entrant, amount);
        (address datatoken, , ) = _registry.modelStatus(modelId);
        if (IERC20(datatoken).balanceOf(address(this)) >= 1e18) IERC20(datatoken).safeTransfer(entrant, 1e18);
    }

    /// @dev Reverts unless the training jobs of `up[0 .. below)` (the models between an entry and the base) settled.
    function _requireSettled(uint256[] memory up, uint256 below) private view {
        for (uint256 i = 0; i < below; ++i) {
            uint256 trainJobId = _registry.getModel(up[i]).jobId;
            if (_market.getJob(trainJobId).status != IJobMarket.JobStatus.Settled) {
                revert FinetuneBountyTrainingNotSettled(up[i], trainJobId);
            }
        }
    }

    /// @dev Where the base model is in `up` (the ancestors of `modelId`, nearest first, at most `maxGenerations` of
    /// them, as the registry walks them): `modelId` must descend from it within `maxGenerations` (the model itself
    /// does not count); the models before that index are those between the two.
    function _indexOf(
        uint256[] memory up,
        uint256 base,
        uint256 modelId,
        uint16 maxGenerations
    ) private pure returns (uint256) {
        for (uint256 i = 0; i < up.length; ++i) {
            if (up[i] == base) return i;
        }
        revert FinetuneBountyNotDescendant(modelId, base, maxGenerations);
    }
}
