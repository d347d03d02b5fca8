"""Where a relayed lifecycle operation's time goes, on the persistent chain and in memory.

    .venv/bin/python scripts/profile_relay.py --lots 60 --rounds 4

Two bench nodes made alike (node.bench.commit.measure_chain_storage's): the persistent
embedded chain as serve runs it, and an in-memory copy of it. Each round signs and
accepts ``--lots`` lots of the mixed workload on each (not profiled), then commits them
with serve's commit worker under cProfile until none is left, alternating which node
goes first. Prints the time per relayed operation in each step of a commit, side by side
(cProfile's overhead weighs on py-evm's many small calls: compare the two columns and
the shares, not the absolute figures with the bench's). docs/benchmarks.md reports them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from node.bench.commit import RelayRound
from node.bench.machine import cumulative_seconds
from node.bench.serving import BenchNode
from node.bench.workload import MIXED_STEPS

#: Steps of a commit: a label, and the functions (file suffix, name) whose cumulative
#: time makes it.
STEPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("total (commit_once)", [("commit/worker.py", "commit_once")]),
    ("py-evm: transactions executed", [("eth/vm/base.py", "apply_transaction")]),
    ("py-evm: block mined (state persisted)", [("eth/chains/base.py", "mine_block")]),
    ("chain database: reads", [("chain/kvstore.py", "__getitem__")]),
    ("chain database: batches written", [("chain/kvstore.py", "atomic_batch")]),
    ("chain database: commits (WAL, fsync)", [("chain/kvstore.py", "commit")]),
    ("identifier proofs (licences read)", [("chain/commits.py", "identifier_proofs")]),
    ("commit signed", [("chain/commits.py", "build_commit")]),
    ("receipts read", [("chain/commits.py", "receipt")]),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=60, help="mixed lots a round a node")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--participants", type=int, default=100)
    args = parser.parse_args(argv)

    names = ("persistent", "memory")
    profiles = {name: cProfile.Profile() for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        benches = [BenchNode(Path(tmp) / name, chain_in_memory=name == "memory") for name in names]
        try:
            relays = dict(
                zip(
                    names,
                    (RelayRound(b, args.participants, args.lots) for b in benches),
                    strict=True,
                )
            )
            for relay in relays.values():
                relay()  # warm: first windows, caches
            for index in range(args.rounds):
                for name in names[:: 1 if index % 2 == 0 else -1]:
                    relay = relays[name]
                    relay.accept()
                    profiles[name].enable()
                    relay.commit()
                    profiles[name].disable()
        finally:
            for bench in benches:
                bench.close()

    operations = args.lots * sum(s.on_chain for s in MIXED_STEPS) * args.rounds
    stats = {name: pstats.Stats(profile) for name, profile in profiles.items()}
    print(f"ms per relayed lifecycle operation under cProfile; {operations:,} operations a node")
    print(f"{'step':<40}{'persistent':>12}{'memory':>10}")
    for label, functions in STEPS:
        on_disk, in_memory = (
            cumulative_seconds(stats[n], functions) / operations * 1e3 for n in names
        )
        print(f"{label:<40}{on_disk:>12.3f}{in_memory:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
