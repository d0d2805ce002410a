// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Minimal interface to Ocean Protocol's ERC721Factory (v2).
/// @dev Written from oceanprotocol/contracts `contracts/ERC721Factory.sol`; only what PostHuman calls. The factory
/// clones an ERC721Template whose token 1 is safe-minted to `NftCreateData.owner` (who becomes its manager with the
/// ERC20-deployer, metadata-updater and store roles), then an ERC20Template datatoken, then optionally its pricing.
interface IOceanERC721Factory {
    struct NftCreateData {
        string name;
        string symbol;
        uint256 templateIndex;
        string tokenURI;
        bool transferable;
        address owner;
    }

    /// @dev addresses = [minter, paymentCollector, publishMarketFeeAddress, publishMarketFeeToken];
    /// uints = [cap (template 1 ignores it), publishMarketFeeAmount].
    struct ErcCreateData {
        uint256 templateIndex;
        string[] strings;
        address[] addresses;
        uint256[] uints;
        bytes[] bytess;
    }

    /// @dev addresses = [baseToken, exchangeOwner, marketFeeCollector, allowedSwapper];
    /// uints = [baseTokenDecimals, datatokenDecimals, fixedRate, marketFee, withMint].
    struct FixedData {
        address fixedPriceAddress;
        address[] addresses;
        uint256[] uints;
    }

    struct DispenserData {
        address dispenserAddress;
        uint256 maxTokens;
        uint256 maxBalance;
        bool withMint;
        address allowedSwapper;
    }

    function createNftWithErc20(
        NftCreateData calldata nftData,
        ErcCreateData calldata ercData
    ) external returns (address erc721Address, address erc20Address);

    function createNftWithErc20WithFixedRate(
        NftCreateData calldata nftData,
        ErcCreateData calldata ercData,
        FixedData calldata fixedData
    ) external returns (address erc721Address, address erc20Address, bytes32 exchangeId);

    function createNftWithErc20WithDispenser(
        NftCreateData calldata nftData,
        ErcCreateData calldata ercData,
        DispenserData calldata dispenserData
    ) external returns (address erc721Address, address erc20Address);
}
