// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {IJobMarketConsumer} from "../interfaces/IJobMarketConsumer.sol";

/// @notice Test contract: a job requester whose hooks behave as a test tells them to (record what they receive,
/// revert, burn all their gas, re-enter the market, return a huge revert payload, or use a set amount of gas), so that
/// tests can show what the market delivers and that no hook can stop a job or take value. Not deployed outside tests.
contract CallbackConsumerMock is IJobMarketConsumer {
    enum Mode {
        Record,
        Revert,
        BurnAllGas,
        Reenter,
        RevertBomb,
        UseGas
    }

    /// @notice A hook ran in Record, Reenter or UseGas mode and received these values.
    event ReceiptSeen(
        uint256 indexed jobId,
        IJobMarket.JobKind kind,
        uint256 modelId,
        bytes32 outputHash,
        string outputURI,
        bytes32 servedWeightsRoot,
        IJobMarket.Metrics metrics,
        uint256 childModelId
    );
    event OutcomeSeen(uint256 indexed jobId, IJobMarket.JobStatus outcome, bytes32 receiptHash);
    /// @notice In Reenter mode: what the call into the market returned (`selector`: the first 4 bytes of its revert).
    event ReentryAttempted(bool success, bytes4 selector);

    error CallbackConsumerMockRefused(uint256 jobId);
    error CallbackConsumerMockNotMarket(address caller);

    IJobMarket public immutable market;
    Mode public receiptMode;
    Mode public outcomeMode;
    /// @notice Call data sent to the market in Reenter mode.
    bytes public reentry;
    /// @notice Gas the hook uses in UseGas mode before it records success.
    uint256 public gasToUse;
    /// @notice gasleft() when the last hook started.
    uint256 public gasAtEntry;
    /// @notice Hooks that ran to completion, per job.
    mapping(uint256 jobId => uint256) public completedCalls;
    mapping(uint256 jobId => bytes32) public receiptHashSeen;

    constructor(IJobMarket market_) {
        market = market_;
    }

    function setModes(Mode onReceipt, Mode onOutcome) external {
        receiptMode = onReceipt;
        outcomeMode = onOutcome;
    }

    function setReentry(bytes calldata data) external {
        reentry = data;
    }

    function setGasToUse(uint256 gas_) external {
        gasToUse = gas_;
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

    /// @notice Lets a test act as this contract (cancel or reclaim its jobs, move its tokens).
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            // Bubble the revert up unchanged, so a test sees the target's custom error.
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    /// @inheritdoc IJobMarketConsumer
    function onJobReceipt(
        uint256 jobId,
        IJobMarket.JobKind kind,
        uint256 modelId,
        IJobMarket.Receipt calldata receipt,
        uint256 childModelId
    ) external {
        gasAtEntry = gasleft();
        if (msg.sender != address(market)) revert CallbackConsumerMockNotMarket(msg.sender);
        _behave(jobId, receiptMode);
        receiptHashSeen[jobId] = keccak256(abi.encode(receipt));
        emit ReceiptSeen(
            jobId,
            kind,
            modelId,
            receipt.outputHash,
            receipt.outputURI,
            receipt.servedWeightsRoot,
            receipt.metrics,
            childModelId
        );
        ++completedCalls[jobId];
    }

    /// @inheritdoc IJobMarketConsumer
    function onJobOutcome(uint256 jobId, IJobMarket.JobStatus outcome, bytes32 receiptHash) external {
        gasAtEntry = gasleft();
        if (msg.sender != address(market)) revert CallbackConsumerMockNotMarket(msg.sender);
        _behave(jobId, outcomeMode);
        emit OutcomeSeen(jobId, outcome, receiptHash);
        ++completedCalls[jobId];
    }

    function _behave(uint256 jobId, Mode mode) private {
        if (mode == Mode.Revert) revert CallbackConsumerMockRefused(jobId);
        if (mode == Mode.BurnAllGas) {
            // Loops until the call runs out of gas: the hook never returns.
            uint256 spin;
            while (true) ++spin;
        }
        if (mode == Mode.RevertBomb) {
            // Reverts with 256 KiB of data (the memory is paid from the hook's own gas): a caller that copied revert
            // data would pay for it again.
            // solhint-disable-next-line no-inline-assembly
            assembly {
                revert(0, 262144)
            }
        }
        if (mode == Mode.Reenter) {
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory ret) = address(market).call(reentry);
            emit ReentryAttempted(ok, ret.length >= 4 ? bytes4(ret) : bytes4(0));
        }
        if (mode == Mode.UseGas) {
            uint256 start = gasleft();
            // Bounded by gasToUse, a test's setting.
            // solhint-disable-next-line no-empty-blocks
            while (start - gasleft() < gasToUse) {}
        }
    }
}
