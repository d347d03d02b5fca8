// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IBatchRegistry} from "../src/interfaces/IBatchRegistry.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

/// @notice Fuzz tests of BatchRegistry: who a signature names, which nonces a signer has used,
/// and which batch ids exist and who holds them.
contract BatchRegistryFuzzTest is TraceNodeTest {
    bytes32 internal constant LOT = keccak256("lot-1");
    /// @dev The order of the secp256k1 group; private keys lie in [1, N - 1].
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    /// @dev Fields of {IBatchRegistry.TraceEvent}, in declaration order.
    uint256 internal constant FIELD_COUNT = 13;

    function setUp() public override {
        super.setUp();
        _known("lot-1");
    }

    // =====================================================================
    // signatures
    // =====================================================================

    function testFuzz_RevertWhen_SignerIsNotRegistered(
        uint256 privateKey,
        uint256 actionSeed,
        IBatchRegistry.TraceEvent memory ev
    ) public {
        privateKey = _unregisteredKey(privateKey);
        ev.action = _supportedAction(actionSeed);
        IBatchRegistry.SignedEvent memory signed = _sign(privateKey, ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, vm.addr(privateKey)));
        batches.submit(signed);
    }

    function testFuzz_RevertWhen_FieldIsChangedAfterSigning(uint256 field, uint256 seed) public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.Batch memory before = batches.batch(LOT);
        IBatchRegistry.SignedEvent memory original = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));
        IBatchRegistry.SignedEvent memory tampered = IBatchRegistry.SignedEvent({
            ev: _changeField(original.ev, bound(field, 0, FIELD_COUNT - 1), seed),
            v: original.v,
            r: original.r,
            s: original.s,
            identifiers: original.identifiers
        });
        bytes32 tamperedHash = batches.hashEvent(tampered.ev);
        address recovered = ecrecover(tamperedHash, tampered.v, tampered.r, tampered.s);
        bool tamperedNonceWasUsed = batches.isNonceUsed(farm, tampered.ev.nonce);

        vm.expectRevert(
            recovered == address(0)
                ? abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, tamperedHash)
                : abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, recovered)
        );
        batches.submit(tampered);

        vm.assertNotEq(tamperedHash, batches.hashEvent(original.ev));
        _assertSameBatch(LOT, before);
        vm.assertFalse(batches.isNonceUsed(farm, original.ev.nonce));
        vm.assertEq(batches.isNonceUsed(farm, tampered.ev.nonce), tamperedNonceWasUsed);
        // Nothing was consumed: the untouched event is still accepted.
        batches.submit(original);
        vm.assertEq(batches.batch(LOT).receiver, carrierId);
    }

    function testFuzz_RevertWhen_SignatureVIsNot27Or28(uint8 v) public {
        if (v == 27 || v == 28) v += 2;
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        signed.v = v;
        bytes32 eventHash = batches.hashEvent(signed.ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, eventHash));
        batches.submit(signed);
    }

    function testFuzz_RevertWhen_SignatureSIsInUpperHalf(uint256 s) public {
        s = bound(s, SECP256K1_N / 2 + 1, type(uint256).max);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        signed.s = bytes32(s);
        bytes32 eventHash = batches.hashEvent(signed.ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, eventHash));
        batches.submit(signed);
    }

    function testFuzz_hashEvent_EqualsIndependentEip712Digest(IBatchRegistry.TraceEvent memory ev) public view {
        bytes32 eventHash = batches.hashEvent(ev);

        vm.assertEq(eventHash, _digest(ev));
    }

    // =====================================================================
    // nonces
    // =====================================================================

    function testFuzz_submit_AcceptsNonceOnceAndRefusesItTheSecondTime(uint256 nonce) public {
        IBatchRegistry.TraceEvent memory first = _commissionEvent(farm, LOT);
        first.nonce = nonce;
        IBatchRegistry.TraceEvent memory second = _commissionEvent(farm, _known("lot-2"));
        second.nonce = nonce;
        IBatchRegistry.SignedEvent memory signedSecond = _sign(FARM_PK, second);

        _submit(FARM_PK, first);

        vm.assertTrue(batches.isNonceUsed(farm, nonce));
        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNonceUsed.selector, farm, nonce));
        batches.submit(signedSecond);
    }

    /// @dev `repeats` makes some nonces copies of earlier ones, so that reuse is exercised on every run.
    function testFuzz_isNonceUsed_IsExactlyTheSetOfAcceptedNonces(
        uint256[8] memory nonces,
        uint8 repeats,
        uint256 probe
    ) public {
        for (uint256 i = 1; i < nonces.length; ++i) {
            if (repeats & (1 << i) != 0) nonces[i] = nonces[bound(nonces[i], 0, i - 1)];
        }

        for (uint256 i; i < nonces.length; ++i) {
            IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, _known(abi.encode("lot", i), 0));
            ev.nonce = nonces[i];
            IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, ev);
            if (_containsBefore(nonces, i, nonces[i])) {
                vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNonceUsed.selector, farm, nonces[i]));
            }
            batches.submit(signed);
        }

        for (uint256 i; i < nonces.length; ++i) {
            uint256 nonce = nonces[i];
            vm.assertTrue(batches.isNonceUsed(farm, nonce));
            vm.assertFalse(batches.isNonceUsed(processor, nonce));
            // Same bitmap word, other bit; same bit, other word.
            _assertUsedIffContained(nonces, nonce ^ 1);
            _assertUsedIffContained(nonces, nonce ^ (1 << 8));
        }
        _assertUsedIffContained(nonces, probe);
    }

    // =====================================================================
    // identifiers and custody
    // =====================================================================

    function testFuzz_commission_AcceptsAnyNonZeroBatchIdOnce(bytes32 batchId) public {
        batchId = _known(abi.encodePacked("lot:", batchId), 0);
        IBatchRegistry.SignedEvent memory again = _sign(FARM_PK, _commissionEvent(farm, batchId));

        bytes32 eventHash = _commission(FARM_PK, batchId);

        IBatchRegistry.Batch memory stored = batches.batch(batchId);
        vm.assertEq(stored.producer, farmId);
        vm.assertEq(stored.custodian, farmId);
        vm.assertEq(stored.receiver, 0);
        vm.assertEq(uint256(stored.status), uint256(IBatchRegistry.Status.ACTIVE));
        vm.assertEq(stored.head, eventHash);
        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchExists.selector, batchId));
        batches.submit(again);
    }

    /// @dev Moves a batch with a random id along a random route of custody participants; after every
    /// ship the shipper still holds it and only the named receiver can take it, after every receive
    /// the receiver holds it.
    function testFuzz_shipAndReceive_KeepCustodyConsistent(bytes32 batchId, uint256 route, uint8 hops) public {
        batchId = _known(abi.encodePacked("lot:", batchId), 0);
        hops = uint8(bound(hops, 1, 12));
        uint256[4] memory keys = [FARM_PK, PROCESSOR_PK, CARRIER_PK, SHOP_PK];
        uint32[4] memory ids = [farmId, processorId, carrierId, shopId];
        uint256 holder;
        _commission(FARM_PK, batchId);

        for (uint256 hop; hop < hops; ++hop) {
            uint256 step = route % 3;
            route /= 3;
            uint256 next = (holder + 1 + step) % 4;
            uint256 bystander = (next + 1) % 4 == holder ? (next + 2) % 4 : (next + 1) % 4;
            _ship(keys[holder], batchId, vm.addr(keys[next]));
            _assertBatch(batchId, ids[holder], ids[next], IBatchRegistry.Status.IN_TRANSIT);
            IBatchRegistry.SignedEvent memory intruder =
                _sign(keys[bystander], _simpleEvent(IBatchRegistry.Action.RECEIVE, vm.addr(keys[bystander]), batchId));
            vm.expectRevert(
                abi.encodeWithSelector(
                    IBatchRegistry.BatchRegistryNotReceiver.selector, batchId, vm.addr(keys[bystander])
                )
            );
            batches.submit(intruder);
            bytes32 receiveHash = _receive(keys[next], batchId);
            holder = next;
            _assertBatch(batchId, ids[holder], 0, IBatchRegistry.Status.ACTIVE);
            vm.assertEq(batches.batch(batchId).head, receiveHash);
        }

        vm.assertEq(batches.batch(batchId).producer, farmId);
        vm.assertEq(batches.batch(batchId).custodian, ids[holder]);
    }

    // =====================================================================
    // helpers
    // =====================================================================

    /// @dev A valid private key that is none of the registered participants' keys.
    function _unregisteredKey(uint256 seed) internal pure returns (uint256 privateKey) {
        privateKey = bound(seed, 1, SECP256K1_N - 1);
        if (privateKey >= FARM_PK && privateKey <= REGULATOR_PK) privateKey += REGULATOR_PK - FARM_PK + 1;
    }

    /// @dev One of the actions executed on-chain, so that the signature is what gets judged.
    function _supportedAction(uint256 seed) internal pure returns (uint8) {
        uint8[6] memory actions = [
            uint8(IBatchRegistry.Action.COMMISSION),
            uint8(IBatchRegistry.Action.SHIP),
            uint8(IBatchRegistry.Action.RECEIVE),
            uint8(IBatchRegistry.Action.TRANSFORM),
            uint8(IBatchRegistry.Action.RECALL),
            uint8(IBatchRegistry.Action.DESTROY)
        ];
        return actions[seed % actions.length];
    }

    /// @dev A deep copy of `ev` with field number `field` set to another value derived from `seed`.
    /// The action stays a supported one, so that it is the signature that gets refused.
    function _changeField(IBatchRegistry.TraceEvent memory ev, uint256 field, uint256 seed)
        internal
        pure
        returns (IBatchRegistry.TraceEvent memory changed)
    {
        changed = _copy(ev);
        uint256 delta = bound(seed, 1, type(uint256).max);
        if (field == 0) {
            changed.action = _supportedAction(seed);
            if (changed.action == ev.action) changed.action = uint8(IBatchRegistry.Action.RECEIVE);
        } else if (field == 1) {
            changed.batchId = ev.batchId ^ bytes32(delta);
        } else if (field == 2) {
            changed.prevEventHash = ev.prevEventHash ^ bytes32(delta);
        } else if (field == 3) {
            changed.inputs = _appended(ev.inputs, bytes32(seed));
        } else if (field == 4) {
            changed.inputPrevHashes = _appended(ev.inputPrevHashes, bytes32(seed));
        } else if (field == 5) {
            changed.outputs = _appended(ev.outputs, bytes32(seed));
        } else if (field == 6) {
            changed.counterparty = address(uint160(ev.counterparty) ^ uint160(bound(seed, 1, type(uint160).max)));
        } else if (field == 7) {
            changed.product = ev.product ^ bytes32(delta);
        } else if (field == 8) {
            changed.quantity = ev.quantity ^ delta;
        } else if (field == 9) {
            changed.eventTime = ev.eventTime ^ uint64(bound(seed, 1, type(uint64).max));
        } else if (field == 10) {
            changed.location = ev.location ^ bytes32(delta);
        } else if (field == 11) {
            changed.payloadHash = ev.payloadHash ^ bytes32(delta);
        } else {
            changed.nonce = ev.nonce ^ delta;
        }
    }

    function _copy(IBatchRegistry.TraceEvent memory ev) internal pure returns (IBatchRegistry.TraceEvent memory) {
        return IBatchRegistry.TraceEvent({
            action: ev.action,
            batchId: ev.batchId,
            prevEventHash: ev.prevEventHash,
            inputs: _appended(ev.inputs, bytes32(0), false),
            inputPrevHashes: _appended(ev.inputPrevHashes, bytes32(0), false),
            outputs: _appended(ev.outputs, bytes32(0), false),
            counterparty: ev.counterparty,
            product: ev.product,
            quantity: ev.quantity,
            eventTime: ev.eventTime,
            location: ev.location,
            payloadHash: ev.payloadHash,
            nonce: ev.nonce
        });
    }

    function _appended(bytes32[] memory list, bytes32 value) internal pure returns (bytes32[] memory) {
        return _appended(list, value, true);
    }

    /// @dev A new array holding `list`, followed by `value` when `append`.
    function _appended(bytes32[] memory list, bytes32 value, bool append) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](list.length + (append ? 1 : 0));
        for (uint256 i; i < list.length; ++i) {
            out[i] = list[i];
        }
        if (append) out[list.length] = value;
    }

    function _containsBefore(uint256[8] memory list, uint256 end, uint256 value) internal pure returns (bool) {
        for (uint256 i; i < end; ++i) {
            if (list[i] == value) return true;
        }
        return false;
    }

    function _assertUsedIffContained(uint256[8] memory used, uint256 nonce) internal view {
        vm.assertEq(batches.isNonceUsed(farm, nonce), _containsBefore(used, used.length, nonce));
    }

    function _assertBatch(bytes32 batchId, uint32 custodian, uint32 receiver, IBatchRegistry.Status status)
        internal
        view
    {
        IBatchRegistry.Batch memory stored = batches.batch(batchId);
        vm.assertEq(stored.custodian, custodian, "custodian");
        vm.assertEq(stored.receiver, receiver, "receiver");
        vm.assertEq(uint256(stored.status), uint256(status), "status");
    }

    function _assertSameBatch(bytes32 batchId, IBatchRegistry.Batch memory expected) internal view {
        IBatchRegistry.Batch memory stored = batches.batch(batchId);
        vm.assertEq(stored.producer, expected.producer, "producer");
        vm.assertEq(stored.custodian, expected.custodian, "custodian");
        vm.assertEq(stored.receiver, expected.receiver, "receiver");
        vm.assertEq(uint256(stored.status), uint256(expected.status), "status");
        vm.assertEq(stored.head, expected.head, "head");
    }
}
