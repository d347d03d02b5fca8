// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IAnchorRegistry} from "./interfaces/IAnchorRegistry.sol";
import {IBatchRegistry} from "./interfaces/IBatchRegistry.sol";
import {ICustodyChallenge} from "./interfaces/ICustodyChallenge.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {CustodyRules} from "./libraries/CustodyRules.sol";
import {Identifiers} from "./libraries/Identifiers.sol";
import {Roles} from "./libraries/Roles.sol";

/// @title CustodyChallenge
/// @notice Marks anchor-only windows proven fraudulent (see {ICustodyChallenge}). Stateless but
/// for the marks: it reads the anchors, the participant registry's history and BatchRegistry's
/// EIP-712 event hash, and re-executes one transition with {CustodyRules}, the rules
/// BatchRegistry enforces.
/// @dev The registry is read as it stood at the end of the window's anchor block, or of the
/// block before it (what the node saw when it sent the anchor): a participant suspended, a key
/// rotated or a licence revoked after that never makes an honest window look fraudulent.
contract CustodyChallenge is ICustodyChallenge {
    IParticipantRegistry private immutable _participants;
    IAnchorRegistry private immutable _anchors;
    IBatchRegistry private immutable _batches;

    mapping(bytes32 root => Fraud) private _frauds;

    /// @dev A transition being judged: where its window was anchored and who signed its event.
    struct Judged {
        bytes32 root;
        uint48 anchorBlock;
        address key;
        uint32 id;
        // Evidence: the batch's receiver and producer, when known.
        bool receiverKnown;
        uint32 receiver;
        bool producerKnown;
        uint32 producer;
    }

    /// @dev What re-execution expects after the event: the batch's status and custodian, and
    /// whether the verdict still waits on evidence (0: no; else the action that needs it).
    struct Expected {
        IBatchRegistry.Status status;
        uint32 custodian;
        uint8 pending;
    }

    constructor(IParticipantRegistry participants, IAnchorRegistry anchors, IBatchRegistry batches) {
        _participants = participants;
        _anchors = anchors;
        _batches = batches;
    }

    /// @inheritdoc ICustodyChallenge
    function challengeTransition(
        Window calldata window,
        Transition calldata t,
        bytes32[] calldata transitionProof,
        IBatchRegistry.SignedEvent calldata signed,
        bytes32[] calldata eventProof,
        IBatchRegistry.IdentifierProof[] calldata proofs
    ) external {
        Judged memory judged = _open(window, t, transitionProof, signed.ev, eventProof);
        _judge(judged, t, signed, proofs);
    }

    /// @inheritdoc ICustodyChallenge
    function challengeTransitionWithEvidence(
        Window calldata window,
        Transition calldata t,
        bytes32[] calldata transitionProof,
        IBatchRegistry.SignedEvent calldata signed,
        bytes32[] calldata eventProof,
        IBatchRegistry.IdentifierProof[] calldata proofs,
        Evidence calldata evidence
    ) external {
        Judged memory judged = _open(window, t, transitionProof, signed.ev, eventProof);
        if (evidence.shipment.action != 0) _readShipment(judged, t, evidence.shipment);
        if (evidence.creationWindow.root != bytes32(0)) _readCreation(judged, t, evidence);
        _judge(judged, t, signed, proofs);
    }

    /// @inheritdoc ICustodyChallenge
    function challengeLinkage(
        Window calldata windowA,
        Transition calldata a,
        bytes32[] calldata proofA,
        Window calldata windowB,
        Transition calldata b,
        bytes32[] calldata proofB
    ) external {
        _requireRoots(windowA);
        _requireRoots(windowB);
        bytes32 rootA = windowA.root;
        bytes32 rootB = windowB.root;
        if (_frauds[rootA].kind != FraudKind.NONE) revert CustodyChallengeEvidenceFraudulent(rootA);
        _requireUnmarked(rootB);
        if (_nodeOf(rootA) != _nodeOf(rootB)) revert CustodyChallengeDifferentNodes(rootA, rootB);
        _requireLeaf(windowA, a, proofA);
        _requireLeaf(windowB, b, proofB);
        if (a.batchId != b.batchId || a.seq >= b.seq || !_inWindow(rootA, a.seq) || !_inWindow(rootB, b.seq)) {
            revert CustodyChallengeNotComparable(b.batchId, a.seq, b.seq);
        }
        FraudKind kind = _contradiction(a, b);
        if (kind == FraudKind.NONE) revert CustodyChallengeNoContradiction(rootA, rootB);
        _mark(rootB, kind);
    }

    /// @inheritdoc ICustodyChallenge
    function fraudulent(bytes32 root) external view returns (bool) {
        return _frauds[root].kind != FraudKind.NONE;
    }

    /// @inheritdoc ICustodyChallenge
    function fraudOf(bytes32 root) external view returns (Fraud memory) {
        return _frauds[root];
    }

    /// @inheritdoc ICustodyChallenge
    function transitionLeaf(Transition calldata t) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(t))));
    }

    /// @notice The registries this contract reads.
    function registries()
        external
        view
        returns (IParticipantRegistry participants, IAnchorRegistry anchors, IBatchRegistry batches)
    {
        return (_participants, _anchors, _batches);
    }

    // ----- the claim -----

    /// @dev Checks the claim's window and proofs: its roots those of its commitment, `t` in its
    /// transitions, `ev` its event and in its event root.
    function _open(
        Window calldata window,
        Transition calldata t,
        bytes32[] calldata transitionProof,
        IBatchRegistry.TraceEvent calldata ev,
        bytes32[] calldata eventProof
    ) private view returns (Judged memory judged) {
        _requireRoots(window);
        bytes32 root = window.root;
        _requireUnmarked(root);
        _requireLeaf(window, t, transitionProof);
        bytes32 supplied = _batches.hashEvent(ev);
        if (supplied != t.eventHash) revert CustodyChallengeEventMismatch(t.eventHash, supplied);
        if (!_anchors.verifyEvent(root, eventProof, t.eventHash)) {
            revert CustodyChallengeInvalidEventProof(root, t.eventHash);
        }
        judged.root = root;
        judged.anchorBlock = _anchors.anchorOf(root).blockNumber;
    }

    /// @dev The receiver a RECEIVE's batch was shipped to: the counterparty of the SHIP at its pre-head.
    function _readShipment(Judged memory judged, Transition calldata t, IBatchRegistry.TraceEvent calldata shipment)
        private
        view
    {
        if (
            shipment.action != uint8(IBatchRegistry.Action.SHIP) || shipment.batchId != t.batchId
                || shipment.counterparty == address(0) || _batches.hashEvent(shipment) != t.preHead
        ) revert CustodyChallengeInvalidEvidence(t.batchId);
        // Keys are never reused: the key's participant is the one the SHIP named.
        judged.receiver = _participants.keyRecord(shipment.counterparty).participantId;
        judged.receiverKnown = true;
    }

    /// @dev The producer of a RECALL's batch: the signer of the COMMISSION or TRANSFORM that
    /// created it, or nobody (0) when a RECEIVE adopted it from outside the network.
    function _readCreation(Judged memory judged, Transition calldata t, Evidence calldata evidence) private view {
        _requireRoots(evidence.creationWindow);
        bytes32 creationRoot = evidence.creationWindow.root;
        Transition calldata creation = evidence.creation;
        if (_frauds[creationRoot].kind != FraudKind.NONE) revert CustodyChallengeEvidenceFraudulent(creationRoot);
        if (_nodeOf(creationRoot) != _nodeOf(judged.root)) {
            revert CustodyChallengeDifferentNodes(creationRoot, judged.root);
        }
        _requireLeaf(evidence.creationWindow, creation, evidence.creationProof);
        uint8 action = evidence.creationEvent.action;
        if (
            creation.batchId != t.batchId || creation.preStatus != uint8(IBatchRegistry.Status.NONE)
                || creation.seq >= t.seq || !_inWindow(creationRoot, creation.seq)
                || _batches.hashEvent(evidence.creationEvent) != creation.eventHash
        ) revert CustodyChallengeInvalidEvidence(t.batchId);
        if (action == uint8(IBatchRegistry.Action.COMMISSION) || action == uint8(IBatchRegistry.Action.TRANSFORM)) {
            judged.producer = creation.signerId;
        } else if (action != uint8(IBatchRegistry.Action.RECEIVE)) {
            revert CustodyChallengeInvalidEvidence(t.batchId);
        }
        judged.producerKnown = true;
    }

    /// @dev Re-executes `t` and marks its window, or reverts: the transition is valid, or its
    /// verdict waits on evidence.
    function _judge(
        Judged memory judged,
        Transition calldata t,
        IBatchRegistry.SignedEvent calldata signed,
        IBatchRegistry.IdentifierProof[] calldata proofs
    ) private {
        (bytes memory reason, uint8 pending) = _reexecute(judged, t, signed, proofs);
        if (reason.length == 0) {
            if (pending != 0) revert CustodyChallengeEvidenceNeeded(t.batchId, pending);
            revert CustodyChallengeTransitionValid(judged.root, t.eventHash, t.batchId);
        }
        emit TransitionRefused(judged.root, t.eventHash, t.batchId, reason);
        _mark(judged.root, FraudKind.INVALID_TRANSITION);
    }

    /// @dev Why `t` is invalid (empty when it is not), and whether a verdict of valid waits on
    /// evidence or an identifier (`pending`: the action that needs it).
    function _reexecute(
        Judged memory judged,
        Transition calldata t,
        IBatchRegistry.SignedEvent calldata signed,
        IBatchRegistry.IdentifierProof[] calldata proofs
    ) private view returns (bytes memory reason, uint8 pending) {
        IBatchRegistry.TraceEvent calldata ev = signed.ev;
        reason = _checkLeaf(judged.root, t, ev);
        if (reason.length != 0) return (reason, 0);
        // The signer: a valid signature of the key of participant `signerId`. The error argument
        // only details `error`, which is all we branch on.
        // slither-disable-next-line unused-return
        (address key, ECDSA.RecoverError error,) = ECDSA.tryRecover(t.eventHash, signed.v, signed.r, signed.s);
        if (error != ECDSA.RecoverError.NoError) {
            return (abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, t.eventHash), 0);
        }
        uint32 id = _participants.keyRecord(key).participantId;
        if (id == 0) return (abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, key), 0);
        if (id != t.signerId) return (abi.encodeWithSelector(CustodyChallengeWrongSigner.selector, t.signerId, id), 0);
        judged.key = key;
        judged.id = id;

        uint8 needed = CustodyRules.rolesFor(ev.action);
        if (needed == 0) return (_checkAnchoredOnly(t, ev.action), 0);
        CustodyRules.Actor memory actor;
        (actor, reason) = _actorAt(judged, ev.action, needed);
        if (reason.length != 0) return (reason, 0);
        Expected memory expected;
        (reason, expected) = _checkRule(judged, t, ev, proofs, actor);
        if (reason.length != 0) return (reason, 0);
        if (
            t.postHead != t.eventHash || t.postCustodian != expected.custodian || t.postStatus != uint8(expected.status)
        ) return (abi.encodeWithSelector(CustodyChallengeWrongPostState.selector, t.batchId), 0);
        return ("", expected.pending);
    }

    /// @dev What any transition must be, whatever its action: within its window's sequence
    /// numbers, of a batch its event names, from a pre-state a batch can be in (NONE with no
    /// head and no custodian; any other status with a head: every event that creates or moves
    /// a batch gives it one), counting one more event.
    function _checkLeaf(bytes32 root, Transition calldata t, IBatchRegistry.TraceEvent calldata ev)
        private
        view
        returns (bytes memory)
    {
        IAnchorRegistry.Anchor memory window = _anchors.anchorOf(root);
        if (!_inWindow(root, t.seq)) {
            return abi.encodeWithSelector(
                CustodyChallengeSeqOutsideWindow.selector, t.seq, window.firstSeq, window.eventCount
            );
        }
        bytes32 batchId = t.batchId;
        if (!_names(ev, batchId)) return abi.encodeWithSelector(CustodyChallengeBatchNotNamed.selector, batchId);
        bool none = t.preStatus == uint8(IBatchRegistry.Status.NONE);
        if (
            t.preStatus > uint8(IBatchRegistry.Status.EXPORTED) || t.preCustodian > type(uint32).max
                || (none && (t.preHead != bytes32(0) || t.preCustodian != 0)) || (!none && t.preHead == bytes32(0))
        ) return abi.encodeWithSelector(CustodyChallengeMalformedPreState.selector, batchId);
        if (t.preCount == type(uint256).max || t.postCount != t.preCount + 1) {
            return abi.encodeWithSelector(CustodyChallengeWrongPostState.selector, batchId);
        }
        return "";
    }

    /// @dev An event BatchRegistry does not execute (OBSERVE, AGGREGATE, DISAGGREGATE) leaves
    /// its batches as they were; any other action is none at all.
    function _checkAnchoredOnly(Transition calldata t, uint8 action) private pure returns (bytes memory) {
        if (
            action != uint8(IBatchRegistry.Action.OBSERVE) && action != uint8(IBatchRegistry.Action.AGGREGATE)
                && action != uint8(IBatchRegistry.Action.DISAGGREGATE)
        ) return abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnsupportedAction.selector, action);
        if (t.postHead != t.preHead || t.postCustodian != t.preCustodian || t.postStatus != t.preStatus) {
            return abi.encodeWithSelector(CustodyChallengeWrongPostState.selector, t.batchId);
        }
        return "";
    }

    /// @dev The signer as an actor of the rules: its key valid, its participant active and
    /// holding a role in `needed`, at the anchor block or the block before it (its roles: those
    /// of every such block).
    function _actorAt(Judged memory judged, uint8 action, uint8 needed)
        private
        view
        returns (CustodyRules.Actor memory actor, bytes memory reason)
    {
        IParticipantRegistry.KeyRecord memory record = _participants.keyRecord(judged.key);
        uint48 at = judged.anchorBlock;
        uint8 roles = 0;
        for (uint256 back; back < 2 && back <= at; ++back) {
            // casting to 'uint48' is safe: `back` is 0 or 1.
            // forge-lint: disable-next-line(unsafe-typecast)
            (bytes memory refused, uint8 held) = _authorizedAt(judged, record, at - uint48(back), action, needed);
            if (refused.length == 0) roles |= held;
            else if (back == 0) reason = refused;
        }
        if (roles == 0) return (actor, reason);
        actor = CustodyRules.Actor({key: judged.key, id: judged.id, roles: roles});
        reason = "";
    }

    /// @dev Why the signer could not act at the end of block `blockNumber` (nothing when it
    /// could), and its roles then.
    function _authorizedAt(
        Judged memory judged,
        IParticipantRegistry.KeyRecord memory record,
        uint48 blockNumber,
        uint8 action,
        uint8 needed
    ) private view returns (bytes memory, uint8) {
        if (!_keyValidAt(record, blockNumber)) {
            return (abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, judged.key), 0);
        }
        (uint8 roles, bool active) = _participants.statusAt(judged.id, blockNumber);
        if (!active) {
            return (abi.encodeWithSelector(IBatchRegistry.BatchRegistrySignerSuspended.selector, judged.key), 0);
        }
        if (roles & needed == 0) {
            return (abi.encodeWithSelector(IBatchRegistry.BatchRegistryMissingRole.selector, judged.key, action), 0);
        }
        return ("", roles);
    }

    /// @dev The action's rule ({CustodyRules}) on `t`'s pre-state, and what it leaves the batch in.
    function _checkRule(
        Judged memory judged,
        Transition calldata t,
        IBatchRegistry.TraceEvent calldata ev,
        IBatchRegistry.IdentifierProof[] calldata proofs,
        CustodyRules.Actor memory actor
    ) private view returns (bytes memory reason, Expected memory expected) {
        uint8 action = ev.action;
        IBatchRegistry.Status status = IBatchRegistry.Status(t.preStatus);
        // Checked in {_checkLeaf}: the custodian fits a participant id.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 custodian = uint32(t.preCustodian);
        expected.custodian = custodian;
        if (action == uint8(IBatchRegistry.Action.COMMISSION)) {
            reason = CustodyRules.checkCommission(ev, t.eventHash, 1, status);
            if (reason.length == 0) (reason, expected.pending) = _checkCreatable(judged, t.batchId, proofs, action);
            expected.status = IBatchRegistry.Status.ACTIVE;
            expected.custodian = actor.id;
        } else if (action == uint8(IBatchRegistry.Action.TRANSFORM)) {
            (reason, expected) = _checkTransform(judged, t, ev, proofs, actor);
        } else if (action == uint8(IBatchRegistry.Action.SHIP)) {
            reason = CustodyRules.checkShip(ev, t.eventHash, status, t.preHead, custodian, actor);
            if (reason.length == 0 && ev.counterparty != address(0)) {
                reason = _checkReceiver(judged.anchorBlock, ev.counterparty, custodian);
            }
            expected.status =
                ev.counterparty == address(0) ? IBatchRegistry.Status.EXPORTED : IBatchRegistry.Status.IN_TRANSIT;
        } else if (action == uint8(IBatchRegistry.Action.RECEIVE)) {
            (reason, expected.pending) = _checkReceive(judged, t, ev, proofs, actor);
            expected.status = IBatchRegistry.Status.ACTIVE;
            expected.custodian = actor.id;
        } else if (action == uint8(IBatchRegistry.Action.RECALL)) {
            // Unknown producer: judge the rest as if the signer were it, and wait on the evidence
            // unless a REGULATOR recalls.
            bool regulator = actor.roles & Roles.REGULATOR != 0;
            uint32 producer = judged.producerKnown ? judged.producer : actor.id;
            reason = CustodyRules.checkRecall(ev, t.eventHash, status, t.preHead, producer, actor);
            if (!judged.producerKnown && !regulator) expected.pending = action;
            expected.status = IBatchRegistry.Status.RECALLED;
        } else {
            reason = CustodyRules.checkDestroy(ev, t.eventHash, status, t.preHead, custodian, actor);
            expected.status = IBatchRegistry.Status.DESTROYED;
        }
    }

    /// @dev A TRANSFORM on one of its batches: its fields and lists, then the batch as an input
    /// (consumed) or an output (created under a licence of its signer).
    function _checkTransform(
        Judged memory judged,
        Transition calldata t,
        IBatchRegistry.TraceEvent calldata ev,
        IBatchRegistry.IdentifierProof[] calldata proofs,
        CustodyRules.Actor memory actor
    ) private view returns (bytes memory reason, Expected memory expected) {
        reason = CustodyRules.checkTransformFields(ev, t.eventHash);
        if (reason.length != 0) return (reason, expected);
        (bool distinct, uint256 input, uint256 output) = _positions(ev, t.batchId);
        // Listed twice or zero; or both consumed and created (BatchRegistry refuses the output as existing).
        if (!distinct || (input < ev.inputs.length && output < ev.outputs.length)) {
            return (CustodyRules.malformed(t.eventHash), expected);
        }
        if (input < ev.inputs.length) return _checkConsumed(t, ev, input, actor);
        reason = CustodyRules.checkOutput(ev, t.eventHash, output, IBatchRegistry.Status(t.preStatus));
        expected = Expected({status: IBatchRegistry.Status.ACTIVE, custodian: actor.id, pending: 0});
        if (reason.length == 0) (reason, expected.pending) = _checkCreatable(judged, t.batchId, proofs, ev.action);
    }

    /// @dev A TRANSFORM on its input `input`: consumed, its custodian unchanged.
    function _checkConsumed(
        Transition calldata t,
        IBatchRegistry.TraceEvent calldata ev,
        uint256 input,
        CustodyRules.Actor memory actor
    ) private pure returns (bytes memory reason, Expected memory expected) {
        // Checked in {_checkLeaf}: the custodian fits a participant id.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 custodian = uint32(t.preCustodian);
        reason = CustodyRules.checkInput(
            ev, t.eventHash, input, IBatchRegistry.Status(t.preStatus), t.preHead, custodian, actor
        );
        expected = Expected({status: IBatchRegistry.Status.CONSUMED, custodian: custodian, pending: 0});
    }

    /// @dev Whether a TRANSFORM's inputs and outputs are each listed once (outputs non-zero),
    /// and where `batchId` is among them (the list's length where it is not).
    function _positions(IBatchRegistry.TraceEvent calldata ev, bytes32 batchId)
        private
        pure
        returns (bool distinct, uint256 input, uint256 output)
    {
        bytes32[] calldata inputs = ev.inputs;
        bytes32[] calldata outputs = ev.outputs;
        input = inputs.length;
        output = outputs.length;
        for (uint256 i; i < inputs.length; ++i) {
            if (CustodyRules.containsBefore(inputs, i, inputs[i])) return (false, input, output);
            if (inputs[i] == batchId) input = i;
        }
        for (uint256 i; i < outputs.length; ++i) {
            bytes32 id = outputs[i];
            if (id == bytes32(0) || CustodyRules.containsBefore(outputs, i, id)) return (false, input, output);
            if (id == batchId) output = i;
        }
        distinct = true;
    }

    /// @dev A RECEIVE: an adoption from outside the network, or a receipt by the receiver.
    function _checkReceive(
        Judged memory judged,
        Transition calldata t,
        IBatchRegistry.TraceEvent calldata ev,
        IBatchRegistry.IdentifierProof[] calldata proofs,
        CustodyRules.Actor memory actor
    ) private view returns (bytes memory reason, uint8 pending) {
        IBatchRegistry.Status status = IBatchRegistry.Status(t.preStatus);
        if (!CustodyRules.adopts(ev, status)) {
            // Unknown receiver: judge the rest as if the signer were it, and wait on the evidence.
            uint32 receiver = judged.receiverKnown ? judged.receiver : actor.id;
            reason = CustodyRules.checkReceive(ev, t.eventHash, status, t.preHead, receiver, actor);
            return (reason, judged.receiverKnown ? 0 : ev.action);
        }
        bool returning = status == IBatchRegistry.Status.EXPORTED;
        reason = CustodyRules.checkAdopt(ev, t.eventHash, status, t.preHead, returning ? 0 : 1);
        if (reason.length != 0 || returning) return (reason, 0);
        return _checkAdoptable(judged, t.batchId, proofs, actor.id, ev.action);
    }

    /// @dev That `receiver` was, at the anchor block or the one before, the key of an active
    /// participant that can hold custody, other than the custodian.
    function _checkReceiver(uint48 at, address receiverKey, uint32 custodian) private view returns (bytes memory) {
        IParticipantRegistry.KeyRecord memory record = _participants.keyRecord(receiverKey);
        for (uint256 back; back < 2 && back <= at; ++back) {
            // casting to 'uint48' is safe: `back` is 0 or 1.
            // forge-lint: disable-next-line(unsafe-typecast)
            uint48 blockNumber = at - uint48(back);
            if (!_keyValidAt(record, blockNumber)) continue;
            (uint8 roles, bool active) = _participants.statusAt(record.participantId, blockNumber);
            if (CustodyRules.isValidReceiver(record.participantId, roles, active, custodian)) return "";
        }
        return abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, receiverKey);
    }

    /// @dev That the signer may create `batchId`: its identifier (among `proofs`) lies under a
    /// prefix licensed to it at the anchor block or the one before, or is of no prefix kind and
    /// its node allows those now.
    function _checkCreatable(
        Judged memory judged,
        bytes32 batchId,
        IBatchRegistry.IdentifierProof[] calldata proofs,
        uint8 action
    ) private view returns (bytes memory reason, uint8 pending) {
        Holders memory holders;
        (reason, pending, holders) = _lookUp(judged, batchId, proofs, action, judged.id);
        if (reason.length != 0 || pending != 0 || holders.open) return (reason, pending);
        if (holders.atAnchor == judged.id || holders.before == judged.id) return ("", 0);
        return
            (abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, batchId, judged.id), 0);
    }

    /// @dev That `adopter` may bring `batchId` into the network: no other participant held a
    /// licence of its identifier's prefix (even expired: held until revoked, as BatchRegistry
    /// judges) at the anchor block, nor at the one before.
    function _checkAdoptable(
        Judged memory judged,
        bytes32 batchId,
        IBatchRegistry.IdentifierProof[] calldata proofs,
        uint32 adopter,
        uint8 action
    ) private view returns (bytes memory reason, uint8 pending) {
        Holders memory holders;
        (reason, pending, holders) = _lookUp(judged, batchId, proofs, action, adopter);
        if (reason.length != 0 || pending != 0 || holders.open) return (reason, pending);
        bool elsewhere = holders.heldAtAnchor != 0 && holders.heldAtAnchor != adopter;
        bool elsewhereBefore = holders.heldBefore != 0 && holders.heldBefore != adopter;
        if (elsewhere && (elsewhereBefore || judged.anchorBlock == 0)) {
            return (
                abi.encodeWithSelector(
                    IBatchRegistry.BatchRegistryLicensedElsewhere.selector, batchId, holders.heldAtAnchor
                ),
                0
            );
        }
        return ("", 0);
    }

    /// @dev Who had a licence of the prefix of a batch's identifier valid at the anchor block
    /// (`atAnchor`), at the block before (`before`), and who held one then, even expired
    /// (`heldAtAnchor`, `heldBefore`); `open`: the identifier is of no prefix kind and the node
    /// of participant `holder` allows those.
    struct Holders {
        bool open;
        uint32 atAnchor;
        uint32 before;
        uint32 heldAtAnchor;
        uint32 heldBefore;
    }

    /// @dev The licence holders of `batchId`'s identifier (among `proofs`; `pending` is `action`
    /// when it is not there), or why the identifier cannot name a batch.
    function _lookUp(
        Judged memory judged,
        bytes32 batchId,
        IBatchRegistry.IdentifierProof[] calldata proofs,
        uint8 action,
        uint32 holder
    ) private view returns (bytes memory reason, uint8 pending, Holders memory holders) {
        (bool found, bytes calldata identifier) = _identifier(batchId, proofs);
        if (!found) return ("", action, holders);
        bool splits;
        (splits, holders) = _holders(identifier, judged.anchorBlock);
        if (!splits) {
            reason = abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidIdentifierProof.selector, batchId);
        } else if (holders.open) {
            // No prefix kind: valid where its node allows those now; otherwise undecidable (the
            // policy keeps no history).
            if (!_participants.openIdentifiers(holder)) revert CustodyChallengeUndecidable(batchId);
        }
    }

    /// @dev The identifier among `proofs` that hashes to `batchId`.
    function _identifier(bytes32 batchId, IBatchRegistry.IdentifierProof[] calldata proofs)
        private
        pure
        returns (bool found, bytes calldata identifier)
    {
        identifier = msg.data[0:0];
        for (uint256 i; i < proofs.length; ++i) {
            if (keccak256(proofs[i].identifier) == batchId) return (true, proofs[i].identifier);
        }
    }

    /// @dev Whether any prefix split of `identifier` obeys its kind's rule, and the holders of
    /// the licences valid and held at block `at` and at the block before, whichever split they
    /// are of ({IParticipantRegistry-identifierHolders}); `open` for an identifier of no prefix kind.
    function _holders(bytes calldata identifier, uint48 at) private view returns (bool splits, Holders memory holders) {
        IParticipantRegistry.IdentifierHolders memory found = _participants.identifierHolders(identifier, at);
        splits = found.splits;
        holders.open = found.open;
        holders.atAnchor = found.valid;
        holders.heldAtAnchor = found.held;
        if (!splits || holders.open || at == 0) return (splits, holders);
        found = _participants.identifierHolders(identifier, at - 1);
        holders.before = found.valid;
        holders.heldBefore = found.held;
    }

    // ----- linkage -----

    /// @dev How `b` contradicts the earlier `a` of the same batch (NONE when it does not).
    function _contradiction(Transition calldata a, Transition calldata b) private pure returns (FraudKind) {
        uint8 none = uint8(IBatchRegistry.Status.NONE);
        // A batch never returns to not existing.
        if (b.preStatus == none && a.postStatus != none) return FraudKind.DOUBLE_CREATION;
        bool aMoves = a.postHead == a.eventHash;
        bool bMoves = b.postHead == b.eventHash;
        // Observations between `a` and `b` add to the count and change nothing else.
        if (
            aMoves && b.preHead == a.eventHash
                && (b.preCustodian != a.postCustodian || b.preStatus != a.postStatus || b.preCount < a.postCount)
        ) return FraudKind.FORGED_PRE_STATE;
        if (aMoves && bMoves && a.preHead == b.preHead && a.preHead != bytes32(0) && a.eventHash != b.eventHash) {
            return FraudKind.FORK;
        }
        return FraudKind.NONE;
    }

    // ----- shared -----

    function _mark(bytes32 root, FraudKind kind) private {
        _frauds[root] = Fraud({kind: kind, challenger: msg.sender, blockNumber: uint48(block.number)});
        emit WindowFraudulent(root, msg.sender, uint8(kind));
    }

    function _requireUnmarked(bytes32 root) private view {
        if (_frauds[root].kind != FraudKind.NONE) revert CustodyChallengeAlreadyFraudulent(root);
    }

    /// @dev That `window` is an anchor-only window and its state and transition roots are the
    /// ones its commitment holds (AnchorRegistry's one definition of it).
    function _requireRoots(Window calldata window) private view {
        bytes32 commitment = _anchors.windowCommitmentOf(window.root);
        if (commitment == bytes32(0)) revert CustodyChallengeNotAnchorOnly(window.root);
        if (_anchors.windowCommitment(window.stateRoot, window.transitionRoot) != commitment) {
            revert CustodyChallengeWrongRoots(window.root);
        }
    }

    /// @dev That `t` is a leaf of the transition root of `window` (checked by {_requireRoots}).
    function _requireLeaf(Window calldata window, Transition calldata t, bytes32[] calldata proof) private pure {
        if (!MerkleProof.verifyCalldata(proof, window.transitionRoot, transitionLeaf(t))) {
            revert CustodyChallengeInvalidTransitionProof(window.root);
        }
    }

    /// @dev The node of anchor-only window `root`.
    function _nodeOf(bytes32 root) private view returns (address node) {
        node = _anchors.windowNodeOf(root);
        if (node == address(0)) revert CustodyChallengeNotAnchorOnly(root);
    }

    /// @dev Whether `seq` is one of window `root`'s sequence numbers.
    function _inWindow(bytes32 root, uint64 seq) private view returns (bool) {
        IAnchorRegistry.Anchor memory window = _anchors.anchorOf(root);
        return seq >= window.firstSeq && seq - window.firstSeq < window.eventCount;
    }

    /// @dev Whether `ev` names `batchId` (as subject, input or output; never the zero id).
    function _names(IBatchRegistry.TraceEvent calldata ev, bytes32 batchId) private pure returns (bool) {
        if (batchId == bytes32(0)) return false;
        if (ev.batchId == batchId) return true;
        for (uint256 i; i < ev.inputs.length; ++i) {
            if (ev.inputs[i] == batchId) return true;
        }
        for (uint256 i; i < ev.outputs.length; ++i) {
            if (ev.outputs[i] == batchId) return true;
        }
        return false;
    }

    function _keyValidAt(IParticipantRegistry.KeyRecord memory record, uint48 blockNumber) private pure returns (bool) {
        return record.participantId != 0 && record.validFrom <= blockNumber
            && (record.validUntil == 0 || blockNumber < record.validUntil);
    }
}
