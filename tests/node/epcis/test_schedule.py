"""A subscription's schedule (EPCIS 1.2 §8.2.5.3 QuerySchedule, node/epcis/schedule.py):
its grammar, its ranges, and which seconds are query times (UTC, Monday is 1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from node.epcis.schedule import parse_schedule
from node.exceptions import EpcisSubscriptionError


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_query_times_match_every_given_field() -> None:
    schedule = parse_schedule({"minute": "5", "hour": "1,[13-14]", "dayOfWeek": "[1-5]"})
    assert schedule is not None
    assert schedule.matches(at("2024-05-06T01:05:07"))  # a Monday; any second
    assert schedule.matches(at("2024-05-10T14:05:00"))  # a Friday
    assert not schedule.matches(at("2024-05-11T01:05:00"))  # a Saturday
    assert not schedule.matches(at("2024-05-06T02:05:00"))
    assert not schedule.matches(at("2024-05-06T01:06:00"))


def test_due_looks_at_the_seconds_since_the_last_look() -> None:
    schedule = parse_schedule({"second": "0,30"})
    assert schedule is not None
    start = at("2024-05-06T01:05:29") * 1000
    assert not schedule.due(start, start + 900)  # :29.9, no query time yet
    assert schedule.due(start + 900, start + 1000)  # :30 reached
    assert not schedule.due(start + 1000, start + 1500)  # not twice


def test_no_schedule_field_is_no_schedule() -> None:
    assert parse_schedule({"stream": "true"}) is None


@pytest.mark.parametrize(
    "given",
    [
        {"minute": "60"},
        {"dayOfMonth": "0"},
        {"dayOfWeek": "8"},
        {"hour": "[5-3]"},
        {"second": "0/30"},  # a cron step: not the standard's grammar
        {"month": ""},
        {"minute": "1,,2"},
        {"hour": "*"},
    ],
)
def test_a_field_outside_the_grammar_or_its_range_is_refused(given: dict[str, str]) -> None:
    with pytest.raises(EpcisSubscriptionError) as refused:
        parse_schedule(given)
    assert next(iter(given)) in str(refused.value)
