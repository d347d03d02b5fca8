// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IAnchorRegistry} from "../../src/interfaces/IAnchorRegistry.sol";
import {IBatchRegistry} from "../../src/interfaces/IBatchRegistry.sol";
import {IParticipantRegistry} from "../../src/interfaces/IParticipantRegistry.sol";
import {Roles} from "../../src/libraries/Roles.sol";
import {Test, console} from "../utils/Test.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice The invariant tests' only target. Each action takes fuzzed seeds, bounds them to
/// actors and batches from the handler's own lists, signs the events and relays them through
/// {IBatchRegistry-relay} (or {IBatchRegistry-commit}) as the node, so it never reverts.
/// @dev The handler keeps its own model of participants, batches, nonces and anchors, written
/// from the interface documentation and never from the registries' views. Before relaying, the
/// model decides whether each event must be accepted and, if not, which error the registry must
/// give; the relay's `EventAccepted`/`EventRejected` logs are then compared with that decision.
/// Disagreements are not reverted (the invariants would then only see a failed call): they are
/// counted per kind with the first message kept, and the invariants assert the counts are zero.
contract BatchHandler is Test {
    // ----- types -----

    /// @notice A participant registered by the test's setUp, as the handler is told about it.
    struct Seat {
        uint32 id;
        uint256 pk;
        uint8 roles;
    }

    struct Party {
        uint8 roles;
        bool active;
        uint256 pk;
        address key;
    }

    struct Lot {
        uint32 producer;
        uint32 custodian;
        uint32 receiver;
        IBatchRegistry.Status status;
        bytes32 head;
        bytes32 staleHead;
    }

    /// @dev An event queued for the next relay, with the model's verdict taken when it was queued.
    struct Pending {
        uint8 action;
        address signer;
        uint32 signerId;
        uint256 nonce;
        bytes32 hash;
        bytes expected;
        bool nonceUsedBefore;
        bool signatureValid;
    }

    struct NoncePair {
        address signer;
        uint256 nonce;
    }

    struct AnchorRecord {
        bytes32 root;
        IAnchorRegistry.Anchor anchor;
    }

    /// @dev The fields of one EventAccepted log.
    struct AcceptedLog {
        bytes32 hash;
        address signer;
        uint32 participant;
        uint256 nonce;
    }

    /// @notice The handler's actions, for the call counters.
    enum Call {
        Commission,
        Ship,
        Receive,
        Transform,
        Recall,
        Destroy,
        Replay,
        StaleHead,
        Suspension,
        RotateKey,
        Anchor,
        Roll,
        RelayMany
    }

    /// @notice What the registries did that the model says they must not.
    enum Violation {
        AcceptedInvalid,
        RejectedValid,
        WrongReason,
        NonceReused,
        Unauthorized,
        WrongEventLog,
        WrongCount,
        AnchorOutcome
    }

    uint256 internal constant CALL_KINDS = 13;
    uint256 internal constant VIOLATION_KINDS = 8;

    uint8 internal constant COMMISSION = uint8(IBatchRegistry.Action.COMMISSION);
    uint8 internal constant SHIP = uint8(IBatchRegistry.Action.SHIP);
    uint8 internal constant RECEIVE = uint8(IBatchRegistry.Action.RECEIVE);
    uint8 internal constant TRANSFORM = uint8(IBatchRegistry.Action.TRANSFORM);
    uint8 internal constant RECALL = uint8(IBatchRegistry.Action.RECALL);
    uint8 internal constant DESTROY = uint8(IBatchRegistry.Action.DESTROY);

    /// @dev The documented limit on inputs plus outputs of one TRANSFORM.
    uint256 internal constant MAX_TRANSFORM_BATCHES = 64;

    uint256 internal constant SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    /// @dev A key that is never registered.
    uint256 internal constant STRANGER_PK = 0x57A4;
    /// @dev Rotated keys are `ROTATED_PK_BASE + n` for the n-th rotation.
    uint256 internal constant ROTATED_PK_BASE = 0xB0B00000;

    bytes32 internal constant TRACE_EVENT_TYPEHASH = keccak256(
        "TraceEvent(uint8 action,bytes32 batchId,bytes32 prevEventHash,bytes32[] inputs,bytes32[] inputPrevHashes,"
        "bytes32[] outputs,address counterparty,bytes32 product,uint256 quantity,uint64 eventTime,bytes32 location,"
        "bytes32 payloadHash,uint256 nonce)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    IBatchRegistry internal immutable _batches;
    IParticipantRegistry internal immutable _participants;
    IAnchorRegistry internal immutable _anchors;
    address internal immutable _admin;
    address internal immutable _node;

    // ----- model: participants -----

    uint32 public partyCount;
    mapping(uint32 id => Party) internal _parties;
    /// @dev Every key ever registered, current or rotated out.
    mapping(address key => uint32 id) internal _keyOwner;
    mapping(uint32 id => uint256[]) internal _retiredPks;
    address[] internal _retiredKeys;
    uint256 internal _rotations;

    // ----- model: batches -----

    bytes32[] internal _lotIds;
    mapping(bytes32 batchId => Lot) internal _lots;
    uint256 internal _lotCounter;
    mapping(bytes32 batchId => bytes) internal _preimages;
    uint256 internal _payloadCounter;

    /// @dev Custodian observed on-chain when a batch first showed a terminal status.
    bytes32[] internal _frozenIds;
    mapping(bytes32 batchId => bool) internal _isFrozen;
    mapping(bytes32 batchId => uint32) internal _frozenCustodian;

    // ----- model: nonces -----

    mapping(address signer => mapping(uint256 nonce => bool)) internal _nonceUsed;
    mapping(address signer => uint256) internal _nextNonce;
    mapping(address signer => uint256) internal _lastUsedNonce;
    mapping(address signer => bool) internal _hasUsedNonce;
    NoncePair[] internal _pairs;
    mapping(bytes32 pair => bool) internal _pairSeen;

    /// @dev Accepted signed events (ABI-encoded) and their signers, for replays.
    bytes[] internal _acceptedSigned;
    address[] internal _acceptedSigners;

    // ----- model: anchors -----

    AnchorRecord[] internal _anchored;
    uint64 public anchoredEvents;
    /// @notice Events the node had accepted, whether anchored yet or not.
    uint64 public nodeAccepted;
    uint256 internal _rootCounter;

    // ----- the relay being assembled -----

    Pending[] internal _pending;
    bytes[] internal _pendingSigned;

    // ----- counters and violations -----

    uint256[10] public acceptedByAction;
    uint256 public anchorsAccepted;
    /// @notice Lots never seen that a RECEIVE brought into the network.
    uint256 public adoptedFromOutside;
    uint256 public relays;
    uint256 public relayedEvents;
    uint256 public suspensions;
    uint256 public reactivations;
    uint256 public noops;
    mapping(bytes4 selector => uint256) public rejectedByReason;
    bytes4[] internal _reasonsSeen;
    mapping(bytes4 selector => uint256) public anchorRejectedByReason;
    bytes4[] internal _anchorReasonsSeen;
    uint256[CALL_KINDS] public calls;
    uint256[VIOLATION_KINDS] public violations;
    string[VIOLATION_KINDS] internal _firstViolation;

    constructor(
        IBatchRegistry batches,
        IParticipantRegistry participants,
        IAnchorRegistry anchors,
        address admin,
        address node,
        Seat[] memory seats
    ) {
        _batches = batches;
        _participants = participants;
        _anchors = anchors;
        _admin = admin;
        _node = node;
        for (uint256 i; i < seats.length; ++i) {
            Seat memory seat = seats[i];
            require(seat.id == i + 1, "BatchHandler: seats must be ids 1..n in order");
            address key = vm.addr(seat.pk);
            _parties[seat.id] = Party({roles: seat.roles, active: true, pk: seat.pk, key: key});
            _keyOwner[key] = seat.id;
        }
        partyCount = uint32(seats.length);
    }

    // =====================================================================
    // Actions (the fuzzer's targets)
    // =====================================================================

    /// @notice A producer commissions a new batch; sometimes a non-producer or a stranger tries,
    /// or the id already exists.
    function commission(uint256 actorSeed, uint256 mode) external {
        calls[uint256(Call.Commission)]++;
        _buildCommission(actorSeed, mode);
        _flushRelay();
    }

    /// @notice The custodian ships an active batch; sometimes another participant signs, or the
    /// receiver is invalid.
    function ship(uint256 batchSeed, uint256 actorSeed, uint256 mode) external {
        calls[uint256(Call.Ship)]++;
        _buildShip(batchSeed, actorSeed, mode);
        _flushRelay();
    }

    /// @notice The named receiver takes a batch in transit; sometimes another participant tries.
    function receiveBatch(uint256 batchSeed, uint256 actorSeed, uint256 mode) external {
        calls[uint256(Call.Receive)]++;
        _buildReceive(batchSeed, actorSeed, mode);
        _flushRelay();
    }

    /// @notice A processor consumes 1-3 of its batches into 1-2 new ones; sometimes an input is
    /// not held, recalled or repeated.
    function transform(uint256 inputSeed, uint256 outputSeed, uint256 mode) external {
        calls[uint256(Call.Transform)]++;
        _buildTransform(inputSeed, outputSeed, mode);
        _flushRelay();
    }

    /// @notice The producer or a regulator recalls a batch; sometimes someone else tries.
    function recall(uint256 batchSeed, uint256 actorSeed, uint256 mode) external {
        calls[uint256(Call.Recall)]++;
        _buildRecall(batchSeed, actorSeed, mode);
        _flushRelay();
    }

    /// @notice The custodian destroys an active or recalled batch; sometimes someone else tries,
    /// or the batch is in another status or unknown.
    function destroy(uint256 batchSeed, uint256 actorSeed, uint256 mode) external {
        calls[uint256(Call.Destroy)]++;
        _buildDestroy(batchSeed, actorSeed, mode);
        _flushRelay();
    }

    /// @notice Relays an earlier accepted event again, as it was or with its malleable twin signature.
    function replay(uint256 seed, uint256 mode) external {
        calls[uint256(Call.Replay)]++;
        _buildReplay(seed, mode);
        _flushRelay();
    }

    /// @notice The right signer acts on a batch but names the head before its current one.
    function staleHead(uint256 batchSeed, uint256 actorSeed, uint256 mode) external {
        calls[uint256(Call.StaleHead)]++;
        _buildStale(batchSeed, actorSeed, mode);
        _flushRelay();
    }

    /// @notice The admin suspends or reactivates a participant (mostly reactivates a suspended one).
    function toggleSuspension(uint256 partySeed, uint256 mode) external {
        calls[uint256(Call.Suspension)]++;
        uint32 id = _anyParty(partySeed);
        if (mode % 3 != 0) {
            uint32 suspended = _firstSuspended(partySeed);
            if (suspended != 0) id = suspended;
        }
        Party storage party = _parties[id];
        vm.prank(_admin);
        if (party.active) {
            _participants.suspend(id);
            party.active = false;
            suspensions++;
        } else {
            _participants.reactivate(id);
            party.active = true;
            reactivations++;
        }
    }

    /// @notice The admin, or the participant itself while active, moves a participant to a new
    /// key (a suspended participant's own key is refused; that refusal is unit-tested).
    function rotateKey(uint256 partySeed, uint256 mode) external {
        calls[uint256(Call.RotateKey)]++;
        uint32 id = _anyParty(partySeed);
        Party storage party = _parties[id];
        uint256 newPk = ROTATED_PK_BASE + ++_rotations;
        address newKey = vm.addr(newPk);

        vm.prank(mode % 2 == 0 || !party.active ? _admin : party.key);
        _participants.rotateKey(id, newKey);

        _retiredPks[id].push(party.pk);
        _retiredKeys.push(party.key);
        party.pk = newPk;
        party.key = newKey;
        _keyOwner[newKey] = id;
    }

    /// @notice The node anchors a root through {IBatchRegistry-commit}: mostly the next window
    /// (with or without events in the same call); sometimes an existing root, a window that does
    /// not follow the last one, a zero root or an empty window, each of which must revert.
    function anchor(uint256 countSeed, uint256 mode) external {
        calls[uint256(Call.Anchor)]++;
        uint256 m = mode % 8;
        uint64 next = 1 + anchoredEvents;
        if (m == 0 && _anchored.length != 0) {
            bytes32 existing = _anchored[countSeed % _anchored.length].root;
            _commitExpectingRevert(
                existing, next, 1, abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryRootExists.selector, existing)
            );
        } else if (m == 1) {
            // casting to 'uint64' is safe because the value is below 3.
            // forge-lint: disable-next-line(unsafe-typecast)
            uint64 firstSeq = (countSeed % 2 == 0 || next == 1) ? next + 1 + uint64(countSeed % 3) : next - 1;
            _commitExpectingRevert(
                _newRoot(),
                firstSeq,
                1,
                abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, _node, next, firstSeq)
            );
        } else if (m == 2 || m == 0) {
            _commitExpectingRevert(
                bytes32(0), next, 1, abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryZeroRoot.selector)
            );
        } else if (m == 3) {
            _commitExpectingRevert(
                _newRoot(), next, 0, abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryEmptyWindow.selector)
            );
        } else {
            // The model can only overshoot when the registry already disagreed with it (a violation).
            uint256 unanchored = nodeAccepted > anchoredEvents ? nodeAccepted - anchoredEvents : 0;
            if (unanchored != 0 && m < 6) {
                // casting to 'uint32' is safe because a run relays far fewer than 2**32 events.
                // forge-lint: disable-next-line(unsafe-typecast)
                _flush(true, _newRoot(), next, uint32(bound(countSeed, 1, unanchored)));
                return;
            }
            // Events and their root in one transaction: a new batch, maybe shipped at once.
            _buildCommission(countSeed, 2);
            if (m == 7) _buildShip(countSeed >> 64, countSeed >> 128, 2);
            uint256 window = unanchored + _expectedAcceptances();
            if (window == 0) {
                _flushRelay();
            } else {
                // casting to 'uint32' is safe because a run relays far fewer than 2**32 events.
                // forge-lint: disable-next-line(unsafe-typecast)
                _flush(true, _newRoot(), next, uint32(window));
            }
        }
    }

    /// @notice Moves the chain forward 1-5 blocks (12 s each).
    function roll(uint256 seed) external {
        calls[uint256(Call.Roll)]++;
        uint256 blocks = bound(seed, 1, 5);
        vm.roll(block.number + blocks);
        vm.warp(block.timestamp + 12 * blocks);
    }

    /// @notice Two to four events of any kind in one relay; later ones see the model state the
    /// earlier ones leave, so a batch can be commissioned, shipped and received in one call.
    function relayMany(uint256 seed) external {
        calls[uint256(Call.RelayMany)]++;
        uint256 count = 2 + seed % 3;
        for (uint256 k; k < count; ++k) {
            uint256 a = uint256(keccak256(abi.encode(seed, k, "a")));
            uint256 b = uint256(keccak256(abi.encode(seed, k, "b")));
            _buildAny(a % 8, a >> 8, b, uint256(keccak256(abi.encode(seed, k, "mode"))));
        }
        _flushRelay();
    }

    // =====================================================================
    // Views for the invariants
    // =====================================================================

    function lotCount() external view returns (uint256) {
        return _lotIds.length;
    }

    function lotIdAt(uint256 i) external view returns (bytes32) {
        return _lotIds[i];
    }

    /// @notice The model's batch, in the registry's layout.
    function modelBatch(bytes32 batchId) external view returns (IBatchRegistry.Batch memory) {
        Lot storage lot = _lots[batchId];
        return IBatchRegistry.Batch({
            producer: lot.producer, custodian: lot.custodian, receiver: lot.receiver, status: lot.status, head: lot.head
        });
    }

    function frozenCount() external view returns (uint256) {
        return _frozenIds.length;
    }

    function frozenAt(uint256 i) external view returns (bytes32 batchId, uint32 custodian) {
        batchId = _frozenIds[i];
        custodian = _frozenCustodian[batchId];
    }

    function pairCount() external view returns (uint256) {
        return _pairs.length;
    }

    /// @notice A (signer, nonce) pair some relayed event carried, and whether the model has it used.
    function pairAt(uint256 i) external view returns (address signer, uint256 nonce, bool used) {
        NoncePair storage pair = _pairs[i];
        return (pair.signer, pair.nonce, _nonceUsed[pair.signer][pair.nonce]);
    }

    function anchorCount() external view returns (uint256) {
        return _anchored.length;
    }

    function anchorAt(uint256 i) external view returns (bytes32 root, IAnchorRegistry.Anchor memory recorded) {
        AnchorRecord storage record = _anchored[i];
        return (record.root, record.anchor);
    }

    function firstViolation(Violation kind) external view returns (string memory) {
        return _firstViolation[uint256(kind)];
    }

    function violationCount(Violation kind) external view returns (uint256) {
        return violations[uint256(kind)];
    }

    function callCount(Call kind) external view returns (uint256) {
        return calls[uint256(kind)];
    }

    /// @notice How many distinct reasons relayed events were rejected with.
    function rejectionKinds() external view returns (uint256) {
        return _reasonsSeen.length;
    }

    function rejectedTotal() public view returns (uint256 total) {
        for (uint256 i; i < _reasonsSeen.length; ++i) {
            total += rejectedByReason[_reasonsSeen[i]];
        }
    }

    /// @notice Prints what the handler did: calls, acceptances per action, rejections per reason,
    /// anchors, and the violation counts.
    function logSummary() external view {
        string[CALL_KINDS] memory callNames = [
            string("commission"),
            "ship",
            "receiveBatch",
            "transform",
            "recall",
            "destroy",
            "replay",
            "staleHead",
            "toggleSuspension",
            "rotateKey",
            "anchor",
            "roll",
            "relayMany"
        ];
        for (uint256 i; i < CALL_KINDS; ++i) {
            console.log(string.concat("calls.", callNames[i]), calls[i]);
        }
        console.log("relays", relays);
        console.log("relayed events", relayedEvents);
        for (uint8 action = COMMISSION; action <= DESTROY; ++action) {
            if (_neededRoles(action) == 0) continue;
            console.log(string.concat("accepted.", _actionName(action)), acceptedByAction[action]);
        }
        for (uint256 i; i < _reasonsSeen.length; ++i) {
            console.log(string.concat("rejected.", _reasonName(_reasonsSeen[i])), rejectedByReason[_reasonsSeen[i]]);
        }
        console.log("adopted from outside", adoptedFromOutside);
        console.log("anchors.accepted", anchorsAccepted);
        console.log("anchors.anchoredEvents", anchoredEvents);
        for (uint256 i; i < _anchorReasonsSeen.length; ++i) {
            bytes4 reason = _anchorReasonsSeen[i];
            console.log(string.concat("anchors.rejected.", _reasonName(reason)), anchorRejectedByReason[reason]);
        }
        console.log("participants.suspended", suspensions);
        console.log("participants.reactivated", reactivations);
        console.log("participants.rotatedKeys", _rotations);
        console.log("batches", _lotIds.length);
        console.log("batches.terminal", _frozenIds.length);
        console.log("noncePairs", _pairs.length);
        console.log("noops", noops);
        for (uint256 i; i < VIOLATION_KINDS; ++i) {
            console.log(string.concat("violations.", Strings.toString(i)), violations[i]);
        }
    }

    // =====================================================================
    // Building events
    // =====================================================================

    function _buildAny(uint256 kind, uint256 a, uint256 b, uint256 mode) internal {
        if (kind == 0) _buildCommission(a, mode);
        else if (kind == 1) _buildShip(a, b, mode);
        else if (kind == 2) _buildReceive(a, b, mode);
        else if (kind == 3) _buildTransform(a, b, mode);
        else if (kind == 4) _buildRecall(a, b, mode);
        else if (kind == 5) _buildDestroy(a, b, mode);
        else if (kind == 6) _buildReplay(a, mode);
        else _buildStale(a, b, mode);
    }

    function _buildCommission(uint256 actorSeed, uint256 mode) internal {
        uint256 m = mode % 8;
        uint256 pk;
        if (m == 0) {
            // Not a producer: a participant without the role, or a key nobody registered.
            uint32 id = _partyWith(Roles.PRODUCER, false, 0, actorSeed);
            pk = (id == 0 || actorSeed % 5 == 4) ? STRANGER_PK : _pkOf(id, actorSeed >> 128);
        } else {
            pk = _pkOf(_partyWith(Roles.PRODUCER, true, 0, actorSeed), actorSeed >> 128);
        }
        bytes32 batchId = (m == 1 && _lotIds.length != 0) ? _lotIds[actorSeed % _lotIds.length] : _newLotId();
        IBatchRegistry.TraceEvent memory ev = _blank(COMMISSION, batchId, bytes32(0));
        ev.product = keccak256(abi.encode("urn:product", actorSeed % 7));
        ev.quantity = bound(mode >> 16, 1, 1e9);
        _queue(ev, pk, mode >> 8);
    }

    function _buildShip(uint256 batchSeed, uint256 actorSeed, uint256 mode) internal {
        uint256 m = mode % 8;
        bytes32 batchId = _pickLot(batchSeed, _bit(IBatchRegistry.Status.ACTIVE), 0);
        Lot storage lot = _lots[batchId];
        uint32 custodian = lot.custodian;
        uint32 signerId;
        if (m == 0) signerId = _otherParty(custodian, actorSeed);
        else signerId = custodian != 0 ? custodian : _partyWith(Roles.CUSTODY, true, 0, actorSeed);
        IBatchRegistry.TraceEvent memory ev = _blank(SHIP, batchId, lot.head);
        // m == 7: to a party outside the network (counterparty zero): exported.
        ev.counterparty = m == 1
            ? _invalidReceiver(custodian, actorSeed >> 8)
            : m == 7 ? address(0) : _receiverFor(custodian, actorSeed >> 8);
        _queue(ev, _pkOf(signerId, actorSeed >> 128), mode >> 8);
    }

    function _buildReceive(uint256 batchSeed, uint256 actorSeed, uint256 mode) internal {
        uint256 m = mode % 8;
        if (m == 6 || m == 5) {
            // Adoption from outside (no previous event, with the identifier): of a lot never
            // seen, or (m == 5) of one the network holds, which is never adopted.
            bytes32 adopted = m == 6 ? _newLotId() : _pickLot(batchSeed, ~_bit(IBatchRegistry.Status.NONE), 0);
            uint32 adopter = _partyWith(Roles.CUSTODY, true, 0, actorSeed);
            _queue(_blank(RECEIVE, adopted, bytes32(0)), _pkOf(adopter, actorSeed >> 128), mode >> 8);
            return;
        }
        // In transit to a receiver, or exported and coming back (received by anyone).
        bytes32 batchId =
            _pickLot(batchSeed, _bit(IBatchRegistry.Status.IN_TRANSIT) | _bit(IBatchRegistry.Status.EXPORTED), 0);
        Lot storage lot = _lots[batchId];
        uint32 signerId;
        if (m == 0) signerId = _otherParty(lot.receiver, actorSeed);
        else signerId = lot.receiver != 0 ? lot.receiver : _partyWith(Roles.CUSTODY, true, 0, actorSeed);
        _queue(_blank(RECEIVE, batchId, lot.head), _pkOf(signerId, actorSeed >> 128), mode >> 8);
    }

    function _buildTransform(uint256 inputSeed, uint256 outputSeed, uint256 mode) internal {
        uint256 m = mode % 8;
        uint32 id = m == 7
            ? _partyWith(Roles.PRODUCER | Roles.PROCESSOR, true, 0, outputSeed)
            : _partyWith(Roles.PROCESSOR, true, 0, outputSeed);
        bytes32[] memory inputs = new bytes32[](5);
        uint256 count = _heldActiveLots(id, inputSeed >> 8, bound(inputSeed, 1, 3), inputs);
        if (m == 0 || m == 1 || count == 0) {
            // One input the processor may not use: held by someone else, or recalled.
            bytes32 bad = m == 1
                ? _pickLot(inputSeed >> 16, _bit(IBatchRegistry.Status.RECALLED), 0)
                : _pickLot(inputSeed >> 16, _bit(IBatchRegistry.Status.ACTIVE), id);
            if (_indexOf(inputs, count, bad) == type(uint256).max) inputs[count++] = bad;
        }
        if (m == 2) inputs[count++] = inputs[0];

        IBatchRegistry.TraceEvent memory ev = _blank(TRANSFORM, bytes32(0), bytes32(0));
        ev.inputs = new bytes32[](count);
        ev.inputPrevHashes = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            ev.inputs[i] = inputs[i];
            ev.inputPrevHashes[i] = _lots[inputs[i]].head;
        }
        ev.outputs = new bytes32[](1 + (outputSeed >> 64) % 2);
        for (uint256 i; i < ev.outputs.length; ++i) {
            ev.outputs[i] = _newLotId();
        }
        ev.product = keccak256(abi.encode("urn:product:processed", outputSeed % 5));
        ev.quantity = bound(mode >> 16, 1, 1e9);
        _queue(ev, _pkOf(id, outputSeed >> 128), mode >> 8);
    }

    function _buildRecall(uint256 batchSeed, uint256 actorSeed, uint256 mode) internal {
        uint256 m = mode % 4;
        bytes32 batchId = _pickLot(
            batchSeed,
            _bit(IBatchRegistry.Status.ACTIVE) | _bit(IBatchRegistry.Status.IN_TRANSIT)
                | _bit(IBatchRegistry.Status.CONSUMED),
            0
        );
        uint32 producer = _lots[batchId].producer;
        uint32 signerId;
        if (m == 1) {
            signerId = _partyWith(Roles.REGULATOR, true, 0, actorSeed);
        } else if (m == 2) {
            // Neither the producer nor a regulator.
            signerId = _partyWith(Roles.REGULATOR, false, producer, actorSeed);
        } else {
            signerId = producer != 0 ? producer : _partyWith(Roles.PRODUCER, true, 0, actorSeed);
        }
        _queue(_blank(RECALL, batchId, _lots[batchId].head), _pkOf(signerId, actorSeed >> 128), mode >> 8);
    }

    function _buildDestroy(uint256 batchSeed, uint256 actorSeed, uint256 mode) internal {
        uint256 m = mode % 8;
        bytes32 batchId;
        if (m == 2) {
            batchId = _unknownLot(batchSeed);
        } else if (m == 1) {
            batchId = _pickLot(
                batchSeed,
                _bit(IBatchRegistry.Status.IN_TRANSIT) | _bit(IBatchRegistry.Status.CONSUMED)
                    | _bit(IBatchRegistry.Status.DESTROYED),
                0
            );
        } else {
            batchId = _pickLot(batchSeed, _bit(IBatchRegistry.Status.ACTIVE) | _bit(IBatchRegistry.Status.RECALLED), 0);
        }
        Lot storage lot = _lots[batchId];
        uint32 signerId;
        if (m == 0) signerId = _otherParty(lot.custodian, actorSeed);
        else signerId = lot.custodian != 0 ? lot.custodian : _anyParty(actorSeed);
        _queue(_blank(DESTROY, batchId, lot.head), _pkOf(signerId, actorSeed >> 128), mode >> 8);
    }

    /// @dev mode % 4: 0 the malleable twin of an accepted event's signature; 1 the event queued
    /// just before in this relay again; otherwise an accepted event exactly as it was.
    function _buildReplay(uint256 seed, uint256 mode) internal {
        uint256 m = mode % 4;
        uint256 queued = _pendingSigned.length;
        IBatchRegistry.SignedEvent memory signed;
        address signer;
        if (m == 1 && queued != 0) {
            // The copy carries that event's signature, which may be a malleated one.
            signed = abi.decode(_pendingSigned[queued - 1], (IBatchRegistry.SignedEvent));
            signer = _pending[queued - 1].signer;
            _enqueue(signed, signer, _pending[queued - 1].signatureValid);
            return;
        } else if (_acceptedSigned.length != 0) {
            uint256 i = seed % _acceptedSigned.length;
            signed = abi.decode(_acceptedSigned[i], (IBatchRegistry.SignedEvent));
            signer = _acceptedSigners[i];
        } else {
            noops++;
            return;
        }
        if (m == 0) {
            // Same signer and digest, s mirrored to the upper half: ECDSA must refuse it.
            signed.s = bytes32(SECP256K1_ORDER - uint256(signed.s));
            signed.v = signed.v == 27 ? 28 : 27;
            _enqueue(signed, signer, false);
        } else {
            _enqueue(signed, signer, true);
        }
    }

    /// @dev The signer the batch's status calls for acts, but on the head before the current one
    /// (zero right after commissioning).
    function _buildStale(uint256 batchSeed, uint256 actorSeed, uint256 mode) internal {
        bytes32 batchId = _pickLot(batchSeed, type(uint256).max, 0);
        Lot storage lot = _lots[batchId];
        IBatchRegistry.Status status = lot.status;
        bytes32 stale = lot.staleHead;
        IBatchRegistry.TraceEvent memory ev;
        uint32 signerId;
        if (status == IBatchRegistry.Status.ACTIVE && mode % 4 == 0) {
            signerId = lot.custodian;
            ev = _blank(TRANSFORM, bytes32(0), bytes32(0));
            ev.inputs = _one(batchId);
            ev.inputPrevHashes = _one(stale);
            ev.outputs = _one(_newLotId());
            ev.product = keccak256("urn:product:processed");
            ev.quantity = 1;
        } else if (status == IBatchRegistry.Status.ACTIVE || status == IBatchRegistry.Status.NONE) {
            signerId = lot.custodian != 0 ? lot.custodian : _anyParty(actorSeed);
            ev = _blank(SHIP, batchId, stale);
            ev.counterparty = _receiverFor(lot.custodian, actorSeed >> 8);
        } else if (status == IBatchRegistry.Status.IN_TRANSIT) {
            signerId = lot.receiver;
            ev = _blank(RECEIVE, batchId, stale);
        } else if (status == IBatchRegistry.Status.RECALLED) {
            signerId = lot.custodian;
            ev = _blank(DESTROY, batchId, stale);
        } else {
            signerId = status == IBatchRegistry.Status.CONSUMED
                ? lot.producer
                : _partyWith(Roles.REGULATOR, true, 0, actorSeed);
            ev = _blank(RECALL, batchId, stale);
        }
        _queue(ev, _pkOf(signerId, actorSeed >> 128), mode >> 8);
    }

    /// @dev A single-batch event with empty lists; the nonce is set by {_queue}.
    function _blank(uint8 action, bytes32 batchId, bytes32 prev)
        internal
        returns (IBatchRegistry.TraceEvent memory ev)
    {
        ev.action = action;
        ev.batchId = batchId;
        ev.prevEventHash = prev;
        ev.eventTime = uint64(block.timestamp) * 1000;
        ev.location = keccak256("urn:epc:id:sgln:0614141.00001.0");
        ev.payloadHash = keccak256(abi.encode("payload", ++_payloadCounter));
    }

    /// @dev Gives `ev` a nonce for the key `pk`, signs it and queues it.
    function _queue(IBatchRegistry.TraceEvent memory ev, uint256 pk, uint256 nonceSeed) internal {
        address signer = vm.addr(pk);
        ev.nonce = _nonceFor(signer, nonceSeed);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, _digest(ev));
        _enqueue(IBatchRegistry.SignedEvent({ev: ev, v: v, r: r, s: s, identifiers: _proofs(ev)}), signer, true);
    }

    /// @dev Takes the model's verdict on `signed` (by `signer`), applies it to the model when the
    /// model accepts it, and queues it for the next relay.
    function _enqueue(IBatchRegistry.SignedEvent memory signed, address signer, bool signatureValid) internal {
        IBatchRegistry.TraceEvent memory ev = signed.ev;
        bytes32 hash = _digest(ev);
        bool usedBefore = _nonceUsed[signer][ev.nonce];
        bytes memory expected;
        if (_neededRoles(ev.action) == 0) {
            expected = abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnsupportedAction.selector, ev.action);
        } else if (!signatureValid) {
            expected = abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, hash);
        } else {
            expected = _evaluate(ev, hash, signer);
        }
        uint32 signerId = _keyOwner[signer];
        if (expected.length == 0) {
            _apply(ev, hash, signerId);
            _nonceUsed[signer][ev.nonce] = true;
            _lastUsedNonce[signer] = ev.nonce;
            _hasUsedNonce[signer] = true;
        }
        bytes32 pairKey = keccak256(abi.encode(signer, ev.nonce));
        if (!_pairSeen[pairKey]) {
            _pairSeen[pairKey] = true;
            _pairs.push(NoncePair({signer: signer, nonce: ev.nonce}));
        }
        _pending.push(
            Pending({
                action: ev.action,
                signer: signer,
                signerId: signerId,
                nonce: ev.nonce,
                hash: hash,
                expected: expected,
                nonceUsedBefore: usedBefore,
                signatureValid: signatureValid
            })
        );
        _pendingSigned.push(abi.encode(signed));
    }

    /// @dev Mostly the signer's next counter nonce; 1 in 16 a sparse (random, huge) one; 1 in 16
    /// the last nonce the signer had accepted, which must be refused.
    function _nonceFor(address signer, uint256 seed) internal returns (uint256) {
        uint256 m = seed % 16;
        if (m == 15 && _hasUsedNonce[signer]) return _lastUsedNonce[signer];
        if (m == 14) return uint256(keccak256(abi.encode("sparse", signer, seed)));
        return _nextNonce[signer]++;
    }

    /// @dev The EIP-712 digest, computed from the documented domain and type, not by the registry.
    function _digest(IBatchRegistry.TraceEvent memory ev) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("TraceNode"), keccak256("1"), block.chainid, address(_batches))
        );
        bytes32 structHash = keccak256(
            bytes.concat(
                abi.encode(
                    TRACE_EVENT_TYPEHASH,
                    ev.action,
                    ev.batchId,
                    ev.prevEventHash,
                    keccak256(abi.encodePacked(ev.inputs)),
                    keccak256(abi.encodePacked(ev.inputPrevHashes)),
                    keccak256(abi.encodePacked(ev.outputs))
                ),
                abi.encode(
                    ev.counterparty, ev.product, ev.quantity, ev.eventTime, ev.location, ev.payloadHash, ev.nonce
                )
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    // =====================================================================
    // The model's rules (from IBatchRegistry's documentation)
    // =====================================================================

    /// @dev Empty when the event must be accepted; otherwise the exact error the registry must give.
    function _evaluate(IBatchRegistry.TraceEvent memory ev, bytes32 hash, address signer)
        internal
        view
        returns (bytes memory)
    {
        uint8 action = ev.action;
        uint32 id = _keyOwner[signer];
        Party storage party = _parties[id];
        if (id == 0 || party.key != signer) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, signer);
        }
        if (!party.active) return abi.encodeWithSelector(IBatchRegistry.BatchRegistrySignerSuspended.selector, signer);
        if (party.roles & _neededRoles(action) == 0) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryMissingRole.selector, signer, action);
        }
        if (_nonceUsed[signer][ev.nonce]) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNonceUsed.selector, signer, ev.nonce);
        }
        if (action == COMMISSION) return _evalCommission(ev, hash);
        if (action == SHIP) return _evalShip(ev, hash, id, signer);
        if (action == RECEIVE) return _evalReceive(ev, hash, id, signer);
        if (action == TRANSFORM) return _evalTransform(ev, hash, id, signer);
        if (action == RECALL) return _evalRecall(ev, hash, id, signer, party.roles);
        return _evalDestroy(ev, hash, id, signer);
    }

    function _evalCommission(IBatchRegistry.TraceEvent memory ev, bytes32 hash) internal view returns (bytes memory) {
        bytes32 batchId = ev.batchId;
        if (batchId == bytes32(0) || ev.quantity == 0 || !_single(ev, false)) return _malformed(hash);
        if (_lots[batchId].status != IBatchRegistry.Status.NONE) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchExists.selector, batchId);
        }
        if (ev.prevEventHash != bytes32(0)) {
            return abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryHeadMismatch.selector, batchId, bytes32(0), ev.prevEventHash
            );
        }
        return "";
    }

    function _evalShip(IBatchRegistry.TraceEvent memory ev, bytes32 hash, uint32 id, address signer)
        internal
        view
        returns (bytes memory reason)
    {
        bool outside = ev.counterparty == address(0);
        if (!_single(ev, !outside)) return _malformed(hash);
        Lot storage lot = _lots[ev.batchId];
        reason = _evalMovable(lot, ev.batchId, ev.prevEventHash, IBatchRegistry.Status.ACTIVE);
        if (reason.length != 0) return reason;
        if (lot.custodian != id) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, ev.batchId, signer);
        }
        if (outside) return "";
        address to = ev.counterparty;
        uint32 receiver = _keyOwner[to];
        Party storage party = _parties[receiver];
        if (
            receiver == 0 || party.key != to || !party.active || party.roles & Roles.CUSTODY == 0
                || receiver == lot.custodian
        ) return abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, to);
        return "";
    }

    function _evalReceive(IBatchRegistry.TraceEvent memory ev, bytes32 hash, uint32 id, address signer)
        internal
        view
        returns (bytes memory reason)
    {
        if (!_single(ev, false)) return _malformed(hash);
        Lot storage lot = _lots[ev.batchId];
        IBatchRegistry.Status status = lot.status;
        if (ev.prevEventHash == bytes32(0) || status == IBatchRegistry.Status.EXPORTED) {
            // Adoption: a lot never seen (with its identifier) or exported, coming into the network.
            if (ev.batchId == bytes32(0)) return _malformed(hash);
            if (status != IBatchRegistry.Status.NONE && status != IBatchRegistry.Status.EXPORTED) {
                return abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchInNetwork.selector, ev.batchId, status);
            }
            if (ev.prevEventHash != lot.head) {
                return abi.encodeWithSelector(
                    IBatchRegistry.BatchRegistryHeadMismatch.selector, ev.batchId, lot.head, ev.prevEventHash
                );
            }
            if (status == IBatchRegistry.Status.NONE && _preimages[ev.batchId].length == 0) {
                return abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, ev.batchId);
            }
            return ""; // (the handler's identifiers are of no prefix kind, under an open policy)
        }
        reason = _evalMovable(lot, ev.batchId, ev.prevEventHash, IBatchRegistry.Status.IN_TRANSIT);
        if (reason.length != 0) return reason;
        if (lot.receiver != id) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotReceiver.selector, ev.batchId, signer);
        }
        return "";
    }

    function _evalTransform(IBatchRegistry.TraceEvent memory ev, bytes32 hash, uint32 id, address signer)
        internal
        view
        returns (bytes memory reason)
    {
        bytes32[] memory inputs = ev.inputs;
        bytes32[] memory outputs = ev.outputs;
        if (
            inputs.length == 0 || outputs.length == 0 || inputs.length + outputs.length > MAX_TRANSFORM_BATCHES
                || ev.inputPrevHashes.length != inputs.length || ev.batchId != bytes32(0)
                || ev.prevEventHash != bytes32(0) || ev.counterparty != address(0) || ev.quantity == 0
        ) return _malformed(hash);
        for (uint256 i; i < inputs.length; ++i) {
            if (_indexOf(inputs, i, inputs[i]) != type(uint256).max) return _malformed(hash);
            Lot storage lot = _lots[inputs[i]];
            reason = _evalMovable(lot, inputs[i], ev.inputPrevHashes[i], IBatchRegistry.Status.ACTIVE);
            if (reason.length != 0) return reason;
            if (lot.custodian != id) {
                return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, inputs[i], signer);
            }
        }
        for (uint256 i; i < outputs.length; ++i) {
            if (outputs[i] == bytes32(0) || _indexOf(outputs, i, outputs[i]) != type(uint256).max) {
                return _malformed(hash);
            }
            if (_lots[outputs[i]].status != IBatchRegistry.Status.NONE) {
                return abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchExists.selector, outputs[i]);
            }
        }
        return "";
    }

    function _evalRecall(IBatchRegistry.TraceEvent memory ev, bytes32 hash, uint32 id, address signer, uint8 roles)
        internal
        view
        returns (bytes memory reason)
    {
        if (!_single(ev, false)) return _malformed(hash);
        Lot storage lot = _lots[ev.batchId];
        reason = _evalHead(lot, ev.batchId, ev.prevEventHash);
        if (reason.length != 0) return reason;
        if (lot.status == IBatchRegistry.Status.RECALLED || lot.status == IBatchRegistry.Status.DESTROYED) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidStatus.selector, ev.batchId, lot.status);
        }
        if (lot.producer != id && roles & Roles.REGULATOR == 0) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotRecaller.selector, ev.batchId, signer);
        }
        return "";
    }

    function _evalDestroy(IBatchRegistry.TraceEvent memory ev, bytes32 hash, uint32 id, address signer)
        internal
        view
        returns (bytes memory reason)
    {
        if (!_single(ev, false)) return _malformed(hash);
        Lot storage lot = _lots[ev.batchId];
        reason = _evalHead(lot, ev.batchId, ev.prevEventHash);
        if (reason.length != 0) return reason;
        if (lot.status != IBatchRegistry.Status.ACTIVE && lot.status != IBatchRegistry.Status.RECALLED) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidStatus.selector, ev.batchId, lot.status);
        }
        if (lot.custodian != id) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, ev.batchId, signer);
        }
        return "";
    }

    function _evalHead(Lot storage lot, bytes32 batchId, bytes32 prev) internal view returns (bytes memory) {
        if (lot.status == IBatchRegistry.Status.NONE) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, batchId);
        }
        if (lot.head != prev) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, batchId, lot.head, prev);
        }
        return "";
    }

    function _evalMovable(Lot storage lot, bytes32 batchId, bytes32 prev, IBatchRegistry.Status required)
        internal
        view
        returns (bytes memory reason)
    {
        reason = _evalHead(lot, batchId, prev);
        if (reason.length != 0) return reason;
        if (lot.status == IBatchRegistry.Status.RECALLED) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchRecalled.selector, batchId);
        }
        if (lot.status != required) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidStatus.selector, batchId, lot.status);
        }
        return "";
    }

    /// @dev Applies an event the model accepts.
    function _apply(IBatchRegistry.TraceEvent memory ev, bytes32 hash, uint32 id) internal {
        uint8 action = ev.action;
        if (action == COMMISSION) {
            _addLot(ev.batchId, id, hash);
        } else if (action == TRANSFORM) {
            for (uint256 i; i < ev.inputs.length; ++i) {
                Lot storage input = _lots[ev.inputs[i]];
                input.status = IBatchRegistry.Status.CONSUMED;
                input.staleHead = input.head;
                input.head = hash;
            }
            for (uint256 i; i < ev.outputs.length; ++i) {
                _addLot(ev.outputs[i], id, hash);
            }
        } else if (action == RECEIVE && _lots[ev.batchId].status == IBatchRegistry.Status.NONE) {
            _addLot(ev.batchId, id, hash);
            _lots[ev.batchId].producer = 0; // adopted: its history lies outside the network
            ++adoptedFromOutside;
        } else {
            Lot storage lot = _lots[ev.batchId];
            lot.staleHead = lot.head;
            lot.head = hash;
            if (action == SHIP && ev.counterparty == address(0)) {
                lot.status = IBatchRegistry.Status.EXPORTED;
            } else if (action == SHIP) {
                lot.receiver = _keyOwner[ev.counterparty];
                lot.status = IBatchRegistry.Status.IN_TRANSIT;
            } else if (action == RECEIVE) {
                lot.custodian = id;
                lot.receiver = 0;
                lot.status = IBatchRegistry.Status.ACTIVE;
            } else if (action == RECALL) {
                lot.receiver = 0;
                lot.status = IBatchRegistry.Status.RECALLED;
            } else {
                lot.status = IBatchRegistry.Status.DESTROYED;
            }
        }
    }

    function _addLot(bytes32 batchId, uint32 id, bytes32 hash) internal {
        _lots[batchId] = Lot({
            producer: id,
            custodian: id,
            receiver: 0,
            status: IBatchRegistry.Status.ACTIVE,
            head: hash,
            staleHead: bytes32(0)
        });
        _lotIds.push(batchId);
    }

    /// @dev The roles of which a signer needs one (zero: the action is not executed on-chain).
    function _neededRoles(uint8 action) internal pure returns (uint8) {
        if (action == SHIP || action == RECEIVE || action == DESTROY) return Roles.CUSTODY;
        if (action == COMMISSION) return Roles.PRODUCER;
        if (action == TRANSFORM) return Roles.PRODUCER | Roles.PROCESSOR;
        if (action == RECALL) return Roles.ALL;
        return 0;
    }

    function _single(IBatchRegistry.TraceEvent memory ev, bool withCounterparty) internal pure returns (bool) {
        return ev.inputs.length == 0 && ev.inputPrevHashes.length == 0 && ev.outputs.length == 0
            && (ev.counterparty != address(0)) == withCounterparty;
    }

    function _malformed(bytes32 hash) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IBatchRegistry.BatchRegistryMalformedEvent.selector, hash);
    }

    // =====================================================================
    // Relaying and judging
    // =====================================================================

    function _flushRelay() internal {
        if (_pending.length == 0) return;
        _flush(false, bytes32(0), 0, 0);
    }

    /// @dev Relays the queued events (with `commitRoot`, commits them with the root), then
    /// compares each event's fate in the logs with the model's verdict.
    function _flush(bool commitRoot, bytes32 root, uint64 firstSeq, uint32 eventCount) internal {
        uint256 n = _pending.length;
        IBatchRegistry.SignedEvent[] memory signed = new IBatchRegistry.SignedEvent[](n);
        for (uint256 i; i < n; ++i) {
            signed[i] = abi.decode(_pendingSigned[i], (IBatchRegistry.SignedEvent));
        }
        vm.recordLogs();
        uint256 accepted;
        if (commitRoot) {
            vm.prank(_node);
            try _batches.commit(signed, root, firstSeq, eventCount) returns (uint256 count) {
                accepted = count;
                _anchored.push(
                    AnchorRecord({
                        root: root,
                        anchor: IAnchorRegistry.Anchor({
                            firstSeq: firstSeq,
                            eventCount: eventCount,
                            blockNumber: uint48(block.number),
                            timestamp: uint40(block.timestamp)
                        })
                    })
                );
                anchoredEvents += eventCount;
                anchorsAccepted++;
            } catch (bytes memory err) {
                vm.getRecordedLogs();
                _violate(
                    Violation.AnchorOutcome,
                    string.concat("commit of the next window reverted with ", _reasonName(_selectorOf(err)))
                );
                _clearPending();
                return;
            }
        } else {
            vm.prank(_node);
            accepted = _batches.relay(signed);
        }
        relays++;
        relayedEvents += n;
        _settle(signed, vm.getRecordedLogs(), accepted);
        _clearPending();
    }

    function _settle(IBatchRegistry.SignedEvent[] memory signed, Vm.Log[] memory logs, uint256 returned) internal {
        uint256 n = signed.length;
        bytes[] memory reasons = new bytes[](n);
        bool[] memory rejected = new bool[](n);
        AcceptedLog[] memory accepted = new AcceptedLog[](n);
        uint256 acceptedLogs;
        for (uint256 j; j < logs.length; ++j) {
            Vm.Log memory log = logs[j];
            if (log.emitter != address(_batches) || log.topics.length == 0) continue;
            if (log.topics[0] == IBatchRegistry.EventRejected.selector) {
                uint256 index = uint256(log.topics[1]);
                if (index >= n || rejected[index] || log.topics[2] != _pending[index].hash) {
                    _violate(Violation.WrongEventLog, "EventRejected with a bad index or event hash");
                    continue;
                }
                rejected[index] = true;
                reasons[index] = abi.decode(log.data, (bytes));
            } else if (log.topics[0] == IBatchRegistry.EventAccepted.selector) {
                if (acceptedLogs == n) {
                    _violate(Violation.WrongCount, "more EventAccepted logs than events");
                    continue;
                }
                accepted[acceptedLogs++] = AcceptedLog({
                    hash: log.topics[1],
                    signer: address(uint160(uint256(log.topics[2]))),
                    participant: uint32(uint256(log.topics[3])),
                    nonce: abi.decode(log.data, (uint256))
                });
            }
        }
        if (acceptedLogs != returned) {
            _violate(Violation.WrongCount, "relay's count differs from its EventAccepted logs");
        }

        // Each event gives exactly one of the two logs, in order.
        uint256 k;
        for (uint256 i; i < n; ++i) {
            if (rejected[i]) {
                _onRejected(i, reasons[i]);
            } else if (k < acceptedLogs) {
                _onAccepted(i, signed[i], accepted[k++]);
            } else {
                _violate(Violation.WrongCount, "an event got neither EventAccepted nor EventRejected");
            }
        }
        for (uint256 i; i < n; ++i) {
            _observeTerminal(signed[i].ev);
        }
    }

    function _onAccepted(uint256 i, IBatchRegistry.SignedEvent memory signed, AcceptedLog memory log) internal {
        Pending storage pending = _pending[i];
        uint8 action = pending.action;
        bytes memory expected = pending.expected;
        acceptedByAction[action]++;
        nodeAccepted++;
        if (
            log.hash != pending.hash || log.signer != pending.signer || log.participant != pending.signerId
                || log.nonce != pending.nonce
        ) {
            _violate(Violation.WrongEventLog, string.concat(_actionName(action), ": EventAccepted fields differ"));
        }
        if (expected.length != 0) {
            _violate(
                Violation.AcceptedInvalid,
                string.concat(_actionName(action), " accepted; the model expected ", _reasonName(_selectorOf(expected)))
            );
        }
        if (pending.nonceUsedBefore) {
            _violate(
                Violation.NonceReused,
                string.concat(
                    _actionName(action),
                    " accepted with nonce ",
                    Strings.toString(pending.nonce),
                    " already used by ",
                    Strings.toHexString(pending.signer)
                )
            );
        }
        if (!_authorizedNow(signed.ev, pending.signer)) {
            _violate(
                Violation.Unauthorized,
                string.concat(
                    _actionName(action), " accepted from ", Strings.toHexString(pending.signer), " lacking the role"
                )
            );
        }
        _acceptedSigned.push(abi.encode(signed));
        _acceptedSigners.push(pending.signer);
    }

    function _onRejected(uint256 i, bytes memory reason) internal {
        bytes4 selector = _selectorOf(reason);
        if (rejectedByReason[selector]++ == 0) _reasonsSeen.push(selector);
        Pending storage pending = _pending[i];
        bytes memory expected = pending.expected;
        if (expected.length == 0) {
            _violate(
                Violation.RejectedValid,
                string.concat(_actionName(pending.action), " rejected with ", _reasonName(selector), "; model accepts")
            );
        } else if (keccak256(reason) != keccak256(expected)) {
            _violate(
                Violation.WrongReason,
                string.concat(
                    _actionName(pending.action),
                    " rejected with ",
                    Strings.toHexString(reason),
                    " (",
                    _reasonName(selector),
                    "); the model expected ",
                    Strings.toHexString(expected),
                    " (",
                    _reasonName(_selectorOf(expected)),
                    ")"
                )
            );
        }
    }

    /// @dev Whether, now, the signer of an accepted event held a role the action needs: in the
    /// model, and in the registry's history ({IParticipantRegistry-wasAuthorized} at this block).
    /// RECALL needs the batch's producer or a REGULATOR.
    function _authorizedNow(IBatchRegistry.TraceEvent memory ev, address signer) internal view returns (bool) {
        uint8 needed = _neededRoles(ev.action);
        uint32 id = _keyOwner[signer];
        Party storage party = _parties[id];
        bool inModel = needed != 0 && id != 0 && party.key == signer && party.active && party.roles & needed != 0;
        uint48 blockNumber = uint48(block.number);
        bool onChain;
        if (ev.action == RECALL) {
            bool isProducer = id != 0 && _lots[ev.batchId].producer == id;
            inModel = inModel && (isProducer || party.roles & Roles.REGULATOR != 0);
            onChain = _participants.wasAuthorized(signer, Roles.REGULATOR, blockNumber)
                || (isProducer && _participants.wasAuthorized(signer, 0, blockNumber));
        } else {
            for (uint8 role = 1; role <= 32 && !onChain; role <<= 1) {
                if (needed & role != 0) onChain = _participants.wasAuthorized(signer, role, blockNumber);
            }
        }
        return inModel && onChain;
    }

    /// @dev Records, from the registry, the custodian of a touched batch the first time it shows
    /// a terminal status.
    function _observeTerminal(IBatchRegistry.TraceEvent memory ev) internal {
        _freezeIfTerminal(ev.batchId);
        for (uint256 i; i < ev.inputs.length; ++i) {
            _freezeIfTerminal(ev.inputs[i]);
        }
        for (uint256 i; i < ev.outputs.length; ++i) {
            _freezeIfTerminal(ev.outputs[i]);
        }
    }

    function _freezeIfTerminal(bytes32 batchId) internal {
        if (batchId == bytes32(0) || _isFrozen[batchId]) return;
        IBatchRegistry.Batch memory stored = _batches.batch(batchId);
        if (
            stored.status == IBatchRegistry.Status.CONSUMED || stored.status == IBatchRegistry.Status.RECALLED
                || stored.status == IBatchRegistry.Status.DESTROYED
        ) {
            _isFrozen[batchId] = true;
            _frozenCustodian[batchId] = stored.custodian;
            _frozenIds.push(batchId);
        }
    }

    /// @dev Commits a window that the anchor registry must refuse, with no events in the call.
    function _commitExpectingRevert(bytes32 root, uint64 firstSeq, uint32 eventCount, bytes memory expected) internal {
        IBatchRegistry.SignedEvent[] memory none = new IBatchRegistry.SignedEvent[](0);
        vm.prank(_node);
        try _batches.commit(none, root, firstSeq, eventCount) {
            _violate(Violation.AnchorOutcome, "an invalid window was anchored");
        } catch (bytes memory err) {
            bytes4 selector = _selectorOf(err);
            if (anchorRejectedByReason[selector]++ == 0) _anchorReasonsSeen.push(selector);
            if (keccak256(err) != keccak256(expected)) {
                _violate(
                    Violation.AnchorOutcome,
                    string.concat(
                        "commit reverted with ", _reasonName(selector), " not ", _reasonName(_selectorOf(expected))
                    )
                );
            }
        }
    }

    function _clearPending() internal {
        delete _pending;
        delete _pendingSigned;
    }

    function _expectedAcceptances() internal view returns (uint256 count) {
        for (uint256 i; i < _pending.length; ++i) {
            if (_pending[i].expected.length == 0) count++;
        }
    }

    function _violate(Violation kind, string memory message) internal {
        uint256 k = uint256(kind);
        if (violations[k]++ == 0) _firstViolation[k] = message;
    }

    // =====================================================================
    // Picking actors and batches
    // =====================================================================

    function _anyParty(uint256 seed) internal view returns (uint32) {
        // casting to 'uint32' is safe because the value is below partyCount, a uint32.
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(seed % partyCount) + 1;
    }

    /// @dev A participant other than `not` (any when `not` is zero).
    function _otherParty(uint32 not, uint256 seed) internal view returns (uint32) {
        if (not == 0 || not > partyCount) return _anyParty(seed);
        // casting to 'uint32' is safe because the value is below partyCount, a uint32.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 id = uint32(seed % (partyCount - 1)) + 1;
        return id >= not ? id + 1 : id;
    }

    /// @dev From a seeded start, the first participant other than `not` that holds (`has`) or
    /// lacks (`!has`) a role of `mask`; zero when none.
    function _partyWith(uint8 mask, bool has, uint32 not, uint256 seed) internal view returns (uint32) {
        uint256 start = seed % partyCount;
        for (uint256 k; k < partyCount; ++k) {
            uint32 id = uint32((start + k) % partyCount) + 1;
            if (id != not && (_parties[id].roles & mask != 0) == has) return id;
        }
        return 0;
    }

    function _firstSuspended(uint256 seed) internal view returns (uint32) {
        uint256 start = seed % partyCount;
        for (uint256 k; k < partyCount; ++k) {
            uint32 id = uint32((start + k) % partyCount) + 1;
            if (!_parties[id].active) return id;
        }
        return 0;
    }

    /// @dev Mostly the participant's current key; 1 in 16 a key it was rotated away from.
    function _pkOf(uint32 id, uint256 seed) internal view returns (uint256) {
        if (id == 0) return STRANGER_PK;
        uint256[] storage retired = _retiredPks[id];
        if (retired.length != 0 && seed % 16 == 15) return retired[(seed >> 8) % retired.length];
        return _parties[id].pk;
    }

    /// @dev A receiver that may hold custody, half the time a processor.
    function _receiverFor(uint32 custodian, uint256 seed) internal view returns (address) {
        uint32 id;
        if (seed % 2 == 0) id = _partyWith(Roles.PROCESSOR, true, custodian, seed >> 8);
        if (id == 0) id = _partyWith(Roles.CUSTODY, true, custodian, seed >> 8);
        return _parties[id].key;
    }

    /// @dev A receiver the registry must refuse: a key without a custody role, the custodian's
    /// own key, a rotated-out key or a key nobody registered.
    function _invalidReceiver(uint32 custodian, uint256 seed) internal view returns (address) {
        uint256 m = seed % 4;
        if (m == 0) {
            uint32 id = _partyWith(Roles.CUSTODY, false, 0, seed >> 8);
            if (id != 0) return _parties[id].key;
        } else if (m == 1 && custodian != 0) {
            return _parties[custodian].key;
        } else if (m == 2 && _retiredKeys.length != 0) {
            return _retiredKeys[(seed >> 8) % _retiredKeys.length];
        }
        return vm.addr(STRANGER_PK);
    }

    /// @dev From a seeded start, the first batch whose status is in `statusMask` and whose
    /// custodian is not `notHeldBy` (when set); else the batch at the start; else an unknown id.
    function _pickLot(uint256 seed, uint256 statusMask, uint32 notHeldBy) internal view returns (bytes32) {
        uint256 n = _lotIds.length;
        if (n == 0) return _unknownLot(seed);
        uint256 start = seed % n;
        for (uint256 k; k < n; ++k) {
            bytes32 batchId = _lotIds[(start + k) % n];
            Lot storage lot = _lots[batchId];
            if (statusMask & _bit(lot.status) != 0 && (notHeldBy == 0 || lot.custodian != notHeldBy)) return batchId;
        }
        return _lotIds[start];
    }

    /// @dev Fills `into` with up to `want` active batches held by `id`; returns how many.
    function _heldActiveLots(uint32 id, uint256 seed, uint256 want, bytes32[] memory into)
        internal
        view
        returns (uint256 count)
    {
        uint256 n = _lotIds.length;
        if (n == 0) return 0;
        uint256 start = seed % n;
        for (uint256 k; k < n && count < want; ++k) {
            bytes32 batchId = _lotIds[(start + k) % n];
            Lot storage lot = _lots[batchId];
            if (lot.custodian == id && lot.status == IBatchRegistry.Status.ACTIVE) into[count++] = batchId;
        }
    }

    function _indexOf(bytes32[] memory list, uint256 end, bytes32 value) internal pure returns (uint256) {
        for (uint256 j; j < end; ++j) {
            if (list[j] == value) return j;
        }
        return type(uint256).max;
    }

    /// @dev The first four bytes of `data` (zero when shorter): the selector of an encoded error.
    function _selectorOf(bytes memory data) internal pure returns (bytes4 selector) {
        if (data.length < 4) return bytes4(0);
        assembly ("memory-safe") {
            selector := and(mload(add(data, 32)), shl(224, 0xffffffff))
        }
    }

    function _bit(IBatchRegistry.Status status) internal pure returns (uint256) {
        // forge-lint: disable-next-line(incorrect-shift)
        return 1 << uint8(status);
    }

    function _one(bytes32 value) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](1);
        list[0] = value;
    }

    /// @dev A new lot named by an identifier of no prefix kind (the test node's policy allows them).
    function _newLotId() internal returns (bytes32 batchId) {
        bytes memory identifier = abi.encode("tracenode.invariant.lot", ++_lotCounter);
        batchId = keccak256(identifier);
        _preimages[batchId] = identifier;
    }

    /// @dev The identifier proofs of the batches `ev` creates.
    function _proofs(IBatchRegistry.TraceEvent memory ev)
        internal
        view
        returns (IBatchRegistry.IdentifierProof[] memory proofs)
    {
        if (ev.action == uint8(IBatchRegistry.Action.COMMISSION)) {
            proofs = new IBatchRegistry.IdentifierProof[](1);
            proofs[0].identifier = _preimages[ev.batchId];
        } else if (
            ev.action == uint8(IBatchRegistry.Action.RECEIVE) && ev.prevEventHash == bytes32(0)
                && _preimages[ev.batchId].length != 0
        ) {
            // An adoption names its batch's identifier, like a COMMISSION.
            proofs = new IBatchRegistry.IdentifierProof[](1);
            proofs[0].identifier = _preimages[ev.batchId];
        } else if (ev.action == uint8(IBatchRegistry.Action.TRANSFORM)) {
            proofs = new IBatchRegistry.IdentifierProof[](ev.outputs.length);
            for (uint256 i; i < ev.outputs.length; ++i) {
                proofs[i].identifier = _preimages[ev.outputs[i]];
            }
        }
    }

    function _unknownLot(uint256 seed) internal pure returns (bytes32) {
        return keccak256(abi.encode("tracenode.invariant.unknown", seed));
    }

    function _newRoot() internal returns (bytes32) {
        return keccak256(abi.encode("tracenode.invariant.root", ++_rootCounter));
    }

    // =====================================================================
    // Names for messages and the summary
    // =====================================================================

    function _actionName(uint8 action) internal pure returns (string memory) {
        if (action == COMMISSION) return "COMMISSION";
        if (action == SHIP) return "SHIP";
        if (action == RECEIVE) return "RECEIVE";
        if (action == TRANSFORM) return "TRANSFORM";
        if (action == RECALL) return "RECALL";
        if (action == DESTROY) return "DESTROY";
        return Strings.toString(action);
    }

    function _reasonName(bytes4 selector) internal pure returns (string memory) {
        if (selector == IBatchRegistry.BatchRegistryUnsupportedAction.selector) return "UnsupportedAction";
        if (selector == IBatchRegistry.BatchRegistryInvalidSignature.selector) return "InvalidSignature";
        if (selector == IBatchRegistry.BatchRegistryUnknownSigner.selector) return "UnknownSigner";
        if (selector == IBatchRegistry.BatchRegistrySignerSuspended.selector) return "SignerSuspended";
        if (selector == IBatchRegistry.BatchRegistryMissingRole.selector) return "MissingRole";
        if (selector == IBatchRegistry.BatchRegistryNonceUsed.selector) return "NonceUsed";
        if (selector == IBatchRegistry.BatchRegistryMalformedEvent.selector) return "MalformedEvent";
        if (selector == IBatchRegistry.BatchRegistryBatchExists.selector) return "BatchExists";
        if (selector == IBatchRegistry.BatchRegistryUnknownBatch.selector) return "UnknownBatch";
        if (selector == IBatchRegistry.BatchRegistryHeadMismatch.selector) return "HeadMismatch";
        if (selector == IBatchRegistry.BatchRegistryBatchRecalled.selector) return "BatchRecalled";
        if (selector == IBatchRegistry.BatchRegistryInvalidStatus.selector) return "InvalidStatus";
        if (selector == IBatchRegistry.BatchRegistryNotCustodian.selector) return "NotCustodian";
        if (selector == IBatchRegistry.BatchRegistryInvalidReceiver.selector) return "InvalidReceiver";
        if (selector == IBatchRegistry.BatchRegistryNotReceiver.selector) return "NotReceiver";
        if (selector == IBatchRegistry.BatchRegistryNotRecaller.selector) return "NotRecaller";
        if (selector == IBatchRegistry.BatchRegistryTooManyEvents.selector) return "TooManyEvents";
        if (selector == IBatchRegistry.BatchRegistryBatchInNetwork.selector) return "BatchInNetwork";
        if (selector == IAnchorRegistry.AnchorRegistryZeroRoot.selector) return "ZeroRoot";
        if (selector == IAnchorRegistry.AnchorRegistryRootExists.selector) return "RootExists";
        if (selector == IAnchorRegistry.AnchorRegistryEmptyWindow.selector) return "EmptyWindow";
        if (selector == IAnchorRegistry.AnchorRegistryNonContiguous.selector) return "NonContiguous";
        if (selector == IAnchorRegistry.AnchorRegistrySequenceOverflow.selector) return "SequenceOverflow";
        if (selector == IAnchorRegistry.AnchorRegistryNotNode.selector) return "NotNode";
        return Strings.toHexString(uint256(uint32(selector)), 4);
    }
}
