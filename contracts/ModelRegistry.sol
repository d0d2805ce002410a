// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IRoyaltyVault, ROYALTY_VAULT_TOTAL_SHARES} from "./interfaces/IRoyaltyVault.sol";
import {IOceanERC721Factory} from "./ocean/IOceanERC721Factory.sol";
import {IOceanDataNft} from "./ocean/IOceanDataNft.sol";
import {IOceanDatatoken} from "./ocean/IOceanDatatoken.sol";
import {IOceanFixedRateExchange} from "./ocean/IOceanFixedRateExchange.sol";

/// @title ModelRegistry
/// @notice Publishes PostHuman models as Ocean assets and records their lineage; see IModelRegistry.
/// @dev The registry owns every PostHuman data NFT (so only it can change the datatoken's minters and payment
/// collector) and is the minter of every PostHuman datatoken besides Ocean's exchange or dispenser.
contract ModelRegistry is IModelRegistry, IERC721Receiver, ReentrancyGuardTransient {
    uint256 private constant _BPS = 10_000;
    uint256 private constant _ERC20_TEMPLATE = 1;
    uint256 private constant _ERC721_TEMPLATE = 1;
    uint256 private constant _DECIMALS = 18;

    address private immutable _oceanFactory;
    address private immutable _fixedRateExchange;
    address private immutable _dispenser;
    address private immutable _baseToken;
    address private immutable _jobMarket;
    address private immutable _vaultImplementation;
    uint16 private immutable _maxDepth;
    uint16 private immutable _trainerShareBps;
    uint16 private immutable _parentRoyaltyBps;
    uint256 private immutable _rewardSupply;

    /// @dev Offset of the model's hashes in its vault's code: the clone's 45 bytes, then the model id (RoyaltyVault's
    /// immutable args).
    uint256 private constant _HASHES_AT = 0x2d + 8;

    /// @dev Storage form of a Model (getModel returns the ABI form). The first slot holds all the job market reads
    /// (datatoken, generation, frozen) so each of its calls reads one slot, with the baseline metric; parent and job
    /// ids (counters far below 2**64) share slots with addresses. Not stored, because they are recorded elsewhere: the
    /// data NFT (the datatoken names it), the metadata URI (the NFT's tokenURI, set at creation and never changed by
    /// the registry), the exchange id (FixedRateExchange derives it from the base token and the datatoken; `fixedRate`
    /// says there is one) and the model of a datatoken (its payment collector is the model's vault, which knows the
    /// model's id). The write-once hashes (weights root, config, data, benchmark) are written into the code of the
    /// model's vault clone, after the vault's own immutable args (200 gas a byte instead of 22,100 a slot), and read
    /// back with EXTCODECOPY (_hashes); the weights root is also the key of `_modelOfWeightsRoot`, which the job
    /// market checks a receipt against. A root model takes 3 slots, a derived one 4 (5 with a tokenizer).
    struct StoredModel {
        address datatoken;
        uint16 generation;
        bool frozen;
        bool fixedRate;
        uint64 baselineMetric;
        address owner;
        uint64 parentId;
        address vault;
        uint64 jobId;
        address parentSide;
        bytes32 tokenizerHash;
    }

    uint256 private _modelCount;
    mapping(uint256 modelId => StoredModel) private _models;
    mapping(bytes32 weightsRoot => uint256 modelId) private _modelOfWeightsRoot;
    mapping(bytes32 commitment => uint256 blockNumber) private _commitmentBlock;

    /// @dev `cfg.jobMarket` is the job market's address, deployed right after the registry (its constructor checks
    /// that the registry names it). Fails on a zero address, a split above 100% or a zero depth.
    constructor(Config memory cfg) {
        if (
            cfg.oceanFactory == address(0) ||
            cfg.fixedRateExchange == address(0) ||
            cfg.dispenser == address(0) ||
            cfg.baseToken == address(0) ||
            cfg.jobMarket == address(0) ||
            cfg.vaultImplementation == address(0)
        ) revert ModelRegistryZeroAddress();
        if (cfg.trainerShareBps > _BPS) revert ModelRegistryInvalidBps(cfg.trainerShareBps);
        if (cfg.parentRoyaltyBps > _BPS) revert ModelRegistryInvalidBps(cfg.parentRoyaltyBps);
        if (cfg.maxDepth == 0) revert ModelRegistryInvalidDepth(cfg.maxDepth);
        // The vault implementation holds the registry and base token every clone uses: they must be these.
        IRoyaltyVault implementation = IRoyaltyVault(cfg.vaultImplementation);
        if (implementation.registry() != address(this) || implementation.baseToken() != cfg.baseToken) {
            revert ModelRegistryVaultMismatch(implementation.registry(), implementation.baseToken());
        }
        _oceanFactory = cfg.oceanFactory;
        _fixedRateExchange = cfg.fixedRateExchange;
        _dispenser = cfg.dispenser;
        _baseToken = cfg.baseToken;
        _jobMarket = cfg.jobMarket;
        _vaultImplementation = cfg.vaultImplementation;
        _maxDepth = cfg.maxDepth;
        _trainerShareBps = cfg.trainerShareBps;
        _parentRoyaltyBps = cfg.parentRoyaltyBps;
        _rewardSupply = cfg.rewardSupply;
    }

    modifier onlyJobMarket() {
        if (msg.sender != _jobMarket) revert ModelRegistryNotJobMarket(msg.sender);
        _;
    }

    /// @inheritdoc IModelRegistry
    function commitWeightsRoot(bytes32 commitment) external {
        if (_commitmentBlock[commitment] != 0) return;
        _commitmentBlock[commitment] = block.number;
        emit WeightsRootCommitted(msg.sender, commitment);
    }

    /// @inheritdoc IModelRegistry
    function weightsRootCommitment(address publisher, bytes32 weightsRoot) public pure returns (bytes32) {
        return keccak256(abi.encode(publisher, weightsRoot));
    }

    /// @inheritdoc IModelRegistry
    function commitmentBlock(bytes32 commitment) external view returns (uint256) {
        return _commitmentBlock[commitment];
    }

    /// @inheritdoc IModelRegistry
    function publishModel(PublishParams calldata p) external nonReentrant returns (uint256 modelId) {
        return _publish(p);
    }

    /// @inheritdoc IModelRegistry
    function publishModelWithTokenizer(
        PublishParams calldata p,
        bytes32 tokenizerHash
    ) external nonReentrant returns (uint256 modelId) {
        modelId = _publish(p);
        _models[modelId].tokenizerHash = tokenizerHash;
        emit TokenizerRecorded(modelId, tokenizerHash);
    }

    /// @dev Creates a root model (see publishModel) and returns its id.
    function _publish(PublishParams calldata p) private returns (uint256 modelId) {
        if (p.weightsRoot == bytes32(0)) revert ModelRegistryZeroWeightsRoot();
        _claimWeightsRoot(p.weightsRoot, _modelCount + 1);
        _useCommitment(msg.sender, p.weightsRoot);
        if (p.pricing.kind == PricingKind.FixedRate) {
            if (p.pricing.rate == 0) revert ModelRegistryInvalidPrice(p.pricing.rate);
        } else if (p.pricing.dispenserMaxTokens == 0 || p.pricing.dispenserMaxBalance == 0) {
            revert ModelRegistryInvalidDispenser(p.pricing.dispenserMaxTokens, p.pricing.dispenserMaxBalance);
        }
        modelId = ++_modelCount;
        // A root model's vault has no parent: its args stop before the parent's royalty and vault (read as zeros).
        address vault = Clones.cloneWithImmutableArgs(
            _vaultImplementation,
            abi.encodePacked(
                _vaultHead(modelId),
                p.weightsRoot,
                p.configHash,
                p.dataHash,
                p.baseline.benchmarkId
            )
        );
        (address nft, address datatoken, bytes32 exchangeId) = _createPricedAsset(p, vault);

        StoredModel storage m = _models[modelId];
        (m.datatoken, m.fixedRate, m.baselineMetric) = (datatoken, exchangeId != bytes32(0), p.baseline.metric);
        m.owner = msg.sender;
        m.vault = vault;

        _initVault(vault, datatoken, msg.sender, address(0), ROYALTY_VAULT_TOTAL_SHARES);
        _setMetadata(nft, p.oceanMetadata);
        if (p.initialSupply != 0) IOceanDatatoken(datatoken).mint(msg.sender, p.initialSupply);
        emit ModelPublished(modelId, msg.sender, nft, datatoken, vault, p.weightsRoot, exchangeId);
    }

    /// @inheritdoc IModelRegistry
    function createDerivedModel(Derivation calldata d) external onlyJobMarket nonReentrant returns (uint256 modelId) {
        StoredModel storage parent = _existing(d.parentId);
        if (parent.frozen) revert ModelRegistryModelFrozen(d.parentId);
        uint256 generation = uint256(parent.generation) + 1;
        if (generation > _maxDepth) revert ModelRegistryLineageTooDeep(d.parentId, generation, _maxDepth);
        if (d.weightsRoot == bytes32(0)) revert ModelRegistryZeroWeightsRoot();

        modelId = ++_modelCount;
        _claimWeightsRoot(d.weightsRoot, modelId);
        _useCommitment(d.committer, d.weightsRoot);
        StoredModel storage m = _models[modelId];
        // Cannot truncate: ids are counters (one per model, one per job), far below 2**64.
        (m.owner, m.parentId) = (d.trainer, uint64(d.parentId));
        m.jobId = uint64(d.jobId);
        m.parentSide = parent.owner;
        bytes32 tokenizer = parent.tokenizerHash;
        if (tokenizer != bytes32(0)) m.tokenizerHash = tokenizer;
        // Cannot truncate: generation ≤ maxDepth, a uint16.
        _deployDerived(modelId, m, parent.vault, uint16(generation), d);
        emit ModelDerived(
            modelId,
            d.parentId,
            d.jobId,
            d.trainer,
            m.parentSide,
            m.datatoken,
            m.vault,
            d.weightsRoot,
            uint16(generation)
        );
    }

    /// @inheritdoc IModelRegistry
    function freezeModel(uint256 modelId) external onlyJobMarket {
        StoredModel storage m = _existing(modelId);
        if (m.frozen) revert ModelRegistryModelFrozen(modelId);
        m.frozen = true;
        emit ModelFrozen(modelId, m.jobId);
        IRoyaltyVault(m.vault).freeze();
    }

    /// @inheritdoc IModelRegistry
    function updateOceanMetadata(uint256 modelId, OceanMetadata calldata metadata) external nonReentrant {
        StoredModel storage m = _existing(modelId);
        if (msg.sender != m.owner) revert ModelRegistryNotModelOwner(modelId, msg.sender);
        _setMetadata(IOceanDatatoken(m.datatoken).getERC721Address(), metadata);
        emit OceanMetadataUpdated(modelId, metadata.dataHash);
    }

    /// @notice Accepts only the data NFTs that Ocean's factory mints to the registry while it creates a model.
    function onERC721Received(address operator, address from, uint256, bytes calldata) external view returns (bytes4) {
        if (operator != _oceanFactory || from != address(0)) revert ModelRegistryUnexpectedNft(operator, from);
        return IERC721Receiver.onERC721Received.selector;
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory) {
        StoredModel storage m = _existing(modelId);
        address datatoken = m.datatoken;
        address nft = IOceanDatatoken(datatoken).getERC721Address();
        (bytes32 weightsRoot, bytes32 configHash, bytes32 dataHash, bytes32 benchmarkId) = _hashes(m.vault);
        return
            Model({
                owner: m.owner,
                generation: m.generation,
                frozen: m.frozen,
                parentSide: m.parentSide,
                parentId: m.parentId,
                jobId: m.jobId,
                nft: nft,
                datatoken: datatoken,
                vault: m.vault,
                exchangeId: m.fixedRate
                    ? IOceanFixedRateExchange(_fixedRateExchange).generateExchangeId(_baseToken, datatoken)
                    : bytes32(0),
                weightsRoot: weightsRoot,
                configHash: configHash,
                dataHash: dataHash,
                benchmarkId: benchmarkId,
                baselineMetric: m.baselineMetric,
                metadataURI: IOceanDataNft(nft).tokenURI(1),
                tokenizerHash: m.tokenizerHash
            });
    }

    /// @inheritdoc IModelRegistry
    function modelRuntime(
        uint256 modelId
    ) external view returns (address owner, address datatoken, bytes32 weightsRoot, bool frozen) {
        StoredModel storage m = _existing(modelId);
        (bytes32 root, , , ) = _hashes(m.vault);
        return (m.owner, m.datatoken, root, m.frozen);
    }

    /// @inheritdoc IModelRegistry
    function modelForJob(
        uint256 modelId
    ) external view returns (address datatoken, bytes32 weightsRoot, bool frozen, uint16 generation) {
        StoredModel storage m = _existing(modelId);
        (bytes32 root, , , ) = _hashes(m.vault);
        return (m.datatoken, root, m.frozen, m.generation);
    }

    /// @inheritdoc IModelRegistry
    function modelStatus(uint256 modelId) external view returns (address datatoken, bool frozen, uint16 generation) {
        StoredModel storage m = _existing(modelId);
        return (m.datatoken, m.frozen, m.generation);
    }

    /// @inheritdoc IModelRegistry
    function modelOfWeightsRoot(bytes32 weightsRoot) external view returns (uint256) {
        return _modelOfWeightsRoot[weightsRoot];
    }

    /// @inheritdoc IModelRegistry
    function makersOf(uint256 modelId) external view returns (address owner, uint256 jobId) {
        StoredModel storage m = _existing(modelId);
        return (m.owner, m.jobId);
    }

    /// @inheritdoc IModelRegistry
    function lineageOf(uint256 modelId) external view returns (uint256 parentId, uint16 generation) {
        StoredModel storage m = _existing(modelId);
        return (m.parentId, m.generation);
    }

    /// @inheritdoc IModelRegistry
    function ancestors(uint256 modelId, uint256 maxCount) external view returns (uint256[] memory ids) {
        StoredModel storage m = _existing(modelId);
        uint256 count = m.generation < maxCount ? m.generation : maxCount;
        ids = new uint256[](count);
        uint256 id = modelId;
        // Bounded by the generation, itself at most maxDepth.
        for (uint256 i = 0; i < count; ++i) {
            id = _models[id].parentId;
            ids[i] = id;
        }
    }

    /// @inheritdoc IModelRegistry
    function modelOfDatatoken(address datatoken) external view returns (uint256) {
        // Not stored: a PostHuman datatoken's payment collector is its model's vault, whose code holds the model's id,
        // and that model's record must name both back (a token or vault made elsewhere answers 0).
        address vault = address(uint160(_viewWord(datatoken, IOceanDatatoken.getPaymentCollector.selector)));
        uint256 modelId = _viewWord(vault, IRoyaltyVault.modelId.selector);
        if (modelId == 0 || modelId > _modelCount) return 0;
        StoredModel storage m = _models[modelId];
        return m.datatoken == datatoken && m.vault == vault ? modelId : 0;
    }

    /// @inheritdoc IModelRegistry
    function isFrozen(uint256 modelId) external view returns (bool) {
        return _existing(modelId).frozen;
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    /// @inheritdoc IModelRegistry
    function config() external view returns (Config memory) {
        return
            Config({
                oceanFactory: _oceanFactory,
                fixedRateExchange: _fixedRateExchange,
                dispenser: _dispenser,
                baseToken: _baseToken,
                jobMarket: _jobMarket,
                vaultImplementation: _vaultImplementation,
                maxDepth: _maxDepth,
                trainerShareBps: _trainerShareBps,
                parentRoyaltyBps: _parentRoyaltyBps,
                rewardSupply: _rewardSupply
            });
    }

    /// @dev The first immutable arg of a model's vault clone: the model id (RoyaltyVault's layout).
    function _vaultHead(uint256 modelId) private pure returns (bytes memory) {
        // Cannot truncate: ids are a counter, far below 2**64.
        return abi.encodePacked(uint64(modelId));
    }

    /// @dev The write-once hashes of a model, from its vault's code (see StoredModel).
    function _hashes(
        address vault
    ) private view returns (bytes32 weightsRoot, bytes32 configHash, bytes32 dataHash, bytes32 benchmarkId) {
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            extcodecopy(vault, ptr, _HASHES_AT, 0x80)
            weightsRoot := mload(ptr)
            configHash := mload(add(ptr, 0x20))
            dataHash := mload(add(ptr, 0x40))
            benchmarkId := mload(add(ptr, 0x60))
        }
    }

    /// @dev The word a view without arguments of `target` returns, or 0 when it has no code, reverts or returns
    /// anything but one word. For views only: a hostile target can make the call expensive, never wrong.
    function _viewWord(address target, bytes4 selector) private view returns (uint256) {
        if (target.code.length == 0) return 0;
        (bool ok, bytes memory ret) = target.staticcall(abi.encodeWithSelector(selector));
        return ok && ret.length == 32 ? abi.decode(ret, (uint256)) : 0;
    }

    function _existing(uint256 modelId) private view returns (StoredModel storage m) {
        m = _models[modelId];
        if (m.datatoken == address(0)) revert ModelRegistryUnknownModel(modelId);
    }

    /// @dev Spends `account`'s commitment to `weightsRoot`, which must be from an earlier block (commitWeightsRoot).
    function _useCommitment(address account, bytes32 weightsRoot) private {
        bytes32 commitment = weightsRootCommitment(account, weightsRoot);
        uint256 committedAt = _commitmentBlock[commitment];
        if (committedAt == 0 || committedAt >= block.number) {
            revert ModelRegistryWeightsRootNotCommitted(weightsRoot, committedAt);
        }
        delete _commitmentBlock[commitment];
    }

    /// @dev A weights root belongs to exactly one model: a copy of a published model's root cannot be registered again,
    /// as a root or as a "child" (the worker looks weights up by root, so a copy would earn from another's weights).
    function _claimWeightsRoot(bytes32 weightsRoot, uint256 modelId) private {
        uint256 holder = _modelOfWeightsRoot[weightsRoot];
        if (holder != 0) revert ModelRegistryWeightsRootTaken(weightsRoot, holder);
        _modelOfWeightsRoot[weightsRoot] = modelId;
    }

    /// @dev Creates the NFT + datatoken of a root model with its pricing. The registry owns the NFT, mints the
    /// datatoken and points its payment collector at the vault; the publisher owns the exchange (it may change the
    /// rate; sales still reach the vault through collectBT) and the vault is its market-fee collector (fee 0).
    function _createPricedAsset(
        PublishParams calldata p,
        address vault
    ) private returns (address nft, address datatoken, bytes32 exchangeId) {
        IOceanERC721Factory.NftCreateData memory nftData = _nftData(p.name, p.symbol, p.metadataURI);
        IOceanERC721Factory.ErcCreateData memory ercData = _ercData(
            string.concat(p.name, " datatoken"),
            string.concat(p.symbol, "-DT"),
            vault
        );
        IOceanERC721Factory factory = IOceanERC721Factory(_oceanFactory);
        if (p.pricing.kind == PricingKind.FixedRate) {
            address[] memory addrs = new address[](4);
            addrs[0] = _baseToken;
            addrs[1] = msg.sender;
            addrs[2] = vault;
            uint256[] memory uints = new uint256[](5);
            uints[0] = _DECIMALS;
            uints[1] = _DECIMALS;
            uints[2] = p.pricing.rate;
            uints[4] = 1; // withMint: the exchange mints what it sells
            (nft, datatoken, exchangeId) = factory.createNftWithErc20WithFixedRate(
                nftData,
                ercData,
                IOceanERC721Factory.FixedData(_fixedRateExchange, addrs, uints)
            );
        } else {
            (nft, datatoken) = factory.createNftWithErc20WithDispenser(
                nftData,
                ercData,
                IOceanERC721Factory.DispenserData(
                    _dispenser,
                    p.pricing.dispenserMaxTokens,
                    p.pricing.dispenserMaxBalance,
                    true,
                    address(0)
                )
            );
        }
    }

    /// @dev Opens the vault and the Ocean asset of a derived model, then mints its rewards: `trainerShareBps` of the
    /// vault shares and reward datatokens to the trainer, the rest to the parent's side.
    function _deployDerived(
        uint256 modelId,
        StoredModel storage m,
        address parentVault,
        uint16 generation,
        Derivation calldata d
    ) private {
        // The child inherits its parent's benchmark (the metric is measured on it).
        (, , , bytes32 benchmarkId) = _hashes(parentVault);
        address vault = Clones.cloneWithImmutableArgs(
            _vaultImplementation,
            bytes.concat(
                abi.encodePacked(_vaultHead(modelId), d.weightsRoot, d.configHash, d.dataHash, benchmarkId),
                abi.encodePacked(_parentRoyaltyBps, parentVault)
            )
        );
        address datatoken = _createDerivedAsset(modelId, d.metadataURI, vault);
        (m.datatoken, m.generation, m.baselineMetric) = (datatoken, generation, d.metric);
        m.vault = vault;
        address trainer = m.owner;
        address parentSide = m.parentSide;
        uint256 trainerShares = (ROYALTY_VAULT_TOTAL_SHARES * _trainerShareBps) / _BPS;
        _initVault(vault, datatoken, trainer, parentSide, trainerShares);
        uint256 trainerTokens = (_rewardSupply * _trainerShareBps) / _BPS;
        if (trainerTokens != 0) IOceanDatatoken(datatoken).mint(trainer, trainerTokens);
        if (_rewardSupply != trainerTokens) IOceanDatatoken(datatoken).mint(parentSide, _rewardSupply - trainerTokens);
    }

    /// @dev Creates the NFT + datatoken of a derived model, unpriced: its tokens are the contributors' rewards, sold
    /// holder to holder.
    function _createDerivedAsset(
        uint256 modelId,
        string memory metadataURI,
        address vault
    ) private returns (address datatoken) {
        string memory id = Strings.toString(modelId);
        string memory name = string.concat("PostHuman model ", id);
        string memory symbol = string.concat("PHM-", id);
        (, datatoken) = IOceanERC721Factory(_oceanFactory).createNftWithErc20(
            _nftData(name, symbol, metadataURI),
            _ercData(string.concat(name, " datatoken"), string.concat(symbol, "-DT"), vault)
        );
    }

    function _nftData(
        string memory name,
        string memory symbol,
        string memory tokenURI
    ) private view returns (IOceanERC721Factory.NftCreateData memory) {
        // Not transferable: moving the NFT would reset the datatoken's minter and payment collector.
        return IOceanERC721Factory.NftCreateData(name, symbol, _ERC721_TEMPLATE, tokenURI, false, address(this));
    }

    function _ercData(
        string memory name,
        string memory symbol,
        address vault
    ) private view returns (IOceanERC721Factory.ErcCreateData memory data) {
        data.templateIndex = _ERC20_TEMPLATE;
        data.strings = new string[](2);
        data.strings[0] = name;
        data.strings[1] = symbol;
        // minter, payment collector, publish-market fee address, publish-market fee token
        data.addresses = new address[](4);
        data.addresses[0] = address(this);
        data.addresses[1] = vault;
        // cap (template 1 ignores it), publish-market fee amount
        data.uints = new uint256[](2);
        data.uints[0] = type(uint256).max;
        data.bytess = new bytes[](0);
    }

    /// @dev Initialises a fresh vault clone (its fixed fields are in its code): `first` gets `firstShares`, `second`
    /// the rest of the fixed supply.
    function _initVault(
        address vault,
        address datatoken,
        address first,
        address second,
        uint256 firstShares
    ) private {
        IRoyaltyVault(vault).initialize(
            IRoyaltyVault.InitParams(datatoken, [first, second], [firstShares, ROYALTY_VAULT_TOTAL_SHARES - firstShares])
        );
    }

    function _setMetadata(address nft, OceanMetadata calldata md) private {
        IOceanDataNft(nft).setMetaData(
            md.state,
            md.decryptorUrl,
            md.decryptorAddress,
            md.flags,
            md.data,
            md.dataHash,
            new IOceanDataNft.MetaDataProof[](0)
        );
    }
}
