// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";

/// @title SimulationProbe (test only)
/// @notice Reads in one call what the adversarial simulation checks after every step (test/contracts/
/// adversarial-world.ts): a token's total over a set of holders, workers' whole stakes and jobs' statuses. Only views.
contract SimulationProbe {
    function totalOf(IERC20 token, address[] calldata holders) external view returns (uint256 total) {
        for (uint256 i = 0; i < holders.length; ++i) total += token.balanceOf(holders[i]);
    }

    function stakesOf(IJobMarket market, address[] calldata workers) external view returns (uint256[] memory stakes) {
        stakes = new uint256[](workers.length);
        for (uint256 i = 0; i < workers.length; ++i) {
            IJobMarket.WorkerStake memory s = market.stakeOf(workers[i]);
            stakes[i] = s.free + s.locked + s.unstaking;
        }
    }

    function statusesOf(IJobMarket market, uint256[] calldata jobIds) external view returns (uint8[] memory statuses) {
        statuses = new uint8[](jobIds.length);
        for (uint256 i = 0; i < jobIds.length; ++i) statuses[i] = uint8(market.getJob(jobIds[i]).status);
    }
}
