"""Text the node reads from the chain — a participant's name, a licence's prefix — as it
stores and shows it.

A contract keeps whatever bytes a registrar sent as a ``string``: not necessarily UTF-8,
and possibly holding NUL or other control characters. web3's decoder refuses invalid
UTF-8 (every later read of the same log or call fails the same way), and PostgreSQL
refuses NUL in text: one such name stopped the participant mirror's sync on every node.
So on-chain strings are read as the raw bytes they are (:func:`raw_strings`: the ABI
encodes ``string`` and ``bytes`` alike) and made text here, in one place:
:func:`chain_text`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

#: An ABI type's ``string`` (alone, in a tuple, in an array).
_STRING: Final = re.compile(r"\bstring\b")


def chain_text(raw: bytes | str) -> str:
    """``raw`` (an on-chain string's bytes) as text safe to store and show: UTF-8 decoded
    with each invalid sequence replaced by U+FFFD, and every control character (NUL, the
    rest of C0, DEL and C1: Unicode category Cc) dropped."""
    text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", errors="replace")
    return "".join(c for c in text if unicodedata.category(c) != "Cc")


def raw_strings(abi_type: str) -> str:
    """``abi_type`` with each ``string`` read as ``bytes`` (the same encoding), so that
    decoding never fails on what is not UTF-8: its text is :func:`chain_text`'s to make."""
    return _STRING.sub("bytes", abi_type)
