"""Where ingest's time goes, on a small store and on a full one: cProfile, side by side.

    .venv/bin/python scripts/profile_ingest.py --preload 1000000

Fills one store with ``--preload`` signed events through the bulk path, then ingests
``--events`` more into it and as many into a small store, in rounds that alternate
between the two, each under its own profiler. Prints the main process's time per event
in each step of ``IngestService.submit_many`` (recovery counts the time the main process
spends recovering its share and waiting for the workers), then the functions that grew
most from the small store to the full one. docs/benchmarks.md reports its figures.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from node.bench.ingest import EventFactory, IngestStores, fill, ingest_all
from node.bench.machine import cumulative_seconds
from node.ingest.service import IngestService

#: Steps of the bulk path: a label, and the functions (file suffix, name) whose
#: cumulative time makes it.
STEPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("total (submit_many)", [("ingest/service.py", "submit_many")]),
    ("decode and hash", [("ingest/service.py", "_prepare")]),
    ("recover signers", [("events/signatures.py", "recover_many")]),
    (
        "reads: signers, nonces, batches",
        [
            ("store/participants.py", "signers"),
            ("store/events.py", "used_nonces"),
            ("store/batches.py", "load"),
        ],
    ),
    ("rules: role, nonce, custody, chain", [("ingest/service.py", "_check")]),
    ("inserts (store_accepted)", [("store/events.py", "store_accepted")]),
    ("commit (WAL write + fsync)", [("~", "<method 'commit' of 'sqlite3.Connection' objects>")]),
]

Key = tuple[str, int, str]


def _own(stats: pstats.Stats) -> dict[Key, float]:
    table: dict[Key, tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    return {key: tt for key, (_cc, _nc, tt, _ct, _callers) in table.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preload", type=int, default=300_000)
    parser.add_argument("--events", type=int, default=20_000, help="profiled, per store")
    parser.add_argument("--bulk", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=0, help="0: all cores")
    args = parser.parse_args(argv)

    factory = EventFactory()
    profiles = {"small": cProfile.Profile(), "full": cProfile.Profile()}
    with tempfile.TemporaryDirectory() as tmp:
        stores = IngestStores(Path(tmp), factory, workers=args.workers or None)
        try:
            services: dict[str, IngestService] = {name: stores.open(name)[1] for name in profiles}
            ingest_all(services["small"], factory.make(args.bulk), args.bulk)  # start the workers
            fill(services["full"], factory, args.preload, args.bulk)
            per_round = max(args.bulk, args.events // args.rounds)
            for index in range(args.rounds):
                order = ["small", "full"] if index % 2 else ["full", "small"]
                for name in order:
                    signed = factory.make(per_round)  # signing is not ingest: not profiled
                    profiles[name].enable()
                    ingest_all(services[name], signed, args.bulk)
                    profiles[name].disable()
        finally:
            stores.close()

    events = per_round * args.rounds
    stats = {name: pstats.Stats(profile) for name, profile in profiles.items()}
    print(
        f"µs per event in the main process; {events:,} events per store, "
        f"full store preloaded with {args.preload:,}"
    )
    print(f"{'step':<38}{'small':>10}{'full':>10}{'full - small':>14}")
    for label, functions in STEPS:
        small, full = (
            cumulative_seconds(stats[n], functions) / events * 1e6 for n in ("small", "full")
        )
        print(f"{label:<38}{small:>10.1f}{full:>10.1f}{full - small:>14.1f}")
    small_own, full_own = _own(stats["small"]), _own(stats["full"])
    grown = sorted(full_own, key=lambda k: small_own.get(k, 0.0) - full_own[k])[:10]
    print("\nown time that grew most (µs per event): small -> full")
    for file, line, name in grown:
        where = f"{Path(file).name}:{line}({name})" if file != "~" else name
        small, full = small_own.get((file, line, name), 0.0), full_own[(file, line, name)]
        print(f"  {where[:70]:<70}{small / events * 1e6:>8.1f} -> {full / events * 1e6:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
