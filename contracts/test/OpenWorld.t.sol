// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IBatchRegistry} from "../src/interfaces/IBatchRegistry.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

/// @dev Custody leaving the network (a SHIP to nobody in it) and entering it (a RECEIVE of a
/// batch it does not hold): the rules of docs/contracts.md, "Parties outside the network".
contract OpenWorldTest is TraceNodeTest {
    bytes32 internal LOT;
    /// @dev A GTIN under company prefix 4012345, which nobody in the network holds.
    bytes32 internal FOREIGN;
    /// @dev A GTIN under the farm's company prefix 0614141.
    bytes32 internal FARMS;

    function setUp() public override {
        super.setUp();
        LOT = _known("urn:example:lot:1");
        FOREIGN = _known(bytes("https://id.gs1.org/01/04012345000019/10/IMPORT-1"), 7);
        FARMS = _known(bytes("https://id.gs1.org/01/00614141000019/10/FARM-1"), 7);
    }

    function _adoptEvent(address signer, bytes32 batchId) internal returns (IBatchRegistry.TraceEvent memory) {
        return _simpleEvent(IBatchRegistry.Action.RECEIVE, signer, batchId);
    }

    /// @dev A RECEIVE of a batch never seen, with its identifier's proof.
    function _adopting(uint256 privateKey, bytes32 batchId)
        internal
        returns (IBatchRegistry.SignedEvent memory signed)
    {
        signed = _sign(privateKey, _adoptEvent(vm.addr(privateKey), batchId));
        signed.identifiers = new IBatchRegistry.IdentifierProof[](1);
        signed.identifiers[0] = _proof(batchId);
    }

    // ----- out -----

    function test_ShipToNobodyInTheNetworkExportsTheBatch() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.TraceEvent memory ev = _shipEvent(farm, LOT, address(0));
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchExported(LOT, eventHash, farmId);
        _submit(FARM_PK, ev);

        IBatchRegistry.Batch memory stored = batches.batch(LOT);
        vm.assertEq(uint8(stored.status), uint8(IBatchRegistry.Status.EXPORTED));
        vm.assertEq(stored.custodian, farmId); // the last custodian in the network stays named
        vm.assertEq(stored.receiver, 0);
        vm.assertEq(stored.head, eventHash);
    }

    function test_RevertWhen_ANonCustodianExports() public {
        _commission(FARM_PK, LOT);
        IBatchRegistry.SignedEvent memory signed = _sign(SHOP_PK, _shipEvent(shop, LOT, address(0)));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, LOT, shop));
        batches.submit(signed);
    }

    function test_RevertWhen_AnExportedBatchIsShippedOrTransformedAgain() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, address(0));
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, LOT, carrier));

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, LOT, IBatchRegistry.Status.EXPORTED
            )
        );
        batches.submit(signed);
    }

    // ----- in -----

    function test_ReceivingABatchNeverSeenAdoptsItWithNoKnownProducer() public {
        IBatchRegistry.SignedEvent memory signed = _adopting(SHOP_PK, FOREIGN);
        bytes32 eventHash = batches.hashEvent(signed.ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchAdopted(FOREIGN, eventHash, shopId, false);
        batches.submit(signed);

        IBatchRegistry.Batch memory stored = batches.batch(FOREIGN);
        vm.assertEq(uint8(stored.status), uint8(IBatchRegistry.Status.ACTIVE));
        vm.assertEq(stored.producer, 0); // its history lies outside the network
        vm.assertEq(stored.custodian, shopId);
        vm.assertEq(stored.head, eventHash);
    }

    function test_RevertWhen_ABatchNeverSeenIsReceivedWithoutItsIdentifier() public {
        IBatchRegistry.SignedEvent memory signed = _sign(SHOP_PK, _adoptEvent(shop, FOREIGN));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, FOREIGN));
        batches.submit(signed);
    }

    function test_RevertWhen_SomeoneElseAdoptsABrandOwnersLot() public {
        // The farm holds 0614141: its lots enter the network by its own COMMISSION, and nobody
        // may take the id first.
        IBatchRegistry.SignedEvent memory signed = _adopting(SHOP_PK, FARMS);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryLicensedElsewhere.selector, FARMS, farmId));
        batches.submit(signed);
        vm.assertEq(uint8(_status(FARMS)), uint8(IBatchRegistry.Status.NONE));
        _commission(FARM_PK, FARMS); // and the brand owner still can
    }

    function test_RevertWhen_AnAdoptionNamesAnotherGs1PrefixLengthThanTheHeldOne() public {
        // The proof is not signed: naming 8 digits ("06141410", which nobody can hold while
        // the farm holds 0614141) must not make the farm's lot adoptable.
        for (uint8 length = 4; length <= 12; ++length) {
            IBatchRegistry.SignedEvent memory signed = _adopting(SHOP_PK, FARMS);
            signed.identifiers[0].prefixLength = length;
            vm.expectRevert(
                abi.encodeWithSelector(IBatchRegistry.BatchRegistryLicensedElsewhere.selector, FARMS, farmId)
            );
            batches.submit(signed);
        }
        vm.assertEq(uint8(_status(FARMS)), uint8(IBatchRegistry.Status.NONE));
        _commission(FARM_PK, FARMS); // and the brand owner still can
    }

    function test_RevertWhen_AnAdoptionNamesAShorterHandlePrefixThanTheHeldOne() public {
        // The shop holds 88.123.45; the farm names "88" and "88.123" as the lot's prefix.
        bytes32 lot = _known(bytes("88.123.45/x-1"), 9);
        uint8[3] memory lengths = [2, 6, 9];
        for (uint256 i; i < lengths.length; ++i) {
            IBatchRegistry.SignedEvent memory signed = _adopting(FARM_PK, lot);
            signed.identifiers[0].prefixLength = lengths[i];
            vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryLicensedElsewhere.selector, lot, shopId));
            batches.submit(signed);
        }
        vm.assertEq(uint8(_status(lot)), uint8(IBatchRegistry.Status.NONE));
    }

    function test_RevertWhen_ABatchInTheNetworkIsAdopted() public {
        _commission(FARM_PK, FARMS);
        // Named as never seen (no previous event): the network holds it, ACTIVE.
        IBatchRegistry.TraceEvent memory ev = _adoptEvent(shop, FARMS);
        ev.prevEventHash = bytes32(0);
        IBatchRegistry.SignedEvent memory signed = _sign(SHOP_PK, ev);
        signed.identifiers = new IBatchRegistry.IdentifierProof[](1);
        signed.identifiers[0] = _proof(FARMS);

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryBatchInNetwork.selector, FARMS, IBatchRegistry.Status.ACTIVE
            )
        );
        batches.submit(signed);
        vm.assertEq(batches.batch(FARMS).custodian, farmId);
    }

    function test_RevertWhen_ALotInTransitIsAdoptedByAnotherThanItsReceiver() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, carrier);
        IBatchRegistry.TraceEvent memory ev = _adoptEvent(shop, LOT);
        ev.prevEventHash = bytes32(0);
        IBatchRegistry.SignedEvent memory signed = _sign(SHOP_PK, ev);

        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryBatchInNetwork.selector, LOT, IBatchRegistry.Status.IN_TRANSIT
            )
        );
        batches.submit(signed);
        vm.assertEq(uint8(_status(LOT)), uint8(IBatchRegistry.Status.IN_TRANSIT));
    }

    function test_RevertWhen_AReceiptNamesAPreviousEventOfABatchNeverSeen() public {
        IBatchRegistry.TraceEvent memory ev = _adoptEvent(shop, FOREIGN);
        ev.prevEventHash = bytes32(uint256(1));
        IBatchRegistry.SignedEvent memory signed = _sign(SHOP_PK, ev);

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnknownBatch.selector, FOREIGN));
        batches.submit(signed);
    }

    function test_AnExportedBatchReturnsKeepingItsProducer() public {
        _commission(FARM_PK, LOT);
        bytes32 exported = _ship(FARM_PK, LOT, address(0));
        IBatchRegistry.TraceEvent memory ev = _adoptEvent(processor, LOT);
        vm.assertEq(ev.prevEventHash, exported);
        bytes32 eventHash = batches.hashEvent(ev);

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchAdopted(LOT, eventHash, processorId, true);
        _submit(PROCESSOR_PK, ev);

        IBatchRegistry.Batch memory stored = batches.batch(LOT);
        vm.assertEq(uint8(stored.status), uint8(IBatchRegistry.Status.ACTIVE));
        vm.assertEq(stored.producer, farmId);
        vm.assertEq(stored.custodian, processorId);
    }

    function test_RevertWhen_AReturnDoesNotExtendTheExport() public {
        _commission(FARM_PK, LOT);
        bytes32 exported = _ship(FARM_PK, LOT, address(0));
        IBatchRegistry.TraceEvent memory ev = _adoptEvent(processor, LOT);
        ev.prevEventHash = bytes32(uint256(1));

        IBatchRegistry.SignedEvent memory signed = _sign(PROCESSOR_PK, ev);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryHeadMismatch.selector, LOT, exported, bytes32(uint256(1))
            )
        );
        batches.submit(signed);
    }

    function test_RevertWhen_ALotRecalledWhileOutsideComesBack() public {
        _commission(FARM_PK, LOT);
        _ship(FARM_PK, LOT, address(0));
        _submit(REGULATOR_PK, _simpleEvent(IBatchRegistry.Action.RECALL, regulator, LOT));
        IBatchRegistry.SignedEvent memory signed = _sign(PROCESSOR_PK, _adoptEvent(processor, LOT));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchRecalled.selector, LOT));
        batches.submit(signed);
    }
}
