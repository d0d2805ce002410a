// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";

/// @notice Test contract: a requester that makes several job requests in one transaction (a batch), and accepts its
/// owner's signature for their input uploads (ERC-1271). Lets tests show that two requests of one transaction keep
/// their inputs apart. Not deployed outside tests.
contract BatchRequester is IERC1271 {
    error BatchRequesterNotOwner(address caller);

    IJobMarket public immutable market;
    address public immutable owner;

    constructor(IJobMarket market_, address owner_) {
        market = market_;
        owner = owner_;
    }

    /// @notice Requests every job of `requests` in this one call, spending one `datatoken` and the fee of each.
    function requestAll(
        IJobMarket.JobRequest[] calldata requests,
        address datatoken
    ) external returns (uint256[] memory jobIds) {
        if (msg.sender != owner) revert BatchRequesterNotOwner(msg.sender);
        uint256 fees;
        for (uint256 i; i < requests.length; ++i) fees += requests[i].fee;
        IERC20(datatoken).approve(address(market), requests.length * 1e18);
        IERC20(market.config().baseToken).approve(address(market), fees);
        jobIds = new uint256[](requests.length);
        for (uint256 i; i < requests.length; ++i) jobIds[i] = market.requestJob(requests[i]);
    }

    /// @notice Cancels one of this contract's open jobs (the market refunds its datatoken and fee here).
    function cancel(uint256 jobId) external {
        if (msg.sender != owner) revert BatchRequesterNotOwner(msg.sender);
        market.cancelJob(jobId);
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }
}
