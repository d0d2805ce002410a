// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobMarket, JOB_MARKET_MAX_ENDPOINT_LENGTH} from "./interfaces/IJobMarket.sol";

/// @title WorkerStakes
/// @notice The job market's worker side: stakes, collateral locks, unstaking and API endpoints; see IJobMarket.
/// @dev Abstract base of JobMarket, kept apart so each file reads in one sitting. A worker's free and locked stake and
/// its number of live claims share one slot (a claim and its settlement touch one slot); amounts are uint96 (about
/// 7.9e28 wei: 79 billion tokens of 18 decimals), checked on the way in.
abstract contract WorkerStakes is IJobMarket, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    struct StakeSlot {
        uint96 free;
        uint96 locked;
        /// Jobs whose collateral is locked.
        uint32 claims;
    }

    struct UnstakeSlot {
        uint96 amount;
        uint64 availableAt;
    }

    IERC20 internal immutable _baseToken;
    uint64 internal immutable _unstakeDelay;
    uint256 internal immutable _minWorkerStake;

    mapping(address worker => StakeSlot) private _stakes;
    mapping(address worker => UnstakeSlot) private _unstakes;
    mapping(address worker => string) private _endpoints;

    constructor(IERC20 baseToken, uint64 unstakeDelay, uint256 minWorkerStake) {
        _baseToken = baseToken;
        _unstakeDelay = unstakeDelay;
        _minWorkerStake = minWorkerStake;
    }

    /// @inheritdoc IJobMarket
    function stake(uint256 amount) external nonReentrant {
        _stake(amount);
    }

    /// @inheritdoc IJobMarket
    function stakeWithEndpoint(uint256 amount, string calldata endpoint) external nonReentrant {
        _stake(amount);
        _setEndpoint(endpoint);
    }

    /// @inheritdoc IJobMarket
    function setEndpoint(string calldata endpoint) external nonReentrant {
        StakeSlot storage s = _stakes[msg.sender];
        if (s.free == 0 && s.locked == 0) revert JobMarketNotStaked(msg.sender);
        _setEndpoint(endpoint);
    }

    /// @inheritdoc IJobMarket
    function requestUnstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert JobMarketZeroAmount();
        StakeSlot storage s = _stakes[msg.sender];
        uint256 free = s.free;
        if (free < amount) revert JobMarketInsufficientStake(msg.sender, free, amount);
        // Cannot underflow: checked just above.
        unchecked {
            free -= amount;
        }
        // The minimum backs every live claim: a worker cannot take its free stake out from under them.
        if (s.claims != 0 && free + s.locked < _minWorkerStake) {
            revert JobMarketStakeBelowMinimum(msg.sender, free + s.locked, _minWorkerStake);
        }
        // Cannot truncate: below the former free stake, a uint96.
        s.free = uint96(free);
        UnstakeSlot storage u = _unstakes[msg.sender];
        uint64 availableAt = uint64(block.timestamp) + _unstakeDelay;
        u.amount = (u.amount + amount).toUint96();
        u.availableAt = availableAt;
        emit UnstakeRequested(msg.sender, amount, availableAt);
    }

    /// @inheritdoc IJobMarket
    function withdrawStake() external nonReentrant {
        UnstakeSlot storage u = _unstakes[msg.sender];
        uint256 amount = u.amount;
        if (amount == 0) revert JobMarketNothingToWithdraw(msg.sender);
        if (block.timestamp < u.availableAt) revert JobMarketUnstakeNotReady(msg.sender, u.availableAt);
        u.amount = 0;
        emit StakeWithdrawn(msg.sender, amount);
        _baseToken.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IJobMarket
    function stakeOf(address worker) external view returns (WorkerStake memory) {
        StakeSlot storage s = _stakes[worker];
        UnstakeSlot storage u = _unstakes[worker];
        return
            WorkerStake({
                free: s.free,
                locked: s.locked,
                unstaking: u.amount,
                unstakeAvailableAt: u.availableAt,
                activeClaims: s.claims
            });
    }

    /// @inheritdoc IJobMarket
    function endpointOf(address worker) external view returns (string memory) {
        return _endpoints[worker];
    }

    /// @dev Locks `collateral` of `worker`'s free stake for a new claim; the worker needs minWorkerStake in all.
    function _lock(address worker, uint256 collateral) internal {
        StakeSlot storage s = _stakes[worker];
        (uint256 free, uint256 locked) = (s.free, s.locked);
        if (free + locked < _minWorkerStake) revert JobMarketStakeBelowMinimum(worker, free + locked, _minWorkerStake);
        if (free < collateral) revert JobMarketInsufficientStake(worker, free, collateral);
        // Cannot truncate: collateral ≤ free, and free + locked is the worker's stake, itself a uint96.
        (s.free, s.locked, s.claims) = (uint96(free - collateral), uint96(locked + collateral), s.claims + 1);
    }

    /// @dev Ends a claim: `penalty` of its collateral leaves the stake (the caller pays it out), the rest is free again.
    function _unlock(address worker, uint256 collateral, uint256 penalty) internal {
        StakeSlot storage s = _stakes[worker];
        // Cannot truncate: free + locked is unchanged or smaller, a uint96.
        (s.free, s.locked, s.claims) = (
            uint96(s.free + collateral - penalty),
            uint96(s.locked - collateral),
            s.claims - 1
        );
    }

    function _stake(uint256 amount) private {
        if (amount == 0) revert JobMarketZeroAmount();
        StakeSlot storage s = _stakes[msg.sender];
        uint96 free = (s.free + amount).toUint96();
        // The worker's whole stake must fit too (locked comes back to free).
        (uint256(free) + s.locked).toUint96();
        s.free = free;
        emit WorkerStaked(msg.sender, amount, free);
        _baseToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    function _setEndpoint(string calldata endpoint) private {
        uint256 length = bytes(endpoint).length;
        if (length > JOB_MARKET_MAX_ENDPOINT_LENGTH) {
            revert JobMarketEndpointTooLong(length, JOB_MARKET_MAX_ENDPOINT_LENGTH);
        }
        _endpoints[msg.sender] = endpoint;
        emit WorkerEndpointSet(msg.sender, endpoint);
    }
}
