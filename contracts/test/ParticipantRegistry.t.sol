// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ParticipantRegistry} from "../src/ParticipantRegistry.sol";
import {IParticipantRegistry} from "../src/interfaces/IParticipantRegistry.sol";
import {Identifiers} from "../src/libraries/Identifiers.sol";
import {Roles} from "../src/libraries/Roles.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

contract ParticipantRegistryTest is TraceNodeTest {
    address internal newcomer = address(0xC0FFEE);
    address internal freshKey = address(0xBEEF);
    address internal stranger = address(0x5757);

    // ----- constructor -----

    function test_constructor_GrantsAdminAndRegistrarRoles() public {
        ParticipantRegistry registry = new ParticipantRegistry(admin);

        vm.assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin));
        vm.assertTrue(registry.hasRole(registry.REGISTRAR_ROLE(), admin));
        vm.assertEq(registry.participantCount(), 0);
    }

    function test_RevertWhen_ConstructorAdminIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryZeroAddress.selector));
        new ParticipantRegistry(address(0));
    }

    // ----- register -----

    function test_register_AssignsSequentialIds() public {
        vm.startPrank(admin);
        uint32 seventh = participants.register(newcomer, "Seventh", Roles.PRODUCER, "");
        uint32 eighth = participants.register(freshKey, "Eighth", Roles.RETAILER, "");
        vm.stopPrank();

        vm.assertEq(farmId, 1);
        vm.assertEq(processorId, 2);
        vm.assertEq(carrierId, 3);
        vm.assertEq(shopId, 4);
        vm.assertEq(auditorId, 5);
        vm.assertEq(regulatorId, 6);
        vm.assertEq(seventh, 7);
        vm.assertEq(eighth, 8);
        vm.assertEq(participants.participantCount(), 8);
    }

    function test_register_StoresParticipant() public {
        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER | Roles.LOGISTICS, "0614199");

        IParticipantRegistry.Participant memory stored = participants.participant(id);
        vm.assertEq(stored.id, id);
        vm.assertEq(stored.key, newcomer);
        vm.assertEq(stored.roles, Roles.PRODUCER | Roles.LOGISTICS);
        vm.assertTrue(stored.active);
        vm.assertEq(stored.name, "Harbour Fisheries");
        vm.assertEq(stored.prefix, "0614199");
    }

    function test_register_StoresKeyRecord() public {
        vm.roll(10);

        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "");

        IParticipantRegistry.KeyRecord memory record = participants.keyRecord(newcomer);
        vm.assertEq(record.participantId, id);
        vm.assertEq(record.validFrom, 10);
        vm.assertEq(record.validUntil, 0);
    }

    function test_register_AuthorizesKey() public {
        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PROCESSOR, "");

        (uint32 authorizedId, uint8 roles, bool active) = participants.authorize(newcomer);
        vm.assertEq(authorizedId, id);
        vm.assertEq(roles, Roles.PROCESSOR);
        vm.assertTrue(active);
    }

    function test_register_EmitsParticipantRegistered() public {
        vm.expectEmit(address(participants));
        emit IParticipantRegistry.ParticipantRegistered(7, newcomer, Roles.AUDITOR, "Harbour Fisheries", "0614199");

        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", Roles.AUDITOR, "0614199");
    }

    function test_register_ClaimsPrefix() public {
        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "0614199");

        vm.assertEq(participants.prefixOwner("0614199"), id);
        vm.assertEq(participants.prefixOwner("0614141"), farmId);
        vm.assertEq(participants.prefixOwner("88.123.45"), shopId);
        vm.assertEq(participants.prefixOwner("0614"), 0);
    }

    function test_register_AllowsEmptyPrefixWithoutOwningIt() public {
        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "");

        vm.assertEq(participants.participant(id).prefix, "");
        vm.assertEq(participants.participant(carrierId).prefix, "");
        vm.assertEq(participants.prefixOwner(""), 0);
    }

    function test_register_AcceptsOneByteName() public {
        vm.prank(admin);
        uint32 id = participants.register(newcomer, "X", Roles.PRODUCER, "");

        vm.assertEq(participants.participant(id).name, "X");
    }

    function test_register_AcceptsNameOf64Bytes() public {
        string memory name = _repeat("n", 64);

        vm.prank(admin);
        uint32 id = participants.register(newcomer, name, Roles.PRODUCER, "");

        vm.assertEq(participants.participant(id).name, name);
    }

    function test_register_AcceptsPrefixOf64Bytes() public {
        string memory prefix = _handleOf(64);

        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, prefix);

        vm.assertEq(participants.participant(id).prefix, prefix);
        vm.assertEq(participants.prefixOwner(prefix), id);
    }

    function test_register_ByGrantedRegistrar() public {
        bytes32 registrarRole = participants.REGISTRAR_ROLE();
        vm.prank(admin);
        participants.grantRole(registrarRole, stranger);

        vm.prank(stranger);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "");

        vm.assertEq(id, 7);
    }

    function test_RevertWhen_RegisterCallerIsNotRegistrar() public {
        bytes32 registrarRole = participants.REGISTRAR_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, registrarRole)
        );
        vm.prank(stranger);
        participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "");
    }

    function test_RevertWhen_RegisterCallerIsParticipant() public {
        bytes32 registrarRole = participants.REGISTRAR_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, farm, registrarRole)
        );
        vm.prank(farm);
        participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "");
    }

    function test_RevertWhen_NameIsEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidName.selector, 0));
        vm.prank(admin);
        participants.register(newcomer, "", Roles.PRODUCER, "");
    }

    function test_RevertWhen_NameIs65Bytes() public {
        string memory name = _repeat("n", 65);

        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidName.selector, 65));
        vm.prank(admin);
        participants.register(newcomer, name, Roles.PRODUCER, "");
    }

    function test_RevertWhen_PrefixIs65Bytes() public {
        string memory prefix = _handleOf(65);

        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryInvalidPrefix.selector, Identifiers.HANDLE, prefix
            )
        );
        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, prefix);
    }

    function test_RevertWhen_PrefixTaken() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryPrefixOverlap.selector, Identifiers.GS1, "0614141"
            )
        );
        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "0614141");
    }

    function test_RevertWhen_RegisterRolesEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidRoles.selector, 0));
        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", 0, "");
    }

    function test_RevertWhen_RegisterRolesHaveBit64() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidRoles.selector, 64));
        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", 64, "");
    }

    function test_RevertWhen_RegisterRolesHaveUnknownBitBesideValidOnes() public {
        uint8 roles = Roles.PRODUCER | 128;

        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidRoles.selector, roles));
        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", roles, "");
    }

    function test_RevertWhen_RegisterKeyIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryZeroAddress.selector));
        vm.prank(admin);
        participants.register(address(0), "Harbour Fisheries", Roles.PRODUCER, "");
    }

    function test_RevertWhen_RegisterKeyInUse() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryKeyInUse.selector, farm));
        vm.prank(admin);
        participants.register(farm, "Harbour Fisheries", Roles.PRODUCER, "");
    }

    function test_RevertWhen_RegisterKeyWasRotatedOut() public {
        vm.prank(admin);
        participants.rotateKey(farmId, freshKey);

        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryKeyInUse.selector, farm));
        vm.prank(admin);
        participants.register(farm, "Green Valley Farm Again", Roles.PRODUCER, "");
    }

    // ----- setRoles -----

    function test_setRoles_ReplacesRoles() public {
        vm.prank(admin);
        participants.setRoles(farmId, Roles.PROCESSOR | Roles.LOGISTICS);

        vm.assertEq(participants.participant(farmId).roles, Roles.PROCESSOR | Roles.LOGISTICS);
        (uint32 id, uint8 roles, bool active) = participants.authorize(farm);
        vm.assertEq(id, farmId);
        vm.assertEq(roles, Roles.PROCESSOR | Roles.LOGISTICS);
        vm.assertTrue(active);
    }

    function test_setRoles_KeepsSuspension() public {
        vm.startPrank(admin);
        participants.suspend(farmId);
        participants.setRoles(farmId, Roles.ALL);
        vm.stopPrank();

        (uint8 roles, bool active) = participants.statusAt(farmId, uint48(block.number));
        vm.assertEq(roles, Roles.ALL);
        vm.assertFalse(active);
        vm.assertFalse(participants.participant(farmId).active);
    }

    function test_setRoles_EmitsParticipantRolesChanged() public {
        vm.expectEmit(address(participants));
        emit IParticipantRegistry.ParticipantRolesChanged(farmId, Roles.ALL);

        vm.prank(admin);
        participants.setRoles(farmId, Roles.ALL);
    }

    function test_RevertWhen_SetRolesCallerIsNotRegistrar() public {
        bytes32 registrarRole = participants.REGISTRAR_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, farm, registrarRole)
        );
        vm.prank(farm);
        participants.setRoles(farmId, Roles.ALL);
    }

    function test_RevertWhen_SetRolesForUnknownParticipant() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownParticipant.selector, uint32(7))
        );
        vm.prank(admin);
        participants.setRoles(7, Roles.PRODUCER);
    }

    function test_RevertWhen_SetRolesEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidRoles.selector, 0));
        vm.prank(admin);
        participants.setRoles(farmId, 0);
    }

    function test_RevertWhen_SetRolesHaveBit64() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidRoles.selector, 64));
        vm.prank(admin);
        participants.setRoles(farmId, 64);
    }

    // ----- suspend / reactivate -----

    function test_suspend_DeactivatesParticipant() public {
        vm.prank(admin);
        participants.suspend(farmId);

        IParticipantRegistry.Participant memory stored = participants.participant(farmId);
        vm.assertFalse(stored.active);
        vm.assertEq(stored.roles, Roles.PRODUCER);
        (uint32 id, uint8 roles, bool active) = participants.authorize(farm);
        vm.assertEq(id, farmId);
        vm.assertEq(roles, Roles.PRODUCER);
        vm.assertFalse(active);
    }

    function test_suspend_EmitsParticipantSuspended() public {
        vm.expectEmit(address(participants));
        emit IParticipantRegistry.ParticipantSuspended(farmId);

        vm.prank(admin);
        participants.suspend(farmId);
    }

    function test_RevertWhen_AlreadySuspended() public {
        vm.prank(admin);
        participants.suspend(farmId);

        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryAlreadySuspended.selector, farmId)
        );
        vm.prank(admin);
        participants.suspend(farmId);
    }

    function test_RevertWhen_SuspendUnknownParticipant() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownParticipant.selector, uint32(0))
        );
        vm.prank(admin);
        participants.suspend(0);
    }

    function test_RevertWhen_SuspendCallerIsNotRegistrar() public {
        bytes32 registrarRole = participants.REGISTRAR_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, regulator, registrarRole)
        );
        vm.prank(regulator);
        participants.suspend(farmId);
    }

    function test_reactivate_ActivatesParticipant() public {
        vm.prank(admin);
        participants.suspend(farmId);

        vm.prank(admin);
        participants.reactivate(farmId);

        vm.assertTrue(participants.participant(farmId).active);
        (uint32 id, uint8 roles, bool active) = participants.authorize(farm);
        vm.assertEq(id, farmId);
        vm.assertEq(roles, Roles.PRODUCER);
        vm.assertTrue(active);
    }

    function test_reactivate_EmitsParticipantReactivated() public {
        vm.prank(admin);
        participants.suspend(farmId);

        vm.expectEmit(address(participants));
        emit IParticipantRegistry.ParticipantReactivated(farmId);
        vm.prank(admin);
        participants.reactivate(farmId);
    }

    function test_RevertWhen_ReactivateActiveParticipant() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryNotSuspended.selector, farmId));
        vm.prank(admin);
        participants.reactivate(farmId);
    }

    function test_RevertWhen_ReactivateUnknownParticipant() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownParticipant.selector, uint32(99))
        );
        vm.prank(admin);
        participants.reactivate(99);
    }

    function test_RevertWhen_ReactivateCallerIsNotRegistrar() public {
        bytes32 registrarRole = participants.REGISTRAR_ROLE();
        vm.prank(admin);
        participants.suspend(farmId);

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, farm, registrarRole)
        );
        vm.prank(farm);
        participants.reactivate(farmId);
    }

    // ----- rotateKey -----

    function test_rotateKey_ByRegistrar() public {
        vm.roll(50);

        vm.prank(admin);
        participants.rotateKey(farmId, freshKey);

        vm.assertEq(participants.participant(farmId).key, freshKey);
        IParticipantRegistry.KeyRecord memory oldRecord = participants.keyRecord(farm);
        vm.assertEq(oldRecord.participantId, farmId);
        vm.assertEq(oldRecord.validFrom, 1);
        vm.assertEq(oldRecord.validUntil, 50);
        IParticipantRegistry.KeyRecord memory newRecord = participants.keyRecord(freshKey);
        vm.assertEq(newRecord.participantId, farmId);
        vm.assertEq(newRecord.validFrom, 50);
        vm.assertEq(newRecord.validUntil, 0);
    }

    function test_rotateKey_ByCurrentKey() public {
        vm.prank(farm);
        participants.rotateKey(farmId, freshKey);

        vm.assertEq(participants.participant(farmId).key, freshKey);
        vm.assertEq(participants.keyRecord(freshKey).participantId, farmId);
    }

    function test_RevertWhen_SuspendedParticipantRotatesItsOwnKey() public {
        vm.prank(admin);
        participants.suspend(farmId);

        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnauthorizedRotation.selector, farmId, farm)
        );
        vm.prank(farm);
        participants.rotateKey(farmId, freshKey);
    }

    function test_rotateKey_ByRegistrarWhileSuspended() public {
        vm.prank(admin);
        participants.suspend(farmId);

        vm.prank(admin);
        participants.rotateKey(farmId, freshKey);

        vm.assertEq(participants.participant(farmId).key, freshKey);
        vm.assertFalse(participants.participant(farmId).active);
    }

    function test_rotateKey_ByNewKeyAfterRotation() public {
        address thirdKey = address(0x7417D);
        vm.prank(farm);
        participants.rotateKey(farmId, freshKey);

        vm.prank(freshKey);
        participants.rotateKey(farmId, thirdKey);

        vm.assertEq(participants.participant(farmId).key, thirdKey);
        vm.assertEq(participants.keyRecord(freshKey).validUntil, block.number);
    }

    function test_rotateKey_MovesAuthorizationToNewKey() public {
        vm.prank(admin);
        participants.setRoles(farmId, Roles.PRODUCER | Roles.PROCESSOR);

        vm.prank(admin);
        participants.rotateKey(farmId, freshKey);

        (uint32 oldId, uint8 oldRoles, bool oldActive) = participants.authorize(farm);
        vm.assertEq(oldId, 0);
        vm.assertEq(oldRoles, 0);
        vm.assertFalse(oldActive);
        (uint32 newId, uint8 newRoles, bool newActive) = participants.authorize(freshKey);
        vm.assertEq(newId, farmId);
        vm.assertEq(newRoles, Roles.PRODUCER | Roles.PROCESSOR);
        vm.assertTrue(newActive);
    }

    function test_rotateKey_KeepsIdRolesAndSuspension() public {
        vm.prank(admin);
        participants.suspend(farmId);

        vm.prank(admin);
        participants.rotateKey(farmId, freshKey);

        IParticipantRegistry.Participant memory stored = participants.participant(farmId);
        vm.assertEq(stored.id, farmId);
        vm.assertEq(stored.roles, Roles.PRODUCER);
        vm.assertFalse(stored.active);
        vm.assertEq(stored.name, "Green Valley Farm");
        vm.assertEq(stored.prefix, "0614141");
        vm.assertEq(participants.participantCount(), 6);
    }

    function test_rotateKey_EmitsKeyRotated() public {
        vm.expectEmit(address(participants));
        emit IParticipantRegistry.KeyRotated(farmId, farm, freshKey);

        vm.prank(farm);
        participants.rotateKey(farmId, freshKey);
    }

    function test_RevertWhen_RotationByOldKey() public {
        vm.prank(farm);
        participants.rotateKey(farmId, freshKey);

        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnauthorizedRotation.selector, farmId, farm)
        );
        vm.prank(farm);
        participants.rotateKey(farmId, address(0x7417D));
    }

    function test_RevertWhen_RotationByStranger() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryUnauthorizedRotation.selector, farmId, stranger
            )
        );
        vm.prank(stranger);
        participants.rotateKey(farmId, freshKey);
    }

    function test_RevertWhen_RotationByAnotherParticipant() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryUnauthorizedRotation.selector, farmId, processor
            )
        );
        vm.prank(processor);
        participants.rotateKey(farmId, freshKey);
    }

    function test_RevertWhen_RotationToZeroKey() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryZeroAddress.selector));
        vm.prank(farm);
        participants.rotateKey(farmId, address(0));
    }

    function test_RevertWhen_RotationToAnotherParticipantsKey() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryKeyInUse.selector, processor));
        vm.prank(admin);
        participants.rotateKey(farmId, processor);
    }

    function test_RevertWhen_RotationToCurrentKey() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryKeyInUse.selector, farm));
        vm.prank(farm);
        participants.rotateKey(farmId, farm);
    }

    function test_RevertWhen_RotationBackToRotatedOutKey() public {
        vm.prank(farm);
        participants.rotateKey(farmId, freshKey);

        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryKeyInUse.selector, farm));
        vm.prank(freshKey);
        participants.rotateKey(farmId, farm);
    }

    function test_RevertWhen_RotationOfUnknownParticipant() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownParticipant.selector, uint32(7))
        );
        vm.prank(admin);
        participants.rotateKey(7, freshKey);
    }

    // ----- views -----

    function test_RevertWhen_ParticipantIdIsZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownParticipant.selector, uint32(0))
        );
        participants.participant(0);
    }

    function test_RevertWhen_ParticipantIdIsPastCount() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownParticipant.selector, uint32(7))
        );
        participants.participant(7);
    }

    function test_keyRecord_IsZeroForUnknownKey() public view {
        IParticipantRegistry.KeyRecord memory record = participants.keyRecord(stranger);

        vm.assertEq(record.participantId, 0);
        vm.assertEq(record.validFrom, 0);
        vm.assertEq(record.validUntil, 0);
    }

    function test_authorize_IsZeroForUnknownKey() public view {
        (uint32 id, uint8 roles, bool active) = participants.authorize(stranger);

        vm.assertEq(id, 0);
        vm.assertEq(roles, 0);
        vm.assertFalse(active);
    }

    function test_statusAt_IsZeroForUnknownParticipant() public view {
        (uint8 roles, bool active) = participants.statusAt(99, uint48(block.number));

        vm.assertEq(roles, 0);
        vm.assertFalse(active);
    }

    function test_wasAuthorized_IsFalseForUnknownKey() public view {
        bool authorized = participants.wasAuthorized(stranger, Roles.PRODUCER, uint48(block.number));

        vm.assertFalse(authorized);
    }

    // ----- history -----
    //
    // One participant's life: registered at block 10 as PRODUCER, AUDITOR added at 20,
    // suspended at 30, reactivated at 40, key rotated at 50. Answers are "at the end of block N".

    address internal constant HISTORY_OLD_KEY = address(0x01D);
    address internal constant HISTORY_NEW_KEY = address(0x0E3);

    function _arrangeHistory() internal returns (uint32 id) {
        vm.startPrank(admin);
        vm.roll(10);
        id = participants.register(HISTORY_OLD_KEY, "Valley Co-op", Roles.PRODUCER, "4012345");
        vm.roll(20);
        participants.setRoles(id, Roles.PRODUCER | Roles.AUDITOR);
        vm.roll(30);
        participants.suspend(id);
        vm.roll(40);
        participants.reactivate(id);
        vm.roll(50);
        participants.rotateKey(id, HISTORY_NEW_KEY);
        vm.stopPrank();
        vm.roll(60);
    }

    function _historyBlocks() internal pure returns (uint48[10] memory) {
        return [uint48(9), 10, 19, 20, 29, 30, 39, 40, 49, 50];
    }

    function _assertWasAuthorized(address key, uint8 roles, bool[10] memory expected, string memory label)
        internal
        view
    {
        uint48[10] memory blocks = _historyBlocks();
        for (uint256 i; i < blocks.length; ++i) {
            vm.assertEq(
                participants.wasAuthorized(key, roles, blocks[i]),
                expected[i],
                string.concat(label, " at block ", vm.toString(blocks[i]))
            );
        }
    }

    function test_statusAt_FollowsHistory() public {
        uint32 id = _arrangeHistory();
        uint48[10] memory blocks = _historyBlocks();
        uint8 both = Roles.PRODUCER | Roles.AUDITOR;
        uint8[10] memory expectedRoles = [0, Roles.PRODUCER, Roles.PRODUCER, both, both, both, both, both, both, both];
        bool[10] memory expectedActive = [false, true, true, true, true, false, false, true, true, true];

        for (uint256 i; i < blocks.length; ++i) {
            (uint8 roles, bool active) = participants.statusAt(id, blocks[i]);

            string memory at = string.concat(" at block ", vm.toString(blocks[i]));
            vm.assertEq(roles, expectedRoles[i], string.concat("roles", at));
            vm.assertEq(active, expectedActive[i], string.concat("active", at));
        }
    }

    function test_wasAuthorized_OldKeyFollowsHistoryUntilRotation() public {
        _arrangeHistory();

        _assertWasAuthorized(
            HISTORY_OLD_KEY,
            Roles.PRODUCER,
            [false, true, true, true, true, false, false, true, true, false],
            "old key as PRODUCER"
        );
        _assertWasAuthorized(
            HISTORY_OLD_KEY,
            Roles.AUDITOR,
            [false, false, false, true, true, false, false, true, true, false],
            "old key as AUDITOR"
        );
    }

    function test_wasAuthorized_MultiRoleMaskRequiresEveryRole() public {
        _arrangeHistory();

        _assertWasAuthorized(
            HISTORY_OLD_KEY,
            Roles.PRODUCER | Roles.AUDITOR,
            [false, false, false, true, true, false, false, true, true, false],
            "old key as PRODUCER|AUDITOR"
        );
        _assertWasAuthorized(
            HISTORY_OLD_KEY,
            Roles.PRODUCER | Roles.PROCESSOR,
            [false, false, false, false, false, false, false, false, false, false],
            "old key as PRODUCER|PROCESSOR"
        );
        _assertWasAuthorized(
            HISTORY_NEW_KEY,
            Roles.PRODUCER | Roles.AUDITOR,
            [false, false, false, false, false, false, false, false, false, true],
            "new key as PRODUCER|AUDITOR"
        );
        _assertWasAuthorized(
            HISTORY_NEW_KEY,
            Roles.PRODUCER | Roles.AUDITOR | Roles.REGULATOR,
            [false, false, false, false, false, false, false, false, false, false],
            "new key as PRODUCER|AUDITOR|REGULATOR"
        );
    }

    function test_wasAuthorized_NewKeyValidFromRotationBlock() public {
        _arrangeHistory();

        _assertWasAuthorized(
            HISTORY_NEW_KEY,
            Roles.PRODUCER,
            [false, false, false, false, false, false, false, false, false, true],
            "new key as PRODUCER"
        );
        _assertWasAuthorized(
            HISTORY_NEW_KEY,
            Roles.AUDITOR,
            [false, false, false, false, false, false, false, false, false, true],
            "new key as AUDITOR"
        );
        vm.assertTrue(participants.wasAuthorized(HISTORY_NEW_KEY, Roles.PRODUCER, 60));
        vm.assertFalse(participants.wasAuthorized(HISTORY_OLD_KEY, Roles.PRODUCER, 60));
    }

    function test_wasAuthorized_EmptyMaskAsksForValidKeyOfActiveParticipant() public {
        _arrangeHistory();

        _assertWasAuthorized(
            HISTORY_OLD_KEY, 0, [false, true, true, true, true, false, false, true, true, false], "old key, no role"
        );
    }

    function test_wasAuthorized_KeyRotatedInItsRegistrationBlockIsNeverValid() public {
        vm.roll(10);
        vm.startPrank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "");
        participants.rotateKey(id, freshKey);
        vm.stopPrank();

        vm.roll(11);

        vm.assertFalse(participants.wasAuthorized(newcomer, Roles.PRODUCER, 9));
        vm.assertFalse(participants.wasAuthorized(newcomer, Roles.PRODUCER, 10));
        vm.assertFalse(participants.wasAuthorized(newcomer, Roles.PRODUCER, 11));
        vm.assertTrue(participants.wasAuthorized(freshKey, Roles.PRODUCER, 10));
    }

    function test_statusAt_ReportsLastChangeOfBlock() public {
        vm.roll(10);

        vm.startPrank(admin);
        participants.suspend(farmId);
        participants.setRoles(farmId, Roles.PROCESSOR);
        participants.reactivate(farmId);
        participants.suspend(farmId);
        vm.stopPrank();

        (uint8 roles, bool active) = participants.statusAt(farmId, 10);
        vm.assertEq(roles, Roles.PROCESSOR);
        vm.assertFalse(active);
        (roles, active) = participants.statusAt(farmId, 9);
        vm.assertEq(roles, Roles.PRODUCER);
        vm.assertTrue(active);
    }

    // ----- fuzz -----

    function testFuzz_register_AcceptsValidRoles(uint8 roles) public {
        roles = uint8(bound(roles, 1, Roles.ALL));

        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", roles, "");

        vm.assertEq(participants.participant(id).roles, roles);
        (, uint8 authorizedRoles,) = participants.authorize(newcomer);
        vm.assertEq(authorizedRoles, roles);
        (uint8 historicRoles,) = participants.statusAt(id, uint48(block.number));
        vm.assertEq(historicRoles, roles);
        vm.assertTrue(participants.wasAuthorized(newcomer, roles, uint48(block.number)));
    }

    function testFuzz_RevertWhen_RegisterRolesInvalid(uint8 roles) public {
        roles = uint8(bound(roles, Roles.ALL + 1, type(uint8).max));

        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidRoles.selector, roles));
        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", roles, "");
    }

    function testFuzz_setRoles_AcceptsValidRoles(uint8 roles) public {
        roles = uint8(bound(roles, 1, Roles.ALL));

        vm.prank(admin);
        participants.setRoles(farmId, roles);

        vm.assertEq(participants.participant(farmId).roles, roles);
        (uint8 historicRoles, bool active) = participants.statusAt(farmId, uint48(block.number));
        vm.assertEq(historicRoles, roles);
        vm.assertTrue(active);
    }

    function testFuzz_RevertWhen_SetRolesInvalid(uint8 roles) public {
        roles = uint8(bound(roles, Roles.ALL + 1, type(uint8).max));

        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidRoles.selector, roles));
        vm.prank(admin);
        participants.setRoles(farmId, roles);
    }

    function testFuzz_wasAuthorized_RequiresEveryRoleOfMask(uint8 held, uint8 asked) public {
        held = uint8(bound(held, 1, Roles.ALL));
        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", held, "");

        bool authorized = participants.wasAuthorized(newcomer, asked, uint48(block.number));

        vm.assertEq(authorized, held & asked == asked);
    }

    function testFuzz_register_StoresNameAndPrefixOfAnyAllowedLength(uint256 nameLength, uint256 prefixLength) public {
        nameLength = bound(nameLength, 1, 64);
        // Handle prefixes of 3 to 64 bytes ("8.8", "88.8", ...), or none.
        prefixLength = bound(prefixLength, 2, 64);
        if (prefixLength == 2) prefixLength = 0;
        string memory name = _repeat("n", nameLength);
        string memory prefix = prefixLength == 0 ? "" : _handleOf(prefixLength);

        vm.prank(admin);
        uint32 id = participants.register(newcomer, name, Roles.PRODUCER, prefix);

        IParticipantRegistry.Participant memory stored = participants.participant(id);
        vm.assertEq(stored.name, name);
        vm.assertEq(stored.prefix, prefix);
        vm.assertEq(participants.prefixOwner(prefix), prefixLength == 0 ? 0 : id);
    }

    function testFuzz_RevertWhen_NameTooLong(uint256 nameLength) public {
        nameLength = bound(nameLength, 65, 1024);
        string memory name = _repeat("n", nameLength);

        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidName.selector, nameLength)
        );
        vm.prank(admin);
        participants.register(newcomer, name, Roles.PRODUCER, "");
    }

    function testFuzz_RevertWhen_PrefixTooLong(uint256 prefixLength) public {
        prefixLength = bound(prefixLength, 65, 1024);
        string memory prefix = _handleOf(prefixLength);

        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryInvalidPrefix.selector, Identifiers.HANDLE, prefix
            )
        );
        vm.prank(admin);
        participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, prefix);
    }

    function testFuzz_RevertWhen_RotationByCallerWithoutRight(address caller) public {
        vm.assume(caller != farm && caller != admin);

        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryUnauthorizedRotation.selector, farmId, caller
            )
        );
        vm.prank(caller);
        participants.rotateKey(farmId, freshKey);
    }

    function testFuzz_wasAuthorized_RotatedKeyValidUntilBlockBeforeRotation(
        uint256 registeredAt,
        uint256 rotatedAt,
        uint256 queriedAt
    ) public {
        registeredAt = bound(registeredAt, 1, 1_000_000);
        rotatedAt = bound(rotatedAt, registeredAt, registeredAt + 1_000_000);
        queriedAt = bound(queriedAt, 0, rotatedAt + 1000);
        vm.roll(registeredAt);
        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "");
        vm.roll(rotatedAt);

        vm.prank(newcomer);
        participants.rotateKey(id, freshKey);

        vm.assertEq(
            participants.wasAuthorized(newcomer, Roles.PRODUCER, uint48(queriedAt)),
            queriedAt >= registeredAt && queriedAt < rotatedAt,
            "old key"
        );
        vm.assertEq(
            participants.wasAuthorized(freshKey, Roles.PRODUCER, uint48(queriedAt)), queriedAt >= rotatedAt, "new key"
        );
    }

    /// @dev Random suspend / reactivate / setRoles steps, zero to three blocks apart (so several
    /// changes can land in one block), checked block by block against a plain model.
    function testFuzz_statusAt_MatchesModelOfRandomChanges(uint256 seed, uint256 steps) public {
        steps = bound(steps, 1, 24);
        uint256 start = 100;
        StatusModel memory model = _newModel(steps * 3 + 1);
        vm.roll(start);
        vm.prank(admin);
        uint32 id = participants.register(newcomer, "Harbour Fisheries", Roles.PRODUCER, "");
        _record(model, 0, Roles.PRODUCER, true);

        uint256 current = start;
        for (uint256 i; i < steps; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            current += r % 4;
            vm.roll(current);
            (uint8 roles, bool active) = _randomStep(id, r >> 8, model.currentRoles, model.currentActive);
            _record(model, current - start, roles, active);
        }

        _fillForward(model);
        (uint8 rolesBefore, bool activeBefore) = participants.statusAt(id, uint48(start - 1));
        vm.assertEq(rolesBefore, 0);
        vm.assertFalse(activeBefore);
        for (uint256 offset; offset < model.roles.length; ++offset) {
            _assertStatus(id, newcomer, uint48(start + offset), model.roles[offset], model.active[offset]);
        }
    }

    // ----- helpers -----

    /// @dev A participant's status at the end of each block from its registration on.
    struct StatusModel {
        uint8[] roles;
        bool[] active;
        bool[] changed;
        uint8 currentRoles;
        bool currentActive;
    }

    function _newModel(uint256 blocks) internal pure returns (StatusModel memory model) {
        model.roles = new uint8[](blocks);
        model.active = new bool[](blocks);
        model.changed = new bool[](blocks);
    }

    function _record(StatusModel memory model, uint256 offset, uint8 roles, bool active) internal pure {
        (model.roles[offset], model.active[offset], model.changed[offset]) = (roles, active, true);
        (model.currentRoles, model.currentActive) = (roles, active);
    }

    /// @dev A block without a change keeps the state of the block before it.
    function _fillForward(StatusModel memory model) internal pure {
        for (uint256 offset = 1; offset < model.roles.length; ++offset) {
            if (!model.changed[offset]) {
                (model.roles[offset], model.active[offset]) = (model.roles[offset - 1], model.active[offset - 1]);
            }
        }
    }

    function _assertStatus(uint32 id, address key, uint48 blockNumber, uint8 roles, bool active) internal view {
        (uint8 heldRoles, bool heldActive) = participants.statusAt(id, blockNumber);
        string memory at = string.concat(" at block ", vm.toString(blockNumber));
        vm.assertEq(heldRoles, roles, string.concat("roles", at));
        vm.assertEq(heldActive, active, string.concat("active", at));
        vm.assertEq(
            participants.wasAuthorized(key, Roles.PRODUCER, blockNumber),
            active && roles & Roles.PRODUCER != 0,
            string.concat("authorized as PRODUCER", at)
        );
    }

    /// @dev Applies one random change to participant `id`, whose state is (`roles`, `active`),
    /// expecting the refusal the registry owes when the change is not allowed; returns the new state.
    function _randomStep(uint32 id, uint256 r, uint8 roles, bool active) internal returns (uint8, bool) {
        vm.startPrank(admin);
        uint256 op = r % 3;
        if (op == 0) {
            roles = uint8(bound(r >> 8, 1, Roles.ALL));
            participants.setRoles(id, roles);
        } else if (op == 1) {
            if (!active) {
                vm.expectRevert(
                    abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryAlreadySuspended.selector, id)
                );
            }
            participants.suspend(id);
            active = false;
        } else {
            if (active) {
                vm.expectRevert(
                    abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryNotSuspended.selector, id)
                );
            }
            participants.reactivate(id);
            active = true;
        }
        vm.stopPrank();
        return (roles, active);
    }

    /// @dev A handle prefix of `length` bytes: "8.8.8..." (with "88" first when `length` is even).
    function _handleOf(uint256 length) internal pure returns (string memory) {
        bytes memory out = bytes(_repeat("8", length));
        for (uint256 i = length % 2 == 0 ? 2 : 1; i < length; i += 2) {
            out[i] = ".";
        }
        return string(out);
    }

    function _repeat(bytes1 char, uint256 length) internal pure returns (string memory) {
        bytes memory out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            out[i] = char;
        }
        return string(out);
    }
}
