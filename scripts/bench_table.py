"""docs/benchmarks.md's table of runs, from `tracenode bench --json` outputs.

    .venv/bin/tracenode bench --json > run1.json   # once per run, as many runs as wanted
    .venv/bin/python scripts/bench_table.py run1.json run2.json ...

Prints two Markdown tables, a column per run: a row per headline figure (a figure a run
did not measure is "—") with the machine's load average at the start and end of the run
and of each section, so that no figure is read without the load it was measured under;
then issue 12's targets, each run's figure and whether it met the target.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: (section, figure, label): the rows, in order.
ROWS: list[tuple[str, str, str]] = [
    ("ingest", "mixed_events_per_s", "ingest, mixed, events/s (commit running)"),
    ("ingest", "easy_events_per_s", "ingest, easy, events/s (commit running)"),
    ("ingest", "raw_recover_all_cores_per_s", "raw recovery, all cores, /s"),
    ("ingest", "mixed_vs_raw", "ingest mixed ÷ raw (target ≥ 0.5)"),
    ("ingest", "easy_vs_raw", "ingest easy ÷ raw"),
    ("commit", "lifecycle_ops_per_s", "relayed ops/s, mixed, persistent chain (target ≥ 400)"),
    ("commit", "lifecycle_ops_per_s_easy", "relayed ops/s, easy (COMMISSIONs)"),
    ("commit", "gas_per_event", "gas per event, mixed windows"),
    ("commit", "gas_per_event_window", "gas per event, one 1,000-event mixed window"),
    ("commit", "gas_per_event_observations", "gas per event, 1,000 observations alone"),
    ("burst", "accepted_to_anchored_s_p50", "burst: accepted → anchored p50, s"),
    ("burst", "accepted_to_anchored_s_p99", "burst: accepted → anchored p99, s"),
    ("burst", "events_per_s_until_all_anchored", "burst: events/s until all anchored"),
    ("provenance", "provenance_new_block_ms_p50", "provenance after a new block p50, ms (≤ 50)"),
    ("provenance", "provenance_cold_ms_p50", "provenance cold p50, ms (≤ 150)"),
    ("provenance", "provenance_warm_ms_p50", "provenance warm p50, ms (reference only)"),
    ("provenance", "downstream_trace_ms_p50", "downstream trace, 10,000 batches p50, ms"),
    ("whole_path", "whole_path_events_per_s", "whole path over HTTP, events/s"),
    ("whole_path", "ingest_only_events_per_s", "HTTP ingest only (--no-commit), events/s"),
    ("whole_path", "whole_vs_ingest_only", "whole path ÷ ingest only (≥ 0.4 enforced)"),
    ("whole_path", "committing_vs_ingest_only", "HTTP ingest, commit running ÷ not (≥ 0.9)"),
    ("whole_path", "accepted_to_anchored_s_p50", "whole path accepted → anchored p50, s"),
    ("whole_path", "accepted_to_anchored_s_p99", "whole path accepted → anchored p99, s"),
    ("store_growth", "full_vs_small", "1,000,000 stored ÷ small store (≥ 0.8)"),
]


def _load(values: Any) -> str:
    return "/".join(f"{v:.1f}" for v in values) if values else "—"


def table(runs: list[dict[str, Any]], names: list[str]) -> str:
    lines = [
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(runs),
        "| load average (1/5/15 min) at start → end | "
        + " | ".join(
            f"{_load(r['machine'].get('load_average_start'))} → "
            f"{_load(r['machine'].get('load_average_end'))}"
            for r in runs
        )
        + " |",
        # Runs from before the modes were enforced ones.
        "| custody mode | " + " | ".join(r.get("custody_mode", "enforced") for r in runs) + " |",
    ]
    sections = [s for s, _, _ in ROWS]
    for section in dict.fromkeys(sections):
        if not any(section in r for r in runs):
            continue
        lines.append(
            f"| *{section}: load at start* | "
            + " | ".join(
                _load(r[section]["load_average_start"]) if section in r else "—" for r in runs
            )
            + " |"
        )
        for name, key, label in ROWS:
            if name != section:
                continue
            cells = [
                f"{r[section][key]:,}" if section in r and key in r[section] else "—" for r in runs
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(runs: list[dict[str, Any]], names: list[str]) -> str:
    """issue 12's targets (the runs' ``targets``): each run's figure, and whether it met it."""
    # A figure may have a target per custody mode (whole path ÷ ingest-only): a row each.
    labels: dict[tuple[str, str], str] = {}
    for run in runs:
        for row in run.get("targets", []):
            labels.setdefault((row["figure"], row["target"]), row["label"])
    lines = [
        "| figure | target | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(runs),
    ]
    for (figure, target), label in labels.items():
        cells = []
        for run in runs:
            found = [
                row
                for row in run.get("targets", [])
                if (row["figure"], row["target"]) == (figure, target)
            ]
            cells.append(
                f"{found[0]['measured']:,} ({'met' if found[0]['met'] else 'not met'})"
                if found
                else "—"
            )
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="`tracenode bench --json` outputs")
    args = parser.parse_args()
    runs = [json.loads(path.read_text()) for path in args.runs]
    names = [path.stem for path in args.runs]
    print(table(runs, names))
    print()
    print(targets(runs, names))


if __name__ == "__main__":
    main()
