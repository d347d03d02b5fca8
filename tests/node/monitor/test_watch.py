"""The monitor's watch: between full cycles it reads only what is new (events, windows,
refusals) and runs the rules over the batches those events name, and over the recalled
lots they descend from, so that a rule fires within about a second of its trigger."""

from __future__ import annotations

import threading
import time

import pytest

from node.events.typed_data import Action
from node.monitor.service import CYCLE_DEFER_SHARE, DEFER_LAG_S, CycleReport, Monitor, WatchMark
from node.runtime import Precedence
from node.testing import chains
from node.testing.harness import TraceNodeHarness

MILK = "https://id.gs1.org/01/09506000134352/10/W-MILK"
CHEESE = "https://id.gs1.org/01/00614142000011/10/W-CHEESE"
WHEY = "https://id.gs1.org/01/00614142000011/10/W-WHEY"


def test_a_watch_finds_a_breach_through_a_lot_made_after_it_last_looked(
    tracenode: TraceNodeHarness,
) -> None:
    monitor = Monitor.of(tracenode.node)
    chains.cheese_from_milk(tracenode, MILK, CHEESE)
    tracenode.submit("regulator", Action.RECALL, MILK)
    tracenode.commit()
    assert monitor.cycle().findings == []  # recalled, nothing moved since: no breach

    # Made from the recalled milk's cheese after the cycle (the lineage grows), then moved:
    tracenode.submit(
        "processor", Action.TRANSFORM, inputs=[CHEESE], outputs=[WHEY], product="whey", quantity=10
    )
    made = monitor.watch()
    shipped = tracenode.submit("processor", Action.SHIP, WHEY, to="shop")
    report = monitor.watch()

    # The transformation handled the cheese and made the whey after the milk's recall: one
    # incident per lot, found as it arrived.
    assert sorted(f.detail.split(" was ")[0] for f in made.findings) == [CHEESE, WHEY]
    assert made.raised == 2
    # The whey's shipment: the same incident, its evidence grown; read alone.
    assert report.fresh == 1
    (whey,) = [f for f in report.findings if f.batch_id == tracenode.batch_id(WHEY)]
    assert "0x" + shipped.hex() in whey.evidence["after"]
    assert report.raised == 0
    assert monitor.watch().fresh == 0  # nothing new: nothing read


def test_a_watch_before_any_cycle_is_a_cycle_and_a_recall_it_sees_arrive_counts(
    tracenode: TraceNodeHarness,
) -> None:
    monitor = Monitor.of(tracenode.node)
    chains.cheese_from_milk(tracenode, MILK, CHEESE)
    first = monitor.watch()  # no cycle yet: this one is
    assert first.batches == 2
    assert first.fresh == 0

    tracenode.submit("regulator", Action.RECALL, MILK)
    assert monitor.watch().findings == []
    shipped = tracenode.submit("processor", Action.SHIP, CHEESE, to="shop")

    (breach,) = monitor.watch().findings
    assert (breach.kind, breach.event_hash) == ("recall-breach", shipped)


def test_serve_s_loop_raises_an_alert_long_before_the_next_cycle(
    tracenode: TraceNodeHarness,
) -> None:
    monitor = Monitor.of(tracenode.node)
    chains.cheese_from_milk(tracenode, MILK, CHEESE)
    tracenode.submit("regulator", Action.RECALL, MILK)
    stop = threading.Event()
    loop = threading.Thread(
        target=lambda: monitor.run(stop, interval=3600, watch_interval=0.1), daemon=True
    )
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while monitor._events_seen < 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # the first cycle has run
        shipped = tracenode.submit("processor", Action.SHIP, CHEESE, to="shop")
        found = None
        while found is None and time.monotonic() < deadline:
            time.sleep(0.05)
            with tracenode.node.store.read() as conn:
                alerts = tracenode.node.store.alerts.page(conn, before=None, limit=10)
            found = next((a for a in alerts if a.event_hash == shipped), None)
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not loop.is_alive()
    assert found is not None
    assert found.kind == "recall-breach"


def test_a_watch_waits_for_a_window_unless_it_is_far_behind(
    tracenode: TraceNodeHarness,
) -> None:
    """Serve's commit process: a watch's steps wait while the worker commits a window
    (they share a GIL), unless its oldest new event waited DEFER_LAG_S already."""
    monitor = Monitor.of(tracenode.node)
    monitor.precedence = Precedence()
    chains.cheese_from_milk(tracenode, MILK, CHEESE)
    monitor.cycle()

    def watch_during_a_window(late: float) -> tuple[float, CycleReport | None]:
        monitor.clock = lambda: time.time() + late
        reports: list[CycleReport] = []
        assert monitor.precedence is not None
        with monitor.precedence.first():
            looking = threading.Thread(target=lambda: reports.append(monitor.watch()))
            looking.start()
            looking.join(0.5)
            held = reports[0] if reports else None
        looking.join(30)
        return len(reports), held

    tracenode.submit("processor", Action.SHIP, CHEESE, to="shop")
    done, during = watch_during_a_window(late=0.0)
    assert (done, during) == (1, None)  # it waited for the window to end, then looked

    tracenode.submit("shop", Action.RECEIVE, CHEESE)
    done, during = watch_during_a_window(late=DEFER_LAG_S + 1)
    assert done == 1
    assert during is not None  # too far behind to wait: it looked during the window
    assert during.fresh == 1


class _Timed(Precedence):
    """The real precedence, each deferral's bound and wait recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[tuple[float, float]] = []

    def defer(self, bound: float) -> bool:
        started = time.monotonic()
        done = super().defer(bound)
        self.waits.append((bound, time.monotonic() - started))
        return done


def test_a_cycle_gives_way_to_a_window_but_never_waits_longer_than_it_works(
    tracenode: TraceNodeHarness,
) -> None:
    """A cycle under a stream that keeps the worker committing: it waits between its
    steps, in all at most CYCLE_DEFER_SHARE of the time it worked, so it finishes while
    windows go on."""
    precedence = _Timed()
    monitor = Monitor.of(tracenode.node)
    monitor.precedence = precedence
    chains.cheese_from_milk(tracenode, MILK, CHEESE)
    tracenode.submit("processor", Action.SHIP, CHEESE, to="shop")
    reports: list[CycleReport] = []
    with precedence.first():  # one window that lasts the whole cycle
        started = time.monotonic()
        cycling = threading.Thread(target=lambda: reports.append(monitor.cycle()))
        cycling.start()
        cycling.join(30)
        took = time.monotonic() - started
        assert len(reports) == 1  # it finished while the window still ran
    deferred = sum(waited for _, waited in precedence.waits)
    assert deferred > 0  # it gave way
    assert all(bound > 0 for bound, _ in precedence.waits)
    # Each wait is bounded by what the cycle had worked so far; allow the scheduler's
    # overshoot of a timed wait (a few ms a wait).
    overshoot = 0.005 * len(precedence.waits)
    assert deferred <= CYCLE_DEFER_SHARE * (took - deferred) + overshoot
    assert reports[0].batches + reports[0].windows > 0

    precedence.waits.clear()
    monitor.cycle()  # no window running: nothing to wait for
    assert sum(waited for _, waited in precedence.waits) < 0.05


def test_each_pass_says_how_far_the_monitor_has_read(tracenode: TraceNodeHarness) -> None:
    """The mark serve's /metrics shows (tracenode_monitor_events_behind, ..._lag_seconds)."""
    marks: list[WatchMark] = []
    monitor = Monitor.of(tracenode.node)
    monitor.on_watch = marks.append
    chains.cheese_from_milk(tracenode, MILK, CHEESE)
    with tracenode.node.store.read() as conn:
        before = tracenode.node.store.events.last_id(conn)
    monitor.watch()  # the first is a cycle
    shipped = tracenode.submit("processor", Action.SHIP, CHEESE, to="shop")
    with tracenode.node.store.read() as conn:
        record = tracenode.node.store.events.get(conn, shipped)
    assert record is not None
    monitor.clock = lambda: record.received_at / 1000 + 3.0  # looked at 3 s after it came
    monitor.watch()
    monitor.watch()  # nothing new

    first, shipment, idle = marks
    assert first == WatchMark(before, 0.0)
    assert shipment.through == record.id
    assert shipment.lag == pytest.approx(3.0)
    assert idle == WatchMark(record.id, 0.0)


def test_before_its_first_pass_the_monitor_has_read_nothing(tracenode: TraceNodeHarness) -> None:
    """Serve's /metrics counts every stored event as unread until the first cycle is
    done (a serve just started is behind by the whole store, not up to date)."""
    marks: list[WatchMark] = []
    monitor = Monitor.of(tracenode.node)
    monitor.on_watch = marks.append
    chains.cheese_from_milk(tracenode, MILK, CHEESE)
    stop = threading.Event()
    stop.set()  # run says where it stands, then stops before its first pass

    monitor.run(stop, interval=3600)

    assert marks == [WatchMark(0, 0.0)]
