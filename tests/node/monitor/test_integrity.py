"""The integrity monitor against a real node: a database edited by hand is caught as a
critical alert within one cycle; an honest node, even with events waiting to be anchored,
raises nothing; an incident is one alert however often it is seen."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner, Result

from api.cli import app
from api.schemas import AlertOut
from node.chain.reader import ChainBatch
from node.events.batch import BatchState
from node.events.typed_data import Action, BatchStatus
from node.monitor.grading import Confidence, Impact, grade
from node.monitor.integrity import check_custody
from node.monitor.service import Monitor
from node.store.models import AlertSeverity, AlertStatus
from node.store.records import EventRecord, Finding
from node.store.tables import ALERTS, BATCHES, EVENTS, WINDOW_STATES, WINDOWS
from node.testing.harness import TraceNodeHarness
from node.testing.plugin import HarnessFactory

LOT = "https://id.gs1.org/01/09506000134352/10/MON-1"
CHEESE = "https://id.gs1.org/01/00614142000011/10/MON-CHEESE"


@pytest.fixture
def node(tracenode_factory: HarnessFactory, store_url: str) -> TraceNodeHarness:
    """A node on SQLite or PostgreSQL holding an anchored supply chain."""
    h = tracenode_factory(database_url=store_url)
    h.submit("farm", Action.COMMISSION, LOT, product="milk", quantity=500)
    h.submit("farm", Action.SHIP, LOT, to="processor")
    h.submit("processor", Action.RECEIVE, LOT)
    h.submit("processor", Action.OBSERVE, LOT, payload={"temperature": 4.1})
    h.submit(
        "processor", Action.TRANSFORM, inputs=[LOT], outputs=[CHEESE], product="cheese", quantity=50
    )
    h.commit()
    return h


def kinds(h: TraceNodeHarness) -> set[str]:
    report = Monitor.of(h.node).cycle()
    return {f.kind for f in report.findings}


def edit(h: TraceNodeHarness, change: Callable[..., object]) -> None:
    """Change the database behind the node's back, as someone with its file would."""
    with h.node.store.engine.begin() as conn:
        change(conn)


def set_event(h: TraceNodeHarness, which: bytes, **values: object) -> None:
    change = update(EVENTS).where(EVENTS.c.event_hash == which).values(**values)
    edit(h, lambda c: c.execute(change))


def anchored_event(h: TraceNodeHarness, action: Action) -> bytes:
    with h.node.store.read() as conn:
        found = conn.execute(select(EVENTS.c.event_hash).where(EVENTS.c.action == int(action)))
        return bytes(found.scalar_one())


def test_an_honest_node_with_events_still_waiting_raises_nothing(node: TraceNodeHarness) -> None:
    node.submit("processor", Action.SHIP, CHEESE, to="carrier")  # accepted, not anchored

    report = Monitor.of(node.node).cycle()

    assert report.findings == []
    assert (report.windows, report.events) == (1, 5)
    assert report.batches == 2
    with node.node.store.read() as conn:
        assert conn.execute(select(ALERTS)).all() == []


def test_an_edited_quantity_is_a_critical_alert_within_one_cycle(node: TraceNodeHarness) -> None:
    shipped = anchored_event(node, Action.COMMISSION)
    set_event(node, shipped, quantity="5000")

    report = Monitor.of(node.node).cycle()

    assert {f.kind for f in report.findings} == {"event-altered"}
    with node.node.store.read() as conn:
        (alert,) = node.node.store.alerts.page(conn, before=None, limit=10)
    assert (alert.severity, alert.status, alert.event_hash) == (
        AlertSeverity.CRITICAL,
        AlertStatus.OPEN,
        shipped,
    )
    assert alert.evidence["eventHash"] == "0x" + shipped.hex()


def test_a_replaced_event_hash_breaks_its_window_root(node: TraceNodeHarness) -> None:
    observed = anchored_event(node, Action.OBSERVE)
    forged = bytes(32 - 1) + b"\x01"
    set_event(node, observed, event_hash=forged)

    assert kinds(node) == {"window-root-mismatch", "event-altered"}


def latest(h: TraceNodeHarness) -> EventRecord:
    with h.node.store.read() as conn:
        last = h.node.store.events.last_id(conn)
        (record,) = h.node.store.events.after(conn, after=last - 1, limit=1)
    return record


def test_a_watch_leaves_new_windows_signatures_to_the_cycle(node: TraceNodeHarness) -> None:
    monitor = Monitor.of(node.node)
    assert monitor.cycle().findings == []
    node.submit("processor", Action.SHIP, CHEESE, to="carrier")
    node.commit()
    shipped = latest(node)
    # Signed over by another event's signature: its fields still hash to its hash.
    set_event(node, shipped.event_hash, signature=anchored_event_record(node).signature)

    watched = monitor.watch()
    cycled = monitor.cycle()

    assert watched.windows == 1
    assert watched.findings == []
    assert [(f.kind, f.event_hash) for f in cycled.findings] == [
        ("event-altered", shipped.event_hash)
    ]
    assert "signature" in cycled.findings[0].detail


def anchored_event_record(h: TraceNodeHarness) -> EventRecord:
    with h.node.store.read() as conn:
        record = h.node.store.events.get(conn, anchored_event(h, Action.COMMISSION))
    assert record is not None
    return record


def test_a_watch_finds_a_new_window_s_edited_fields(node: TraceNodeHarness) -> None:
    monitor = Monitor.of(node.node)
    assert monitor.cycle().findings == []
    node.submit("processor", Action.SHIP, CHEESE, to="carrier")
    node.commit()
    shipped = latest(node)
    set_event(node, shipped.event_hash, event_time=shipped.event.event_time + 1)

    watched = monitor.watch()

    assert [(f.kind, f.event_hash) for f in watched.findings] == [
        ("event-altered", shipped.event_hash)
    ]
    assert "hash" in watched.findings[0].detail


def test_a_deleted_event_is_missing_from_its_anchored_window(node: TraceNodeHarness) -> None:
    observed = anchored_event(node, Action.OBSERVE)
    edit(node, lambda c: c.execute(delete(EVENTS).where(EVENTS.c.event_hash == observed)))

    assert kinds(node) == {"window-root-mismatch", "anchored-event-missing"}


def test_a_window_root_the_chain_never_saw_is_caught(node: TraceNodeHarness) -> None:
    edit(node, lambda c: c.execute(update(WINDOWS).values(root=b"\x07" * 32)))

    assert kinds(node) == {"window-root-mismatch", "root-not-on-chain"}


def test_an_edited_state_leaf_no_longer_rebuilds_the_anchored_state_root(
    node: TraceNodeHarness,
) -> None:
    edit(node, lambda c: c.execute(update(WINDOW_STATES).values(custodian=1)))

    report = Monitor.of(node.node).cycle()

    (finding,) = report.findings
    assert finding.kind == "state-root-mismatch"
    assert finding.detail == "window 1's stored state leaves do not rebuild its state root"
    assert finding.evidence["chainStateRoot"] == finding.evidence["storedStateRoot"]


def test_a_state_root_the_chain_does_not_hold_is_caught(node: TraceNodeHarness) -> None:
    edit(node, lambda c: c.execute(update(WINDOWS).values(state_root=b"\x07" * 32)))

    report = Monitor.of(node.node).cycle()

    (finding,) = report.findings
    assert finding.kind == "state-root-mismatch"
    assert "is not the one anchored on-chain" in finding.detail
    assert finding.evidence["storedStateRoot"] == "0x" + "07" * 32


def test_custody_moved_in_the_database_disagrees_with_the_chain(node: TraceNodeHarness) -> None:
    with node.node.store.read() as conn:
        state = node.node.store.batches.by_identifier(conn, CHEESE)
    assert state is not None
    moved = update(BATCHES).where(BATCHES.c.batch_id == state.batch_id).values(custodian_id=1)
    edit(node, lambda c: c.execute(moved))

    report = Monitor.of(node.node).cycle()

    assert [(f.kind, f.batch_id) for f in report.findings] == [("custody-mismatch", state.batch_id)]


def test_one_incident_is_one_alert_and_its_handling_is_kept(node: TraceNodeHarness) -> None:
    shipped = anchored_event(node, Action.SHIP)
    set_event(node, shipped, quantity="7")
    monitor = Monitor.of(node.node)
    store = node.node.store

    first, second = monitor.cycle(), monitor.cycle()
    with store.read() as conn:
        (alert,) = store.alerts.page(conn, before=None, limit=10)
    with store.write() as conn:
        store.alerts.set_status(conn, alert.id, AlertStatus.RESOLVED, by="ops", note="x", now=1)
    monitor.cycle()  # still there: it opens again
    with store.read() as conn:
        reopened = store.alerts.get(conn, alert.id)
    with store.write() as conn:
        store.alerts.set_status(
            conn, alert.id, AlertStatus.FALSE_POSITIVE, by="ops", note="test data", now=2
        )
    monitor.cycle()
    with store.read() as conn:
        dismissed = store.alerts.get(conn, alert.id)

    assert (first.raised, first.updated, second.raised, second.updated) == (1, 0, 0, 1)
    assert alert.occurrences == 2
    assert reopened is not None
    assert reopened.status is AlertStatus.OPEN
    assert dismissed is not None
    assert (dismissed.status, dismissed.handled_by, dismissed.note) == (
        AlertStatus.FALSE_POSITIVE,
        "ops",
        "test data",
    )
    assert dismissed.occurrences == 4


def test_custody_a_batch_still_settling_is_no_finding() -> None:
    batch = b"\x01" * 32

    local = BatchState(batch, 1, 2, 0, BatchStatus.ACTIVE, b"\x02" * 32, b"\x03" * 32)
    chain = {batch: ChainBatch(1, 1, 2, BatchStatus.IN_TRANSIT, b"\x04" * 32)}

    assert check_custody([local], chain, unsettled={batch}) == []
    assert [f.kind for f in check_custody([local], chain, unsettled=set())] == ["custody-mismatch"]


@pytest.mark.parametrize(
    ("impact", "confidence", "severity"),
    [
        (Impact(integrity=3), Confidence.PROVEN, AlertSeverity.CRITICAL),
        (Impact(safety=3), Confidence.LIKELY, AlertSeverity.HIGH),
        (Impact(safety=3), Confidence.SUSPECTED, AlertSeverity.MEDIUM),
        (Impact(money=2), Confidence.PROVEN, AlertSeverity.HIGH),
        (Impact(money=1), Confidence.SUSPECTED, AlertSeverity.LOW),
        (Impact(), Confidence.PROVEN, AlertSeverity.LOW),
    ],
)
def test_the_rubric_grades_by_worst_impact_and_confidence(
    impact: Impact, confidence: Confidence, severity: AlertSeverity
) -> None:
    graded, points = grade(impact, confidence)

    assert graded is severity
    assert 0 <= points <= 100


def test_the_cli_runs_a_cycle_lists_and_handles_the_alert(
    tracenode_factory: HarnessFactory, tmp_path: Path
) -> None:
    h = tracenode_factory(data_dir=tmp_path / "node")
    h.submit("farm", Action.COMMISSION, LOT, product="milk", quantity=500)
    h.commit()
    set_event(h, anchored_event(h, Action.COMMISSION), quantity="1")
    h.close()  # the CLI opens the data directory (the embedded chain has one holder)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path / "node")])

    cycle = run("monitor", "--once")
    listed = run("alerts", "list", "--json")
    (alert,) = json.loads(listed.output)
    acked = run("alerts", "ack", str(alert["id"]), "--why", "looking", "--by", "ops")
    shown = json.loads(run("alerts", "show", str(alert["id"])).output)
    missing = run("alerts", "show", "999")

    assert cycle.exit_code == 2, cycle.output  # a critical finding
    assert "1 new" in cycle.output
    assert (alert["kind"], alert["severity"], alert["status"]) == (
        "event-altered",
        "critical",
        "open",
    )
    assert acked.exit_code == 0, acked.output
    assert (shown["status"], shown["handledBy"], shown["note"]) == (
        "acknowledged",
        "ops",
        "looking",
    )
    assert missing.exit_code == 1
    assert "no alert 999" in missing.output
    # The CLI prints the one alert JSON, as the API serves it (block numbers as strings).
    assert AlertOut.model_validate(shown).model_dump(mode="json") == shown
    assert shown["log"]["seq"] == "2"  # raised, then acknowledged: two revisions


def test_the_cli_seals_the_log_and_prints_block_numbers_as_decimal_strings(
    tracenode_factory: HarnessFactory, tmp_path: Path
) -> None:
    h = tracenode_factory(data_dir=tmp_path / "node")
    with h.node.store.write() as conn:
        alert_id, _ = h.node.store.alerts.record(
            conn,
            Finding(
                kind="root-not-on-chain",
                severity=AlertSeverity.CRITICAL,
                score=88,
                incident="test:block",
                detail="a window's root is not anchored",
                block_number=2**53 + 1,  # past what a JSON number holds in JavaScript
            ),
            now=1_000,
        )
    h.close()
    where = ["--data-dir", str(tmp_path / "node")]

    sealed = CliRunner().invoke(
        app, ["monitor", "--once", "--seal", *where], env={"TRACENODE_PASSWORD": h.password}
    )
    shown = CliRunner().invoke(app, ["alerts", "show", str(alert_id), *where])

    assert sealed.exit_code == 0, sealed.output  # the node itself is sound
    assert shown.exit_code == 0, shown.output
    log = json.loads(shown.output)["log"]
    assert log["signature"] is not None
    assert log["anchor"]["count"] == "1"
    assert json.loads(shown.output)["blockNumber"] == str(2**53 + 1)
    assert f'"blockNumber": "{2**53 + 1}"' in shown.output
