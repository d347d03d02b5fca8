"""Cross-node resolution latency measured (docs/benchmarks.md, "Resolution across nodes";
docs/network.md).

    .venv/bin/python scripts/bench_resolution.py                  # 10 lots x 3 rounds, JSON
    .venv/bin/python scripts/bench_resolution.py --lots 20 --rounds 3

**Workload.** The three real nodes of tests/network.py on one real anvil (the root R
deploys; nodes A and B join it; all SQLite unless ``--database-url-b`` for B; all
``tracenode serve`` processes with the commit worker, monitor off; R only idles here).
``--lots`` lots are commissioned on B and anchored before the clock starts. Each round
asks, for every lot, in an order that rotates from round to round:

- **cross-node**: node A, ``GET /v1/resolve/{lot}`` (JSON), for a lot its store does not
  hold: A finds B on-chain, fetches B's bundle over HTTP and verifies it with its own
  verifier against the chain — what a buyer's scan on A costs (B's URL screened first:
  an address literal, 127.0.0.1, allowed by the harness's ``allow_private_peers``).
  Every answer must be ``verified``, else the run fails.
- **local**: node B, the same request for the same lot, which B holds — the same answer
  when the batch is where it was asked.

Timed: each request, client side (httpx on loopback, a new connection each time, as a
scan would). Reported: p50 and p99 of each over all samples, and the median of the
per-round ratios of the medians (cross-node / local). The chain is quiet while it runs
(no block is mined), so each node's chain answers stay cached between requests, as they
do on a quiet chain; the bundle is fetched and verified every time. The JSON states the
machine and its load average at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from node.bench.machine import loads, machine, percentile, rotated  # noqa: E402
from tests.network import Network, three_nodes  # noqa: E402


def timed_resolve(url: str, identifier: str, *, expect_verified: bool) -> float:
    began = time.perf_counter()
    answer = httpx.get(
        f"{url}/v1/resolve/{quote(identifier, safe='')}",
        headers={"Accept": "application/json"},
        timeout=30,
    )
    elapsed = time.perf_counter() - began
    if answer.status_code != 200:
        raise SystemExit(f"{url} answered {answer.status_code}: {answer.text[:300]}")
    if expect_verified and answer.json().get("verified") is not True:
        raise SystemExit(f"not verified: {answer.text[:500]}")
    return elapsed


def measure(network: Network, lots: list[str], rounds: int) -> dict[str, object]:
    cross: list[float] = []
    local: list[float] = []
    ratios: list[float] = []
    for index in range(rounds):
        round_cross: list[float] = []
        round_local: list[float] = []
        for offset, lot in enumerate(lots):
            a, b = rotated(
                index + offset,
                [
                    partial(timed_resolve, network.a.url, lot, expect_verified=True),
                    partial(timed_resolve, network.b.url, lot, expect_verified=False),
                ],
            )
            round_cross.append(a)
            round_local.append(b)
        cross += round_cross
        local += round_local
        ratios.append(statistics.median(round_cross) / statistics.median(round_local))

    def ms(value: float) -> float:
        return round(value * 1000, 1)

    return {
        "samples": len(cross),
        "cross_node_ms": {"p50": ms(percentile(cross, 0.5)), "p99": ms(percentile(cross, 0.99))},
        "local_ms": {"p50": ms(percentile(local, 0.5)), "p99": ms(percentile(local, 0.99))},
        "ratio_cross_over_local_median_of_rounds": round(statistics.median(ratios), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lots", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url-b", default=None, help="node B's store (PostgreSQL)")
    args = parser.parse_args(argv)
    report: dict[str, object] = {
        "workload": {
            "lots": args.lots,
            "rounds": args.rounds,
            "nodes": "root R (idle), A, B",
            "node_a_store": "sqlite",
            "node_b_store": "postgresql" if args.database_url_b else "sqlite",
            "chain": "anvil (local process), quiet while timed",
            # Both nodes serve on 127.0.0.1, so both are made with allow_private_peers
            # (tests/network.py); B's URL is screened before every fetch, but it is an
            # address literal: no DNS lookup is in the figures.
            "peers": "allow_private_peers, URLs are 127.0.0.1 literals (screened, no DNS)",
        },
        "machine": machine(),
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-resolution-") as tmp,
        three_nodes(Path(tmp), database_url_b=args.database_url_b) as network,
    ):
        lots = [network.commission_on_b(f"BENCH-{i}") for i in range(args.lots)]
        with loads(report):
            report["results"] = measure(network, lots, args.rounds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
