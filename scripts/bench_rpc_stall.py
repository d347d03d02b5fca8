"""Can ``/rpc`` stall anchoring? accepted→anchored with and without an attack, interleaved.

    .venv/bin/python scripts/bench_rpc_stall.py [--rounds 4] [--events 10] [--json]

A real ``tracenode serve`` (a fresh data directory: embedded persistent chain, SQLite
store, the default commit policy and /rpc limits) in a subprocess. In each round, two
phases in alternating order: **idle**, and **attack** — ten clients (an API key each) that
send, back to back, the costliest eth_call we know (node/testing/costly.py: a loop of
BN254 pairing checks, seconds per million gas in py-evm). In each phase a producer
submits ``--events`` COMMISSION events one after the other over HTTP (the SDK) and times
each from its 202 to the first look (every 20 ms) that finds it anchored. The figure is
p99(attack) ÷ p99(idle) over all rounds (issue 12's target: at most 2), with the load
average before and after, and what the attackers were answered. The general request rate
(``TRACENODE_API_RATE_PER_SECOND``) is raised so that the bench's own polling is never
limited; the /rpc limits are the defaults. docs/benchmarks.md reports its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from node.chain.jsonrpc import LIMIT_EXCEEDED
from node.context import Node
from node.sdk.client import Client
from node.store.apikeys import ApiKeys
from node.testing.costly import pairing_loop_code
from node.testing.serving import free_port, producer_node

PASSWORD = "bench rpc stall"  # noqa: S105 (a throwaway data directory's)
ATTACKERS = 10
POLL = 0.02


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--events", type=int, default=10, help="events per phase")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=None,
        help="serve this checkout's code (e.g. an older commit's worktree), to compare",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rpc-stall-") as tmp:
        result = run(
            Path(tmp),
            rounds=args.rounds,
            events=args.events,
            quiet=args.json,
            checkout=args.checkout,
        )
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


def run(
    tmp: Path, *, rounds: int, events: int, quiet: bool, checkout: Path | None = None
) -> dict[str, Any]:
    data_dir = tmp / "data"
    farm, token, attackers = prepare(data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp / "serve.log").open("wb")
    env = os.environ | {
        "TRACENODE_PASSWORD": PASSWORD,
        "TRACENODE_API_RATE_PER_SECOND": "100000",
        "TRACENODE_API_RATE_BURST": "100000",
    }
    command = [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(data_dir)]
    server = subprocess.Popen(  # python -m finds `api` in its working directory first
        [*command, "--port", str(port), "--log-level", "warning"],
        cwd=checkout,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    samples: dict[str, list[float]] = {"idle": [], "attack": []}
    answers: Counter[str] = Counter()
    load_before = os.getloadavg()
    try:
        wait_ready(url)
        with Client(url, key=farm, api_key=token) as client:
            lot = 0
            for round_number in range(rounds):
                order = ("idle", "attack") if round_number % 2 == 0 else ("attack", "idle")
                for phase in order:
                    say(quiet, f"round {round_number + 1}/{rounds}: {phase}")
                    stop = threading.Event()
                    threads = [
                        threading.Thread(target=attack, args=(url, key, stop, answers))
                        for key in (attackers if phase == "attack" else [])
                    ]
                    for thread in threads:
                        thread.start()
                    if threads:
                        time.sleep(1.0)  # the readers are busy before the first event
                    for _ in range(events):
                        lot += 1
                        samples[phase].append(anchoring_time(client, url, f"88.123.45/s-{lot}"))
                    stop.set()
                    for thread in threads:
                        thread.join(timeout=60)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:  # stuck behind calls it cannot interrupt (before)
            server.kill()
            server.wait(timeout=60)
        log.close()
    load_after = os.getloadavg()
    idle, attacked = p99(samples["idle"]), p99(samples["attack"])
    return {
        "figure": "accepted→anchored p99 with 10 concurrent worst-case /rpc calls ÷ idle",
        "ratio": round(attacked / idle, 2),
        "target": "≤ 2 (issue 12)",
        "idle": summary(samples["idle"]),
        "attack": summary(samples["attack"]),
        "attackersAnswered": dict(answers),
        "workload": {
            "rounds": rounds,
            "eventsPerPhase": events,
            "phases": "idle and attack alternating, order swapped every round",
            "events": "COMMISSION of a new lot, one after another, by one producer (SDK)",
            "attack": f"{ATTACKERS} clients, an API key each, eth_call of a BN254 pairing "
            "loop back to back",
            "node": "tracenode serve, fresh data dir: embedded persistent chain, SQLite, "
            "default commit policy and /rpc limits",
            "checkout": str(checkout.resolve()) if checkout else "this one",
            "poll": f"GET /v1/events/{{hash}} every {POLL * 1000:g} ms",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "loadAverageBefore": [round(x, 2) for x in load_before],
            "loadAverageAfter": [round(x, 2) for x in load_after],
        },
    }


def prepare(data_dir: Path) -> tuple[LocalAccount, str, list[str]]:
    """A node with one producer and its API key, and an API key per attacker."""
    farm, token = producer_node(data_dir, PASSWORD)
    with Node(data_dir) as node:
        keys = ApiKeys(node.store)
        attackers = [keys.create(admin=True, label=f"attacker {i}").token for i in range(ATTACKERS)]
    return farm, token, attackers


def attack(url: str, key: str, stop: threading.Event, answers: Counter[str]) -> None:
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"data": COSTLY}, "latest"]}
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        while not stop.is_set():
            try:
                reply = http.post(f"{url}/rpc", json=call)
            except httpx.TimeoutException:
                answers["no answer within 60 s"] += 1
                continue
            if reply.status_code == 200:
                answers[answered(reply.json())] += 1
            else:
                answers[f"HTTP {reply.status_code}"] += 1
                time.sleep(float(reply.headers.get("retry-after", "1")))


COSTLY = pairing_loop_code()


def answered(body: dict[str, Any]) -> str:
    """What a reply said, in a word: cut off, busy, out of gas (3), or a result."""
    if "error" not in body:
        return "result"
    code, message = body["error"]["code"], body["error"]["message"]
    if code == LIMIT_EXCEEDED:
        return "-32005 busy" if "busy" in message else "-32005 cut off"
    return str(code)


def anchoring_time(client: Client, url: str, lot: str) -> float:
    """Seconds from the event's 202 to the first look that finds it anchored."""
    delivery = client.submit("COMMISSION", lot, product="bench", quantity=1)
    accepted = time.monotonic()
    deadline = accepted + 300
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/v1/events/{delivery.event_hash}", timeout=30).json()["status"]
        if status != "accepted":
            if status != "anchored":
                raise RuntimeError(f"event {delivery.event_hash} {status}")
            return time.monotonic() - accepted
        time.sleep(POLL)
    raise TimeoutError(f"event {delivery.event_hash} not anchored in 300 s")


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3),
        "p99": round(p99(values), 3),
        "max": round(max(values), 3),
    }


def report(result: dict[str, Any]) -> str:
    idle, attack_ = result["idle"], result["attack"]
    machine = result["machine"]
    return "\n".join(
        [
            result["figure"],
            f"  ratio {result['ratio']} (target {result['target']})",
            f"  idle:   p50 {idle['p50']} s, p99 {idle['p99']} s, max {idle['max']} s "
            f"(n={idle['n']})",
            f"  attack: p50 {attack_['p50']} s, p99 {attack_['p99']} s, max {attack_['max']} s "
            f"(n={attack_['n']})",
            f"  attackers were answered: {result['attackersAnswered']}",
            f"  workload: {json.dumps(result['workload'])}",
            f"  load average before {machine['loadAverageBefore']}, after "
            f"{machine['loadAverageAfter']} ({machine['cpus']} CPUs)",
        ]
    )


def wait_ready(url: str, timeout: float = 120) -> None:
    """Until /readyz answers 200 and /rpc answers a call (its readers have started)."""
    deadline = time.monotonic() + timeout
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5).status_code == 200
            if ready and "result" in httpx.post(f"{url}/rpc", json=call, timeout=30).json():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"serve at {url} not ready in {timeout} s")


def say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
