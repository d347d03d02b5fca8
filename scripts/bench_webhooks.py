"""Webhook delivery measured (docs/benchmarks.md, "Webhooks"): throughput to a local
receiver, and the time from a rule's triggering event to its webhook's arrival.

    .venv/bin/python scripts/bench_webhooks.py                 # both, JSON on stdout
    .venv/bin/python scripts/bench_webhooks.py --only throughput --messages 5000 --rounds 3

The receiver is tests/webhook_receiver.py in a process of its own on a loopback port: it
takes each POST over a kept-alive connection, appends it (headers, body, arrival time) to
a JSON-lines file and answers 204.

**Throughput.** An outbox (a SQLite file, WAL, as ``tracenode init`` makes it, or
``--database-url``) is filled with ``--messages`` signed-to-be messages of 700 bytes (an
``event.anchored`` body's size) for 1 or 4 endpoints, untimed; then the node's
:class:`~node.webhooks.delivery.Deliverer` runs in a thread, as ``serve`` runs it, until
the outbox is empty. Timed: from the deliverer's start to the last arrival the receiver
recorded. Each round runs three configurations, in an order that rotates from round to
round: the deliverer as configured (runs of up to 100 messages, up to 8 endpoints at
once) to 1 endpoint and to 4, and one message at a time (runs of 1, one endpoint at a
time: how it delivered before). Reported: the median of the rounds for each, and the
median of the per-round ratios.

**Latency.** A node on the embedded chain (the test harness's, five participants) with
the commit worker, the integrity monitor (``--monitor-interval`` and
``--monitor-watch-interval``, serve's options and defaults: a full cycle every 300 s, a
look at what is new every 0.5 s) and the deliverer in threads, as ``serve`` runs them; one
endpoint subscribed to ``alert.raised``. Each sample makes milk, cheese from it, recalls
the milk (untimed), then ships the cheese: a recall breach (critical). Timed: from the
moment ingest accepted the shipment to the arrival of the ``alert.raised`` naming it.
The same samples time ``event.anchored`` for the shipment (commit interval 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from node.commit.worker import CommitPolicy
from node.events.typed_data import Action
from node.monitor.service import WATCH_INTERVAL, Monitor
from node.store.models import AlertSeverity
from node.store.records import Subscription
from node.store.store import Store
from node.store.webhooks import Outgoing
from node.testing.chains import cheese_from_milk
from node.testing.harness import TraceNodeHarness
from node.webhooks.delivery import Deliverer, DeliveryPolicy
from node.webhooks.messages import new_message_id, new_secret

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the receiver is the tests' own (tests/webhook_receiver.py)
from tests.webhook_receiver import Received, received, receiver_process  # noqa: E402

PAYLOAD_BYTES = 700
SETTLE_TIMEOUT = 120.0  # seconds a run may take before the bench gives up on it


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    endpoints: int
    policy: DeliveryPolicy


CONFIGS = (
    Config("runs_1_endpoint", 1, DeliveryPolicy(allow_loopback=True)),
    Config("runs_4_endpoints", 4, DeliveryPolicy(allow_loopback=True)),
    Config("one_at_a_time", 1, DeliveryPolicy(allow_loopback=True, batch=1, concurrency=1)),
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("throughput", "latency"))
    parser.add_argument("--messages", type=int, default=5000, help="per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=40, help="latency samples")
    parser.add_argument("--monitor-interval", type=float, default=300.0)
    parser.add_argument("--monitor-watch-interval", type=float, default=WATCH_INTERVAL)
    parser.add_argument("--database-url", help="the outbox's store (default: a SQLite file)")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        work = Path(tmp)
        if args.only in (None, "throughput"):
            report["throughput"] = throughput(work, args.messages, args.rounds, args.database_url)
        if args.only in (None, "latency"):
            report["latency"] = latency(
                work, args.samples, args.monitor_interval, args.monitor_watch_interval
            )
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "note": "loadavg is the 1, 5 and 15 minute load of the whole (shared) machine",
    }


# ----- the receiver -----


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def receiver(out: Path) -> Iterator[str]:
    """tests/webhook_receiver.py in a process of its own; its URL."""
    port = free_port()
    with receiver_process(port, out):
        yield f"http://127.0.0.1:{port}/hook"


# ----- throughput -----


def throughput(work: Path, messages: int, rounds: int, url: str | None) -> dict[str, Any]:
    store = Store.open(url or f"sqlite:///{work / 'outbox.sqlite'}")
    rates: dict[str, list[float]] = {c.name: [] for c in CONFIGS}
    try:
        for round_no in range(rounds):
            turn = round_no % len(CONFIGS)
            for config in CONFIGS[turn:] + CONFIGS[:turn]:
                out = work / f"received-{round_no}-{config.name}.jsonl"
                with receiver(out) as hook:
                    rates[config.name].append(one_run(store, hook, out, config, messages))
    finally:
        store.close()
    base = rates["one_at_a_time"]
    return {
        "workload": (
            f"{messages} messages of {PAYLOAD_BYTES} bytes per run, spread evenly over the "
            "run's endpoints, all pointing at one receiver process on loopback (HTTP/1.1, "
            "appends each to a file, answers 204); outbox filled before the clock starts"
        ),
        "store": "postgresql" if url and url.startswith("postgresql") else "sqlite (WAL, file)",
        "rounds": rounds,
        "configurations": {
            c.name: {
                "endpoints": c.endpoints,
                "batch": c.policy.batch,
                "concurrency": c.policy.concurrency,
                "webhooks_per_s_median": round(statistics.median(rates[c.name]), 1),
                "webhooks_per_s_rounds": [round(r, 1) for r in rates[c.name]],
            }
            for c in CONFIGS
        },
        "runs_vs_one_at_a_time": round(
            statistics.median(r / b for r, b in zip(rates["runs_1_endpoint"], base, strict=True)),
            2,
        ),
        "target_webhooks_per_s": 500,
    }


def one_run(store: Store, hook: str, out: Path, config: Config, messages: int) -> float:
    now = int(time.time() * 1000)
    filler = "x" * (PAYLOAD_BYTES - 60)
    with store.write() as conn:
        ids = [
            store.webhooks.add_endpoint(
                conn,
                url=hook,
                subscription=Subscription(("event.anchored",), AlertSeverity.LOW),
                label="bench",
                secret=new_secret(),
                now=now,
            ).id
            for _ in range(config.endpoints)
        ]
        rows = [
            Outgoing(
                ids[n % len(ids)],
                new_message_id(),
                "event.anchored",
                json.dumps({"type": "event.anchored", "n": n, "pad": filler}).encode(),
            )
            for n in range(messages)
        ]
        store.webhooks.enqueue_many(conn, rows, now=now)
    deliverer = Deliverer(store, config.policy)
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
    began = time.time()
    thread.start()
    try:
        wait(
            lambda: True if pending(store, ids) == 0 else None,
            SETTLE_TIMEOUT,
            f"{config.name} to finish",
        )
    finally:
        stop.set()
        thread.join(timeout=60)
    with store.write() as conn:
        for endpoint_id in ids:
            store.webhooks.disable(conn, endpoint_id, now=int(time.time() * 1000))
    got = wait(partial(_all, out, messages), 30, "the receiver's file")
    return messages / (max(item.at for item in got) - began)


def _all(out: Path, messages: int) -> list[Received] | None:
    got = received(out)
    return got if len(got) >= messages else None


def pending(store: Store, endpoint_ids: list[int]) -> int:
    from sqlalchemy import func, select

    from node.store.models import DeliveryStatus
    from node.store.tables import WEBHOOK_DELIVERIES

    with store.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    WEBHOOK_DELIVERIES.c.status == int(DeliveryStatus.PENDING),
                    WEBHOOK_DELIVERIES.c.endpoint_id.in_(endpoint_ids),
                )
            ).scalar_one()
        )


def wait(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """What ``condition`` returns once it is not None, polled; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.01)


# ----- latency -----


def latency(
    work: Path, samples: int, monitor_interval: float, watch_interval: float
) -> dict[str, Any]:
    out = work / "latency.jsonl"
    commit_policy = CommitPolicy(interval=1.0)
    policy = DeliveryPolicy(allow_loopback=True)
    with TraceNodeHarness.create(work / "node") as h, receiver(out) as hook:
        store = h.node.store
        with store.write() as conn:
            for types in (("alert.raised",), ("event.anchored",)):
                store.webhooks.add_endpoint(
                    conn,
                    url=hook,
                    subscription=Subscription(types, AlertSeverity.LOW),
                    label="bench",
                    secret=new_secret(),
                    now=int(time.time() * 1000),
                )
        stop = threading.Event()
        worker = h.worker(commit_policy)
        monitor = Monitor.of(h.node)
        deliverer = Deliverer(store, policy)
        threads = [
            threading.Thread(target=worker.run, args=(stop,), daemon=True),
            threading.Thread(
                target=lambda: monitor.run(
                    stop, interval=monitor_interval, watch_interval=watch_interval
                ),
                daemon=True,
            ),
            threading.Thread(target=deliverer.run, args=(stop,), daemon=True),
        ]
        for thread in threads:
            thread.start()
        alert_s: list[float] = []
        detected_s: list[float] = []
        anchored_s: list[float] = []
        rng = random.Random(1)  # noqa: S311 - spacing samples, not secrets
        try:
            for n in range(samples):
                trigger, accepted = breach(h, n)
                alert_at, detected_at = wait(
                    partial(_arrival, out, "alert.raised", trigger), 60, f"the alert of {n}"
                )
                anchored_at = wait(
                    partial(_arrival, out, "event.anchored", trigger), 60, f"the anchor of {n}"
                )
                alert_s.append(alert_at - accepted)
                detected_s.append(detected_at - accepted)
                anchored_s.append(anchored_at[0] - accepted)
                # not in step with the monitor's looks
                time.sleep(rng.uniform(0, watch_interval or monitor_interval))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
    return {
        "workload": (
            f"{samples} samples, one after another: milk, cheese made from it, the milk "
            "recalled (untimed), then the cheese shipped: a recall breach (critical). Timed "
            "from ingest accepting the shipment to the webhook's arrival at a receiver "
            "process. Commit worker, monitor and deliverer run in threads as serve runs them."
        ),
        "configuration": {
            "monitor_interval_s": monitor_interval,
            "monitor_watch_interval_s": watch_interval,
            "commit_interval_s": commit_policy.interval,
            "deliverer_poll_s": policy.poll_interval,
            "store": "sqlite (WAL, file)",
            "chain": "embedded py-evm (persistent), as the test harness and run.sh make it",
        },
        "alert_raised": summary(alert_s),
        "alert_raised_detected": summary(detected_s)
        | {"meaning": "the part of it until the monitor recorded the alert (detectedAt)"},
        "alert_raised_delivered": summary([a - d for a, d in zip(alert_s, detected_s, strict=True)])
        | {"meaning": "the part of it from the alert's record to the webhook's arrival"},
        "event_anchored": summary(anchored_s),
        "target_p99_s": 2.0,
    }


MILK = "https://id.gs1.org/01/09506000134352/10/BM{n}"
CHEESE = "https://id.gs1.org/01/00614142000011/10/BC{n}"  # the processor's prefix


def breach(h: TraceNodeHarness, n: int) -> tuple[str, float]:
    """A recall breach: the triggering event's hash (0x) and when ingest accepted it."""
    milk, cheese = MILK.format(n=n), CHEESE.format(n=n)
    cheese_from_milk(h, milk, cheese)
    h.submit("regulator", Action.RECALL, milk)
    shipped = h.submit("processor", Action.SHIP, cheese, to="shop")
    return "0x" + shipped.hex(), time.time()


def _arrival(out: Path, message_type: str, event_hash: str) -> tuple[float, float] | None:
    """When the message naming ``event_hash`` arrived, and (alerts) when it was detected."""
    for item in received(out):
        body = item.body
        if body["type"] != message_type:
            continue
        data = body["data"]
        named = [data.get("eventHash")] + [e["eventHash"] for e in data.get("events", [])]
        if event_hash in named:
            return item.at, int(data.get("detectedAt") or 0) / 1000
    return None


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "samples": len(values),
        "p50_s": round(statistics.median(ordered), 3),
        "p99_s": round(p99, 3),
        "max_s": round(ordered[-1], 3),
        "note": "p99 of fewer than 100 samples is their maximum or next to it",
    }


if __name__ == "__main__":
    main()
