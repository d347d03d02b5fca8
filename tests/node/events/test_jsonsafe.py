"""Untrusted JSON: nesting measured before parsing, so it can never crash the process."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.events.jsonsafe import loads_bounded, nesting_depth
from node.exceptions import JsonTooDeepError, MalformedJsonError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\a'), inner, max_size=3)
    ),
    max_leaves=20,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_depth_is_measured_exactly_ignoring_brackets_in_strings(value: Any) -> None:
    text = json.dumps(value).encode()
    assert nesting_depth(text) == _depth(value)
    assert loads_bounded(text, max_depth=_depth(value)) == value


@pytest.mark.parametrize("text", ["[" * 200_000, "{" * 200_000, '{"a":' * 50_000 + "1"])
def test_deep_nesting_is_refused_not_a_crash(text: str) -> None:
    with pytest.raises(JsonTooDeepError, match="nested"):
        loads_bounded(text)


@pytest.mark.parametrize("text", ["", "nope", "[1,", '{"a" 1}', b"\xff\xfe"])
def test_text_that_is_not_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(MalformedJsonError):
        loads_bounded(text)


def test_the_nesting_check_is_linear_on_unterminated_escaped_quotes() -> None:
    # An 80 KB run once took 34 s (every quote started a new scan to the end), in the
    # gateway's event loop before any key was checked; this is 4 MB.
    hostile = b'"' + b'\\"' * 2_000_000
    began = time.monotonic()

    assert nesting_depth(hostile) == 0
    with pytest.raises(MalformedJsonError):
        loads_bounded(hostile)
    assert time.monotonic() - began < 10  # quadratic, it would take days


def test_an_unterminated_string_hides_no_nesting_from_the_check() -> None:
    # What follows an unterminated string is inside it for the parser too: it refuses the
    # text there, never recursing into brackets the check did not count.
    with pytest.raises(JsonTooDeepError):
        loads_bounded("[" * 200 + '"never closed')
    with pytest.raises(MalformedJsonError):
        loads_bounded('["never closed' + "[" * 200_000)
