// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IParticipantRegistry} from "../../src/interfaces/IParticipantRegistry.sol";
import {Identifiers} from "../../src/libraries/Identifiers.sol";
import {TraceNodeTest} from "../utils/TraceNodeTest.sol";
import {LicenceHandler} from "./LicenceHandler.sol";

/// @notice Licences never overlap at any block: whatever sequence of licences (some starting
/// later, some ending), revocations and blocks the handler drives, no two licences whose prefixes
/// nest (or are equal) are valid at the same block, and the registry grants exactly what the
/// rules predict.
contract LicenceInvariantsTest is TraceNodeTest {
    LicenceHandler internal handler;

    function setUp() public override {
        super.setUp();
        vm.startPrank(admin);
        participants.revoke(Identifiers.GS1, "0614141");
        participants.revoke(Identifiers.GS1, "0614142");
        vm.stopPrank();
        uint32[] memory holders = new uint32[](3);
        holders[0] = farmId;
        holders[1] = processorId;
        holders[2] = shopId;
        handler = new LicenceHandler(participants, admin, address(0), holders);

        bytes4[] memory selectors = new bytes4[](3);
        selectors[0] = LicenceHandler.license.selector;
        selectors[1] = LicenceHandler.revoke.selector;
        selectors[2] = LicenceHandler.roll.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @notice For every two prefixes the handler touched that nest, no licence of one is valid
    /// at a block where a licence of the other is.
    function invariant_licencesNeverOverlapAtAnyBlock() public view {
        uint256 count = handler.touchedCount();
        for (uint256 i; i < count; ++i) {
            (uint8 kind, string memory outer) = handler.touchedAt(i);
            IParticipantRegistry.Licence[] memory outerLicences = participants.licences(kind, outer);
            for (uint256 j; j < count; ++j) {
                (uint8 otherKind, string memory inner) = handler.touchedAt(j);
                if (otherKind != kind || !handler.contains(kind, outer, inner)) continue;
                IParticipantRegistry.Licence[] memory innerLicences = participants.licences(kind, inner);
                for (uint256 a; a < outerLicences.length; ++a) {
                    for (uint256 b; b < innerLicences.length; ++b) {
                        if (i == j && a == b) continue;
                        vm.assertTrue(
                            _disjoint(outerLicences[a], innerLicences[b]), "two nesting licences valid at one block"
                        );
                    }
                }
            }
        }
    }

    /// @notice The registry granted and refused exactly what the rules predict.
    function invariant_grantsMatchTheRules() public view {
        vm.assertEq(handler.mispredictions(), 0, "a licence was granted or refused against the rules");
    }

    function _disjoint(IParticipantRegistry.Licence memory x, IParticipantRegistry.Licence memory y)
        internal
        pure
        returns (bool)
    {
        if (_empty(x) || _empty(y)) return true;
        return (x.validUntil != 0 && x.validUntil <= y.validFrom) || (y.validUntil != 0 && y.validUntil <= x.validFrom);
    }

    function _empty(IParticipantRegistry.Licence memory licence) internal pure returns (bool) {
        return licence.validUntil != 0 && licence.validUntil <= licence.validFrom;
    }
}
