// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title PostHuman model registry: every model is an Ocean asset with a recorded lineage.
/// @notice A root model is published by anyone in one transaction: the registry creates a real Ocean data NFT and
/// datatoken through Ocean's ERC721Factory (the registry owns the NFT and is the datatoken's minter), prices it on
/// Ocean's FixedRateExchange or makes it free through Ocean's Dispenser, sets Ocean metadata on the NFT, opens the
/// model's royalty vault (a clone) as the datatoken's payment collector, and mints the publisher's initial supply.
/// A derived model can only be created by the job market when a training job's receipt is submitted (proof of
/// derivation): its parent, generation, producing job, weights root and training-data hash are recorded and reward
/// datatokens and vault shares are split between the trainer and the parent's side.
/// @dev Lineage is acyclic by construction (a parent always has a smaller id than its child) and bounded by
/// `maxDepth`. Models are never deleted; a model whose training job is proved wrong is frozen.
interface IModelRegistry {
    /// @notice How a root model's datatoken is priced.
    enum PricingKind {
        /// Sold for the base token on Ocean's FixedRateExchange at `rate`, minting on demand.
        FixedRate,
        /// Free through Ocean's Dispenser, minting on demand within the dispenser's limits.
        Dispenser
    }

    struct Pricing {
        PricingKind kind;
        /// FixedRate: base-token wei per whole datatoken (1e18 datatoken wei). Ignored for Dispenser.
        uint256 rate;
        /// Dispenser: most datatokens one `dispense` call may hand out. Ignored for FixedRate.
        uint256 dispenserMaxTokens;
        /// Dispenser: the dispenser refuses callers holding more than this. Ignored for FixedRate.
        uint256 dispenserMaxBalance;
    }

    /// @notice The publisher's declared reference score, e.g. benchmarkId = keccak256("wikitext-2/loss") and
    /// metric = loss × 1e6 (see docs/contracts.md, "Metrics").
    struct Baseline {
        bytes32 benchmarkId;
        uint64 metric;
    }

    /// @notice Arguments of Ocean's ERC721Template.setMetaData (the DDO as Ocean's indexers read it). `flags` = 0x00 and
    /// `data` = the DDO's JSON bytes for plain metadata; `dataHash` is the hash of the clear data (ocean.js: sha256).
    struct OceanMetadata {
        uint8 state;
        string decryptorUrl;
        string decryptorAddress;
        bytes flags;
        bytes data;
        bytes32 dataHash;
    }

    struct PublishParams {
        /// Ocean data NFT name and symbol; the datatoken is named "<name> datatoken" / "<symbol>-DT".
        string name;
        string symbol;
        /// Root of the model's weights (see offchain/ml: a hash over the tensors in a fixed order). Must not be zero.
        bytes32 weightsRoot;
        /// Hash of the model's config.json.
        bytes32 configHash;
        /// Hash of (a manifest of) the data the model was trained on.
        bytes32 dataHash;
        /// Where the model card lives (also the data NFT's tokenURI).
        string metadataURI;
        Baseline baseline;
        Pricing pricing;
        /// Datatokens minted to the publisher at once (may be zero).
        uint256 initialSupply;
        OceanMetadata oceanMetadata;
    }

    /// @notice What the job market passes when a training receipt creates a child model.
    struct Derivation {
        uint256 parentId;
        uint256 jobId;
        /// The requester who paid for the training job; becomes the child's owner.
        address trainer;
        /// The worker that submitted the training receipt: it committed to `weightsRoot` in an earlier block
        /// (`commitWeightsRoot`), as a publisher does.
        address committer;
        bytes32 weightsRoot;
        bytes32 configHash;
        /// The training job's input commitment (the dataset the child was trained on).
        bytes32 dataHash;
        string metadataURI;
        /// The child's validation loss after training (×1e6), recorded as its baseline on the parent's benchmark.
        uint64 metric;
    }

    struct Model {
        /// Publisher of a root model, trainer of a derived one. Receives the contributor's part of rewards.
        address owner;
        /// 0 for a root model, parent's generation + 1 otherwise.
        uint16 generation;
        bool frozen;
        /// The parent side's contributor of a derived model (the parent's owner at derivation); 0 for roots.
        address parentSide;
        /// 0 for a root model.
        uint256 parentId;
        /// The training job that produced the model; 0 for a root model.
        uint256 jobId;
        address nft;
        address datatoken;
        address vault;
        /// FixedRateExchange id for a fixed-rate root model, 0 otherwise.
        bytes32 exchangeId;
        bytes32 weightsRoot;
        bytes32 configHash;
        bytes32 dataHash;
        bytes32 benchmarkId;
        uint64 baselineMetric;
        string metadataURI;
        /// Hash of the model's tokenizer files (see docs/contracts.md, "Weights, config and tokenizer"); 0 when the
        /// publisher did not record one. A derived model inherits its parent's (training never changes the tokenizer).
        bytes32 tokenizerHash;
    }

    /// @notice Protocol parameters, fixed at deployment.
    struct Config {
        address oceanFactory;
        address fixedRateExchange;
        address dispenser;
        address baseToken;
        address jobMarket;
        address vaultImplementation;
        /// Deepest generation a derived model may have.
        uint16 maxDepth;
        /// Part of a derived model's reward datatokens and vault shares that goes to the trainer; the rest goes to
        /// the parent's side.
        uint16 trainerShareBps;
        /// Part of the base-token revenue a derived model's vault receives that flows to its parent's vault.
        uint16 parentRoyaltyBps;
        /// Datatokens minted for a derived model, split by `trainerShareBps`.
        uint256 rewardSupply;
    }

    /// @notice A root model was published (alongside Ocean's NFTCreated / TokenCreated / NewFixedRate events).
    event ModelPublished(
        uint256 indexed modelId,
        address indexed owner,
        address nft,
        address datatoken,
        address vault,
        bytes32 weightsRoot,
        bytes32 exchangeId
    );

    /// @notice A training job created a derived model.
    event ModelDerived(
        uint256 indexed modelId,
        uint256 indexed parentId,
        uint256 indexed jobId,
        address owner,
        address parentSide,
        address datatoken,
        address vault,
        bytes32 weightsRoot,
        uint16 generation
    );

    /// @notice A model's training job was proved wrong: no new jobs, no children, no royalty claims on its vault.
    event ModelFrozen(uint256 indexed modelId, uint256 indexed jobId);

    /// @notice An account committed to a weights root it will register: publish, or submit as a Train receipt's child.
    event WeightsRootCommitted(address indexed committer, bytes32 indexed commitment);

    /// @notice A root model's publisher recorded the hash of its tokenizer files (`publishModelWithTokenizer`).
    event TokenizerRecorded(uint256 indexed modelId, bytes32 tokenizerHash);

    /// @notice The model's owner replaced its Ocean metadata.
    event OceanMetadataUpdated(uint256 indexed modelId, bytes32 dataHash);

    /// @notice The vault implementation names another registry or base token than this deployment's.
    error ModelRegistryVaultMismatch(address vaultRegistry, address vaultBaseToken);
    error ModelRegistryUnknownModel(uint256 modelId);
    error ModelRegistryNotJobMarket(address caller);
    error ModelRegistryNotModelOwner(uint256 modelId, address caller);
    error ModelRegistryModelFrozen(uint256 modelId);
    error ModelRegistryLineageTooDeep(uint256 parentId, uint256 generation, uint256 maxDepth);
    error ModelRegistryZeroWeightsRoot();
    error ModelRegistryInvalidPrice(uint256 rate);
    error ModelRegistryInvalidDispenser(uint256 maxTokens, uint256 maxBalance);
    error ModelRegistryInvalidBps(uint256 bps);
    error ModelRegistryZeroAddress();
    error ModelRegistryInvalidDepth(uint256 maxDepth);
    error ModelRegistryUnexpectedNft(address operator, address from);
    /// @notice A weights root belongs to one model only: `modelId` already has it.
    error ModelRegistryWeightsRootTaken(bytes32 weightsRoot, uint256 modelId);
    /// @notice A root is registered (`publishModel`, a Train receipt) only after
    /// `commitWeightsRoot(weightsRootCommitment(account, weightsRoot))` in an earlier block; `committedAt` is the block
    /// of the commitment found (0: none).
    error ModelRegistryWeightsRootNotCommitted(bytes32 weightsRoot, uint256 committedAt);

    /// @notice First step of registering a weights root: records the block of `commitment` =
    /// `weightsRootCommitment(account, weightsRoot)`, which hides the root. The root is then accepted from the next
    /// block on, from that account only: in its `publishModel`, or in the Train receipt it submits as a worker (the
    /// child's root). A root first seen in the mempool (in a pending receipt or publish) therefore cannot be registered
    /// ahead of it by a copier, whichever way: the copier's commitment is mined at the earliest beside that
    /// transaction, and its registration a block later. Committing again keeps the first block.
    function commitWeightsRoot(bytes32 commitment) external;

    /// @notice The commitment `publisher` makes for `weightsRoot`: keccak256(abi.encode(publisher, weightsRoot)).
    function weightsRootCommitment(address publisher, bytes32 weightsRoot) external pure returns (bytes32);

    /// @notice Block in which `commitment` was made, or 0 (none, or used up by a registration).
    function commitmentBlock(bytes32 commitment) external view returns (uint256);

    /// @notice Publishes a root model owned by the caller. Returns its id (ids start at 1). Reverts when another model
    /// already has `params.weightsRoot` (ModelRegistryWeightsRootTaken), and unless the caller committed to that root
    /// in an earlier block (`commitWeightsRoot`; ModelRegistryWeightsRootNotCommitted). Uses up the commitment.
    function publishModel(PublishParams calldata params) external returns (uint256 modelId);

    /// @notice `publishModel` that also records the hash of the model's tokenizer files, so that the tokenizer cannot
    /// change behind the chain's back (workers check an upload against it).
    function publishModelWithTokenizer(
        PublishParams calldata params,
        bytes32 tokenizerHash
    ) external returns (uint256 modelId);

    /// @notice Creates the child model of a completed training job. Only the job market may call it. Reverts when
    /// another model already has the child's weights root (a "child" that is a copy of an existing model), and unless
    /// `committer` committed to it in an earlier block (ModelRegistryWeightsRootNotCommitted). Uses up the commitment.
    function createDerivedModel(Derivation calldata derivation) external returns (uint256 modelId);

    /// @notice Freezes a model whose training job was proved wrong, and its vault. Only the job market may call it.
    function freezeModel(uint256 modelId) external;

    /// @notice Replaces the Ocean metadata on the model's data NFT. Only the model's owner may call it.
    function updateOceanMetadata(uint256 modelId, OceanMetadata calldata metadata) external;

    /// @notice The full record of a model. Reverts for an unknown id.
    function getModel(uint256 modelId) external view returns (Model memory);

    /// @notice A model's owner, datatoken, weights root and frozen flag in one call (two slots and the weights root
    /// from the vault's code). Reverts for an unknown id.
    function modelRuntime(
        uint256 modelId
    ) external view returns (address owner, address datatoken, bytes32 weightsRoot, bool frozen);

    /// @notice A model's datatoken, weights root, frozen flag and generation in one call (the job market itself reads
    /// modelStatus, and checks a served weights root with modelOfWeightsRoot). Reverts for an unknown id.
    function modelForJob(
        uint256 modelId
    ) external view returns (address datatoken, bytes32 weightsRoot, bool frozen, uint16 generation);

    /// @notice A model's datatoken, whether it is frozen, and its generation: one storage read, for the job market's
    /// transitions that need no weights root. Reverts for an unknown id.
    function modelStatus(uint256 modelId) external view returns (address datatoken, bool frozen, uint16 generation);

    /// @notice The model that has this weights root, or 0.
    function modelOfWeightsRoot(bytes32 weightsRoot) external view returns (uint256);

    /// @notice Who made a model: its owner (the publisher of a root, the requester of a derived model's training) and
    /// the training job that produced it (0 for a root). Reverts for an unknown id.
    function makersOf(uint256 modelId) external view returns (address owner, uint256 jobId);

    /// @notice Parent id and generation of a model (parent 0 for a root). Reverts for an unknown id.
    function lineageOf(uint256 modelId) external view returns (uint256 parentId, uint16 generation);

    /// @notice Up to `maxCount` ancestors of a model, nearest first. Bounded by the model's generation (≤ maxDepth).
    function ancestors(uint256 modelId, uint256 maxCount) external view returns (uint256[] memory);

    /// @notice The model whose datatoken is `datatoken`, or 0.
    function modelOfDatatoken(address datatoken) external view returns (uint256);

    function isFrozen(uint256 modelId) external view returns (bool);

    /// @notice Number of models so far (the last id).
    function modelCount() external view returns (uint256);

    function config() external view returns (Config memory);
}
