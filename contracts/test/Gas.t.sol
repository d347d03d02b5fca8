// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IBatchRegistry} from "../src/interfaces/IBatchRegistry.sol";
import {Identifiers} from "../src/libraries/Identifiers.sol";
import {console} from "./utils/Test.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

/// @notice The gas of one COMMISSION through {submit}, with the identifier check, printed for
/// docs/gas.md (`forge test --match-contract GasTest -vv`). Execution gas only (gasleft around
/// the call); the proof's calldata is printed beside it. The signer has committed once
/// before, so its nonce word and the registries are warm, as in a relayed window.
contract GasTest is TraceNodeTest {
    function setUp() public override {
        super.setUp();
        vm.startPrank(admin);
        participants.revoke(Identifiers.GS1, "0614141");
        participants.license(farmId, Identifiers.GS1, "9506000", 0, 0);
        vm.stopPrank();
    }

    function test_gas_CommissionUnderGs1Licence() public {
        _commission(FARM_PK, _known(bytes("https://id.gs1.org/01/09506000134352/10/WARM"), 7));
        bytes32 lot = _known(bytes("https://id.gs1.org/01/09506000134352/10/LOT-0001"), 7);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, lot));

        uint256 before = gasleft();
        batches.submit(signed);
        uint256 used = before - gasleft();

        console.log("COMMISSION execution gas, GS1 identifier under a licence", used);
        console.log("identifier proof calldata gas", _calldataGas(abi.encode(signed.identifiers)));
        vm.assertEq(batches.batch(lot).producer, farmId);
    }

    function _calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }
}
