// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {AnchorRegistry} from "../src/AnchorRegistry.sol";
import {IAnchorRegistry} from "../src/interfaces/IAnchorRegistry.sol";
import {MerkleTrees} from "./utils/MerkleTrees.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";
import {console} from "./utils/Test.sol";

contract AnchorRegistryTest is TraceNodeTest {
    /// @dev Slot of `AnchorRegistry._lastSequence` (after AccessControl's `_roles` and `_anchors`);
    /// {test_lastSequenceSlot_MatchesStorageLayout} fails if the layout moves.
    uint256 internal constant LAST_SEQUENCE_SLOT = 2;

    address internal committer = address(0xC0417);
    address internal otherNode = address(0x40DF);
    address internal stranger = address(0x5757);

    bytes32 internal constant ROOT = keccak256("root-1");
    bytes32 internal constant ROOT_2 = keccak256("root-2");
    bytes32 internal constant ROOT_3 = keccak256("root-3");

    function setUp() public override {
        super.setUp();
        vm.startPrank(admin);
        anchors.grantRole(anchors.COMMITTER_ROLE(), committer);
        anchors.grantRole(anchors.NODE_ROLE(), otherNode);
        vm.stopPrank();
    }

    // ----- constructor -----

    function test_constructor_GrantsOnlyAdminRole() public {
        AnchorRegistry registry = new AnchorRegistry(admin);

        vm.assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin));
        vm.assertFalse(registry.hasRole(registry.NODE_ROLE(), admin));
        vm.assertFalse(registry.hasRole(registry.COMMITTER_ROLE(), admin));
    }

    function test_RevertWhen_ConstructorAdminIsZero() public {
        vm.expectRevert(IAnchorRegistry.AnchorRegistryZeroAddress.selector);
        new AnchorRegistry(address(0));
    }

    // ----- anchor -----

    function test_anchor_StoresAnchor() public {
        vm.roll(123);
        vm.warp(1_700_000_000);

        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        IAnchorRegistry.Anchor memory stored = anchors.anchorOf(ROOT);
        vm.assertEq(stored.firstSeq, 1);
        vm.assertEq(stored.eventCount, 5);
        vm.assertEq(stored.blockNumber, 123);
        vm.assertEq(stored.timestamp, 1_700_000_000);
        vm.assertTrue(anchors.isAnchored(ROOT));
    }

    function test_anchor_EmitsRootAnchored() public {
        vm.expectEmit(address(anchors));
        emit IAnchorRegistry.RootAnchored(ROOT, node, 1, 5);

        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);
    }

    function test_anchor_AdvancesNextSequence() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 5);
        uint64 afterFirst = anchors.nextSequence(node);
        anchors.anchor(ROOT_2, 6, 3);
        vm.stopPrank();

        vm.assertEq(afterFirst, 6);
        vm.assertEq(anchors.nextSequence(node), 9);
        vm.assertEq(anchors.anchorOf(ROOT_2).firstSeq, 6);
        vm.assertEq(anchors.anchorOf(ROOT_2).eventCount, 3);
    }

    function test_anchor_AcceptsLargestWindow() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, type(uint32).max);

        vm.assertEq(anchors.anchorOf(ROOT).eventCount, type(uint32).max);
        vm.assertEq(anchors.nextSequence(node), uint64(type(uint32).max) + 1);
    }

    function test_anchor_NodesHaveIndependentSequences() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.prank(otherNode);
        anchors.anchor(ROOT_2, 1, 2);

        vm.assertEq(anchors.nextSequence(node), 6);
        vm.assertEq(anchors.nextSequence(otherNode), 3);
        vm.assertEq(anchors.anchorOf(ROOT_2).firstSeq, 1);
    }

    function test_anchor_RevokedNodeKeepsItsAnchors() public {
        bytes32 nodeRole = anchors.NODE_ROLE();
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.prank(admin);
        anchors.revokeRole(nodeRole, node);

        vm.assertTrue(anchors.isAnchored(ROOT));
        vm.assertEq(anchors.anchorOf(ROOT).eventCount, 5);
        vm.assertEq(anchors.nextSequence(node), 6);
    }

    function test_RevertWhen_AnchorCallerIsNotNode() public {
        bytes32 nodeRole = anchors.NODE_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, nodeRole)
        );
        vm.prank(stranger);
        anchors.anchor(ROOT, 1, 5);
    }

    function test_RevertWhen_AnchorCallerIsCommitterWithoutNodeRole() public {
        bytes32 nodeRole = anchors.NODE_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, committer, nodeRole)
        );
        vm.prank(committer);
        anchors.anchor(ROOT, 1, 5);
    }

    function test_RevertWhen_AnchorCallerIsAdmin() public {
        bytes32 nodeRole = anchors.NODE_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, admin, nodeRole)
        );
        vm.prank(admin);
        anchors.anchor(ROOT, 1, 5);
    }

    function test_RevertWhen_AnchorCallerNodeRoleRevoked() public {
        bytes32 nodeRole = anchors.NODE_ROLE();
        vm.prank(admin);
        anchors.revokeRole(nodeRole, node);

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, node, nodeRole)
        );
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);
    }

    function test_RevertWhen_RootIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryZeroRoot.selector));
        vm.prank(node);
        anchors.anchor(bytes32(0), 1, 5);
    }

    function test_RevertWhen_WindowIsEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryEmptyWindow.selector));
        vm.prank(node);
        anchors.anchor(ROOT, 1, 0);
    }

    function test_RevertWhen_RootExists() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryRootExists.selector, ROOT));
        vm.prank(node);
        anchors.anchor(ROOT, 6, 2);
    }

    function test_RevertWhen_RootAnchoredByAnotherNode() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryRootExists.selector, ROOT));
        vm.prank(otherNode);
        anchors.anchor(ROOT, 1, 7);
    }

    function test_anchor_FailedOverwriteKeepsStoredAnchor() public {
        vm.roll(10);
        vm.warp(1000);
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);
        vm.roll(20);
        vm.warp(2000);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryRootExists.selector, ROOT));
        vm.prank(node);
        anchors.anchor(ROOT, 6, 9);
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryRootExists.selector, ROOT));
        vm.prank(otherNode);
        anchors.anchor(ROOT, 1, 9);

        IAnchorRegistry.Anchor memory stored = anchors.anchorOf(ROOT);
        vm.assertEq(stored.firstSeq, 1);
        vm.assertEq(stored.eventCount, 5);
        vm.assertEq(stored.blockNumber, 10);
        vm.assertEq(stored.timestamp, 1000);
        vm.assertEq(anchors.nextSequence(node), 6);
        vm.assertEq(anchors.nextSequence(otherNode), 1);
    }

    function test_RevertWhen_FirstWindowStartsAtZero() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, uint64(1), uint64(0))
        );
        vm.prank(node);
        anchors.anchor(ROOT, 0, 5);
    }

    function test_RevertWhen_FirstWindowStartsAtTwo() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, uint64(1), uint64(2))
        );
        vm.prank(node);
        anchors.anchor(ROOT, 2, 5);
    }

    function test_RevertWhen_WindowLeavesGap() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, uint64(6), uint64(7))
        );
        vm.prank(node);
        anchors.anchor(ROOT_2, 7, 5);
    }

    function test_RevertWhen_WindowOverlapsPrevious() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, uint64(6), uint64(5))
        );
        vm.prank(node);
        anchors.anchor(ROOT_2, 5, 5);
    }

    function test_RevertWhen_WindowRepeatsPrevious() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, uint64(6), uint64(1))
        );
        vm.prank(node);
        anchors.anchor(ROOT_2, 1, 5);
    }

    function test_RevertWhen_WindowFollowsAnotherNodesSequence() public {
        vm.prank(otherNode);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, uint64(1), uint64(6))
        );
        vm.prank(node);
        anchors.anchor(ROOT_2, 6, 5);
    }

    // ----- sequence overflow (state placed near the end of uint64 with vm.store) -----

    function test_lastSequenceSlot_MatchesStorageLayout() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        bytes32 stored = vm.load(address(anchors), _lastSequenceSlot(node));

        vm.assertEq(uint256(stored), 5);
    }

    function test_anchor_AcceptsWindowEndingAtLargestSequence() public {
        uint64 max = type(uint64).max;
        _setLastSequence(node, max - 10);

        vm.prank(node);
        anchors.anchor(ROOT, max - 9, 10);

        vm.assertEq(anchors.anchorOf(ROOT).firstSeq, max - 9);
        vm.assertEq(anchors.anchorOf(ROOT).eventCount, 10);
    }

    function test_RevertWhen_SequenceOverflow() public {
        uint64 max = type(uint64).max;
        _setLastSequence(node, max - 10);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistrySequenceOverflow.selector, max - 9, uint32(11))
        );
        vm.prank(node);
        anchors.anchor(ROOT, max - 9, 11);
    }

    function test_RevertWhen_SequenceOverflowByLargestWindow() public {
        uint64 max = type(uint64).max;
        _setLastSequence(node, max - 1);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistrySequenceOverflow.selector, max, type(uint32).max)
        );
        vm.prank(node);
        anchors.anchor(ROOT, max, type(uint32).max);
    }

    /// @dev After a window that ends at type(uint64).max the node has no next window; asking for
    /// it must still answer rather than fail with an arithmetic panic.
    function test_nextSequence_DoesNotRevertWhenSequenceExhausted() public {
        uint64 max = type(uint64).max;
        _setLastSequence(node, max - 10);
        vm.prank(node);
        anchors.anchor(ROOT, max - 9, 10);

        (bool ok,) = address(anchors).staticcall(abi.encodeCall(IAnchorRegistry.nextSequence, (node)));

        vm.assertTrue(ok, "nextSequence reverted for a node whose last window ends at type(uint64).max");
        vm.assertEq(anchors.nextSequence(node), 0, "an exhausted node has no next sequence");
    }

    // ----- anchorFor -----

    function test_anchorFor_AnchorsForNode() public {
        vm.roll(77);
        vm.warp(5555);

        vm.prank(committer);
        anchors.anchorFor(node, ROOT, 1, 4);

        IAnchorRegistry.Anchor memory stored = anchors.anchorOf(ROOT);
        vm.assertEq(stored.firstSeq, 1);
        vm.assertEq(stored.eventCount, 4);
        vm.assertEq(stored.blockNumber, 77);
        vm.assertEq(stored.timestamp, 5555);
        vm.assertEq(anchors.nextSequence(node), 5);
        vm.assertEq(anchors.nextSequence(committer), 1);
    }

    function test_anchorFor_EmitsRootAnchoredForNode() public {
        vm.expectEmit(address(anchors));
        emit IAnchorRegistry.RootAnchored(ROOT, node, 1, 4);

        vm.prank(committer);
        anchors.anchorFor(node, ROOT, 1, 4);
    }

    function test_anchorFor_SharesNodeSequenceWithAnchor() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.prank(committer);
        anchors.anchorFor(node, ROOT_2, 6, 3);
        vm.prank(node);
        anchors.anchor(ROOT_3, 9, 1);

        vm.assertEq(anchors.nextSequence(node), 10);
        vm.assertEq(anchors.anchorOf(ROOT_2).firstSeq, 6);
        vm.assertEq(anchors.anchorOf(ROOT_3).firstSeq, 9);
    }

    function test_RevertWhen_AnchorForCallerIsNotCommitter() public {
        bytes32 committerRole = anchors.COMMITTER_ROLE();

        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, node, committerRole)
        );
        vm.prank(node);
        anchors.anchorFor(node, ROOT, 1, 4);
    }

    function test_RevertWhen_AnchorForTargetIsNotNode() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotNode.selector, stranger));
        vm.prank(committer);
        anchors.anchorFor(stranger, ROOT, 1, 4);
    }

    function test_RevertWhen_AnchorForTargetNodeRoleRevoked() public {
        bytes32 nodeRole = anchors.NODE_ROLE();
        vm.prank(admin);
        anchors.revokeRole(nodeRole, node);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotNode.selector, node));
        vm.prank(committer);
        anchors.anchorFor(node, ROOT, 1, 4);
    }

    function test_RevertWhen_AnchorForWindowNotContiguous() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, uint64(6), uint64(1))
        );
        vm.prank(committer);
        anchors.anchorFor(node, ROOT_2, 1, 5);
    }

    function test_RevertWhen_AnchorForRootIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryZeroRoot.selector));
        vm.prank(committer);
        anchors.anchorFor(node, bytes32(0), 1, 4);
    }

    function test_RevertWhen_AnchorForWindowIsEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryEmptyWindow.selector));
        vm.prank(committer);
        anchors.anchorFor(node, ROOT, 1, 0);
    }

    function test_RevertWhen_AnchorForRootExists() public {
        vm.prank(otherNode);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryRootExists.selector, ROOT));
        vm.prank(committer);
        anchors.anchorFor(node, ROOT, 1, 4);
    }

    // ----- views -----

    function test_nextSequence_IsOneBeforeFirstWindow() public view {
        uint64 forNode = anchors.nextSequence(node);
        uint64 forStranger = anchors.nextSequence(stranger);

        vm.assertEq(forNode, 1);
        vm.assertEq(forStranger, 1);
    }

    function test_isAnchored_IsFalseForUnknownRoot() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.assertFalse(anchors.isAnchored(ROOT_2));
        vm.assertFalse(anchors.isAnchored(bytes32(0)));
    }

    function test_RevertWhen_AnchorOfUnknownRoot() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryUnknownRoot.selector, ROOT));
        anchors.anchorOf(ROOT);
    }

    // ----- verifyEvent -----

    /// @dev Roots printed by @openzeppelin/merkle-tree 1.0.8 for
    /// `StandardMerkleTree.of(values, ["bytes32"])`, values[i - 1] = keccak256(abi.encode(i)).
    function test_merkleHelper_MatchesMerkleTreeJsRoots() public pure {
        bytes32[5] memory expected = [
            bytes32(0x73139abbd176cf7f94893453632c00afefb2776f9805a21d03d176c885cd0d63),
            0xe0dd06f281fe5a95f64119b335de85c40697d1641610b63a2f1fbefcde46c549,
            0x51546dea0a2427c9fcb233aa7e45d0b0de3636950cb28b709200729220fbcf1e,
            0x2828e009e538cd7086db048630e473d92b5764981b42dcb2915b00fe12ae764d,
            0xeb1d744467385106cada1dfd0b58b2e2b11642da6a522d80d911b383493319f0
        ];
        uint256[5] memory sizes = [uint256(1), 2, 3, 4, 7];

        for (uint256 i; i < sizes.length; ++i) {
            bytes32 root = _buildTree(_numberedEvents(sizes[i]))[0];

            vm.assertEq(root, expected[i], string.concat("root of ", vm.toString(sizes[i]), " leaves"));
        }
    }

    /// @dev Proof printed by @openzeppelin/merkle-tree 1.0.8 for value 0 of the three-leaf tree above.
    function test_verifyEvent_AcceptsProofFromMerkleTreeJs() public {
        bytes32 root = 0x51546dea0a2427c9fcb233aa7e45d0b0de3636950cb28b709200729220fbcf1e;
        bytes32[] memory proof = new bytes32[](2);
        proof[0] = 0xb2cf20ba91b2809e795bd1bad411c342d12bbc18531a0897d027d3e5d8f37c4b;
        proof[1] = 0xc7c06de7e7d060da46f9721814db6bb8a757e1990dfeffbc755bf904891267a5;
        vm.prank(node);
        anchors.anchor(root, 1, 3);

        bool verified = anchors.verifyEvent(root, proof, keccak256(abi.encode(uint256(1))));

        vm.assertTrue(verified);
    }

    function test_verifyEvent_AcceptsEveryLeafOfOneLeafTree() public {
        _assertEveryLeafVerifies(_numberedEvents(1));
    }

    function test_verifyEvent_AcceptsEveryLeafOfTwoLeafTree() public {
        _assertEveryLeafVerifies(_numberedEvents(2));
    }

    function test_verifyEvent_AcceptsEveryLeafOfThreeLeafTree() public {
        _assertEveryLeafVerifies(_numberedEvents(3));
    }

    function test_verifyEvent_AcceptsEveryLeafOfFourLeafTree() public {
        _assertEveryLeafVerifies(_numberedEvents(4));
    }

    function test_verifyEvent_AcceptsEveryLeafOfSevenLeafTree() public {
        _assertEveryLeafVerifies(_numberedEvents(7));
    }

    function test_verifyEvent_OneLeafTreeHasEmptyProof() public {
        bytes32[] memory events = _numberedEvents(1);
        bytes32[] memory tree = _buildTree(events);
        vm.prank(node);
        anchors.anchor(tree[0], 1, 1);

        bool verified = anchors.verifyEvent(tree[0], new bytes32[](0), events[0]);

        vm.assertEq(tree.length, 1);
        vm.assertEq(tree[0], _leaf(events[0]));
        vm.assertTrue(verified);
    }

    function test_verifyEvent_RejectsEventNotInTree() public {
        bytes32[] memory events = _numberedEvents(7);
        bytes32[] memory tree = _buildTree(events);
        vm.prank(node);
        anchors.anchor(tree[0], 1, 7);
        bytes32 foreign = keccak256(abi.encode(uint256(8)));

        for (uint256 i; i < events.length; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));

            vm.assertFalse(anchors.verifyEvent(tree[0], proof, foreign), "foreign event");
        }
    }

    function test_verifyEvent_RejectsAnotherLeafsProof() public {
        bytes32[] memory events = _numberedEvents(7);
        bytes32[] memory tree = _buildTree(events);
        vm.prank(node);
        anchors.anchor(tree[0], 1, 7);

        for (uint256 i; i < events.length; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));
            for (uint256 j; j < events.length; ++j) {
                if (j == i) continue;

                vm.assertFalse(
                    anchors.verifyEvent(tree[0], proof, events[j]),
                    string.concat("event ", vm.toString(j), " with proof of ", vm.toString(i))
                );
            }
        }
    }

    function test_verifyEvent_RejectsModifiedProof() public {
        bytes32[] memory events = _numberedEvents(7);
        bytes32[] memory tree = _buildTree(events);
        vm.prank(node);
        anchors.anchor(tree[0], 1, 7);

        for (uint256 i; i < events.length; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));
            for (uint256 k; k < proof.length; ++k) {
                bytes32 original = proof[k];
                proof[k] = original ^ bytes32(uint256(1));

                vm.assertFalse(
                    anchors.verifyEvent(tree[0], proof, events[i]),
                    string.concat("event ", vm.toString(i), " with element ", vm.toString(k), " flipped")
                );
                proof[k] = original;
            }
        }
    }

    function test_verifyEvent_RejectsTruncatedOrExtendedProof() public {
        bytes32[] memory events = _numberedEvents(7);
        bytes32[] memory tree = _buildTree(events);
        vm.prank(node);
        anchors.anchor(tree[0], 1, 7);

        for (uint256 i; i < events.length; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));
            bytes32[] memory truncated = new bytes32[](proof.length - 1);
            bytes32[] memory extended = new bytes32[](proof.length + 1);
            for (uint256 k; k < proof.length; ++k) {
                if (k < truncated.length) truncated[k] = proof[k];
                extended[k] = proof[k];
            }
            extended[proof.length] = tree[1];

            vm.assertFalse(anchors.verifyEvent(tree[0], truncated, events[i]), "truncated proof");
            vm.assertFalse(anchors.verifyEvent(tree[0], extended, events[i]), "extended proof");
        }
    }

    /// @dev The leaf is hashed twice, so an inner node passed off as an event cannot be proven.
    function test_verifyEvent_RejectsInnerNodeAsEvent() public {
        bytes32[] memory events = _numberedEvents(4);
        bytes32[] memory tree = _buildTree(events);
        vm.prank(node);
        anchors.anchor(tree[0], 1, 4);
        bytes32[] memory siblingOfInner = new bytes32[](1);
        siblingOfInner[0] = tree[2];

        bool verified = anchors.verifyEvent(tree[0], siblingOfInner, tree[1]);

        vm.assertFalse(verified);
    }

    function test_verifyEvent_IsFalseForRootNotAnchored() public view {
        bytes32[] memory events = _numberedEvents(7);
        bytes32[] memory tree = _buildTree(events);
        bytes32[] memory single = _buildTree(_numberedEvents(1));

        for (uint256 i; i < events.length; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));

            vm.assertFalse(anchors.verifyEvent(tree[0], proof, events[i]), "unanchored root");
        }
        vm.assertFalse(anchors.verifyEvent(single[0], new bytes32[](0), events[0]), "unanchored single leaf");
        vm.assertFalse(anchors.verifyEvent(bytes32(0), new bytes32[](0), events[0]), "zero root");
    }

    function test_verifyEvent_IsFalseAgainstAnotherAnchoredRoot() public {
        bytes32[] memory events = _numberedEvents(4);
        bytes32[] memory tree = _buildTree(events);
        bytes32[] memory otherTree = _buildTree(_numberedEvents(3));
        vm.prank(node);
        anchors.anchor(otherTree[0], 1, 3);

        for (uint256 i; i < events.length; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));

            vm.assertFalse(anchors.verifyEvent(otherTree[0], proof, events[i]));
        }
    }

    // ----- anchorState -----

    bytes32 internal constant STATE = keccak256("state-1");

    function test_anchorState_StoresStateRootOfLatestWindow() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 5);

        anchors.anchorState(ROOT, STATE);
        vm.stopPrank();

        vm.assertEq(anchors.stateRootOf(ROOT), STATE);
        vm.assertEq(anchors.stateRootOf(ROOT_2), bytes32(0), "a window without a state root reads zero");
    }

    function test_anchorState_EmitsStateRootAnchored() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectEmit(address(anchors));
        emit IAnchorRegistry.StateRootAnchored(ROOT, node, STATE);
        vm.prank(node);
        anchors.anchorState(ROOT, STATE);
    }

    function test_anchorState_AcceptsWindowAnchoredThroughCommitter() public {
        vm.prank(committer);
        anchors.anchorFor(node, ROOT, 1, 4);

        vm.prank(node);
        anchors.anchorState(ROOT, STATE);

        vm.assertEq(anchors.stateRootOf(ROOT), STATE);
    }

    function test_anchorState_LeavesAnchorUnchanged() public {
        vm.roll(50);
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);
        vm.roll(51);

        vm.prank(node);
        anchors.anchorState(ROOT, STATE);

        IAnchorRegistry.Anchor memory stored = anchors.anchorOf(ROOT);
        vm.assertEq(stored.blockNumber, 50);
        vm.assertEq(stored.eventCount, 5);
        vm.assertEq(anchors.nextSequence(node), 6);
    }

    function test_RevertWhen_StateRootIsZero() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(IAnchorRegistry.AnchorRegistryZeroStateRoot.selector);
        vm.prank(node);
        anchors.anchorState(ROOT, bytes32(0));
    }

    function test_RevertWhen_StateRootForUnknownRoot() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotLatestRoot.selector, node, ROOT));
        vm.prank(node);
        anchors.anchorState(ROOT, STATE);
    }

    function test_RevertWhen_StateRootForZeroRootBeforeAnyWindow() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotLatestRoot.selector, node, bytes32(0)));
        vm.prank(node);
        anchors.anchorState(bytes32(0), STATE);
    }

    function test_RevertWhen_StateRootForAnotherNodesWindow() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotLatestRoot.selector, otherNode, ROOT));
        vm.prank(otherNode);
        anchors.anchorState(ROOT, STATE);
        vm.assertEq(anchors.stateRootOf(ROOT), bytes32(0));
    }

    function test_RevertWhen_StateRootForOlderWindow() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 5);
        anchors.anchor(ROOT_2, 6, 2);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotLatestRoot.selector, node, ROOT));
        anchors.anchorState(ROOT, STATE);
        vm.stopPrank();
    }

    function test_RevertWhen_StateRootExists() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 5);
        anchors.anchorState(ROOT, STATE);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryStateExists.selector, ROOT));
        anchors.anchorState(ROOT, keccak256("state-2"));
        vm.stopPrank();

        vm.assertEq(anchors.stateRootOf(ROOT), STATE, "a state root is never overwritten");
    }

    function test_RevertWhen_StateCallerIsNotNode() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);

        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, committer, anchors.NODE_ROLE()
            )
        );
        vm.prank(committer);
        anchors.anchorState(ROOT, STATE);
    }

    function test_RevertWhen_StateCallerNodeRoleRevoked() public {
        vm.prank(node);
        anchors.anchor(ROOT, 1, 5);
        bytes32 role = anchors.NODE_ROLE();
        vm.prank(admin);
        anchors.revokeRole(role, node);

        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, node, role));
        vm.prank(node);
        anchors.anchorState(ROOT, STATE);
    }

    /// @dev A state leaf as docs/proofs.md encodes it verifies with OpenZeppelin's MerkleProof.
    function test_stateLeaf_VerifiesAgainstAnchoredStateRoot() public {
        bytes32 a = _stateLeaf(keccak256("lot-a"), keccak256("head-a"), 3, 1, 14);
        bytes32 b = _stateLeaf(keccak256("lot-b"), keccak256("head-b"), 4, 2, 2);
        bytes32 stateRoot = _hashPair(a, b);
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 16);
        anchors.anchorState(ROOT, stateRoot);
        vm.stopPrank();
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = b;

        bool holds = MerkleProof.verify(proof, anchors.stateRootOf(ROOT), a);
        bytes32 other = _stateLeaf(keccak256("lot-a"), keccak256("head-a"), 3, 1, 13);

        vm.assertTrue(holds);
        vm.assertFalse(MerkleProof.verify(proof, anchors.stateRootOf(ROOT), other), "a changed count fails");
    }

    function testFuzz_anchorState_OnlyLatestWindowOnce(uint256 windows, uint256 pick, bytes32 stateRoot) public {
        windows = bound(windows, 1, 8);
        pick = bound(pick, 0, windows - 1);
        vm.assume(stateRoot != bytes32(0));
        vm.startPrank(node);
        for (uint256 i; i < windows; ++i) {
            anchors.anchor(keccak256(abi.encode("root", i)), uint64(i * 3 + 1), 3);
        }
        bytes32 picked = keccak256(abi.encode("root", pick));
        bool latest = pick == windows - 1;

        if (!latest) {
            vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotLatestRoot.selector, node, picked));
        }
        anchors.anchorState(picked, stateRoot);
        if (latest) {
            vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryStateExists.selector, picked));
            anchors.anchorState(picked, stateRoot);
        }
        vm.stopPrank();

        vm.assertEq(anchors.stateRootOf(picked), latest ? stateRoot : bytes32(0));
    }

    /// @dev The gas a window's state root costs (docs/gas.md): a node's second window, then its
    /// state root. Run with `forge test --isolate --gas-report` so that each call is a
    /// transaction of its own (cold storage, the 21,000 base and calldata counted).
    function test_gas_StateRootPerWindow() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 100);
        anchors.anchor(ROOT_2, 101, 1000);
        uint256 before = gasleft();
        anchors.anchorState(ROOT_2, STATE);
        uint256 used = before - gasleft();
        vm.stopPrank();

        console.log("anchorState gas", used);
        vm.assertTrue(used < 60_000, "a state root costs less than 60,000 gas");
        vm.assertEq(anchors.stateRootOf(ROOT_2), STATE);
    }

    // ----- anchorWindow (the anchor-only mode) -----

    bytes32 internal constant TRANSITIONS = keccak256("transitions-1");

    function test_anchorWindow_StoresAnchorAndCommitment() public {
        vm.roll(77);
        vm.prank(node);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 1, 5);

        IAnchorRegistry.Anchor memory stored = anchors.anchorOf(ROOT);
        vm.assertEq(stored.firstSeq, 1);
        vm.assertEq(stored.eventCount, 5);
        vm.assertEq(stored.blockNumber, 77);
        vm.assertEq(anchors.windowCommitmentOf(ROOT), keccak256(abi.encode(STATE, TRANSITIONS)));
        vm.assertEq(anchors.stateRootOf(ROOT), bytes32(0), "the state root is in the commitment");
        vm.assertEq(anchors.windowNodeOf(ROOT), node);
        vm.assertEq(anchors.nextSequence(node), 6);
    }

    function test_windowCommitment_IsTheHashOfBothRootsInOrder() public view {
        vm.assertEq(anchors.windowCommitment(STATE, TRANSITIONS), keccak256(bytes.concat(STATE, TRANSITIONS)));
        // the two roots cannot trade places
        vm.assertNotEq(anchors.windowCommitment(STATE, TRANSITIONS), anchors.windowCommitment(TRANSITIONS, STATE));
    }

    function test_anchorWindow_EmitsRootAndWindowAnchored() public {
        vm.expectEmit(address(anchors));
        emit IAnchorRegistry.RootAnchored(ROOT, node, 1, 5);
        vm.expectEmit(address(anchors));
        emit IAnchorRegistry.WindowAnchored(ROOT, node, STATE, TRANSITIONS);

        vm.recordLogs();
        vm.prank(node);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 1, 5);
        vm.assertEq(vm.getRecordedLogs().length, 2, "two logs, the roots in one");
    }

    function test_windowCommitmentOf_IsZeroForEnforcedWindow() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 5);
        anchors.anchorState(ROOT, STATE);
        vm.stopPrank();

        vm.assertEq(anchors.windowCommitmentOf(ROOT), bytes32(0));
        vm.assertEq(anchors.windowNodeOf(ROOT), address(0));
        vm.assertEq(anchors.windowCommitmentOf(ROOT_2), bytes32(0), "an unknown root reads zero");
    }

    function test_anchorState_StillWorksAfterAnAnchorWindow() public {
        vm.startPrank(node);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 1, 5);
        anchors.anchor(ROOT_2, 6, 2);
        anchors.anchorState(ROOT_2, STATE);
        vm.stopPrank();

        vm.assertEq(anchors.stateRootOf(ROOT_2), STATE);
        vm.assertEq(anchors.windowCommitmentOf(ROOT_2), bytes32(0));
        vm.assertEq(anchors.windowCommitmentOf(ROOT), keccak256(abi.encode(STATE, TRANSITIONS)));
    }

    function test_windowNodeOf_NamesEachWindowsNode() public {
        vm.prank(node);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 1, 5);
        vm.prank(otherNode);
        anchors.anchorWindow(ROOT_2, STATE, TRANSITIONS, 1, 2);
        vm.prank(node);
        anchors.anchorWindow(ROOT_3, STATE, TRANSITIONS, 6, 1);

        vm.assertEq(anchors.windowNodeOf(ROOT), node);
        vm.assertEq(anchors.windowNodeOf(ROOT_2), otherNode);
        vm.assertEq(anchors.windowNodeOf(ROOT_3), node);
        IAnchorRegistry.Anchor memory stored = anchors.anchorOf(ROOT_2);
        vm.assertEq(stored.firstSeq, 1, "the node's number leaves the anchor as it was");
        vm.assertEq(stored.eventCount, 2);
    }

    function test_anchorWindow_SharesSequenceWithAnchor() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 5);
        anchors.anchorWindow(ROOT_2, STATE, TRANSITIONS, 6, 2);
        anchors.anchor(ROOT_3, 8, 1);
        vm.stopPrank();

        vm.assertEq(anchors.nextSequence(node), 9);
        vm.assertEq(anchors.windowCommitmentOf(ROOT_2), anchors.windowCommitment(STATE, TRANSITIONS));
    }

    /// @dev An anchor-only window's state root is in its commitment: no other can be given it
    /// (the window leaves its node no root {anchorState} takes).
    function test_RevertWhen_AnchorWindowThenAnchorStateOfIt() public {
        vm.startPrank(node);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 1, 5);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotLatestRoot.selector, node, ROOT));
        anchors.anchorState(ROOT, keccak256("state-2"));
        vm.stopPrank();
        vm.assertEq(anchors.stateRootOf(ROOT), bytes32(0));
        vm.assertEq(anchors.windowCommitmentOf(ROOT), keccak256(abi.encode(STATE, TRANSITIONS)));
    }

    function test_RevertWhen_AnchorStateOfOlderWindowAfterAnchorWindow() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 5);
        anchors.anchorWindow(ROOT_2, STATE, TRANSITIONS, 6, 2);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNotLatestRoot.selector, node, ROOT));
        anchors.anchorState(ROOT, STATE);
        vm.stopPrank();
    }

    function test_RevertWhen_AnchorWindowStateRootIsZero() public {
        vm.expectRevert(IAnchorRegistry.AnchorRegistryZeroStateRoot.selector);
        vm.prank(node);
        anchors.anchorWindow(ROOT, bytes32(0), TRANSITIONS, 1, 5);
        vm.assertFalse(anchors.isAnchored(ROOT));
    }

    function test_RevertWhen_AnchorWindowTransitionRootIsZero() public {
        vm.expectRevert(IAnchorRegistry.AnchorRegistryZeroTransitionRoot.selector);
        vm.prank(node);
        anchors.anchorWindow(ROOT, STATE, bytes32(0), 1, 5);
        vm.assertFalse(anchors.isAnchored(ROOT));
        vm.assertEq(anchors.nextSequence(node), 1);
        vm.assertEq(anchors.windowCommitmentOf(ROOT), bytes32(0));
    }

    function test_RevertWhen_AnchorWindowRootExists() public {
        vm.startPrank(node);
        anchors.anchor(ROOT, 1, 5);
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryRootExists.selector, ROOT));
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 6, 5);
        vm.stopPrank();
        vm.assertEq(anchors.windowCommitmentOf(ROOT), bytes32(0));
    }

    function test_RevertWhen_AnchorWindowNotContiguous() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, 1, 2));
        vm.prank(node);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 2, 5);
    }

    function test_RevertWhen_AnchorWindowIsEmpty() public {
        vm.expectRevert(IAnchorRegistry.AnchorRegistryEmptyWindow.selector);
        vm.prank(node);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 1, 0);
    }

    function test_RevertWhen_AnchorWindowRootIsZero() public {
        vm.expectRevert(IAnchorRegistry.AnchorRegistryZeroRoot.selector);
        vm.prank(node);
        anchors.anchorWindow(bytes32(0), STATE, TRANSITIONS, 1, 5);
    }

    function test_RevertWhen_AnchorWindowCallerIsNotNode() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, anchors.NODE_ROLE()
            )
        );
        vm.prank(stranger);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 1, 5);
    }

    /// @dev What one anchor-only window costs, whatever its size: a node's second window (run
    /// with `--isolate` for the transaction's base and calldata, see {test_gas_StateRootPerWindow}):
    /// two fresh slots (the anchor, the roots' commitment), under 100 gas an event of a 1,000-event window.
    function test_gas_AnchorWindow() public {
        vm.startPrank(node);
        anchors.anchorWindow(ROOT, STATE, TRANSITIONS, 1, 1000);
        uint256 before = gasleft();
        anchors.anchorWindow(ROOT_2, keccak256("state-2"), keccak256("transitions-2"), 1001, 1000);
        uint256 used = before - gasleft();
        vm.stopPrank();

        console.log("anchorWindow gas (execution; with --isolate: the transaction's)", used);
        vm.assertTrue(used < 100_000, "an anchor-only window of 1,000 events costs under 100 gas an event");
    }

    // ----- fuzz -----

    function testFuzz_anchor_ContiguousWindows(uint256 seed, uint256 windows) public {
        windows = bound(windows, 1, 12);
        uint64 expectedNext = 1;

        for (uint256 i; i < windows; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint32 count = uint32(bound(r, 1, type(uint32).max));
            bytes32 root = keccak256(abi.encode(seed, i, "root"));
            vm.roll(block.number + (r >> 32) % 100);
            vm.warp(block.timestamp + (r >> 64) % 10_000);

            vm.prank(i % 2 == 0 ? node : committer);
            if (i % 2 == 0) anchors.anchor(root, expectedNext, count);
            else anchors.anchorFor(node, root, expectedNext, count);

            IAnchorRegistry.Anchor memory stored = anchors.anchorOf(root);
            vm.assertEq(stored.firstSeq, expectedNext);
            vm.assertEq(stored.eventCount, count);
            vm.assertEq(stored.blockNumber, block.number);
            vm.assertEq(stored.timestamp, block.timestamp);
            expectedNext += count;
            vm.assertEq(anchors.nextSequence(node), expectedNext);
        }
        vm.assertEq(anchors.nextSequence(otherNode), 1);
    }

    function testFuzz_RevertWhen_WindowNotContiguous(uint32 firstCount, uint64 firstSeq, uint32 count) public {
        firstCount = uint32(bound(firstCount, 1, type(uint32).max));
        count = uint32(bound(count, 1, type(uint32).max));
        uint64 expected = uint64(firstCount) + 1;
        vm.assume(firstSeq != expected);
        vm.prank(node);
        anchors.anchor(ROOT, 1, firstCount);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryNonContiguous.selector, node, expected, firstSeq)
        );
        vm.prank(node);
        anchors.anchor(ROOT_2, firstSeq, count);
    }

    function testFuzz_RevertWhen_SequenceOverflow(uint64 last, uint32 count) public {
        uint64 max = type(uint64).max;
        last = uint64(bound(last, max - type(uint32).max + 1, max - 1));
        count = uint32(bound(count, max - last + 1, type(uint32).max));
        _setLastSequence(node, last);

        vm.expectRevert(
            abi.encodeWithSelector(IAnchorRegistry.AnchorRegistrySequenceOverflow.selector, last + 1, count)
        );
        vm.prank(node);
        anchors.anchor(ROOT, last + 1, count);
    }

    /// @dev Windows that end before type(uint64).max; the window ending exactly there is
    /// {test_anchor_AcceptsWindowEndingAtLargestSequence}.
    function testFuzz_anchor_AcceptsWindowNearLargestSequence(uint64 last, uint32 count) public {
        uint64 max = type(uint64).max;
        last = uint64(bound(last, max - type(uint32).max - 1, max - 2));
        count = uint32(bound(count, 1, max - last - 1));
        _setLastSequence(node, last);

        vm.prank(node);
        anchors.anchor(ROOT, last + 1, count);

        vm.assertEq(anchors.anchorOf(ROOT).firstSeq, last + 1);
        vm.assertEq(anchors.nextSequence(node), last + count + 1);
    }

    function testFuzz_verifyEvent_RandomLeafSets(uint256 seed, uint256 count) public {
        count = bound(count, 1, 33);
        bytes32[] memory events = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            events[i] = keccak256(abi.encode(seed, i));
        }
        bytes32 foreign = keccak256(abi.encode(seed, count));

        bytes32[] memory tree = _assertEveryLeafVerifies(events);

        for (uint256 i; i < count; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));
            vm.assertFalse(anchors.verifyEvent(tree[0], proof, foreign), "foreign event");
            if (proof.length != 0) {
                proof[seed % proof.length] ^= bytes32(uint256(1) << (seed % 256));
                vm.assertFalse(anchors.verifyEvent(tree[0], proof, events[i]), "modified proof");
            }
        }
    }

    function testFuzz_verifyEvent_IsFalseWhenRootNotAnchored(uint256 seed, uint256 count) public view {
        count = bound(count, 1, 16);
        bytes32[] memory events = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            events[i] = keccak256(abi.encode(seed, i));
        }

        bytes32[] memory tree = _buildTree(events);

        for (uint256 i; i < count; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));
            vm.assertFalse(anchors.verifyEvent(tree[0], proof, events[i]));
        }
    }

    // ----- helpers -----

    /// @dev Anchors the tree of `events` as `node`'s next window and checks every event's proof.
    function _assertEveryLeafVerifies(bytes32[] memory events) internal returns (bytes32[] memory tree) {
        tree = _buildTree(events);
        uint64 firstSeq = anchors.nextSequence(node);
        vm.prank(node);
        anchors.anchor(tree[0], firstSeq, uint32(events.length));

        for (uint256 i; i < events.length; ++i) {
            bytes32[] memory proof = _proof(tree, _leafIndex(tree, events[i]));

            vm.assertTrue(anchors.verifyEvent(tree[0], proof, events[i]), string.concat("event ", vm.toString(i)));
        }
    }

    function _setLastSequence(address who, uint64 last) internal {
        vm.store(address(anchors), _lastSequenceSlot(who), bytes32(uint256(last)));
    }

    function _lastSequenceSlot(address who) internal pure returns (bytes32) {
        return keccak256(abi.encode(who, LAST_SEQUENCE_SLOT));
    }

    function _numberedEvents(uint256 count) internal pure returns (bytes32[] memory events) {
        events = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            events[i] = keccak256(abi.encode(i + 1));
        }
    }

    /// @dev StandardMerkleTree leaf of a `bytes32` value.
    function _leaf(bytes32 eventHash) internal pure returns (bytes32) {
        return MerkleTrees.leaf(abi.encode(eventHash));
    }

    function _stateLeaf(bytes32 batchId, bytes32 head, uint256 custodian, uint8 status, uint256 count)
        internal
        pure
        returns (bytes32)
    {
        return MerkleTrees.leaf(abi.encode(batchId, head, custodian, status, count));
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return MerkleTrees.hashPair(a, b);
    }

    /// @dev The tree of `events` as @openzeppelin/merkle-tree lays it out ({MerkleTrees-build}).
    function _buildTree(bytes32[] memory events) internal pure returns (bytes32[] memory) {
        bytes32[] memory leaves = new bytes32[](events.length);
        for (uint256 i; i < events.length; ++i) {
            leaves[i] = _leaf(events[i]);
        }
        return MerkleTrees.build(leaves);
    }

    function _leafIndex(bytes32[] memory tree, bytes32 eventHash) internal pure returns (uint256) {
        bytes32 leaf = _leaf(eventHash);
        for (uint256 i = tree.length; i > 0; --i) {
            if (tree[i - 1] == leaf) return i - 1;
        }
        revert("leaf not in tree");
    }

    function _proof(bytes32[] memory tree, uint256 index) internal pure returns (bytes32[] memory) {
        return MerkleTrees.proofAt(tree, index);
    }

    // ----- anchorAlertLog -----

    bytes32 internal constant LOG_HEAD = keccak256("log-head-3");
    bytes32 internal constant LOG_HEAD_2 = keccak256("log-head-7");

    function test_anchorAlertLog_StoresTheHeadAndItsCount() public {
        vm.roll(321);
        vm.warp(1_700_000_123);

        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD, 3);

        (bytes32 head, uint64 count) = anchors.alertLogOf(node);
        IAnchorRegistry.AlertLogAnchor memory stored = anchors.alertLogAnchorOf(node, LOG_HEAD);
        vm.assertEq(head, LOG_HEAD);
        vm.assertEq(count, 3);
        vm.assertEq(stored.count, 3);
        vm.assertEq(stored.blockNumber, 321);
        vm.assertEq(stored.timestamp, 1_700_000_123);
    }

    function test_anchorAlertLog_KeepsEveryEarlierHead() public {
        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD, 3);
        vm.roll(block.number + 5);

        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD_2, 7);

        (bytes32 head, uint64 count) = anchors.alertLogOf(node);
        vm.assertEq(head, LOG_HEAD_2);
        vm.assertEq(count, 7);
        vm.assertEq(anchors.alertLogAnchorOf(node, LOG_HEAD).count, 3);
        vm.assertEq(anchors.alertLogAnchorOf(node, LOG_HEAD_2).count, 7);
    }

    function test_anchorAlertLog_EmitsAlertLogAnchored() public {
        vm.expectEmit(address(anchors));
        emit IAnchorRegistry.AlertLogAnchored(node, LOG_HEAD, 3);

        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD, 3);
    }

    function test_anchorAlertLog_NodesHaveLogsOfTheirOwn() public {
        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD, 3);

        vm.prank(otherNode);
        anchors.anchorAlertLog(LOG_HEAD, 1);

        (, uint64 count) = anchors.alertLogOf(node);
        (, uint64 otherCount) = anchors.alertLogOf(otherNode);
        vm.assertEq(count, 3);
        vm.assertEq(otherCount, 1);
    }

    function test_alertLogOf_IsEmptyBeforeAnyAnchor() public view {
        (bytes32 head, uint64 count) = anchors.alertLogOf(node);

        vm.assertEq(head, bytes32(0));
        vm.assertEq(count, 0);
    }

    function test_RevertWhen_AlertLogAnchorerIsNotNode() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, anchors.NODE_ROLE()
            )
        );
        vm.prank(stranger);
        anchors.anchorAlertLog(LOG_HEAD, 3);
    }

    function test_RevertWhen_AlertLogHeadIsZero() public {
        vm.expectRevert(IAnchorRegistry.AnchorRegistryZeroLogHead.selector);
        vm.prank(node);
        anchors.anchorAlertLog(bytes32(0), 3);
    }

    function test_RevertWhen_AlertLogDoesNotGrow() public {
        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD, 3);

        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryLogNotGrowing.selector, node, 3, 3));
        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD_2, 3);
    }

    function test_RevertWhen_AlertLogCountIsZero() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryLogNotGrowing.selector, node, 0, 0));
        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD, 0);
    }

    function test_RevertWhen_AlertLogHeadIsUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryUnknownLogHead.selector, node, LOG_HEAD));
        anchors.alertLogAnchorOf(node, LOG_HEAD);
    }

    function testFuzz_anchorAlertLog_CountOnlyGrows(uint64 first, uint64 second) public {
        first = uint64(bound(first, 1, type(uint64).max));
        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD, first);

        if (second <= first) {
            vm.expectRevert(
                abi.encodeWithSelector(IAnchorRegistry.AnchorRegistryLogNotGrowing.selector, node, first, second)
            );
        }
        vm.prank(node);
        anchors.anchorAlertLog(LOG_HEAD_2, second);

        (, uint64 count) = anchors.alertLogOf(node);
        vm.assertEq(count, second > first ? second : first);
    }
}
