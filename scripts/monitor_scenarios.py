"""Run the monitor's scenario library on a fresh node and print, for each rule, how many
alerts were right, wrong and missed, with precision and recall (docs/monitor.md).

    .venv/bin/python scripts/monitor_scenarios.py                 # tests/scenarios
    .venv/bin/python scripts/monitor_scenarios.py --library DIR   # DIR/*.toml, DIR/products.toml

Exits 1 when a scenario raised other alerts than it expects, or when precision or recall
overall is below 0.95 (the target of issue 13).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.monitor.products import ProductTable  # noqa: E402
from node.testing.scenarios import PRODUCTS_FILE, load_library, run_library, scores  # noqa: E402

TARGET = 0.95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, default=ROOT / "tests" / "scenarios")
    args = parser.parse_args()
    scenarios = load_library(args.library)
    table = ProductTable.load(args.library / PRODUCTS_FILE)
    labels = Counter(s.label for s in scenarios)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run_library(scenarios, table, workdir=Path(tmp))
    took = time.monotonic() - started
    print(
        f"{len(scenarios)} scenarios ({', '.join(f'{n} {k}' for k, n in sorted(labels.items()))})"
        f" from {args.library}, each on a node of its own (embedded chain, SQLite) judged by"
        f" one monitor cycle: {took:.1f} s;"
        f" load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        print(
            f"  FAILED {outcome.scenario.name}: missed {list(outcome.missed)}, "
            f"unexpected {list(outcome.unexpected)}"
        )
    print()
    print("| rule | right | wrong | missed | precision | recall |")
    print("|---|---|---|---|---|---|")
    table_rows = scores(outcomes)
    for kind, score in table_rows.items():
        name = f"**{kind}**" if kind == "overall" else f"`{kind}`"
        print(
            f"| {name} | {score.true_positives} | {score.false_positives} | "
            f"{score.false_negatives} | {score.precision:.2f} | {score.recall:.2f} |"
        )
    overall = table_rows["overall"]
    return 1 if failed or min(overall.precision, overall.recall) < TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
