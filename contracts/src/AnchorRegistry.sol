// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IAnchorRegistry} from "./interfaces/IAnchorRegistry.sol";

/// @title AnchorRegistry
/// @notice Keeps the Merkle roots of nodes' event windows; a root is written once and never changes.
contract AnchorRegistry is IAnchorRegistry, AccessControl {
    /// @notice May anchor roots of its own windows.
    bytes32 public constant NODE_ROLE = keccak256("NODE_ROLE");
    /// @notice May anchor on behalf of a node (the BatchRegistry, for one-transaction commits).
    bytes32 public constant COMMITTER_ROLE = keccak256("COMMITTER_ROLE");

    /// @dev An {Anchor} as stored: with, for an anchor-only window, the number of its node
    /// (see {_windowNodes}; zero for any other window), packed in the same slot.
    struct StoredAnchor {
        uint64 firstSeq;
        uint32 eventCount;
        uint48 blockNumber;
        uint40 timestamp;
        uint32 windowNode;
    }

    mapping(bytes32 root => StoredAnchor) private _anchors;
    /// @dev Per node, the first sequence number of its next window, minus one.
    mapping(address node => uint64) private _lastSequence;
    /// @dev Per node, every head of its alert log it anchored, and the latest one.
    mapping(address node => mapping(bytes32 head => AlertLogAnchor)) private _logAnchors;
    mapping(address node => bytes32) private _logHeads;
    /// @dev Per node, the root of its latest window when that window may still be given a state
    /// root by {anchorState} (zero when it may not: none yet, or an anchor-only window, whose
    /// state root is in its commitment).
    mapping(address node => bytes32) private _lastRoot;
    /// @dev Per window root anchored by {anchor} or {anchorFor}, the root of the states of the
    /// batches it touched ({anchorState}).
    mapping(bytes32 root => bytes32) private _stateRoots;
    /// @dev Per anchor-only window root, {windowCommitment} of its state and transition roots:
    /// one storage slot for the two, which travel in {WindowAnchored}'s log.
    mapping(bytes32 root => bytes32) private _windowCommitments;
    /// @dev The nodes that anchored anchor-only windows, numbered from 1 in the order of their
    /// first such window: a window keeps its node's number in its anchor's slot, which costs a
    /// window no storage slot of its own.
    address[] private _windowNodes;
    mapping(address node => uint32) private _windowNodeNumbers;

    /// @param admin receives DEFAULT_ADMIN_ROLE and grants NODE_ROLE and COMMITTER_ROLE.
    constructor(address admin) {
        if (admin == address(0)) revert AnchorRegistryZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IAnchorRegistry
    function anchor(bytes32 root, uint64 firstSeq, uint32 eventCount) external onlyRole(NODE_ROLE) {
        _anchor(msg.sender, root, firstSeq, eventCount, 0);
        _lastRoot[msg.sender] = root;
    }

    /// @inheritdoc IAnchorRegistry
    function anchorFor(address node, bytes32 root, uint64 firstSeq, uint32 eventCount)
        external
        onlyRole(COMMITTER_ROLE)
    {
        if (!hasRole(NODE_ROLE, node)) revert AnchorRegistryNotNode(node);
        _anchor(node, root, firstSeq, eventCount, 0);
        _lastRoot[node] = root;
    }

    /// @inheritdoc IAnchorRegistry
    function anchorOf(bytes32 root) external view returns (Anchor memory) {
        StoredAnchor memory stored = _anchors[root];
        // An existence test on a record this contract writes, not a balance (docs/slither.md).
        // slither-disable-next-line incorrect-equality
        if (stored.eventCount == 0) revert AnchorRegistryUnknownRoot(root);
        return Anchor({
            firstSeq: stored.firstSeq,
            eventCount: stored.eventCount,
            blockNumber: stored.blockNumber,
            timestamp: stored.timestamp
        });
    }

    /// @inheritdoc IAnchorRegistry
    function isAnchored(bytes32 root) public view returns (bool) {
        return _anchors[root].eventCount != 0;
    }

    /// @inheritdoc IAnchorRegistry
    function nextSequence(address node) external view returns (uint64) {
        // Wraps to 0 only when the node's windows reached type(uint64).max: it can anchor no more.
        unchecked {
            return _lastSequence[node] + 1;
        }
    }

    /// @inheritdoc IAnchorRegistry
    function verifyEvent(bytes32 root, bytes32[] calldata proof, bytes32 eventHash) external view returns (bool) {
        if (!isAnchored(root)) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(eventHash))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc IAnchorRegistry
    function anchorState(bytes32 root, bytes32 stateRoot) external onlyRole(NODE_ROLE) {
        if (stateRoot == bytes32(0)) revert AnchorRegistryZeroStateRoot();
        if (root == bytes32(0) || _lastRoot[msg.sender] != root) {
            revert AnchorRegistryNotLatestRoot(msg.sender, root);
        }
        if (_stateRoots[root] != bytes32(0)) revert AnchorRegistryStateExists(root);

        _stateRoots[root] = stateRoot;
        emit StateRootAnchored(root, msg.sender, stateRoot);
    }

    /// @inheritdoc IAnchorRegistry
    function stateRootOf(bytes32 root) external view returns (bytes32) {
        return _stateRoots[root];
    }

    /// @inheritdoc IAnchorRegistry
    function anchorWindow(bytes32 root, bytes32 stateRoot, bytes32 transitionRoot, uint64 firstSeq, uint32 eventCount)
        external
        onlyRole(NODE_ROLE)
    {
        if (stateRoot == bytes32(0)) revert AnchorRegistryZeroStateRoot();
        if (transitionRoot == bytes32(0)) revert AnchorRegistryZeroTransitionRoot();
        uint32 number = _windowNodeNumbers[msg.sender];
        if (number == 0) {
            _windowNodes.push(msg.sender);
            // casting to 'uint32' is safe: one number per node holding NODE_ROLE, which only the admin grants.
            // forge-lint: disable-next-line(unsafe-typecast)
            number = uint32(_windowNodes.length);
            _windowNodeNumbers[msg.sender] = number;
        }
        _anchor(msg.sender, root, firstSeq, eventCount, number);
        // No {anchorState} for this window (its state root is committed here), nor for an
        // earlier one: zeroing costs less than writing the root, and refunds.
        delete _lastRoot[msg.sender];
        _windowCommitments[root] = windowCommitment(stateRoot, transitionRoot);
        emit WindowAnchored(root, msg.sender, stateRoot, transitionRoot);
    }

    /// @inheritdoc IAnchorRegistry
    function windowCommitment(bytes32 stateRoot, bytes32 transitionRoot) public pure returns (bytes32) {
        return keccak256(abi.encode(stateRoot, transitionRoot));
    }

    /// @inheritdoc IAnchorRegistry
    function windowCommitmentOf(bytes32 root) external view returns (bytes32) {
        return _windowCommitments[root];
    }

    /// @inheritdoc IAnchorRegistry
    function windowNodeOf(bytes32 root) external view returns (address) {
        uint32 number = _anchors[root].windowNode;
        return number > 0 ? _windowNodes[number - 1] : address(0);
    }

    /// @inheritdoc IAnchorRegistry
    function anchorAlertLog(bytes32 head, uint64 count) external onlyRole(NODE_ROLE) {
        if (head == bytes32(0)) revert AnchorRegistryZeroLogHead();
        uint64 anchored = _logAnchors[msg.sender][_logHeads[msg.sender]].count;
        if (count <= anchored) revert AnchorRegistryLogNotGrowing(msg.sender, anchored, count);

        _logAnchors[msg.sender][head] =
            AlertLogAnchor({count: count, blockNumber: uint48(block.number), timestamp: uint40(block.timestamp)});
        _logHeads[msg.sender] = head;
        emit AlertLogAnchored(msg.sender, head, count);
    }

    /// @inheritdoc IAnchorRegistry
    function alertLogOf(address node) external view returns (bytes32 head, uint64 count) {
        head = _logHeads[node];
        count = _logAnchors[node][head].count;
    }

    /// @inheritdoc IAnchorRegistry
    function alertLogAnchorOf(address node, bytes32 head) external view returns (AlertLogAnchor memory stored) {
        stored = _logAnchors[node][head];
        // An existence test on a record this contract writes, not a balance (docs/slither.md).
        // slither-disable-next-line incorrect-equality
        if (stored.count == 0) revert AnchorRegistryUnknownLogHead(node, head);
    }

    function _anchor(address node, bytes32 root, uint64 firstSeq, uint32 eventCount, uint32 windowNode) private {
        if (root == bytes32(0)) revert AnchorRegistryZeroRoot();
        if (eventCount == 0) revert AnchorRegistryEmptyWindow();
        if (_anchors[root].eventCount != 0) revert AnchorRegistryRootExists(root);
        uint256 expected = uint256(_lastSequence[node]) + 1;
        uint256 last = expected + eventCount - 1;
        if (last > type(uint64).max) revert AnchorRegistrySequenceOverflow(firstSeq, eventCount);
        // casting to 'uint64' is safe because `expected` <= `last` <= type(uint64).max (checked above).
        // forge-lint: disable-next-line(unsafe-typecast)
        if (firstSeq != expected) revert AnchorRegistryNonContiguous(node, uint64(expected), firstSeq);

        _anchors[root] = StoredAnchor({
            firstSeq: firstSeq,
            eventCount: eventCount,
            blockNumber: uint48(block.number),
            timestamp: uint40(block.timestamp),
            windowNode: windowNode
        });
        // casting to 'uint64' is safe because `last` was checked against type(uint64).max above.
        // forge-lint: disable-next-line(unsafe-typecast)
        _lastSequence[node] = uint64(last);
        emit RootAnchored(root, node, firstSeq, eventCount);
    }
}
