// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ReadMany
/// @notice Many read-only calls in one `eth_call`, with nothing deployed: the caller sends this
/// contract's creation code followed by its ABI-encoded constructor arguments in an `eth_call`
/// without a `to`, and the constructor returns every call's outcome as if it were the new
/// contract's code. Verifiers use it to ask the registries dozens of questions in one round trip.
/// @dev Never deployed by TraceNode. Returned data is bounded by the contract-size limit
/// (EIP-170, 24,576 bytes): callers split their questions into chunks.
contract ReadMany {
    /// @dev `targets` and `calls` differ in length.
    error ReadManyLengthMismatch(uint256 targets, uint256 calls);

    /// @param targets The contract each call goes to.
    /// @param calls The calldata of each call, sent with STATICCALL.
    /// @dev Returns `abi.encode(bool[] ok, bytes[] results)`: whether each call succeeded, and its
    /// return data (or revert data).
    constructor(address[] memory targets, bytes[] memory calls) {
        uint256 count = calls.length;
        if (targets.length != count) revert ReadManyLengthMismatch(targets.length, count);
        bool[] memory ok = new bool[](count);
        bytes[] memory results = new bytes[](count);
        for (uint256 i = 0; i < count; ++i) {
            // A read-only batch by design: each target is a caller-chosen view (docs/contracts.md).
            // slither-disable-next-line calls-loop,low-level-calls
            (ok[i], results[i]) = targets[i].staticcall(calls[i]);
        }
        bytes memory encoded = abi.encode(ok, results);
        assembly ("memory-safe") {
            return(add(encoded, 32), mload(encoded))
        }
    }
}
