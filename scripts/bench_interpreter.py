"""Relayed lifecycle ops/s with the embedded chain's interpreter loop against py-evm's own.

    .venv/bin/python scripts/bench_interpreter.py --lots 60 --rounds 6 > run.json

One bench node as serve runs it (the persistent embedded chain; node.bench.serving).
Each round commits ``--lots`` lots of the mixed workload (accepted first, not timed) with
serve's commit worker twice: once with node.chain.interpreter's loop, once with py-evm's
stock Prague computation, alternating which goes first; the same chain, the same
contracts and participants, the chain growing alike under both. Prints one JSON object:
each round's ops/s of both and their ratio with the load average, and the medians.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth.vm.forks.prague.computation import PragueComputation

from node.bench.commit import RelayRound
from node.bench.machine import load_average, loads, machine, median_of
from node.bench.serving import BenchNode
from node.bench.workload import MIXED_STEPS
from node.chain.interpreter import FastComputation, FastState


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=60, help="mixed lots a round a loop")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--participants", type=int, default=100)
    args = parser.parse_args(argv)

    operations = args.lots * sum(s.on_chain for s in MIXED_STEPS)
    loops: dict[str, type[Any]] = {"fast": FastComputation, "py_evm": PragueComputation}
    result: dict[str, Any] = {"machine": machine()}
    by_round = []
    with (
        loads(result),
        tempfile.TemporaryDirectory() as tmp,
        BenchNode(Path(tmp) / "node") as bench,
    ):
        relay = RelayRound(bench, args.participants, args.lots)
        relay()  # warm: first windows, caches
        try:
            for index in range(args.rounds):
                row: dict[str, Any] = {"load_average": load_average()}
                for name in list(loops)[:: 1 if index % 2 == 0 else -1]:
                    FastState.computation_class = loops[name]
                    row[f"{name}_ops_per_s"] = round(operations / relay(), 1)
                row["fast_vs_py_evm"] = round(row["fast_ops_per_s"] / row["py_evm_ops_per_s"], 3)
                by_round.append(row)
        finally:
            FastState.computation_class = FastComputation
        configuration = bench.configuration(commit=False)
    result |= {
        "what": "the same mixed lifecycle operations relayed and anchored by serve's commit "
        "worker on one persistent chain, with node.chain.interpreter's loop and with "
        "py-evm's, interleaved over rounds; ingest not timed",
        "workload": relay.workload.describe(),
        "configuration": configuration,
        "operations_per_round": operations,
        "by_round": by_round,
        "fast_ops_per_s": median_of(by_round, "fast_ops_per_s"),
        "py_evm_ops_per_s": median_of(by_round, "py_evm_ops_per_s"),
        "fast_vs_py_evm": median_of(by_round, "fast_vs_py_evm"),
    }
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
