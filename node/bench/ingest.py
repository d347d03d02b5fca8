"""Ingest throughput: signed events verified and durably stored through the bulk path.

``measure_ingest`` runs in serve's configuration (node.bench.serving) with serve's
commit process running, the easy and the mixed workload (node.bench.workload), against bare
coincurve recovery on all cores, in rounds interleaved in the same run: the ratio says
how close ingest comes to the cost of its one unavoidable cryptographic step on this
machine, whatever else the machine is doing. ``measure_store_growth`` compares a store
holding a million events with a small one, side by side.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from node.bench.machine import RawRecovery, load_average, loads, median_of, rotated
from node.bench.serving import BenchNode
from node.bench.workload import MIXED_STEPS, MixedWorkload, Participant, Request
from node.context import RECOVERY_WORKERS, Node
from node.events.hashing import keccak
from node.events.identifiers import PrefixKind, parse_identifier
from node.events.signatures import SignatureVerifier, address_of, sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Domain, Role, TraceEvent
from node.ingest.service import IngestService, Outcome
from node.participants.sync import CURSOR as PARTICIPANTS_CURSOR
from node.runtime import Progress, quiet
from node.store.engine import sqlite_url
from node.store.store import Store

DOMAIN = Domain(31337, bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3"))
PRODUCT = keccak(b"https://id.gs1.org/01/09506000134352")


class EventFactory:
    """Signed COMMISSION events of fresh lots, from a few producers, each lot a handle
    under its producer's own prefix (``prefixes``: register each producer with its own)."""

    def __init__(self, producers: int = 8, domain: Domain = DOMAIN) -> None:
        self.domain = domain
        self.keys = [os.urandom(32) for _ in range(producers)]
        self.prefixes = [f"88.{int.from_bytes(os.urandom(4))}.{i}" for i in range(producers)]
        self.nonces = [0] * producers
        self.serial = 0

    def register(self, store: Store) -> None:
        """Mirror the producers into ``store``, each licensed its prefix."""
        with store.write() as conn:
            for index, key in enumerate(self.keys, start=1):
                store.participants.put(
                    conn,
                    participant_id=index,
                    key=address_of(key),
                    name=f"producer {index}",
                    prefix=self.prefixes[index - 1],
                    roles=int(Role.PRODUCER),
                    active=True,
                    block=1,
                )
                store.licences.grant(
                    conn,
                    kind=PrefixKind.HANDLE,
                    prefix=self.prefixes[index - 1],
                    holder=index,
                    valid_from=1,
                    valid_until=0,
                    block=1,
                    log_index=index,
                )
            # The mirror has read the chain to block 1, where the licences were granted.
            store.participants.set_cursor(conn, PARTICIPANTS_CURSOR, 1)

    def make(self, count: int) -> list[SignedEvent]:
        made = []
        for _ in range(count):
            self.serial += 1
            who = self.serial % len(self.keys)
            self.nonces[who] += 1
            lot = parse_identifier(f"{self.prefixes[who]}/bench-lot-{self.serial}")
            event = TraceEvent(
                Action.COMMISSION,
                batch_id=lot.batch_id,
                product=PRODUCT,
                quantity=1000,
                event_time=1_732_000_000_000 + self.serial,
                payload_hash=keccak(b"payload-%d" % self.serial),
                nonce=self.nonces[who],
            )
            signature = sign_digest(event.digest(self.domain), self.keys[who])
            made.append(SignedEvent(event, signature, identifiers=(lot.canonical,)))
        return made


class IngestStores:
    """Fresh SQLite stores for an ingest measurement, in folders under ``root``: each with
    the factory's producers registered and an ``IngestService`` on one shared signature
    verifier (``workers`` processes; None: one per core). ``close()`` closes them all.

    ``tracenode bench`` (:func:`measure_store_growth`) and scripts/profile_ingest.py compare a
    small store with a full one this way."""

    def __init__(self, root: Path, factory: EventFactory, *, workers: int | None) -> None:
        self.root = root
        self.factory = factory
        self.verifier = SignatureVerifier(workers=workers)
        self.verifier.warm()  # its processes started before anything is timed, as serve's
        self._stores: list[Store] = []

    def open(self, name: str) -> tuple[Store, IngestService]:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        store = Store.open(sqlite_url(directory))
        self._stores.append(store)
        self.factory.register(store)
        service = IngestService(store=store, domain=self.factory.domain, verifier=self.verifier)
        return store, service

    def close(self) -> None:
        self.verifier.close()
        for store in self._stores:
            store.close()


def ingest_all(service: IngestService, signed: Sequence[SignedEvent], bulk_size: int) -> None:
    """Ingest ``signed`` in bulks of ``bulk_size``; every event must be accepted."""
    accepted = 0
    for start in range(0, len(signed), bulk_size):
        results = service.submit_many(signed[start : start + bulk_size])
        accepted += sum(r.outcome is Outcome.ACCEPTED for r in results)
    if accepted != len(signed):
        raise RuntimeError(f"only {accepted} of {len(signed)} benchmark events were accepted")


def fill(
    service: IngestService,
    factory: EventFactory,
    count: int,
    bulk_size: int,
    *,
    after_chunk: Callable[[int], None] | None = None,
) -> None:
    """Fill ``service``'s store with ``count`` fresh events, signed and ingested ten bulks
    at a time; ``after_chunk(done)`` after each chunk."""
    done = 0
    while done < count:
        chunk = min(10 * bulk_size, count - done)
        ingest_all(service, factory.make(chunk), bulk_size)
        done += chunk
        if after_chunk is not None:
            after_chunk(done)


def _timed_ingest(service: IngestService, signed: list[SignedEvent], bulk_size: int) -> float:
    start = time.perf_counter()
    ingest_all(service, signed, bulk_size)
    return len(signed) / (time.perf_counter() - start)


def _lookup_p50(store: Store, batch_ids: list[bytes]) -> float:
    """Median time to read one batch and all its events, in milliseconds."""
    samples = []
    with store.read() as conn:
        for batch_id in batch_ids:
            start = time.perf_counter()
            store.batches.get(conn, batch_id)
            store.events.of_batches(conn, [batch_id])
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """Resident memory now (Linux); the peak where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return _peak_rss_mb()
    return pages * resource.getpagesize() / 2**20


def producers_of(factory: EventFactory) -> list[Participant]:
    """The easy workload's producers, to register on a chain."""
    return [
        Participant(
            name=f"bench producer {i + 1}",
            key=key,
            roles=Role.PRODUCER,
            company_prefix=factory.prefixes[i],
        )
        for i, key in enumerate(factory.keys)
    ]


def describe_easy(factory: EventFactory, bulk_size: int) -> dict[str, Any]:
    return {
        "name": "easy (today's: the easiest there is)",
        "participants": len(factory.keys),
        "per_lot": ["COMMISSION"],
        "lifecycle_share": 1.0,
        "identifiers": "a handle under its producer's own prefix on every COMMISSION",
        "payload_bytes": "none (a payload hash only)",
        "request": f"{bulk_size} events of all producers in one submit_many",
    }


def submit_requests(
    node: Node, ids: Sequence[int], phases: Sequence[Sequence[Request]]
) -> dict[bytes, float]:
    """Submit the mixed workload's requests as the gateway does (each as its API key's
    participant), phase after phase; every event must be accepted. Returns each event's
    hash with the ``time.monotonic()`` at which its request returned."""
    accepted: dict[bytes, float] = {}
    for phase in phases:
        for request in phase:
            results = node.ingest.submit_many(
                request.events, as_participant=ids[request.participant]
            )
            now = time.monotonic()
            for result in results:
                if result.outcome is not Outcome.ACCEPTED:
                    raise RuntimeError(
                        f"a bench event was not accepted: {result.outcome.value} {result.error}"
                    )
                accepted[result.event_hash] = now
    return accepted


def _timed_requests(node: Node, ids: Sequence[int], phases: Sequence[Sequence[Request]]) -> float:
    began = time.perf_counter()
    done = len(submit_requests(node, ids, phases))
    return done / (time.perf_counter() - began)


def measure_ingest(
    *,
    events: int = 20_000,
    rounds: int = 5,
    bulk_size: int = 1_000,
    participants: int = 100,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Ingest in serve's configuration with its commit process running, the
    easy and the mixed workload, against bare recovery on all cores: ``rounds``
    interleaved rounds of ``events / rounds`` events of each workload (signing not
    timed)."""
    per_round = max(len(MIXED_STEPS), events // rounds)
    lots = per_round // len(MIXED_STEPS)
    section: dict[str, Any] = {}
    with loads(section), tempfile.TemporaryDirectory() as tmp:
        progress("ingest: a node as serve runs it (persistent chain, SQLite), participants")
        raw = RawRecovery()
        bench = BenchNode(Path(tmp) / "node")
        try:
            node = bench.node
            easy = EventFactory(domain=node.domain)
            bench.register(producers_of(easy))
            mixed = MixedWorkload(node.domain, participants_count=participants)
            ids = bench.register(mixed.participants)
            progress(f"ingest: signing {rounds} x {per_round:,} easy and mixed events")
            easy_rounds = [easy.make(per_round) for _ in range(rounds)]
            mixed_rounds = [mixed.make(lots) for _ in range(rounds)]
            warm_easy, warm_mixed = easy.make(min(bulk_size, 200)), mixed.make(10)
            with bench.committing():
                node = bench.node  # opened again as serve's gateway opens it
                ingest_all(node.ingest, warm_easy, bulk_size)
                submit_requests(node, ids, warm_mixed)
                results = []
                for index in range(rounds):
                    progress(f"ingest: round {index + 1} of {rounds}: raw, easy, mixed (timed)")
                    load = load_average()
                    raw_rate, easy_rate, mixed_rate = rotated(
                        index,
                        [
                            partial(raw.rate, easy_rounds[index], node.domain),
                            partial(_timed_ingest, node.ingest, easy_rounds[index], bulk_size),
                            partial(_timed_requests, node, ids, mixed_rounds[index]),
                        ],
                    )
                    results.append(
                        {
                            "raw_recover_all_cores_per_s": round(raw_rate, 1),
                            "easy_events_per_s": round(easy_rate, 1),
                            "mixed_events_per_s": round(mixed_rate, 1),
                            "easy_vs_raw": round(easy_rate / raw_rate, 3),
                            "mixed_vs_raw": round(mixed_rate / raw_rate, 3),
                            "load_average": load,
                        }
                    )
                progress("ingest: stopping the commit worker")
            configuration = bench.configuration(commit=True)
        finally:
            bench.close()
            raw.close()
    section.update(
        {
            "what": "signed events verified and durably stored by IngestService.submit_many "
            "in a node opened as serve's gateway opens it, serve's commit process running "
            "beside it; signing not timed. "
            "raw: bare coincurve recovery of the same round's signatures on every core (a "
            "process each). Steps rotate each round.",
            "workloads": {
                "easy": describe_easy(easy, bulk_size),
                "mixed": mixed.describe(),
            },
            "configuration": configuration,
            "rounds": rounds,
            "events_per_round": {"easy": per_round, "mixed": lots * len(MIXED_STEPS)},
            "by_round": results,
            "mixed_events_per_s": median_of(results, "mixed_events_per_s"),
            "easy_events_per_s": median_of(results, "easy_events_per_s"),
            "raw_recover_all_cores_per_s": median_of(results, "raw_recover_all_cores_per_s"),
            "mixed_vs_raw": median_of(results, "mixed_vs_raw"),
            "easy_vs_raw": median_of(results, "easy_vs_raw"),
        }
    )
    return section


def measure_store_growth(
    *,
    events: int = 20_000,
    bulk_size: int = 1_000,
    preload: int = 1_000_000,
    rounds: int = 7,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """A store holding ``preload`` events against a small one, side by side.

    One store is filled with ``preload`` easy events through the bulk path; then
    ``events`` more go to it and as many to a small store, in ``rounds`` rounds that
    alternate which store goes first. Each full-store round is compared with the
    small-store round timed next to it, and the median of those ratios is reported, with
    every round's. Store only (no chain, no commit), recovery as serve's.
    """
    workers = RECOVERY_WORKERS
    rng = random.Random(7)  # noqa: S311 - picks benchmark samples, not secrets
    factory = EventFactory()
    section: dict[str, Any] = {}
    with loads(section), tempfile.TemporaryDirectory() as tmp:
        stores = IngestStores(Path(tmp), factory, workers=workers)
        try:
            store, service = stores.open("small")
            full_store, full_service = stores.open("full")
            ingest_all(service, factory.make(bulk_size), bulk_size)
            reported = 0
            rss_tenth: float | None = None

            def preloaded(done: int) -> None:
                nonlocal rss_tenth, reported
                if rss_tenth is None and done >= preload // 10:
                    rss_tenth = _rss_mb()
                if done // 50_000 > reported // 50_000:
                    progress(f"store growth: {done:,} of {preload:,} events in the full store")
                reported = done

            progress(f"store growth: filling a store with {preload:,} events")
            fill(full_service, factory, preload, bulk_size, after_chunk=preloaded)
            rss_end = _rss_mb()
            per_round = max(bulk_size, events // rounds)
            by_round = []
            timed: list[SignedEvent] = []
            for index in range(rounds):
                progress(f"store growth: round {index + 1} of {rounds}, full and small store")
                batch_full, batch_small = factory.make(per_round), factory.make(per_round)
                timed += batch_full
                load = load_average()
                if index % 2:
                    small = _timed_ingest(service, batch_small, bulk_size)
                    full = _timed_ingest(full_service, batch_full, bulk_size)
                else:
                    full = _timed_ingest(full_service, batch_full, bulk_size)
                    small = _timed_ingest(service, batch_small, bulk_size)
                by_round.append(
                    {
                        "full_events_per_s": round(full, 1),
                        "small_events_per_s": round(small, 1),
                        "full_vs_small": round(full / small, 3),
                        "load_average": load,
                    }
                )
            sample = [s.event.batch_id for s in rng.sample(timed, min(200, len(timed)))]
            full_lookup = _lookup_p50(full_store, sample)
            with store.read() as conn:
                small_count = store.events.count(conn)
        finally:
            stores.close()
    section.update(
        {
            "what": "easy events ingested into a store holding the preload and into a small "
            "one beside it, rounds alternating which goes first; store only (no chain, no "
            "commit)",
            "workload": describe_easy(factory, bulk_size),
            "configuration": {
                "store": "sqlite",
                "recovery_workers": workers,
                "chain": "none",
                "commit_worker": "off",
            },
            "preloaded": preload,
            "small_store_events_at_end": small_count,
            "rounds": rounds,
            "events_per_round": per_round,
            "by_round": by_round,
            "full_vs_small": median_of(by_round, "full_vs_small"),
            "full_events_per_s": median_of(by_round, "full_events_per_s"),
            "small_events_per_s": median_of(by_round, "small_events_per_s"),
            "lookup_ms_p50_full": round(full_lookup, 3),
            "rss_mb_preload_tenth": round(rss_tenth or 0.0, 1),
            "rss_mb_preload_end": round(rss_end, 1),
        }
    )
    return section
