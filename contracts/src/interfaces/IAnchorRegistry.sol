// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IAnchorRegistry
/// @notice Merkle roots of windows of accepted events, written by nodes and never overwritten.
/// @dev Trees follow OpenZeppelin's StandardMerkleTree format with leaf type `bytes32` (the event
/// hash): `leaf = keccak256(bytes.concat(keccak256(abi.encode(eventHash))))`, pairs sorted.
/// Each node numbers the events it accepts 1, 2, 3, ...; its windows must follow each other with
/// no gap and no overlap, so an event can never be anchored twice by the same node.
interface IAnchorRegistry {
    /// @notice What is stored for an anchored root.
    struct Anchor {
        uint64 firstSeq;
        uint32 eventCount;
        uint48 blockNumber;
        uint40 timestamp;
    }

    /// @dev The admin cannot be the zero address.
    error AnchorRegistryZeroAddress();
    /// @dev A zero root cannot be anchored.
    error AnchorRegistryZeroRoot();
    /// @dev `root` is already anchored; roots are never overwritten.
    error AnchorRegistryRootExists(bytes32 root);
    /// @dev The window is empty.
    error AnchorRegistryEmptyWindow();
    /// @dev The window does not start where the node's previous window ended.
    error AnchorRegistryNonContiguous(address node, uint64 expectedFirstSeq, uint64 firstSeq);
    /// @dev The window would end past the largest sequence number.
    error AnchorRegistrySequenceOverflow(uint64 firstSeq, uint32 eventCount);
    /// @dev `node` does not hold NODE_ROLE.
    error AnchorRegistryNotNode(address node);
    /// @dev `root` was never anchored.
    error AnchorRegistryUnknownRoot(bytes32 root);

    /// @notice `node` anchored `root`, covering its events `firstSeq` .. `firstSeq + eventCount - 1`.
    event RootAnchored(bytes32 indexed root, address indexed node, uint64 firstSeq, uint32 eventCount);

    /// @notice Anchors a root for the caller's next window of events.
    /// Requirements: caller has NODE_ROLE; root not zero and new; `eventCount > 0`;
    /// `firstSeq` equals {nextSequence} of the caller.
    /// Emits: {RootAnchored}.
    function anchor(bytes32 root, uint64 firstSeq, uint32 eventCount) external;

    /// @notice Anchors a root on behalf of `node`, for a contract that commits a node's operations
    /// and its root in one transaction.
    /// Requirements: caller has COMMITTER_ROLE; `node` has NODE_ROLE; as {anchor} otherwise.
    /// Emits: {RootAnchored}.
    function anchorFor(address node, bytes32 root, uint64 firstSeq, uint32 eventCount) external;

    /// @notice The stored anchor of `root` (reverts when unknown).
    function anchorOf(bytes32 root) external view returns (Anchor memory);

    /// @notice Whether `root` is anchored.
    function isAnchored(bytes32 root) external view returns (bool);

    /// @notice The first sequence number of `node`'s next window (1 before its first; 0 once its
    /// windows reached the largest sequence number and it can anchor no more).
    function nextSequence(address node) external view returns (uint64);

    /// @notice Whether `proof` proves `eventHash` to be a leaf of the anchored `root`.
    function verifyEvent(bytes32 root, bytes32[] calldata proof, bytes32 eventHash) external view returns (bool);
}
