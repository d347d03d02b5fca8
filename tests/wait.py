"""Waiting in tests: poll for what must happen, up to a deadline; never a fixed sleep.

A fixed sleep is too long on a quiet machine and too short on a loaded one (the suite
shares two cores); a poll returns as soon as the thing has happened and fails, saying
what it waited for, only when the deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | Literal[False] | None],
    timeout: float = 10.0,
    *,
    interval: float = 0.01,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy,
    and return that; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        time.sleep(interval)
