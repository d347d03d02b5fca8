// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAnchorRegistry} from "../src/interfaces/IAnchorRegistry.sol";
import {IBatchRegistry} from "../src/interfaces/IBatchRegistry.sol";
import {Roles} from "../src/libraries/Roles.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

/// @notice Unit tests of BatchRegistry: every rule and custom error through {submit}, the state and
/// events of each action, the EIP-712 event hash, and {relay} / {commit}.
contract BatchRegistryTest is TraceNodeTest {
    bytes32 internal constant LOT = keccak256("lot-1");
    bytes32 internal constant LOT_2 = keccak256("lot-2");
    bytes32 internal constant OUT = keccak256("lot-out-1");
    bytes32 internal constant OUT_2 = keccak256("lot-out-2");
    uint256 internal constant STRANGER_PK = 0xBAD;
    /// @dev The order of the secp256k1 group.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    uint8 internal constant COMMISSION = uint8(IBatchRegistry.Action.COMMISSION);
    uint8 internal constant SHIP = uint8(IBatchRegistry.Action.SHIP);
    uint8 internal constant RECEIVE = uint8(IBatchRegistry.Action.RECEIVE);
    uint8 internal constant TRANSFORM = uint8(IBatchRegistry.Action.TRANSFORM);

    function setUp() public override {
        super.setUp();
        _known("lot-1");
        _known("lot-2");
        _known("lot-out-1");
        _known("lot-out-2");
    }

    // =====================================================================
    // hashEvent: the EIP-712 digest
    // =====================================================================

    function test_hashEvent_EqualsIndependentEip712Digest() public {
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _pair(LOT, LOT_2), _single(OUT));
        ev.inputPrevHashes = _pair(keccak256("head-1"), keccak256("head-2"));
        ev.counterparty = shop;
        ev.batchId = keccak256("batch");
        ev.prevEventHash = keccak256("prev");
        ev.nonce = type(uint256).max;

        bytes32 eventHash = batches.hashEvent(ev);

        vm.assertEq(eventHash, _digest(ev));
    }

    function test_hashEvent_TypehashIsTheTraceEventTypeString() public view {
        bytes32 typehash = batches.TRACE_EVENT_TYPEHASH();

        vm.assertEq(typehash, keccak256(bytes(TRACE_EVENT_TYPE)));
    }

    function test_hashEvent_ChangesWithChainId() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        bytes32 before = batches.hashEvent(ev);

        vm.chainId(block.chainid + 1);
        bytes32 afterFork = batches.hashEvent(ev);

        vm.assertNotEq(afterFork, before);
        vm.assertEq(afterFork, _digest(ev));
    }

    function test_RevertWhen_EventSignedForAnotherChainIsSubmitted() public {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        vm.chainId(block.chainid + 1);
        bytes32 eventHash = batches.hashEvent(signed.ev);
        address recovered = ecrecover(eventHash, signed.v, signed.r, signed.s);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, recovered));
        batches.submit(signed);
    }

    // =====================================================================
    // submit: who may submit
    // =====================================================================

    function test_submit_AcceptsFromAnySenderAndReturnsEventHash() public {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        bytes32 expected = batches.hashEvent(signed.ev);

        vm.prank(address(0xD00D));
        bytes32 eventHash = batches.submit(signed);

        vm.assertEq(eventHash, expected);
        vm.assertEq(batches.batch(LOT).custodian, farmId);
    }

    // =====================================================================
    // UnsupportedAction
    // =====================================================================

    function test_RevertWhen_ActionIsNone() public {
        _assertUnsupported(uint8(IBatchRegistry.Action.NONE));
    }

    function test_RevertWhen_ActionIsObserve() public {
        _assertUnsupported(uint8(IBatchRegistry.Action.OBSERVE));
    }

    function test_RevertWhen_ActionIsAggregate() public {
        _assertUnsupported(uint8(IBatchRegistry.Action.AGGREGATE));
    }

    function test_RevertWhen_ActionIsDisaggregate() public {
        _assertUnsupported(uint8(IBatchRegistry.Action.DISAGGREGATE));
    }

    function test_RevertWhen_ActionIsOutOfRange() public {
        _assertUnsupported(10);
    }

    function test_RevertWhen_ActionIsMaxUint8() public {
        _assertUnsupported(type(uint8).max);
    }

    // =====================================================================
    // InvalidSignature
    // =====================================================================

    function test_RevertWhen_SignatureSIsInUpperHalf() public {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        // The malleable twin: ecrecover would still return the farm's key.
        signed.s = bytes32(SECP256K1_N - uint256(signed.s));
        signed.v = signed.v == 27 ? 28 : 27;
        bytes32 eventHash = batches.hashEvent(signed.ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, eventHash));
        batches.submit(signed);
    }

    function test_RevertWhen_SignatureVIsZero() public {
        _assertInvalidV(0);
    }

    function test_RevertWhen_SignatureVIsOne() public {
        _assertInvalidV(1);
    }

    function test_RevertWhen_SignatureVIs29() public {
        _assertInvalidV(29);
    }

    function test_RevertWhen_SignatureRIsZero() public {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        signed.r = bytes32(0);
        bytes32 eventHash = batches.hashEvent(signed.ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, eventHash));
        batches.submit(signed);
    }

    function test_RevertWhen_SignatureSIsZero() public {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        signed.s = bytes32(0);
        bytes32 eventHash = batches.hashEvent(signed.ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, eventHash));
        batches.submit(signed);
    }

    // =====================================================================
    // UnknownSigner and key rotation
    // =====================================================================

    function test_RevertWhen_SignerIsNotRegistered() public {
        address stranger = vm.addr(STRANGER_PK);
        IBatchRegistry.SignedEvent memory signed = _sign(STRANGER_PK, _commissionEvent(stranger, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, stranger));
        batches.submit(signed);
    }

    function test_RevertWhen_SignerKeyWasRotatedOut() public {
        _commission(FARM_PK, LOT);
        vm.prank(admin);
        participants.rotateKey(farmId, vm.addr(STRANGER_PK));
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, farm));
        batches.submit(signed);
    }

    function test_rotateKey_NewKeySignsAndKeepsCustody() public {
        _commission(FARM_PK, LOT);
        address newFarm = vm.addr(STRANGER_PK);
        vm.prank(farm);
        participants.rotateKey(farmId, newFarm);

        bytes32 shipHash = _ship(STRANGER_PK, LOT, carrier);

        IBatchRegistry.Batch memory stored = batches.batch(LOT);
        vm.assertEq(stored.producer, farmId);
        vm.assertEq(stored.custodian, farmId);
        vm.assertEq(stored.receiver, carrierId);
        vm.assertEq(stored.head, shipHash);
        vm.assertTrue(batches.isNonceUsed(newFarm, 0));
    }

    function test_rotateKey_ReceiverCanReceiveWithNewKey() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        vm.prank(admin);
        participants.rotateKey(carrierId, vm.addr(STRANGER_PK));

        _receive(STRANGER_PK, LOT);

        vm.assertEq(batches.batch(LOT).custodian, carrierId);
    }

    // =====================================================================
    // SignerSuspended
    // =====================================================================

    function test_RevertWhen_SignerIsSuspended() public {
        _commission(FARM_PK, LOT);
        vm.prank(admin);
        participants.suspend(farmId);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistrySignerSuspended.selector, farm));
        batches.submit(signed);
    }

    function test_submit_AcceptsSignerAgainAfterReactivation() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));
        vm.prank(admin);
        participants.suspend(farmId);
        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistrySignerSuspended.selector, farm));
        batches.submit(signed);
        vm.prank(admin);
        participants.reactivate(farmId);

        batches.submit(signed);

        vm.assertEq(uint256(_status(LOT)), uint256(IBatchRegistry.Status.IN_TRANSIT));
    }

    // =====================================================================
    // MissingRole
    // =====================================================================

    function test_RevertWhen_CarrierCommissions() public {
        IBatchRegistry.SignedEvent memory signed = _sign(CARRIER_PK, _commissionEvent(carrier, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryMissingRole.selector, carrier, COMMISSION));
        batches.submit(signed);
    }

    function test_RevertWhen_RetailerTransforms() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, shop);
        _receive(SHOP_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(SHOP_PK, _transformEvent(shop, _single(LOT), _single(OUT)));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryMissingRole.selector, shop, TRANSFORM));
        batches.submit(signed);
    }

    function test_RevertWhen_AuditorShips() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(AUDITOR_PK, _shipEvent(auditor, LOT, carrier));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryMissingRole.selector, auditor, SHIP));
        batches.submit(signed);
    }

    function test_RevertWhen_ReceiverLostCustodyRoleBeforeReceiving() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        vm.prank(admin);
        participants.setRoles(carrierId, Roles.AUDITOR);
        IBatchRegistry.SignedEvent memory signed =
            _sign(CARRIER_PK, _simpleEvent(IBatchRegistry.Action.RECEIVE, carrier, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryMissingRole.selector, carrier, RECEIVE));
        batches.submit(signed);
    }

    // =====================================================================
    // NonceUsed and isNonceUsed
    // =====================================================================

    function test_RevertWhen_NonceIsReusedForADifferentEvent() public {
        IBatchRegistry.TraceEvent memory first = _commissionEvent(farm, LOT);
        first.nonce = 7;
        _submit(FARM_PK, first);
        IBatchRegistry.TraceEvent memory second = _commissionEvent(farm, LOT_2);
        second.nonce = 7;
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, second);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNonceUsed.selector, farm, 7));
        batches.submit(signed);
    }

    function test_RevertWhen_SignedEventIsReplayed() public {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        batches.submit(signed);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNonceUsed.selector, farm, signed.ev.nonce));
        batches.submit(signed);
    }

    function test_submit_AcceptsNoncesOutOfOrder() public {
        IBatchRegistry.TraceEvent memory five = _commissionEvent(farm, LOT);
        five.nonce = 5;
        IBatchRegistry.TraceEvent memory three = _commissionEvent(farm, LOT_2);
        three.nonce = 3;

        _submit(FARM_PK, five);
        _submit(FARM_PK, three);

        vm.assertTrue(batches.isNonceUsed(farm, 5));
        vm.assertTrue(batches.isNonceUsed(farm, 3));
        vm.assertFalse(batches.isNonceUsed(farm, 4));
        vm.assertEq(batches.batch(LOT_2).custodian, farmId);
    }

    function test_submit_AcceptsTheSameNonceFromDifferentSigners() public {
        IBatchRegistry.TraceEvent memory byFarm = _commissionEvent(farm, LOT);
        byFarm.nonce = 42;
        IBatchRegistry.TraceEvent memory byProcessor = _commissionEvent(processor, LOT_2);
        byProcessor.nonce = 42;
        vm.prank(admin);
        participants.setRoles(processorId, Roles.PRODUCER | Roles.PROCESSOR);

        _submit(FARM_PK, byFarm);
        _submit(PROCESSOR_PK, byProcessor);

        vm.assertEq(batches.batch(LOT).producer, farmId);
        vm.assertEq(batches.batch(LOT_2).producer, processorId);
    }

    function test_isNonceUsed_IsFalseBeforeAndTrueAfterAcceptance() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        ev.nonce = 256; // first bit of the second bitmap word
        bool before = batches.isNonceUsed(farm, 256);

        _submit(FARM_PK, ev);

        vm.assertFalse(before);
        vm.assertTrue(batches.isNonceUsed(farm, 256));
        vm.assertFalse(batches.isNonceUsed(farm, 0));
        vm.assertFalse(batches.isNonceUsed(farm, 257));
        vm.assertFalse(batches.isNonceUsed(processor, 256));
    }

    function test_isNonceUsed_StaysFalseWhenEventIsRefused() public {
        IBatchRegistry.TraceEvent memory ev = _simpleEvent(IBatchRegistry.Action.DESTROY, farm, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, ev);
        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, LOT));
        batches.submit(signed);

        bool used = batches.isNonceUsed(farm, ev.nonce);

        vm.assertFalse(used);
    }

    // =====================================================================
    // MalformedEvent: COMMISSION
    // =====================================================================

    function test_RevertWhen_CommissionQuantityIsZero() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        ev.quantity = 0;
        _assertMalformed(FARM_PK, ev);
    }

    function test_RevertWhen_CommissionBatchIdIsZero() public {
        _assertMalformed(FARM_PK, _commissionEvent(farm, bytes32(0)));
    }

    function test_RevertWhen_CommissionHasInputs() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        ev.inputs = _single(LOT_2);
        _assertMalformed(FARM_PK, ev);
    }

    function test_RevertWhen_CommissionHasInputPrevHashes() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        ev.inputPrevHashes = _single(keccak256("head"));
        _assertMalformed(FARM_PK, ev);
    }

    function test_RevertWhen_CommissionHasOutputs() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        ev.outputs = _single(OUT);
        _assertMalformed(FARM_PK, ev);
    }

    function test_RevertWhen_CommissionHasCounterparty() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        ev.counterparty = carrier;
        _assertMalformed(FARM_PK, ev);
    }

    // =====================================================================
    // MalformedEvent: SHIP, RECEIVE, RECALL, DESTROY
    // =====================================================================

    function test_RevertWhen_ShipHasOutputs() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.TraceEvent memory ev = _shipEvent(farm, LOT, carrier);
        ev.outputs = _single(OUT);
        _assertMalformed(FARM_PK, ev);
    }

    function test_RevertWhen_ReceiveHasCounterparty() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.TraceEvent memory ev = _simpleEvent(IBatchRegistry.Action.RECEIVE, carrier, LOT);
        ev.counterparty = farm;
        _assertMalformed(CARRIER_PK, ev);
    }

    function test_RevertWhen_RecallHasInputs() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.TraceEvent memory ev = _simpleEvent(IBatchRegistry.Action.RECALL, farm, LOT);
        ev.inputs = _single(LOT);
        _assertMalformed(FARM_PK, ev);
    }

    function test_RevertWhen_DestroyHasCounterparty() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.TraceEvent memory ev = _simpleEvent(IBatchRegistry.Action.DESTROY, farm, LOT);
        ev.counterparty = carrier;
        _assertMalformed(FARM_PK, ev);
    }

    // =====================================================================
    // MalformedEvent: TRANSFORM
    // =====================================================================

    function test_RevertWhen_TransformHasBatchId() public {
        _atProcessor(LOT);
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _single(LOT), _single(OUT));
        ev.batchId = LOT;
        _assertMalformed(PROCESSOR_PK, ev);
    }

    function test_RevertWhen_TransformHasPrevEventHash() public {
        _atProcessor(LOT);
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _single(LOT), _single(OUT));
        ev.prevEventHash = batches.batch(LOT).head;
        _assertMalformed(PROCESSOR_PK, ev);
    }

    function test_RevertWhen_TransformHasCounterparty() public {
        _atProcessor(LOT);
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _single(LOT), _single(OUT));
        ev.counterparty = shop;
        _assertMalformed(PROCESSOR_PK, ev);
    }

    function test_RevertWhen_TransformQuantityIsZero() public {
        _atProcessor(LOT);
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _single(LOT), _single(OUT));
        ev.quantity = 0;
        _assertMalformed(PROCESSOR_PK, ev);
    }

    function test_RevertWhen_TransformHasNoInputs() public {
        _assertMalformed(PROCESSOR_PK, _transformEvent(processor, new bytes32[](0), _single(OUT)));
    }

    function test_RevertWhen_TransformHasNoOutputs() public {
        _atProcessor(LOT);
        _assertMalformed(PROCESSOR_PK, _transformEvent(processor, _single(LOT), new bytes32[](0)));
    }

    function test_RevertWhen_TransformInputPrevHashesAreShorterThanInputs() public {
        _atProcessor(LOT);
        _atProcessor(LOT_2);
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _pair(LOT, LOT_2), _single(OUT));
        ev.inputPrevHashes = _single(batches.batch(LOT).head);
        _assertMalformed(PROCESSOR_PK, ev);
    }

    function test_RevertWhen_TransformInputPrevHashesAreLongerThanInputs() public {
        _atProcessor(LOT);
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _single(LOT), _single(OUT));
        ev.inputPrevHashes = _pair(batches.batch(LOT).head, batches.batch(LOT).head);
        _assertMalformed(PROCESSOR_PK, ev);
    }

    function test_RevertWhen_TransformHasDuplicateInputs() public {
        _atProcessor(LOT);
        _assertMalformed(PROCESSOR_PK, _transformEvent(processor, _pair(LOT, LOT), _single(OUT)));
    }

    function test_RevertWhen_TransformHasDuplicateOutputs() public {
        _atProcessor(LOT);
        _assertMalformed(PROCESSOR_PK, _transformEvent(processor, _single(LOT), _pair(OUT, OUT)));
    }

    function test_RevertWhen_TransformHasZeroOutput() public {
        _atProcessor(LOT);
        _assertMalformed(PROCESSOR_PK, _transformEvent(processor, _single(LOT), _pair(OUT, bytes32(0))));
    }

    function test_RevertWhen_TransformHasMoreThanMaxBatches() public {
        _atProcessor(LOT);
        uint256 max = batches.MAX_TRANSFORM_BATCHES();
        _assertMalformed(PROCESSOR_PK, _transformEvent(processor, _single(LOT), _outputs(max)));
    }

    function test_transform_AcceptsExactlyMaxBatches() public {
        _atProcessor(LOT);
        bytes32[] memory outputs = _outputs(batches.MAX_TRANSFORM_BATCHES() - 1);

        _transform(PROCESSOR_PK, _single(LOT), outputs);

        vm.assertEq(uint256(_status(outputs[outputs.length - 1])), uint256(IBatchRegistry.Status.ACTIVE));
    }

    // =====================================================================
    // BatchExists
    // =====================================================================

    function test_RevertWhen_BatchIsCommissionedTwice() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchExists.selector, LOT));
        batches.submit(signed);
    }

    function test_RevertWhen_TransformOutputExists() public {
        _atProcessor(LOT);
        _commission(FARM_PK, LOT_2);
        IBatchRegistry.SignedEvent memory signed =
            _sign(PROCESSOR_PK, _transformEvent(processor, _single(LOT), _pair(OUT, LOT_2)));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchExists.selector, LOT_2));
        batches.submit(signed);
    }

    function test_RevertWhen_TransformOutputIsOneOfItsInputs() public {
        _atProcessor(LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(PROCESSOR_PK, _transformEvent(processor, _single(LOT), _single(LOT)));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchExists.selector, LOT));
        batches.submit(signed);
    }

    // =====================================================================
    // UnknownBatch
    // =====================================================================

    function test_RevertWhen_ShippingUnknownBatch() public {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, LOT));
        batches.submit(signed);
    }

    function test_RevertWhen_ReceivingUnknownBatch() public {
        IBatchRegistry.SignedEvent memory signed =
            _sign(CARRIER_PK, _simpleEvent(IBatchRegistry.Action.RECEIVE, carrier, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, LOT));
        batches.submit(signed);
    }

    function test_RevertWhen_RecallingUnknownBatch() public {
        IBatchRegistry.SignedEvent memory signed =
            _sign(REGULATOR_PK, _simpleEvent(IBatchRegistry.Action.RECALL, regulator, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, LOT));
        batches.submit(signed);
    }

    function test_RevertWhen_DestroyingUnknownBatch() public {
        IBatchRegistry.SignedEvent memory signed =
            _sign(FARM_PK, _simpleEvent(IBatchRegistry.Action.DESTROY, farm, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, LOT));
        batches.submit(signed);
    }

    function test_RevertWhen_TransformInputIsUnknown() public {
        _atProcessor(LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(PROCESSOR_PK, _transformEvent(processor, _pair(LOT, LOT_2), _single(OUT)));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, LOT_2));
        batches.submit(signed);
    }

    // =====================================================================
    // HeadMismatch
    // =====================================================================

    function test_RevertWhen_EventExtendsStaleHead() public {
        bytes32 commissionHash = _commission(FARM_PK, LOT);
        bytes32 shipHash = _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.SignedEvent memory signed = _sign(CARRIER_PK, _event(RECEIVE, LOT, commissionHash, carrier));

        vm.expectRevert(
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, LOT, shipHash, commissionHash)
        );
        batches.submit(signed);
    }

    function test_RevertWhen_SecondShipForksFromTheSameHead() public {
        bytes32 commissionHash = _commission(FARM_PK, LOT);
        IBatchRegistry.TraceEvent memory toShop = _shipEvent(farm, LOT, shop);
        bytes32 shipHash = _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, toShop);

        vm.expectRevert(
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, LOT, shipHash, commissionHash)
        );
        batches.submit(signed);
    }

    function test_RevertWhen_CommissionNamesAPrevEventHash() public {
        bytes32 prev = keccak256("prev");
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        ev.prevEventHash = prev;
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, ev);

        vm.expectRevert(
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, LOT, bytes32(0), prev)
        );
        batches.submit(signed);
    }

    function test_RevertWhen_TransformInputPrevHashIsStale() public {
        _atProcessor(LOT);
        bytes32 head = batches.batch(LOT).head;
        bytes32 stale = keccak256("stale");
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _single(LOT), _single(OUT));
        ev.inputPrevHashes = _single(stale);
        IBatchRegistry.SignedEvent memory signed = _sign(PROCESSOR_PK, ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, LOT, head, stale));
        batches.submit(signed);
    }

    function test_RevertWhen_RecallNamesWrongHead() public {
        bytes32 head = _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(REGULATOR_PK, _event(uint8(IBatchRegistry.Action.RECALL), LOT, bytes32(0), regulator));

        vm.expectRevert(
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, LOT, head, bytes32(0))
        );
        batches.submit(signed);
    }

    function test_RevertWhen_DestroyNamesWrongHead() public {
        bytes32 head = _commission(FARM_PK, LOT);
        bytes32 wrong = keccak256("wrong");
        IBatchRegistry.SignedEvent memory signed =
            _sign(FARM_PK, _event(uint8(IBatchRegistry.Action.DESTROY), LOT, wrong, farm));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, LOT, head, wrong));
        batches.submit(signed);
    }

    // =====================================================================
    // BatchRecalled
    // =====================================================================

    function test_RevertWhen_ShippingRecalledBatch() public {
        _commission(FARM_PK, LOT);
        _recall(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchRecalled.selector, LOT));
        batches.submit(signed);
    }

    function test_RevertWhen_InTransitReceiverReceivesRecalledBatch() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        _recall(REGULATOR_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(CARRIER_PK, _simpleEvent(IBatchRegistry.Action.RECEIVE, carrier, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchRecalled.selector, LOT));
        batches.submit(signed);
    }

    function test_RevertWhen_TransformingRecalledBatch() public {
        _atProcessor(LOT);
        _recall(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(PROCESSOR_PK, _transformEvent(processor, _single(LOT), _single(OUT)));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchRecalled.selector, LOT));
        batches.submit(signed);
    }

    // =====================================================================
    // InvalidStatus
    // =====================================================================

    function test_RevertWhen_ReceivingBatchNotInTransit() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(CARRIER_PK, _simpleEvent(IBatchRegistry.Action.RECEIVE, carrier, LOT));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.ACTIVE
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_ShippingBatchInTransit() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, shop));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.IN_TRANSIT
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_ShippingConsumedBatch() public {
        _atProcessor(LOT);
        _transform(PROCESSOR_PK, _single(LOT), _single(OUT));
        IBatchRegistry.SignedEvent memory signed = _sign(PROCESSOR_PK, _shipEvent(processor, LOT, shop));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.CONSUMED
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_TransformInputIsInTransit() public {
        _atProcessor(LOT);
        _ship(PROCESSOR_PK, LOT, shop);
        IBatchRegistry.SignedEvent memory signed =
            _sign(PROCESSOR_PK, _transformEvent(processor, _single(LOT), _single(OUT)));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.IN_TRANSIT
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_RecallingTwice() public {
        _commission(FARM_PK, LOT);
        _recall(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(REGULATOR_PK, _simpleEvent(IBatchRegistry.Action.RECALL, regulator, LOT));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.RECALLED
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_RecallingDestroyedBatch() public {
        _commission(FARM_PK, LOT);
        _destroy(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(REGULATOR_PK, _simpleEvent(IBatchRegistry.Action.RECALL, regulator, LOT));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.DESTROYED
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_DestroyingConsumedBatch() public {
        _atProcessor(LOT);
        _transform(PROCESSOR_PK, _single(LOT), _single(OUT));
        IBatchRegistry.SignedEvent memory signed =
            _sign(PROCESSOR_PK, _simpleEvent(IBatchRegistry.Action.DESTROY, processor, LOT));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.CONSUMED
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_DestroyingBatchInTransit() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.SignedEvent memory signed =
            _sign(FARM_PK, _simpleEvent(IBatchRegistry.Action.DESTROY, farm, LOT));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.IN_TRANSIT
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_DestroyingTwice() public {
        _commission(FARM_PK, LOT);
        _destroy(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(FARM_PK, _simpleEvent(IBatchRegistry.Action.DESTROY, farm, LOT));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.DESTROYED
            )
        );
        batches.submit(signed);
    }

    // =====================================================================
    // NotCustodian
    // =====================================================================

    function test_RevertWhen_ShipperIsNotCustodian() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(CARRIER_PK, _shipEvent(carrier, LOT, shop));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, LOT, carrier));
        batches.submit(signed);
    }

    function test_RevertWhen_FormerCustodianShips() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        _receive(CARRIER_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, shop));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, LOT, farm));
        batches.submit(signed);
    }

    function test_RevertWhen_TransformInputIsNotHeldBySigner() public {
        _atProcessor(LOT);
        _commission(FARM_PK, LOT_2);
        IBatchRegistry.SignedEvent memory signed =
            _sign(PROCESSOR_PK, _transformEvent(processor, _pair(LOT, LOT_2), _single(OUT)));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, LOT_2, processor));
        batches.submit(signed);
    }

    function test_RevertWhen_DestroyerIsNotCustodian() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(CARRIER_PK, _simpleEvent(IBatchRegistry.Action.DESTROY, carrier, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, LOT, carrier));
        batches.submit(signed);
    }

    // =====================================================================
    // InvalidReceiver
    // =====================================================================

    function test_RevertWhen_ReceiverKeyIsUnknown() public {
        _commission(FARM_PK, LOT);
        address unknown = vm.addr(STRANGER_PK);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, unknown));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, unknown));
        batches.submit(signed);
    }

    function test_RevertWhen_ReceiverKeyWasRotatedOut() public {
        _commission(FARM_PK, LOT);
        vm.prank(admin);
        participants.rotateKey(carrierId, vm.addr(STRANGER_PK));
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, carrier));
        batches.submit(signed);
    }

    function test_RevertWhen_ReceiverIsSuspended() public {
        _commission(FARM_PK, LOT);
        vm.prank(admin);
        participants.suspend(carrierId);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, carrier));
        batches.submit(signed);
    }

    function test_RevertWhen_ReceiverIsAuditorOnly() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, auditor));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, auditor));
        batches.submit(signed);
    }

    function test_RevertWhen_ReceiverIsRegulatorOnly() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, regulator));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, regulator));
        batches.submit(signed);
    }

    function test_RevertWhen_ShippingToYourself() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, farm));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, farm));
        batches.submit(signed);
    }

    // =====================================================================
    // NotReceiver
    // =====================================================================

    function test_RevertWhen_ReceiverIsNotTheNamedOne() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.SignedEvent memory signed =
            _sign(SHOP_PK, _simpleEvent(IBatchRegistry.Action.RECEIVE, shop, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotReceiver.selector, LOT, shop));
        batches.submit(signed);
    }

    function test_RevertWhen_ShipperReceivesItsOwnShipment() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.SignedEvent memory signed =
            _sign(FARM_PK, _simpleEvent(IBatchRegistry.Action.RECEIVE, farm, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotReceiver.selector, LOT, farm));
        batches.submit(signed);
    }

    // =====================================================================
    // NotRecaller
    // =====================================================================

    function test_RevertWhen_CarrierRecalls() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        _receive(CARRIER_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(CARRIER_PK, _simpleEvent(IBatchRegistry.Action.RECALL, carrier, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotRecaller.selector, LOT, carrier));
        batches.submit(signed);
    }

    function test_RevertWhen_AuditorRecalls() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed =
            _sign(AUDITOR_PK, _simpleEvent(IBatchRegistry.Action.RECALL, auditor, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotRecaller.selector, LOT, auditor));
        batches.submit(signed);
    }

    function test_RevertWhen_InputProducerRecallsTransformOutput() public {
        _atProcessor(LOT);
        _transform(PROCESSOR_PK, _single(LOT), _single(OUT));
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _simpleEvent(IBatchRegistry.Action.RECALL, farm, OUT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotRecaller.selector, OUT, farm));
        batches.submit(signed);
    }

    // =====================================================================
    // COMMISSION
    // =====================================================================

    function test_commission_CreatesActiveBatchHeldByProducer() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);

        bytes32 eventHash = _submit(FARM_PK, ev);

        _assertBatch(LOT, farmId, farmId, 0, IBatchRegistry.Status.ACTIVE, eventHash);
        vm.assertTrue(batches.isNonceUsed(farm, ev.nonce));
    }

    function test_commission_EmitsBatchCommissionedAndEventAccepted() public {
        IBatchRegistry.TraceEvent memory ev = _commissionEvent(farm, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, ev);
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchCommissioned(LOT, eventHash, ev.product, ev.quantity);
        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventAccepted(eventHash, farm, farmId, ev.nonce);
        batches.submit(signed);
    }

    // =====================================================================
    // SHIP and RECEIVE
    // =====================================================================

    function test_ship_SetsInTransitAndReceiverAndKeepsCustodian() public {
        _commission(FARM_PK, LOT);

        bytes32 shipHash = _ship(FARM_PK, LOT, carrier);

        _assertBatch(LOT, farmId, farmId, carrierId, IBatchRegistry.Status.IN_TRANSIT, shipHash);
    }

    function test_ship_EmitsBatchShippedAndEventAccepted() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.TraceEvent memory ev = _shipEvent(farm, LOT, carrier);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, ev);
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchShipped(LOT, eventHash, farmId, carrierId);
        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventAccepted(eventHash, farm, farmId, ev.nonce);
        batches.submit(signed);
    }

    function test_receive_MovesCustodyToReceiver() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);

        bytes32 receiveHash = _receive(CARRIER_PK, LOT);

        _assertBatch(LOT, farmId, carrierId, 0, IBatchRegistry.Status.ACTIVE, receiveHash);
    }

    function test_receive_EmitsBatchReceivedAndEventAccepted() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.TraceEvent memory ev = _simpleEvent(IBatchRegistry.Action.RECEIVE, carrier, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(CARRIER_PK, ev);
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchReceived(LOT, eventHash, carrierId);
        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventAccepted(eventHash, carrier, carrierId, ev.nonce);
        batches.submit(signed);
    }

    function test_shipAndReceive_MoveCustodyFromFarmToShop() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        _receive(CARRIER_PK, LOT);
        _ship(CARRIER_PK, LOT, shop);

        bytes32 receiveHash = _receive(SHOP_PK, LOT);

        _assertBatch(LOT, farmId, shopId, 0, IBatchRegistry.Status.ACTIVE, receiveHash);
    }

    // =====================================================================
    // TRANSFORM
    // =====================================================================

    function test_transform_ConsumesInputsAndCreatesOutputs() public {
        _atProcessor(LOT);
        _atProcessor(LOT_2);

        bytes32 eventHash = _transform(PROCESSOR_PK, _pair(LOT, LOT_2), _pair(OUT, OUT_2));

        _assertBatch(LOT, farmId, processorId, 0, IBatchRegistry.Status.CONSUMED, eventHash);
        _assertBatch(LOT_2, farmId, processorId, 0, IBatchRegistry.Status.CONSUMED, eventHash);
        _assertBatch(OUT, processorId, processorId, 0, IBatchRegistry.Status.ACTIVE, eventHash);
        _assertBatch(OUT_2, processorId, processorId, 0, IBatchRegistry.Status.ACTIVE, eventHash);
    }

    function test_transform_AllowsProducerRole() public {
        _commission(FARM_PK, LOT);

        bytes32 eventHash = _transform(FARM_PK, _single(LOT), _single(OUT));

        _assertBatch(OUT, farmId, farmId, 0, IBatchRegistry.Status.ACTIVE, eventHash);
    }

    function test_transform_EmitsBatchTransformedAndEventAccepted() public {
        _atProcessor(LOT);
        IBatchRegistry.TraceEvent memory ev = _transformEvent(processor, _single(LOT), _pair(OUT, OUT_2));
        IBatchRegistry.SignedEvent memory signed = _sign(PROCESSOR_PK, ev);
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchTransformed(eventHash, ev.inputs, ev.outputs, ev.product, ev.quantity);
        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventAccepted(eventHash, processor, processorId, ev.nonce);
        batches.submit(signed);
    }

    function test_transform_OutputMovesOnFromTheTransformHead() public {
        _atProcessor(LOT);
        _transform(PROCESSOR_PK, _single(LOT), _single(OUT));

        bytes32 shipHash = _ship(PROCESSOR_PK, OUT, shop);

        _assertBatch(OUT, processorId, processorId, shopId, IBatchRegistry.Status.IN_TRANSIT, shipHash);
    }

    // =====================================================================
    // RECALL
    // =====================================================================

    function test_recall_ByProducerAfterCustodyMoved() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        _receive(CARRIER_PK, LOT);

        bytes32 recallHash = _recall(FARM_PK, LOT);

        _assertBatch(LOT, farmId, carrierId, 0, IBatchRegistry.Status.RECALLED, recallHash);
    }

    function test_recall_ByRegulatorClearsReceiverOfBatchInTransit() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);

        bytes32 recallHash = _recall(REGULATOR_PK, LOT);

        _assertBatch(LOT, farmId, farmId, 0, IBatchRegistry.Status.RECALLED, recallHash);
    }

    function test_recall_EmitsBatchRecalledAndEventAccepted() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.TraceEvent memory ev = _simpleEvent(IBatchRegistry.Action.RECALL, regulator, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(REGULATOR_PK, ev);
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchRecalled(LOT, eventHash);
        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventAccepted(eventHash, regulator, regulatorId, ev.nonce);
        batches.submit(signed);
    }

    // =====================================================================
    // DESTROY
    // =====================================================================

    function test_destroy_ByCustodianOfActiveBatch() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        _receive(CARRIER_PK, LOT);

        bytes32 destroyHash = _destroy(CARRIER_PK, LOT);

        _assertBatch(LOT, farmId, carrierId, 0, IBatchRegistry.Status.DESTROYED, destroyHash);
    }

    function test_destroy_ByCustodianOfRecalledBatch() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        _recall(REGULATOR_PK, LOT);

        bytes32 destroyHash = _destroy(FARM_PK, LOT);

        _assertBatch(LOT, farmId, farmId, 0, IBatchRegistry.Status.DESTROYED, destroyHash);
    }

    function test_destroy_EmitsBatchDestroyedAndEventAccepted() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.TraceEvent memory ev = _simpleEvent(IBatchRegistry.Action.DESTROY, farm, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, ev);
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchDestroyed(LOT, eventHash);
        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventAccepted(eventHash, farm, farmId, ev.nonce);
        batches.submit(signed);
    }

    // =====================================================================
    // relay
    // =====================================================================

    function test_RevertWhen_RelayCallerLacksNodeRole() public {
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](1);
        events[0] = _sign(FARM_PK, _commissionEvent(farm, LOT));
        bytes32 role = batches.NODE_ROLE();

        vm.prank(farm);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, farm, role));
        batches.relay(events);
    }

    function test_relay_AppliesValidEventsAndRejectsInvalidOnes() public {
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](6);
        events[0] = _sign(FARM_PK, _commissionEvent(farm, LOT));
        bytes32 commissionHash = batches.hashEvent(events[0].ev);
        events[1] = _sign(CARRIER_PK, _commissionEvent(carrier, LOT_2));
        IBatchRegistry.TraceEvent memory ship = _event(SHIP, LOT, commissionHash, farm);
        ship.counterparty = carrier;
        events[2] = _sign(FARM_PK, ship);
        bytes32 shipHash = batches.hashEvent(ship);
        events[3] = _sign(SHOP_PK, _event(RECEIVE, LOT, shipHash, shop));
        events[4] = _sign(FARM_PK, _event(uint8(IBatchRegistry.Action.OBSERVE), LOT, shipHash, farm));
        events[5] = _sign(CARRIER_PK, _event(RECEIVE, LOT, shipHash, carrier));
        bytes32 receiveHash = batches.hashEvent(events[5].ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventRejected(
            1,
            batches.hashEvent(events[1].ev),
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryMissingRole.selector, carrier, COMMISSION)
        );
        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventRejected(
            3,
            batches.hashEvent(events[3].ev),
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotReceiver.selector, LOT, shop)
        );
        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventRejected(
            4,
            batches.hashEvent(events[4].ev),
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryUnsupportedAction.selector, uint8(IBatchRegistry.Action.OBSERVE)
            )
        );
        vm.prank(node);
        uint256 accepted = batches.relay(events);

        vm.assertEq(accepted, 3);
        _assertBatch(LOT, farmId, carrierId, 0, IBatchRegistry.Status.ACTIVE, receiveHash);
        vm.assertEq(uint256(_status(LOT_2)), uint256(IBatchRegistry.Status.NONE));
        vm.assertFalse(batches.isNonceUsed(carrier, events[1].ev.nonce));
        vm.assertFalse(batches.isNonceUsed(shop, events[3].ev.nonce));
        vm.assertFalse(batches.isNonceUsed(farm, events[4].ev.nonce));
        vm.assertTrue(batches.isNonceUsed(carrier, events[5].ev.nonce));
    }

    function test_relay_AppliesEventsThatDependOnEarlierOnesInTheSameCall() public {
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](3);
        events[0] = _sign(FARM_PK, _commissionEvent(farm, LOT));
        IBatchRegistry.TraceEvent memory ship = _event(SHIP, LOT, batches.hashEvent(events[0].ev), farm);
        ship.counterparty = carrier;
        events[1] = _sign(FARM_PK, ship);
        events[2] = _sign(CARRIER_PK, _event(RECEIVE, LOT, batches.hashEvent(ship), carrier));
        bytes32 receiveHash = batches.hashEvent(events[2].ev);

        vm.prank(node);
        uint256 accepted = batches.relay(events);

        vm.assertEq(accepted, 3);
        _assertBatch(LOT, farmId, carrierId, 0, IBatchRegistry.Status.ACTIVE, receiveHash);
    }

    function test_relay_RejectsReplayOfAnEventAcceptedEarlierInTheSameCall() public {
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](2);
        events[0] = _sign(FARM_PK, _commissionEvent(farm, LOT));
        events[1] = events[0];
        bytes32 eventHash = batches.hashEvent(events[0].ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventRejected(
            1,
            eventHash,
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryNonceUsed.selector, farm, events[0].ev.nonce)
        );
        vm.prank(node);
        uint256 accepted = batches.relay(events);

        vm.assertEq(accepted, 1);
    }

    function test_relay_KeepsEachSignersAnswerApartWhenTheirAddressesCollide() public {
        // 8 producers whose addresses share their low byte (so they probe the same slots of
        // the call's signer cache), each commissioning two lots in two rounds, and a key
        // nobody registered signing twice: every answer stays its signer's. (Cached answers
        // still meet each event's own role check: test_relay_AppliesValidEventsAndRejectsInvalidOnes,
        // the carrier's two events.)
        uint256 producers = 8;
        uint256[] memory keys = new uint256[](producers);
        uint256 key = 0xB000;
        uint160 lowByte = uint160(vm.addr(key)) & 0xff;
        for (uint256 p; p < producers; ++p) {
            while (uint160(vm.addr(key)) & 0xff != lowByte) {
                ++key;
            }
            keys[p] = key++;
        }
        _relayProducersTwice(keys, producers);
    }

    function test_relay_AnswersSignersPastTheOnesItCaches() public {
        // 260 producers in one call: more signers than the cache's 512 slots keep (255), so
        // the last ones are asked again for their second lot.
        uint256 producers = 260;
        uint256[] memory keys = new uint256[](producers);
        for (uint256 p; p < producers; ++p) {
            keys[p] = 0xC000 + p;
        }
        _relayProducersTwice(keys, 4);
    }

    /// @dev Registers a producer for each key; relays a COMMISSION of each, then a second of
    /// the last `again`, then two by an unregistered key; checks each answer stayed its signer's.
    function _relayProducersTwice(uint256[] memory keys, uint256 again) private {
        uint256 producers = keys.length;
        uint32[] memory ids = new uint32[](producers);
        vm.startPrank(admin);
        for (uint256 p; p < producers; ++p) {
            ids[p] = participants.register(vm.addr(keys[p]), "producer", Roles.PRODUCER, "");
        }
        vm.stopPrank();
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](producers + again + 2);
        for (uint256 p; p < producers; ++p) {
            events[p] = _sign(keys[p], _commissionEvent(vm.addr(keys[p]), _known(abi.encode("cache lot", 0, p), 0)));
        }
        for (uint256 p = producers - again; p < producers; ++p) {
            bytes32 lot = _known(abi.encode("cache lot", 1, p), 0);
            events[producers + p - (producers - again)] = _sign(keys[p], _commissionEvent(vm.addr(keys[p]), lot));
        }
        uint256 strangerKey = 0xDEAD;
        address stranger = vm.addr(strangerKey);
        uint256 last = producers + again;
        events[last] = _sign(strangerKey, _commissionEvent(stranger, _known("stranger 1")));
        events[last + 1] = _sign(strangerKey, _commissionEvent(stranger, _known("stranger 2")));

        for (uint256 k; k < 2; ++k) {
            vm.expectEmit(address(batches));
            emit IBatchRegistry.EventRejected(
                last + k,
                batches.hashEvent(events[last + k].ev),
                abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownSigner.selector, stranger)
            );
        }
        vm.prank(node);
        uint256 accepted = batches.relay(events);

        vm.assertEq(accepted, producers + again);
        for (uint256 p; p < producers; ++p) {
            for (uint256 round; round < (p < producers - again ? 1 : 2); ++round) {
                IBatchRegistry.Batch memory lot = batches.batch(keccak256(abi.encode("cache lot", round, p)));
                vm.assertEq(uint256(lot.status), uint256(IBatchRegistry.Status.ACTIVE));
                vm.assertEq(lot.producer, ids[p]);
            }
        }
    }

    function test_relay_AcceptsExactlyMaxEventsPerCall() public {
        uint256 count = batches.MAX_EVENTS_PER_CALL();
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](count);
        bytes32 eventHash = batches.hashEvent(events[0].ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.EventRejected(
            count - 1, eventHash, abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnsupportedAction.selector, 0)
        );
        vm.prank(node);
        uint256 accepted = batches.relay(events);

        vm.assertEq(accepted, 0);
    }

    function test_RevertWhen_RelayHasMoreThanMaxEvents() public {
        uint256 count = batches.MAX_EVENTS_PER_CALL() + 1;
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](count);

        vm.prank(node);
        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryTooManyEvents.selector, count));
        batches.relay(events);
    }

    // =====================================================================
    // commit
    // =====================================================================

    function test_RevertWhen_CommitCallerLacksNodeRole() public {
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](1);
        events[0] = _sign(FARM_PK, _commissionEvent(farm, LOT));
        bytes32 role = batches.NODE_ROLE();

        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, role));
        batches.commit(events, keccak256("root"), 1, 1);
    }

    function test_commit_AppliesEventsAndAnchorsRootInTheSameCall() public {
        (IBatchRegistry.SignedEvent[] memory events, bytes32 commissionHash, bytes32 shipHash) = _commissionAndShip();
        bytes32 root = _hashPair(_leaf(commissionHash), _leaf(shipHash));
        vm.warp(1_700_000_000);
        vm.roll(42);

        vm.expectEmit(address(anchors));
        emit IAnchorRegistry.RootAnchored(root, node, 1, 2);
        vm.prank(node);
        uint256 accepted = batches.commit(events, root, 1, 2);

        vm.assertEq(accepted, 2);
        _assertBatch(LOT, farmId, farmId, carrierId, IBatchRegistry.Status.IN_TRANSIT, shipHash);
        vm.assertTrue(anchors.isAnchored(root));
        IAnchorRegistry.Anchor memory stored = anchors.anchorOf(root);
        vm.assertEq(stored.firstSeq, 1);
        vm.assertEq(stored.eventCount, 2);
        vm.assertEq(stored.blockNumber, 42);
        vm.assertEq(stored.timestamp, 1_700_000_000);
        vm.assertEq(anchors.nextSequence(node), 3);
        vm.assertTrue(anchors.verifyEvent(root, _single(_leaf(shipHash)), commissionHash));
    }

    function test_commit_NextWindowFollowsThePreviousOne() public {
        (IBatchRegistry.SignedEvent[] memory first, bytes32 commissionHash, bytes32 shipHash) = _commissionAndShip();
        vm.prank(node);
        batches.commit(first, _hashPair(_leaf(commissionHash), _leaf(shipHash)), 1, 2);
        IBatchRegistry.SignedEvent[] memory second = new IBatchRegistry.SignedEvent[](1);
        second[0] = _sign(CARRIER_PK, _event(RECEIVE, LOT, shipHash, carrier));
        bytes32 root = _leaf(batches.hashEvent(second[0].ev));

        vm.prank(node);
        uint256 accepted = batches.commit(second, root, 3, 1);

        vm.assertEq(accepted, 1);
        vm.assertEq(batches.batch(LOT).custodian, carrierId);
        vm.assertEq(anchors.anchorOf(root).firstSeq, 3);
        vm.assertEq(anchors.nextSequence(node), 4);
    }

    function test_RevertWhen_CommitWindowIsNotContiguous_NoEventApplied() public {
        (IBatchRegistry.SignedEvent[] memory events, bytes32 commissionHash, bytes32 shipHash) = _commissionAndShip();
        bytes32 root = _hashPair(_leaf(commissionHash), _leaf(shipHash));

        vm.prank(node);
        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, uint64(1), uint64(2))
        );
        batches.commit(events, root, 2, 2);

        vm.assertEq(uint256(_status(LOT)), uint256(IBatchRegistry.Status.NONE));
        vm.assertFalse(batches.isNonceUsed(farm, events[0].ev.nonce));
        vm.assertFalse(batches.isNonceUsed(farm, events[1].ev.nonce));
        vm.assertFalse(anchors.isAnchored(root));
        vm.assertEq(anchors.nextSequence(node), 1);
    }

    function test_RevertWhen_CommitRootIsZero_NoEventApplied() public {
        (IBatchRegistry.SignedEvent[] memory events,,) = _commissionAndShip();

        vm.prank(node);
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryZeroRoot.selector));
        batches.commit(events, bytes32(0), 1, 2);

        vm.assertEq(uint256(_status(LOT)), uint256(IBatchRegistry.Status.NONE));
    }

    function test_RevertWhen_CommitHasMoreThanMaxEvents() public {
        uint256 count = batches.MAX_EVENTS_PER_CALL() + 1;
        IBatchRegistry.SignedEvent[] memory events = new IBatchRegistry.SignedEvent[](count);

        vm.prank(node);
        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryTooManyEvents.selector, count));
        batches.commit(events, keccak256("root"), 1, uint32(count));
    }

    // =====================================================================
    // helpers
    // =====================================================================

    function _assertUnsupported(uint8 action) internal {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _event(action, LOT, bytes32(0), farm));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnsupportedAction.selector, action));
        batches.submit(signed);
    }

    function _assertInvalidV(uint8 v) internal {
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, LOT));
        signed.v = v;
        bytes32 eventHash = batches.hashEvent(signed.ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidSignature.selector, eventHash));
        batches.submit(signed);
    }

    function _assertMalformed(uint256 privateKey, IBatchRegistry.TraceEvent memory ev) internal {
        IBatchRegistry.SignedEvent memory signed = _sign(privateKey, ev);
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryMalformedEvent.selector, eventHash));
        batches.submit(signed);
    }

    function _assertBatch(
        bytes32 batchId,
        uint32 producer,
        uint32 custodian,
        uint32 receiver,
        IBatchRegistry.Status status,
        bytes32 head
    ) internal view {
        IBatchRegistry.Batch memory stored = batches.batch(batchId);
        vm.assertEq(stored.producer, producer, "producer");
        vm.assertEq(stored.custodian, custodian, "custodian");
        vm.assertEq(stored.receiver, receiver, "receiver");
        vm.assertEq(uint256(stored.status), uint256(status), "status");
        vm.assertEq(stored.head, head, "head");
    }

    /// @dev Commissions `batchId` at the farm and moves it into the processor's custody.
    function _atProcessor(bytes32 batchId) internal {
        _commission(FARM_PK, batchId);
        _ship(FARM_PK, batchId, processor);
        _receive(PROCESSOR_PK, batchId);
    }

    function _transform(uint256 privateKey, bytes32[] memory inputs, bytes32[] memory outputs)
        internal
        returns (bytes32)
    {
        return _submit(privateKey, _transformEvent(vm.addr(privateKey), inputs, outputs));
    }

    function _recall(uint256 privateKey, bytes32 batchId) internal returns (bytes32) {
        return _submit(privateKey, _simpleEvent(IBatchRegistry.Action.RECALL, vm.addr(privateKey), batchId));
    }

    function _destroy(uint256 privateKey, bytes32 batchId) internal returns (bytes32) {
        return _submit(privateKey, _simpleEvent(IBatchRegistry.Action.DESTROY, vm.addr(privateKey), batchId));
    }

    function _outputs(uint256 count) internal returns (bytes32[] memory outputs) {
        outputs = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            outputs[i] = _known(abi.encode("output", i), 0);
        }
    }

    /// @dev Two signed events, not yet submitted: the farm commissions LOT, then ships it to the carrier.
    function _commissionAndShip()
        internal
        returns (IBatchRegistry.SignedEvent[] memory events, bytes32 commissionHash, bytes32 shipHash)
    {
        events = new IBatchRegistry.SignedEvent[](2);
        events[0] = _sign(FARM_PK, _commissionEvent(farm, LOT));
        commissionHash = batches.hashEvent(events[0].ev);
        IBatchRegistry.TraceEvent memory ship = _event(SHIP, LOT, commissionHash, farm);
        ship.counterparty = carrier;
        events[1] = _sign(FARM_PK, ship);
        shipHash = batches.hashEvent(ship);
    }

    /// @dev A leaf of an OpenZeppelin StandardMerkleTree of `bytes32` values.
    function _leaf(bytes32 eventHash) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(eventHash))));
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }
}
