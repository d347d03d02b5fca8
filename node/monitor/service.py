"""The monitor's cycle: walk the store, ask the chain in batches, run the rules, and record
each finding as an alert (raised once per incident, updated as it recurs).

Two passes, one set of rules:

- a **cycle** reads every confirmed window with its events and every custody batch, page
  by page, so a database edited by hand anywhere is caught within one cycle (serve: every
  ``--monitor-interval`` seconds, 300 by default). The chain is asked through
  :class:`node.chain.reader.ChainReader`'s batched calls (one per page of roots or
  batches), never inside a store transaction;
- a **watch** looks only at what is new since the last pass (every ``watch_interval``
  seconds, half a second by default): the events accepted since (and the rules over the
  batches they name, and over the recalled lots those batches descend from), the windows
  confirmed since, the refusals recorded since. Its cost follows what arrives, not the
  size of the store, so a rule fires within about a second of its triggering event. It
  does not compare the store with the chain (tampering is the cycle's to find), and rules
  that need time to pass (a shipment never received) fire at the next cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress
from sqlalchemy import Connection
from web3 import Web3

from node.chain.reader import ChainBatch, ChainReader, Contracts
from node.commit.custody import CustodyMode
from node.context import Node
from node.events.batch import BatchState
from node.events.signatures import Recover, recover_signers
from node.events.typed_data import Action, Domain
from node.ingest.chain_view import moved_on, unheld_heads
from node.monitor.access import AccessPolicy
from node.monitor.alertlog import (
    alert_log_domain,
    anchored_log,
    check_alerts,
    check_log,
)
from node.monitor.custody import CustodyPolicy, check_recall, check_times, check_transit
from node.monitor.goods import check_goods, sources
from node.monitor.integrity import check_custody, check_events, check_window
from node.monitor.products import ProductTable
from node.monitor.stream import watch_refusals
from node.runtime import Precedence
from node.store.models import EventStatus
from node.store.records import BatchEvent, EventRecord, Finding, RecordMemo, WindowRecord
from node.store.store import Store
from node.webhooks.messages import enqueue_alert

log = logging.getLogger(__name__)

#: Windows or batches read per page (and asked of the chain in one batched call).
PAGE = 500
#: Seconds between two looks at what is new (:meth:`Monitor.watch`).
WATCH_INTERVAL = 0.5
#: Events one watch reads at most; more wait for the next, taken at once.
WATCH_EVENTS = 2000
#: A watch defers to the commit worker's windows (``Monitor.precedence``) while its
#: oldest new event waits less than this many seconds: the bound on how far a watch
#: falls behind a stream that keeps the worker busy.
DEFER_LAG_S = 5.0
#: Seconds one step of a watch waits for a window at most.
DEFER_S = 1.0
#: A cycle defers to the windows too, but waits in all at most this share of the time it
#: has worked: under a stream that keeps the worker busy, a cycle takes at most about
#: (1 + this) times its working time, so it always finishes.
CYCLE_DEFER_SHARE = 1.0


@dataclass(slots=True)
class CycleReport:
    """What one cycle looked at and found."""

    windows: int = 0
    events: int = 0
    batches: int = 0
    refusals: int = 0  # refusals read from the record
    fresh: int = 0  # events accepted since the last pass (a watch)
    raised: int = 0  # new incidents
    updated: int = 0  # incidents seen again
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WatchMark:
    """How far the monitor has read (``/metrics``: how far behind it is): the last event
    it looked at (store id), and how long the oldest event of its latest look had waited
    for it, seconds (0 when that look found nothing new)."""

    through: int
    lag: float


@dataclass
class Monitor:
    """The integrity monitor over one node's store and chain."""

    @classmethod
    def of(cls, node: Node) -> Monitor:
        """The monitor of an opened node."""
        d = node.deployment
        contracts = Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
        return cls(
            store=node.store,
            w3=node.w3,
            contracts=contracts,
            domain=node.domain,
            products=ProductTable.from_env(),  # a bad table fails here, at start-up
            node_address=bytes.fromhex(node.config.node_address.removeprefix("0x")),
            custody=node.custody,
            challenge=node.deployment.custody_challenge,
            # In the node's recovery processes: in serve, this thread shares the
            # gateway's process with the request threads, the node's bottleneck.
            recover=node.verifier.recover_apart,
        )

    store: Store
    w3: Web3
    contracts: Contracts
    domain: Domain
    policy: CustodyPolicy = field(default_factory=CustodyPolicy)
    access: AccessPolicy = field(default_factory=AccessPolicy)
    products: ProductTable = field(default_factory=ProductTable.default)
    clock: Callable[[], float] = time.time
    page: int = PAGE
    #: The node key's address, which signs and anchors the alert log (None: not checked).
    node_address: bytes | None = None
    #: The node's custody mode: an anchor-only node's batches have no BatchRegistry
    #: record to compare with (its windows' anchored state roots are checked instead).
    custody: CustodyMode = CustodyMode.ENFORCED
    #: The deployment's CustodyChallenge (anchor-only), whose fraud marks it reads.
    challenge: ChecksumAddress | None = None
    #: How stored events' signers are recovered again (check_events).
    recover: Recover = recover_signers
    #: Work a pass defers to between its steps (serve's commit process: the commit
    #: worker's windows): a watch while it is not :data:`DEFER_LAG_S` behind, a cycle
    #: within :data:`CYCLE_DEFER_SHARE` of its work; None: none.
    precedence: Precedence | None = None
    #: Told after each pass how far the monitor has read (serve's ``/metrics``), and by
    #: :meth:`run` before its first (nothing read: every stored event is ahead of it).
    on_watch: Callable[[WatchMark], None] | None = None
    #: Where the next watch goes on from: the last event and confirmed window looked at
    #: (-1: no cycle yet, so the next watch is a cycle).
    _events_seen: int = field(default=-1, init=False)
    _windows_seen: int = field(default=0, init=False)
    #: When the oldest event the running watch reads was accepted (ms; None: a cycle).
    _oldest: int | None = field(default=None, init=False)
    #: The running cycle's start and the seconds it has deferred so far (time.monotonic;
    #: None: no cycle running).
    _cycle_started: float | None = field(default=None, init=False)
    _cycle_deferred: float = field(default=0.0, init=False)
    #: The event records a watch read, reused by the next ones (a batch's history is read
    #: on each look at its new events). A cycle reads through none: it reads each once.
    _memo: RecordMemo = field(default_factory=RecordMemo, init=False)
    #: Each recalled lot the monitor knows of, with every batch made from it (the lots a
    #: new event can breach the recall through); None: to be read again.
    _recalled: dict[bytes, frozenset[bytes] | None] = field(default_factory=dict, init=False)

    def cycle(self) -> CycleReport:
        """One full pass over the store; every finding recorded as an alert."""
        report = CycleReport()
        with self.store.read() as conn:  # what a watch goes on from, once this pass is done
            events_seen = self.store.events.last_id(conn)
            windows_seen = self.store.windows.last_confirmed(conn)
        self._recalled = {}
        self._cycle_started, self._cycle_deferred = time.monotonic(), 0.0
        try:
            self._alert_log(report)
            self._windows(report, after=0, signatures=True)
            self._custody(report)
            self._history(report)
        finally:
            self._cycle_started = None
        self._record(report, prune=True)
        self._events_seen = max(self._events_seen, events_seen)
        self._windows_seen = max(self._windows_seen, windows_seen)
        if self.on_watch is not None:
            self.on_watch(WatchMark(self._events_seen, 0.0))
        return report

    def watch(self) -> CycleReport:
        """A look at what is new since the last pass (see the module docstring); a cycle
        when none has run yet. ``report.fresh`` counts the new events read: when it is
        :data:`WATCH_EVENTS`, more are waiting."""
        if self._events_seen < 0:
            return self.cycle()
        report = CycleReport()
        with self.store.read() as conn:
            new = self.store.events.after(
                conn, after=self._events_seen, limit=WATCH_EVENTS, memo=self._memo
            )
        self._oldest = new[0].received_at if new else int(self.clock() * 1000)
        try:
            self._look(report, new)
        finally:
            self._oldest = None
        if self.on_watch is not None:
            lag = self.clock() - new[0].received_at / 1000 if new else 0.0
            self.on_watch(WatchMark(self._events_seen, max(0.0, lag)))
        return report

    def _look(self, report: CycleReport, new: list[EventRecord]) -> None:
        """The watch's look at ``new`` events, new windows and new refusals."""
        # In the order the new events name them, each event's batches together: a page
        # of the history pass then holds a transformation's inputs with its outputs.
        touched: dict[bytes, None] = {}
        for record in new:
            event = record.event
            touched.update(dict.fromkeys(event.named_batches()))
            if record.action is Action.RECALL and record.status is not EventStatus.REJECTED:
                self._recalled[event.batch_id] = None
            elif record.action is Action.TRANSFORM:
                inputs = set(event.inputs)
                for lot, reach in self._recalled.items():
                    if reach is None or reach & inputs:
                        self._recalled[lot] = None  # made into more: read its reach again
        if new:
            with self.store.read() as conn:
                for lot, reach in self._recalled.items():
                    if reach is None:
                        found = self.store.batches.downstream(conn, lot)
                        self._recalled[lot] = frozenset({lot} | {k.child for k in found.links})
            touched.update(
                dict.fromkeys(
                    lot for lot, reach in self._recalled.items() if reach and reach & touched.keys()
                )
            )
            self._history(report, only=list(touched))
        # The signatures are the cycle's to recover again (tampering is the cycle's).
        self._windows_seen = self._windows(report, after=self._windows_seen, signatures=False)
        self._record(report, prune=False)
        if new:
            self._events_seen = new[-1].id
        report.fresh = len(new)

    @property
    def _reads(self) -> RecordMemo | None:
        """The memo the running pass reads events through: a watch's, or none (a cycle)."""
        return self._memo if self._oldest is not None else None

    def _defer(self) -> None:
        """Between two steps of a pass: wait while the commit worker commits a window
        (``precedence``), a watch unless it is :data:`DEFER_LAG_S` behind already, a
        cycle while it has waited less than :data:`CYCLE_DEFER_SHARE` of its work."""
        if self.precedence is None:
            return
        if self._oldest is not None:
            if self.clock() * 1000 - self._oldest < DEFER_LAG_S * 1000:
                self.precedence.defer(DEFER_S)
        elif self._cycle_started is not None:
            now = time.monotonic()
            worked = now - self._cycle_started - self._cycle_deferred
            budget = worked * CYCLE_DEFER_SHARE - self._cycle_deferred
            if budget > 0:
                self.precedence.defer(min(DEFER_S, budget))
                self._cycle_deferred += time.monotonic() - now

    def _record(self, report: CycleReport, *, prune: bool) -> None:
        """Read the refusal record from where the last pass left it, and record every
        finding as an alert (raised, or updated) with its webhook messages."""
        now = int(self.clock() * 1000)
        stream = watch_refusals(self.store, self.access, now=now, prune=prune)
        report.findings += stream.findings
        report.refusals = stream.refusals
        # One finding per incident: an event naming two batches is seen from both.
        report.findings = list({f.incident: f for f in report.findings}.values())
        if not report.findings and not stream.cursors:
            return  # nothing to write: no transaction (a watch runs twice a second)
        with self.store.write() as conn:
            endpoints = self.store.webhooks.endpoints(conn)
            for name, last in stream.cursors.items():  # read once: saved with their alerts
                self.store.refusals.set_cursor(conn, last, name)
            for finding in report.findings:
                alert_id, change = self.store.alerts.record(conn, finding, now=now)
                if change == "raised":
                    report.raised += 1
                else:
                    report.updated += 1
                if change is not None:  # seen again unchanged: already said
                    log.warning("alert %s (%s): %s", change, finding.kind, finding.detail)
                if change is not None and endpoints:
                    alert = self.store.alerts.get(conn, alert_id)
                    assert alert is not None
                    enqueue_alert(
                        conn,
                        self.store.webhooks,
                        alert,
                        new=change == "raised",
                        now=now,
                        endpoints=endpoints,
                    )

    def run(
        self,
        stop: threading.Event,
        *,
        interval: float,
        watch_interval: float = WATCH_INTERVAL,
        after: Callable[[], None] | None = None,
    ) -> None:
        """Cycle every ``interval`` seconds and watch every ``watch_interval`` seconds
        between cycles (0: cycles only) until ``stop`` is set, calling ``after`` after each
        pass that recorded anything and after each cycle (``tracenode monitor --seal``: the
        alert log's sealer). A failed pass (the chain or the store unreachable) is logged
        and retried after ``interval`` or 30 s, whichever is shorter."""
        next_cycle = time.monotonic()
        if self.on_watch is not None and self._events_seen < 0:
            self.on_watch(WatchMark(0, 0.0))  # nothing read yet: every stored event is ahead
        while not stop.is_set():
            pause = watch_interval if watch_interval > 0 else interval
            try:
                if time.monotonic() >= next_cycle or watch_interval <= 0:
                    self.cycle()
                    next_cycle = time.monotonic() + interval
                    if after is not None:
                        after()
                else:
                    report = self.watch()
                    if after is not None and (report.raised or report.updated):
                        after()
                    if report.fresh >= WATCH_EVENTS:
                        pause = 0  # more are waiting
            except Exception as exc:  # any failure waits for a later turn
                pause = min(interval, 30.0)
                log.warning("monitor pass failed (%s); retrying in %.0f s", exc, pause)
            stop.wait(min(pause, max(0.0, next_cycle - time.monotonic())) if pause else 0)

    def _alert_log(self, report: CycleReport) -> None:
        """The alerts and the alert log against what the node signed and the chain holds
        (node.monitor.alertlog); a store that had no log yet adopts its alerts first."""
        if self.node_address is None:
            return
        with self.store.write() as conn:
            self.store.alerts.adopt(conn, now=int(self.clock() * 1000))
        domain = alert_log_domain(self.domain.chain_id, self.contracts.anchor_registry)
        anchored = anchored_log(self.w3, self.contracts.anchor_registry, self.node_address)

        def check() -> list[Finding]:
            with self.store.read() as conn:
                alerts = self.store.alerts.all_logged(conn)
                entries = self.store.alert_log.entries(conn, after=0, limit=2**62)
            return check_log(entries, anchored, self.node_address or b"", domain) + (
                check_alerts(alerts, entries)
            )

        candidates = check()
        if candidates:
            # An alert handled while the store was read is no finding: keep only what a
            # fresh read still finds.
            again = {f.incident for f in check()}
            report.findings += [f for f in candidates if f.incident in again]

    def _windows(self, report: CycleReport, *, after: int, signatures: bool) -> int:
        """The integrity rules over each confirmed window above id ``after``; the last
        window's id (``after`` when there was none). ``signatures``: every event's signer
        recovered again too (else its fields only are checked against its hash)."""
        reader: ChainReader | None = None  # asked for only when there are windows (a watch)
        while True:
            with self.store.read() as conn:
                windows = self.store.windows.confirmed(conn, after=after, limit=self.page)
                members = self.store.windows.events_of(
                    conn, [w.id for w in windows], memo=self._reads
                )
                stated = [w.id for w in windows if w.state_block]
                leaves = self.store.windows.states_of(conn, stated)
            if not windows:
                return after
            reader = reader or ChainReader(self.w3, self.contracts, challenge=self.challenge)
            reader.prefetch(
                roots=[w.root for w in windows],
                state_roots=[
                    w.root for w in windows if w.state_block and w.transition_root is None
                ],
                transition_roots=[w.root for w in windows if w.transition_root is not None],
            )
            for window in windows:
                self._defer()
                events = members[window.id]
                report.findings += check_window(
                    window,
                    events,
                    reader.anchor(window.root),
                    states=leaves.get(window.id, []),
                    state_root=(
                        reader.state_root(window.root)
                        if window.state_block and window.transition_root is None
                        else None
                    ),
                    **_transitions(reader, window),
                )
                report.findings += check_events(
                    events, self.domain, self.recover if signatures else None
                )
                report.events += len(events)
            report.windows += len(windows)
            after = windows[-1].id

    def _history(self, report: CycleReport, *, only: list[bytes] | None = None) -> None:
        """The custody and goods rules over each batch's events (node.monitor.custody,
        node.monitor.goods): of every batch, or of those in ``only`` (a page at a time, in
        that order)."""
        now = int(self.clock() * 1000)
        after = b""
        todo = list(only) if only is not None else []
        while True:
            with self.store.read() as conn:
                if only is None:
                    local = self.store.batches.custody_page(conn, after=after, limit=self.page)
                else:
                    chunk, todo = todo[: self.page], todo[self.page :]
                    local = list(self.store.batches.load(conn, chunk).values())
                    if chunk and not local:
                        continue  # none of these is a custody batch: on to the next
                named = _by_batch(
                    self.store.events.of_batches(
                        conn, [b.batch_id for b in local], memo=self._reads
                    )
                )
                # Recalled, whatever the status since (a recalled lot destroyed later
                # reads DESTROYED): what was made from it still breaches the recall.
                marked = self.store.batches.recalled(conn, {b.batch_id: b.status for b in local})
                recalls = {b: self._descendants(conn, b) for b in sorted(marked)}
                made_from = sources(
                    conn,
                    self.store,
                    named,
                    complete={b.batch_id for b in local},
                    memo=self._reads,
                )
            if not local:
                return
            for state in local:
                self._defer()
                events = named.get(state.batch_id, [])
                report.findings += check_transit(state, events, now_ms=now, policy=self.policy)
                report.findings += check_times(events, self.policy)
                report.findings += check_goods(state, events, made_from, self.products)
                recall = next(
                    (
                        e
                        for e in reversed(events)
                        if e.action is Action.RECALL
                        and e.event.batch_id == state.batch_id
                        and e.status is not EventStatus.REJECTED
                    ),
                    None,
                )
                if recall is not None and state.batch_id in recalls:
                    descendants, names = recalls[state.batch_id]
                    self._recalled[state.batch_id] = frozenset(descendants)
                    report.findings += check_recall(state, recall, descendants, names)
            after = local[-1].batch_id

    def _descendants(
        self, conn: Connection, batch_id: bytes
    ) -> tuple[dict[bytes, list[EventRecord]], dict[bytes, str]]:
        """The events of a batch and of everything made from it, by batch; their names."""
        found = self.store.batches.downstream(conn, batch_id)
        ids = {batch_id} | {link.child for link in found.links}
        names = {b: s.identifier for b, s in found.states.items() if s.identifier}
        return _by_batch(self.store.events.of_batches(conn, sorted(ids)), ids), names

    def _custody(self, report: CycleReport) -> None:
        if self.custody is CustodyMode.ANCHOR_ONLY:
            return
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
            self._follow(local, chain, unsettled)
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

    def _follow(
        self, local: list[BatchState], chain: dict[bytes, ChainBatch], unsettled: set[bytes]
    ) -> None:
        """A batch that moved on through another node (its chain head is an event this
        node does not hold: docs/events.md, "Cross-node custody") is no finding: the
        store's view becomes the chain's, unless the store moved meanwhile."""
        heads = unheld_heads((s for s in local if s.batch_id not in unsettled), chain)
        if not heads:
            return
        states = {s.batch_id: s for s in local}
        before = {b: states[b].head for b in heads}
        with self.store.read() as conn:
            held = self.store.events.known(conn, sorted(set(heads.values())))
        moved = moved_on(states, chain, heads, held)
        if moved:
            with self.store.write() as conn:
                for batch_id in moved:
                    self.store.batches.replace(
                        conn, states[batch_id], expected_head=before[batch_id]
                    )


def _by_batch(
    rows: list[BatchEvent], only: set[bytes] | None = None
) -> dict[bytes, list[EventRecord]]:
    """Events by each batch they name, in the order they were accepted."""
    found: dict[bytes, list[EventRecord]] = {}
    for row in rows:
        for batch_id in row.record.event.batch_ids():
            if only is None or batch_id in only:
                found.setdefault(batch_id, []).append(row.record)
    return found


def _transitions(reader: ChainReader, window: WindowRecord) -> dict[str, Any]:
    """check_window's anchor-only arguments: the chain's commitment to an anchor-only
    window's roots and CustodyChallenge's mark of it (nothing for an enforced window)."""
    if window.transition_root is None:
        return {}
    return {
        "commitment": reader.commitment(window.root),
        "fraud": reader.fraud(window.root),
    }
