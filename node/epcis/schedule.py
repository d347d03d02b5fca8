"""A query subscription's schedule (EPCIS 1.2 §8.2.5.3 QuerySchedule, which the EPCIS 2.0
REST bindings pass as the parameters ``second``, ``minute``, ``hour``, ``dayOfMonth``,
``month`` and ``dayOfWeek``; docs/epcis.md, "Subscriptions over WebSocket").

Each given field is a comma-separated list of numbers and ranges ``[low-high]`` within the
field's legal range; a time is a *query time* when every given field holds one of its
values (an omitted field holds any). Times are read in UTC (the standard leaves the time
zone to the service); ``dayOfWeek`` runs 1 (Monday) to 7 (Sunday).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from node.exceptions import EpcisSubscriptionError

#: Each field and its legal range.
FIELDS: Final = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "dayOfMonth": (1, 31),
    "month": (1, 12),
    "dayOfWeek": (1, 7),
}
_ELEMENT: Final = re.compile(r"([0-9]{1,2})|\[([0-9]{1,2})-([0-9]{1,2})\]")


@dataclass(frozen=True, slots=True)
class Schedule:
    """The values each given field matches (an omitted field is absent)."""

    fields: Mapping[str, frozenset[int]]

    def matches(self, second: int) -> bool:
        """Whether the whole second ``second`` (since the Unix epoch) is a query time."""
        moment = datetime.fromtimestamp(second, tz=UTC)
        found = {
            "second": moment.second,
            "minute": moment.minute,
            "hour": moment.hour,
            "dayOfMonth": moment.day,
            "month": moment.month,
            "dayOfWeek": moment.isoweekday(),
        }
        return all(found[name] in values for name, values in self.fields.items())

    def due(self, after_ms: int, until_ms: int) -> bool:
        """Whether a query time falls in (``after_ms``, ``until_ms``] (at most 60 s apart
        are looked at: a subscription checks far more often)."""
        first = after_ms // 1000 + 1
        last = until_ms // 1000
        return any(self.matches(s) for s in range(max(first, last - 59), last + 1))


def parse_schedule(given: Mapping[str, str]) -> Schedule | None:
    """The schedule of the given fields (None when none is given), or
    :class:`EpcisSubscriptionError` naming a field that breaks the grammar or its range."""
    fields: dict[str, frozenset[int]] = {}
    for name, text in given.items():
        if name not in FIELDS:
            continue
        low, high = FIELDS[name]
        values: set[int] = set()
        for element in text.split(","):
            found = _ELEMENT.fullmatch(element.strip())
            if found is None:
                raise EpcisSubscriptionError(
                    f"{name}: {text[:64]!r} is no schedule (numbers and ranges [a-b], "
                    "separated by commas)"
                )
            single, start, end = found.groups()
            first, last = (int(single), int(single)) if single else (int(start), int(end))
            if not low <= first <= last <= high:
                raise EpcisSubscriptionError(
                    f"{name}: {element.strip()!r} is outside {low} to {high} (or a range "
                    "whose start is after its end)"
                )
            values.update(range(first, last + 1))
        fields[name] = frozenset(values)
    return Schedule(fields) if fields else None
