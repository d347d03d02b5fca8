"""The window of event times the node accepts at ingest.

An event says when it happened (``eventTime``, milliseconds since the Unix epoch, signed
with the rest). Nothing on-chain checks it, so the node bounds it when it accepts an
event, on every path into the store (HTTP, EPCIS capture, the CLI, the test harness: all
go through :class:`node.ingest.service.IngestService`):

- not before ``earliest`` (default 2000-01-01T00:00:00Z): a zero, a time in seconds
  rather than milliseconds, or any other time from before supply chains were recorded
  this way is a mistake. The bound is fixed, not relative to today, so records of past
  years can still be backfilled;
- not more than ``max_ahead`` after the node's clock (default 60 minutes): clocks drift
  a little; the year 9999 is not drift.

Only ingest applies the window: events already accepted (in the store, in proof bundles)
are never judged again by it, so a bundle verifies whatever the window is today.

Settings (environment, read when a node opens; docs/operations.md):
``TRACENODE_EVENT_TIME_EARLIEST`` (an RFC 3339 date or UTC time, e.g. ``2015-01-01``)
and ``TRACENODE_EVENT_TIME_MAX_AHEAD_MINUTES``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from node.events.digits import is_decimal
from node.exceptions import ConfigurationError, EventTimeOutOfRangeError

EARLIEST_ENV: Final = "TRACENODE_EVENT_TIME_EARLIEST"
MAX_AHEAD_ENV: Final = "TRACENODE_EVENT_TIME_MAX_AHEAD_MINUTES"
#: 2000-01-01T00:00:00Z, in milliseconds.
DEFAULT_EARLIEST_MS: Final = 946_684_800_000
DEFAULT_MAX_AHEAD_MINUTES: Final = 60
#: The widest tolerance for clocks ahead of the node's that a setting may ask for.
MAX_AHEAD_LIMIT_MINUTES: Final = 7 * 24 * 60
_MINUTE_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class EventTimeWindow:
    """``eventTime`` must lie in [``earliest_ms``, now + ``max_ahead_ms``]."""

    earliest_ms: int = DEFAULT_EARLIEST_MS
    max_ahead_ms: int = DEFAULT_MAX_AHEAD_MINUTES * _MINUTE_MS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EventTimeWindow:
        """The window the environment sets (the defaults for what it does not set);
        :class:`ConfigurationError` for a value the node cannot use."""
        env = os.environ if environ is None else environ
        earliest = DEFAULT_EARLIEST_MS
        text = env.get(EARLIEST_ENV, "").strip()
        if text:
            earliest = _parse_earliest(text)
        ahead = DEFAULT_MAX_AHEAD_MINUTES
        text = env.get(MAX_AHEAD_ENV, "").strip()
        if text:
            if not is_decimal(text) or int(text) > MAX_AHEAD_LIMIT_MINUTES:
                raise ConfigurationError(
                    f"{MAX_AHEAD_ENV} must be a number of minutes from 0 to "
                    f"{MAX_AHEAD_LIMIT_MINUTES}, not {text!r}"
                )
            ahead = int(text)
        return cls(earliest_ms=earliest, max_ahead_ms=ahead * _MINUTE_MS)

    def latest_ms(self, now: float) -> int:
        """The latest time accepted when the node's clock reads ``now`` (Unix seconds)."""
        return int(now * 1000) + self.max_ahead_ms

    def check(self, event_time: int, now: float) -> None:
        """Raise :class:`EventTimeOutOfRangeError` (``field="eventTime"``) unless
        ``event_time`` (ms) is in the window when the clock reads ``now`` (Unix seconds)."""
        latest = self.latest_ms(now)
        if self.earliest_ms <= event_time <= latest:
            return
        if event_time < self.earliest_ms:
            why = f"before the earliest time this node accepts, {_show(self.earliest_ms)}"
        else:
            minutes = self.max_ahead_ms // _MINUTE_MS
            why = (
                f"more than {minutes} minutes ahead of the node's clock ({_show(int(now * 1000))})"
            )
        raise EventTimeOutOfRangeError(
            f"eventTime {event_time} ({_show(event_time)}) is {why}; eventTime is in "
            "milliseconds since the Unix epoch",
            field="eventTime",
            earliest=self.earliest_ms,
            latest=latest,
        )


def _parse_earliest(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or (moment.tzinfo is not None and moment.utcoffset() != UTC.utcoffset(None)):
        raise ConfigurationError(
            f"{EARLIEST_ENV} must be an RFC 3339 date or UTC time (e.g. 2000-01-01), not {text!r}"
        )
    ms = int(moment.replace(tzinfo=UTC).timestamp() * 1000)
    if not 0 <= ms <= time.time() * 1000:
        raise ConfigurationError(
            f"{EARLIEST_ENV} must lie between 1970-01-01 and now, not {text!r}"
        )
    return ms


def _show(ms: int) -> str:
    """``ms`` as an RFC 3339 UTC time, when it is one."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return "not a representable time"
