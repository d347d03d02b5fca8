"""Ingest throughput: signed events verified and durably stored through the bulk path.

Reports next to it the bare coincurve recovery rate measured in the same run, so the
ratio says how close ingest comes to the cost of its one unavoidable cryptographic step
on this machine, whatever else the machine is doing.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coincurve import PublicKey

from node.events.hashing import keccak
from node.events.identifiers import parse_identifier
from node.events.signatures import SignatureVerifier, address_of, sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Domain, Role, TraceEvent
from node.ingest.service import IngestService, Outcome
from node.runtime import Progress, quiet
from node.store.engine import sqlite_url
from node.store.store import Store

DOMAIN = Domain(31337, bytes.fromhex("5FbDB2315678afecb367f032d93F642f64180aa3"))
PRODUCT = keccak(b"https://id.gs1.org/01/09506000134352")


@dataclass(frozen=True, slots=True)
class IngestFigures:
    events: int
    bulk_size: int
    workers: int
    preloaded: int
    ingest_events_per_s: float
    raw_recover_per_s: float
    peak_rss_mb: float
    lookup_ms_p50: float
    #: With a preload: the same measures on the full store.
    ingest_events_per_s_full: float | None = None
    lookup_ms_p50_full: float | None = None
    peak_rss_mb_full: float | None = None
    #: The small store's rounds, timed beside the full store's (median).
    ingest_events_per_s_small: float | None = None
    #: Resident memory (MB) after a tenth of the preload and after all of it: flat when
    #: nothing grows with the store.
    rss_mb_preload_tenth: float | None = None
    rss_mb_preload_end: float | None = None
    #: Median of the ratios of rounds timed back to back on the full and the small store.
    full_vs_empty: float | None = None
    rounds: int = 1

    @property
    def ingest_vs_raw(self) -> float:
        return self.ingest_events_per_s / self.raw_recover_per_s


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


def raw_recover_rate(signed: list[SignedEvent]) -> float:
    """Bare coincurve recoveries per second, one core, over digests computed beforehand."""
    pairs = [
        (s.event.digest(DOMAIN), s.signature[:64] + bytes((s.signature[64] - 27,))) for s in signed
    ]
    start = time.perf_counter()
    for digest, signature in pairs:
        PublicKey.from_signature_and_message(signature, digest, hasher=None)
    return len(pairs) / (time.perf_counter() - start)


class IngestStores:
    """Fresh SQLite stores for an ingest measurement, in folders under ``root``: each with
    the factory's producers registered and an ``IngestService`` on one shared signature
    verifier (``workers`` processes; None: one per core). ``close()`` closes them all.

    ``tracenode bench`` (:func:`measure_ingest`) and scripts/profile_ingest.py compare a
    small store with a full one this way."""

    def __init__(self, root: Path, factory: EventFactory, *, workers: int | None) -> None:
        self.root = root
        self.factory = factory
        self.verifier = SignatureVerifier(workers=workers)
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


def measure_ingest(
    *,
    events: int = 20_000,
    bulk_size: int = 1_000,
    workers: int | None = None,
    preload: int = 0,
    rounds: int = 5,
    data_dir: Path | None = None,
    progress: Progress = quiet,
) -> IngestFigures:
    """Ingest ``events`` signed events in bulks into a fresh SQLite store, timed.

    With ``preload``, a second store is filled with ``preload`` events through the same
    path, then ``events`` more go to each store in ``rounds`` rounds that alternate
    between them. Each full-store round is compared with the small-store round timed
    right next to it, and the median of those ratios is reported: on a shared machine
    the load changes over minutes, and only figures measured side by side compare.
    """
    workers = workers or os.cpu_count() or 1
    rng = random.Random(7)  # noqa: S311 - picks benchmark samples, not secrets
    factory = EventFactory()
    with tempfile.TemporaryDirectory() as tmp:
        stores = IngestStores(data_dir or Path(tmp), factory, workers=workers)
        try:
            progress("ingest: registering the signers in a fresh store")
            store, service = stores.open("empty")
            progress(f"ingest: signing {events:,} events")
            signed = factory.make(events)
            progress("ingest: raw secp256k1 recovery, one core")
            raw = raw_recover_rate(signed[: min(len(signed), 5_000)])
            progress(f"ingest: starting {workers} verifier process(es)")
            _timed_ingest(service, factory.make(bulk_size), bulk_size)  # start the workers
            progress(f"ingest: {events:,} events in bulks of {bulk_size:,} (timed)")
            empty_rate = _timed_ingest(service, signed, bulk_size)
            progress("ingest: batch and event lookups")
            sample = [s.event.batch_id for s in rng.sample(signed, min(200, len(signed)))]
            empty_lookup = _lookup_p50(store, sample)
            empty_rss = _peak_rss_mb()
            full_rate = small_rate = full_lookup = full_rss = ratio = None
            rss_tenth = rss_end = None
            if preload:
                full_store, full_service = stores.open("full")
                reported = 0

                def preloaded(done: int) -> None:
                    nonlocal rss_tenth, reported
                    if rss_tenth is None and done >= preload // 10:
                        rss_tenth = _rss_mb()
                    if done // 50_000 > reported // 50_000:
                        progress(f"preload: {done:,} of {preload:,} events in the full store")
                    reported = done

                fill(full_service, factory, preload, bulk_size, after_chunk=preloaded)
                rss_end = _rss_mb()
                per_round = max(bulk_size, events // rounds)
                full_rates, empty_rates, ratios = [], [], []
                timed: list[SignedEvent] = []
                for index in range(rounds):
                    progress(f"preload: round {index + 1} of {rounds}, full and small store")
                    batch_full, batch_empty = factory.make(per_round), factory.make(per_round)
                    timed += batch_full
                    # Alternate which store goes first, so neither always follows the other.
                    if index % 2:
                        e = _timed_ingest(service, batch_empty, bulk_size)
                        f = _timed_ingest(full_service, batch_full, bulk_size)
                    else:
                        f = _timed_ingest(full_service, batch_full, bulk_size)
                        e = _timed_ingest(service, batch_empty, bulk_size)
                    full_rates.append(f)
                    empty_rates.append(e)
                    ratios.append(f / e)
                full_rate = statistics.median(full_rates)
                small_rate = statistics.median(empty_rates)
                ratio = statistics.median(ratios)
                sample = [s.event.batch_id for s in rng.sample(timed, min(200, len(timed)))]
                full_lookup = _lookup_p50(full_store, sample)
                full_rss = _peak_rss_mb()
        finally:
            stores.close()
    return IngestFigures(
        events=events,
        bulk_size=bulk_size,
        workers=workers,
        preloaded=preload,
        ingest_events_per_s=empty_rate,
        raw_recover_per_s=raw,
        peak_rss_mb=empty_rss,
        lookup_ms_p50=empty_lookup,
        ingest_events_per_s_full=full_rate,
        lookup_ms_p50_full=full_lookup,
        peak_rss_mb_full=full_rss,
        ingest_events_per_s_small=small_rate,
        rss_mb_preload_tenth=rss_tenth,
        rss_mb_preload_end=rss_end,
        full_vs_empty=ratio,
        rounds=rounds if preload else 1,
    )
