"""The monitor's cycle: walk the store, ask the chain in batches, run the rules, and record
each finding as an alert (raised once per incident, updated as it recurs).

One cycle reads every confirmed window with its events and every custody batch, page by
page, so a database edited by hand anywhere is caught within one cycle. The chain is asked
through :class:`node.chain.reader.ChainReader`'s batched calls (one per page of roots or
batches), never inside a store transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from web3 import Web3

from node.chain.reader import ChainReader, Contracts
from node.context import Node
from node.events.typed_data import Domain
from node.monitor.integrity import check_custody, check_events, check_window
from node.store.records import Finding
from node.store.store import Store

log = logging.getLogger(__name__)

#: Windows or batches read per page (and asked of the chain in one batched call).
PAGE = 500


@dataclass(slots=True)
class CycleReport:
    """What one cycle looked at and found."""

    windows: int = 0
    events: int = 0
    batches: int = 0
    raised: int = 0  # new incidents
    updated: int = 0  # incidents seen again
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Monitor:
    """The integrity monitor over one node's store and chain."""

    @classmethod
    def of(cls, node: Node) -> Monitor:
        """The monitor of an opened node."""
        d = node.deployment
        contracts = Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
        return cls(store=node.store, w3=node.w3, contracts=contracts, domain=node.domain)

    store: Store
    w3: Web3
    contracts: Contracts
    domain: Domain
    clock: Callable[[], float] = time.time
    page: int = PAGE

    def cycle(self) -> CycleReport:
        """One full pass over the store; every finding recorded as an alert."""
        report = CycleReport()
        self._windows(report)
        self._custody(report)
        now = int(self.clock() * 1000)
        with self.store.write() as conn:
            for finding in report.findings:
                _, new = self.store.alerts.record(conn, finding, now=now)
                if new:
                    report.raised += 1
                else:
                    report.updated += 1
        for finding in report.findings:
            log.warning("integrity alert %s: %s", finding.kind, finding.detail)
        return report

    def run(self, stop: threading.Event, *, interval: float) -> None:
        """Cycle every ``interval`` seconds until ``stop`` is set; a failed cycle (the chain
        or the store unreachable) is logged and retried at the next turn."""
        while not stop.is_set():
            try:
                self.cycle()
            except Exception as exc:  # any failure waits for the next turn
                log.warning("monitor cycle failed (%s); retrying in %.0f s", exc, interval)
            stop.wait(interval)

    def _windows(self, report: CycleReport) -> None:
        reader = ChainReader(self.w3, self.contracts)
        after = 0
        while True:
            with self.store.read() as conn:
                windows = self.store.windows.confirmed(conn, after=after, limit=self.page)
                members = self.store.windows.events_of(conn, [w.id for w in windows])
            if not windows:
                return
            reader.prefetch(roots=[w.root for w in windows])
            for window in windows:
                events = members[window.id]
                report.findings += check_window(window, events, reader.anchor(window.root))
                report.findings += check_events(events, self.domain)
                report.events += len(events)
            report.windows += len(windows)
            after = windows[-1].id

    def _custody(self, report: CycleReport) -> None:
        reader = ChainReader(self.w3, self.contracts)
        after = b""
        while True:
            with self.store.read() as conn:
                unsettled = self.store.events.unsettled_batches(conn)
                local = self.store.batches.custody_page(conn, after=after, limit=self.page)
            if not local:
                return
            reader.prefetch(batches=[b.batch_id for b in local])
            chain = {b.batch_id: reader.batch(b.batch_id) for b in local}
            candidates = check_custody(local, chain, unsettled)
            if candidates:
                # The store may have moved on while the chain was asked (an event accepted
                # and anchored meanwhile): only what still disagrees is a finding.
                suspects = {f.batch_id for f in candidates if f.batch_id is not None}
                with self.store.read() as conn:
                    unsettled = self.store.events.unsettled_batches(conn)
                    fresh = self.store.batches.load(conn, suspects)
                report.findings += check_custody(fresh.values(), chain, unsettled)
            report.batches += len(local)
            after = local[-1].batch_id
