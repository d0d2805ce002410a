// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IJobMarketConsumer} from "../interfaces/IJobMarketConsumer.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";

/// @title Example consumer: a bounty for the first finetune of a model that beats a target loss on a named dataset.
/// @notice A sponsor deploys the bounty with its terms and funds it with the reward in the base token. A finetune's
/// owner enters it (a descendant of `baseModelId` within `maxGenerations` whose training job, and that of every model
/// between it and `baseModelId`, has settled) by handing the bounty one datatoken of it and paying the evaluation (`evalFee + callbackFee`): the bounty itself requests a
/// PostHuman Evaluate job of that model on the dataset the terms name (input hash = `datasetHash`, benchmark =
/// `benchmarkId`), with a callback. The receipt hook records the loss; the outcome hook, once the job is Settled (the
/// receipt survived its challenge window), pays `reward` to the model's owner if the loss is below `targetLoss`, the
/// model is not frozen and nobody won before. The evaluation is requested as independent (EvaluateParams.independent):
/// the market refuses the claims of the worker that trained the model and of its owner, whose grade would prove
/// nothing. An evaluation that ends otherwise gives the entrant its datatoken, its fee and the
/// receipt share of the callback fee back. Everything it decides on is on chain: the registry's lineage and freezing,
/// the market's receipts, workers and outcomes.
/// @dev Trust: the bounty trusts settled receipts as the protocol does (a worker can lie about a loss and lose its
/// collateral if challenged). The sponsor can challenge an evaluation within its challenge window (`challenge`: the
/// bounty is the requester), and join a challenge someone else took within a challenge window of it, so that an
/// accomplice holding the slot does not keep the reward. Entrants pay their own evaluations, so entries cannot drain
/// the reward; a model has at most one open evaluation and one verdict. A hook that missed its call (it ran out of
/// gas, say) is replaced by the pull functions `recordReceipt` and `syncOutcome`, which anyone may call.
interface IFinetuneBounty is IJobMarketConsumer {
    /// @notice What the sponsor promises, fixed at deployment.
    struct Terms {
        /// The model whose finetunes compete; it cannot win itself.
        uint256 baseModelId;
        /// Deepest descendant that may enter (1 = direct children only); bounds the lineage walk.
        uint16 maxGenerations;
        /// Input hash of every evaluation: the sha256 of the named dataset's file.
        bytes32 datasetHash;
        /// Where workers fetch it (may be empty: delivered out of band against the hash).
        string datasetURI;
        /// EvaluateParams.benchmarkId of every evaluation, e.g. keccak256("wikitext-2/loss").
        bytes32 benchmarkId;
        uint32 contextLength;
        uint32 maxTokens;
        /// A loss (×1e6, mean cross-entropy in nats) strictly below this wins.
        uint64 targetLoss;
        /// Base-token wei paid once to the winning model's owner.
        uint256 reward;
        /// Job fee of each evaluation, paid by the entrant.
        uint256 evalFee;
        /// Callback gas limit and fee of each evaluation.
        uint32 callbackGasLimit;
        uint256 callbackFee;
        /// Seconds between an entry and its evaluation's deadline.
        uint64 evalLease;
        /// No entries after this time; the sponsor may then withdraw once no evaluation is open.
        uint64 expiresAt;
    }

    enum EntryState {
        None,
        /// The evaluation job is requested and not ended.
        Evaluating,
        /// The job ended; a Settled one was judged.
        Ended
    }

    struct Entry {
        uint256 modelId;
        /// The loss of the evaluation's receipt (×1e6) and its hash, once recorded.
        uint64 loss;
        EntryState state;
        bytes32 receiptHash;
    }

    event EntryRequested(uint256 indexed jobId, uint256 indexed modelId, address indexed entrant);
    event EntryEvaluated(uint256 indexed jobId, uint256 indexed modelId, uint64 loss);
    event EntryEnded(uint256 indexed jobId, uint256 indexed modelId, IJobMarket.JobStatus outcome, bool won);
    event BountyPaid(
        uint256 indexed modelId,
        address indexed owner,
        uint256 indexed jobId,
        uint64 loss,
        uint256 reward
    );
    event Withdrawn(address indexed to, uint256 amount);

    error FinetuneBountyNotJobMarket(address caller);
    error FinetuneBountyNotSponsor(address caller);
    error FinetuneBountyWon(uint256 winningModelId);
    error FinetuneBountyExpired(uint64 expiresAt);
    error FinetuneBountyStillOpen(uint64 expiresAt, uint256 openEvaluations);
    error FinetuneBountyNotDescendant(uint256 modelId, uint256 baseModelId, uint16 maxGenerations);
    error FinetuneBountyAlreadyEntered(uint256 modelId);
    error FinetuneBountyUnderfunded(uint256 balance, uint256 required);
    error FinetuneBountyUnknownEntry(uint256 jobId);
    error FinetuneBountyReceiptMismatch(uint256 jobId, bytes32 expected, bytes32 given);
    /// @notice The training job (`trainJobId`) of `modelId` (the entered model or one of its ancestors below the base
    /// model) has not settled: its receipt could still be proved wrong, or was.
    error FinetuneBountyTrainingNotSettled(uint256 modelId, uint256 trainJobId);
    /// @notice Only a model's owner enters it: anyone else could waste its one verdict on an evaluation it never saw.
    error FinetuneBountyNotOwner(uint256 modelId, address owner, address caller);

    /// @notice Enters `modelId`: pulls one of its datatokens and `evalFee + callbackFee` of the base token from the
    /// caller, its owner, and requests its evaluation. Reverts once won or expired, for a model that is not a
    /// descendant within `maxGenerations`, for a caller that does not own it, for a model whose training job (or that
    /// of an ancestor below the base model) has not settled, already being evaluated or already judged, or when the
    /// bounty no longer holds the reward.
    function enter(uint256 modelId) external returns (uint256 jobId);

    /// @notice The sponsor challenges an evaluation's receipt through the bounty (its requester), paying the bond; the
    /// market lets a requester join a challenge someone else holds for a challenge window after it (the arbiter decides
    /// after that), so an accomplice holding the slot does not keep the reward when the sponsor watches.
    function challenge(uint256 jobId) external;

    /// @notice Pull path for a receipt hook that did not run: anyone passes the job's receipt (from ReceiptSubmitted);
    /// it must hash to the market's `receiptHash`. Then does what `syncOutcome` does.
    function recordReceipt(uint256 jobId, IJobMarket.Receipt calldata receipt) external;

    /// @notice Pull path for an outcome hook that did not run: reads the job's status on the market and, if it ended,
    /// ends the entry (judging a Settled one whose receipt is recorded). Anyone may call it; it does nothing twice.
    function syncOutcome(uint256 jobId) external;

    /// @notice Sends the balance to `to`, once the bounty is won, or expired with no evaluation open; while evaluations
    /// are open (after a win), what each could be refunded (`evalFee` and the receipt share of `callbackFee`) stays
    /// for its entrant. The unused part of an outcome share the market returns for an entry that did not settle
    /// arrives after the outcome hook ran, and stays with the bounty.
    function withdraw(address to) external;

    function terms() external view returns (Terms memory);

    function entryOf(uint256 jobId) external view returns (Entry memory);

    /// @notice The model that won (0 while open) and the number of evaluations not ended yet.
    function status() external view returns (uint256 winningModelId, uint256 openEvaluations);
}
