"""Prometheus metrics: counters the gateway keeps, and gauges read from the store and the
chain at scrape time. One registry per app (no global state).

A scrape answers whatever is down: the chain is looked at within 1 s and the store's
queries within 5 s (api/health.py); ``tracenode_chain_up`` and ``tracenode_store_up`` say
whether they answered, the gauges read from one that did not are left out, and the
rest — the request counters, ``tracenode_commit_leader`` — are rendered as always.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.backpressure import BacklogWatch
from api.health import METRICS_STORE_TIMEOUT, BoundedCall, Health
from node.commit.backlog import Backlog
from node.context import Node
from node.monitor.service import WatchMark
from node.store.alerts import RuleFigures
from node.store.availability import store_unavailable
from node.store.models import AlertSeverity, AlertStatus, EventStatus, WindowStatus
from node.store.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tracenode_http_requests",
            "HTTP requests handled, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tracenode_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.submitted = Counter(
            "tracenode_events_submitted",
            "Events submitted over HTTP, by outcome and (for rejections) problem code.",
            ["outcome", "problem"],
            registry=self.registry,
        )

    def watch(
        self,
        node: Node,
        leader: Callable[[], bool],
        health: Health,
        backlog: BacklogWatch,
        watched: Callable[[], WatchMark | None] = lambda: None,
    ) -> None:
        self.registry.register(_NodeCollector(node, leader, health, backlog, watched))

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class _StoreFigures:
    events: dict[EventStatus, int]
    windows: dict[WindowStatus, int]
    queue: int
    oldest: int | None
    alerts: dict[AlertSeverity, int]
    backlog: Backlog
    rules: list[RuleFigures]
    last_event: int


def _read_figures(store: Store, backlog: BacklogWatch) -> _StoreFigures:
    with store.read() as conn:
        events = store.events.counts(conn)
        windows = store.windows.counts(conn)
        queue = store.events.uncommitted_count(conn)
        oldest = store.events.oldest_uncommitted(conn)
        alerts = store.alerts.counts(conn)
        rules = store.alerts.by_rule(conn)
        last_event = store.events.last_id(conn)
    return _StoreFigures(
        events=events,
        windows=windows,
        queue=queue,
        oldest=oldest,
        alerts=alerts,
        backlog=backlog.current(),
        rules=rules,
        last_event=last_event,
    )


class _NodeCollector(Collector):
    """Gauges read when scraped: stored events and windows, the queue, the chain's head,
    and whether the store and the chain answered."""

    def __init__(
        self,
        node: Node,
        leader: Callable[[], bool],
        health: Health,
        backlog: BacklogWatch,
        watched: Callable[[], WatchMark | None],
    ) -> None:
        self.leader = leader
        self.watched = watched
        self.health = health
        self._figures = BoundedCall("metrics-store", lambda: _read_figures(node.store, backlog))

    def collect(self) -> Iterator[Metric]:
        self._figures.start()  # the store's queries and the chain's look run together
        chain = self.health.chain()
        figures: _StoreFigures | None = None
        try:
            figures = self._figures(METRICS_STORE_TIMEOUT)
        except FutureTimeout:
            pass  # the store did not answer in time: shown as down
        except Exception as exc:
            if store_unavailable(exc) is None:
                raise  # a bug, not the store being down
        yield GaugeMetricFamily(
            "tracenode_store_up",
            "1 if the store answered this scrape's queries in time, else 0 (and the "
            "gauges read from it are left out).",
            value=0 if figures is None else 1,
        )
        yield GaugeMetricFamily(
            "tracenode_chain_up",
            "1 if the chain answered within the probe's timeout (1 s), else 0.",
            value=1 if chain.up else 0,
        )
        yield GaugeMetricFamily(
            "tracenode_commit_leader",
            "1 if this process holds the commit lock for the node key.",
            value=1 if self.leader() else 0,
        )
        head = GaugeMetricFamily("tracenode_chain_head_block", "The chain's latest block number.")
        if chain.head is not None:  # an unreachable chain shows as a missing sample
            head.add_metric([], chain.head)
        yield head
        if figures is None:
            return
        yield _labelled(
            "tracenode_events", "Stored events by status.", "status", figures.events, EventStatus
        )
        yield _labelled(
            "tracenode_commit_windows",
            "Commit windows by status (confirmed ones are anchored on-chain).",
            "status",
            figures.windows,
            WindowStatus,
        )
        yield GaugeMetricFamily(
            "tracenode_commit_queue_depth",
            "Accepted events not yet in a window.",
            value=figures.queue,
        )
        oldest = figures.oldest
        lag = 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)
        yield GaugeMetricFamily(
            "tracenode_commit_lag_seconds",
            "Age of the oldest accepted event not yet in a window.",
            value=lag,
        )
        yield GaugeMetricFamily(
            "tracenode_commit_predicted_proof_seconds",
            "Predicted wait for a new event's proof (node/commit/backlog.py); submissions "
            "are refused above TRACENODE_API_MAX_PROOF_DELAY.",
            value=figures.backlog.predicted_seconds,
        )
        capacity = GaugeMetricFamily(
            "tracenode_commit_capacity_events_per_second",
            "The most events per second anchored lately (back-to-back windows).",
        )
        if figures.backlog.capacity is not None:
            capacity.add_metric([], figures.backlog.capacity)
        yield capacity
        mark = self.watched()
        if mark is not None:  # no monitor runs: no samples (before its first pass: all behind)
            yield GaugeMetricFamily(
                "tracenode_monitor_events_behind",
                "Stored events the integrity monitor has not looked at yet.",
                value=max(0, figures.last_event - mark.through),
            )
            yield GaugeMetricFamily(
                "tracenode_monitor_watch_lag_seconds",
                "How long the oldest event of the monitor's latest look waited for it "
                "(0 when that look found nothing new).",
                value=mark.lag,
            )
        yield _labelled(
            "tracenode_alerts",
            "Integrity alerts by severity.",
            "severity",
            figures.alerts,
            AlertSeverity,
        )
        yield from _rule_metrics(figures.rules)


def _rule_metrics(rules: list[RuleFigures]) -> Iterator[Metric]:
    """Per monitor rule, from the store (alerts are never deleted, and revisions and
    sightings only grow, so the counters never go down, whichever process raised them)."""
    raised = CounterMetricFamily(
        "tracenode_alerts_raised", "Alerts (incidents) raised, by rule.", labels=["rule"]
    )
    updated = CounterMetricFamily(
        "tracenode_alerts_updated",
        "Revisions of alerts after they were raised (escalated, reopened, evidence grown, "
        "handled), by rule.",
        labels=["rule"],
    )
    seen = CounterMetricFamily(
        "tracenode_alert_sightings", "Times a rule found its incidents, by rule.", labels=["rule"]
    )
    live = GaugeMetricFamily(
        "tracenode_alerts_open",
        "Open or acknowledged alerts, by rule and severity.",
        labels=["rule", "severity"],
    )
    totals: dict[str, list[int]] = {}
    open_by: dict[tuple[str, str], int] = {}
    for r in rules:
        t = totals.setdefault(r.kind, [0, 0, 0])
        t[0] += r.alerts
        t[1] += r.revisions - r.alerts
        t[2] += r.sightings
        if r.status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED):
            key = (r.kind, r.severity.name.lower())
            open_by[key] = open_by.get(key, 0) + r.alerts
    for kind, (n, revisions, sightings) in sorted(totals.items()):
        raised.add_metric([kind], n)
        updated.add_metric([kind], max(0, revisions))
        seen.add_metric([kind], sightings)
        for level in AlertSeverity:  # every rule that ever fired, at every severity
            name = level.name.lower()
            live.add_metric([kind, name], open_by.get((kind, name), 0))
    yield from (raised, updated, seen, live)


def _labelled(name: str, doc: str, label: str, counts: dict[Any, int], kinds: Any) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for kind in kinds:
        family.add_metric([kind.name.lower()], counts.get(kind, 0))
    return family


class RequestMetrics:
    """Count and time every request by its route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - start)
