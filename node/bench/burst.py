"""Accepted → anchored under a burst, in serve's configuration (node.bench.serving).

A burst of signed mixed-workload events (node.bench.workload) is submitted as fast as
the node takes it, as the gateway would submit it (one participant's events a request,
phase after phase), while serve's commit worker runs at serve's policy in serve's commit
process (node/commit/process.py: a process of its own, which owns the chain, as serve
runs it; this process ingests as serve's gateway does). Each event's
latency runs from the moment its request returned (accepted) to the moment a poll of the
store found it ANCHORED with its proof; the store is polled every ``POLL_S`` seconds,
oldest events first, which bounds the figures' resolution.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Final

from node.bench.ingest import submit_requests
from node.bench.machine import loads, percentile
from node.bench.serving import BenchNode
from node.bench.workload import MIXED_STEPS, MixedWorkload
from node.commit.custody import CustodyMode
from node.runtime import Progress, quiet
from node.store.models import EventStatus
from node.store.store import Store

#: Seconds between two looks at the store for newly anchored events.
POLL_S: Final = 0.05
#: Events looked up per poll (the oldest waiting ones: windows commit oldest first).
POLL_CHUNK: Final = 1000


def wait_anchored(
    store: Store, accepted: dict[bytes, float], *, timeout: float, progress: Progress = quiet
) -> dict[bytes, float]:
    """Poll ``store`` until every event of ``accepted`` (hash → time accepted, in accept
    order) is ANCHORED; returns the ``time.monotonic()`` each was first seen so. Raises
    TimeoutError after ``timeout`` seconds, RuntimeError if one is rejected."""
    pending = list(accepted)
    anchored: dict[bytes, float] = {}
    deadline = time.monotonic() + timeout
    reported = 0
    while pending:
        with store.read() as conn:
            statuses = store.events.known(conn, pending[:POLL_CHUNK])
        now = time.monotonic()
        for event_hash, status in statuses.items():
            if status is EventStatus.REJECTED:
                raise RuntimeError(f"bench event 0x{event_hash.hex()} was rejected on-chain")
            if status is EventStatus.ANCHORED:
                anchored[event_hash] = now
        before = len(pending)
        pending = [h for h in pending if h not in anchored]
        if len(anchored) // 1000 > reported:
            reported = len(anchored) // 1000
            progress(f"burst: {len(anchored):,} of {len(accepted):,} events anchored")
        if len(pending) == before:
            if now > deadline:
                raise TimeoutError(f"{len(pending)} bench events not anchored in {timeout:.0f} s")
            time.sleep(POLL_S)
    return anchored


def latencies(accepted: dict[bytes, float], anchored: dict[bytes, float]) -> dict[str, float]:
    waits = [anchored[h] - accepted[h] for h in accepted]
    return {
        "accepted_to_anchored_s_p50": round(percentile(waits, 0.5), 3),
        "accepted_to_anchored_s_p99": round(percentile(waits, 0.99), 3),
        "accepted_to_anchored_s_max": round(max(waits), 3),
    }


def measure_burst(
    *,
    events: int = 2_000,
    participants: int = 100,
    custody: CustodyMode = CustodyMode.ENFORCED,
    progress: Progress = quiet,
) -> dict[str, Any]:
    lots = max(1, events // len(MIXED_STEPS))
    section: dict[str, Any] = {}
    with loads(section), tempfile.TemporaryDirectory() as tmp:
        progress("burst: a node as serve runs it (persistent chain, SQLite), participants")
        with BenchNode(Path(tmp) / "node", custody=custody) as bench:
            node = bench.node
            mixed = MixedWorkload(node.domain, participants_count=participants)
            ids = bench.register(mixed.participants)
            progress(f"burst: signing {lots * len(MIXED_STEPS):,} mixed events")
            phases = mixed.make(lots)
            progress("burst: starting serve's commit process")
            with bench.committing():
                node = bench.node  # opened again as serve's gateway opens it
                progress(f"burst: {lots * len(MIXED_STEPS):,} events at once, until all anchored")
                began = time.monotonic()
                accepted = submit_requests(node, ids, phases)
                ingested = time.monotonic() - began
                anchored = wait_anchored(
                    node.store, accepted, timeout=60 + len(accepted), progress=progress
                )
                whole = max(anchored.values()) - began
            configuration = bench.configuration(commit=True)
    section.update(
        {
            "what": "a burst of mixed events submitted at once (in process, as the gateway "
            "submits them) while serve's commit process runs beside it; latency "
            "from each event's acceptance to the poll that found it anchored",
            "workload": mixed.describe() | {"events": len(accepted)},
            "configuration": configuration,
            "poll_s": POLL_S,
            "ingest_s": round(ingested, 3),
            "until_all_anchored_s": round(whole, 3),
            "events_per_s_until_all_anchored": round(len(accepted) / whole, 1),
            **latencies(accepted, anchored),
        }
    )
    return section
