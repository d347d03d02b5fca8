"""When an event says it happened, against when the chain first saw it.

An event's ``eventTime`` is what its signer claims; nothing checks it (docs/design.md §4).
The timestamp of the block that anchored the event's Merkle root is a fact of the chain:
the event existed, signed, by then. The two are compared here, and a large gap is
flagged for a reader to weigh (the buyer page explains it in words):

- ``claimed-after-anchoring``: the claimed time is more than
  :data:`CLAIMED_AFTER_TOLERANCE` seconds *after* the block that anchored the event. An
  event cannot happen after it was anchored: the signer's clock, or the claimed time, is
  wrong. The tolerance absorbs clock skew between the signer and the chain.
- ``anchored-long-after``: the claimed time is more than :data:`ANCHORED_LATE_LIMIT`
  seconds *before* the block. Nothing corroborates a claimed time that old: the event
  may have been recorded late (or held back), or its time may be wrong.

Neither is a failed check — the signature, proof and root still verify — and neither
proves wrongdoing; an honest event signed offline and submitted days later is flagged
too. Times in JSON follow the project's rule for new fields: Unix seconds as a decimal
string next to an ISO 8601 UTC string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

#: Seconds a claimed time may lie after its anchoring block before it is flagged.
CLAIMED_AFTER_TOLERANCE: Final = 5 * 60
#: Seconds a claimed time may lie before its anchoring block before it is flagged.
ANCHORED_LATE_LIMIT: Final = 24 * 3600

GapKind = Literal["claimed-after-anchoring", "anchored-long-after"]


@dataclass(frozen=True, slots=True)
class TimeGap:
    kind: GapKind
    seconds: int  # how far apart the two times are, whole seconds, always positive
    limit: int  # the threshold it exceeded, seconds


def time_gap(event_time_ms: int, block_time: int) -> TimeGap | None:
    """The flagged gap between a claimed time (milliseconds) and the anchoring block's
    timestamp (seconds), or None when the two are close enough."""
    delta_ms = event_time_ms - block_time * 1000  # > 0: claimed after the block
    if delta_ms > CLAIMED_AFTER_TOLERANCE * 1000:
        return TimeGap("claimed-after-anchoring", delta_ms // 1000, CLAIMED_AFTER_TOLERANCE)
    if -delta_ms > ANCHORED_LATE_LIMIT * 1000:
        return TimeGap("anchored-long-after", -delta_ms // 1000, ANCHORED_LATE_LIMIT)
    return None


def iso_time(seconds: int) -> str:
    """``seconds`` since the Unix epoch as ISO 8601 in UTC, e.g. 2026-01-02T03:04:05Z."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timing_json(event_time_ms: int, block_time: int | None) -> dict[str, Any]:
    """``anchoredAt`` (null until anchored) and ``timeGap`` (null unless flagged) of one
    event, as the provenance report's events carry them (docs/proofs.md)."""
    if block_time is None:
        return {"anchoredAt": None, "timeGap": None}
    gap = time_gap(event_time_ms, block_time)
    return {
        "anchoredAt": {"time": iso_time(block_time), "timestamp": str(block_time)},
        "timeGap": None
        if gap is None
        else {"kind": gap.kind, "seconds": str(gap.seconds), "limitSeconds": str(gap.limit)},
    }
