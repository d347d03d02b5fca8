"""Provenance, downstream trace and accept-to-proof latency (issue #4's figures).

``provenance_new_block_ms_p50`` (the headline): the full, verified provenance of a batch
with 5 levels of lineage (each level a transformation of the previous product and a
fresh raw lot) and 100 events in all, committed in several windows by several signers —
export from the store plus every check against the persistent embedded chain — right
after a new block (only answers that no block can change are reused: anchored roots,
roles at past blocks, receipts, names); a node that commits adds blocks all the time.
``provenance_cold_ms_p50``: the same with nothing reused (a process's first query).
``provenance_warm_ms_p50``: the same while no block was added since the previous query,
whose chain answers are all reused: what an idle node answers, for reference only.

``downstream_trace_ms_p50``: the downstream trace of one lot to the 10,000 batches made
from it over three levels of transformations (store only).

``accept_to_proof_idle_s_p50``: an event submitted alone, while the commit worker runs
at its default policy, until the store holds its proof with the window's receipt (under
a burst: node.bench.burst).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from web3.types import Wei

from node.bench.machine import loads, percentile, rotated
from node.events.typed_data import Action, Role
from node.proofs.verify import Outcome
from node.runtime import Progress, quiet, settle_heap
from node.store.models import EventStatus
from node.testing.harness import TraceNodeHarness

#: Each maker creates its lots under its own handle prefix (the contracts check it).
PARTIES = {
    "farm": (Role.PRODUCER, "88.900.1"),
    "processor": (Role.PROCESSOR, "88.900.2"),
    "carrier": (Role.LOGISTICS, ""),
    "lab": (Role.AUDITOR, ""),
}


def _lot(name: str, maker: str = "farm") -> str:
    return f"{PARTIES[maker][1]}/{name}"


def build_lineage(h: TraceNodeHarness, *, levels: int = 5, events: int = 100) -> str:
    """A product with ``levels`` transformations behind it and ``events`` events in all."""
    product = _lot("L0")
    h.submit("farm", Action.COMMISSION, product, product="raw", quantity=100)
    made = [product]
    for level in range(1, levels + 1):
        raw = _lot(f"R{level}")
        h.submit("farm", Action.COMMISSION, raw, product="raw", quantity=100)
        made.append(raw)
        for lot in (product, raw):
            if level == 1 or lot == raw:
                h.submit("farm", Action.SHIP, lot, to="processor")
                h.submit("processor", Action.RECEIVE, lot)
        output = _lot(f"L{level}", "processor")
        h.submit(
            "processor",
            Action.TRANSFORM,
            inputs=[product, raw],
            outputs=[output],
            product=f"level {level}",
            quantity=100,
        )
        made.append(output)
        product = output
        h.commit()
    h.submit("processor", Action.SHIP, product, to="carrier")
    h.submit("carrier", Action.RECEIVE, product)
    total = len(h.export(product).events)
    for index in range(events - total):
        h.submit(
            "lab",
            Action.OBSERVE,
            made[index % len(made)],
            payload={"sensorReport": [{"type": "gs1:Temperature", "value": 4 + index % 3}]},
        )
        if index % 25 == 24:
            h.commit()
    h.commit()
    return product


def build_fanout(h: TraceNodeHarness, *, batches: int = 10_000) -> str:
    """A lot from which ``batches`` batches are made over three levels (63 per event)."""
    origin = _lot("ORIGIN")
    h.submit("farm", Action.COMMISSION, origin, product="raw", quantity=1)
    h.submit("farm", Action.SHIP, origin, to="processor")
    h.submit("processor", Action.RECEIVE, origin)
    frontier, made, serial = [origin], 0, 0
    while made < batches:
        next_frontier = []
        for parent in frontier:
            count = min(63, batches - made)
            if count <= 0:
                break
            outputs = [_lot(f"F{serial + i}", "processor") for i in range(count)]
            serial += count
            h.submit(
                "processor",
                Action.TRANSFORM,
                inputs=[parent],
                outputs=outputs,
                product="part",
                quantity=1,
            )
            made += count
            next_frontier.extend(outputs)
        frontier = next_frontier
    return origin


def _mine_a_block(h: TraceNodeHarness) -> None:
    w3 = h.node.w3
    funder = w3.eth.accounts[0]
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": funder, "value": Wei(1)})
    )


def _p50_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def accept_to_proof(h: TraceNodeHarness, *, samples: int = 9) -> float:
    """Median seconds from submit to stored proof with the worker at its default policy."""
    stop = threading.Event()
    worker = threading.Thread(target=h.worker().run, args=(stop,), daemon=True)
    worker.start()
    lot = _lot("LATENCY")
    h.submit("farm", Action.COMMISSION, lot, product="raw", quantity=1)
    waits = []
    try:
        for index in range(samples):
            time.sleep(0.137 * (index % 7))  # arrive at different points of the interval
            began = time.perf_counter()
            event_hash = h.submit("lab", Action.OBSERVE, lot, payload={"n": index})
            deadline = began + 60
            while True:
                with h.node.store.read() as conn:
                    row = h.node.store.events.get(conn, event_hash)
                if row is not None and row.status == EventStatus.ANCHORED:
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"event {index} not anchored within 60 s")
                time.sleep(0.005)
            waits.append(time.perf_counter() - began)
    finally:
        stop.set()
        worker.join()
    return statistics.median(waits)


def measure_provenance(
    *,
    repeats: int = 15,
    trace_batches: int = 10_000,
    latency_samples: int = 9,
    progress: Progress = quiet,
) -> dict[str, Any]:
    section: dict[str, Any] = {}
    with loads(section), tempfile.TemporaryDirectory() as tmp:
        progress("provenance: a node with 5 levels of lineage and 100 events, committed")
        with TraceNodeHarness.create(Path(tmp) / "lineage", participants=PARTIES) as h:
            subject = build_lineage(h)
            result = h.provenance(subject)
            if result.report.outcome is not Outcome.PASS:
                raise RuntimeError(f"the bench lineage does not verify: {result.report.failures()}")
            events = len(result.bundle.events)
            batch_id = h.batch_id(subject)
            service = h.provenance_service
            configuration = {
                "as": "the node's provenance service (serve's /v1/batches/{id}/provenance)",
                "chain": "embedded py-evm, persistent (on disk)",
                "store": h.node.store.dialect,
            }
            settle_heap()
            progress(f"provenance: {repeats} rounds of verified queries: new block, cold, warm")

            def timed() -> float:
                began = time.perf_counter()
                service.provenance(batch_id)
                return (time.perf_counter() - began) * 1000

            def after_a_new_block() -> float:
                service.provenance(batch_id)  # its reader...
                _mine_a_block(h)  # ...carried over to the next block's
                return timed()

            def cold() -> float:
                service._reader = None  # forget every answer: the very first query
                return timed()

            def warm() -> float:
                service.provenance(batch_id)  # no block after it: its answers stand
                return timed()

            by_round = [rotated(i, [after_a_new_block, cold, warm]) for i in range(repeats)]
            new_block = [r[0] for r in by_round]
            first = [r[1] for r in by_round]
            again = [r[2] for r in by_round]
            progress(f"provenance: accepted → anchored with proof, {latency_samples} lone events")
            latency = accept_to_proof(h, samples=latency_samples)
        progress(f"trace: a node with {trace_batches:,} batches made from one lot")
        with TraceNodeHarness.create(Path(tmp) / "fanout", participants=PARTIES) as h:
            origin = h.batch_id(build_fanout(h, batches=trace_batches))
            found = len(h.provenance_service.trace(origin).batches) - 1
            settle_heap()
            progress(f"trace: {repeats} downstream traces")
            trace_ms = _p50_ms(lambda: h.provenance_service.trace(origin), repeats)
    section.update(
        {
            "what": "the full, verified provenance of a batch (export from the store and every "
            "check of every event and batch against the chain). Headline: right after a new "
            "block (only answers no block can change are reused); cold: nothing reused (a "
            "process's first query); warm: no block since the previous query, whose chain "
            "answers are all reused (the flattering case, for reference only)",
            "workload": {
                "provenance_events": events,
                "provenance_levels": 5,
                "signers": len(PARTIES),
                "trace_batches": found,
            },
            "configuration": configuration,
            "rounds": repeats,
            "provenance_new_block_ms_p50": round(statistics.median(new_block), 1),
            "provenance_new_block_ms_p90": round(percentile(new_block, 0.9), 1),
            "provenance_cold_ms_p50": round(statistics.median(first), 1),
            "provenance_cold_ms_p90": round(percentile(first, 0.9), 1),
            "provenance_warm_ms_p50": round(statistics.median(again), 1),
            "downstream_trace_ms_p50": round(trace_ms, 1),
            "accept_to_proof_idle_s_p50": round(latency, 3),
            "accept_to_proof_idle": f"{latency_samples} events sent one at a time to an idle "
            "node, its commit worker at serve's policy",
        }
    )
    return section
