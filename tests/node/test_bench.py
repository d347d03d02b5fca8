"""`tracenode bench` runs and reports every figure it promises (speed is measured, not asserted)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from node.bench.commit import measure_commit
from node.cli import app


def test_bench_json_has_every_figure() -> None:
    result = CliRunner().invoke(app, ["bench", "--json", "--events", "1000", "--no-commit"])

    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    for key in ("ingest_events_per_s", "raw_recover_per_s", "ingest_vs_raw", "peak_rss_mb"):
        assert figures[key] > 0
    assert figures["events"] == 1000


def test_commit_bench_commits_everything_it_times() -> None:
    figures = measure_commit(operations=40, window_events=20)

    assert figures.lifecycle_ops_per_s > 0
    # One root per window: the per-event cost of a 20-event window is ~64,000 / 20.
    assert 1_000 < figures.gas_per_anchored_event < 10_000
