// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IBatchRegistry} from "../interfaces/IBatchRegistry.sol";
import {Roles} from "./Roles.sol";

/// @title CustodyRules
/// @notice The custody rules of one lifecycle event on one batch, written once: checks of the
/// event's fields and of the batch's state just before it (status, head, custodian, producer,
/// receiver). BatchRegistry applies them to its stored batches (the enforced mode);
/// CustodyChallenge applies them to a Merkle-proven pre-state of an anchor-only window. What
/// the registry answers (who signed, with which roles; who holds a licence) is the caller's
/// to look up: now for BatchRegistry, at the window's anchor block for CustodyChallenge.
/// @dev Each check returns the BatchRegistry custom error it fails with, ABI-encoded, or
/// nothing when the rule holds; checks follow BatchRegistry's order, so both report the same
/// error for the same event.
library CustodyRules {
    /// @notice The most inputs plus outputs of one TRANSFORM.
    uint256 internal constant MAX_TRANSFORM_BATCHES = 64;

    /// @notice The signer of an event, resolved by the caller and passed to the action's rules.
    struct Actor {
        address key;
        uint32 id;
        uint8 roles;
    }

    /// @notice The roles of which the signer needs at least one; zero for actions BatchRegistry
    /// does not execute (OBSERVE, AGGREGATE, DISAGGREGATE, NONE, unknown). RECALL is open to any
    /// role here: {checkRecall} then requires the producer or a REGULATOR.
    function rolesFor(uint8 action) internal pure returns (uint8) {
        if (
            action == uint8(IBatchRegistry.Action.SHIP) || action == uint8(IBatchRegistry.Action.RECEIVE)
                || action == uint8(IBatchRegistry.Action.DESTROY)
        ) return Roles.CUSTODY;
        if (action == uint8(IBatchRegistry.Action.COMMISSION)) return Roles.PRODUCER;
        if (action == uint8(IBatchRegistry.Action.TRANSFORM)) return Roles.PRODUCER | Roles.PROCESSOR;
        if (action == uint8(IBatchRegistry.Action.RECALL)) return Roles.ALL;
        return 0;
    }

    /// @notice A single-batch event: no lists, and a counterparty exactly when `withCounterparty`.
    function isSingle(IBatchRegistry.TraceEvent calldata ev, bool withCounterparty) internal pure returns (bool) {
        return ev.inputs.length == 0 && ev.inputPrevHashes.length == 0 && ev.outputs.length == 0
            && (ev.counterparty != address(0)) == withCounterparty;
    }

    function malformed(bytes32 eventHash) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IBatchRegistry.BatchRegistryMalformedEvent.selector, eventHash);
    }

    /// @notice A COMMISSION's fields (`proofCount` identifier proofs) and its batch's status before it.
    function checkCommission(
        IBatchRegistry.TraceEvent calldata ev,
        bytes32 eventHash,
        uint256 proofCount,
        IBatchRegistry.Status status
    ) internal pure returns (bytes memory) {
        bytes32 batchId = ev.batchId;
        if (batchId == bytes32(0) || ev.quantity == 0 || !isSingle(ev, false) || proofCount != 1) {
            return malformed(eventHash);
        }
        if (status != IBatchRegistry.Status.NONE) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchExists.selector, batchId);
        }
        if (ev.prevEventHash != bytes32(0)) {
            return abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryHeadMismatch.selector, batchId, bytes32(0), ev.prevEventHash
            );
        }
        return "";
    }

    /// @notice A SHIP's fields and its batch before it: at the named head, ACTIVE, held by the signer.
    /// A receiver named is then judged by {isValidReceiver}.
    function checkShip(
        IBatchRegistry.TraceEvent calldata ev,
        bytes32 eventHash,
        IBatchRegistry.Status status,
        bytes32 head,
        uint32 custodian,
        Actor memory actor
    ) internal pure returns (bytes memory reason) {
        if (!isSingle(ev, ev.counterparty != address(0))) return malformed(eventHash);
        reason = checkMovable(status, head, ev.batchId, ev.prevEventHash, IBatchRegistry.Status.ACTIVE);
        if (reason.length != 0) return reason;
        if (custodian != actor.id) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, ev.batchId, actor.key);
        }
        return "";
    }

    /// @notice Whether participant `receiver` (with `roles`, `active`) may be shipped to by `custodian`.
    function isValidReceiver(uint32 receiver, uint8 roles, bool active, uint32 custodian) internal pure returns (bool) {
        return receiver != 0 && active && roles & Roles.CUSTODY != 0 && receiver != custodian;
    }

    /// @notice A RECEIVE (of a batch the network holds) and its batch before it: at the named
    /// head, IN_TRANSIT, shipped to the signer (`receiver`).
    function checkReceive(
        IBatchRegistry.TraceEvent calldata ev,
        bytes32 eventHash,
        IBatchRegistry.Status status,
        bytes32 head,
        uint32 receiver,
        Actor memory actor
    ) internal pure returns (bytes memory reason) {
        if (!isSingle(ev, false)) return malformed(eventHash);
        reason = checkMovable(status, head, ev.batchId, ev.prevEventHash, IBatchRegistry.Status.IN_TRANSIT);
        if (reason.length != 0) return reason;
        if (receiver != actor.id) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotReceiver.selector, ev.batchId, actor.key);
        }
        return "";
    }

    /// @notice Whether a RECEIVE adopts its batch (its status before: `status`): one that names no
    /// previous event (a batch never seen has no head), or the receipt of a batch exported earlier.
    function adopts(IBatchRegistry.TraceEvent calldata ev, IBatchRegistry.Status status) internal pure returns (bool) {
        return ev.prevEventHash == bytes32(0) || status == IBatchRegistry.Status.EXPORTED;
    }

    /// @notice An adopting RECEIVE's fields (`proofCount` identifier proofs) and its batch before
    /// it: never seen (then named by its identifier, which the caller judges) or EXPORTED (then
    /// with no identifier), at the named head.
    function checkAdopt(
        IBatchRegistry.TraceEvent calldata ev,
        bytes32 eventHash,
        IBatchRegistry.Status status,
        bytes32 head,
        uint256 proofCount
    ) internal pure returns (bytes memory) {
        bytes32 batchId = ev.batchId;
        if (batchId == bytes32(0) || !isSingle(ev, false)) return malformed(eventHash);
        bool returning = status == IBatchRegistry.Status.EXPORTED;
        if (!returning && status != IBatchRegistry.Status.NONE) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchInNetwork.selector, batchId, status);
        }
        if (ev.prevEventHash != head) {
            return
                abi.encodeWithSelector(
                    IBatchRegistry.BatchRegistryHeadMismatch.selector, batchId, head, ev.prevEventHash
                );
        }
        // A batch never seen, received without its identifier: a receipt, not an adoption.
        if (!returning && proofCount == 0) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, batchId);
        }
        if (proofCount != (returning ? 0 : 1)) return malformed(eventHash);
        return "";
    }

    /// @notice A TRANSFORM's fixed fields: inputs and outputs (at most MAX_TRANSFORM_BATCHES in
    /// all), a head named per input, no subject, head or counterparty of its own, a quantity.
    function checkTransformFields(IBatchRegistry.TraceEvent calldata ev, bytes32 eventHash)
        internal
        pure
        returns (bytes memory)
    {
        uint256 inputCount = ev.inputs.length;
        if (
            inputCount == 0 || ev.outputs.length == 0 || inputCount + ev.outputs.length > MAX_TRANSFORM_BATCHES
                || ev.inputPrevHashes.length != inputCount || ev.batchId != bytes32(0) || ev.prevEventHash != bytes32(0)
                || ev.counterparty != address(0) || ev.quantity == 0
        ) return malformed(eventHash);
        return "";
    }

    /// @notice TRANSFORM input `index` and its batch before it: listed once, at its named head,
    /// ACTIVE, held by the signer.
    function checkInput(
        IBatchRegistry.TraceEvent calldata ev,
        bytes32 eventHash,
        uint256 index,
        IBatchRegistry.Status status,
        bytes32 head,
        uint32 custodian,
        Actor memory actor
    ) internal pure returns (bytes memory reason) {
        bytes32 input = ev.inputs[index];
        if (containsBefore(ev.inputs, index, input)) return malformed(eventHash);
        reason = checkMovable(status, head, input, ev.inputPrevHashes[index], IBatchRegistry.Status.ACTIVE);
        if (reason.length != 0) return reason;
        if (custodian != actor.id) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, input, actor.key);
        }
        return "";
    }

    /// @notice TRANSFORM output `index` and its batch before it: non-zero, listed once, new.
    function checkOutput(
        IBatchRegistry.TraceEvent calldata ev,
        bytes32 eventHash,
        uint256 index,
        IBatchRegistry.Status status
    ) internal pure returns (bytes memory) {
        bytes32 output = ev.outputs[index];
        if (output == bytes32(0) || containsBefore(ev.outputs, index, output)) return malformed(eventHash);
        if (status != IBatchRegistry.Status.NONE) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchExists.selector, output);
        }
        return "";
    }

    /// @notice A RECALL and its batch before it: at the named head, neither recalled nor
    /// destroyed, recalled by its `producer` or a REGULATOR.
    function checkRecall(
        IBatchRegistry.TraceEvent calldata ev,
        bytes32 eventHash,
        IBatchRegistry.Status status,
        bytes32 head,
        uint32 producer,
        Actor memory actor
    ) internal pure returns (bytes memory reason) {
        if (!isSingle(ev, false)) return malformed(eventHash);
        reason = checkHead(status, head, ev.batchId, ev.prevEventHash);
        if (reason.length != 0) return reason;
        if (status == IBatchRegistry.Status.RECALLED || status == IBatchRegistry.Status.DESTROYED) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidStatus.selector, ev.batchId, status);
        }
        if (producer != actor.id && actor.roles & Roles.REGULATOR == 0) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotRecaller.selector, ev.batchId, actor.key);
        }
        return "";
    }

    /// @notice A DESTROY and its batch before it: at the named head, ACTIVE or RECALLED, held by the signer.
    function checkDestroy(
        IBatchRegistry.TraceEvent calldata ev,
        bytes32 eventHash,
        IBatchRegistry.Status status,
        bytes32 head,
        uint32 custodian,
        Actor memory actor
    ) internal pure returns (bytes memory reason) {
        if (!isSingle(ev, false)) return malformed(eventHash);
        reason = checkHead(status, head, ev.batchId, ev.prevEventHash);
        if (reason.length != 0) return reason;
        if (status != IBatchRegistry.Status.ACTIVE && status != IBatchRegistry.Status.RECALLED) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidStatus.selector, ev.batchId, status);
        }
        if (custodian != actor.id) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, ev.batchId, actor.key);
        }
        return "";
    }

    /// @notice The batch exists and `prevEventHash` is its head.
    function checkHead(IBatchRegistry.Status status, bytes32 head, bytes32 batchId, bytes32 prevEventHash)
        internal
        pure
        returns (bytes memory)
    {
        if (status == IBatchRegistry.Status.NONE) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, batchId);
        }
        if (head != prevEventHash) {
            return
                abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, batchId, head, prevEventHash);
        }
        return "";
    }

    /// @notice As {checkHead}, and the batch is not recalled and has status `required`.
    function checkMovable(
        IBatchRegistry.Status status,
        bytes32 head,
        bytes32 batchId,
        bytes32 prevEventHash,
        IBatchRegistry.Status required
    ) internal pure returns (bytes memory reason) {
        reason = checkHead(status, head, batchId, prevEventHash);
        if (reason.length != 0) return reason;
        if (status == IBatchRegistry.Status.RECALLED) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchRecalled.selector, batchId);
        }
        if (status != required) {
            return abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidStatus.selector, batchId, status);
        }
        return "";
    }

    /// @notice Whether `value` occurs in `list` before index `end`.
    function containsBefore(bytes32[] calldata list, uint256 end, bytes32 value) internal pure returns (bool) {
        for (uint256 j; j < end; ++j) {
            if (list[j] == value) return true;
        }
        return false;
    }
}
