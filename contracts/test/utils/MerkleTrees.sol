// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice OpenZeppelin StandardMerkleTrees over leaf hashes, laid out as
/// OpenZeppelin's merkle-tree package does: leaves sorted by hash, leaf i at `tree[length - 1 - i]`,
/// `tree[j] = hashPair(tree[2j + 1], tree[2j + 2])`, root at `tree[0]`.
library MerkleTrees {
    /// @dev The leaf of one ABI-encoded value: `keccak256(keccak256(abi.encode(...)))`.
    function leaf(bytes memory encoded) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(encoded)));
    }

    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// @dev `values` in ascending order (a copy).
    function sorted(bytes32[] memory values) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](values.length);
        for (uint256 i; i < values.length; ++i) {
            bytes32 current = values[i];
            uint256 j = i;
            for (; j > 0 && out[j - 1] > current; --j) {
                out[j] = out[j - 1];
            }
            out[j] = current;
        }
    }

    /// @dev The tree of `leaves` (leaf hashes, any order; at least one).
    function build(bytes32[] memory leaves) internal pure returns (bytes32[] memory tree) {
        uint256 n = leaves.length;
        bytes32[] memory ordered = sorted(leaves);
        tree = new bytes32[](2 * n - 1);
        for (uint256 i; i < n; ++i) {
            tree[tree.length - 1 - i] = ordered[i];
        }
        for (uint256 j = tree.length - n; j > 0; --j) {
            tree[j - 1] = hashPair(tree[2 * j - 1], tree[2 * j]);
        }
    }

    /// @dev The proof of leaf hash `value` in `tree` (reverts when it is not a leaf).
    function proof(bytes32[] memory tree, bytes32 value) internal pure returns (bytes32[] memory) {
        uint256 n = (tree.length + 1) / 2;
        for (uint256 k = tree.length - n; k < tree.length; ++k) {
            if (tree[k] == value) return proofAt(tree, k);
        }
        revert("not a leaf");
    }

    /// @dev The proof of the node at `index` of `tree`: its siblings up to the root.
    function proofAt(bytes32[] memory tree, uint256 index) internal pure returns (bytes32[] memory path) {
        uint256 depth;
        for (uint256 k = index; k > 0; k = (k - 1) / 2) {
            ++depth;
        }
        path = new bytes32[](depth);
        for (uint256 i; index > 0; ++i) {
            path[i] = tree[index % 2 == 1 ? index + 1 : index - 1];
            index = (index - 1) / 2;
        }
    }
}
