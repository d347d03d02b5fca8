"""Parse untrusted JSON text without letting its nesting crash the process.

py-evm raises Python's recursion limit to 100,000 when it is imported, and CPython's
``json`` decoder recurses in C for each nested array or object, bounded only by that
limit: ``"[" * 100000`` then overflows the C stack and the process dies with a
segmentation fault instead of an exception. Every JSON document from outside (HTTP
bodies, bundles, EPCIS documents, submission files) goes through :func:`loads_bounded`,
which measures the nesting first — with string literals removed, so brackets inside
strings do not count — and refuses anything deeper than the caller allows.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Final

from node.exceptions import JsonTooDeepError, MalformedJsonError

DEFAULT_MAX_DEPTH: Final = 128
#: A string literal, to its closing quote or, unterminated, to the end of the text (where
#: ``json.loads`` refuses it too). Possessive, and never retried from inside a string:
#: linear in the text. (``"(?:[^"\\]|\\.)*"`` was quadratic on an unterminated run of
#: escaped quotes: 80 KB took 34 s, in the gateway's event loop, before any key check.)
_STRING: Final = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS: Final = bytes(set(range(256)) - set(b"[]{}"))
_STEP: Final = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text ``data``."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS).translate(_STEP)
    if not brackets:
        return 0
    return max(0, *accumulate(1 if step == 1 else -1 for step in brackets))


def loads_bounded(data: str | bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """``json.loads(data)``, refusing text nested deeper than ``max_depth`` and text that
    is not JSON (:class:`JsonTooDeepError`, :class:`MalformedJsonError`)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise JsonTooDeepError(f"JSON nested {depth} levels deep; the limit is {max_depth}")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedJsonError(f"not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259), whatever Python's parser accepts."""
    raise MalformedJsonError(f"{name} is not a JSON value")
