// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Minimal interface to Ocean Protocol's FixedRateExchange.
/// @dev Written from the ABI of oceanprotocol/contracts `FixedRateExchange` (v2); only what PostHuman calls.
interface IOceanFixedRateExchange {
    /// @notice The id of the exchange selling `datatoken` for `baseToken` (one per pair).
    function generateExchangeId(address baseToken, address datatoken) external view returns (bytes32);
}
