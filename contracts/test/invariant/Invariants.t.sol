// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAnchorRegistry} from "../../src/interfaces/IAnchorRegistry.sol";
import {IBatchRegistry} from "../../src/interfaces/IBatchRegistry.sol";
import {Roles} from "../../src/libraries/Roles.sol";
import {TraceNodeTest} from "../utils/TraceNodeTest.sol";
import {BatchHandler} from "./BatchHandler.sol";

/// @notice Custody, nonce, authorisation and anchoring invariants of the three registries,
/// driven through {BatchHandler}, which compares every relayed event with its own model.
contract InvariantsTest is TraceNodeTest {
    BatchHandler internal handler;

    function setUp() public override {
        super.setUp();
        BatchHandler.Seat[] memory seats = new BatchHandler.Seat[](6);
        seats[0] = BatchHandler.Seat({id: farmId, pk: FARM_PK, roles: Roles.PRODUCER});
        seats[1] = BatchHandler.Seat({id: processorId, pk: PROCESSOR_PK, roles: Roles.PROCESSOR});
        seats[2] = BatchHandler.Seat({id: carrierId, pk: CARRIER_PK, roles: Roles.LOGISTICS});
        seats[3] = BatchHandler.Seat({id: shopId, pk: SHOP_PK, roles: Roles.RETAILER});
        seats[4] = BatchHandler.Seat({id: auditorId, pk: AUDITOR_PK, roles: Roles.AUDITOR});
        seats[5] = BatchHandler.Seat({id: regulatorId, pk: REGULATOR_PK, roles: Roles.REGULATOR});
        handler = new BatchHandler(batches, participants, anchors, admin, node, seats);

        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = BatchHandler.commission.selector;
        selectors[1] = BatchHandler.ship.selector;
        selectors[2] = BatchHandler.receiveBatch.selector;
        selectors[3] = BatchHandler.transform.selector;
        selectors[4] = BatchHandler.recall.selector;
        selectors[5] = BatchHandler.destroy.selector;
        selectors[6] = BatchHandler.replay.selector;
        selectors[7] = BatchHandler.staleHead.selector;
        selectors[8] = BatchHandler.toggleSuspension.selector;
        selectors[9] = BatchHandler.rotateKey.selector;
        selectors[10] = BatchHandler.anchor.selector;
        selectors[11] = BatchHandler.roll.selector;
        selectors[12] = BatchHandler.relayMany.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    // ----- invariants -----

    /// @notice Every commissioned batch has exactly one custodian, a registered participant, and
    /// the registry's record of it is the model's.
    function invariant_oneCustodianPerLiveBatch() public view {
        uint32 registered = participants.participantCount();
        uint256 count = handler.lotCount();
        for (uint256 i; i < count; ++i) {
            bytes32 batchId = handler.lotIdAt(i);
            IBatchRegistry.Batch memory stored = batches.batch(batchId);
            IBatchRegistry.Batch memory expected = handler.modelBatch(batchId);

            vm.assertTrue(
                stored.custodian != 0 && stored.custodian <= registered, "custodian is not a registered participant"
            );
            vm.assertEq(stored.custodian, expected.custodian, "custodian differs from the model");
            vm.assertEq(uint256(stored.status), uint256(expected.status), "status differs from the model");
            vm.assertEq(stored.producer, expected.producer, "producer differs from the model");
            vm.assertEq(stored.receiver, expected.receiver, "receiver differs from the model");
            vm.assertEq(stored.head, expected.head, "head differs from the model");
            vm.assertTrue(
                (stored.receiver != 0) == (stored.status == IBatchRegistry.Status.IN_TRANSIT),
                "receiver is set other than exactly while in transit"
            );
        }
    }

    /// @notice A batch, once recalled, consumed or destroyed, keeps the custodian it had then
    /// and never becomes active or in transit again.
    function invariant_terminalBatchNeverChangesCustodian() public view {
        uint256 count = handler.frozenCount();
        for (uint256 i; i < count; ++i) {
            (bytes32 batchId, uint32 custodian) = handler.frozenAt(i);
            IBatchRegistry.Batch memory stored = batches.batch(batchId);

            vm.assertEq(stored.custodian, custodian, "a recalled, consumed or destroyed batch changed custodian");
            vm.assertTrue(
                stored.status == IBatchRegistry.Status.CONSUMED || stored.status == IBatchRegistry.Status.RECALLED
                    || stored.status == IBatchRegistry.Status.DESTROYED,
                "a recalled, consumed or destroyed batch moved again"
            );
        }
    }

    /// @notice No (signer, nonce) is accepted twice, and the registry's nonce bitmap is the model's
    /// for every pair any relayed event carried.
    function invariant_noNonceAcceptedTwice() public view {
        vm.assertEq(
            handler.violationCount(BatchHandler.Violation.NonceReused),
            0,
            handler.firstViolation(BatchHandler.Violation.NonceReused)
        );
        uint256 count = handler.pairCount();
        for (uint256 i; i < count; ++i) {
            (address signer, uint256 nonce, bool used) = handler.pairAt(i);

            vm.assertTrue(batches.isNonceUsed(signer, nonce) == used, "isNonceUsed differs from the model");
        }
    }

    /// @notice Every accepted event's signer was, at that block, the current key of an active
    /// participant with a role the action needs (for RECALL: the producer or a REGULATOR), both in
    /// the model and in {IParticipantRegistry-wasAuthorized}.
    function invariant_noAcceptanceWithoutRole() public view {
        vm.assertEq(
            handler.violationCount(BatchHandler.Violation.Unauthorized),
            0,
            handler.firstViolation(BatchHandler.Violation.Unauthorized)
        );
    }

    /// @notice Anchored roots keep what they were anchored with, and the node's next sequence
    /// number follows the windows it anchored; invalid windows are refused with the right error.
    function invariant_anchoredRootsNeverChange() public view {
        vm.assertEq(
            handler.violationCount(BatchHandler.Violation.AnchorOutcome),
            0,
            handler.firstViolation(BatchHandler.Violation.AnchorOutcome)
        );
        uint256 count = handler.anchorCount();
        uint256 anchoredEvents;
        for (uint256 i; i < count; ++i) {
            (bytes32 root, IAnchorRegistry.Anchor memory recorded) = handler.anchorAt(i);
            vm.assertTrue(anchors.isAnchored(root), "an anchored root is no longer anchored");
            IAnchorRegistry.Anchor memory stored = anchors.anchorOf(root);

            vm.assertEq(stored.firstSeq, recorded.firstSeq, "anchor firstSeq changed");
            vm.assertEq(stored.eventCount, recorded.eventCount, "anchor eventCount changed");
            vm.assertEq(stored.blockNumber, recorded.blockNumber, "anchor blockNumber changed");
            vm.assertEq(stored.timestamp, recorded.timestamp, "anchor timestamp changed");
            anchoredEvents += recorded.eventCount;
        }
        vm.assertEq(anchors.nextSequence(node), 1 + anchoredEvents, "nextSequence is not 1 + the anchored events");
    }

    /// @notice The registry accepts exactly the events the model accepts, refuses the others with
    /// the error the model names, and its logs and returned count say so.
    function invariant_decisionsMatchModel() public view {
        BatchHandler.Violation[5] memory kinds = [
            BatchHandler.Violation.AcceptedInvalid,
            BatchHandler.Violation.RejectedValid,
            BatchHandler.Violation.WrongReason,
            BatchHandler.Violation.WrongEventLog,
            BatchHandler.Violation.WrongCount
        ];
        for (uint256 i; i < kinds.length; ++i) {
            vm.assertEq(handler.violationCount(kinds[i]), 0, handler.firstViolation(kinds[i]));
        }
    }

    /// @notice Not a property: prints what the handler did (run with -vv to see it).
    function invariant_callSummary() public view {
        handler.logSummary();
    }

    // ----- the handler reaches every path -----

    /// @notice A fixed sequence of handler calls reaches an acceptance of every action and a
    /// rejection of each kind the handler aims at, with no disagreement with the model, so the
    /// invariants above are not vacuous.
    function test_handler_ReachesAcceptanceAndRejectionPaths() public {
        // Batches L1..L3 by the farm (accepted), then a non-producer, a stranger, an existing id.
        handler.commission(0, 2);
        handler.commission(1, 2);
        handler.commission(0, 3);
        handler.commission(0, 0); // processor: MissingRole
        handler.commission(4, 0); // stranger: UnknownSigner
        handler.commission(0, 1); // L1 again: BatchExists
        // L1 to the processor, which takes it and transforms it into L4.
        handler.ship(0, 0, 2);
        handler.receiveBatch(0, 0, 2);
        handler.transform(1, 0, 3);
        // L2: shipped by a non-custodian, to an auditor, then to the processor for real.
        handler.ship(1, 0, 0); // NotCustodian
        handler.ship(1, 0, 1); // InvalidReceiver
        handler.ship(1, 0, 2);
        handler.receiveBatch(0, 0, 0); // the farm: NotReceiver
        // Recalls: L2 in transit by its producer, L3 by a processor, the consumed L1 by the regulator.
        handler.recall(1, 0, 0);
        handler.recall(2, 0, 2); // NotRecaller
        handler.recall(0, 0, 1);
        // Transforms with a recalled input, an input held by the farm, a repeated input.
        handler.transform(1, 0, 1); // BatchRecalled
        handler.transform(1, 0, 0); // NotCustodian
        handler.transform(1, 0, 2); // MalformedEvent
        // Destroy L1, then by a non-custodian, in a wrong status, an unknown batch.
        handler.destroy(0, 0, 3);
        handler.destroy(0, 0, 0); // NotCustodian
        handler.destroy(0, 0, 1); // InvalidStatus
        handler.destroy(0, 0, 2); // UnknownBatch
        // Replays, malleated signatures, stale heads, reused nonces.
        handler.replay(0, 2); // NonceUsed
        handler.replay(0, 0); // InvalidSignature
        handler.staleHead(0, 0, 1); // HeadMismatch
        handler.commission(0, (15 << 8) | 2); // reused nonce: NonceUsed
        handler.commission(0, (14 << 8) | 2); // sparse nonce
        // A suspended processor, then reactivated; rotated keys.
        handler.toggleSuspension(1, 0);
        handler.ship(3, 0, 2); // SignerSuspended
        handler.toggleSuspension(0, 1);
        handler.rotateKey(0, 0);
        handler.commission(15 << 128, 2); // the farm's old key: UnknownSigner
        handler.commission(0, 2);
        handler.rotateKey(1, 1);
        handler.ship(3, 0, 2);
        // Out of the network and in: an export, a lot never seen adopted, a lot in the network
        // (L1, destroyed) that may not be.
        handler.ship(0, 0, 7);
        handler.receiveBatch(0, 0, 6);
        handler.receiveBatch(0, 0, 5); // BatchInNetwork
        // Anchors: windows of earlier events, a commit with its events, then four invalid windows.
        handler.anchor(0, 4);
        handler.anchor(0, 6);
        handler.anchor(0, 7);
        handler.anchor(0, 0); // RootExists
        handler.anchor(0, 1); // NonContiguous
        handler.anchor(0, 2); // ZeroRoot
        handler.anchor(0, 3); // EmptyWindow
        handler.roll(3);
        handler.relayMany(1);
        handler.relayMany(2);

        for (
            uint8 action = uint8(IBatchRegistry.Action.COMMISSION);
            action <= uint8(IBatchRegistry.Action.DESTROY);
            ++action
        ) {
            if (
                action == uint8(IBatchRegistry.Action.OBSERVE) || action == uint8(IBatchRegistry.Action.AGGREGATE)
                    || action == uint8(IBatchRegistry.Action.DISAGGREGATE)
            ) continue;
            vm.assertTrue(handler.acceptedByAction(action) > 0, "an action was never accepted");
        }
        vm.assertTrue(handler.adoptedFromOutside() > 0, "no lot was adopted from outside");
        bytes4[16] memory reasons = [
            IBatchRegistry.BatchRegistryMissingRole.selector,
            IBatchRegistry.BatchRegistryUnknownSigner.selector,
            IBatchRegistry.BatchRegistrySignerSuspended.selector,
            IBatchRegistry.BatchRegistryInvalidSignature.selector,
            IBatchRegistry.BatchRegistryNonceUsed.selector,
            IBatchRegistry.BatchRegistryMalformedEvent.selector,
            IBatchRegistry.BatchRegistryBatchExists.selector,
            IBatchRegistry.BatchRegistryUnknownBatch.selector,
            IBatchRegistry.BatchRegistryHeadMismatch.selector,
            IBatchRegistry.BatchRegistryBatchRecalled.selector,
            IBatchRegistry.BatchRegistryInvalidStatus.selector,
            IBatchRegistry.BatchRegistryNotCustodian.selector,
            IBatchRegistry.BatchRegistryInvalidReceiver.selector,
            IBatchRegistry.BatchRegistryNotReceiver.selector,
            IBatchRegistry.BatchRegistryNotRecaller.selector,
            IBatchRegistry.BatchRegistryBatchInNetwork.selector
        ];
        for (uint256 i; i < reasons.length; ++i) {
            vm.assertTrue(handler.rejectedByReason(reasons[i]) > 0, "a rejection reason was never reached");
        }
        vm.assertTrue(handler.anchorsAccepted() > 1, "fewer than two windows anchored");
        bytes4[4] memory anchorReasons = [
            IAnchorRegistry.AnchorRegistryRootExists.selector,
            IAnchorRegistry.AnchorRegistryNonContiguous.selector,
            IAnchorRegistry.AnchorRegistryZeroRoot.selector,
            IAnchorRegistry.AnchorRegistryEmptyWindow.selector
        ];
        for (uint256 i; i < anchorReasons.length; ++i) {
            vm.assertTrue(handler.anchorRejectedByReason(anchorReasons[i]) > 0, "an anchor error was never reached");
        }
        vm.assertTrue(handler.frozenCount() > 0, "no batch reached a terminal status");
        for (uint256 k; k < 8; ++k) {
            vm.assertEq(handler.violations(k), 0, handler.firstViolation(BatchHandler.Violation(k)));
        }
        invariant_oneCustodianPerLiveBatch();
        invariant_terminalBatchNeverChangesCustodian();
        invariant_noNonceAcceptedTwice();
        invariant_noAcceptanceWithoutRole();
        invariant_anchoredRootsNeverChange();
        invariant_decisionsMatchModel();
    }
}
