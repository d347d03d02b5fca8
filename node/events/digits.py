"""Decimal digits as every format the node reads means them: ASCII ``0``-``9`` only.

``str.isdigit()`` is true of other scripts' digits and of superscripts too (``"١٢"``,
``"²"``), and ``int()`` refuses the superscripts: a check written with it lets hostile
text through to a ``ValueError`` (a 500 where it came over HTTP), or reads ``"١٢"`` as 12.
``re``'s ``\\d`` matches other scripts' digits the same way; patterns use ``[0-9]``.
"""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """Whether ``text`` is one or more ASCII decimal digits."""
    return text.isascii() and text.isdigit()
