// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {IJobMarketConsumer} from "../interfaces/IJobMarketConsumer.sol";

/// @notice Bench contract: a requester whose hooks do nothing, so that the gas of a delivery measures the market's
/// overhead alone (offchain/bench/gas.ts). Not deployed outside tests and benches.
contract MinimalConsumer is IJobMarketConsumer {
    IJobMarket public immutable market;

    constructor(IJobMarket market_) {
        market = market_;
    }

    /// @notice Approves the market for one datatoken and the fees, then requests with a callback.
    function request(
        IJobMarket.JobRequest calldata r,
        IJobMarket.Callback calldata callback,
        address datatoken
    ) external returns (uint256) {
        IERC20(datatoken).approve(address(market), 1e18);
        IERC20(market.config().baseToken).approve(address(market), r.fee + callback.fee);
        return market.requestJobWithCallback(r, callback);
    }

    /// @inheritdoc IJobMarketConsumer
    // solhint-disable-next-line no-empty-blocks
    function onJobReceipt(uint256, IJobMarket.JobKind, uint256, IJobMarket.Receipt calldata, uint256) external {}

    /// @inheritdoc IJobMarketConsumer
    // solhint-disable-next-line no-empty-blocks
    function onJobOutcome(uint256, IJobMarket.JobStatus, bytes32) external {}
}
