// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IOceanDatatoken} from "../ocean/IOceanDatatoken.sol";

/// @notice Test contract: holds a datatoken and starts an Ocean order on behalf of a consumer, the mechanism
/// PostHuman's job market uses. Not deployed outside tests.
contract OceanOrderProxy {
    using SafeERC20 for IERC20;

    /// @notice Pulls 1 datatoken from the caller, then orders with it for `consumer` with the given provider fee.
    function orderFor(address datatoken, address consumer, IOceanDatatoken.ProviderFee calldata providerFee) external {
        IERC20(datatoken).safeTransferFrom(msg.sender, address(this), 1 ether);
        IOceanDatatoken.ConsumeMarketFee memory noMarketFee = IOceanDatatoken.ConsumeMarketFee(address(0), address(0), 0);
        IOceanDatatoken(datatoken).startOrder(consumer, 0, providerFee, noMarketFee);
    }
}
