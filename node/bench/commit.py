"""Commit throughput and anchoring cost, in serve's configuration (node.bench.serving).

``lifecycle_ops_per_s``: accepted events committed by serve's commit worker on the
persistent embedded chain (relayed to BatchRegistry in transactions of up to 300
operations, each window anchored in the same transaction) until none is left; the
mixed workload and the easy one (COMMISSIONs only) in rounds that alternate.
``gas_per_event``: the commit transactions' gas over the events they anchored, for each
workload; ``gas_per_event_window``: one window of 1,000 mixed events (in the enforced
mode the window is cut at 300 lifecycle operations: ``window_events`` says how many it
held); ``gas_per_event_observations``: one window of 1,000 observations alone, the
cheapest there is (labelled as such).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from node.bench.ingest import EventFactory, describe_easy, ingest_all, producers_of
from node.bench.ingest import submit_requests as submit_mixed
from node.bench.machine import load_average, loads, median_of, rotated
from node.bench.serving import BenchNode
from node.bench.workload import MIXED_STEPS, MixedWorkload, Participant
from node.commit.custody import CustodyMode
from node.commit.worker import CommitWorker
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Role, TraceEvent
from node.runtime import Progress, quiet


def _drain(worker: CommitWorker) -> dict[str, float]:
    """Commit until idle, timed; the windows' events, operations and gas."""
    events = gas = 0
    began = time.perf_counter()
    while (result := worker.commit_once()) is not None:
        if result.rejected:
            raise RuntimeError(f"{result.rejected} bench events were rejected by the chain")
        events += result.event_count
        gas += result.gas_used
    return {"events": events, "gas": gas, "seconds": time.perf_counter() - began}


def measure_commit(
    *,
    operations: int = 600,
    rounds: int = 3,
    window_events: int = 1000,
    participants: int = 100,
    custody: CustodyMode = CustodyMode.ENFORCED,
    progress: Progress = quiet,
) -> dict[str, Any]:
    section: dict[str, Any] = {}
    lots = max(1, operations // sum(s.on_chain for s in MIXED_STEPS))
    mixed_ops = lots * sum(s.on_chain for s in MIXED_STEPS)
    with loads(section), tempfile.TemporaryDirectory() as tmp:
        progress("commit: a node as serve runs it (persistent chain, SQLite), participants")
        with BenchNode(Path(tmp) / "node", custody=custody) as bench:
            node = bench.node
            easy = EventFactory(domain=node.domain)
            bench.register(producers_of(easy))
            mixed = MixedWorkload(node.domain, participants_count=participants)
            ids = bench.register(mixed.participants)
            auditor = Participant("bench auditor", os.urandom(32), Role.AUDITOR, "")
            bench.register([auditor])
            worker = bench.worker()

            def easy_round() -> dict[str, float]:
                ingest_all(node.ingest, easy.make(operations), 1000)
                drained = _drain(worker)
                drained["operations"] = operations
                return drained

            def mixed_round() -> dict[str, float]:
                submit_mixed(node, ids, mixed.make(lots))
                drained = _drain(worker)
                drained["operations"] = mixed_ops
                return drained

            by_round = []
            for index in range(rounds):
                progress(f"commit: round {index + 1} of {rounds}: easy and mixed (timed)")
                load = load_average()
                easy_done, mixed_done = rotated(index, [easy_round, mixed_round])
                by_round.append(
                    {
                        "easy_ops_per_s": round(easy_done["operations"] / easy_done["seconds"], 1),
                        "mixed_ops_per_s": round(
                            mixed_done["operations"] / mixed_done["seconds"], 1
                        ),
                        "mixed_events_per_s": round(
                            mixed_done["events"] / mixed_done["seconds"], 1
                        ),
                        "easy_gas_per_event": round(easy_done["gas"] / easy_done["events"], 1),
                        "mixed_gas_per_event": round(mixed_done["gas"] / mixed_done["events"], 1),
                        "load_average": load,
                    }
                )
            progress(f"commit: gas of one window of {window_events:,} mixed events")
            window_gas, window_size = _mixed_window(bench, mixed, ids, window_events)
            progress(f"commit: gas of a window of {window_events:,} observations alone")
            observations_gas = _observation_window(bench, easy, auditor, window_events)
            configuration = bench.configuration(commit=False) | {
                "commit_worker": "serve's, driven by commit_once until idle (timed)"
            }
    section.update(
        {
            "what": "accepted events committed (relayed and anchored) by serve's commit "
            "worker on the persistent chain until none is left; ingest not timed",
            "workloads": {"easy": describe_easy(easy, 1000), "mixed": mixed.describe()},
            "configuration": configuration,
            "rounds": rounds,
            "operations_per_round": {"easy": operations, "mixed": mixed_ops},
            "by_round": by_round,
            "lifecycle_ops_per_s": median_of(by_round, "mixed_ops_per_s"),
            "lifecycle_ops_per_s_easy": median_of(by_round, "easy_ops_per_s"),
            "events_per_s": median_of(by_round, "mixed_events_per_s"),
            "gas_per_event": median_of(by_round, "mixed_gas_per_event"),
            "gas_per_event_easy": median_of(by_round, "easy_gas_per_event"),
            "gas_per_event_window": round(window_gas, 1),
            "window_events": window_size,
            "gas_per_event_observations": round(observations_gas, 1),
            "observation_window_events": window_events,
        }
    )
    return section


def _mixed_window(
    bench: BenchNode, mixed: MixedWorkload, ids: list[int], window_events: int
) -> tuple[float, int]:
    """Gas per event of the first window committed of ``window_events`` mixed events (the
    workload's mix of lifecycle events and observations), and that window's events: all
    of them in the anchor-only mode, as many as 300 lifecycle operations allow when
    enforced."""
    worker = bench.worker()
    _drain(worker)
    submit_mixed(bench.node, ids, mixed.make(-(-window_events // len(MIXED_STEPS))))
    result = worker.commit_once()
    if result is None or result.rejected:
        raise RuntimeError("the mixed window was not committed")
    _drain(worker)
    return result.gas_used / result.event_count, result.event_count


def _observation_window(
    bench: BenchNode, easy: EventFactory, auditor: Participant, window_events: int
) -> float:
    """Gas per event of one commit of ``window_events`` observations of one lot."""
    node = bench.node
    lot = easy.make(1)
    ingest_all(node.ingest, lot, 1)
    worker = bench.worker()
    _drain(worker)
    with node.store.read() as conn:
        state = node.store.batches.get(conn, lot[0].event.batch_id)
    head = state.head if state else bytes(32)
    observations = []
    for nonce in range(1, window_events + 1):
        event = TraceEvent(
            Action.OBSERVE,
            batch_id=lot[0].event.batch_id,
            prev_event_hash=head,
            event_time=1_732_000_000_000 + nonce,
            payload_hash=nonce.to_bytes(32, "big"),
            nonce=nonce,
        )
        observations.append(SignedEvent(event, sign_digest(event.digest(node.domain), auditor.key)))
    ingest_all(node.ingest, observations, window_events)
    result = worker.commit_once()
    if result is None or result.event_count != window_events:
        raise RuntimeError("the observation window was not committed whole")
    return result.gas_used / window_events


def measure_chain_storage(
    *,
    operations: int = 600,
    rounds: int = 3,
    participants: int = 100,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Relayed lifecycle ops/s of the persistent chain against the same chain in memory:
    two nodes made alike (the in-memory one runs a copy of the chain its ``init_node``
    wrote), the same mixed operations committed on each by serve's commit worker, the two
    interleaved over rounds; their ratio is what the chain's database costs."""
    section: dict[str, Any] = {}
    lots = max(1, operations // sum(s.on_chain for s in MIXED_STEPS))
    mixed_ops = lots * sum(s.on_chain for s in MIXED_STEPS)
    with loads(section), tempfile.TemporaryDirectory() as tmp:
        progress("chain storage: two nodes, persistent and in-memory chain, participants")
        with (
            BenchNode(Path(tmp) / "persistent") as persistent,
            BenchNode(Path(tmp) / "memory", chain_in_memory=True) as memory,
        ):
            relays = [RelayRound(bench, participants, lots) for bench in (persistent, memory)]
            by_round = []
            for index in range(rounds):
                progress(f"chain storage: round {index + 1} of {rounds}: persistent, in memory")
                load = load_average()
                on_disk, in_memory = rotated(index, relays)
                by_round.append(
                    {
                        "persistent_ops_per_s": round(mixed_ops / on_disk, 1),
                        "memory_ops_per_s": round(mixed_ops / in_memory, 1),
                        "persistent_vs_memory": round(in_memory / on_disk, 3),
                        "load_average": load,
                    }
                )
            configuration = {
                "persistent": persistent.configuration(commit=False),
                "memory": memory.configuration(commit=False),
                "commit_worker": "serve's, driven by commit_once until idle (timed)",
            }
            workload = relays[0].workload.describe()
    section.update(
        {
            "what": "the same mixed lifecycle operations relayed and anchored by serve's "
            "commit worker on the persistent chain and on an in-memory copy of it, the "
            "two interleaved over rounds; ingest not timed",
            "workload": workload,
            "configuration": configuration,
            "rounds": rounds,
            "operations_per_round": mixed_ops,
            "by_round": by_round,
            "persistent_ops_per_s": median_of(by_round, "persistent_ops_per_s"),
            "memory_ops_per_s": median_of(by_round, "memory_ops_per_s"),
            # the median of the rounds' ratios: each round's two runs are neighbours in time
            "persistent_vs_memory": median_of(by_round, "persistent_vs_memory"),
        }
    )
    return section


class RelayRound:
    """One node's round of :func:`measure_chain_storage`: ``lots`` lots of the mixed
    workload accepted (not timed), then committed until none is left; the seconds that
    took (also scripts/profile_relay.py's, in its two halves)."""

    def __init__(self, bench: BenchNode, participants: int, lots: int) -> None:
        self.bench = bench
        self.lots = lots
        self.workload = MixedWorkload(bench.node.domain, participants_count=participants)
        self.ids = bench.register(self.workload.participants)
        self.worker = bench.worker()

    def __call__(self) -> float:
        self.accept()
        return self.commit()

    def accept(self) -> None:
        submit_mixed(self.bench.node, self.ids, self.workload.make(self.lots))

    def commit(self) -> float:
        return _drain(self.worker)["seconds"]
