"""keccak-256: the node's own (node.events.hashing) and the one py-evm, py-trie, eth-utils
and web3 share through eth-hash, which the node points at safe-pysha3's C extension."""

from __future__ import annotations

import os
import subprocess
import sys

from eth_hash.backends import pycryptodome

from node.events.hashing import keccak

#: keccak-256 of the empty string (not NIST SHA3-256's a7ffc6f8...).
EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")

_BACKEND = """
import node
from eth_hash.auto import keccak
keccak(b"")
print(keccak.hasher.__module__)
"""


def _backend(environment: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _BACKEND],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_nodes_keccak_is_ethereums_and_pycryptodomes() -> None:
    assert keccak(b"") == EMPTY
    for data in (b"x", b"\x00" * 32, bytes(range(256)) * 5):
        assert keccak(data) == pycryptodome.keccak256(data)


def test_importing_the_node_points_eth_hash_at_pysha3() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    assert _backend(environment) == "eth_hash.backends.pysha3"


def test_an_operators_eth_hash_backend_is_kept() -> None:
    chosen = {**os.environ, "ETH_HASH_BACKEND": "pycryptodome"}
    assert _backend(chosen) == "eth_hash.backends.pycryptodome"
