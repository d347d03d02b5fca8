"""Process-level settings for long-running node processes."""

from __future__ import annotations

import gc


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
