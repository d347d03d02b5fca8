"""The costliest eth_call we know for py-evm: a loop of BN254 pairing checks.

py-evm runs the pairing precompile (0x08) in pure Python (py_ecc): a two-pair check costs
113,000 gas and ~0.3 s, so a call burns seconds per million gas, far more time per gas
than any opcode loop. Creation code (no ``to``), so any eth_call endpoint runs it. Used by
the tests and scripts/bench_rpc_stall.py to attack ``/rpc``.
"""

from __future__ import annotations

from typing import Any

from py_ecc.bn128 import bn128_curve


def _words() -> list[int]:
    """e(G1, G2) * e(-G1, G2) == 1: a valid two-pair input, 12 words (EIP-197 layout)."""

    g1: Any = bn128_curve.G1
    g2: Any = bn128_curve.G2
    minus: Any = bn128_curve.neg(g1)
    g2_words = [int(c) for f in g2 for c in reversed(f.coeffs)]
    return [int(g1[0]), int(g1[1]), *g2_words, int(minus[0]), int(minus[1]), *g2_words]


def pairing_loop_code() -> str:
    """0x-hex creation code that checks the pairing above until its gas runs out."""
    code = bytearray()
    for index, word in enumerate(_words()):
        code += b"\x7f" + word.to_bytes(32, "big") + b"\x61" + (index * 32).to_bytes(2, "big")
        code += b"\x52"  # MSTORE
    loop = len(code)
    code += b"\x5b"  # JUMPDEST
    # STATICCALL(gas, 0x08, 0, 384, 384, 32), result dropped; jump back.
    code += bytes.fromhex("6020610180610180600060085afa50")
    code += b"\x61" + loop.to_bytes(2, "big") + b"\x56"
    return "0x" + code.hex()
