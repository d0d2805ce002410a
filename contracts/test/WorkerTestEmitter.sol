// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @notice Test contract for the off-chain worker's foundations (ingestion, transaction sender): emits events on
/// demand and reverts with a custom error on demand. Not deployed outside tests.
contract WorkerTestEmitter {
    /// @notice Emitted by `ping`; `id` and `sender` are indexed so that tests can filter on them.
    event Pinged(uint256 indexed id, address indexed sender, bytes32 tag);

    /// @notice `refuse` always reverts with this error, carrying its argument and a fixed reason.
    error WorkerTestEmitterRefused(uint256 id, string reason);

    /// @notice The number of pings so far.
    uint256 public pings;

    /// @notice How many storage slots `work` fills: raising it makes a `work` estimated before dearer when mined.
    uint256 public load;

    /// @notice What `work` wrote, slot by slot.
    mapping(uint256 slot => uint256 id) public worked;

    /// @notice Emits one `Pinged`.
    function ping(uint256 id, bytes32 tag) external {
        ++pings;
        emit Pinged(id, msg.sender, tag);
    }

    /// @notice Emits `count` events `Pinged(firstId + i)` in one transaction (several logs per block).
    function pingMany(uint256 firstId, uint256 count) external {
        // Bounded by the caller's gas: a test helper, never called with user data.
        for (uint256 i = 0; i < count; ++i) {
            ++pings;
            emit Pinged(firstId + i, msg.sender, bytes32(0));
        }
    }

    /// @notice Sets how many slots `work` fills.
    function setLoad(uint256 slots) external {
        load = slots;
    }

    /// @notice Writes `id` into `load` fresh slots (22,100 gas each), then emits `Pinged(id)`.
    function work(uint256 id) external {
        uint256 base = pings * 1000;
        for (uint256 i = 0; i < load; ++i) worked[base + i] = id;
        ++pings;
        emit Pinged(id, msg.sender, bytes32(0));
    }

    /// @notice Emits `Pinged(id)` while `load` is 0, and reverts with `WorkerTestEmitterRefused(id, "loaded")` otherwise:
    /// a transaction another one makes fail in its block after its simulation passed.
    function touchy(uint256 id) external {
        if (load != 0) revert WorkerTestEmitterRefused(id, "loaded");
        ++pings;
        emit Pinged(id, msg.sender, bytes32(0));
    }

    /// @notice Always reverts with `WorkerTestEmitterRefused(id, "refused on purpose")`.
    function refuse(uint256 id) external pure {
        revert WorkerTestEmitterRefused(id, "refused on purpose");
    }
}
