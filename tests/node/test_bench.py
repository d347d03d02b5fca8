"""`tracenode bench` measures what serve runs and reports every figure it promises with its
workload, configuration and load (speed is measured by the bench, never asserted here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from node.bench.burst import measure_burst
from node.bench.commit import measure_chain_storage, measure_commit
from node.bench.ingest import measure_ingest, measure_store_growth
from node.bench.machine import percentile, rotated
from node.bench.provenance import measure_provenance
from node.bench.whole_path import measure_whole_path
from node.bench.workload import MIXED_STEPS, MixedWorkload, flatten
from node.cli import app
from node.commit.custody import CustodyMode
from node.commit.worker import CommitPolicy
from node.context import RECOVERY_WORKERS
from node.events.signatures import recover_signer
from node.events.typed_data import Action, Domain, Role

DOMAIN = Domain(31337, bytes(20))


def assert_serves_configuration(configuration: dict[str, Any], *, commit: bool) -> None:
    """The figures were measured on what `tracenode serve` runs with its defaults."""
    assert configuration["chain"] == "embedded py-evm, persistent (on disk)"
    assert configuration["store"] == "sqlite"
    assert configuration["recovery_workers"] == RECOVERY_WORKERS
    assert configuration["commit_policy"] == {
        "interval": CommitPolicy().interval,
        "max_events": CommitPolicy().max_events,
        "min_interval": CommitPolicy().min_interval,
        "max_operations": CommitPolicy().max_operations,
        "confirmations": 0,
        "poll_interval": CommitPolicy().poll_interval,
        "receipt_timeout": CommitPolicy().receipt_timeout,
        "replace_after": CommitPolicy().replace_after,
    }
    assert configuration["commit_worker"].startswith("running") == commit


def assert_loads(section: dict[str, Any]) -> None:
    assert len(section["load_average_start"]) == 3
    assert len(section["load_average_end"]) == 3


def test_the_mixed_workload_is_a_supply_chain_of_many_participants() -> None:
    workload = MixedWorkload(DOMAIN, participants_count=100, bulk=3)

    phases = workload.make(20)

    events = flatten(phases)
    assert len(events) == 20 * len(MIXED_STEPS)
    assert [e.event.action for e in events[:2]] == [Action.COMMISSION, Action.SHIP]
    assert {e.event.action for e in events} == set(MIXED_STEPS)
    roles = workload.describe()["roles"]
    assert roles == {"producer": 50, "processor": 25, "auditor": 25}
    assert all(e.payload is not None and 100 <= len(e.payload) <= 1000 for e in events)
    made = [e for e in events if e.event.action in (Action.COMMISSION, Action.TRANSFORM)]
    assert all(
        e.identifiers and e.identifiers[0].startswith("https://id.gs1.org/01/") for e in made
    )
    # A request is one participant's events (its API key's), at most `bulk` of them.
    for phase in phases:
        for request in phase:
            signer = workload.participants[request.participant].address
            assert 1 <= len(request.events) <= 3
            for e in request.events:
                assert recover_signer(e.event.digest(DOMAIN), e.signature) == signer
    # The phases follow the lifecycle: producers, then processors, then auditors.
    assert [{workload.participants[r.participant].roles for r in p} for p in phases] == [
        {Role.PRODUCER},
        {Role.PROCESSOR},
        {Role.AUDITOR},
    ]


def test_rounds_rotate_which_step_goes_first() -> None:
    order: list[str] = []

    def step(name: str) -> str:
        order.append(name)
        return name.upper()

    results = [
        rotated(i, [lambda: step("a"), lambda: step("b"), lambda: step("c")]) for i in range(3)
    ]

    assert results == [["A", "B", "C"]] * 3  # always in the steps' order
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0


def test_ingest_runs_serves_configuration_interleaved_with_raw_recovery() -> None:
    section = measure_ingest(events=100, rounds=2, participants=4)

    assert_serves_configuration(section["configuration"], commit=True)
    assert_loads(section)
    assert section["workloads"]["mixed"]["participants"] == 4
    assert section["workloads"]["easy"]["name"].startswith("easy")
    assert len(section["by_round"]) == 2
    for row in section["by_round"]:
        assert row["mixed_vs_raw"] == round(
            row["mixed_events_per_s"] / row["raw_recover_all_cores_per_s"], 3
        )
        assert len(row["load_average"]) == 3
    assert section["events_per_round"]["mixed"] == 50


def test_commit_runs_serves_worker_on_the_persistent_chain() -> None:
    section = measure_commit(operations=8, rounds=1, window_events=10, participants=4)

    configuration = section["configuration"]
    assert configuration["chain"] == "embedded py-evm, persistent (on disk)"
    assert configuration["recovery_workers"] == RECOVERY_WORKERS
    assert_loads(section)
    assert section["operations_per_round"] == {"easy": 8, "mixed": 8}
    assert section["lifecycle_ops_per_s"] > 0
    # Observations are anchored, not executed: one root for the window, ~64,000 / 10 gas.
    assert 1_000 < section["gas_per_event_observations"] < 20_000
    # A mixed window executes four of five events: far more gas per event than that.
    assert section["gas_per_event"] > section["gas_per_event_observations"]


def test_chain_storage_relays_alike_on_the_persistent_chain_and_in_memory() -> None:
    section = measure_chain_storage(operations=8, rounds=2, participants=4)

    configuration = section["configuration"]
    assert configuration["persistent"]["chain"] == "embedded py-evm, persistent (on disk)"
    assert configuration["memory"]["chain"] == "embedded py-evm, in memory (not serve's)"
    assert section["workload"]["name"] == "mixed"
    assert section["operations_per_round"] == 8
    assert_loads(section)
    for row in section["by_round"]:
        assert row["persistent_vs_memory"] == pytest.approx(
            row["persistent_ops_per_s"] / row["memory_ops_per_s"], rel=0.01
        )
    assert section["persistent_vs_memory"] > 0


def test_commit_in_the_anchor_only_mode_anchors_a_window_in_one_transaction() -> None:
    section = measure_commit(
        operations=8, rounds=1, window_events=40, participants=4, custody=CustodyMode.ANCHOR_ONLY
    )

    assert section["configuration"]["custody_mode"] == "anchor-only"
    assert section["window_events"] == 40  # no cut at 300 operations: nothing is relayed
    # One anchorWindow for the whole mixed window: its gas spread over 40 events, not
    # ~67,000 per lifecycle event executed; a window of lifecycle events costs what one
    # of observations costs (nothing is executed, whatever the events say).
    assert section["gas_per_event_window"] < 5_000
    window, observations = section["gas_per_event_window"], section["gas_per_event_observations"]
    assert abs(window - observations) < observations * 0.05


def test_burst_waits_until_every_event_is_anchored() -> None:
    section = measure_burst(events=15, participants=4)

    assert_serves_configuration(section["configuration"], commit=True)
    # As serve runs it: a process of its own, not a thread sharing the ingest's GIL.
    assert "serve's commit process" in section["configuration"]["commit_worker"]
    assert_loads(section)
    assert section["workload"]["events"] == 15
    assert 0 < section["accepted_to_anchored_s_p50"] <= section["accepted_to_anchored_s_p99"]
    assert section["until_all_anchored_s"] >= section["ingest_s"]


def test_provenance_headline_is_after_a_new_block() -> None:
    section = measure_provenance(repeats=1, trace_batches=200, latency_samples=1)

    assert section["workload"]["provenance_events"] == 100  # every one verified, or it raises
    assert section["workload"]["trace_batches"] == 200
    assert section["configuration"]["chain"] == "embedded py-evm, persistent (on disk)"
    for key in ("new_block", "cold", "warm"):
        assert section[f"provenance_{key}_ms_p50"] > 0
    assert "provenance_ms_p50" not in section  # no unlabelled (warm) headline
    assert 0 < section["accept_to_proof_idle_s_p50"] < 60


def test_store_growth_compares_a_full_store_with_a_small_one_side_by_side() -> None:
    section = measure_store_growth(events=1_000, bulk_size=250, preload=2_000, rounds=2)

    assert section["preloaded"] == 2_000
    assert section["configuration"]["recovery_workers"] == RECOVERY_WORKERS
    assert len(section["by_round"]) == 2
    assert section["full_vs_small"] > 0
    assert section["rss_mb_preload_end"] > 0
    assert_loads(section)


def test_bench_json_has_the_machine_every_section_and_the_targets() -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--json",
            "--participants",
            "4",
            "--burst",
            "10",
            "--no-ingest",
            "--no-commit",
            "--no-provenance",
            "--no-whole-path",
            "--custody",
            "anchor-only",
        ],
    )

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)  # stdout is the JSON alone; progress is on stderr
    assert figures["machine"]["cores"] >= 1
    assert len(figures["machine"]["load_average_start"]) == 3
    assert len(figures["machine"]["load_average_end"]) == 3
    assert set(figures) == {"machine", "custody_mode", "burst", "targets"}
    assert figures["custody_mode"] == "anchor-only"
    assert figures["burst"]["configuration"]["custody_mode"] == "anchor-only"
    (target,) = figures["targets"]
    assert target["figure"] == "burst.accepted_to_anchored_s_p99"
    assert target["measured"] == figures["burst"]["accepted_to_anchored_s_p99"]
    assert target["met"] is (target["measured"] <= 5)
    # Not a terminal: a plain line per step as it starts, with the seconds so far.
    progress = result.stderr.splitlines()
    assert all(re.fullmatch(r" *\d+\.\d s  burst: .+", line) for line in progress), progress
    assert any(line.endswith("until all anchored") for line in progress)


@pytest.mark.slow
def test_whole_path_serves_a_real_process_over_http_until_anchored() -> None:
    section = measure_whole_path(events=10, rounds=2, clients=2, participants=4, latency_sample=4)

    configuration = section["configuration"]
    assert_serves_configuration(configuration["whole_path"], commit=True)
    assert_serves_configuration(configuration["ingest_only"], commit=False)
    assert "serve's commit process" in configuration["whole_path"]["commit_worker"]
    assert configuration["whole_path"]["environment"] == {"TRACENODE_API_MAX_PROOF_DELAY": "0"}
    assert configuration["whole_path"]["command"].startswith("tracenode serve ")
    assert configuration["ingest_only"]["command"].endswith("--no-commit")
    assert len(section["by_round"]) == 2
    for row in section["by_round"]:
        assert row["whole_vs_ingest_only"] > 0
        assert row["accepted_to_anchored_s_p50"] <= row["accepted_to_anchored_s_p99"]
        assert row["latency_events"] == 4  # every third of the 10, from the first
        # serve's monitor had read them all, at most 120 s after the last window
        assert row["monitor_events_behind_when_anchored"] >= 0
        assert 0 <= row["monitor_read_all_s_after_anchored"] <= 120
        assert row["monitor_first_pass_s"] >= 0
        assert row["ingest_only_monitor_first_pass_s"] >= 0
    assert section["monitor_read_all_s_after_anchored_max"] >= 0
    assert "between cycles" in section["round_start"]
    assert "more than 4 " in section["latency_events"]
    assert_loads(section)


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


def test_the_table_script_shows_every_run_with_its_load(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "bench_table.py"
    machine = {"cores": 2, "load_average_start": [1.0, 2.0, 3.0], "load_average_end": [4, 5, 6]}
    ingest = {"load_average_start": [7, 8, 9], "mixed_vs_raw": 0.25, "mixed_events_per_s": 2000}
    target = {"figure": "ingest.mixed_vs_raw", "label": "ingest ÷ raw", "target": "≥ 0.5"}
    one = {
        "machine": machine,
        "ingest": ingest,
        "targets": [target | {"measured": 0.25, "met": False}],
    }
    (tmp_path / "one.json").write_text(json.dumps(one))
    (tmp_path / "two.json").write_text(
        json.dumps({"machine": machine, "custody_mode": "anchor-only"})
    )

    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "one.json"), str(tmp_path / "two.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    lines = done.stdout.splitlines()
    assert lines[0] == "| figure | one | two |"
    assert "| load average (1/5/15 min) at start → end | 1.0/2.0/3.0 → 4.0/5.0/6.0 |" in lines[2]
    assert "| custody mode | enforced | anchor-only |" in lines  # one: from before the modes
    assert "| *ingest: load at start* | 7.0/8.0/9.0 | — |" in lines
    assert "| ingest mixed ÷ raw (target ≥ 0.5) | 0.25 | — |" in lines
    assert "| ingest, mixed, events/s (commit running) | 2,000 | — |" in lines
    assert not any(line.startswith("| *commit") for line in lines)  # no run measured it
    assert "| ingest ÷ raw | ≥ 0.5 | 0.25 (not met) | — |" in lines
