"""Cold chain: a batch's temperature outside its product's safe range. A pure function of
the batch's events and its product (:mod:`node.monitor.products`);
:mod:`node.monitor.goods` gathers them.

- ``cold-chain`` (medium or high): consecutive readings (in time order) beyond the safe
  range by more than the sensors' tolerance form an excursion, one incident each. It is
  graded by how far and for how long: its exposure is the area beyond the range, in
  degree-hours, between its first and last readings; from the policy's
  ``high_exposure`` (2 degree-hours: two degrees for an hour, or four for half an hour)
  it is high, below it (a single spike, however far) medium. An excursion that goes on
  grows the same incident, which escalates.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from node.events.batch import BatchState
from node.events.typed_data import Action
from node.monitor.grading import Confidence, Impact, grade
from node.monitor.payloads import Reading, batch_name, hexed, live, temperatures
from node.monitor.products import ColdChainPolicy, Product
from node.store.records import EventRecord, Finding

HOUR_MS = 3_600_000
#: Hours at an unsafe temperature: people's health, and the goods' value.
HIGH = grade(Impact(safety=3, money=1), Confidence.LIKELY)
#: A short or single excursion: often a door opened, a probe touched; still to check.
MEDIUM = grade(Impact(safety=2, money=1), Confidence.LIKELY)


def beyond(reading: Reading, safe: tuple[float, float]) -> float:
    """Degrees beyond the range ``safe`` (0 inside it)."""
    low, high = safe
    return max(0.0, low - reading.low, reading.high - high)


def check_cold_chain(
    state: BatchState,
    events: Sequence[EventRecord],
    product: Product | None,
    policy: ColdChainPolicy,
) -> list[Finding]:
    """Excursions of the batch's readings (from events about it, other than the
    transformation that made or consumed it) beyond its product's safe range."""
    if product is None or product.safe_celsius is None:
        return []
    safe = product.safe_celsius
    readings = sorted(
        (
            reading
            for record in events
            if live(record)
            and record.event.batch_id == state.batch_id
            and record.action is not Action.TRANSFORM
            for reading in temperatures(record)
        ),
        key=lambda r: r.at,
    )
    runs: list[list[Reading]] = []
    current: list[Reading] = []
    for reading in readings:
        if beyond(reading, safe) > policy.tolerance:
            current.append(reading)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [_finding(state, run, product, safe, policy) for run in runs]


def _finding(
    state: BatchState,
    run: list[Reading],
    product: Product,
    safe: tuple[float, float],
    policy: ColdChainPolicy,
) -> Finding:
    exposure = sum(
        (beyond(a, safe) + beyond(b, safe)) / 2 * (b.at - a.at) / HOUR_MS
        for a, b in itertools.pairwise(run)
    )
    worst = max(run, key=lambda r: beyond(r, safe))
    peak = worst.high if worst.high > safe[1] else worst.low
    minutes = (run[-1].at - run[0].at) // 60_000
    severity, points = HIGH if exposure >= policy.high_exposure else MEDIUM
    how_long = (
        "in a single reading"
        if len(run) == 1
        else f"for {minutes // 60} h {minutes % 60:02d} min ({len(run)} readings)"
    )
    name = batch_name(state)
    return Finding(
        kind="cold-chain",
        severity=severity,
        score=points,
        incident=f"cold-chain:{hexed(state.batch_id)}:{hexed(run[0].event_hash)}:{run[0].at}",
        detail=(
            f"{name} ({product.name}) was at {peak:.1f} °C {how_long}; its safe range is "
            f"{safe[0]:g} to {safe[1]:g} °C"
        ),
        evidence={
            "batch": hexed(state.batch_id),
            "product": product.name,
            "safeRange": {"min": safe[0], "max": safe[1], "unit": "CEL"},
            "readings": [
                {"eventHash": hexed(r.event_hash), "at": str(r.at), "min": r.low, "max": r.high}
                for r in run
            ],
            "peak": peak,
            "minutes": minutes,
            "degreeHours": round(exposure, 3),
            "policy": {"tolerance": policy.tolerance, "highExposure": policy.high_exposure},
        },
        batch_id=state.batch_id,
        event_hash=worst.event_hash,
        participant_id=worst.participant_id,
    )


def say_cold_chain(evidence: Mapping[str, Any]) -> str:
    """``cold-chain`` in plain words, for the buyer's page."""
    safe = evidence["safeRange"]
    minutes = int(evidence["minutes"])
    how_long = f"about {minutes} minutes" if minutes < 120 else f"about {round(minutes / 60)} hours"
    return (
        f"This lot was recorded outside its safe temperature range ({safe['min']} to "
        f"{safe['max']} °C) for {how_long}, reaching {evidence['peak']} °C."
    )
