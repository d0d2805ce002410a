// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @dev Most gas a requester may ask the market to forward to each callback of a job (see `requestJobWithCallback`).
/// Bounded so that a receipt carrying a callback always fits in a block, whatever the requester asked for.
uint256 constant JOB_MARKET_MAX_CALLBACK_GAS = 2_000_000;

/// @dev Longest API endpoint (bytes of its URL) a worker may register (see `setEndpoint`).
uint256 constant JOB_MARKET_MAX_ENDPOINT_LENGTH = 256;

/// @dev `failJob` reason codes that blame the requester's input, as a bit set (bit r = reason r): 1 INPUT_MISSING (never
/// delivered, or not matching `inputHash`), 10–16 the dataset refused (DATASET_NOT_FOUND, _EMPTY, _BINARY,
/// _INVALID_UTF8, _INVALID_JSONL, _TOO_LARGE, _TOO_SHORT), 20 PROMPT_TOO_LONG, 21 PROMPTS_INVALID. A failure for one of
/// them costs the worker nothing, unless someone presents the worker's signed input acknowledgement for the job
/// (`disputeFailure`): then its whole collateral goes to the requester. Every other reason is the worker's: a share of
/// its collateral (`failPenaltyBps`) goes to the requester. Codes are those of offchain/worker (docs/operator.md).
uint256 constant JOB_MARKET_REQUESTER_FAULTS = (1 << 1) | (0x7f << 10) | (1 << 20) | (1 << 21);

/// @dev `failJob` reason 28 WEIGHTS_ROOT_TAKEN: the Train run's child weights root is another model's already, so its
/// receipt can never be submitted. For a Train job the claimant's penalty then goes to the treasury, not to the
/// requester (any other kind's penalty goes to the requester whatever the reason): whoever can compute the child's root
/// before the claimant submits it (the job is deterministic: a requester holding the parent's weights) could otherwise
/// register it first and collect the penalty as a profit.
uint32 constant JOB_MARKET_WEIGHTS_ROOT_TAKEN = 28;

/// @title PostHuman job market: training, inference and evaluation of models, paid in the base token.
/// @notice A requester names a model, a kind, a commitment to its input, a fee, a deadline and kind-specific params.
/// The request escrows 1 datatoken of the model and the fee; the datatoken is consumed through a genuine Ocean order
/// (startOrder with the requester as consumer and a zero provider fee) only when the job settles, and returned with the
/// fee when it is cancelled, failed, reclaimed or slashed. A staked worker claims the job (locking collateral
/// proportional to the fee, leased until the deadline) and submits a receipt: what it produced, which weights served
/// the job and with which runtime; a training receipt also creates the child model. After the challenge window anyone
/// settles the job: the worker is paid (minus a capped protocol fee to the treasury) and its collateral freed. Within
/// the window anyone may challenge the receipt with a bond; the arbiter decides (the place where a re-execution game
/// plugs in later). Past the deadline without a receipt, anyone reclaims the job: fee refunded, collateral slashed to
/// the requester.
/// @dev Job lifecycle (see docs/contracts.md):
///   Open ──claim──▶ Claimed ──submit──▶ Submitted ──(window over) settle──▶ Settled
///   Open ──cancel──▶ Cancelled           Submitted ──challenge──▶ Challenged ──resolve(false) / lapse──▶ Settled
///   Open|Claimed ──(deadline over) reclaim──▶ Reclaimed      Challenged ──resolve(true)──▶ Slashed
///   Claimed ──fail──▶ Failed
/// Settled, Cancelled, Reclaimed, Failed and Slashed are terminal; every transition checks its source state, so a job
/// pays out at most once.
/// A contract may request with `requestJobWithCallback`: the market then calls its IJobMarketConsumer hooks when the
/// receipt is submitted and when the job ends (see IJobMarketConsumer and docs/integrate.md).
interface IJobMarket {
    enum JobKind {
        Train,
        Infer,
        Evaluate
    }

    enum JobStatus {
        None,
        Open,
        Claimed,
        Submitted,
        Challenged,
        Settled,
        Cancelled,
        Failed,
        Reclaimed,
        Slashed
    }

    /// @notice Why a job's receipt could not be submitted now (None: it can). See `submitBlocker`.
    enum SubmitBlocker {
        None,
        /// The job is not Open or Claimed (or does not exist).
        NotLive,
        /// Its deadline has passed.
        DeadlinePassed,
        /// Its model is frozen: no receipt can be accepted (and a Train job could not create its child).
        ModelFrozen,
        /// A Train job on a model at the registry's maxDepth: its child could never be created.
        LineageTooDeep
    }

    /// @notice `params` of a Train job: abi.encode(TrainParams). Learning rate and weight decay are ×1e9.
    struct TrainParams {
        uint32 steps;
        uint32 batchSize;
        uint32 contextLength;
        uint64 learningRate;
        uint32 warmupSteps;
        uint64 weightDecay;
    }

    /// @notice `params` of an Infer job: abi.encode(InferParams). Temperature is ×1e6; topK 0 means no top-k cut.
    struct InferParams {
        uint32 maxTokens;
        uint32 temperature;
        uint32 topK;
    }

    /// @notice `params` of an Evaluate job: abi.encode(EvaluateParams). `benchmarkId` names what the loss is compared
    /// with (the model's declared baseline when equal to its benchmarkId); `maxTokens` bounds the evaluated tokens.
    /// `independent`: neither the model's owner nor the worker that trained it may claim the job
    /// (JobMarketNotIndependent), so the evaluation of a model's declared figures is not done by those who declared them.
    struct EvaluateParams {
        bytes32 benchmarkId;
        uint32 contextLength;
        uint32 maxTokens;
        bool independent;
    }

    struct JobRequest {
        uint256 modelId;
        JobKind kind;
        /// Commitment to the input (sha256 of the prompts file, dataset manifest, eval set, …).
        bytes32 inputHash;
        /// Where a worker fetches the input; may be empty (delivered out of band against inputHash).
        string inputURI;
        /// Base-token wei escrowed for the worker.
        uint256 fee;
        /// Unix time by which a receipt must be submitted (also the claimant's lease).
        uint64 deadline;
        /// abi.encode of the kind's params struct.
        bytes params;
    }

    /// @notice Fixed-point metrics of a receipt: losses are mean cross-entropy in nats ×1e6; evalTokens is a count.
    /// Fields that do not apply to the job's kind are 0.
    struct Metrics {
        uint64 trainLossBefore;
        uint64 trainLossAfter;
        uint64 valLossBefore;
        uint64 valLossAfter;
        uint64 evalLoss;
        uint64 evalTokens;
    }

    struct Receipt {
        bytes32 outputHash;
        string outputURI;
        /// Weights root of the model that served the job; must equal the model's recorded root.
        bytes32 servedWeightsRoot;
        /// Hash of executor + versions + settings.
        bytes32 runtimeId;
        uint64 seed;
        Metrics metrics;
        /// Train only: the child model's weights root (non-zero) and config hash. Ignored for other kinds.
        bytes32 childWeightsRoot;
        bytes32 childConfigHash;
    }

    struct Job {
        address requester;
        uint64 deadline;
        JobKind kind;
        JobStatus status;
        address worker;
        /// When the receipt was submitted (0 before); for a job failed for one of the requester's faults, when it failed
        /// (its dispute window, `challengeWindow` long, starts then).
        uint64 submittedAt;
        address challenger;
        /// When the receipt was challenged (0 if never).
        uint64 challengedAt;
        uint256 modelId;
        uint256 fee;
        /// Worker stake a claim of this job locks (`collateralFor(fee)`), locked while it is claimed, submitted or
        /// challenged, and during the dispute window of a failure blamed on the requester.
        uint256 collateral;
        bytes32 inputHash;
        /// keccak256(abi.encode(receipt)) of the submitted receipt (0 before).
        bytes32 receiptHash;
        /// Model created by a Train job's receipt (0 otherwise).
        uint256 childModelId;
    }

    struct WorkerStake {
        /// Stake available to back new claims.
        uint256 free;
        /// Stake locked as collateral of claimed jobs.
        uint256 locked;
        /// Stake on its way out (no longer backs claims).
        uint256 unstaking;
        /// When `unstaking` can be withdrawn.
        uint64 unstakeAvailableAt;
        /// Jobs whose collateral is locked. While it is not 0, free + locked stake cannot be unstaked below
        /// `minWorkerStake`.
        uint32 activeClaims;
    }

    /// @notice EIP-2612 approval applied before pulling a token; skipped when `deadline` is 0. Ocean datatokens compare
    /// `deadline` with the block number, standard tokens with the timestamp.
    struct Permit {
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice What a contract adds to its request to be called back (see IJobMarketConsumer).
    struct Callback {
        /// Gas the market forwards to each hook call: non-zero, at most JOB_MARKET_MAX_CALLBACK_GAS. Whoever triggers a
        /// delivery must leave that much gas to the call, or the transaction reverts (JobMarketCallbackGasTooLow).
        uint32 gasLimit;
        /// Base-token wei escrowed with the job fee to pay for the two deliveries, split in two shares: the receipt
        /// hook's share (`fee - fee / 2`) goes to the worker with its payout when the job settles; the outcome hook's
        /// share (`fee / 2`) goes to whoever makes the transition that ends the job (settle, resolve, fail, reclaim), but
        /// for a job that did not settle only the gas that delivery used, at `callbackGasPrice`, the rest going back to
        /// the requester. A share whose delivery did not happen, or whose worker was slashed, goes back to the requester.
        uint256 fee;
    }

    /// @notice The callback of a job, as recorded. `failedStages` has bit `1 << uint8(stage)` set for each delivery
    /// (stage = the status the job had just reached) whose hook reverted or ran out of gas.
    struct CallbackState {
        uint32 gasLimit;
        uint16 failedStages;
        uint256 fee;
    }

    /// @notice Protocol parameters, fixed at deployment.
    struct Config {
        address registry;
        address baseToken;
        /// Receives the protocol fee.
        address treasury;
        /// Decides challenges.
        address arbiter;
        /// Protocol fee on settled jobs, at most MAX_PROTOCOL_FEE_BPS.
        uint16 protocolFeeBps;
        /// Collateral a claim locks, as a part of the job's fee (10000 = the fee itself).
        uint16 collateralBps;
        /// Part of a slashed collateral paid to a winning challenger; the rest goes to the requester.
        uint16 challengerRewardBps;
        /// Seconds after a receipt during which it can be challenged.
        uint64 challengeWindow;
        /// Seconds the arbiter has to decide; after that the challenge lapses and anyone may settle.
        uint64 arbitrationWindow;
        /// Seconds between requesting an unstake and withdrawing it.
        uint64 unstakeDelay;
        /// Base-token bond of a challenge.
        uint256 challengeBond;
        /// Stake (free + locked) a worker needs to claim, and keeps while it has claims.
        uint256 minWorkerStake;
        /// Base-token wei per unit of callback gas: a callback job's fee must be at least 2 × gasLimit × this (two
        /// deliveries), so whoever delivers is paid for the gas the requester asked for.
        uint256 callbackGasPrice;
        /// Share of its collateral a claimant pays the requester when it fails a job for a reason of its own (not one
        /// of JOB_MARKET_REQUESTER_FAULTS, and the job still submittable).
        uint16 failPenaltyBps;
    }

    /// @notice A job was requested. Carries everything a worker needs to decide and run it (params: see the kind's
    /// struct); the datatoken's OrderStarted event of the same transaction names the requester as consumer.
    event JobRequested(
        uint256 indexed jobId,
        uint256 indexed modelId,
        address indexed requester,
        JobKind kind,
        bytes32 inputHash,
        string inputURI,
        uint256 fee,
        uint64 deadline,
        bytes params
    );

    event JobClaimed(
        uint256 indexed jobId,
        uint256 indexed modelId,
        address indexed worker,
        uint256 collateral,
        uint64 leaseUntil
    );

    /// @notice A receipt was submitted; `childModelId` is the model a Train job created (0 otherwise).
    event ReceiptSubmitted(
        uint256 indexed jobId,
        uint256 indexed modelId,
        address indexed worker,
        Receipt receipt,
        uint256 childModelId
    );

    event JobSettled(
        uint256 indexed jobId,
        uint256 indexed modelId,
        address indexed worker,
        uint256 payout,
        uint256 protocolFee
    );

    event JobCancelled(uint256 indexed jobId, uint256 indexed modelId, address indexed requester, uint256 refund);

    event JobFailed(
        uint256 indexed jobId,
        uint256 indexed modelId,
        address indexed worker,
        uint32 reason,
        uint256 refund
    );

    /// @notice A job passed its deadline without a receipt: `refund` (the fee) and `slashed` (the claimant's
    /// collateral, 0 if unclaimed) went to the requester.
    event JobReclaimed(
        uint256 indexed jobId,
        uint256 indexed modelId,
        address indexed requester,
        address worker,
        uint256 refund,
        uint256 slashed
    );

    event JobChallenged(uint256 indexed jobId, uint256 indexed modelId, address indexed challenger, uint256 bond);

    /// @notice The arbiter decided a challenge. Upheld: the worker's collateral (`slashed`) went to the requester but
    /// for the reward (`challengerRewardBps` of it) paid to the challenger: none when the requester challenged, half
    /// when it joined the challenge; the fee and datatoken were refunded, the bonds returned and any child model frozen. Rejected: the
    /// bonds went to the worker and the job settled (JobSettled follows).
    event ChallengeResolved(
        uint256 indexed jobId,
        uint256 indexed modelId,
        address indexed challenger,
        bool upheld,
        uint256 slashed
    );

    /// @notice The job requested just before (JobRequested of the same transaction) calls its requester back.
    event CallbackRequested(uint256 indexed jobId, address indexed consumer, uint32 gasLimit, uint256 fee);

    /// @notice The market called `consumer`'s hook for the job's `stage` (Submitted: onJobReceipt; Settled, Slashed,
    /// Failed, Reclaimed: onJobOutcome). `success` is false when the hook reverted or ran out of gas; the job went on
    /// all the same.
    event CallbackDelivered(uint256 indexed jobId, address indexed consumer, JobStatus stage, bool success);

    /// @notice A failed job cost its claimant `amount` of its collateral, paid to the requester (to the treasury for a
    /// Train job's JOB_MARKET_WEIGHTS_ROOT_TAKEN): a failure for a reason of its own (`reason` = its code), or a dispute
    /// proving a failure blamed on the requester false.
    event WorkerPenalized(uint256 indexed jobId, address indexed worker, uint32 reason, uint256 amount);

    /// @notice `disputer` presented the claimant's signed acknowledgement that it had received the job's input, which it
    /// then failed as the requester's fault: its whole collateral (`slashed`) went to the requester.
    event FailureDisputed(uint256 indexed jobId, address indexed worker, address indexed disputer, uint256 slashed);

    /// @notice The dispute window of a failure blamed on the requester passed: the claimant's collateral is free.
    event FailureCollateralReleased(uint256 indexed jobId, address indexed worker, uint256 amount);

    /// @notice A worker registered (or replaced) the URL of its API, where requesters upload inputs for its claims.
    event WorkerEndpointSet(address indexed worker, string endpoint);

    event WorkerStaked(address indexed worker, uint256 amount, uint256 freeStake);

    event UnstakeRequested(address indexed worker, uint256 amount, uint64 availableAt);

    event StakeWithdrawn(address indexed worker, uint256 amount);

    error JobMarketUnknownJob(uint256 jobId);
    error JobMarketUnexpectedStatus(uint256 jobId, JobStatus status);
    error JobMarketModelFrozen(uint256 modelId);
    /// @notice An independent evaluation (EvaluateParams.independent) claimed by the model's owner or trainer.
    error JobMarketNotIndependent(uint256 jobId, address claimant);
    error JobMarketZeroFee();
    error JobMarketInvalidDeadline(uint64 deadline, uint256 timestamp);
    error JobMarketInvalidParams(JobKind kind);
    error JobMarketLeaseExpired(uint256 jobId, uint64 expiredAt);
    error JobMarketDeadlineNotReached(uint256 jobId, uint64 deadline);
    error JobMarketNotRequester(uint256 jobId, address caller);
    error JobMarketNotClaimant(uint256 jobId, address caller);
    error JobMarketWrongWeightsRoot(uint256 jobId, bytes32 expected, bytes32 served);
    error JobMarketMissingChildWeights(uint256 jobId);
    error JobMarketChallengeWindowClosed(uint256 jobId, uint64 closedAt);
    error JobMarketChallengeWindowOpen(uint256 jobId, uint64 closesAt);
    error JobMarketNotArbiter(address caller);
    error JobMarketInsufficientStake(address worker, uint256 available, uint256 required);
    error JobMarketStakeBelowMinimum(address worker, uint256 stake, uint256 minimum);
    error JobMarketNothingToWithdraw(address worker);
    error JobMarketArbitrationPending(uint256 jobId, uint64 lapsesAt);
    error JobMarketZeroAmount();
    error JobMarketUnstakeNotReady(address worker, uint64 availableAt);
    error JobMarketInvalidBps(uint256 bps);
    /// @notice The arbitration window must outlast the challenge window: a third party's challenge is decided only after
    /// the requester's join period, a challenge window long.
    error JobMarketInvalidWindows(uint64 challengeWindow, uint64 arbitrationWindow);
    error JobMarketZeroAddress();
    error JobMarketRegistryMismatch(address registryJobMarket);
    error JobMarketInvalidCallbackGas(uint256 gasLimit, uint256 max);
    error JobMarketCallbackConsumerNotContract(address consumer);
    /// @notice A delivery needs `required` gas left at the call (the hook's limit, what EIP-150 keeps back, and the
    /// market's own work after it) but only `gasLeft` was: the caller must send the transaction with more gas.
    error JobMarketCallbackGasTooLow(uint256 jobId, uint256 gasLeft, uint256 required);
    /// @notice A callback fee below 2 × gasLimit × callbackGasPrice.
    error JobMarketCallbackFeeTooLow(uint256 fee, uint256 required);
    /// @notice A Train request on a model whose child would be deeper than the registry allows.
    error JobMarketLineageTooDeep(uint256 modelId, uint256 generation, uint256 maxDepth);
    /// @notice A fee (or fee + callback fee) above what the market's packed storage holds (2**96 - 1).
    error JobMarketFeeTooLarge(uint256 fee, uint256 max);
    /// @notice The claimant may not challenge its own receipt.
    error JobMarketClaimantCannotChallenge(uint256 jobId);
    /// @notice The job's challenge is taken (by `challenger`); only the requester may still join it.
    error JobMarketAlreadyChallenged(uint256 jobId, address challenger);
    /// @notice `disputeFailure` on a job that did not fail for one of the requester's faults, or whose collateral was
    /// already released or slashed.
    error JobMarketNotDisputable(uint256 jobId);
    error JobMarketDisputeWindowClosed(uint256 jobId, uint64 closedAt);
    error JobMarketDisputeWindowOpen(uint256 jobId, uint64 closesAt);
    /// @notice The acknowledgement presented is not the claimant's signature of InputReceived(jobId, inputHash).
    error JobMarketInvalidInputAck(uint256 jobId, address worker);
    error JobMarketEndpointTooLong(uint256 length, uint256 max);
    /// @notice Only an account with stake may register an endpoint.
    error JobMarketNotStaked(address account);

    /// @notice Requests a job; escrows 1 datatoken of the model (ordered on Ocean for the caller when the job settles)
    /// and the fee. Reverts on a frozen model, and for a Train job on a model at maxDepth (its child could never be
    /// created).
    function requestJob(JobRequest calldata request) external returns (uint256 jobId);

    /// @notice `requestJob` with EIP-2612 approvals for the datatoken and, when the base token offers permit, the fee.
    /// A permit with deadline 0 is skipped; a failed permit is ignored (the pull then needs an existing allowance).
    function requestJobWithPermit(
        JobRequest calldata request,
        Permit calldata datatokenPermit,
        Permit calldata feePermit
    ) external returns (uint256 jobId);

    /// @notice `requestJob` for a contract that wants its IJobMarketConsumer hooks called: when the receipt is submitted
    /// (onJobReceipt) and when the job ends settled, slashed, failed or reclaimed (onJobOutcome; a cancellation, which
    /// the requester makes itself, is not called back). Pulls `request.fee + callback.fee` of the base token. A hook that
    /// reverts or runs out of gas never stops the job: the failure is recorded (`callbackOf`, CallbackDelivered).
    function requestJobWithCallback(
        JobRequest calldata request,
        Callback calldata callback
    ) external returns (uint256 jobId);

    /// @notice Cancels an open (unclaimed) job and refunds its fee and its datatoken. Only the requester may call it.
    function cancelJob(uint256 jobId) external;

    /// @notice Claims an open job for the caller, locking collateral from its free stake until the job ends. Reverts on a
    /// frozen model; check `submitBlocker` first.
    function claimJob(uint256 jobId) external;

    /// @notice Submits the claimant's receipt before the deadline; a Train receipt creates the child model. Refused
    /// (`JobMarketModelFrozen`) once the job's model is frozen: the claimant fails the job at no cost instead.
    /// @return childModelId the model a Train job created, 0 for other kinds.
    function submitReceipt(uint256 jobId, Receipt calldata receipt) external returns (uint256 childModelId);

    /// @notice The claimant gives a job up before its deadline with a reason code. The requester always gets its fee and
    /// its datatoken back. The claimant's collateral: freed at once when the job can no longer be submitted (its model
    /// was frozen after the claim: `submitBlocker` ≠ None); for a reason in JOB_MARKET_REQUESTER_FAULTS, held for a
    /// dispute window (`challengeWindow`) and then freed by `releaseFailureCollateral`; otherwise `failPenaltyBps` of
    /// it goes to the requester (to the treasury for a Train job's JOB_MARKET_WEIGHTS_ROOT_TAKEN) and the rest is freed.
    function failJob(uint256 jobId, uint32 reason) external;

    /// @notice Within the dispute window of a failure blamed on the requester, anyone presents the claimant's EIP-712
    /// signature of InputReceived(jobId, inputHash) (see `inputAckDigest`; ECDSA only, so a contract worker's
    /// acknowledgements prove nothing: an ERC-1271 answer could be withdrawn before the dispute): the failure
    /// was false, and the claimant's whole collateral goes to the requester (the job becomes Slashed).
    function disputeFailure(uint256 jobId, bytes calldata inputAck) external;

    /// @notice After the dispute window of a failure blamed on the requester, frees the claimant's collateral. Anyone
    /// may call it.
    function releaseFailureCollateral(uint256 jobId) external;

    /// @notice After the deadline of an open or claimed job: refunds the fee and the datatoken, and slashes the
    /// claimant's collateral to the requester, unless the job could no longer be submitted (model frozen after the
    /// claim), which frees it. Anyone may call it.
    function reclaimJob(uint256 jobId) external;

    /// @notice Challenges a submitted receipt within the window, pulling the challenge bond from the caller. The
    /// claimant cannot challenge its own receipt. One challenger takes the job; the requester may still join a
    /// challenge taken by someone else for a challenge window after it (its own bond): when upheld, half the
    /// challenger's reward then goes to the requester.
    function challengeReceipt(uint256 jobId) external;

    /// @notice The arbiter's decision on a challenged job: `upheld` = the receipt is wrong. A third party's challenge
    /// that the requester has not joined is decided only after the requester's join period (`challengedAt` +
    /// `challengeWindow`; before, `JobMarketChallengeWindowOpen`), so that nobody joins having seen the decision.
    function resolveChallenge(uint256 jobId, bool upheld) external;

    /// @notice Pays a job whose challenge window is over (or whose challenge lapsed without a decision: the bonds then
    /// go to the worker, like those of a rejected challenge) and orders the escrowed datatoken on Ocean for the
    /// requester, or gives it back when the model was frozen since the receipt (the worker ran the model it was asked
    /// to and is paid; the requester does not pay a model proved fabricated). Anyone may call it.
    function settleJob(uint256 jobId) external;

    /// @notice Adds `amount` base token to the caller's free stake (registering it as a worker).
    function stake(uint256 amount) external;

    /// @notice `stake` and `setEndpoint` in one call.
    function stakeWithEndpoint(uint256 amount, string calldata endpoint) external;

    /// @notice Registers (or replaces) the URL of the caller's API, where a requester's client uploads the input of a
    /// job the caller claimed. At most JOB_MARKET_MAX_ENDPOINT_LENGTH bytes; the caller must have stake.
    function setEndpoint(string calldata endpoint) external;

    /// @notice Moves `amount` of free stake to unstaking; it can be withdrawn after the unstake delay. A new request
    /// adds to the pending amount and restarts the delay. While the caller has claims, free + locked stake must stay at
    /// least `minWorkerStake`.
    function requestUnstake(uint256 amount) external;

    /// @notice Withdraws the caller's unstaking stake once its delay has passed.
    function withdrawStake() external;

    function getJob(uint256 jobId) external view returns (Job memory);

    function stakeOf(address worker) external view returns (WorkerStake memory);

    function jobCount() external view returns (uint256);

    function config() external view returns (Config memory);

    /// @notice The callback of a job (gas limit 0: none).
    function callbackOf(uint256 jobId) external view returns (CallbackState memory);

    /// @notice Collateral a claim of a job with this fee locks.
    function collateralFor(uint256 fee) external view returns (uint256);

    /// @notice Why the job's receipt could not be submitted now (None: it can). A worker calls it before claiming; a
    /// claimant whose job became impossible (model frozen) fails it without penalty.
    function submitBlocker(uint256 jobId) external view returns (SubmitBlocker);

    /// @notice `submitBlocker(jobId) == SubmitBlocker.None`.
    function isSubmittable(uint256 jobId) external view returns (bool);

    /// @notice The EIP-712 digest a worker's API signs when it accepts a job's input: InputReceived(uint256 jobId,
    /// bytes32 inputHash) in the domain (name "PostHuman JobMarket", version "1", chainId, this market).
    function inputAckDigest(uint256 jobId, bytes32 inputHash) external view returns (bytes32);

    /// @notice The API URL a worker registered ("" if none).
    function endpointOf(address worker) external view returns (string memory);

    /// @notice A failed job's reason code and whether its collateral is still held for the dispute window.
    function failureOf(uint256 jobId) external view returns (uint32 reason, bool collateralHeld);
}
