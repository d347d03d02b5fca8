// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CustodyChallenge} from "../src/CustodyChallenge.sol";
import {IBatchRegistry} from "../src/interfaces/IBatchRegistry.sol";
import {ICustodyChallenge} from "../src/interfaces/ICustodyChallenge.sol";
import {Identifiers} from "../src/libraries/Identifiers.sol";
import {MerkleTrees} from "./utils/MerkleTrees.sol";
import {console} from "./utils/Test.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

/// @notice The challenge game of the anchor-only mode. A test plays a node: it signs events,
/// keeps each batch's state leaf (head, custodian, status, count) the way the node does
/// (node/proofs/state.py `advance`, node/events/lifecycle.py `transition`), writes one
/// transition leaf per (event, batch) and anchors each window with `anchorWindow`. Honest
/// events are also executed by BatchRegistry (the enforced mode), and the state the test
/// kept must be the one BatchRegistry reached: the honest windows challenged below are
/// windows the enforced mode accepts. A dishonest node applies `transition` to events the
/// rules refuse, or writes leaves other than the ones its events produce.
contract CustodyChallengeTest is TraceNodeTest {
    CustodyChallenge internal challenge;

    /// @dev The node's state leaf of a batch (without its id).
    struct Leaf {
        bytes32 head;
        uint256 custodian;
        uint8 status;
        uint256 count;
    }

    mapping(bytes32 batchId => Leaf) internal state;
    uint64 internal nextSeq = 1;

    // The window being built.
    bytes32[] internal windowEvents;
    ICustodyChallenge.Transition[] internal windowTransitions;

    // Anchored windows.
    mapping(bytes32 root => bytes32[]) internal eventsOf;
    mapping(bytes32 root => ICustodyChallenge.Transition[]) internal transitionsOf;

    // Every event signed, by hash (SignedEvent itself cannot be copied to storage).
    mapping(bytes32 eventHash => IBatchRegistry.TraceEvent) internal events;
    mapping(bytes32 eventHash => uint256) internal signerKeys;

    // Where each batch was created: its window and the creating event.
    mapping(bytes32 batchId => bytes32) internal creationRoot;
    /// @dev Per anchored window root, its roots as `anchorWindow` was given them.
    mapping(bytes32 root => ICustodyChallenge.Window) internal windowOf;
    mapping(bytes32 batchId => bytes32) internal creationEvent;

    uint8 internal constant NONE = uint8(IBatchRegistry.Status.NONE);
    uint8 internal constant ACTIVE = uint8(IBatchRegistry.Status.ACTIVE);
    uint8 internal constant IN_TRANSIT = uint8(IBatchRegistry.Status.IN_TRANSIT);

    function setUp() public override {
        super.setUp();
        challenge = new CustodyChallenge(participants, anchors, batches);
    }

    // ===== honest windows =====

    /// @dev A supply chain covering every action, in three windows, with the participants'
    /// registry changed after each anchor: no transition of it can be challenged, with or
    /// without evidence, and no two of its transitions contradict each other.
    function test_honestWindows_CannotBeChallenged() public {
        (bytes32[] memory roots, bytes32[] memory lots) = _honestChain();

        // After the anchors: a participant suspended, a key rotated, a licence revoked.
        vm.roll(block.number + 10);
        vm.startPrank(admin);
        participants.suspend(carrierId);
        participants.rotateKey(farmId, vm.addr(0xF00F));
        participants.revoke(Identifiers.GS1, "0614141");
        vm.stopPrank();
        vm.roll(block.number + 10);

        uint256 judged;
        for (uint256 w; w < roots.length; ++w) {
            ICustodyChallenge.Transition[] memory ts = transitionsOf[roots[w]];
            for (uint256 i; i < ts.length; ++i) {
                _expectValid(roots[w], ts[i]);
                ++judged;
            }
        }
        vm.assertEq(judged, 18, "every transition of the chain was judged");
        for (uint256 l; l < lots.length; ++l) {
            _expectNoContradiction(roots, lots[l]);
        }
        for (uint256 w; w < roots.length; ++w) {
            vm.assertFalse(challenge.fraudulent(roots[w]));
        }
    }

    /// @dev The proofs a challenger holds prove an honest COMMISSION under a GS1 licence
    /// valid, whatever prefix length the challenger's identifier proof names.
    function test_honestCommission_UnderLicence_IsValidWhateverPrefixLengthIsClaimed() public {
        bytes32 lot = _known(bytes("https://id.gs1.org/01/00614141000012/10/L1"), 7);
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        bytes32 root = _anchor();

        ICustodyChallenge.Transition memory t = transitionsOf[root][0];
        for (uint8 length = 4; length <= 12; ++length) {
            IBatchRegistry.IdentifierProof[] memory proofs = new IBatchRegistry.IdentifierProof[](1);
            proofs[0] = IBatchRegistry.IdentifierProof(preimages[lot], length);
            _expectClaimRevert(
                root,
                t,
                proofs,
                _noEvidence(),
                abi.encodeWithSelector(
                    ICustodyChallenge.CustodyChallengeTransitionValid.selector, root, t.eventHash, lot
                )
            );
        }
    }

    /// @dev Differential: random events by random participants on a few lots. Each one
    /// BatchRegistry (the enforced mode) accepts goes into the honest windows, and no
    /// transition of those can be challenged; each one it refuses is anchored anyway, alone in
    /// a window of its own, by a dishonest node, and some transition of it is proven
    /// invalid (with the evidence an honest challenger holds), after which the node goes on
    /// from the state before it.
    /// forge-config: default.fuzz.runs = 48
    /// forge-config: ci.fuzz.runs = 160
    function testFuzz_challengeMarksExactlyWhatTheEnforcedModeRefuses(uint256 seed) public {
        uint256[6] memory keys = [FARM_PK, PROCESSOR_PK, CARRIER_PK, SHOP_PK, AUDITOR_PK, REGULATOR_PK];
        bytes32[] memory lots = new bytes32[](3);
        for (uint256 i; i < lots.length; ++i) {
            lots[i] = _known(string.concat("fz-", vm.toString(i)));
        }
        uint256 refused;
        for (uint256 step; step < 14; ++step) {
            seed = uint256(keccak256(abi.encode(seed, step)));
            IBatchRegistry.TraceEvent memory ev = _randomEvent(seed, vm.addr(keys[seed % 6]), lots, keys, step);
            // Half the time the participant the rules want, so that honest chains grow.
            uint256 pk = (seed >> 40) % 2 == 0 ? _likelySigner(ev, keys) : keys[seed % 6];
            if (!_tryEnforced(pk, ev)) {
                _expectSomeTransitionMarked(pk, ev);
                ++refused;
            }
        }
        if (windowEvents.length != 0) _honestRoots.push(_anchor());
        uint256 judged;
        for (uint256 w; w < _honestRoots.length; ++w) {
            ICustodyChallenge.Transition[] memory ts = transitionsOf[_honestRoots[w]];
            for (uint256 i; i < ts.length; ++i) {
                _expectValid(_honestRoots[w], ts[i]);
                ++judged;
            }
        }
        vm.assertGt(judged + refused, 0);
    }

    bytes32[] internal _honestRoots;

    /// @dev A random event: one of the lifecycle actions or an observation, mostly extending
    /// the node's head of its lot.
    function _randomEvent(uint256 seed, address signer, bytes32[] memory lots, uint256[6] memory keys, uint256 step)
        internal
        returns (IBatchRegistry.TraceEvent memory ev)
    {
        bytes32 lot = lots[(seed >> 8) % lots.length];
        uint256 kind = (seed >> 16) % 8;
        address other = vm.addr(keys[(seed >> 24) % 6]);
        if (kind == 0) {
            ev = _commissionEvent(signer, lot);
        } else if (kind == 1) {
            ev = _ship(signer, lot, other);
        } else if (kind == 2) {
            ev = _ship(signer, lot, address(0));
        } else if (kind == 3) {
            ev = _simple(IBatchRegistry.Action.RECEIVE, signer, lot);
        } else if (kind == 4) {
            ev = _simple(IBatchRegistry.Action.RECALL, signer, lot);
        } else if (kind == 5) {
            ev = _simple(IBatchRegistry.Action.DESTROY, signer, lot);
        } else if (kind == 6) {
            ev = _simple(IBatchRegistry.Action.OBSERVE, signer, lot);
        } else {
            bytes32 output = _known(string.concat("fz-out-", vm.toString(step)));
            ev = _event(uint8(IBatchRegistry.Action.TRANSFORM), bytes32(0), bytes32(0), signer);
            ev.inputs = _single(lot);
            ev.inputPrevHashes = _single(state[lot].head);
            ev.outputs = _single(output);
            ev.quantity = 7;
        }
        // Two signers' events differ by more than their signatures.
        ev.nonce = uint256(keccak256(abi.encode("nonce", seed)));
        // Now and then an event that names a head its lot does not have.
        if ((seed >> 32) % 8 == 0 && kind != 7) ev.prevEventHash = keccak256(abi.encode("stale", seed));
    }

    /// @dev The key of the participant who may sign `ev` by the node's state: the farm
    /// creates, the custodian moves, the named receiver receives, the regulator recalls.
    function _likelySigner(IBatchRegistry.TraceEvent memory ev, uint256[6] memory keys)
        internal
        view
        returns (uint256)
    {
        uint8 action = ev.action;
        bytes32 lot = action == uint8(IBatchRegistry.Action.TRANSFORM) ? ev.inputs[0] : ev.batchId;
        Leaf memory leaf = state[lot];
        if (action == uint8(IBatchRegistry.Action.COMMISSION)) return FARM_PK;
        if (action == uint8(IBatchRegistry.Action.RECALL)) return REGULATOR_PK;
        if (action == uint8(IBatchRegistry.Action.RECEIVE) && leaf.status == IN_TRANSIT) {
            address receiver = events[leaf.head].counterparty;
            for (uint256 i; i < keys.length; ++i) {
                if (vm.addr(keys[i]) == receiver) return keys[i];
            }
        }
        // Participant ids are the order of registration (TraceNodeTest.setUp): keys[id - 1].
        return leaf.custodian == 0 ? FARM_PK : keys[leaf.custodian - 1];
    }

    /// @dev Whether BatchRegistry accepts `ev` (an observation: always, it is not executed);
    /// accepted, the node records it in the honest window being built.
    function _tryEnforced(uint256 pk, IBatchRegistry.TraceEvent memory ev) internal returns (bool) {
        if (ev.action != uint8(IBatchRegistry.Action.OBSERVE)) {
            try batches.submit(_signedEvent(pk, ev)) {}
            catch {
                return false;
            }
        }
        _record(pk, ev);
        return true;
    }

    /// @dev A dishonest node anchors refused `ev` in a window of its own (after the honest
    /// window so far); challenging its transitions in turn marks the window. The node then
    /// goes on from the state before `ev`.
    function _expectSomeTransitionMarked(uint256 pk, IBatchRegistry.TraceEvent memory ev) internal {
        if (windowEvents.length != 0) _honestRoots.push(_anchor());
        bytes32[] memory ids = _named(ev);
        Leaf[] memory before = new Leaf[](ids.length);
        bytes32[] memory createdIn = new bytes32[](ids.length);
        bytes32[] memory createdBy = new bytes32[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            before[i] = state[ids[i]];
            createdIn[i] = creationRoot[ids[i]];
            createdBy[i] = creationEvent[ids[i]];
        }
        bytes32 h = _record(pk, ev);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition[] memory ts = transitionsOf[root];
        for (uint256 i; i < ts.length && !challenge.fraudulent(root); ++i) {
            Claim memory claim = _claim(root, ts[i]);
            try challenge.challengeTransitionWithEvidence(
                _window(root),
                ts[i],
                claim.transitionProof,
                claim.signed,
                claim.eventProof,
                _proofsOf(h),
                _evidenceFor(ts[i])
            ) {}
                catch {}
        }
        vm.assertTrue(challenge.fraudulent(root), "an event the enforced mode refuses is proven invalid");
        for (uint256 i; i < ids.length; ++i) {
            state[ids[i]] = before[i];
            creationRoot[ids[i]] = createdIn[i];
            creationEvent[ids[i]] = createdBy[i];
        }
    }

    // ===== invalid transitions: each marks its window =====

    function test_challenge_ShipByNonCustodian() public {
        bytes32 lot = _known("lot-a");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(CARRIER_PK, _ship(carrier, lot, shop), false);
        _anchorAndExpectFraud(
            lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotCustodian.selector, lot, carrier)
        );
    }

    function test_challenge_ReceiveBySomeoneNotNamed() public {
        bytes32 lot = _known("lot-b");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        bytes32 shipHash = _step(FARM_PK, _ship(farm, lot, carrier), true);
        _step(SHOP_PK, _simple(IBatchRegistry.Action.RECEIVE, shop, lot), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);

        // Without the shipment, the receiver is unknown: the claim waits on it.
        _expectClaimRevert(
            root,
            t,
            _proofsOf(t.eventHash),
            _noEvidence(),
            abi.encodeWithSelector(
                ICustodyChallenge.CustodyChallengeEvidenceNeeded.selector, lot, uint8(IBatchRegistry.Action.RECEIVE)
            )
        );

        ICustodyChallenge.Evidence memory evidence = _noEvidence();
        evidence.shipment = events[shipHash];
        _expectFraud(
            root, t, evidence, abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotReceiver.selector, lot, shop)
        );
    }

    function test_challenge_MovingARecalledLot() public {
        bytes32 lot = _known("lot-c");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _simple(IBatchRegistry.Action.RECALL, farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), false);
        _anchorAndExpectFraud(lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryBatchRecalled.selector, lot));
    }

    function test_challenge_MovingAConsumedLot() public {
        bytes32 milk = _known("milk-d");
        bytes32 cheese = _known("cheese-d");
        _step(FARM_PK, _commissionEvent(farm, milk), true);
        _step(FARM_PK, _transformEvent(farm, _single(milk), _single(cheese)), true);
        _step(FARM_PK, _ship(farm, milk, carrier), false);
        _anchorAndExpectFraud(
            milk,
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, milk, IBatchRegistry.Status.CONSUMED
            )
        );
    }

    function test_challenge_MovingADestroyedLot() public {
        bytes32 lot = _known("lot-e");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _simple(IBatchRegistry.Action.DESTROY, farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), false);
        _anchorAndExpectFraud(
            lot,
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, lot, IBatchRegistry.Status.DESTROYED
            )
        );
    }

    function test_challenge_MovingAnExportedLot() public {
        bytes32 lot = _known("lot-f");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, address(0)), true);
        _step(FARM_PK, _ship(farm, lot, carrier), false);
        _anchorAndExpectFraud(
            lot,
            abi.encodeWithSelector(
                IBatchRegistry.BatchRegistryInvalidStatus.selector, lot, IBatchRegistry.Status.EXPORTED
            )
        );
    }

    function test_challenge_RecallByNeitherProducerNorRegulator() public {
        bytes32 lot = _known("lot-g");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        bytes32 first = _anchor();
        _step(FARM_PK, _ship(farm, lot, carrier), true);
        _step(CARRIER_PK, _simple(IBatchRegistry.Action.RECEIVE, carrier, lot), true);
        _step(CARRIER_PK, _simple(IBatchRegistry.Action.RECALL, carrier, lot), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);

        _expectClaimRevert(
            root,
            t,
            _proofsOf(t.eventHash),
            _noEvidence(),
            abi.encodeWithSelector(
                ICustodyChallenge.CustodyChallengeEvidenceNeeded.selector, lot, uint8(IBatchRegistry.Action.RECALL)
            )
        );

        vm.assertEq(creationRoot[lot], first);
        _expectFraud(
            root,
            t,
            _creationEvidence(lot),
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryNotRecaller.selector, lot, carrier)
        );
    }

    function test_challenge_CommissionWithoutLicenceOfThePrefix() public {
        // GS1 company prefix 0614142 is licensed to the processor, not the farm.
        bytes32 lot = _known(bytes("https://id.gs1.org/01/00614142000019/10/L9"), 7);
        _step(FARM_PK, _commissionEvent(farm, lot), false);
        _anchorAndExpectFraud(
            lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, lot, farmId)
        );
    }

    function test_challenge_TransformOutputWithoutLicence() public {
        bytes32 milk = _known("milk-h");
        bytes32 cheese = _known(bytes("https://id.gs1.org/01/00614142000019/10/C1"), 7);
        _step(FARM_PK, _commissionEvent(farm, milk), true);
        _step(FARM_PK, _transformEvent(farm, _single(milk), _single(cheese)), false);
        bytes32 root = _anchor();

        // The input's transition is valid; the output's is not.
        _expectValid(root, _last(root, milk));
        _expectFraud(
            root,
            _last(root, cheese),
            _noEvidence(),
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryUnlicensedIdentifier.selector, cheese, farmId)
        );
    }

    function test_challenge_WrongPostState() public {
        bytes32 lot = _known("lot-i");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), true);
        // The node claims the carrier took custody at the SHIP.
        windowTransitions[windowTransitions.length - 1].postCustodian = carrierId;
        _anchorAndExpectFraud(
            lot, abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongPostState.selector, lot)
        );
    }

    function test_challenge_WrongCount() public {
        bytes32 lot = _known("lot-i2");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(AUDITOR_PK, _simple(IBatchRegistry.Action.OBSERVE, auditor, lot), true);
        // An observation that does not count is how a node would hide one.
        windowTransitions[windowTransitions.length - 1].postCount = 1;
        _anchorAndExpectFraud(
            lot, abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongPostState.selector, lot)
        );
    }

    function test_challenge_ObservationThatMovesTheBatch() public {
        bytes32 lot = _known("lot-i3");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(AUDITOR_PK, _simple(IBatchRegistry.Action.OBSERVE, auditor, lot), true);
        windowTransitions[windowTransitions.length - 1].postStatus = uint8(IBatchRegistry.Status.RECALLED);
        _anchorAndExpectFraud(
            lot, abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongPostState.selector, lot)
        );
    }

    function test_challenge_WrongSignerId() public {
        bytes32 lot = _known("lot-j");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        windowTransitions[windowTransitions.length - 1].signerId = processorId;
        _anchorAndExpectFraud(
            lot, abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongSigner.selector, processorId, farmId)
        );
    }

    function test_challenge_SignerNotActiveAtTheAnchorBlock() public {
        bytes32 lot = _known("lot-k");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), true);
        vm.prank(admin);
        participants.suspend(carrierId);
        vm.roll(block.number + 2);
        // The node accepts the suspended carrier's receipt anyway.
        _step(CARRIER_PK, _simple(IBatchRegistry.Action.RECEIVE, carrier, lot), false);
        bytes32 root = _anchor();
        // Reactivated later: the window stays what it was at its anchor block.
        vm.roll(block.number + 2);
        vm.prank(admin);
        participants.reactivate(carrierId);

        _expectFraud(
            root,
            _last(root, lot),
            _noEvidence(),
            abi.encodeWithSelector(IBatchRegistry.BatchRegistrySignerSuspended.selector, carrier)
        );
    }

    function test_challenge_ShipToAnInvalidReceiver() public {
        bytes32 lot = _known("lot-k2");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        // An auditor cannot hold custody.
        _step(FARM_PK, _ship(farm, lot, auditor), false);
        _anchorAndExpectFraud(
            lot, abi.encodeWithSelector(IBatchRegistry.BatchRegistryInvalidReceiver.selector, auditor)
        );
    }

    function test_challenge_HeadMismatch() public {
        bytes32 lot = _known("lot-k3");
        bytes32 head = _step(FARM_PK, _commissionEvent(farm, lot), true);
        IBatchRegistry.TraceEvent memory ship = _ship(farm, lot, carrier);
        ship.prevEventHash = keccak256("another head");
        _step(FARM_PK, ship, false);
        _anchorAndExpectFraud(
            lot,
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryHeadMismatch.selector, lot, head, ship.prevEventHash)
        );
    }

    function test_challenge_SeqOutsideItsWindow() public {
        bytes32 lot = _known("lot-k4");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        windowTransitions[0].seq = 7;
        _anchorAndExpectFraud(
            lot, abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeSeqOutsideWindow.selector, 7, 1, 1)
        );
    }

    // ===== contradicting windows =====

    function test_challengeLinkage_ForgedPreState() public {
        bytes32 lot = _known("lot-l");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), true);
        bytes32 rootA = _anchor();
        // The node claims the batch arrived ACTIVE at the carrier after the SHIP: the carrier's
        // SHIP is then valid from that pre-state, but the pre-state is not what the SHIP left.
        state[lot].status = ACTIVE;
        state[lot].custodian = carrierId;
        _step(CARRIER_PK, _ship(carrier, lot, shop), false);
        bytes32 rootB = _anchor();
        ICustodyChallenge.Transition memory a = _last(rootA, lot);
        ICustodyChallenge.Transition memory b = _last(rootB, lot);
        _expectValid(rootB, b);

        _link(rootA, a, rootB, b);

        _assertMarked(rootB, ICustodyChallenge.FraudKind.FORGED_PRE_STATE);
        vm.assertFalse(challenge.fraudulent(rootA));
    }

    function test_challengeLinkage_Fork() public {
        (bytes32 lot, bytes32 rootA, bytes32 rootB) = _forkAcrossTwoWindows("lot-m");

        _link(rootA, _last(rootA, lot), rootB, _last(rootB, lot));

        _assertMarked(rootB, ICustodyChallenge.FraudKind.FORK);
    }

    function test_challengeLinkage_DoubleCreation() public {
        bytes32 lot = _known("lot-n");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        bytes32 rootA = _anchor();
        delete state[lot];
        IBatchRegistry.TraceEvent memory again = _commissionEvent(farm, lot);
        again.quantity = 5;
        _step(FARM_PK, again, false);
        bytes32 rootB = _anchor();
        // Each creation alone is valid from its pre-state.
        _expectValid(rootB, _last(rootB, lot));

        _link(rootA, _last(rootA, lot), rootB, _last(rootB, lot));

        _assertMarked(rootB, ICustodyChallenge.FraudKind.DOUBLE_CREATION);
    }

    function test_challengeLinkage_ForkInsideOneWindow() public {
        bytes32 lot = _known("lot-o");
        bytes32 head = _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), true);
        state[lot] = Leaf({head: head, custodian: farmId, status: ACTIVE, count: 2});
        _step(FARM_PK, _ship(farm, lot, shop), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition[] memory ts = transitionsOf[root];

        _link(root, ts[1], root, ts[2]);

        _assertMarked(root, ICustodyChallenge.FraudKind.FORK);
    }

    // ===== claims that prove nothing =====

    function test_RevertWhen_TransitionProofIsForged() public {
        bytes32 lot = _known("lot-p");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(CARRIER_PK, _ship(carrier, lot, shop), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);
        bytes32[] memory proof = _transitionProof(root, t);
        IBatchRegistry.SignedEvent memory signed = _signed(t.eventHash);
        t.postCustodian = shopId;

        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeInvalidTransitionProof.selector, root));
        challenge.challengeTransition(_window(root), t, proof, signed, _eventProof(root, t.eventHash), _noProofs());
    }

    /// @dev A claim whose roots are not the window's commitment's is refused before anything
    /// else: a transition proven into a transition root of the challenger's making (the
    /// forged pair's state root kept, or swapped with the transition root) marks nothing.
    function test_RevertWhen_RootPairIsForged() public {
        bytes32 lot = _known("lot-forged-roots");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), true);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);
        // The honest SHIP, rewritten as a SHIP by a non-custodian, in a tree of one leaf.
        t.preCustodian = shopId;
        Claim memory claim = _claim(root, _last(root, lot));
        ICustodyChallenge.Window memory forged = _window(root);
        forged.transitionRoot = challenge.transitionLeaf(t);
        bytes32[] memory none = new bytes32[](0);

        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongRoots.selector, root));
        challenge.challengeTransition(forged, t, none, claim.signed, claim.eventProof, _noProofs());

        ICustodyChallenge.Window memory swapped = _window(root);
        (swapped.stateRoot, swapped.transitionRoot) = (swapped.transitionRoot, swapped.stateRoot);
        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongRoots.selector, root));
        challenge.challengeTransition(swapped, t, none, claim.signed, claim.eventProof, _noProofs());

        ICustodyChallenge.Window memory otherState = _window(root);
        otherState.stateRoot = keccak256("another state");
        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongRoots.selector, root));
        _send(otherState, _last(root, lot), claim, _noProofs(), _noEvidence());
        vm.assertFalse(challenge.fraudulent(root));
    }

    function test_RevertWhen_LinkageRootPairIsForged() public {
        (bytes32 lot, bytes32 rootA, bytes32 rootB) = _forkAcrossTwoWindows("lot-forged-link");
        ICustodyChallenge.Transition memory a = _last(rootA, lot);
        ICustodyChallenge.Transition memory b = _last(rootB, lot);
        ICustodyChallenge.Window memory forgedB = _window(rootB);
        forgedB.stateRoot = keccak256("another state");

        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongRoots.selector, rootB));
        challenge.challengeLinkage(
            _window(rootA), a, _transitionProof(rootA, a), forgedB, b, _transitionProof(rootB, b)
        );
        ICustodyChallenge.Window memory forgedA = _window(rootA);
        forgedA.transitionRoot = keccak256("another tree");
        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongRoots.selector, rootA));
        challenge.challengeLinkage(
            forgedA, a, _transitionProof(rootA, a), _window(rootB), b, _transitionProof(rootB, b)
        );
        vm.assertFalse(challenge.fraudulent(rootB));
        _link(rootA, a, rootB, b);
        _assertMarked(rootB, ICustodyChallenge.FraudKind.FORK);
    }

    function test_RevertWhen_CreationEvidenceRootPairIsForged() public {
        bytes32 lot = _known("lot-forged-creation");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _anchor();
        _step(SHOP_PK, _simple(IBatchRegistry.Action.RECALL, shop, lot), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);
        ICustodyChallenge.Evidence memory evidence = _creationEvidence(lot);
        evidence.creationWindow.stateRoot = keccak256("another state");
        Claim memory claim = _claim(root, t);

        vm.expectRevert(
            abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeWrongRoots.selector, evidence.creationWindow.root)
        );
        _send(root, t, claim, _noProofs(), evidence);
        vm.assertFalse(challenge.fraudulent(root));
    }

    function test_RevertWhen_EventProofIsForged() public {
        bytes32 lot = _known("lot-q");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(CARRIER_PK, _ship(carrier, lot, shop), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);
        bytes32[] memory badProof = new bytes32[](1);
        badProof[0] = keccak256("not a sibling");
        IBatchRegistry.SignedEvent memory signed = _signed(t.eventHash);

        vm.expectRevert(
            abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeInvalidEventProof.selector, root, t.eventHash)
        );
        challenge.challengeTransition(_window(root), t, _transitionProof(root, t), signed, badProof, _noProofs());
    }

    function test_RevertWhen_EventIsNotTheTransitions() public {
        bytes32 lot = _known("lot-r");
        bytes32 commissionHash = _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(CARRIER_PK, _ship(carrier, lot, shop), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);
        IBatchRegistry.SignedEvent memory commission = _signed(commissionHash);

        vm.expectRevert(
            abi.encodeWithSelector(
                ICustodyChallenge.CustodyChallengeEventMismatch.selector, t.eventHash, commissionHash
            )
        );
        challenge.challengeTransition(
            _window(root), t, _transitionProof(root, t), commission, _eventProof(root, t.eventHash), _noProofs()
        );
    }

    function test_RevertWhen_WindowIsEnforced() public {
        bytes32 lot = _known("lot-s");
        IBatchRegistry.SignedEvent memory signed = _sign(FARM_PK, _commissionEvent(farm, lot));
        bytes32 h = batches.submit(signed);
        bytes32[] memory one = new bytes32[](1);
        one[0] = MerkleTrees.leaf(abi.encode(h));
        vm.prank(node);
        anchors.anchor(one[0], 1, 1);
        ICustodyChallenge.Transition memory t;
        t.eventHash = h;

        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeNotAnchorOnly.selector, one[0]));
        challenge.challengeTransition(
            ICustodyChallenge.Window(one[0], keccak256("state"), keccak256("transitions")),
            t,
            new bytes32[](0),
            signed,
            new bytes32[](0),
            _noProofs()
        );
    }

    function test_RevertWhen_WindowIsMarkedAlready() public {
        bytes32 lot = _known("lot-t");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(CARRIER_PK, _ship(carrier, lot, shop), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);
        _challengeWith(root, t, _noProofs(), _noEvidence());
        address first = address(this);

        Claim memory claim = _claim(root, t);
        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeAlreadyFraudulent.selector, root));
        vm.prank(address(0xBEEF));
        _send(root, t, claim, _noProofs(), _noEvidence());
        vm.assertEq(challenge.fraudOf(root).challenger, first, "the first mark stands");
    }

    function test_RevertWhen_LinkageAcrossNodes() public {
        address otherNode = address(0x0DD);
        bytes32 role = anchors.NODE_ROLE();
        vm.prank(admin);
        anchors.grantRole(role, otherNode);
        bytes32 lot = _known("lot-u");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        bytes32 rootA = _anchor();
        delete state[lot];
        nextSeq = 1;
        _step(FARM_PK, _commissionEvent(farm, lot), false);
        bytes32 rootB = _anchorAs(otherNode);

        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeDifferentNodes.selector, rootA, rootB));
        challenge.challengeLinkage(
            _window(rootA),
            _last(rootA, lot),
            _transitionProof(rootA, _last(rootA, lot)),
            _window(rootB),
            _last(rootB, lot),
            _transitionProof(rootB, _last(rootB, lot))
        );
    }

    function test_RevertWhen_LinkageIsOutOfOrder() public {
        bytes32 lot = _known("lot-v");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        bytes32 rootA = _anchor();
        delete state[lot];
        _step(FARM_PK, _commissionEvent(farm, lot), false);
        bytes32 rootB = _anchor();
        ICustodyChallenge.Transition memory a = _last(rootA, lot);
        ICustodyChallenge.Transition memory b = _last(rootB, lot);

        vm.expectRevert(
            abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeNotComparable.selector, lot, b.seq, a.seq)
        );
        challenge.challengeLinkage(
            _window(rootB), b, _transitionProof(rootB, b), _window(rootA), a, _transitionProof(rootA, a)
        );
    }

    function test_RevertWhen_LinkageEvidenceWindowIsMarked() public {
        bytes32 lot = _known("lot-w");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(CARRIER_PK, _ship(carrier, lot, shop), false);
        bytes32 rootA = _anchor();
        _challengeWith(rootA, _last(rootA, lot), _noProofs(), _noEvidence());
        delete state[lot];
        _step(FARM_PK, _commissionEvent(farm, lot), false);
        bytes32 rootB = _anchor();

        vm.expectRevert(abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeEvidenceFraudulent.selector, rootA));
        _link(rootA, _last(rootA, lot), rootB, _last(rootB, lot));
    }

    function test_RevertWhen_ShipmentEvidenceIsNotTheShipment() public {
        bytes32 lot = _known("lot-x");
        bytes32 commissionHash = _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), true);
        _step(SHOP_PK, _simple(IBatchRegistry.Action.RECEIVE, shop, lot), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Evidence memory evidence = _noEvidence();
        // A SHIP to the shop that is not the one at the pre-head.
        evidence.shipment = events[commissionHash];
        evidence.shipment.action = uint8(IBatchRegistry.Action.SHIP);
        evidence.shipment.counterparty = shop;

        _expectClaimRevert(
            root,
            _last(root, lot),
            _noProofs(),
            evidence,
            abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeInvalidEvidence.selector, lot)
        );
    }

    function test_transitionLeaf_IsTheSpecsEncoding() public view {
        ICustodyChallenge.Transition memory t = ICustodyChallenge.Transition({
            eventHash: keccak256("e"),
            seq: 7,
            signerId: 3,
            batchId: keccak256("b"),
            preHead: keccak256("h0"),
            preCustodian: 3,
            preStatus: 1,
            preCount: 4,
            postHead: keccak256("e"),
            postCustodian: 3,
            postStatus: 2,
            postCount: 5
        });
        bytes memory encoded = abi.encode(
            t.eventHash,
            uint64(7),
            uint32(3),
            t.batchId,
            t.preHead,
            uint256(3),
            uint8(1),
            uint256(4),
            t.postHead,
            uint256(3),
            uint8(2),
            uint256(5)
        );
        vm.assertEq(challenge.transitionLeaf(t), MerkleTrees.leaf(encoded));
    }

    /// @dev What a challenge costs (docs/contracts.md): a SHIP by a non-custodian in a window of
    /// 64 events, a RECEIVE by someone not named (with the shipment), and a fork.
    function test_gas_Challenges() public {
        bytes32 lot = _known("lot-gas");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        for (uint256 i; i < 62; ++i) {
            _step(AUDITOR_PK, _simple(IBatchRegistry.Action.OBSERVE, auditor, lot), true);
        }
        _step(CARRIER_PK, _ship(carrier, lot, shop), false);
        bytes32 root = _anchor();
        ICustodyChallenge.Transition memory t = _last(root, lot);
        bytes32[] memory transitionProof = _transitionProof(root, t);
        bytes32[] memory eventProof = _eventProof(root, t.eventHash);
        IBatchRegistry.SignedEvent memory signed = _signed(t.eventHash);
        ICustodyChallenge.Window memory window = _window(root);

        uint256 before = gasleft();
        challenge.challengeTransition(window, t, transitionProof, signed, eventProof, _noProofs());
        uint256 used = before - gasleft();
        console.log("challengeTransition gas (SHIP by a non-custodian, 64-event window)", used);
        vm.assertTrue(challenge.fraudulent(root));
        vm.assertTrue(used < 150_000, "a challenge of a SHIP costs less than 150,000 gas");
    }

    /// @dev What a linkage claim costs (docs/contracts.md): a fork across two windows.
    function test_gas_Linkage() public {
        (bytes32 lot, bytes32 rootA, bytes32 rootB) = _forkAcrossTwoWindows("lot-gas-fork");
        ICustodyChallenge.Transition memory a = _last(rootA, lot);
        ICustodyChallenge.Transition memory b = _last(rootB, lot);
        bytes32[] memory proofA = _transitionProof(rootA, a);
        bytes32[] memory proofB = _transitionProof(rootB, b);
        ICustodyChallenge.Window memory windowA = _window(rootA);
        ICustodyChallenge.Window memory windowB = _window(rootB);

        uint256 before = gasleft();
        challenge.challengeLinkage(windowA, a, proofA, windowB, b, proofB);
        uint256 used = before - gasleft();
        console.log("challengeLinkage gas (a fork across two windows)", used);
        _assertMarked(rootB, ICustodyChallenge.FraudKind.FORK);
        vm.assertTrue(used < 120_000, "a linkage claim costs less than 120,000 gas");
    }

    // ===== the node played by the test =====

    /// @dev Three windows: every action, a pallet packed, an adoption from outside and the
    /// return of an exported lot. Returns the roots and the lots.
    function _honestChain() internal returns (bytes32[] memory roots, bytes32[] memory lots) {
        roots = new bytes32[](3);
        lots = new bytes32[](6);
        bytes32 milk = _known(bytes("https://id.gs1.org/01/00614141000012/10/MILK"), 7);
        bytes32 beef = _known("beef-1");
        bytes32 cheese = _known("cheese-1");
        bytes32 pallet = _known("pallet-1");
        bytes32 imported = _known("imported-1");
        bytes32 exported = _known("exported-1");
        lots[0] = milk;
        lots[1] = beef;
        lots[2] = cheese;
        lots[3] = pallet;
        lots[4] = imported;
        lots[5] = exported;

        _step(FARM_PK, _commissionEvent(farm, milk), true);
        _step(FARM_PK, _commissionEvent(farm, beef), true);
        _step(AUDITOR_PK, _simple(IBatchRegistry.Action.OBSERVE, auditor, milk), true);
        _step(FARM_PK, _ship(farm, milk, carrier), true);
        _step(FARM_PK, _commissionEvent(farm, exported), true);
        roots[0] = _anchor();

        vm.roll(block.number + 1);
        _step(CARRIER_PK, _simple(IBatchRegistry.Action.RECEIVE, carrier, milk), true);
        _step(CARRIER_PK, _ship(carrier, milk, processor), true);
        _step(PROCESSOR_PK, _simple(IBatchRegistry.Action.RECEIVE, processor, milk), true);
        _step(PROCESSOR_PK, _transformEvent(processor, _single(milk), _single(cheese)), true);
        IBatchRegistry.TraceEvent memory pack = _event(uint8(IBatchRegistry.Action.AGGREGATE), pallet, 0, processor);
        pack.inputs = _single(cheese);
        pack.inputPrevHashes = _single(state[cheese].head);
        _step(PROCESSOR_PK, pack, true);
        _step(FARM_PK, _simple(IBatchRegistry.Action.RECALL, farm, beef), true);
        _step(FARM_PK, _ship(farm, exported, address(0)), true);
        roots[1] = _anchor();

        vm.roll(block.number + 1);
        _step(REGULATOR_PK, _simple(IBatchRegistry.Action.RECALL, regulator, cheese), true);
        _step(FARM_PK, _simple(IBatchRegistry.Action.DESTROY, farm, beef), true);
        _step(SHOP_PK, _simple(IBatchRegistry.Action.RECEIVE, shop, imported), true);
        _step(SHOP_PK, _simple(IBatchRegistry.Action.RECEIVE, shop, exported), true);
        roots[2] = _anchor();
    }

    /// @dev Signs `ev`, writes the node's transition of each batch it names (ascending batch
    /// id) into the window being built and moves the node's state; `honest`: BatchRegistry
    /// executes it too and reaches the state the node keeps.
    function _step(uint256 pk, IBatchRegistry.TraceEvent memory ev, bool honest) internal returns (bytes32 h) {
        IBatchRegistry.SignedEvent memory signed = _signedEvent(pk, ev);
        h = _record(pk, ev);
        bytes32[] memory ids = _named(ev);
        bool executed =
            ev.action != uint8(IBatchRegistry.Action.OBSERVE) && ev.action != uint8(IBatchRegistry.Action.AGGREGATE);
        if (honest && executed) {
            batches.submit(signed);
            for (uint256 i; i < ids.length; ++i) {
                IBatchRegistry.Batch memory stored = batches.batch(ids[i]);
                vm.assertEq(stored.head, state[ids[i]].head, "the enforced mode reached the node's head");
                vm.assertEq(stored.custodian, state[ids[i]].custodian, "and its custodian");
                vm.assertEq(uint8(stored.status), state[ids[i]].status, "and its status");
            }
        }
    }

    /// @dev The node's side of {_step}: the transitions of signed `ev` from the node's state.
    function _record(uint256 pk, IBatchRegistry.TraceEvent memory ev) internal returns (bytes32 h) {
        h = batches.hashEvent(ev);
        events[h] = ev;
        signerKeys[h] = pk;
        uint32 signerId = participants.keyRecord(vm.addr(pk)).participantId;
        uint64 seq = nextSeq++;
        windowEvents.push(h);
        bytes32[] memory ids = _named(ev);
        for (uint256 i; i < ids.length; ++i) {
            Leaf memory pre = state[ids[i]];
            Leaf memory post = _advance(pre, ev, ids[i], h, signerId);
            windowTransitions.push(
                ICustodyChallenge.Transition({
                    eventHash: h,
                    seq: seq,
                    signerId: signerId,
                    batchId: ids[i],
                    preHead: pre.head,
                    preCustodian: pre.custodian,
                    preStatus: pre.status,
                    preCount: pre.count,
                    postHead: post.head,
                    postCustodian: post.custodian,
                    postStatus: post.status,
                    postCount: post.count
                })
            );
            state[ids[i]] = post;
        }
    }

    /// @dev node/events/lifecycle.py `transition`, applied as node/proofs/state.py `advance` does.
    function _advance(Leaf memory pre, IBatchRegistry.TraceEvent memory ev, bytes32 batchId, bytes32 h, uint32 signer)
        internal
        pure
        returns (Leaf memory post)
    {
        post = Leaf({head: pre.head, custodian: pre.custodian, status: pre.status, count: pre.count + 1});
        uint8 action = ev.action;
        if (
            action == uint8(IBatchRegistry.Action.OBSERVE) || action == uint8(IBatchRegistry.Action.AGGREGATE)
                || action == uint8(IBatchRegistry.Action.DISAGGREGATE)
        ) return post;
        post.head = h;
        if (action == uint8(IBatchRegistry.Action.TRANSFORM)) {
            bool output;
            for (uint256 i; i < ev.outputs.length; ++i) {
                if (ev.outputs[i] == batchId) output = true;
            }
            post.status = output ? ACTIVE : uint8(IBatchRegistry.Status.CONSUMED);
            if (output) post.custodian = signer;
        } else if (action == uint8(IBatchRegistry.Action.SHIP)) {
            post.status = ev.counterparty == address(0) ? uint8(IBatchRegistry.Status.EXPORTED) : IN_TRANSIT;
        } else if (action == uint8(IBatchRegistry.Action.COMMISSION) || action == uint8(IBatchRegistry.Action.RECEIVE))
        {
            post.status = ACTIVE;
            post.custodian = signer;
        } else if (action == uint8(IBatchRegistry.Action.RECALL)) {
            post.status = uint8(IBatchRegistry.Status.RECALLED);
        } else {
            post.status = uint8(IBatchRegistry.Status.DESTROYED);
        }
    }

    /// @dev The batches `ev` names, in ascending id order.
    function _named(IBatchRegistry.TraceEvent memory ev) internal pure returns (bytes32[] memory) {
        bytes32[] memory all = new bytes32[](1 + ev.inputs.length + ev.outputs.length);
        uint256 n;
        if (ev.batchId != bytes32(0)) all[n++] = ev.batchId;
        for (uint256 i; i < ev.inputs.length; ++i) {
            all[n++] = ev.inputs[i];
        }
        for (uint256 i; i < ev.outputs.length; ++i) {
            all[n++] = ev.outputs[i];
        }
        bytes32[] memory named = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            named[i] = all[i];
        }
        return MerkleTrees.sorted(named);
    }

    function _anchor() internal returns (bytes32 root) {
        return _anchorAs(node);
    }

    /// @dev Anchors the window built so far with `anchorWindow`, as `anchorer`.
    function _anchorAs(address anchorer) internal returns (bytes32 root) {
        uint256 n = windowEvents.length;
        bytes32[] memory eventLeaves = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            eventLeaves[i] = MerkleTrees.leaf(abi.encode(windowEvents[i]));
        }
        root = MerkleTrees.build(eventLeaves)[0];
        ICustodyChallenge.Transition[] memory ts = windowTransitions;
        bytes32[] memory transitionLeaves = new bytes32[](ts.length);
        for (uint256 i; i < ts.length; ++i) {
            transitionLeaves[i] = MerkleTrees.leaf(abi.encode(ts[i]));
            transitionsOf[root].push(ts[i]);
            if (ts[i].preStatus == NONE && ts[i].postStatus != NONE) {
                creationRoot[ts[i].batchId] = root;
                creationEvent[ts[i].batchId] = ts[i].eventHash;
            }
        }
        eventsOf[root] = windowEvents;
        uint64 firstSeq = nextSeq - uint64(n);
        windowOf[root] = ICustodyChallenge.Window({
            root: root,
            stateRoot: keccak256(abi.encode("state", root)),
            transitionRoot: MerkleTrees.build(transitionLeaves)[0]
        });
        vm.prank(anchorer);
        anchors.anchorWindow(root, windowOf[root].stateRoot, windowOf[root].transitionRoot, firstSeq, uint32(n));
        delete windowEvents;
        delete windowTransitions;
    }

    /// @dev A fork across two windows: the farm commissions and ships lot `name` to the carrier
    /// (window A); the node then rolls its state back and anchors a second SHIP extending the
    /// commission (window B).
    function _forkAcrossTwoWindows(string memory name) internal returns (bytes32 lot, bytes32 rootA, bytes32 rootB) {
        lot = _known(name);
        bytes32 head = _step(FARM_PK, _commissionEvent(farm, lot), true);
        _step(FARM_PK, _ship(farm, lot, carrier), true);
        rootA = _anchor();
        state[lot] = Leaf({head: head, custodian: farmId, status: ACTIVE, count: 2});
        _step(FARM_PK, _ship(farm, lot, shop), false);
        rootB = _anchor();
    }

    /// @dev Window `root` as a claim names it: with the roots its `anchorWindow` log gave.
    function _window(bytes32 root) internal view returns (ICustodyChallenge.Window memory) {
        return windowOf[root];
    }

    function _transitionProof(bytes32 root, ICustodyChallenge.Transition memory t)
        internal
        view
        returns (bytes32[] memory)
    {
        ICustodyChallenge.Transition[] memory ts = transitionsOf[root];
        bytes32[] memory leaves = new bytes32[](ts.length);
        for (uint256 i; i < ts.length; ++i) {
            leaves[i] = MerkleTrees.leaf(abi.encode(ts[i]));
        }
        return MerkleTrees.proof(MerkleTrees.build(leaves), MerkleTrees.leaf(abi.encode(t)));
    }

    function _eventProof(bytes32 root, bytes32 eventHash) internal view returns (bytes32[] memory) {
        bytes32[] memory hashes = eventsOf[root];
        bytes32[] memory leaves = new bytes32[](hashes.length);
        for (uint256 i; i < hashes.length; ++i) {
            leaves[i] = MerkleTrees.leaf(abi.encode(hashes[i]));
        }
        return MerkleTrees.proof(MerkleTrees.build(leaves), MerkleTrees.leaf(abi.encode(eventHash)));
    }

    /// @dev The last transition of `batchId` in window `root`.
    function _last(bytes32 root, bytes32 batchId) internal view returns (ICustodyChallenge.Transition memory t) {
        ICustodyChallenge.Transition[] memory ts = transitionsOf[root];
        for (uint256 i; i < ts.length; ++i) {
            if (ts[i].batchId == batchId) t = ts[i];
        }
        require(t.eventHash != bytes32(0), "no transition of the batch");
    }

    // ----- events -----

    function _signedEvent(uint256 pk, IBatchRegistry.TraceEvent memory ev)
        internal
        view
        returns (IBatchRegistry.SignedEvent memory signed)
    {
        signed = _sign(pk, ev);
        // A RECEIVE that adopts a batch never seen carries its identifier.
        if (
            ev.action == uint8(IBatchRegistry.Action.RECEIVE) && ev.prevEventHash == bytes32(0)
                && state[ev.batchId].status == NONE
        ) {
            signed.identifiers = new IBatchRegistry.IdentifierProof[](1);
            signed.identifiers[0] = _proof(ev.batchId);
        }
    }

    function _signed(bytes32 eventHash) internal view returns (IBatchRegistry.SignedEvent memory) {
        return _sign(signerKeys[eventHash], events[eventHash]);
    }

    /// @dev The identifiers of the batches event `eventHash` creates or adopts.
    function _proofsOf(bytes32 eventHash) internal view returns (IBatchRegistry.IdentifierProof[] memory proofs) {
        IBatchRegistry.TraceEvent memory ev = events[eventHash];
        bytes32[] memory ids = _named(ev);
        proofs = new IBatchRegistry.IdentifierProof[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            proofs[i] = _proof(ids[i]);
        }
    }

    function _ship(address signer, bytes32 batchId, address receiver)
        internal
        returns (IBatchRegistry.TraceEvent memory ev)
    {
        ev = _event(uint8(IBatchRegistry.Action.SHIP), batchId, state[batchId].head, signer);
        ev.counterparty = receiver;
    }

    function _simple(IBatchRegistry.Action action, address signer, bytes32 batchId)
        internal
        returns (IBatchRegistry.TraceEvent memory)
    {
        return _event(uint8(action), batchId, state[batchId].head, signer);
    }

    // ----- challenges -----

    function _noProofs() internal pure returns (IBatchRegistry.IdentifierProof[] memory) {
        return new IBatchRegistry.IdentifierProof[](0);
    }

    function _noEvidence() internal pure returns (ICustodyChallenge.Evidence memory evidence) {
        evidence.shipment = _emptyEvent();
        evidence.creationEvent = _emptyEvent();
        evidence.creationProof = new bytes32[](0);
    }

    function _emptyEvent() internal pure returns (IBatchRegistry.TraceEvent memory ev) {
        ev.inputs = new bytes32[](0);
        ev.inputPrevHashes = new bytes32[](0);
        ev.outputs = new bytes32[](0);
    }

    /// @dev The evidence of `batchId`'s creation: its transition, window and event.
    function _creationEvidence(bytes32 batchId) internal view returns (ICustodyChallenge.Evidence memory evidence) {
        evidence = _noEvidence();
        bytes32 root = creationRoot[batchId];
        ICustodyChallenge.Transition[] memory ts = transitionsOf[root];
        for (uint256 i; i < ts.length; ++i) {
            if (ts[i].batchId == batchId && ts[i].preStatus == NONE) evidence.creation = ts[i];
        }
        evidence.creationWindow = _window(root);
        evidence.creationProof = _transitionProof(root, evidence.creation);
        evidence.creationEvent = events[evidence.creation.eventHash];
    }

    /// @dev The evidence an honest challenger brings for `t`: the shipment a RECEIVE extends,
    /// the creation of a recalled batch.
    function _evidenceFor(ICustodyChallenge.Transition memory t)
        internal
        view
        returns (ICustodyChallenge.Evidence memory evidence)
    {
        evidence = _noEvidence();
        uint8 action = events[t.eventHash].action;
        if (action == uint8(IBatchRegistry.Action.RECEIVE) && t.preStatus == IN_TRANSIT) {
            evidence.shipment = events[t.preHead];
        } else if (action == uint8(IBatchRegistry.Action.RECALL) && t.preStatus != NONE) {
            evidence = _creationEvidence(t.batchId);
        }
    }

    /// @dev What a challenger proves a transition with: its proof, its signed event and that event's proof.
    struct Claim {
        bytes32[] transitionProof;
        IBatchRegistry.SignedEvent signed;
        bytes32[] eventProof;
    }

    function _claim(bytes32 root, ICustodyChallenge.Transition memory t) internal view returns (Claim memory) {
        return Claim(_transitionProof(root, t), _signed(t.eventHash), _eventProof(root, t.eventHash));
    }

    /// @dev The challenge call alone (the claim is built before, so that expectations apply to it).
    function _send(
        bytes32 root,
        ICustodyChallenge.Transition memory t,
        Claim memory claim,
        IBatchRegistry.IdentifierProof[] memory proofs,
        ICustodyChallenge.Evidence memory evidence
    ) internal {
        _send(_window(root), t, claim, proofs, evidence);
    }

    function _send(
        ICustodyChallenge.Window memory window,
        ICustodyChallenge.Transition memory t,
        Claim memory claim,
        IBatchRegistry.IdentifierProof[] memory proofs,
        ICustodyChallenge.Evidence memory evidence
    ) internal {
        challenge.challengeTransitionWithEvidence(
            window, t, claim.transitionProof, claim.signed, claim.eventProof, proofs, evidence
        );
    }

    function _challengeWith(
        bytes32 root,
        ICustodyChallenge.Transition memory t,
        IBatchRegistry.IdentifierProof[] memory proofs,
        ICustodyChallenge.Evidence memory evidence
    ) internal {
        _send(root, t, _claim(root, t), proofs, evidence);
    }

    function _expectClaimRevert(
        bytes32 root,
        ICustodyChallenge.Transition memory t,
        IBatchRegistry.IdentifierProof[] memory proofs,
        ICustodyChallenge.Evidence memory evidence,
        bytes memory revertData
    ) internal {
        Claim memory claim = _claim(root, t);
        vm.expectRevert(revertData);
        _send(root, t, claim, proofs, evidence);
    }

    /// @dev `t` is valid: challenged with its identifiers and evidence, and with none where
    /// its verdict needs none, the claim is refused as valid.
    function _expectValid(bytes32 root, ICustodyChallenge.Transition memory t) internal {
        _expectClaimRevert(
            root,
            t,
            _proofsOf(t.eventHash),
            _evidenceFor(t),
            abi.encodeWithSelector(
                ICustodyChallenge.CustodyChallengeTransitionValid.selector, root, t.eventHash, t.batchId
            )
        );
        vm.assertFalse(challenge.fraudulent(root));
    }

    /// @dev Challenging `t` marks `root` and says `reason`.
    function _expectFraud(
        bytes32 root,
        ICustodyChallenge.Transition memory t,
        ICustodyChallenge.Evidence memory evidence,
        bytes memory reason
    ) internal {
        Claim memory claim = _claim(root, t);
        IBatchRegistry.IdentifierProof[] memory proofs = _proofsOf(t.eventHash);
        vm.expectEmit(address(challenge));
        emit ICustodyChallenge.TransitionRefused(root, t.eventHash, t.batchId, reason);
        vm.expectEmit(address(challenge));
        emit ICustodyChallenge.WindowFraudulent(
            root, address(this), uint8(ICustodyChallenge.FraudKind.INVALID_TRANSITION)
        );
        _send(root, t, claim, proofs, evidence);
        _assertMarked(root, ICustodyChallenge.FraudKind.INVALID_TRANSITION);
    }

    /// @dev Anchors the window built so far; challenging the last transition of `batchId` in
    /// it, without evidence, marks it and says `reason`.
    function _anchorAndExpectFraud(bytes32 batchId, bytes memory reason) internal {
        bytes32 root = _anchor();
        _expectFraud(root, _last(root, batchId), _noEvidence(), reason);
    }

    function _link(
        bytes32 rootA,
        ICustodyChallenge.Transition memory a,
        bytes32 rootB,
        ICustodyChallenge.Transition memory b
    ) internal {
        challenge.challengeLinkage(
            _window(rootA), a, _transitionProof(rootA, a), _window(rootB), b, _transitionProof(rootB, b)
        );
    }

    /// @dev No two transitions of `batchId` across `roots`, in sequence order, contradict.
    function _expectNoContradiction(bytes32[] memory roots, bytes32 batchId) internal {
        for (uint256 wa; wa < roots.length; ++wa) {
            ICustodyChallenge.Transition[] memory tas = transitionsOf[roots[wa]];
            for (uint256 wb = wa; wb < roots.length; ++wb) {
                ICustodyChallenge.Transition[] memory tbs = transitionsOf[roots[wb]];
                for (uint256 i; i < tas.length; ++i) {
                    for (uint256 j; j < tbs.length; ++j) {
                        if (tas[i].batchId != batchId || tbs[j].batchId != batchId || tas[i].seq >= tbs[j].seq) {
                            continue;
                        }
                        vm.expectRevert(
                            abi.encodeWithSelector(
                                ICustodyChallenge.CustodyChallengeNoContradiction.selector, roots[wa], roots[wb]
                            )
                        );
                        _link(roots[wa], tas[i], roots[wb], tbs[j]);
                    }
                }
            }
        }
    }

    function _assertMarked(bytes32 root, ICustodyChallenge.FraudKind kind) internal view {
        ICustodyChallenge.Fraud memory fraud = challenge.fraudOf(root);
        vm.assertTrue(challenge.fraudulent(root));
        vm.assertEq(uint8(fraud.kind), uint8(kind));
        vm.assertEq(fraud.challenger, address(this));
        vm.assertEq(fraud.blockNumber, block.number);
    }

    /// A dishonest anchor-only node lets the carrier ship the farm's lot by writing the SHIP's
    /// pre-state as (head 0, custodian carrier, ACTIVE): a state no batch can be in (every
    /// existing batch has a head), so the transition is malformed and its window fraudulent.
    function test_zeroHeadPreStateOfAnExistingBatchIsFraud() public {
        bytes32 lot = _known("zero-head-lot");
        _step(FARM_PK, _commissionEvent(farm, lot), true);
        _anchor();
        state[lot] = Leaf({head: bytes32(0), custodian: carrierId, status: ACTIVE, count: 1});
        IBatchRegistry.TraceEvent memory ship = _ship(carrier, lot, shop);
        vm.assertEq(ship.prevEventHash, bytes32(0));
        _record(CARRIER_PK, ship);
        bytes32 root = _anchor();
        _expectFraud(
            root,
            _last(root, lot),
            _noEvidence(),
            abi.encodeWithSelector(ICustodyChallenge.CustodyChallengeMalformedPreState.selector, lot)
        );
    }

    /// The farm's licence of 4012345 has expired but is still held (not revoked): the enforced
    /// mode refuses the shop's adoption of a 4012345 lot, so an anchor-only window holding it
    /// is fraudulent (adoption is judged on licences held at the anchor block, not valid).
    function test_adoptionUnderAnExpiredButHeldLicenceIsFraud() public {
        vm.startPrank(admin);
        participants.license(farmId, 1, "4012345", uint48(block.number), uint48(block.number + 5));
        vm.stopPrank();
        vm.roll(block.number + 10);
        bytes32 lot = _known(bytes("https://id.gs1.org/01/04012345000019/10/EXP-1"), 7);
        IBatchRegistry.TraceEvent memory ev = _simple(IBatchRegistry.Action.RECEIVE, shop, lot);
        bytes memory reason =
            abi.encodeWithSelector(IBatchRegistry.BatchRegistryLicensedElsewhere.selector, lot, farmId);
        try batches.submit(_signedEvent(SHOP_PK, ev)) {
            revert("enforced mode accepted");
        } catch (bytes memory refused) {
            vm.assertEq(refused, reason);
        }
        _record(SHOP_PK, ev);
        bytes32 root = _anchor();
        _expectFraud(root, _last(root, lot), _noEvidence(), reason);
    }

    /// Once the expired licence is revoked, nobody holds 4012345: the adoption is valid.
    function test_adoptionAfterAnExpiredLicenceIsRevokedIsValid() public {
        vm.startPrank(admin);
        participants.license(farmId, 1, "4012345", uint48(block.number), uint48(block.number + 5));
        vm.roll(block.number + 10);
        participants.revoke(1, "4012345");
        vm.stopPrank();
        vm.roll(block.number + 1);
        bytes32 lot = _known(bytes("https://id.gs1.org/01/04012345000019/10/EXP-2"), 7);
        IBatchRegistry.TraceEvent memory ev = _simple(IBatchRegistry.Action.RECEIVE, shop, lot);
        _step(SHOP_PK, ev, true);
        bytes32 root = _anchor();
        _expectValid(root, _last(root, lot));
    }
}
