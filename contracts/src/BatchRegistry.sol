// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IAnchorRegistry} from "./interfaces/IAnchorRegistry.sol";
import {IBatchRegistry} from "./interfaces/IBatchRegistry.sol";
import {IParticipantRegistry} from "./interfaces/IParticipantRegistry.sol";
import {CustodyRules} from "./libraries/CustodyRules.sol";
import {Identifiers} from "./libraries/Identifiers.sol";

/// @title BatchRegistry
/// @notice Executes participants' signed lifecycle events and enforces custody: only the
/// custodian ships, only the named receiver receives, recalled or consumed lots never move,
/// only the producer or a regulator recalls, no signer's nonce is accepted twice, and a batch is
/// created only under an identifier prefix its producer is licensed.
/// @dev Validation and execution are one pass per event: every rule is checked before any
/// state is written, and a failed rule is returned as the ABI-encoded custom error, which
/// {submit} reverts with and {relay} emits in {EventRejected}. The per-batch rules are
/// {CustodyRules}, which CustodyChallenge re-executes for the anchor-only mode.
contract BatchRegistry is IBatchRegistry, AccessControl, EIP712 {
    /// @notice May relay events in bulk and commit them with an anchor.
    bytes32 public constant NODE_ROLE = keccak256("NODE_ROLE");

    /// @notice The EIP-712 type of {TraceEvent}; the node and every signer use the same string.
    bytes32 public constant TRACE_EVENT_TYPEHASH = keccak256(
        "TraceEvent(uint8 action,bytes32 batchId,bytes32 prevEventHash,bytes32[] inputs,bytes32[] inputPrevHashes,"
        "bytes32[] outputs,address counterparty,bytes32 product,uint256 quantity,uint64 eventTime,bytes32 location,"
        "bytes32 payloadHash,uint256 nonce)"
    );

    /// @notice The most events one {relay} or {commit} call takes.
    uint256 public constant MAX_EVENTS_PER_CALL = 1000;
    /// @notice The most inputs plus outputs of one TRANSFORM.
    uint256 public constant MAX_TRANSFORM_BATCHES = CustodyRules.MAX_TRANSFORM_BATCHES;
    /// @dev The most slots of one {relay} or {commit} call's {SignerCache}: it remembers the
    /// answers of up to half as many signers.
    uint256 private constant _SIGNER_CACHE_SLOTS = 512;

    IParticipantRegistry private immutable _participants;
    IAnchorRegistry private immutable _anchors;

    mapping(bytes32 batchId => Batch) private _batches;
    /// @dev Nonces as bitmaps: word `nonce >> 8`, bit `nonce & 0xff`, so nonces need not be used in order.
    mapping(address signer => mapping(uint256 word => uint256 bits)) private _nonces;

    /// @dev ParticipantRegistry's answers for the signers one call has met. Nothing this
    /// contract calls can change the registry, so an answer holds until the call ends, and
    /// a relayed window asks once per signer instead of once per event (an external call
    /// is ~330 opcodes of the ~2,600 a relayed COMMISSION costs). An open-addressing table:
    /// a signer sits at its address's low bits, or the first empty slot after (linear
    /// probing); `keys.length` is a power of two and at most half the slots are filled, so
    /// a lookup ends at the signer or at an empty slot after a probe or two. An empty
    /// table (length 0) caches nothing.
    struct SignerCache {
        address[] keys; // zero: an empty slot
        uint256[] answers; // id | roles << 32 | active << 40
        uint256 size;
    }

    /// @param admin receives DEFAULT_ADMIN_ROLE and grants NODE_ROLE.
    /// @param participants the registry that says who may sign.
    /// @param anchors the registry that {commit} anchors roots in; it must grant this contract COMMITTER_ROLE.
    constructor(address admin, IParticipantRegistry participants, IAnchorRegistry anchors) EIP712("TraceNode", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _participants = participants;
        _anchors = anchors;
    }

    /// @inheritdoc IBatchRegistry
    function submit(SignedEvent calldata signed) external returns (bytes32 eventHash) {
        bytes memory reason;
        SignerCache memory none = SignerCache(new address[](0), new uint256[](0), 0);
        (eventHash, reason) = _execute(signed, none);
        if (reason.length != 0) {
            assembly ("memory-safe") {
                revert(add(reason, 32), mload(reason))
            }
        }
    }

    /// @inheritdoc IBatchRegistry
    function relay(SignedEvent[] calldata events) external onlyRole(NODE_ROLE) returns (uint256 accepted) {
        return _relay(events);
    }

    /// @inheritdoc IBatchRegistry
    function commit(SignedEvent[] calldata events, bytes32 root, uint64 firstSeq, uint32 eventCount)
        external
        onlyRole(NODE_ROLE)
        returns (uint256 accepted)
    {
        accepted = _relay(events);
        _anchors.anchorFor(msg.sender, root, firstSeq, eventCount);
    }

    /// @inheritdoc IBatchRegistry
    function hashEvent(TraceEvent calldata ev) external view returns (bytes32) {
        return _hashTypedDataV4(_structHash(ev));
    }

    /// @inheritdoc IBatchRegistry
    function batch(bytes32 batchId) external view returns (Batch memory) {
        return _batches[batchId];
    }

    /// @inheritdoc IBatchRegistry
    function isNonceUsed(address signer, uint256 nonce) public view returns (bool) {
        // forge-lint: disable-next-line(incorrect-shift)
        return _nonces[signer][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @notice The registries this contract reads and writes.
    function registries() external view returns (IParticipantRegistry participants, IAnchorRegistry anchors) {
        return (_participants, _anchors);
    }

    function _relay(SignedEvent[] calldata events) private returns (uint256 accepted) {
        uint256 count = events.length;
        if (count > MAX_EVENTS_PER_CALL) revert BatchRegistryTooManyEvents(count);
        uint256 slots = 2;
        while (slots < 2 * count && slots < _SIGNER_CACHE_SLOTS) {
            slots <<= 1;
        }
        SignerCache memory cache = SignerCache(new address[](slots), new uint256[](slots), 0);
        for (uint256 i; i < count; ++i) {
            (bytes32 eventHash, bytes memory reason) = _execute(events[i], cache);
            if (reason.length == 0) {
                // Cannot overflow: at most MAX_EVENTS_PER_CALL events.
                unchecked {
                    ++accepted;
                }
            } else {
                emit EventRejected(i, eventHash, reason);
            }
        }
    }

    /// @dev Checks and, when every rule holds, applies one event. Returns the encoded error otherwise.
    function _execute(SignedEvent calldata signed, SignerCache memory cache)
        private
        returns (bytes32 eventHash, bytes memory reason)
    {
        TraceEvent calldata ev = signed.ev;
        eventHash = _hashTypedDataV4(_structHash(ev));
        uint8 action = ev.action;
        uint256 nonce = ev.nonce;
        CustodyRules.Actor memory actor;
        (actor, reason) = _authenticate(signed, action, nonce, eventHash, cache);
        if (reason.length != 0) return (eventHash, reason);

        IdentifierProof[] calldata proofs = signed.identifiers;
        if (action == uint8(Action.COMMISSION)) {
            reason = _commission(ev, proofs, eventHash, actor);
        } else if (action == uint8(Action.TRANSFORM)) {
            reason = _transform(ev, proofs, eventHash, actor);
        } else if (action == uint8(Action.RECEIVE) && CustodyRules.adopts(ev, _batches[ev.batchId].status)) {
            reason = _adopt(ev, proofs, eventHash, actor);
        } else if (proofs.length != 0) {
            reason = CustodyRules.malformed(eventHash);
        } else if (action == uint8(Action.SHIP)) {
            reason = _ship(ev, eventHash, actor);
        } else if (action == uint8(Action.RECEIVE)) {
            reason = _receive(ev, eventHash, actor);
        } else if (action == uint8(Action.RECALL)) {
            reason = _recall(ev, eventHash, actor);
        } else {
            reason = _destroy(ev, eventHash, actor);
        }
        if (reason.length != 0) return (eventHash, reason);

        // forge-lint: disable-next-line(incorrect-shift)
        _nonces[actor.key][nonce >> 8] |= 1 << (nonce & 0xff);
        emit EventAccepted(eventHash, actor.key, actor.id, nonce);
    }

    /// @dev Action known, signature valid, signer a current key of an active participant holding
    /// a role the action needs, nonce unused (`action` and `nonce`: the event's, read once).
    function _authenticate(
        SignedEvent calldata signed,
        uint8 action,
        uint256 nonce,
        bytes32 eventHash,
        SignerCache memory cache
    ) private view returns (CustodyRules.Actor memory actor, bytes memory reason) {
        uint8 needed = CustodyRules.rolesFor(action);
        if (needed == 0) return (actor, abi.encodeWithSelector(BatchRegistryUnsupportedAction.selector, action));
        // The error argument only details `error`, which is all we branch on.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(eventHash, signed.v, signed.r, signed.s);
        if (error != ECDSA.RecoverError.NoError) {
            return (actor, abi.encodeWithSelector(BatchRegistryInvalidSignature.selector, eventHash));
        }
        (uint32 id, uint8 roles, bool active) = _authorize(signer, cache);
        if (id == 0) return (actor, abi.encodeWithSelector(BatchRegistryUnknownSigner.selector, signer));
        if (!active) return (actor, abi.encodeWithSelector(BatchRegistrySignerSuspended.selector, signer));
        if (roles & needed == 0) {
            return (actor, abi.encodeWithSelector(BatchRegistryMissingRole.selector, signer, action));
        }
        if (isNonceUsed(signer, nonce)) {
            return (actor, abi.encodeWithSelector(BatchRegistryNonceUsed.selector, signer, nonce));
        }
        actor = CustodyRules.Actor({key: signer, id: id, roles: roles});
    }

    /// @dev ParticipantRegistry's `authorize(signer)`, asked once per signer per call (see {SignerCache}).
    function _authorize(address signer, SignerCache memory cache)
        private
        view
        returns (uint32 id, uint8 roles, bool active)
    {
        address[] memory keys = cache.keys;
        uint256 slots = keys.length;
        if (slots == 0) return _participants.authorize(signer);
        uint256 mask = slots - 1;
        uint256 slot = uint256(uint160(signer)) & mask;
        // Ends: fewer than half the slots are filled, so an empty one comes.
        while (true) {
            address key = keys[slot];
            if (key == signer) {
                uint256 answer = cache.answers[slot];
                // casting to 'uint32' and 'uint8' is safe: the fields were packed from those types below.
                // forge-lint: disable-next-line(unsafe-typecast)
                return (uint32(answer), uint8(answer >> 32), (answer >> 40) & 1 == 1);
            }
            if (key == address(0)) break;
            slot = (slot + 1) & mask;
        }
        (id, roles, active) = _participants.authorize(signer);
        uint256 size = cache.size;
        if (2 * (size + 1) < slots) {
            keys[slot] = signer;
            cache.answers[slot] = uint256(id) | (uint256(roles) << 32) | (active ? 1 << 40 : 0);
            cache.size = size + 1;
        }
    }

    function _commission(
        TraceEvent calldata ev,
        IdentifierProof[] calldata proofs,
        bytes32 eventHash,
        CustodyRules.Actor memory actor
    ) private returns (bytes memory reason) {
        bytes32 batchId = ev.batchId;
        reason = CustodyRules.checkCommission(ev, eventHash, proofs.length, _batches[batchId].status);
        if (reason.length != 0) return reason;
        bool open;
        (reason, open) = _checkIdentifier(batchId, proofs[0], actor.id);
        if (reason.length != 0) return reason;

        _batches[batchId] =
            Batch({producer: actor.id, custodian: actor.id, receiver: 0, status: Status.ACTIVE, head: eventHash});
        if (open) emit BatchIdentifierOpen(batchId);
        emit BatchCommissioned(batchId, eventHash, ev.product, ev.quantity);
        return "";
    }

    /// @dev That the signer's participant `holder` may create batch `batchId` under `proof`'s
    /// identifier: the identifier hashes to the batch id, its split obeys its kind's rule, and
    /// `holder` holds a licence of its prefix valid at this block, or, for an identifier of no
    /// prefix kind, its node allows those (`open`).
    function _checkIdentifier(bytes32 batchId, IdentifierProof calldata proof, uint32 holder)
        private
        view
        returns (bytes memory reason, bool open)
    {
        bytes calldata identifier = proof.identifier;
        uint256 prefixLength = proof.prefixLength;
        (uint8 kind, uint256 start, bool valid) = Identifiers.split(identifier, prefixLength);
        if (!valid || keccak256(identifier) != batchId) {
            return (abi.encodeWithSelector(BatchRegistryInvalidIdentifierProof.selector, batchId), false);
        }
        if (kind == Identifiers.OTHER) {
            if (_participants.openIdentifiers(holder)) return ("", true);
            return (abi.encodeWithSelector(BatchRegistryOpenIdentifierRefused.selector, batchId), false);
        }
        IParticipantRegistry.Licence memory licence =
            _participants.currentLicence(Identifiers.key(kind, identifier[start:start + prefixLength]));
        if (licence.holder != holder) {
            return (abi.encodeWithSelector(BatchRegistryUnlicensedIdentifier.selector, batchId, holder), false);
        }
        uint48 blockNumber = uint48(block.number);
        if (blockNumber < licence.validFrom || (licence.validUntil != 0 && blockNumber >= licence.validUntil)) {
            return (
                abi.encodeWithSelector(
                    BatchRegistryLicenceNotValid.selector, batchId, licence.validFrom, licence.validUntil
                ),
                false
            );
        }
        return ("", false);
    }

    function _ship(TraceEvent calldata ev, bytes32 eventHash, CustodyRules.Actor memory actor)
        private
        returns (bytes memory)
    {
        bytes32 batchId = ev.batchId;
        Batch storage stored = _batches[batchId];
        uint32 custodian = stored.custodian;
        bytes memory reason = CustodyRules.checkShip(ev, eventHash, stored.status, stored.head, custodian, actor);
        if (reason.length != 0) return reason;
        if (ev.counterparty == address(0)) {
            // Custody leaves the network: the last custodian stays named, nobody receives.
            stored.status = Status.EXPORTED;
            stored.head = eventHash;
            emit BatchExported(batchId, eventHash, custodian);
            return "";
        }
        address receiverKey = ev.counterparty;
        (uint32 receiver, uint8 receiverRoles, bool receiverActive) = _participants.authorize(receiverKey);
        if (!CustodyRules.isValidReceiver(receiver, receiverRoles, receiverActive, custodian)) {
            return abi.encodeWithSelector(BatchRegistryInvalidReceiver.selector, receiverKey);
        }

        stored.receiver = receiver;
        stored.status = Status.IN_TRANSIT;
        stored.head = eventHash;
        emit BatchShipped(batchId, eventHash, custodian, receiver);
        return "";
    }

    function _receive(TraceEvent calldata ev, bytes32 eventHash, CustodyRules.Actor memory actor)
        private
        returns (bytes memory)
    {
        bytes32 batchId = ev.batchId;
        Batch storage stored = _batches[batchId];
        bytes memory reason =
            CustodyRules.checkReceive(ev, eventHash, stored.status, stored.head, stored.receiver, actor);
        if (reason.length != 0) return reason;

        stored.custodian = actor.id;
        stored.receiver = 0;
        stored.status = Status.ACTIVE;
        stored.head = eventHash;
        emit BatchReceived(batchId, eventHash, actor.id);
        return "";
    }

    /// @dev A RECEIVE of a batch from outside the network. A batch never seen is named by its
    /// identifier (one proof), which nobody else may hold a licence for: a brand owner in the
    /// network creates its own lots, so nobody can adopt one first and block its COMMISSION.
    /// Its producer is unknown (0). A batch exported earlier comes back (no proof), extending
    /// its export's head, unless it was recalled meanwhile (then it is not EXPORTED). A batch
    /// the network holds is never adopted: it has one custodian.
    function _adopt(
        TraceEvent calldata ev,
        IdentifierProof[] calldata proofs,
        bytes32 eventHash,
        CustodyRules.Actor memory actor
    ) private returns (bytes memory reason) {
        bytes32 batchId = ev.batchId;
        Batch storage stored = _batches[batchId];
        Status status = stored.status;
        reason = CustodyRules.checkAdopt(ev, eventHash, status, stored.head, proofs.length);
        if (reason.length != 0) return reason;
        if (status != Status.EXPORTED) {
            reason = _checkAdoptable(batchId, proofs[0], actor.id);
            if (reason.length != 0) return reason;
            stored.producer = 0;
        }
        stored.custodian = actor.id;
        stored.receiver = 0;
        stored.status = Status.ACTIVE;
        stored.head = eventHash;
        emit BatchAdopted(batchId, eventHash, actor.id, status == Status.EXPORTED);
        return "";
    }

    /// @dev That `adopter` may bring batch `batchId`, never seen here, into the network under
    /// `proof`'s identifier: the proof is valid and no participant but `adopter` holds a
    /// licence of any prefix of the identifier, whichever split the proof names (it is not
    /// signed: anyone may relay it) (identifiers of no prefix kind: under the node's open
    /// policy). Who holds it: {IParticipantRegistry-identifierHolders}, as CustodyChallenge judges.
    function _checkAdoptable(bytes32 batchId, IdentifierProof calldata proof, uint32 adopter)
        private
        view
        returns (bytes memory)
    {
        bytes calldata identifier = proof.identifier;
        // Only that the proof's split obeys its kind's rule: the holders come from every split.
        // slither-disable-next-line unused-return
        (uint8 kind,, bool valid) = Identifiers.split(identifier, proof.prefixLength);
        if (!valid || keccak256(identifier) != batchId) {
            return abi.encodeWithSelector(BatchRegistryInvalidIdentifierProof.selector, batchId);
        }
        if (kind == Identifiers.OTHER) {
            if (_participants.openIdentifiers(adopter)) return "";
            return abi.encodeWithSelector(BatchRegistryOpenIdentifierRefused.selector, batchId);
        }
        uint32 holder = _participants.identifierHolders(identifier, uint48(block.number)).held;
        if (holder != 0 && holder != adopter) {
            return abi.encodeWithSelector(BatchRegistryLicensedElsewhere.selector, batchId, holder);
        }
        return "";
    }

    function _transform(
        TraceEvent calldata ev,
        IdentifierProof[] calldata proofs,
        bytes32 eventHash,
        CustodyRules.Actor memory actor
    ) private returns (bytes memory reason) {
        reason = _checkTransform(ev, eventHash, actor);
        if (reason.length != 0) return reason;
        if (proofs.length != ev.outputs.length) return CustodyRules.malformed(eventHash);
        uint256 openOutputs;
        (reason, openOutputs) = _checkOutputs(ev.outputs, proofs, actor.id);
        if (reason.length != 0) return reason;
        _applyTransform(ev, eventHash, actor.id, openOutputs);
        return "";
    }

    /// @dev Consumes a checked TRANSFORM's inputs and creates its outputs, produced by `producer`.
    function _applyTransform(TraceEvent calldata ev, bytes32 eventHash, uint32 producer, uint256 openOutputs) private {
        bytes32[] calldata inputs = ev.inputs;
        bytes32[] calldata outputs = ev.outputs;
        for (uint256 i; i < inputs.length; ++i) {
            Batch storage consumed = _batches[inputs[i]];
            consumed.status = Status.CONSUMED;
            consumed.head = eventHash;
        }
        for (uint256 i; i < outputs.length; ++i) {
            _batches[outputs[i]] =
                Batch({producer: producer, custodian: producer, receiver: 0, status: Status.ACTIVE, head: eventHash});
            if (openOutputs & (1 << i) != 0) emit BatchIdentifierOpen(outputs[i]);
        }
        emit BatchTransformed(eventHash, inputs, outputs, ev.product, ev.quantity);
    }

    /// @dev {_checkIdentifier} for each output; bit i of `openOutputs`: output i is created under
    /// its node's open-identifier policy.
    function _checkOutputs(bytes32[] calldata outputs, IdentifierProof[] calldata proofs, uint32 holder)
        private
        view
        returns (bytes memory reason, uint256 openOutputs)
    {
        for (uint256 i; i < outputs.length; ++i) {
            bool open;
            (reason, open) = _checkIdentifier(outputs[i], proofs[i], holder);
            if (reason.length != 0) return (reason, 0);
            if (open) openOutputs |= 1 << i;
        }
    }

    /// @dev Inputs distinct, each at its named head, active and held by the signer; outputs
    /// distinct, non-zero and new.
    function _checkTransform(TraceEvent calldata ev, bytes32 eventHash, CustodyRules.Actor memory actor)
        private
        view
        returns (bytes memory reason)
    {
        reason = CustodyRules.checkTransformFields(ev, eventHash);
        if (reason.length != 0) return reason;
        bytes32[] calldata inputs = ev.inputs;
        for (uint256 i; i < inputs.length; ++i) {
            Batch storage stored = _batches[inputs[i]];
            reason = CustodyRules.checkInput(ev, eventHash, i, stored.status, stored.head, stored.custodian, actor);
            if (reason.length != 0) return reason;
        }
        bytes32[] calldata outputs = ev.outputs;
        for (uint256 i; i < outputs.length; ++i) {
            reason = CustodyRules.checkOutput(ev, eventHash, i, _batches[outputs[i]].status);
            if (reason.length != 0) return reason;
        }
        return "";
    }

    function _recall(TraceEvent calldata ev, bytes32 eventHash, CustodyRules.Actor memory actor)
        private
        returns (bytes memory)
    {
        bytes32 batchId = ev.batchId;
        Batch storage stored = _batches[batchId];
        bytes memory reason =
            CustodyRules.checkRecall(ev, eventHash, stored.status, stored.head, stored.producer, actor);
        if (reason.length != 0) return reason;

        stored.status = Status.RECALLED;
        stored.receiver = 0;
        stored.head = eventHash;
        emit BatchRecalled(batchId, eventHash);
        return "";
    }

    function _destroy(TraceEvent calldata ev, bytes32 eventHash, CustodyRules.Actor memory actor)
        private
        returns (bytes memory)
    {
        bytes32 batchId = ev.batchId;
        Batch storage stored = _batches[batchId];
        bytes memory reason =
            CustodyRules.checkDestroy(ev, eventHash, stored.status, stored.head, stored.custodian, actor);
        if (reason.length != 0) return reason;

        stored.status = Status.DESTROYED;
        stored.head = eventHash;
        emit BatchDestroyed(batchId, eventHash);
        return "";
    }

    /// @dev EIP-712's hashStruct of `ev`: keccak256 of the type hash and the 13 fields' words, the
    /// three lists each as the keccak256 of its packed words. The words are written in place
    /// (abi.encode of 14 values is too deep for the stack, and two concatenated cost ~300
    /// opcodes more an event). The narrow fields (action, counterparty, eventTime) are read,
    /// and so validated, as Solidity reads them; the others are whole words at their head
    /// offsets in calldata. tests: hashEvent against the node's digest (test_contracts.py).
    function _structHash(TraceEvent calldata ev) private pure returns (bytes32 hash) {
        bytes32 inputs = _hashWords(ev.inputs);
        bytes32 inputPrevHashes = _hashWords(ev.inputPrevHashes);
        bytes32 outputs = _hashWords(ev.outputs);
        uint256 action = ev.action;
        address counterparty = ev.counterparty;
        uint256 eventTime = ev.eventTime;
        bytes32 typeHash = TRACE_EVENT_TYPEHASH;
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, typeHash)
            mstore(add(p, 0x20), action)
            mstore(add(p, 0x40), calldataload(add(ev, 0x20))) // batchId
            mstore(add(p, 0x60), calldataload(add(ev, 0x40))) // prevEventHash
            mstore(add(p, 0x80), inputs)
            mstore(add(p, 0xa0), inputPrevHashes)
            mstore(add(p, 0xc0), outputs)
            mstore(add(p, 0xe0), counterparty)
            mstore(add(p, 0x100), calldataload(add(ev, 0xe0))) // product
            mstore(add(p, 0x120), calldataload(add(ev, 0x100))) // quantity
            mstore(add(p, 0x140), eventTime)
            mstore(add(p, 0x160), calldataload(add(ev, 0x140))) // location
            mstore(add(p, 0x180), calldataload(add(ev, 0x160))) // payloadHash
            mstore(add(p, 0x1a0), calldataload(add(ev, 0x180))) // nonce
            hash := keccak256(p, 0x1c0)
        }
    }

    /// @dev keccak256 of `words` packed (abi.encodePacked of a bytes32[]), through scratch memory.
    function _hashWords(bytes32[] calldata words) private pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            let size := shl(5, words.length)
            calldatacopy(p, words.offset, size)
            hash := keccak256(p, size)
        }
    }
}
