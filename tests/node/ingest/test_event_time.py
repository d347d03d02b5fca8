"""The eventTime window (node/ingest/event_time.py): its bounds and settings, and that it
applies on every path into the store — the library, the test harness, the CLI — but never
to events already accepted (duplicates, proof bundles)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli import app
from node.events.typed_data import Action
from node.exceptions import ConfigurationError, EventTimeOutOfRangeError
from node.ingest.compose import compose_event
from node.ingest.event_time import (
    DEFAULT_EARLIEST_MS,
    EARLIEST_ENV,
    MAX_AHEAD_ENV,
    EventTimeWindow,
)
from node.ingest.service import Outcome
from node.proofs.verify import Outcome as Verdict
from node.testing.plugin import HarnessFactory

NOW = 1_800_000_000.0  # the clock, in seconds (2027-01-15)
MINUTE_MS = 60_000
FIXED_TIME = 1_732_000_000_000  # 2024-11-19: the time tests and the demo's fixtures use


def test_the_window_is_closed_at_both_ends() -> None:
    window = EventTimeWindow(earliest_ms=DEFAULT_EARLIEST_MS, max_ahead_ms=60 * MINUTE_MS)
    latest = int(NOW * 1000) + 60 * MINUTE_MS

    window.check(DEFAULT_EARLIEST_MS, NOW)
    window.check(latest, NOW)
    with pytest.raises(EventTimeOutOfRangeError) as early:
        window.check(DEFAULT_EARLIEST_MS - 1, NOW)
    with pytest.raises(EventTimeOutOfRangeError) as late:
        window.check(latest + 1, NOW)

    assert early.value.details == {
        "field": "eventTime",
        "earliest": DEFAULT_EARLIEST_MS,
        "latest": latest,
    }
    assert "before the earliest time this node accepts, 2000-01-01" in str(early.value)
    assert "more than 60 minutes ahead" in str(late.value)
    assert late.value.code == "event-time-out-of-range"


def test_the_window_is_read_from_the_environment() -> None:
    default = EventTimeWindow.from_env({})
    set_ = EventTimeWindow.from_env({EARLIEST_ENV: "2015-01-01", MAX_AHEAD_ENV: "5"})
    as_utc_time = EventTimeWindow.from_env({EARLIEST_ENV: "2015-01-01T00:00:00Z"})

    assert default == EventTimeWindow(DEFAULT_EARLIEST_MS, 60 * MINUTE_MS)
    assert set_ == EventTimeWindow(1_420_070_400_000, 5 * MINUTE_MS)
    assert as_utc_time.earliest_ms == 1_420_070_400_000


@pytest.mark.parametrize(
    "environ",
    [
        {EARLIEST_ENV: "yesterday"},
        {EARLIEST_ENV: "2015-01-01T00:00:00+02:00"},  # UTC only: no zone to misread
        {EARLIEST_ENV: "2999-01-01"},  # after now: every event would be refused
        {EARLIEST_ENV: "1969-12-31"},
        {MAX_AHEAD_ENV: "-1"},
        {MAX_AHEAD_ENV: "1.5"},
        {MAX_AHEAD_ENV: str(7 * 24 * 60 + 1)},
    ],
)
def test_a_setting_the_node_cannot_use_is_a_configuration_error(
    environ: dict[str, str],
) -> None:
    with pytest.raises(ConfigurationError):
        EventTimeWindow.from_env(environ)


def test_the_harness_refuses_times_outside_the_window(tracenode_factory: HarnessFactory) -> None:
    harness = tracenode_factory()
    lot = "https://id.gs1.org/01/09506000134352/10/WINDOW-1"

    with pytest.raises(EventTimeOutOfRangeError):
        harness.submit("farm", Action.COMMISSION, lot, product="gtin", quantity=1, event_time=0)
    harness.submit(
        "farm", Action.COMMISSION, lot, product="gtin", quantity=1, event_time=FIXED_TIME
    )

    with harness.node.store.read() as conn:
        assert harness.node.store.batches.by_identifier(conn, lot) is not None


def test_a_node_opened_with_a_narrower_window_refuses_new_old_events_but_verifies_old_bundles(
    tracenode_factory: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = tracenode_factory()
    data_dir = harness.node.data_dir
    lot = "https://id.gs1.org/01/09506000134352/10/WINDOW-2"
    first = compose_event(
        store=harness.node.store,
        domain=harness.node.domain,
        private_key=bytes(harness.keys["farm"].key),
        action=Action.COMMISSION,
        batch=lot,
        product="gtin",
        quantity=1,
        event_time=FIXED_TIME,
    )
    assert harness.node.ingest.submit(first).outcome is Outcome.ACCEPTED
    harness.commit()
    harness.close()  # the embedded chain opens in one place at a time

    monkeypatch.setenv(EARLIEST_ENV, "2025-01-01")
    reopened = tracenode_factory(data_dir=data_dir)  # the same participants and keys
    again = reopened.node.ingest.submit(first)
    with pytest.raises(EventTimeOutOfRangeError):
        reopened.submit("farm", Action.OBSERVE, lot, event_time=FIXED_TIME + 1)
    report = reopened.verify(reopened.export(lot))

    assert reopened.node.ingest.event_times.earliest_ms == 1_735_689_600_000  # 2025-01-01
    assert again.outcome is Outcome.DUPLICATE  # an event already held stays a duplicate
    assert report.outcome is Verdict.PASS, report


def test_the_cli_refuses_an_event_time_outside_the_window(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"TRACENODE_PASSWORD": "event time test"}
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], env=env)
        return result.exit_code, result.output

    assert run("init")[0] == 0
    added = run(
        "participant", "add", "Farm", "--roles", "producer", "--prefix", "88.123.45", "--create-key"
    )
    assert added[0] == 0, added[1]
    submit = (
        "event",
        "submit",
        "--keystore",
        str(data_dir / "keystore" / "participants" / "farm.json"),
        "--action",
        "commission",
        "--product",
        "gtin",
        "--quantity",
        "1",
    )

    code, output = run(*submit, "--batch", "88.123.45/window-3", "--event-time", "0")
    fixed = run(*submit, "--batch", "88.123.45/window-4", "--event-time", str(FIXED_TIME))

    assert code == 1
    assert "[event-time-out-of-range]" in output
    assert fixed[0] == 0, fixed[1]
