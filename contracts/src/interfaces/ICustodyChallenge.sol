// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IBatchRegistry} from "./IBatchRegistry.sol";

/// @title ICustodyChallenge
/// @notice The challenge game of the anchor-only custody mode. A node in that mode does not
/// execute lifecycle events on-chain: it anchors each window with
/// {IAnchorRegistry-anchorWindow}, whose transition root commits to one {Transition} per
/// (event, batch). Anyone holding a window's bundle can prove here that one of them breaks
/// the custody rules BatchRegistry enforces ({CustodyRules}), or that two windows of the same
/// node contradict each other, and so mark the window fraudulent. A claim that proves nothing
/// reverts with a custom error saying why: an honest window can never be marked.
interface ICustodyChallenge {
    /// @notice One transition leaf: event `eventHash` (the node's `seq`-th, signed by participant
    /// `signerId`) took batch `batchId` from the pre-state to the post-state (head, custodian's
    /// participant id, {IBatchRegistry-Status}, how many events named the batch). Encoded with
    /// `abi.encode` and hashed as every StandardMerkleTree leaf is.
    struct Transition {
        bytes32 eventHash;
        uint64 seq;
        uint32 signerId;
        bytes32 batchId;
        bytes32 preHead;
        uint256 preCustodian;
        uint8 preStatus;
        uint256 preCount;
        bytes32 postHead;
        uint256 postCustodian;
        uint8 postStatus;
        uint256 postCount;
    }

    /// @notice An anchor-only window as a claim names it: its event root, and its state and
    /// transition roots, which AnchorRegistry keeps only as their commitment
    /// ({IAnchorRegistry-windowCommitmentOf}) and gives whole in the window's
    /// {IAnchorRegistry-WindowAnchored} log. Every claim's windows are checked against their
    /// commitments before anything else.
    struct Window {
        bytes32 root;
        bytes32 stateRoot;
        bytes32 transitionRoot;
    }

    /// @notice What a state leaf does not carry, for the two rules that need it.
    /// `shipment`: for a RECEIVE, the SHIP at the transition's pre-head, which names the
    /// receiver (leave its `action` zero when not given). `creationWindow`, `creation`,
    /// `creationProof`, `creationEvent`: for a RECALL, the transition that created the batch
    /// (an anchor-only window of the same node, earlier in its sequence) and its event, which
    /// name the producer (leave `creationWindow.root` zero when not given).
    struct Evidence {
        IBatchRegistry.TraceEvent shipment;
        Window creationWindow;
        Transition creation;
        bytes32[] creationProof;
        IBatchRegistry.TraceEvent creationEvent;
    }

    /// @notice How a window was proven fraudulent.
    enum FraudKind {
        NONE,
        // A transition the custody rules refuse, or whose post-state they do not produce.
        INVALID_TRANSITION,
        // A transition whose pre-state is not the post-state of the event it extends.
        FORGED_PRE_STATE,
        // Two events extend one head of a batch.
        FORK,
        // A batch created (or claimed not to exist) after it existed.
        DOUBLE_CREATION
    }

    /// @notice A window's mark: its kind, who proved it and in which block.
    struct Fraud {
        FraudKind kind;
        address challenger;
        uint48 blockNumber;
    }

    /// @dev `root` is no anchor-only window (no commitment to a transition root anchored for it).
    error CustodyChallengeNotAnchorOnly(bytes32 root);
    /// @dev The state and transition roots given for window `root` are not the ones its
    /// commitment holds.
    error CustodyChallengeWrongRoots(bytes32 root);
    /// @dev `root` is already marked fraudulent; a window is marked once.
    error CustodyChallengeAlreadyFraudulent(bytes32 root);
    /// @dev Evidence taken from window `root`, itself marked fraudulent, proves nothing.
    error CustodyChallengeEvidenceFraudulent(bytes32 root);
    /// @dev The transition is not a leaf of `root`'s transition root.
    error CustodyChallengeInvalidTransitionProof(bytes32 root);
    /// @dev The event `eventHash` is not a leaf of the event root `root`.
    error CustodyChallengeInvalidEventProof(bytes32 root, bytes32 eventHash);
    /// @dev The event supplied hashes to `supplied`, not the transition's `eventHash`.
    error CustodyChallengeEventMismatch(bytes32 eventHash, bytes32 supplied);
    /// @dev Re-executed, the transition of batch `batchId` by event `eventHash` is valid.
    error CustodyChallengeTransitionValid(bytes32 root, bytes32 eventHash, bytes32 batchId);
    /// @dev Whether the transition is valid depends on {Evidence} not given (`action`: RECEIVE
    /// needs the shipment, RECALL the creation) or on the identifier of `batchId`.
    error CustodyChallengeEvidenceNeeded(bytes32 batchId, uint8 action);
    /// @dev The evidence given does not fit the transition of `batchId`.
    error CustodyChallengeInvalidEvidence(bytes32 batchId);
    /// @dev Batch `batchId`'s identifier is of no prefix kind and its node does not allow those
    /// now; whether it did at the anchor block is not recorded, so nothing can be proven.
    error CustodyChallengeUndecidable(bytes32 batchId);
    /// @dev The two windows were anchored by different nodes.
    error CustodyChallengeDifferentNodes(bytes32 rootA, bytes32 rootB);
    /// @dev The two transitions are not of one batch, in sequence order (`a` first) and
    /// each within its window's sequence numbers.
    error CustodyChallengeNotComparable(bytes32 batchId, uint64 seqA, uint64 seqB);
    /// @dev The two transitions do not contradict each other.
    error CustodyChallengeNoContradiction(bytes32 rootA, bytes32 rootB);

    /// @dev Reasons a transition is refused, carried in {TransitionRefused} next to the
    /// BatchRegistry errors of the custody rules: the transition's sequence number lies
    /// outside its window;
    error CustodyChallengeSeqOutsideWindow(uint64 seq, uint64 firstSeq, uint32 eventCount);
    /// the event does not name the batch;
    error CustodyChallengeBatchNotNamed(bytes32 batchId);
    /// the leaf's signer is not the one who signed;
    error CustodyChallengeWrongSigner(uint32 signerId, uint32 recovered);
    /// the pre-state is no state a batch can be in;
    error CustodyChallengeMalformedPreState(bytes32 batchId);
    /// the post-state is not the one the rules produce.
    error CustodyChallengeWrongPostState(bytes32 batchId);

    /// @notice Window `root` was proven fraudulent by `challenger` (kind: {FraudKind}).
    event WindowFraudulent(bytes32 indexed root, address indexed challenger, uint8 kind);
    /// @notice Why the transition of `batchId` by `eventHash` in `root` is invalid: the
    /// ABI-encoded custom error of the rule it breaks.
    event TransitionRefused(bytes32 indexed root, bytes32 indexed eventHash, bytes32 indexed batchId, bytes reason);

    /// @notice Proves that transition `t` of the anchor-only window `window` is invalid: the
    /// window's roots are those its commitment holds, `t` is a leaf of its transition root,
    /// `signed` the event it names (a leaf of its event root), `proofs`
    /// the identifiers of the batches it creates or adopts (any order; those of other batches
    /// ignored). Re-executes the event on `t`'s pre-state with the enforced mode's rules and the
    /// participant registry as it stood at the window's anchor block (or the block before it),
    /// and marks the window when a rule fails or the post-state differs.
    /// Reverts: with a custom error when a proof fails, the window is not anchor-only or is
    /// marked already, or the transition is valid.
    /// Emits: {TransitionRefused}, {WindowFraudulent}.
    function challengeTransition(
        Window calldata window,
        Transition calldata t,
        bytes32[] calldata transitionProof,
        IBatchRegistry.SignedEvent calldata signed,
        bytes32[] calldata eventProof,
        IBatchRegistry.IdentifierProof[] calldata proofs
    ) external;

    /// @notice {challengeTransition} with the {Evidence} a RECEIVE (its receiver) or a RECALL
    /// (its batch's producer) needs when the rest of the transition holds.
    function challengeTransitionWithEvidence(
        Window calldata window,
        Transition calldata t,
        bytes32[] calldata transitionProof,
        IBatchRegistry.SignedEvent calldata signed,
        bytes32[] calldata eventProof,
        IBatchRegistry.IdentifierProof[] calldata proofs,
        Evidence calldata evidence
    ) external;

    /// @notice Proves that window `windowB` contradicts window `windowA` of the same node (their
    /// roots those their commitments hold), on one
    /// batch, `a` before `b` in the node's sequence: `b` extends `a`'s event from another
    /// state than `a` left (FORGED_PRE_STATE); `a` and `b` are two events extending one head
    /// (FORK); or `b` finds the batch not existing after `a` left it existing
    /// (DOUBLE_CREATION). Marks `windowB`.
    /// Reverts: with a custom error when a proof fails, the windows are not anchor-only
    /// windows of one node, either is marked already, or nothing contradicts.
    /// Emits: {WindowFraudulent}.
    function challengeLinkage(
        Window calldata windowA,
        Transition calldata a,
        bytes32[] calldata proofA,
        Window calldata windowB,
        Transition calldata b,
        bytes32[] calldata proofB
    ) external;

    /// @notice Whether window `root` was proven fraudulent.
    function fraudulent(bytes32 root) external view returns (bool);

    /// @notice The mark of window `root` (all zero when it is not marked).
    function fraudOf(bytes32 root) external view returns (Fraud memory);

    /// @notice The leaf hash of transition `t` in its StandardMerkleTree.
    function transitionLeaf(Transition calldata t) external pure returns (bytes32);
}
