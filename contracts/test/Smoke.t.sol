// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IBatchRegistry} from "../src/interfaces/IBatchRegistry.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

contract SmokeTest is TraceNodeTest {
    function test_farmToShop() public {
        bytes32 lot = keccak256("lot-1");
        _commission(FARM_PK, lot);
        _ship(FARM_PK, lot, carrier);
        _receive(CARRIER_PK, lot);
        vm.assertEq(batches.batch(lot).custodian, carrierId);
    }

    function test_RevertWhen_NotCustodian() public {
        bytes32 lot = keccak256("lot-1");
        _commission(FARM_PK, lot);
        IBatchRegistry.SignedEvent memory signed = _sign(CARRIER_PK, _shipEvent(carrier, lot, shop));

        vm.expectRevert(abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, lot, carrier));
        batches.submit(signed);
    }
}
