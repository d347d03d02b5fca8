"""What every bench figure is measured against: the machine (cores, load), bare signature
recovery on all of its cores, and how rounds are interleaved and summed up."""

from __future__ import annotations

import math
import os
import platform
import pstats
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from coincurve import PublicKey

from node.events.submission import SignedEvent
from node.events.typed_data import Domain

T = TypeVar("T")


def cores() -> int:
    return os.cpu_count() or 1


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    return {
        "cores": cores(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


@contextmanager
def loads(into: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Record the load average at the start and at the end of a section in ``into``."""
    into["load_average_start"] = load_average()
    began = time.monotonic()
    try:
        yield into
    finally:
        into["load_average_end"] = load_average()
        into["section_s"] = round(time.monotonic() - began, 1)


def _recover(pairs: Sequence[tuple[bytes, bytes]]) -> int:
    for digest, signature in pairs:
        PublicKey.from_signature_and_message(signature, digest, hasher=None)
    return len(pairs)


class RawRecovery:
    """Bare coincurve recovery (``PublicKey.from_signature_and_message``) on every core: a
    process per core, started before anything is timed, each recovering an equal share of
    the digests (computed beforehand). What no ingest path can beat on this machine."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or cores()
        self._pool = ProcessPoolExecutor(max_workers=self.processes)
        list(self._pool.map(_recover, [[] for _ in range(self.processes)]))

    def rate(self, signed: Sequence[SignedEvent], domain: Domain) -> float:
        """Recoveries per second over ``signed``'s signatures, on all cores."""
        pairs = [
            (s.event.digest(domain), s.signature[:64] + bytes((s.signature[64] - 27,)))
            for s in signed
        ]
        size = math.ceil(len(pairs) / self.processes)
        began = time.perf_counter()
        done = sum(
            self._pool.map(_recover, [pairs[i : i + size] for i in range(0, len(pairs), size)])
        )
        return done / (time.perf_counter() - began)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def rotated(index: int, steps: Sequence[Callable[[], T]]) -> list[T]:
    """Round ``index`` of steps interleaved over rounds: every step once, starting one step
    further on each round (A B C, then B C A, then C A B), so that no step always follows
    another; the results in ``steps``' order."""
    by_step: dict[int, T] = {}
    for offset in range(len(steps)):
        which = (index + offset) % len(steps)
        by_step[which] = steps[which]()
    return [by_step[i] for i in range(len(steps))]


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.5 for the median, 0.99 for p99)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def median_of(rows: Sequence[Mapping[str, Any]], key: str) -> float:
    """The median of ``key`` over rounds' figures, rounded to 3 decimals."""
    return round(float(statistics.median(row[key] for row in rows)), 3)


def cumulative_seconds(stats: pstats.Stats, functions: Sequence[tuple[str, str]]) -> float:
    """The cumulative seconds a profile spent in ``functions`` (file suffix, name): a
    profiling script's step (scripts/profile_ingest.py, scripts/profile_relay.py)."""
    table: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    return sum(
        ct
        for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in table.items()
        for suffix, wanted in functions
        if name == wanted and file.endswith(suffix)
    )
