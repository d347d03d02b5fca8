// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ParticipantRegistry} from "../../src/ParticipantRegistry.sol";
import {IParticipantRegistry} from "../../src/interfaces/IParticipantRegistry.sol";
import {Identifiers} from "../../src/libraries/Identifiers.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice Drives licensing, revocation, delegation and the passing of blocks with prefixes from
/// small alphabets (GS1: "0614" then 0-4 digits 0/1; handles: 1-3 groups "1" or "12"), so that
/// prefixes nest often. Remembers every prefix it touched, and counts the calls whose outcome
/// differs from what the rules predict (a licence granted exactly when nothing held nests with it).
contract LicenceHandler {
    Vm private constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    ParticipantRegistry public immutable registry;
    address public immutable root;
    address public immutable registrarB;
    uint32[] private _holders;

    struct Touched {
        uint8 kind;
        string prefix;
    }

    Touched[] private _touched;
    mapping(bytes32 prefixKey => bool) private _seen;
    /// @dev Prefixes currently held, per kind, as the model sees them.
    string[] private _heldGs1;
    string[] private _heldHandle;

    uint256 public mispredictions;
    uint256 public granted;
    uint256 public refused;
    uint256 public revoked;

    constructor(ParticipantRegistry registry_, address root_, address registrarB_, uint32[] memory holders) {
        registry = registry_;
        root = root_;
        registrarB = registrarB_;
        _holders = holders;
    }

    function license(uint256 kindSeed, uint256 prefixSeed, uint256 holderSeed, uint256 validitySeed) external {
        uint8 kind = kindSeed % 2 == 0 ? Identifiers.GS1 : Identifiers.HANDLE;
        string memory prefix = _prefix(kind, prefixSeed);
        uint32 holder = _holders[holderSeed % _holders.length];
        uint48 from = validitySeed % 3 == 0 ? uint48(block.number + (validitySeed >> 8) % 5) : 0;
        uint48 until = validitySeed % 5 == 0 ? uint48(block.number + 6 + (validitySeed >> 16) % 5) : 0;
        bool expected = !_nestsWithHeld(kind, prefix);
        _touch(kind, prefix);

        vm.prank(root);
        try registry.license(holder, kind, prefix, from, until) {
            granted++;
            if (!expected) mispredictions++;
            _held(kind).push(prefix);
        } catch (bytes memory reason) {
            refused++;
            bytes4 selector = bytes4(reason);
            if (expected || selector != IParticipantRegistry.ParticipantRegistryPrefixOverlap.selector) {
                mispredictions++;
            }
        }
    }

    function revoke(uint256 kindSeed, uint256 index) external {
        uint8 kind = kindSeed % 2 == 0 ? Identifiers.GS1 : Identifiers.HANDLE;
        string[] storage held = _held(kind);
        if (held.length == 0) return;
        uint256 i = index % held.length;
        string memory prefix = held[i];
        held[i] = held[held.length - 1];
        held.pop();

        vm.prank(root);
        registry.revoke(kind, prefix);
        revoked++;
    }

    function roll(uint256 blocks) external {
        vm.roll(block.number + 1 + blocks % 4);
    }

    function touchedCount() external view returns (uint256) {
        return _touched.length;
    }

    function touchedAt(uint256 i) external view returns (uint8 kind, string memory prefix) {
        Touched storage t = _touched[i];
        return (t.kind, t.prefix);
    }

    /// @notice Whether `inner` is `outer` or lies inside it (GS1: digit prefix; handles: whole groups).
    function contains(uint8 kind, string memory outer, string memory inner) public pure returns (bool) {
        bytes memory o = bytes(outer);
        bytes memory n = bytes(inner);
        if (o.length > n.length) return false;
        for (uint256 i; i < o.length; ++i) {
            if (o[i] != n[i]) return false;
        }
        return o.length == n.length || kind == Identifiers.GS1 || n[o.length] == ".";
    }

    function _nestsWithHeld(uint8 kind, string memory prefix) private view returns (bool) {
        string[] storage held = _held(kind);
        for (uint256 i; i < held.length; ++i) {
            if (contains(kind, held[i], prefix) || contains(kind, prefix, held[i])) return true;
        }
        return false;
    }

    function _held(uint8 kind) private view returns (string[] storage) {
        return kind == Identifiers.GS1 ? _heldGs1 : _heldHandle;
    }

    function _touch(uint8 kind, string memory prefix) private {
        bytes32 prefixKey = keccak256(abi.encodePacked(kind, prefix));
        if (_seen[prefixKey]) return;
        _seen[prefixKey] = true;
        _touched.push(Touched({kind: kind, prefix: prefix}));
    }

    function _prefix(uint8 kind, uint256 seed) private pure returns (string memory) {
        if (kind == Identifiers.GS1) {
            uint256 length = seed % 5;
            bytes memory tail = new bytes(length);
            for (uint256 i; i < length; ++i) {
                tail[i] = (seed >> (8 + i)) & 1 == 1 ? bytes1("1") : bytes1("0");
            }
            return string.concat("0614", string(tail));
        }
        uint256 groups = 1 + seed % 3;
        string memory out = (seed >> 8) & 1 == 1 ? "12" : "1";
        for (uint256 i = 1; i < groups; ++i) {
            out = string.concat(out, (seed >> (8 + i)) & 1 == 1 ? ".12" : ".1");
        }
        return out;
    }
}
