// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;
interface X { function x() external; }
