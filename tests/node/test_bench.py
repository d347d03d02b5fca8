"""`tracenode bench` runs and reports every figure it promises (speed is measured, not asserted)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from node.bench.commit import measure_commit
from node.bench.ingest import measure_ingest
from node.bench.provenance import measure_provenance
from node.cli import app


def test_bench_json_has_every_figure() -> None:
    result = CliRunner().invoke(
        app, ["bench", "--json", "--events", "1000", "--no-commit", "--no-provenance"]
    )

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)  # stdout is the JSON alone; progress is on stderr
    for key in ("ingest_events_per_s", "raw_recover_per_s", "ingest_vs_raw", "peak_rss_mb"):
        assert figures[key] > 0
    assert figures["events"] == 1000
    # Not a terminal: a plain line per step as it starts, with the seconds so far.
    progress = result.stderr.splitlines()
    assert all(re.fullmatch(r" *\d+\.\d s  ingest: .+", line) for line in progress), progress
    assert any(line.endswith("ingest: signing 1,000 events") for line in progress)
    assert any(line.endswith("in bulks of 1,000 (timed)") for line in progress)


def test_bench_compares_a_full_store_with_a_small_one_side_by_side() -> None:
    figures = measure_ingest(events=2_000, bulk_size=500, workers=1, preload=3_000, rounds=2)

    assert figures.preloaded == 3_000
    assert figures.rounds == 2
    assert figures.ingest_events_per_s_full is not None
    assert figures.ingest_events_per_s_small is not None
    assert figures.full_vs_empty is not None
    assert figures.full_vs_empty > 0
    assert figures.lookup_ms_p50_full is not None
    assert figures.rss_mb_preload_tenth is not None
    assert figures.rss_mb_preload_end is not None


def test_the_ingest_profile_script_reports_every_step() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "profile_ingest.py"
    args = ["--preload", "2000", "--events", "1000", "--rounds", "2", "--workers", "1"]
    done = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    for label in ("recover signers", "inserts (store_accepted)", "commit (WAL write + fsync)"):
        line = next(line for line in done.stdout.splitlines() if line.startswith(label))
        small, full, _growth = (float(value) for value in line[len(label) :].split())
        assert small > 0
        assert full > 0


def test_commit_bench_commits_everything_it_times() -> None:
    figures = measure_commit(operations=40, window_events=20)

    assert figures.lifecycle_ops_per_s > 0
    # One root per window: the per-event cost of a 20-event window is ~64,000 / 20.
    assert 1_000 < figures.gas_per_anchored_event < 10_000


def test_provenance_bench_measures_what_it_says() -> None:
    figures = measure_provenance(repeats=1, trace_batches=200, latency_samples=1)

    assert figures.provenance_events == 100  # and every one verified, or it raises
    assert figures.provenance_levels == 5
    assert figures.trace_batches == 200
    assert figures.provenance_ms_p50 > 0
    assert figures.provenance_cold_ms_p50 > 0
    assert figures.downstream_trace_ms_p50 > 0
    assert 0 < figures.accept_to_proof_s_p50 < 60
