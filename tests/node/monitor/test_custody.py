"""The custody rules against a real node: each fires on its situation and stays quiet on
the near-miss beside it."""

from __future__ import annotations

import re
import time

import pytest

from node.events.typed_data import Action
from node.monitor.custody import HOUR_MS
from node.monitor.service import Monitor
from node.store.models import AlertSeverity
from node.store.records import Finding
from node.testing import chains
from node.testing.harness import TraceNodeHarness

MILK = "https://id.gs1.org/01/09506000134352/10/RB-MILK"
CHEESE = "https://id.gs1.org/01/00614142000011/10/RB-CHEESE"
NOW = int(time.time() * 1000)


def findings(h: TraceNodeHarness, *, hours_later: float = 0) -> list[Finding]:
    monitor = Monitor.of(h.node)
    monitor.clock = lambda: time.time() + hours_later * 3600
    return monitor.cycle().findings


def cheese_from_milk(h: TraceNodeHarness) -> None:
    chains.cheese_from_milk(h, MILK, CHEESE)


def test_a_product_of_a_recalled_lot_moved_after_the_recall_is_a_critical_breach(
    tracenode: TraceNodeHarness,
) -> None:
    cheese_from_milk(tracenode)
    tracenode.submit("regulator", Action.RECALL, MILK)
    shipped = tracenode.submit("processor", Action.SHIP, CHEESE, to="shop")
    tracenode.commit()

    (breach,) = [f for f in findings(tracenode) if f.kind == "recall-breach"]

    assert breach.severity is AlertSeverity.CRITICAL
    assert breach.event_hash == shipped
    assert "made from" in breach.detail


def test_a_recall_still_binds_what_was_made_from_the_lot_once_the_lot_is_destroyed(
    tracenode: TraceNodeHarness,
) -> None:
    """The recalled milk's leftover stock destroyed (its status then reads DESTROYED): the
    cheese made from it, shipped after the recall, still breaches it."""
    cheese_from_milk(tracenode)
    tracenode.submit("regulator", Action.RECALL, MILK)
    tracenode.submit("processor", Action.DESTROY, MILK)
    shipped = tracenode.submit("processor", Action.SHIP, CHEESE, to="shop")
    tracenode.commit()

    (breach,) = [f for f in findings(tracenode) if f.kind == "recall-breach"]

    assert breach.event_hash == shipped


def test_a_product_moved_before_the_recall_or_destroyed_after_it_is_no_breach(
    tracenode: TraceNodeHarness,
) -> None:
    cheese_from_milk(tracenode)
    tracenode.submit("processor", Action.SHIP, CHEESE, to="shop")
    tracenode.submit("shop", Action.RECEIVE, CHEESE)
    tracenode.submit("regulator", Action.RECALL, MILK)
    tracenode.submit("shop", Action.DESTROY, CHEESE)
    tracenode.commit()

    assert findings(tracenode) == []


@pytest.mark.parametrize(("hours", "alerts"), [(71, []), (73, ["in-transit-too-long"])])
def test_a_shipment_not_received_in_time_is_a_medium_alert(
    tracenode: TraceNodeHarness, hours: float, alerts: list[str]
) -> None:
    tracenode.submit("farm", Action.COMMISSION, MILK, product="milk", quantity=500)
    tracenode.submit("farm", Action.SHIP, MILK, to="processor")
    tracenode.commit()

    found = findings(tracenode, hours_later=hours)

    assert [f.kind for f in found] == alerts
    assert all(f.severity is AlertSeverity.MEDIUM for f in found)


def test_a_received_shipment_is_never_late(tracenode: TraceNodeHarness) -> None:
    tracenode.submit("farm", Action.COMMISSION, MILK, product="milk", quantity=500)
    tracenode.submit("farm", Action.SHIP, MILK, to="processor")
    tracenode.submit("processor", Action.RECEIVE, MILK)
    tracenode.commit()

    assert findings(tracenode, hours_later=1000) == []


@pytest.mark.parametrize(
    ("offset_hours", "kinds"),
    [
        (-2 * 24, []),  # a backfill of two days ago: normal
        (-40 * 24, ["event-time-skew"]),  # claims to be 40 days older than its record
        (0.1, []),  # a clock a few minutes ahead
        (0.5, ["event-time-skew"]),  # claims a time half an hour from now
    ],
)
def test_claimed_times_far_from_record_times(
    tracenode: TraceNodeHarness, offset_hours: float, kinds: list[str]
) -> None:
    tracenode.submit(
        "farm",
        Action.COMMISSION,
        MILK,
        product="milk",
        quantity=5,
        # from the clock now, not the module's import: a slow suite reaches this test long
        # after, and half an hour ahead of then may be minutes ahead of now
        event_time=int(time.time() * 1000) + int(offset_hours * HOUR_MS),
    )

    found = findings(tracenode)

    assert [f.kind for f in found] == kinds
    if offset_hours == 0.5:  # said in minutes, not "0 h"
        assert re.fullmatch(
            r"COMMISSION claims a time \d+ min after the node received it", found[0].detail
        )


def test_an_event_claiming_to_precede_the_one_it_extends_is_out_of_order(
    tracenode: TraceNodeHarness,
) -> None:
    tracenode.submit("farm", Action.COMMISSION, MILK, product="milk", quantity=5, event_time=NOW)
    tracenode.submit("farm", Action.SHIP, MILK, to="processor", event_time=NOW - 60_000)

    (found,) = findings(tracenode)

    assert (found.kind, found.severity) == ("event-time-order", AlertSeverity.LOW)
