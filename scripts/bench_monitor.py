"""The integrity monitor's cost to ingest (docs/benchmarks.md, "Monitor overhead").

    .venv/bin/python scripts/bench_monitor.py                      # JSON on stdout
    .venv/bin/python scripts/bench_monitor.py --events 4000 --rounds 5

Three data directories are made alike (node.bench.serving: the mixed workload's 100
participants registered on the chain, an API key each). In each round every one of them
is served by ``tracenode serve`` in a child process, one at a time, in an order that
rotates from round to round, and sent the round's signed mixed-workload events by
concurrent keep-alive HTTP clients (node.bench.whole_path.send):

- ``monitored``: serve as it starts by default (the monitor's full cycle every 300 s,
  its look at what is new every 0.5 s, the commit worker in place);
- ``cycles_only``: ``--monitor-watch-interval 0`` (full cycles only);
- ``unmonitored``: ``--monitor-interval 0`` (no monitor at all).

Timed: from the first request until the last event is accepted. Reported per round and as
the median over rounds: events/s of each, and the ratios to ``unmonitored`` measured in
the same round. Serve's first full cycle starts with serve, and on these stores (seconds
a cycle) it overlaps the timed ingest of both monitored configurations: every round pays
a full cycle, which a real serve pays once in 300 s, so the figures are pessimistic. The
full cycle's own cost is also measured apart, afterwards: ``Monitor.cycle()`` on the
monitored store (serve stopped), its seconds and the store's size, and the share of one
core it takes at serve's 300 s interval.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from node.bench.machine import load_average, loads, machine, median_of, rotated
from node.bench.whole_path import ServeProcess, Site, prepare_site, send
from node.bench.workload import MIXED_STEPS
from node.context import Node
from node.monitor.service import WATCH_INTERVAL, Monitor

CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "monitored": (),
    "cycles_only": ("--monitor-watch-interval", "0"),
    "unmonitored": ("--monitor-interval", "0"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000, help="events a server a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--participants", type=int, default=100)
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine()}
    with loads(report), tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        report |= measure(Path(tmp), args.events, args.rounds, args.clients, args.participants)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


def measure(
    work: Path, events: int, rounds: int, clients: int, participants: int
) -> dict[str, Any]:
    lots = max(1, events // len(MIXED_STEPS))
    sites: dict[str, Site] = {}
    for name, serve_args in CONFIGURATIONS.items():
        print(f"preparing {name}", file=sys.stderr)
        sites[name], _ = prepare_site(work / name, participants, 100, serve_args)
        sites[name].rounds = [sites[name].workload.make(lots) for _ in range(rounds)]

    def run(name: str, index: int) -> float:
        site = sites[name]
        with ServeProcess(site.data_dir, *site.args) as server:
            began, accepted = send(server.url, site, site.rounds[index], clients)
            return len(accepted) / (max(accepted.values()) - began)

    by_round = []
    for index in range(rounds):
        print(f"round {index + 1} of {rounds}", file=sys.stderr)
        load = load_average()
        figures = rotated(index, [partial(run, name, index) for name in CONFIGURATIONS])
        row: dict[str, Any] = {
            f"{name}_events_per_s": round(value, 1)
            for name, value in zip(CONFIGURATIONS, figures, strict=True)
        }
        off = row["unmonitored_events_per_s"]
        row["monitored_vs_unmonitored"] = round(row["monitored_events_per_s"] / off, 3)
        row["cycles_only_vs_unmonitored"] = round(row["cycles_only_events_per_s"] / off, 3)
        row["load_average"] = load
        by_round.append(row)

    print("a full cycle over the monitored store", file=sys.stderr)
    with Node(sites["monitored"].data_dir) as node:
        with node.store.read() as conn:
            stored = node.store.events.count(conn)
        monitor = Monitor.of(node)
        began = time.monotonic()
        cycle = monitor.cycle()
        cycle_s = time.monotonic() - began
    return {
        "what": "signed mixed events over HTTP to real `tracenode serve` processes (commit "
        "worker in place), with the monitor as serve runs it by default, with full cycles "
        "only, and with no monitor, in the same run, rounds rotating the order; serve's "
        "first full cycle overlaps each monitored round's ingest (pessimistic)",
        "workload": sites["monitored"].workload.describe()
        | {"events_per_round": lots * len(MIXED_STEPS), "http_clients": clients},
        "configuration": {
            name: {
                "serve_arguments": list(serve_args),
                "monitor_interval_s": 0 if "--monitor-interval" in serve_args else 300,
                "monitor_watch_interval_s": 0 if serve_args else WATCH_INTERVAL,
            }
            for name, serve_args in CONFIGURATIONS.items()
        },
        "rounds": rounds,
        "by_round": by_round,
        "monitored_events_per_s": median_of(by_round, "monitored_events_per_s"),
        "unmonitored_events_per_s": median_of(by_round, "unmonitored_events_per_s"),
        "monitored_vs_unmonitored": median_of(by_round, "monitored_vs_unmonitored"),
        "cycles_only_vs_unmonitored": median_of(by_round, "cycles_only_vs_unmonitored"),
        "overhead_target": "monitored_vs_unmonitored >= 0.90",
        "full_cycle": {
            "store_events": stored,
            "windows": cycle.windows,
            "batches": cycle.batches,
            "seconds": round(cycle_s, 2),
            "share_of_a_core_at_300_s": round(cycle_s / 300, 4),
            "meaning": "one full cycle over the monitored store after the rounds, serve "
            "stopped (the cycle compares every window and custody batch with the chain)",
        },
    }


if __name__ == "__main__":
    sys.exit(main())
