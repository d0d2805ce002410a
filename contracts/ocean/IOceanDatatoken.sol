// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Minimal interface to Ocean Protocol's ERC20Template (datatoken), as deployed by ERC721Factory.
/// @dev Written from oceanprotocol/contracts `contracts/templates/ERC20Template.sol` (v2); only what PostHuman calls.
interface IOceanDatatoken {
    /// @notice A provider fee. An all-zero fee with a zero signature passes the template's check because
    /// ecrecover of a zero signature returns address 0, which equals the zero providerFeeAddress.
    struct ProviderFee {
        address providerFeeAddress;
        address providerFeeToken;
        uint256 providerFeeAmount;
        uint8 v;
        bytes32 r;
        bytes32 s;
        uint256 validUntil;
        bytes providerData;
    }

    struct ConsumeMarketFee {
        address consumeMarketFeeAddress;
        address consumeMarketFeeToken;
        uint256 consumeMarketFeeAmount;
    }

    /// @notice Starts an order: moves 1 datatoken from msg.sender, 3% to Ocean's collector and the rest to the
    /// payment collector, and emits OrderStarted with `consumer`.
    function startOrder(
        address consumer,
        uint256 serviceIndex,
        ProviderFee calldata providerFee,
        ConsumeMarketFee calldata consumeMarketFee
    ) external;

    function mint(address account, uint256 value) external;

    function addMinter(address minter) external;

    function isMinter(address account) external view returns (bool);

    function setPaymentCollector(address newPaymentCollector) external;

    function getPaymentCollector() external view returns (address);

    function getERC721Address() external view returns (address);

    /// @notice EIP-2612 permit. Ocean's template compares `deadline` with the block NUMBER, not the timestamp, and
    /// signs over the EIP-712 domain (name = the datatoken's name, version "1", chainId, the datatoken).
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// @notice Burns `value` of the caller's datatokens (ERC20Burnable).
    function burn(uint256 value) external;
}
