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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from coincurve import PublicKey

from node.events.hashing import keccak
from node.events.signatures import SignatureVerifier, address_of, sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Domain, Role, TraceEvent
from node.ingest.service import IngestService, Outcome
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

    @property
    def ingest_vs_raw(self) -> float:
        return self.ingest_events_per_s / self.raw_recover_per_s

    @property
    def full_vs_empty(self) -> float | None:
        if self.ingest_events_per_s_full is None:
            return None
        return self.ingest_events_per_s_full / self.ingest_events_per_s


class EventFactory:
    """Signed COMMISSION events of fresh lots, from a few producers."""

    def __init__(self, producers: int = 8, domain: Domain = DOMAIN) -> None:
        self.domain = domain
        self.keys = [os.urandom(32) for _ in range(producers)]
        self.nonces = [0] * producers
        self.serial = 0

    def register(self, store: Store) -> None:
        with store.write() as conn:
            for index, key in enumerate(self.keys, start=1):
                store.put_participant(
                    conn,
                    participant_id=index,
                    key=address_of(key),
                    name=f"producer {index}",
                    prefix="",
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
            event = TraceEvent(
                Action.COMMISSION,
                batch_id=keccak(b"bench-lot-%d" % self.serial),
                product=PRODUCT,
                quantity=1000,
                event_time=1_732_000_000_000 + self.serial,
                payload_hash=keccak(b"payload-%d" % self.serial),
                nonce=self.nonces[who],
            )
            made.append(SignedEvent(event, sign_digest(event.digest(self.domain), self.keys[who])))
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


def _bulks(items: list[SignedEvent], size: int) -> Iterator[list[SignedEvent]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _timed_ingest(service: IngestService, signed: list[SignedEvent], bulk_size: int) -> float:
    start = time.perf_counter()
    accepted = 0
    for bulk in _bulks(signed, bulk_size):
        accepted += sum(r.outcome is Outcome.ACCEPTED for r in service.submit_many(bulk))
    elapsed = time.perf_counter() - start
    if accepted != len(signed):
        raise RuntimeError(f"only {accepted} of {len(signed)} benchmark events were accepted")
    return len(signed) / elapsed


def _lookup_p50(store: Store, batch_ids: list[bytes]) -> float:
    """Median time to read one batch and all its events, in milliseconds."""
    samples = []
    with store.read() as conn:
        for batch_id in batch_ids:
            start = time.perf_counter()
            store.batch(conn, batch_id)
            store.events_of_batch(conn, batch_id)
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_ingest(
    *,
    events: int = 20_000,
    bulk_size: int = 1_000,
    workers: int | None = None,
    preload: int = 0,
    data_dir: Path | None = None,
    progress: bool = False,
) -> IngestFigures:
    """Ingest ``events`` signed events in bulks into a fresh SQLite store, timed.

    With ``preload``, the store is then filled to ``preload`` more events through the same
    path and the timed ingest and lookups are repeated: one run, so the two figures are
    comparable on a shared, noisy machine.
    """
    workers = workers or os.cpu_count() or 1
    rng = random.Random(7)  # noqa: S311 - picks benchmark samples, not secrets
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(sqlite_url(data_dir or Path(tmp)))
        factory = EventFactory()
        factory.register(store)
        verifier = SignatureVerifier(workers=workers)
        service = IngestService(store=store, domain=DOMAIN, verifier=verifier)
        try:
            signed = factory.make(events)
            raw = raw_recover_rate(signed[: min(len(signed), 5_000)])
            empty_rate = _timed_ingest(service, signed, bulk_size)
            sample = [s.event.batch_id for s in rng.sample(signed, min(200, len(signed)))]
            empty_lookup = _lookup_p50(store, sample)
            empty_rss = _peak_rss_mb()
            full_rate = full_lookup = full_rss = None
            if preload:
                done = 0
                while done < preload:
                    chunk = min(50_000, preload - done)
                    for bulk in _bulks(factory.make(chunk), bulk_size):
                        service.submit_many(bulk)
                    done += chunk
                    if progress:
                        print(f"preloaded {done:,} events", flush=True)
                more = factory.make(events)
                full_rate = _timed_ingest(service, more, bulk_size)
                sample = [s.event.batch_id for s in rng.sample(more, min(200, len(more)))]
                full_lookup = _lookup_p50(store, sample)
                full_rss = _peak_rss_mb()
        finally:
            verifier.close()
            store.close()
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
    )
