// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ReadMany} from "../src/ReadMany.sol";
import {IParticipantRegistry} from "../src/interfaces/IParticipantRegistry.sol";
import {IAnchorRegistry} from "../src/interfaces/IAnchorRegistry.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

contract ReadManyTest is TraceNodeTest {
    function _read(address[] memory targets, bytes[] memory calls)
        internal
        returns (bool[] memory ok, bytes[] memory results)
    {
        // The constructor's return data becomes the "code" of the created contract.
        address created = address(new ReadMany(targets, calls));
        (ok, results) = abi.decode(created.code, (bool[], bytes[]));
    }

    function test_ReturnsEachCallsResultInOrder() public {
        address[] memory targets = new address[](3);
        bytes[] memory calls = new bytes[](3);
        targets[0] = address(participants);
        calls[0] = abi.encodeCall(IParticipantRegistry.keyRecord, (farm));
        targets[1] = address(participants);
        calls[1] = abi.encodeCall(IParticipantRegistry.statusAt, (farmId, uint48(block.number)));
        targets[2] = address(anchors);
        calls[2] = abi.encodeCall(IAnchorRegistry.isAnchored, (keccak256("nothing")));

        (bool[] memory ok, bytes[] memory results) = _read(targets, calls);

        vm.assertEq(ok.length, 3);
        vm.assertTrue(ok[0] && ok[1] && ok[2]);
        IParticipantRegistry.KeyRecord memory record = abi.decode(results[0], (IParticipantRegistry.KeyRecord));
        vm.assertEq(record.participantId, farmId);
        (uint8 roles, bool active) = abi.decode(results[1], (uint8, bool));
        vm.assertEq(roles, participants.participant(farmId).roles);
        vm.assertTrue(active);
        vm.assertFalse(abi.decode(results[2], (bool)));
    }

    function test_AFailingCallIsReportedWithItsRevertData() public {
        address[] memory targets = new address[](2);
        bytes[] memory calls = new bytes[](2);
        bytes32 unknown = keccak256("unknown root");
        targets[0] = address(anchors);
        calls[0] = abi.encodeCall(IAnchorRegistry.anchorOf, (unknown));
        targets[1] = address(participants);
        calls[1] = abi.encodeCall(IParticipantRegistry.participantCount, ());

        (bool[] memory ok, bytes[] memory results) = _read(targets, calls);

        vm.assertFalse(ok[0]);
        vm.assertEq(results[0], abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryUnknownRoot.selector, unknown));
        vm.assertTrue(ok[1]);
        vm.assertEq(abi.decode(results[1], (uint32)), participants.participantCount());
    }

    function test_RevertWhen_LengthsDiffer() public {
        address[] memory targets = new address[](1);
        bytes[] memory calls = new bytes[](0);
        vm.expectRevert(abi.encodeWithSelector(ReadMany.ReadManyLengthMismatch.selector, 1, 0));
        new ReadMany(targets, calls);
    }

    function testFuzz_MatchesDirectCalls(address[] memory keys) public {
        if (keys.length > 20) assembly ("memory-safe") { mstore(keys, 20) }
        address[] memory targets = new address[](keys.length + 1);
        bytes[] memory calls = new bytes[](keys.length + 1);
        keys = _withKnownKey(keys);
        for (uint256 i = 0; i < keys.length; ++i) {
            targets[i] = address(participants);
            calls[i] = abi.encodeCall(IParticipantRegistry.keyRecord, (keys[i]));
        }

        (bool[] memory ok, bytes[] memory results) = _read(targets, calls);

        for (uint256 i = 0; i < keys.length; ++i) {
            vm.assertTrue(ok[i]);
            IParticipantRegistry.KeyRecord memory got = abi.decode(results[i], (IParticipantRegistry.KeyRecord));
            vm.assertEq(got.participantId, participants.keyRecord(keys[i]).participantId);
            vm.assertEq(got.validFrom, participants.keyRecord(keys[i]).validFrom);
        }
    }

    /// @dev `keys` with the farm's key appended, so every run also reads a registered key.
    function _withKnownKey(address[] memory keys) internal view returns (address[] memory out) {
        out = new address[](keys.length + 1);
        for (uint256 i = 0; i < keys.length; ++i) {
            out[i] = keys[i];
        }
        out[keys.length] = farm;
    }
}
