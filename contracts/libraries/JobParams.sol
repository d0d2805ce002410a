// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IJobMarket} from "../interfaces/IJobMarket.sol";

/// @title JobParams
/// @notice Checks the kind-specific `params` bytes of a job request: exactly abi.encode of the kind's struct (static
/// fields only: 32 bytes each), every field within its Solidity type, and the budget fields non-zero. Checking the words
/// directly, rather than with abi.decode, turns every malformed input into JobMarketInvalidParams.
library JobParams {
    uint256 private constant _WORD = 32;

    /// @notice Reverts with JobMarketInvalidParams unless `params` is a well-formed encoding for `kind`.
    function validate(IJobMarket.JobKind kind, bytes calldata params) internal pure {
        bool ok;
        if (kind == IJobMarket.JobKind.Train) {
            // TrainParams(uint32 steps, uint32 batchSize, uint32 contextLength, uint64 learningRate,
            //             uint32 warmupSteps, uint64 weightDecay)
            ok =
                params.length == 6 * _WORD &&
                _nonZero32(params, 0) &&
                _nonZero32(params, 1) &&
                _nonZero32(params, 2) &&
                _fits(params, 3, 64) &&
                _fits(params, 4, 32) &&
                _fits(params, 5, 64);
        } else if (kind == IJobMarket.JobKind.Infer) {
            // InferParams(uint32 maxTokens, uint32 temperature, uint32 topK)
            ok = params.length == 3 * _WORD && _nonZero32(params, 0) && _fits(params, 1, 32) && _fits(params, 2, 32);
        } else {
            // EvaluateParams(bytes32 benchmarkId, uint32 contextLength, uint32 maxTokens, bool independent)
            ok = params.length == 4 * _WORD && _nonZero32(params, 1) && _nonZero32(params, 2) && _fits(params, 3, 1);
        }
        if (!ok) revert IJobMarket.JobMarketInvalidParams(kind);
    }

    /// @notice Whether well-formed Evaluate `params` ask for an independent evaluation.
    function independent(bytes calldata params) internal pure returns (bool) {
        return _word(params, 3) != 0;
    }

    function _word(bytes calldata params, uint256 index) private pure returns (uint256) {
        return uint256(bytes32(params[index * _WORD:(index + 1) * _WORD]));
    }

    function _fits(bytes calldata params, uint256 index, uint256 bits) private pure returns (bool) {
        return _word(params, index) >> bits == 0;
    }

    function _nonZero32(bytes calldata params, uint256 index) private pure returns (bool) {
        uint256 w = _word(params, index);
        return w != 0 && w >> 32 == 0;
    }
}
