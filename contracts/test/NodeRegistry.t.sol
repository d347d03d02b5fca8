// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IParticipantRegistry} from "../src/interfaces/IParticipantRegistry.sol";
import {Identifiers} from "../src/libraries/Identifiers.sol";
import {Roles} from "../src/libraries/Roles.sol";
import {TraceNodeTest} from "./utils/TraceNodeTest.sol";

/// @notice The node registry: nodes (id, operator registrar, public URL) registered by the root
/// authority, each URL changed by its own operator, and the ranges delegated to each registrar
/// listed per node as {delegate} and {withdraw} change them.
/// @dev Setup: the root keeps GS1 "0614" and handle "88" for its own node (node 1) and
/// delegates GS1 "950" and handle "77.1" to the registrar of node 2.
contract NodeRegistryTest is TraceNodeTest {
    uint8 internal constant GS1 = Identifiers.GS1;
    uint8 internal constant HANDLE = Identifiers.HANDLE;
    address internal registrarB = address(0xB0DE);
    address internal stranger = address(0x5757);
    uint32 internal nodeA;
    uint32 internal nodeB;

    function setUp() public override {
        super.setUp();
        vm.startPrank(admin);
        participants.withdraw(GS1, "");
        participants.withdraw(HANDLE, "");
        participants.delegate(admin, GS1, "0614");
        participants.delegate(admin, HANDLE, "88");
        nodeA = participants.registerNode(admin, "https://a.example");
        nodeB = participants.registerNode(registrarB, "http://127.0.0.1:8001");
        participants.delegate(registrarB, GS1, "950");
        participants.delegate(registrarB, HANDLE, "77.1");
        vm.stopPrank();
    }

    // ----- registration -----

    function test_registerNode_AssignsIdsAndRecordsOperatorUrlAndRanges() public view {
        vm.assertEq(nodeA, 1);
        vm.assertEq(nodeB, 2);
        vm.assertEq(participants.nodeCount(), 2);
        vm.assertEq(participants.nodeOf(registrarB), nodeB);
        vm.assertEq(participants.nodeOf(stranger), 0);
        IParticipantRegistry.NetworkNode memory b = participants.node(nodeB);
        vm.assertEq(b.id, nodeB);
        vm.assertEq(b.operator, registrarB);
        vm.assertEq(b.url, "http://127.0.0.1:8001");
        vm.assertEq(b.ranges.length, 2);
        vm.assertEq(b.ranges[0].kind, GS1);
        vm.assertEq(b.ranges[0].prefix, "950");
        vm.assertEq(b.ranges[1].kind, HANDLE);
        vm.assertEq(b.ranges[1].prefix, "77.1");
    }

    function test_registerNode_GrantsRegistrarRoleSoTheNodeRegistersItsParticipants() public {
        vm.assertTrue(participants.hasRole(participants.REGISTRAR_ROLE(), registrarB));
        vm.prank(registrarB);
        uint32 id = participants.register(address(0xB1), "Brand Owner", Roles.PRODUCER, "9506000");
        vm.assertEq(participants.registrarOf(id), registrarB);
        vm.assertEq(participants.prefixOwner("9506000"), id);
    }

    function test_registerNode_EmitsNodeRegistered() public {
        vm.expectEmit(address(participants));
        emit IParticipantRegistry.NodeRegistered(3, stranger, "https://c.example/api");
        vm.prank(admin);
        participants.registerNode(stranger, "https://c.example/api");
    }

    function test_RevertWhen_registerNodeByNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, registrarB, participants.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(registrarB);
        participants.registerNode(stranger, "https://c.example");
    }

    function test_RevertWhen_registerNodeTwiceForOneRegistrar() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryNodeExists.selector, registrarB));
        vm.prank(admin);
        participants.registerNode(registrarB, "https://other.example");
    }

    function test_RevertWhen_registerNodeOfZeroAddress() public {
        vm.expectRevert(IParticipantRegistry.ParticipantRegistryZeroAddress.selector);
        vm.prank(admin);
        participants.registerNode(address(0), "https://c.example");
    }

    function test_RevertWhen_registerNodeWithInvalidUrl() public {
        string[9] memory bad = [
            "",
            "ftp://c.example",
            "http://",
            "https://",
            "http:///path",
            "https://c.example/a b",
            "javascript:alert(1)",
            "HTTP://c.example",
            "https://c.example/\u00e9"
        ];
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidUrl.selector, bad[i]));
            vm.prank(admin);
            participants.registerNode(stranger, bad[i]);
        }
        vm.assertEq(participants.nodeCount(), 2);
    }

    function test_RevertWhen_registerNodeWithUrlOverMaxLength() public {
        bytes memory long = bytes.concat("https://", new bytes(participants.MAX_URL_LENGTH() - 7));
        for (uint256 i = 8; i < long.length; ++i) {
            long[i] = "a";
        }
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidUrl.selector, string(long))
        );
        vm.prank(admin);
        participants.registerNode(stranger, string(long));
    }

    function test_registerNode_AcceptsUrlOfMaxLength() public {
        bytes memory url = bytes.concat("https://", new bytes(participants.MAX_URL_LENGTH() - 8));
        for (uint256 i = 8; i < url.length; ++i) {
            url[i] = "a";
        }
        vm.prank(admin);
        uint32 id = participants.registerNode(stranger, string(url));
        vm.assertEq(participants.node(id).url, string(url));
    }

    function test_RevertWhen_nodeUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownNode.selector, 3));
        participants.node(3);
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownNode.selector, 0));
        participants.node(0);
    }

    // ----- URL changes -----

    function test_setNodeUrl_ByItsOperator() public {
        vm.expectEmit(address(participants));
        emit IParticipantRegistry.NodeUrlChanged(nodeB, "https://b.example");
        vm.prank(registrarB);
        participants.setNodeUrl(nodeB, "https://b.example");
        vm.assertEq(participants.node(nodeB).url, "https://b.example");
    }

    function test_setNodeUrl_ByTheRoot() public {
        vm.prank(admin);
        participants.setNodeUrl(nodeB, "https://b2.example");
        vm.assertEq(participants.node(nodeB).url, "https://b2.example");
    }

    function test_RevertWhen_setNodeUrlOfAnotherNode() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryUnauthorizedNodeChange.selector, nodeA, registrarB
            )
        );
        vm.prank(registrarB);
        participants.setNodeUrl(nodeA, "https://evil.example");
        vm.assertEq(participants.node(nodeA).url, "https://a.example");
    }

    function test_RevertWhen_setNodeUrlByStranger() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IParticipantRegistry.ParticipantRegistryUnauthorizedNodeChange.selector, nodeB, stranger
            )
        );
        vm.prank(stranger);
        participants.setNodeUrl(nodeB, "https://evil.example");
    }

    function test_RevertWhen_setNodeUrlOfUnknownNode() public {
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryUnknownNode.selector, 9));
        vm.prank(admin);
        participants.setNodeUrl(9, "https://x.example");
    }

    function test_RevertWhen_setNodeUrlInvalid() public {
        vm.expectRevert(
            abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidUrl.selector, "file:///etc/passwd")
        );
        vm.prank(registrarB);
        participants.setNodeUrl(nodeB, "file:///etc/passwd");
    }

    // ----- ranges, listed per registrar -----

    function test_rangesOf_FollowsWithdrawals() public {
        vm.startPrank(admin);
        participants.delegate(registrarB, GS1, "951");
        participants.withdraw(GS1, "950");
        vm.stopPrank();
        IParticipantRegistry.Range[] memory ranges = participants.rangesOf(registrarB);
        vm.assertEq(ranges.length, 2);
        vm.assertEq(ranges[0].prefix, "951"); // the last one moved into the freed slot
        vm.assertEq(ranges[1].prefix, "77.1");
        vm.prank(admin);
        participants.withdraw(HANDLE, "77.1");
        vm.prank(admin);
        participants.withdraw(GS1, "951");
        vm.assertEq(participants.rangesOf(registrarB).length, 0);
        vm.assertEq(participants.node(nodeB).ranges.length, 0);
        // A withdrawn range may be delegated again, to anyone.
        vm.prank(admin);
        participants.delegate(stranger, GS1, "950");
        vm.assertEq(participants.rangesOf(stranger)[0].prefix, "950");
    }

    function test_rangesOf_ListsRangesOfARegistrarWithoutNode() public {
        vm.prank(admin);
        participants.delegate(stranger, GS1, "77");
        vm.assertEq(participants.rangesOf(stranger).length, 1);
        vm.assertEq(participants.nodeOf(stranger), 0);
    }

    /// @dev Any sequence of delegations and withdrawals leaves each registrar's list exactly the
    /// ranges `rangeHolder` gives it.
    function testFuzz_rangesOf_MatchesRangeHolder(uint256 seed, uint8 steps) public {
        address[3] memory registrars = [registrarB, stranger, address(0xC0DE)];
        string[7] memory prefixes = ["1", "2", "30", "31", "4", "5", "950"];
        vm.startPrank(admin);
        for (uint256 step; step < uint256(steps) % 40; ++step) {
            uint256 r = uint256(keccak256(abi.encode(seed, step)));
            string memory prefix = prefixes[r % prefixes.length];
            address holder = participants.rangeHolder(GS1, prefix);
            if (holder == address(0)) participants.delegate(registrars[(r >> 8) % 3], GS1, prefix);
            else participants.withdraw(GS1, prefix);
        }
        vm.stopPrank();
        for (uint256 i; i < registrars.length; ++i) {
            IParticipantRegistry.Range[] memory listed = participants.rangesOf(registrars[i]);
            uint256 held;
            for (uint256 p; p < prefixes.length; ++p) {
                if (participants.rangeHolder(GS1, prefixes[p]) == registrars[i]) ++held;
            }
            uint256 gs1Listed;
            for (uint256 j; j < listed.length; ++j) {
                if (listed[j].kind != GS1) continue;
                ++gs1Listed;
                vm.assertEq(participants.rangeHolder(GS1, listed[j].prefix), registrars[i]);
            }
            vm.assertEq(gs1Listed, held);
        }
    }

    /// @dev Any URL of `http(s)://` and printable ASCII, within the bound, is accepted and kept.
    function testFuzz_setNodeUrl_AcceptsPrintableUrls(bytes calldata tail, bool tls) public {
        bytes memory scheme = tls ? bytes("https://") : bytes("http://");
        uint256 room = participants.MAX_URL_LENGTH() - scheme.length;
        bytes memory host = new bytes(tail.length == 0 ? 1 : (tail.length > room ? room : tail.length));
        for (uint256 i; i < host.length; ++i) {
            uint8 c = i < tail.length ? uint8(tail[i]) : 0;
            host[i] = bytes1(uint8(0x21 + c % 94)); // printable, no space
        }
        if (host[0] == "/") host[0] = "h";
        string memory url = string(bytes.concat(scheme, host));
        vm.prank(registrarB);
        participants.setNodeUrl(nodeB, url);
        vm.assertEq(participants.node(nodeB).url, url);
    }

    /// @dev A URL holding any byte outside printable ASCII is refused, and nothing changes.
    function testFuzz_RevertWhen_setNodeUrlHoldsNonPrintableByte(uint8 position, uint8 value) public {
        bytes memory url = bytes("https://b.example/path/to/somewhere");
        uint256 at = 8 + uint256(position) % (url.length - 8);
        bytes1 bad = bytes1(value <= 0x20 || value >= 0x7f ? value : uint8(0x7f));
        url[at] = bad;
        vm.expectRevert(abi.encodeWithSelector(IParticipantRegistry.ParticipantRegistryInvalidUrl.selector, url));
        vm.prank(registrarB);
        participants.setNodeUrl(nodeB, string(url));
        vm.assertEq(participants.node(nodeB).url, "http://127.0.0.1:8001");
    }
}
