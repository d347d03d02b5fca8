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

    /// @notice What is stored for an anchored head of a node's alert log.
    struct AlertLogAnchor {
        uint64 count;
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

    /// @dev A zero alert-log head cannot be anchored.
    error AnchorRegistryZeroLogHead();
    /// @dev An alert log only grows: `count` must exceed the `anchoredCount` last anchored.
    error AnchorRegistryLogNotGrowing(address node, uint64 anchoredCount, uint64 count);
    /// @dev `node` never anchored `head` as its alert log's head.
    error AnchorRegistryUnknownLogHead(address node, bytes32 head);

    /// @dev A zero state root cannot be anchored.
    error AnchorRegistryZeroStateRoot();
    /// @dev `root` is not the last root `node` anchored with {anchor} or {anchorFor}: a state root
    /// goes with the caller's latest window, before its next one (an anchor-only window has its
    /// state root already, in its commitment).
    error AnchorRegistryNotLatestRoot(address node, bytes32 root);
    /// @dev `root` already has a state root; state roots are never overwritten.
    error AnchorRegistryStateExists(bytes32 root);
    /// @dev An anchor-only window needs a non-zero transition root.
    error AnchorRegistryZeroTransitionRoot();

    /// @notice `node` anchored `head`, the hash of entry `count` of its alert log (every entry
    /// names the one before it, so the head commits to the whole log up to `count`).
    event AlertLogAnchored(address indexed node, bytes32 indexed head, uint64 count);

    /// @notice `node` anchored `stateRoot`, the root of the state leaves of every batch its
    /// window `root` touched, as that window left them (docs/proofs.md, "Completeness").
    event StateRootAnchored(bytes32 indexed root, address indexed node, bytes32 stateRoot);

    /// @notice `node` anchored its anchor-only window `root` with its state root and its
    /// transition root (docs/contracts.md, "The anchor-only mode"): the chain keeps only their
    /// {windowCommitment}, this log carries them.
    event WindowAnchored(bytes32 indexed root, address indexed node, bytes32 stateRoot, bytes32 transitionRoot);

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

    /// @notice Anchors the state root of the caller's latest window `root`: the root of a
    /// StandardMerkleTree of leaves (bytes32 batchId, bytes32 head, uint256 custodian,
    /// uint8 status, uint256 eventCount), one per batch the window touched.
    /// Requirements: caller has NODE_ROLE; `root` is the last root the caller anchored, with
    /// {anchor} or (through BatchRegistry) {anchorFor}: not an {anchorWindow} window, whose state
    /// root is in its commitment; `stateRoot` not zero; `root` has no state root yet.
    /// Emits: {StateRootAnchored}.
    function anchorState(bytes32 root, bytes32 stateRoot) external;

    /// @notice The state root {anchorState} anchored for the window `root` (zero when none was: a
    /// window anchored before state roots existed, or whose state root is not anchored yet, or
    /// an anchor-only window, whose state root is in its {windowCommitmentOf}).
    function stateRootOf(bytes32 root) external view returns (bytes32);

    /// @notice Anchors the caller's next window of the anchor-only mode in one call: the event root
    /// as {anchor} does, and its state root (the tree {anchorState} takes) and its transition
    /// root: the StandardMerkleTree of the leaves `abi.encode(bytes32 eventHash, uint64 seq,
    /// uint32 signerId, bytes32 batchId, bytes32 preHead, uint256 preCustodian, uint8 preStatus,
    /// uint256 preCount, bytes32 postHead, uint256 postCustodian, uint8 postStatus, uint256
    /// postCount)`, one per (event, batch) the window's events name, which the CustodyChallenge
    /// contract re-executes. The two roots are kept as one slot, their {windowCommitment}, and
    /// given whole in {WindowAnchored}: whoever reads them checks them against the commitment.
    /// The window can be given no state root by {anchorState}, nor can the caller's earlier ones.
    /// Requirements: as {anchor}; `stateRoot` and `transitionRoot` not zero.
    /// Emits: {RootAnchored}, {WindowAnchored}.
    function anchorWindow(bytes32 root, bytes32 stateRoot, bytes32 transitionRoot, uint64 firstSeq, uint32 eventCount)
        external;

    /// @notice The one definition of an anchor-only window's commitment to its state root and
    /// its transition root: `keccak256(abi.encode(stateRoot, transitionRoot))`.
    function windowCommitment(bytes32 stateRoot, bytes32 transitionRoot) external pure returns (bytes32);

    /// @notice The commitment of the anchor-only window `root` to its state and transition roots
    /// ({windowCommitment}; zero for a window anchored otherwise: an enforced window, whose
    /// lifecycle events the chain executed itself).
    function windowCommitmentOf(bytes32 root) external view returns (bytes32);

    /// @notice The node that anchored the anchor-only window `root` (zero for any other root).
    function windowNodeOf(bytes32 root) external view returns (address);

    /// @notice Anchors the head of the caller's alert log: `head` is the hash of its entry
    /// `count` (docs/monitor.md, "The alert log").
    /// Requirements: caller has NODE_ROLE; `head` not zero; `count` greater than the count
    /// the caller last anchored.
    /// Emits: {AlertLogAnchored}.
    function anchorAlertLog(bytes32 head, uint64 count) external;

    /// @notice The latest alert-log head `node` anchored and its count (zero and 0 before any).
    function alertLogOf(address node) external view returns (bytes32 head, uint64 count);

    /// @notice When `node` anchored `head` as its alert log's head (reverts when it never did).
    function alertLogAnchorOf(address node, bytes32 head) external view returns (AlertLogAnchor memory);
}
