// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test contract: a malicious ERC20 that, once armed, calls back into a target in the middle of a transfer
/// sent by `from`, and bubbles up the target's revert. Used as the base token of an attack deployment to show that
/// every payout path is guarded against reentrancy. Not deployed outside tests.
contract ReentrantToken is ERC20 {
    address private _from;
    address private _target;
    bytes private _payload;
    bool private _armed;

    /// @notice Emitted when the callback ran and returned without reverting.
    event Reentered(address indexed target, bool success);

    constructor() ERC20("Reentrant", "REE") {}

    /// @notice Mints freely: anyone is rich in a test.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice On the next transfer sent by `from`, calls `target` with `payload` (once).
    function arm(address from, address target, bytes calldata payload) external {
        _from = from;
        _target = target;
        _payload = payload;
        _armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (_armed && from == _from) {
            _armed = false;
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory ret) = _target.call(_payload);
            if (!ok) {
                // Bubble the target's revert data up unchanged, so the test sees its custom error.
                // solhint-disable-next-line no-inline-assembly
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
            emit Reentered(_target, ok);
        }
    }
}
