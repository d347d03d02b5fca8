"""Backpressure: submissions are refused while a new event's predicted wait for its proof
passes ``TRACENODE_API_MAX_PROOF_DELAY`` (node/commit/backlog.py predicts it).

The backlog is read from the store at most once a second per process (three indexed
queries), whatever the request rate; a refusal is 503 ``backlogged`` with
``Retry-After`` (when the prediction should be back under the bound) and
``predictedSeconds``. The SDK and ``tracenode event submit`` wait as asked and retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from node.commit.backlog import Backlog, read_backlog
from node.exceptions import BackloggedError
from node.store.store import Store

#: Seconds a reading of the backlog is reused.
FRESH_FOR = 1.0


class BacklogWatch:
    """The backlog as last read (at most ``FRESH_FOR`` seconds old)."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._read_at = -FRESH_FOR
        self._last: Backlog | None = None

    def current(self) -> Backlog:
        with self._lock:
            now = self.clock()
            if self._last is None or now - self._read_at >= FRESH_FOR:
                self._last = read_backlog(
                    self.store, now_ms=int(now * 1000), interval=self.interval
                )
                self._read_at = now
            return self._last

    def admit(self, bound: float) -> None:
        """Raise :class:`BackloggedError` while the predicted wait passes ``bound``
        seconds (0 turns backpressure off)."""
        if bound <= 0:
            return
        backlog = self.current()
        if backlog.predicted_seconds <= bound:
            return
        waiting = f"{backlog.queued} event" + (" waits" if backlog.queued == 1 else "s wait")
        why = (
            f"nothing was anchored for {backlog.predicted_seconds:.0f} s while {waiting}"
            if backlog.stalled
            else f"{waiting} to be anchored, about {backlog.predicted_seconds:.0f} s of work"
        )
        raise BackloggedError(
            f"{why}, beyond this node's bound of {bound:g} s: send it again later",
            retry_after=backlog.retry_after(bound),
            predicted_seconds=backlog.predicted_seconds,
        )
