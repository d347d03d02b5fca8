// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Roles
/// @notice The participant roles, as bits of a `uint8` role set. Values are part of the public
/// surface (the node, the SDK and outside verifiers use them): never renumber.
library Roles {
    uint8 internal constant PRODUCER = 1;
    uint8 internal constant PROCESSOR = 2;
    uint8 internal constant LOGISTICS = 4;
    uint8 internal constant RETAILER = 8;
    uint8 internal constant AUDITOR = 16;
    uint8 internal constant REGULATOR = 32;
    uint8 internal constant ALL = 63;
    /// @notice The roles that may hold custody of a batch.
    uint8 internal constant CUSTODY = PRODUCER | PROCESSOR | LOGISTICS | RETAILER;
}
