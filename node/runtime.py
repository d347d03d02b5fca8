"""Process-level settings for long-running node processes, and how long tasks report
their progress."""

from __future__ import annotations

import gc
from collections.abc import Callable

#: Told, as a long task goes, what it starts doing next ("signing 20,000 events"), so a
#: command can show progress (node/cli/common.py: ``steps``).
Progress = Callable[[str], None]


def quiet(step: str) -> None:
    """The ``Progress`` that shows nothing."""


def settle_heap() -> None:
    """Collect once, then exclude every object alive now from future garbage collections.

    A node process holds a large, long-lived heap (py-evm's chain and VM classes, web3,
    SQLAlchemy metadata, compiled ABIs). Python's full collections scan all of it, and a
    query that allocates a few tens of thousands of objects (a 10,000-batch downstream
    trace) triggers them: measured here, half of that query's CPU time went to the
    collector. Called once after start-up (``tracenode serve``, ``tracenode bench``), as
    CPython's documentation suggests for servers; objects created later are collected as
    usual.
    """
    gc.collect()
    gc.freeze()
