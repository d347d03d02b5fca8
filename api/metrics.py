"""Prometheus metrics: counters the gateway keeps, and gauges read from the store and the
chain at scrape time. One registry per app (no global state).

A scrape answers while the store cannot be reached: ``tracenode_store_up`` says whether it
answered, the gauges read from it are left out, and the rest — the request counters,
``tracenode_commit_leader`` — are rendered as always.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.context import Node
from node.store.availability import store_unavailable
from node.store.models import AlertSeverity, EventStatus, WindowStatus
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

    def watch(self, node: Node, leader: Callable[[], bool]) -> None:
        self.registry.register(_NodeCollector(node, leader))

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class _StoreFigures:
    events: dict[EventStatus, int]
    windows: dict[WindowStatus, int]
    queue: int
    oldest: int | None
    alerts: dict[AlertSeverity, int]


def _read_figures(store: Store) -> _StoreFigures:
    with store.read() as conn:
        return _StoreFigures(
            events=store.events.counts(conn),
            windows=store.windows.counts(conn),
            queue=store.events.uncommitted_count(conn),
            oldest=store.events.oldest_uncommitted(conn),
            alerts=store.alerts.counts(conn),
        )


class _NodeCollector(Collector):
    """Gauges read when scraped: stored events and windows, the queue, the chain's head,
    and whether the store answered."""

    def __init__(self, node: Node, leader: Callable[[], bool]) -> None:
        self.node = node
        self.leader = leader

    def collect(self) -> Iterator[Metric]:
        figures: _StoreFigures | None = None
        try:
            figures = _read_figures(self.node.store)
        except Exception as exc:
            if store_unavailable(exc) is None:
                raise  # a bug, not the store being down
        yield GaugeMetricFamily(
            "tracenode_store_up",
            "1 if the store answered this scrape's queries, else 0 (and the gauges read "
            "from it are left out).",
            value=0 if figures is None else 1,
        )
        yield GaugeMetricFamily(
            "tracenode_commit_leader",
            "1 if this process holds the commit lock for the node key.",
            value=1 if self.leader() else 0,
        )
        head = GaugeMetricFamily("tracenode_chain_head_block", "The chain's latest block number.")
        # An unreachable chain shows as a missing sample, not as a failed scrape.
        with contextlib.suppress(Exception):
            head.add_metric([], self.node.w3.eth.block_number)
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
        yield _labelled(
            "tracenode_alerts",
            "Integrity alerts by severity.",
            "severity",
            figures.alerts,
            AlertSeverity,
        )


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
