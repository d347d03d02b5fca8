"""Impossible travel: a batch at two places further apart than it could have gone in the
time between. A pure function of the batch's events and the product table
(:mod:`node.monitor.products`); :mod:`node.monitor.goods` gathers them.

- ``impossible-travel`` (medium): two consecutive events of a batch whose places are known
  (:func:`node.monitor.payloads.place`), in the order of the times they claim, further
  apart (great-circle) than the product's fastest plausible transport covers in the time
  between. Places closer than the policy's slack are the same place.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from node.events.batch import BatchState
from node.monitor.grading import Confidence, Impact, grade
from node.monitor.payloads import Place, batch_name, hexed, live, place
from node.monitor.products import Coordinates, Product, ProductTable
from node.store.records import EventRecord, Finding

EARTH_RADIUS_KM = 6371.0088
HOUR_MS = 3_600_000
#: A record that cannot be true (a cloned label, a copied event, a wrong site) or a
#: mistyped location: likely, and it misleads whoever reads the route.
TRAVEL = grade(Impact(integrity=2, money=1), Confidence.LIKELY)


def distance_km(a: Coordinates, b: Coordinates) -> float:
    """The great-circle distance (haversine, on the mean Earth radius)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _where(record: EventRecord, where: Place) -> dict[str, str | float]:
    return {
        "eventHash": hexed(record.event_hash),
        "eventTime": str(record.event.event_time),
        "place": where.source,
        "lat": where.coordinates.lat,
        "lon": where.coordinates.lon,
    }


def check_travel(
    state: BatchState,
    events: Sequence[EventRecord],
    product: Product | None,
    table: ProductTable,
) -> list[Finding]:
    """Consecutive located events of the batch too far apart for the time between."""
    speed = product.max_speed_kmh if product is not None else table.travel.max_speed_kmh
    located: list[tuple[EventRecord, Place]] = []
    for record in sorted(events, key=lambda r: (r.event.event_time, r.id)):
        where = place(record, table) if live(record) else None
        if where is not None:
            located.append((record, where))
    found: list[Finding] = []
    for (a, at_a), (b, at_b) in itertools.pairwise(located):
        km = distance_km(at_a.coordinates, at_b.coordinates)
        hours = (b.event.event_time - a.event.event_time) / HOUR_MS
        if km <= table.travel.slack_km or km <= speed * hours:
            continue
        severity, points = TRAVEL
        found.append(
            Finding(
                kind="impossible-travel",
                severity=severity,
                score=points,
                incident=f"impossible-travel:{hexed(a.event_hash)}:{hexed(b.event_hash)}",
                detail=(
                    f"{batch_name(state)} was {km:,.0f} km away "
                    f"{hours * 60:.0f} min after its {a.action.name}: "
                    + (
                        f"{km / hours:,.0f} km/h, faster than the {speed:g} km/h allowed"
                        if hours > 0
                        else "at the same moment"
                    )
                ),
                evidence={
                    "batch": hexed(state.batch_id),
                    "from": _where(a, at_a),
                    "to": _where(b, at_b),
                    "km": round(km, 1),
                    "hours": round(hours, 3),
                    "maxSpeedKmh": speed,
                },
                batch_id=state.batch_id,
                event_hash=b.event_hash,
                participant_id=b.participant_id,
            )
        )
    return found


def say_travel(evidence: Mapping[str, Any]) -> str:
    """``impossible-travel`` in plain words, for the buyer's page."""
    return (
        f"This lot is recorded at two places {evidence['km']} km apart within "
        f"{round(float(evidence['hours']) * 60)} minutes, faster than it can travel."
    )
