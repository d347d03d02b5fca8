// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IBatchRegistry} from "../src/interfaces/IBatchRegistry.sol";
import {IParticipantRegistry} from "../src/interfaces/IParticipantRegistry.sol";
import {Identifiers} from "../src/libraries/Identifiers.sol";
import {Roles} from "../src/libraries/Roles.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

/// @notice The identifier authority: ranges delegated to nodes, prefixes licensed to participants,
/// and BatchRegistry creating a batch only under a prefix its producer holds at that block.
/// @dev Setup: the root (admin) keeps GS1 range "0614" and handle range "88" for its own node and
/// delegates GS1 range "950" to a second node's registrar, which registers a brand owner with
/// GS1 company prefix 9506000. No node here may create batches of identifiers without a prefix.
contract LicencesTest is TraceNodeTest {
    uint8 internal constant GS1 = Identifiers.GS1;
    uint8 internal constant HANDLE = Identifiers.HANDLE;
    uint256 internal constant BRAND_PK = 0xB4A0D;
    uint256 internal constant MAKER_PK = 0x3A4E;
    address internal registrarB = address(0xB0DE);
    address internal stranger = address(0x5757);
    address internal brand;
    address internal maker;
    uint32 internal brandId;
    uint32 internal makerId;

    function setUp() public override {
        super.setUp();
        brand = vm.addr(BRAND_PK);
        maker = vm.addr(MAKER_PK);
        vm.startPrank(admin);
        participants.setOpenIdentifiers(admin, false);
        participants.withdraw(GS1, "");
        participants.withdraw(HANDLE, "");
        participants.delegate(admin, GS1, "0614");
        participants.delegate(admin, HANDLE, "88");
        participants.delegate(registrarB, GS1, "950");
        participants.grantRole(participants.REGISTRAR_ROLE(), registrarB);
        makerId = participants.register(maker, "Handle Makers", Roles.PRODUCER, "88.200");
        vm.stopPrank();
        vm.prank(registrarB);
        brandId = participants.register(brand, "Brand Owner", Roles.PRODUCER, "9506000");
    }

    // =====================================================================
    // COMMISSION under a licence
    // =====================================================================

    function test_commission_AcceptsIdentifierUnderSignersGs1Prefix() public {
        bytes32 lot = _gs1("00614141000012", "L1", 7);

        _commission(FARM_PK, lot);

        vm.assertEq(batches.batch(lot).producer, farmId);
    }

    function test_RevertWhen_CommissionSquatsAnotherCompanysGtin() public {
        bytes32 lot = _gs1("09506000134352", "LOT-7", 7);

        _expectCommissionRevert(
            FARM_PK, lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, lot, farmId)
        );

        // The brand owner's own COMMISSION of the lot is not blocked.
        _commission(BRAND_PK, lot);
        vm.assertEq(batches.batch(lot).producer, brandId);
    }

    function test_RevertWhen_PrefixLengthNamesAnUnlicensedShorterPrefix() public {
        bytes32 lot = _gs1("00614141000012", "L1", 6);

        _expectCommissionRevert(
            FARM_PK, lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, lot, farmId)
        );
    }

    function test_RevertWhen_Gs1PrefixLengthOutOfRange() public {
        bytes32 short = _gs1("00614141000012", "L1", 3);
        bytes32 long = _gs1("00614141000012", "L2", 13);

        _expectInvalidProof(FARM_PK, short);
        _expectInvalidProof(FARM_PK, long);
    }

    function test_RevertWhen_Gs1GtinIsNotFourteenDigits() public {
        bytes32 letter = _known(bytes("https://id.gs1.org/01/0061414100001X/10/L1"), 7);
        bytes32 thirteen = _known(bytes("https://id.gs1.org/01/0061414100001/10/L1"), 7);
        bytes32 noSlash = _known(bytes("https://id.gs1.org/01/00614141000012"), 7);

        _expectInvalidProof(FARM_PK, letter);
        _expectInvalidProof(FARM_PK, thirteen);
        _expectInvalidProof(FARM_PK, noSlash);
    }

    function test_RevertWhen_IdentifierDoesNotHashToBatchId() public {
        bytes32 lot = keccak256("https://id.gs1.org/01/00614141000012/10/L1");
        preimages[lot] = bytes("https://id.gs1.org/01/00614141000012/10/L2");
        prefixLengths[lot] = 7;

        _expectInvalidProof(FARM_PK, lot);
    }

    function test_RevertWhen_CommissionCarriesNoProof() public {
        bytes32 lot = keccak256("https://id.gs1.org/01/00614141000012/10/L1");
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, lot));
        signed.identifiers = new IBatchRegistry.IdentifierProof[](0);

        vm.expectRevert(
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryMalformedEvent.selector, batches.hashEvent(signed.ev))
        );
        batches.submit(signed);
    }

    function test_RevertWhen_ShipCarriesAProof() public {
        bytes32 lot = _gs1("00614141000012", "L1", 7);
        _commission(FARM_PK, lot);
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _shipEvent(farm, lot, carrier));
        signed.identifiers = new IBatchRegistry.IdentifierProof[](1);
        signed.identifiers[0] = _proof(lot);

        vm.expectRevert(
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryMalformedEvent.selector, batches.hashEvent(signed.ev))
        );
        batches.submit(signed);
    }

    function test_commission_AcceptsHandleUnderPrefixFollowedBySlashOrDot() public {
        bytes32 plain = _known(bytes("88.200/lot-1"), 6);
        bytes32 deeper = _known(bytes("88.200.5/lot-1"), 6);

        _commission(MAKER_PK, plain);
        _commission(MAKER_PK, deeper);

        vm.assertEq(batches.batch(plain).producer, makerId);
        vm.assertEq(batches.batch(deeper).producer, makerId);
    }

    function test_RevertWhen_HandlePrefixEndsInsideADigitGroup() public {
        bytes32 inside = _known(bytes("88.2000/lot-1"), 6);
        bytes32 whole = _known(bytes("88.2000/lot-2"), 7);

        _expectInvalidProof(MAKER_PK, inside);
        _expectCommissionRevert(
            MAKER_PK,
            whole,
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, whole, makerId)
        );
    }

    function test_RevertWhen_OpenIdentifierWithoutPolicy() public {
        bytes32 lot = _known("urn:example:lot-1");

        _expectCommissionRevert(
            FARM_PK, lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryOpenIdentifierRefused.selector, lot)
        );
    }

    function test_commission_OpenIdentifierUnderPolicyIsLabelled() public {
        bytes32 lot = _known("urn:example:lot-1");
        vm.prank(admin);
        participants.setOpenIdentifiers(admin, true);

        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, lot));

        vm.expectEmit(address(batches));
        emit IBatchRegistry.BatchIdentifierOpen(lot);
        batches.submit(signed);

        vm.assertTrue(participants.openIdentifiers(farmId));
        vm.assertFalse(participants.openIdentifiers(brandId));
    }

    function test_RevertWhen_OpenPolicyOfAnotherNode() public {
        bytes32 lot = _known("urn:example:lot-1");
        vm.prank(admin);
        participants.setOpenIdentifiers(admin, true);

        _expectCommissionRevert(
            BRAND_PK, lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryOpenIdentifierRefused.selector, lot)
        );
    }

    function test_RevertWhen_OpenIdentifierGivesAPrefix() public {
        bytes32 lot = _known(bytes("urn:example:lot-1"), 3);
        vm.prank(admin);
        participants.setOpenIdentifiers(admin, true);

        _expectInvalidProof(FARM_PK, lot);
    }

    function test_RevertWhen_LicenceNotYetValid() public {
        uint48 from = uint48(block.number + 10);
        vm.prank(admin);
        participants.license(farmId, GS1, "0614143", from, 0);
        bytes32 lot = _gs1("00614143000010", "L1", 7);

        _expectCommissionRevert(
            FARM_PK,
            lot,
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryLicenceNotValid.selector, lot, from, uint48(0))
        );

        vm.roll(from);
        _commission(FARM_PK, lot);
        vm.assertEq(batches.batch(lot).producer, farmId);
    }

    function test_RevertWhen_LicenceRevoked() public {
        bytes32 lot = _gs1("00614141000012", "L1", 7);
        vm.roll(block.number + 5);
        vm.prank(admin);
        participants.revoke(GS1, "0614141");

        _expectCommissionRevert(
            FARM_PK,
            lot,
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryLicenceNotValid.selector, lot, uint48(1), uint48(block.number)
            )
        );
    }

    function test_RevertWhen_LicenceExpired() public {
        uint48 from = uint48(block.number);
        vm.prank(admin);
        participants.license(farmId, GS1, "0614143", 0, from + 3);
        bytes32 lot = _gs1("00614143000010", "L1", 7);

        vm.roll(from + 3);
        _expectCommissionRevert(
            FARM_PK,
            lot,
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryLicenceNotValid.selector, lot, from, from + 3)
        );
    }

    function test_commission_ByNewHolderAfterPrefixChangesHands() public {
        bytes32 lot = _gs1("00614141000012", "L1", 7);
        vm.startPrank(admin);
        participants.revoke(GS1, "0614141");
        participants.license(processorId, GS1, "0614141", 0, 0);
        participants.setRoles(processorId, Roles.PROCESSOR | Roles.PRODUCER);
        vm.stopPrank();

        _expectCommissionRevert(
            FARM_PK, lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, lot, farmId)
        );
        _commission(PROCESSOR_PK, lot);
        vm.assertEq(batches.batch(lot).producer, processorId);
    }

    // =====================================================================
    // TRANSFORM outputs
    // =====================================================================

    function test_transform_OutputsNeedTheTransformersLicence() public {
        bytes32 milk = _gs1("00614141000012", "MILK", 7);
        bytes32 cheese = _gs1("00614142000011", "CHEESE", 7);
        bytes32 squat = _gs1("00614141000029", "CHEESE", 7);
        _commission(FARM_PK, milk);
        _ship(FARM_PK, milk, processor);
        _receive(PROCESSOR_PK, milk);
        IBatchRegistry.SignedEvent memory squatting =
            _sign(PROCESSOR_PK, _transformEvent(processor, _single(milk), _pair(cheese, squat)));

        vm.expectRevert(
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, squat, processorId)
        );
        batches.submit(squatting);

        _submit(PROCESSOR_PK, _transformEvent(processor, _single(milk), _single(cheese)));
        vm.assertEq(batches.batch(cheese).producer, processorId);
    }

    function test_RevertWhen_TransformProofCountDiffersFromOutputs() public {
        bytes32 milk = _gs1("00614141000012", "MILK", 7);
        bytes32 cheese = _gs1("00614142000011", "CHEESE", 7);
        _commission(FARM_PK, milk);
        _ship(FARM_PK, milk, processor);
        _receive(PROCESSOR_PK, milk);
        IBatchRegistry.SignedEvent memory signed =
            _sign(PROCESSOR_PK, _transformEvent(processor, _single(milk), _single(cheese)));
        signed.identifiers = new IBatchRegistry.IdentifierProof[](0);

        vm.expectRevert(
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryMalformedEvent.selector, batches.hashEvent(signed.ev))
        );
        batches.submit(signed);
    }

    // =====================================================================
    // licences: syntax, overlap, ranges, history
    // =====================================================================

    function test_RevertWhen_LicenceGs1PrefixMalformed() public {
        _expectInvalidPrefix(GS1, "061");
        _expectInvalidPrefix(GS1, "0614a43");
        _expectInvalidPrefix(GS1, "0614000000000");
        _expectInvalidPrefix(GS1, "");
        _expectInvalidPrefix(7, "0614143");
    }

    function test_RevertWhen_LicenceHandlePrefixMalformed() public {
        _expectInvalidPrefix(HANDLE, "");
        _expectInvalidPrefix(HANDLE, ".88");
        _expectInvalidPrefix(HANDLE, "88.");
        _expectInvalidPrefix(HANDLE, "88..1");
        _expectInvalidPrefix(HANDLE, "88.1a");
        _expectInvalidPrefix(HANDLE, "88/1");
    }

    function test_RevertWhen_LicenceOverlapsHeldLicence() public {
        _expectOverlap(GS1, "0614141");
        _expectOverlap(GS1, "06141");
        _expectOverlap(GS1, "06141410");
        _expectOverlap(HANDLE, "88.200");
        _expectOverlap(HANDLE, "88.200.1");
    }

    function test_license_AllowsSiblingsAndGroupPrefixesThatDoNotNest() public {
        vm.startPrank(admin);
        participants.license(farmId, GS1, "0614143", 0, 0);
        participants.license(farmId, HANDLE, "88.20", 0, 0);
        participants.license(farmId, HANDLE, "88.2001", 0, 0);
        vm.stopPrank();

        vm.assertEq(participants.prefixOwner("0614143"), farmId);
        vm.assertEq(participants.prefixOwner("88.20"), farmId);
        vm.assertEq(participants.prefixOwner("88.200"), makerId);
    }

    function test_license_EmitsPrefixLicensedAndRecordsHistory() public {
        vm.expectEmit(address(participants));
        emit IParticipantRegistry.PrefixLicensed(GS1, "0614143", farmId, uint48(block.number), 0);
        vm.prank(admin);
        participants.license(farmId, GS1, "0614143", 0, 0);

        IParticipantRegistry.Licence[] memory history = participants.licences(GS1, "0614143");
        vm.assertEq(history.length, 1);
        vm.assertEq(history[0].holder, farmId);
        vm.assertTrue(history[0].held);
    }

    function test_RevertWhen_LicenceOutsideRegistrarsRange() public {
        vm.prank(registrarB);
        uint32 other = participants.register(address(0x0123), "Other", Roles.PRODUCER, "");

        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryOutsideRange.selector, registrarB, GS1, "0614999"
            )
        );
        vm.prank(registrarB);
        participants.license(other, GS1, "0614999", 0, 0);
    }

    function test_RevertWhen_RegistrationPrefixOutsideRange() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryOutsideRange.selector, registrarB, GS1, "4000001"
            )
        );
        vm.prank(registrarB);
        participants.register(address(0x0123), "Other", Roles.PRODUCER, "4000001");
    }

    function test_RevertWhen_LicenceForAnotherNodesParticipant() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryForeignParticipant.selector, farmId, registrarB
            )
        );
        vm.prank(registrarB);
        participants.license(farmId, GS1, "9507000", 0, 0);
    }

    function test_RevertWhen_LicenceValidityInvalid() public {
        vm.roll(100);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidValidity.selector, 99, 0));
        participants.license(farmId, GS1, "0614143", 99, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidValidity.selector, 100, 100)
        );
        participants.license(farmId, GS1, "0614143", 0, 100);
        vm.stopPrank();
    }

    function test_RevertWhen_LicenseCallerIsNotRegistrar() public {
        bytes32 role = participants.REGISTRAR_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, role)
        );
        vm.prank(stranger);
        participants.license(farmId, GS1, "0614143", 0, 0);
    }

    function test_revoke_ByGrantingRegistrarFreesThePrefix() public {
        vm.roll(7);
        vm.expectEmit(address(participants));
        emit IParticipantRegistry.PrefixRevoked(GS1, "9506000", brandId, 7);
        vm.prank(registrarB);
        participants.revoke(GS1, "9506000");

        vm.assertEq(participants.prefixOwner("9506000"), 0);
        vm.prank(registrarB);
        participants.license(brandId, GS1, "95060", 0, 0);
        vm.assertEq(participants.prefixOwner("95060"), brandId);
    }

    function test_RevertWhen_RevokeByOtherRegistrarOrStranger() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnauthorizedRevocation.selector, registrarB)
        );
        vm.prank(registrarB);
        participants.revoke(GS1, "0614141");
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnauthorizedRevocation.selector, stranger)
        );
        vm.prank(stranger);
        participants.revoke(GS1, "9506000");
    }

    function test_RevertWhen_RevokeWithoutHeldLicence() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryNotLicensed.selector, GS1, "0614143")
        );
        vm.prank(admin);
        participants.revoke(GS1, "0614143");
    }

    function test_licenceAt_NamesTheHolderOfEachBlock() public {
        vm.roll(10);
        vm.startPrank(admin);
        participants.revoke(GS1, "0614141");
        participants.license(processorId, GS1, "0614141", 12, 0);
        vm.stopPrank();

        vm.assertEq(participants.licenceAt(GS1, "0614141", 9).holder, farmId);
        vm.assertEq(participants.licenceAt(GS1, "0614141", 10).holder, 0);
        vm.assertEq(participants.licenceAt(GS1, "0614141", 11).holder, 0);
        vm.assertEq(participants.licenceAt(GS1, "0614141", 12).holder, processorId);
        vm.assertEq(participants.licences(GS1, "0614141").length, 2);
    }

    // ----- ranges -----

    function test_RevertWhen_RangeOverlapsDelegatedRange() public {
        _expectRangeOverlap(GS1, "95");
        _expectRangeOverlap(GS1, "950");
        _expectRangeOverlap(GS1, "9506");
        _expectRangeOverlap(GS1, "");
        _expectRangeOverlap(HANDLE, "88.1");

        vm.prank(admin);
        participants.delegate(registrarB, GS1, "951");
        vm.assertEq(participants.rangeHolder(GS1, "951"), registrarB);
    }

    function test_RevertWhen_DelegateCallerIsNotRoot() public {
        bytes32 role = participants.DEFAULT_ADMIN_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, registrarB, role)
        );
        vm.prank(registrarB);
        participants.delegate(registrarB, GS1, "951");
    }

    function test_RevertWhen_RangeMalformed() public {
        vm.startPrank(admin);
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidPrefix.selector, GS1, "9a")
        );
        participants.delegate(registrarB, GS1, "9a");
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryZeroAddress.selector));
        participants.delegate(address(0), GS1, "951");
        vm.stopPrank();
    }

    function test_withdraw_KeepsLicencesButStopsNewOnes() public {
        vm.prank(admin);
        participants.withdraw(GS1, "950");

        vm.assertEq(participants.prefixOwner("9506000"), brandId);
        vm.assertEq(participants.rangeHolder(GS1, "950"), address(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryOutsideRange.selector, registrarB, GS1, "9507000"
            )
        );
        vm.prank(registrarB);
        participants.license(brandId, GS1, "9507000", 0, 0);
    }

    function test_RevertWhen_WithdrawRangeNotDelegated() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryNotDelegated.selector, GS1, "951")
        );
        vm.prank(admin);
        participants.withdraw(GS1, "951");
    }

    // =====================================================================
    // fuzz
    // =====================================================================

    /// @dev Two GS1 prefixes over a two-digit alphabet (so that they often nest): the second
    /// licence is granted exactly when neither is a prefix of the other.
    function testFuzz_license_SecondSucceedsIffPrefixesDoNotNest(uint256 a, uint256 b) public {
        string memory first = _binaryPrefix("0614", a);
        string memory second = _binaryPrefix("0614", b);
        vm.startPrank(admin);
        participants.revoke(GS1, "0614141");
        participants.revoke(GS1, "0614142");
        participants.license(farmId, GS1, first, 0, 0);
        bool nest = _startsWith(first, second) || _startsWith(second, first);

        if (nest) {
            vm.expectRevert(
                abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryPrefixOverlap.selector, GS1, second)
            );
        }
        participants.license(processorId, GS1, second, 0, 0);
        vm.stopPrank();

        vm.assertEq(participants.prefixOwner(second), nest ? (_eq(first, second) ? farmId : 0) : processorId);
    }

    /// @dev A lot under a random GTIN of the farm's range: only the holder of the GTIN's company
    /// prefix creates it, whatever prefix length the relayer claims.
    function testFuzz_commission_OnlyTheHolderOfTheGtinsPrefix(uint256 itemRef, uint8 claimed, bool byFarm) public {
        string memory gtin = string.concat("0", byFarm ? "0614141" : "9506000", _digits(itemRef, 6));
        uint8 prefixLength = uint8(bound(claimed, 4, 12));
        bytes32 lot = _gs1(gtin, "L", prefixLength);
        uint256 pk = byFarm ? BRAND_PK : FARM_PK;
        uint32 signerId = byFarm ? brandId : farmId;

        _expectCommissionRevert(
            pk, lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, lot, signerId)
        );

        if (prefixLength == 7) {
            _commission(byFarm ? FARM_PK : BRAND_PK, lot);
            vm.assertEq(batches.batch(lot).producer, byFarm ? farmId : brandId);
        }
    }

    // ----- helpers -----

    function _gs1(string memory gtin, string memory lot, uint8 prefixLength) internal returns (bytes32) {
        return _known(bytes(string.concat("https://id.gs1.org/01/", gtin, "/10/", lot)), prefixLength);
    }

    function _expectInvalidProof(uint256 pk, bytes32 batchId) internal {
        _expectCommissionRevert(
            pk, batchId, abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidIdentifierProof.selector, batchId)
        );
    }

    /// @dev Signs the COMMISSION of `batchId` by `pk` first, so that `reason` applies to the submission.
    function _expectCommissionRevert(uint256 pk, bytes32 batchId, bytes memory reason) internal {
        IBatchRegistry.SignedEvent memory signed = _sign(pk, _commissionEvent(vm.addr(pk), batchId));
        vm.expectRevert(reason);
        batches.submit(signed);
    }

    function _expectInvalidPrefix(uint8 kind, string memory prefix) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidPrefix.selector, kind, prefix)
        );
        vm.prank(admin);
        participants.license(farmId, kind, prefix, 0, 0);
    }

    function _expectOverlap(uint8 kind, string memory prefix) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryPrefixOverlap.selector, kind, prefix)
        );
        vm.prank(admin);
        participants.license(farmId, kind, prefix, 0, 0);
    }

    function _expectRangeOverlap(uint8 kind, string memory prefix) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryRangeOverlap.selector, kind, prefix)
        );
        vm.prank(admin);
        participants.delegate(registrarB, kind, prefix);
    }

    /// @dev `head` followed by 0 to 8 digits 0/1 chosen by `seed`.
    function _binaryPrefix(string memory head, uint256 seed) internal pure returns (string memory) {
        uint256 length = seed % 9;
        bytes memory tail = new bytes(length);
        for (uint256 i; i < length; ++i) {
            tail[i] = (seed >> (8 + i)) & 1 == 1 ? bytes1("1") : bytes1("0");
        }
        return string.concat(head, string(tail));
    }

    function _digits(uint256 value, uint256 count) internal pure returns (string memory) {
        bytes memory out = new bytes(count);
        for (uint256 i = count; i > 0; --i) {
            out[i - 1] = bytes1(uint8(48 + value % 10));
            value /= 10;
        }
        return string(out);
    }

    function _startsWith(string memory whole, string memory start) internal pure returns (bool) {
        bytes memory w = bytes(whole);
        bytes memory s = bytes(start);
        if (s.length > w.length) return false;
        for (uint256 i; i < s.length; ++i) {
            if (w[i] != s[i]) return false;
        }
        return true;
    }

    function _eq(string memory a, string memory b) internal pure returns (bool) {
        return keccak256(bytes(a)) == keccak256(bytes(b));
    }
}
