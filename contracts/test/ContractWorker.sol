// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice Test contract: a worker that is a contract. Its operator makes it call anything (stake, claim, fail), and it
/// answers ERC-1271 for the operator's signatures: an answer its code decides at the moment it is asked, so it could
/// be withdrawn after a requester saw it. Not deployed outside tests.
contract ContractWorker is IERC1271 {
    error ContractWorkerNotOperator(address caller);
    error ContractWorkerCallFailed(bytes data);

    address public immutable operator;

    constructor(address operator_) {
        operator = operator_;
    }

    /// @notice Calls `target` with `data` as this worker.
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != operator) revert ContractWorkerNotOperator(msg.sender);
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) revert ContractWorkerCallFailed(ret);
        return ret;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == operator ? IERC1271.isValidSignature.selector : bytes4(0);
    }
}
