"""Process-level settings for long-running node processes, and how long tasks report
their progress."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


class Precedence:
    """Which of a process's threads goes first. Work that should not wait (the commit
    worker's window) runs inside :meth:`first`; background work (the integrity monitor's
    watches and cycles) calls :meth:`defer` between its steps, which waits while such
    work is under way, at most ``bound`` seconds a call.

    Why: the threads of one process share one GIL. In serve's commit process the watch,
    running beside a window, stretched the window's hold of the store's write lock,
    which the gateway waits for, and the window's time to proof (docs/benchmarks.md).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._clear = threading.Event()
        self._clear.set()

    @contextmanager
    def first(self) -> Iterator[None]:
        """Run the block before any work that defers to it."""
        with self._lock:
            self._running += 1
            self._clear.clear()
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    self._clear.set()

    def defer(self, bound: float) -> bool:
        """Wait while work runs :meth:`first`, at most ``bound`` seconds; whether it was
        done by then (True at once when none runs). Never called from inside
        :meth:`first`: it would wait for itself."""
        return self._clear.is_set() or self._clear.wait(bound)
