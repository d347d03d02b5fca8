// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AnchorRegistry} from "../../src/AnchorRegistry.sol";
import {BatchRegistry} from "../../src/BatchRegistry.sol";
import {ParticipantRegistry} from "../../src/ParticipantRegistry.sol";
import {IBatchRegistry} from "../../src/interfaces/IBatchRegistry.sol";
import {Identifiers} from "../../src/libraries/Identifiers.sol";
import {Roles} from "../../src/libraries/Roles.sol";
import {Test} from "./Test.sol";

/// @notice Shared base: deploys the three registries wired together and registers one
/// participant per role, each with a known private key, plus helpers to build and sign events.
/// The admin is the root authority and the node's registrar: it holds the whole GS1 and handle
/// namespaces as ranges, and its node may create batches with identifiers of no prefix kind, so
/// that custody tests can name batches by any string ({_known}); the identifier rules themselves
/// are tested from a stricter setup in Licences.t.sol.
abstract contract TraceNodeTest is Test {
    ParticipantRegistry internal participants;
    AnchorRegistry internal anchors;
    BatchRegistry internal batches;

    address internal admin = address(0xA11CE);
    address internal node = address(0x40DE);

    uint256 internal constant FARM_PK = 0xF001;
    uint256 internal constant PROCESSOR_PK = 0xF002;
    uint256 internal constant CARRIER_PK = 0xF003;
    uint256 internal constant SHOP_PK = 0xF004;
    uint256 internal constant AUDITOR_PK = 0xF005;
    uint256 internal constant REGULATOR_PK = 0xF006;

    address internal farm;
    address internal processor;
    address internal carrier;
    address internal shop;
    address internal auditor;
    address internal regulator;

    uint32 internal farmId;
    uint32 internal processorId;
    uint32 internal carrierId;
    uint32 internal shopId;
    uint32 internal auditorId;
    uint32 internal regulatorId;

    /// @dev Next unused nonce per signer, so helpers never collide.
    mapping(address signer => uint256) internal nextNonce;

    /// @dev The identifier each batch id of a test was made from, and its prefix length: the
    /// proofs {_sign} attaches to the batches an event creates.
    mapping(bytes32 batchId => bytes) internal preimages;
    mapping(bytes32 batchId => uint8) internal prefixLengths;

    function setUp() public virtual {
        participants = new ParticipantRegistry(admin);
        anchors = new AnchorRegistry(admin);
        batches = new BatchRegistry(admin, participants, anchors);

        vm.startPrank(admin);
        anchors.grantRole(anchors.COMMITTER_ROLE(), address(batches));
        anchors.grantRole(anchors.NODE_ROLE(), node);
        batches.grantRole(batches.NODE_ROLE(), node);
        participants.delegate(admin, Identifiers.GS1, "");
        participants.delegate(admin, Identifiers.HANDLE, "");
        participants.setOpenIdentifiers(admin, true);
        farm = vm.addr(FARM_PK);
        processor = vm.addr(PROCESSOR_PK);
        carrier = vm.addr(CARRIER_PK);
        shop = vm.addr(SHOP_PK);
        auditor = vm.addr(AUDITOR_PK);
        regulator = vm.addr(REGULATOR_PK);
        farmId = participants.register(farm, "Green Valley Farm", Roles.PRODUCER, "0614141");
        processorId = participants.register(processor, "Alpine Dairy Processing", Roles.PROCESSOR, "0614142");
        carrierId = participants.register(carrier, "ColdChain Logistics", Roles.LOGISTICS, "");
        shopId = participants.register(shop, "Corner Grocer", Roles.RETAILER, "88.123.45");
        auditorId = participants.register(auditor, "Food Audit Ltd", Roles.AUDITOR, "");
        regulatorId = participants.register(regulator, "Food Safety Authority", Roles.REGULATOR, "");
        vm.stopPrank();
    }

    // ----- identifiers -----

    /// @dev The batch id of `identifier`, remembered with its prefix length for {_sign}.
    function _known(bytes memory identifier, uint8 prefixLength) internal returns (bytes32 batchId) {
        batchId = keccak256(identifier);
        preimages[batchId] = identifier;
        prefixLengths[batchId] = prefixLength;
    }

    /// @dev The batch id of `identifier`, an identifier of no prefix kind (its node's policy allows them).
    function _known(string memory identifier) internal returns (bytes32) {
        return _known(bytes(identifier), 0);
    }

    /// @dev The proofs of the batches `ev` creates, from the identifiers {_known} remembers.
    function _proofs(IBatchRegistry.TraceEvent memory ev)
        internal
        view
        returns (IBatchRegistry.IdentifierProof[] memory proofs)
    {
        if (ev.action == uint8(IBatchRegistry.Action.COMMISSION)) {
            proofs = new IBatchRegistry.IdentifierProof[](1);
            proofs[0] = _proof(ev.batchId);
        } else if (ev.action == uint8(IBatchRegistry.Action.TRANSFORM)) {
            proofs = new IBatchRegistry.IdentifierProof[](ev.outputs.length);
            for (uint256 i; i < ev.outputs.length; ++i) {
                proofs[i] = _proof(ev.outputs[i]);
            }
        }
    }

    function _proof(bytes32 batchId) internal view returns (IBatchRegistry.IdentifierProof memory) {
        return IBatchRegistry.IdentifierProof({identifier: preimages[batchId], prefixLength: prefixLengths[batchId]});
    }

    // ----- building events -----

    function _event(uint8 action, bytes32 batchId, bytes32 prev, address signer)
        internal
        returns (IBatchRegistry.TraceEvent memory ev)
    {
        ev.action = action;
        ev.batchId = batchId;
        ev.prevEventHash = prev;
        ev.inputs = new bytes32[](0);
        ev.inputPrevHashes = new bytes32[](0);
        ev.outputs = new bytes32[](0);
        ev.eventTime = uint64(block.timestamp) * 1000;
        ev.location = keccak256("urn:epc:id:sgln:0614141.00001.0");
        ev.payloadHash = keccak256(abi.encode(batchId, action, prev));
        ev.nonce = nextNonce[signer]++;
    }

    function _commissionEvent(address signer, bytes32 batchId) internal returns (IBatchRegistry.TraceEvent memory ev) {
        ev = _event(uint8(IBatchRegistry.Action.COMMISSION), batchId, bytes32(0), signer);
        ev.product = keccak256("https://id.gs1.org/01/09506000134352");
        ev.quantity = 1000;
    }

    function _shipEvent(address signer, bytes32 batchId, address receiver)
        internal
        returns (IBatchRegistry.TraceEvent memory ev)
    {
        ev = _event(uint8(IBatchRegistry.Action.SHIP), batchId, batches.batch(batchId).head, signer);
        ev.counterparty = receiver;
    }

    function _simpleEvent(IBatchRegistry.Action action, address signer, bytes32 batchId)
        internal
        returns (IBatchRegistry.TraceEvent memory)
    {
        return _event(uint8(action), batchId, batches.batch(batchId).head, signer);
    }

    function _transformEvent(address signer, bytes32[] memory inputs, bytes32[] memory outputs)
        internal
        returns (IBatchRegistry.TraceEvent memory ev)
    {
        ev = _event(uint8(IBatchRegistry.Action.TRANSFORM), bytes32(0), bytes32(0), signer);
        ev.inputs = inputs;
        ev.inputPrevHashes = new bytes32[](inputs.length);
        for (uint256 i; i < inputs.length; ++i) {
            ev.inputPrevHashes[i] = batches.batch(inputs[i]).head;
        }
        ev.outputs = outputs;
        ev.product = keccak256("https://id.gs1.org/01/09506000134369");
        ev.quantity = 500;
    }

    // ----- an independent EIP-712 digest -----

    string internal constant TRACE_EVENT_TYPE = "TraceEvent(uint8 action,bytes32 batchId,bytes32 prevEventHash,bytes32[] inputs,bytes32[] inputPrevHashes,"
        "bytes32[] outputs,address counterparty,bytes32 product,uint256 quantity,uint64 eventTime,bytes32 location,"
        "bytes32 payloadHash,uint256 nonce)";

    /// @dev The EIP-712 digest of `ev`, computed here from the type strings, independently of the contract.
    function _digest(IBatchRegistry.TraceEvent memory ev) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("TraceNode"),
                keccak256("1"),
                block.chainid,
                address(batches)
            )
        );
        bytes memory head = abi.encode(
            keccak256(bytes(TRACE_EVENT_TYPE)),
            ev.action,
            ev.batchId,
            ev.prevEventHash,
            keccak256(abi.encodePacked(ev.inputs)),
            keccak256(abi.encodePacked(ev.inputPrevHashes)),
            keccak256(abi.encodePacked(ev.outputs))
        );
        bytes memory tail =
            abi.encode(ev.counterparty, ev.product, ev.quantity, ev.eventTime, ev.location, ev.payloadHash, ev.nonce);
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, keccak256(bytes.concat(head, tail))));
    }

    // ----- signing and submitting -----

    function _sign(uint256 privateKey, IBatchRegistry.TraceEvent memory ev)
        internal
        view
        returns (IBatchRegistry.SignedEvent memory signed)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, batches.hashEvent(ev));
        signed = IBatchRegistry.SignedEvent({ev: ev, v: v, r: r, s: s, identifiers: _proofs(ev)});
    }

    function _submit(uint256 privateKey, IBatchRegistry.TraceEvent memory ev) internal returns (bytes32) {
        return batches.submit(_sign(privateKey, ev));
    }

    function _commission(uint256 privateKey, bytes32 batchId) internal returns (bytes32) {
        return _submit(privateKey, _commissionEvent(vm.addr(privateKey), batchId));
    }

    function _ship(uint256 privateKey, bytes32 batchId, address receiver) internal returns (bytes32) {
        return _submit(privateKey, _shipEvent(vm.addr(privateKey), batchId, receiver));
    }

    function _receive(uint256 privateKey, bytes32 batchId) internal returns (bytes32) {
        return _submit(privateKey, _simpleEvent(IBatchRegistry.Action.RECEIVE, vm.addr(privateKey), batchId));
    }

    function _single(bytes32 a) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](1);
        list[0] = a;
    }

    function _pair(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](2);
        list[0] = a;
        list[1] = b;
    }

    function _status(bytes32 batchId) internal view returns (IBatchRegistry.Status) {
        return batches.batch(batchId).status;
    }
}
