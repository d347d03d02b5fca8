// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {Identifiers} from "../src/libraries/Identifiers.sol";

/// @dev Calls the library with calldata, as the registries do.
contract IdentifiersHarness {
    function allDigits(bytes calldata digits) external pure returns (bool) {
        return Identifiers.allDigits(digits);
    }

    function split(bytes calldata identifier, uint256 prefixLength) external pure returns (uint8, uint256, bool) {
        return Identifiers.split(identifier, prefixLength);
    }

    function isValidPrefix(uint8 kind, bytes calldata prefix, bool range) external pure returns (bool) {
        return Identifiers.isValidPrefix(kind, prefix, range);
    }
}

/// @notice {Identifiers.allDigits} (a word at a time) against a byte-by-byte reference, and the
/// GS1 rules that use it.
contract IdentifiersTest is Test {
    IdentifiersHarness private harness = new IdentifiersHarness();

    function _reference(bytes memory digits) private pure returns (bool) {
        if (digits.length > 32) return false;
        for (uint256 i; i < digits.length; ++i) {
            if (digits[i] < "0" || digits[i] > "9") return false;
        }
        return true;
    }

    /// @dev Mostly digits, with a byte near or far from the digits' range at `at`.
    function _nearDigits(uint256 seed, uint256 length, uint256 at, bytes1 odd) private pure returns (bytes memory s) {
        s = new bytes(length);
        for (uint256 i; i < length; ++i) {
            s[i] = bytes1(uint8(0x30 + uint256(keccak256(abi.encode(seed, i))) % 10));
        }
        if (length != 0) s[at % length] = odd;
    }

    function testFuzz_allDigits_IsTheByteByByteRule(bytes calldata any) public view {
        vm.assertEq(harness.allDigits(any), _reference(any));
    }

    function testFuzz_allDigits_IsTheByteByByteRuleNearTheDigits(uint256 seed, uint8 length, uint256 at, bytes1 odd)
        public
        view
    {
        bytes memory s = _nearDigits(seed, length % 40, at, odd);
        vm.assertEq(harness.allDigits(s), _reference(s));
    }

    function test_allDigits_Edges() public view {
        vm.assertTrue(harness.allDigits(""));
        vm.assertTrue(harness.allDigits("0123456789"));
        vm.assertTrue(harness.allDigits("99999999999999999999999999999999")); // 32
        vm.assertFalse(harness.allDigits("999999999999999999999999999999999")); // 33
        bytes1[6] memory odd = [bytes1("/"), ":", "\x00", "\x2f", "\xb0", "\x3f"];
        for (uint256 i; i < odd.length; ++i) {
            vm.assertFalse(harness.allDigits(bytes.concat("12", odd[i], "34")));
        }
    }

    function testFuzz_split_GtinDigitsDecideValidity(uint256 seed, uint256 at, bytes1 odd, bool clean) public view {
        bytes memory gtin = _nearDigits(seed, 14, at, clean ? bytes1("7") : odd);
        bytes memory identifier = bytes.concat("https://id.gs1.org/01/", gtin, "/10/LOT");
        (uint8 kind, uint256 start, bool valid) = harness.split(identifier, 7);
        vm.assertEq(kind, Identifiers.GS1);
        vm.assertEq(start, 23);
        vm.assertEq(valid, _reference(gtin));
    }

    function testFuzz_isValidPrefix_Gs1IsDigitsOfALicencesLength(uint256 seed, uint8 length, uint256 at, bytes1 odd)
        public
        view
    {
        bytes memory prefix = _nearDigits(seed, length % 16, at, odd);
        bool digits = _reference(prefix);
        vm.assertEq(
            harness.isValidPrefix(Identifiers.GS1, prefix, false), digits && prefix.length >= 4 && prefix.length <= 12
        );
        vm.assertEq(harness.isValidPrefix(Identifiers.GS1, prefix, true), digits && prefix.length <= 12);
    }
}
