// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Identifiers
/// @notice The on-chain half of TraceNode's identifier rules (the node's half is
/// node/events/identifiers.py): the syntax of identifier prefixes, which shorter prefixes
/// contain a prefix, and where a prefix sits in a canonical batch identifier.
/// @dev A batch id is `keccak256(utf8(canonical identifier))`. A relayer proves that a batch id
/// derives from an identifier under a prefix by supplying the identifier and the length of its
/// prefix: the kind of the identifier, and so where its prefix starts, follows from the
/// identifier itself, so one identifier can never be read as two kinds.
/// - GS1: `https://id.gs1.org/01/` + GTIN-14 + `/`...: the prefix (a GS1 company prefix, 4-12
///   digits) starts after the indicator digit, and the GTIN's remaining digits follow it.
/// - HANDLE: an identifier starting with a digit: the prefix starts at byte 0 and is followed
///   by `/` (the handle's suffix) or `.` (a longer handle prefix under it).
/// - OTHER: anything else (not a GS1 or handle canonical form): no prefix.
library Identifiers {
    /// @notice GS1 company prefixes (digits; licences 4-12, ranges 0-12).
    uint8 internal constant GS1 = 1;
    /// @notice Handle prefixes (dot-separated digit groups, at most 64 bytes).
    uint8 internal constant HANDLE = 2;
    /// @notice Identifiers of neither form (no prefix: allowed only by a node's policy).
    uint8 internal constant OTHER = 3;

    /// @notice What every canonical GS1 batch identifier starts with.
    bytes22 internal constant GS1_HEAD = "https://id.gs1.org/01/";
    uint256 internal constant GS1_MIN_LICENCE = 4;
    uint256 internal constant GS1_MAX = 12;
    uint256 internal constant HANDLE_MAX = 64;
    /// @dev Offsets in a GS1 identifier: the GTIN-14 occupies [22, 36), a `/` follows.
    uint256 private constant _GTIN_START = 22;
    uint256 private constant _GTIN_END = 36;
    /// @dev Byte patterns for {allDigits}.
    uint256 private constant _HIGH_NIBBLES = 0xf0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0;
    uint256 private constant _LOW_NIBBLES = 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
    uint256 private constant _THREES = 0x3030303030303030303030303030303030303030303030303030303030303030;
    uint256 private constant _SIXES = 0x0606060606060606060606060606060606060606060606060606060606060606;

    /// @notice Whether `prefix` is a well-formed prefix of `kind`; a range may be shorter than a
    /// licence (down to empty: the whole kind).
    function isValidPrefix(uint8 kind, bytes calldata prefix, bool range) internal pure returns (bool) {
        uint256 length = prefix.length;
        if (kind == GS1) {
            return length <= GS1_MAX && (range || length >= GS1_MIN_LICENCE) && allDigits(prefix);
        }
        if (kind != HANDLE || length > HANDLE_MAX) return false;
        if (length == 0) return range;
        // Digit groups separated by single dots: no leading, trailing or doubled dot.
        bool afterDigit = false;
        for (uint256 i; i < length; ++i) {
            bytes1 c = prefix[i];
            if (_isDigit(c)) {
                afterDigit = true;
            } else if (c == "." && afterDigit) {
                afterDigit = false;
            } else {
                return false;
            }
        }
        return afterDigit;
    }

    /// @notice Whether the first `length` bytes of the valid prefix `prefix` are a prefix of the
    /// same kind that contains it: any shorter string of digits for GS1, whole digit groups for
    /// handles; the empty prefix (the whole kind) contains every prefix.
    function isBoundary(uint8 kind, bytes calldata prefix, uint256 length) internal pure returns (bool) {
        return length == 0 || length == prefix.length || kind == GS1 || prefix[length] == ".";
    }

    /// @notice The key under which the registry stores prefix `prefix` of `kind`.
    function key(uint8 kind, bytes calldata prefix) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(kind, prefix));
    }

    /// @notice The kind of `identifier` and the bounds of its `prefixLength`-byte prefix, and
    /// whether the split obeys the kind's rule (see the library's description).
    function split(bytes calldata identifier, uint256 prefixLength)
        internal
        pure
        returns (uint8 kind, uint256 start, bool valid)
    {
        uint256 length = identifier.length;
        if (length >= _GTIN_START && bytes22(identifier[:_GTIN_START]) == GS1_HEAD) {
            if (
                length <= _GTIN_END || identifier[_GTIN_END] != "/" || prefixLength < GS1_MIN_LICENCE
                    || prefixLength > GS1_MAX
            ) return (GS1, _GTIN_START + 1, false);
            return (GS1, _GTIN_START + 1, allDigits(identifier[_GTIN_START:_GTIN_END]));
        }
        if (length != 0 && _isDigit(identifier[0])) {
            if (prefixLength == 0 || prefixLength >= length) return (HANDLE, 0, false);
            bytes1 next = identifier[prefixLength];
            return (HANDLE, 0, next == "/" || next == ".");
        }
        return (OTHER, 0, length != 0 && prefixLength == 0);
    }

    /// @notice Whether every byte of `digits` (at most 32 bytes) is an ASCII digit, checked a
    /// word at a time: each byte's high nibble is 3, and its low nibble plus 6 does not carry
    /// into the high nibble (so it is at most 9). The bytes past `digits.length` are masked off.
    function allDigits(bytes calldata digits) internal pure returns (bool) {
        uint256 length = digits.length;
        if (length > 32) return false;
        if (length == 0) return true;
        uint256 shift = 256 - 8 * length;
        uint256 word = uint256(bytes32(digits)) >> shift;
        uint256 ones = type(uint256).max >> shift;
        uint256 highNibbles = ones & _HIGH_NIBBLES;
        return
            word & highNibbles == ones & _THREES && ((word & ones & _LOW_NIBBLES) + (ones & _SIXES)) & highNibbles == 0;
    }

    function _isDigit(bytes1 c) private pure returns (bool) {
        return c >= "0" && c <= "9";
    }
}
