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

    uint256 private _modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(address datatoken => uint256 modelId) private _modelOfDatatoken;

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
    function publishModel(PublishParams calldata p) external nonReentrant returns (uint256 modelId) {
        if (p.weightsRoot == bytes32(0)) revert ModelRegistryZeroWeightsRoot();
        if (p.pricing.kind == PricingKind.FixedRate) {
            if (p.pricing.rate == 0) revert ModelRegistryInvalidPrice(p.pricing.rate);
        } else if (p.pricing.dispenserMaxTokens == 0 || p.pricing.dispenserMaxBalance == 0) {
            revert ModelRegistryInvalidDispenser(p.pricing.dispenserMaxTokens, p.pricing.dispenserMaxBalance);
        }
        modelId = ++_modelCount;
        address vault = Clones.clone(_vaultImplementation);
        (address nft, address datatoken, bytes32 exchangeId) = _createPricedAsset(p, vault);

        Model storage m = _models[modelId];
        m.owner = msg.sender;
        m.nft = nft;
        m.datatoken = datatoken;
        m.vault = vault;
        m.exchangeId = exchangeId;
        m.weightsRoot = p.weightsRoot;
        m.configHash = p.configHash;
        m.dataHash = p.dataHash;
        m.benchmarkId = p.baseline.benchmarkId;
        m.baselineMetric = p.baseline.metric;
        m.metadataURI = p.metadataURI;
        _modelOfDatatoken[datatoken] = modelId;

        _initVault(vault, modelId, datatoken, address(0), 0, msg.sender, address(0), ROYALTY_VAULT_TOTAL_SHARES);
        _setMetadata(nft, p.oceanMetadata);
        if (p.initialSupply != 0) IOceanDatatoken(datatoken).mint(msg.sender, p.initialSupply);
        emit ModelPublished(modelId, msg.sender, nft, datatoken, vault, p.weightsRoot, exchangeId);
    }

    /// @inheritdoc IModelRegistry
    function createDerivedModel(Derivation calldata d) external onlyJobMarket nonReentrant returns (uint256 modelId) {
        Model storage parent = _existing(d.parentId);
        if (parent.frozen) revert ModelRegistryModelFrozen(d.parentId);
        uint256 generation = uint256(parent.generation) + 1;
        if (generation > _maxDepth) revert ModelRegistryLineageTooDeep(d.parentId, generation, _maxDepth);
        if (d.weightsRoot == bytes32(0)) revert ModelRegistryZeroWeightsRoot();

        modelId = ++_modelCount;
        Model storage m = _models[modelId];
        m.owner = d.trainer;
        // Cannot truncate: generation ≤ maxDepth, a uint16.
        m.generation = uint16(generation);
        m.parentSide = parent.owner;
        m.parentId = d.parentId;
        m.jobId = d.jobId;
        m.weightsRoot = d.weightsRoot;
        m.configHash = d.configHash;
        m.dataHash = d.dataHash;
        m.benchmarkId = parent.benchmarkId;
        m.baselineMetric = d.metric;
        m.metadataURI = d.metadataURI;
        _deployDerived(modelId, m, parent.vault);
        emit ModelDerived(
            modelId,
            d.parentId,
            d.jobId,
            d.trainer,
            m.parentSide,
            m.datatoken,
            m.vault,
            d.weightsRoot,
            m.generation
        );
    }

    /// @inheritdoc IModelRegistry
    function freezeModel(uint256 modelId) external onlyJobMarket {
        Model storage m = _existing(modelId);
        if (m.frozen) revert ModelRegistryModelFrozen(modelId);
        m.frozen = true;
        emit ModelFrozen(modelId, m.jobId);
        IRoyaltyVault(m.vault).freeze();
    }

    /// @inheritdoc IModelRegistry
    function updateOceanMetadata(uint256 modelId, OceanMetadata calldata metadata) external nonReentrant {
        Model storage m = _existing(modelId);
        if (msg.sender != m.owner) revert ModelRegistryNotModelOwner(modelId, msg.sender);
        _setMetadata(m.nft, metadata);
        emit OceanMetadataUpdated(modelId, metadata.dataHash);
    }

    /// @notice Accepts only the data NFTs that Ocean's factory mints to the registry while it creates a model.
    function onERC721Received(address operator, address from, uint256, bytes calldata) external view returns (bytes4) {
        if (operator != _oceanFactory || from != address(0)) revert ModelRegistryUnexpectedNft(operator, from);
        return IERC721Receiver.onERC721Received.selector;
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory) {
        return _existing(modelId);
    }

    /// @inheritdoc IModelRegistry
    function modelRuntime(
        uint256 modelId
    ) external view returns (address owner, address datatoken, bytes32 weightsRoot, bool frozen) {
        Model storage m = _existing(modelId);
        return (m.owner, m.datatoken, m.weightsRoot, m.frozen);
    }

    /// @inheritdoc IModelRegistry
    function lineageOf(uint256 modelId) external view returns (uint256 parentId, uint16 generation) {
        Model storage m = _existing(modelId);
        return (m.parentId, m.generation);
    }

    /// @inheritdoc IModelRegistry
    function ancestors(uint256 modelId, uint256 maxCount) external view returns (uint256[] memory ids) {
        Model storage m = _existing(modelId);
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
        return _modelOfDatatoken[datatoken];
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

    function _existing(uint256 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (m.nft == address(0)) revert ModelRegistryUnknownModel(modelId);
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
    function _deployDerived(uint256 modelId, Model storage m, address parentVault) private {
        address vault = Clones.clone(_vaultImplementation);
        (address nft, address datatoken) = _createDerivedAsset(modelId, m.metadataURI, vault);
        m.nft = nft;
        m.datatoken = datatoken;
        m.vault = vault;
        _modelOfDatatoken[datatoken] = modelId;
        address trainer = m.owner;
        address parentSide = m.parentSide;
        uint256 trainerShares = (ROYALTY_VAULT_TOTAL_SHARES * _trainerShareBps) / _BPS;
        _initVault(vault, modelId, datatoken, parentVault, _parentRoyaltyBps, trainer, parentSide, trainerShares);
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
    ) private returns (address nft, address datatoken) {
        string memory id = Strings.toString(modelId);
        string memory name = string.concat("PostHuman model ", id);
        string memory symbol = string.concat("PHM-", id);
        (nft, datatoken) = IOceanERC721Factory(_oceanFactory).createNftWithErc20(
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

    /// @dev Initialises a fresh vault clone: `first` gets `firstShares`, `second` the rest of the fixed supply.
    function _initVault(
        address vault,
        uint256 modelId,
        address datatoken,
        address parentVault,
        uint16 parentBps,
        address first,
        address second,
        uint256 firstShares
    ) private {
        IRoyaltyVault.InitParams memory init;
        init.modelId = modelId;
        init.baseToken = _baseToken;
        init.datatoken = datatoken;
        init.parentVault = parentVault;
        init.parentBps = parentBps;
        init.holders = [first, second];
        init.shares = [firstShares, ROYALTY_VAULT_TOTAL_SHARES - firstShares];
        IRoyaltyVault(vault).initialize(init);
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
