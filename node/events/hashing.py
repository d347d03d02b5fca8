"""keccak-256, the fast way.

eth-hash picks pycryptodome when both backends are installed, which costs ~6 µs a
call through cffi; safe-pysha3's C extension takes ~2 µs. Ingest hashes three times
per event, so the node uses pysha3 directly and eth-hash only as a fallback.
"""

from __future__ import annotations

from collections.abc import Callable

_keccak: Callable[[bytes], bytes]
try:
    from sha3 import keccak_256

    def _pysha3(data: bytes) -> bytes:
        return bytes(keccak_256(data).digest())

    _keccak = _pysha3
except ImportError:  # pragma: no cover - safe-pysha3 is a declared dependency
    from eth_hash.auto import keccak as _eth_hash

    _keccak = _eth_hash


def keccak(data: bytes) -> bytes:
    """keccak-256 of ``data`` (Ethereum's hash, not NIST SHA3-256)."""
    return _keccak(data)
