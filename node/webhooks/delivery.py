"""The deliverer: sends each endpoint's messages in order, signed per Standard Webhooks
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, HMAC-SHA256, by the
maintained ``standardwebhooks`` package), at least once, from the store's outbox.

An attempt is judged by its status alone: the receiver's answer body is read for at most
``MAX_ANSWER_BYTES`` and ``ANSWER_BODY_TIMEOUT`` (to keep the connection) and never kept,
and the whole attempt — connecting, sending, the answer — ends within ``attempt_timeout``
(node/network/exchange.py), however slowly the receiver answers. An attempt that fails
(no answer in time, a non-2xx status, a refused address) is retried with exponential
backoff and jitter; a message still undelivered a day after it was written goes to the
dead-letter list. A receiver that was down gets everything afterwards, in order: later
messages wait behind the endpoint's oldest one.

Throughput: an endpoint is served in runs, its oldest due messages (at most ``batch``)
sent one after another on a kept-alive connection, stopping at the first failure, and
their outcomes written in one transaction; up to ``concurrency`` endpoints are served at
once, each by one thread, so a receiver that never answers holds up only itself.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from node.exceptions import WebhookUrlError
from node.network.addresses import Resolver, pinned_request
from node.network.exchange import bounded_client, deadline, error_kind
from node.store.records import DeliveryRecord, EndpointRecord
from node.store.store import Store
from node.webhooks.addresses import screen_webhook_url

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
#: The most of a receiver's answer body read (then dropped), and the longest it is waited
#: for once the status came: a small, prompt answer is read to its end so that the
#: connection is kept; another closes the connection.
MAX_ANSWER_BYTES = 4096
ANSWER_BODY_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Timeouts, backoff and the dead-letter age."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    #: Seconds one attempt may take in all: connecting, sending, the answer.
    attempt_timeout: float = 15.0
    first_retry: float = 5.0  # seconds before the second attempt
    max_retry: float = 3600.0  # the longest pause between attempts
    give_up_after_ms: int = DAY_MS
    poll_interval: float = 0.2  # seconds between looks at the outbox when idle
    batch: int = 100  # messages sent to one endpoint in a run, outcomes written at once
    concurrency: int = 8  # endpoints served at once (a thread and a connection each)
    allow_loopback: bool = False  # tests' local receivers; never in production
    #: The lookup of an endpoint's name (``socket.getaddrinfo``; tests give their own).
    resolver: Resolver = field(default=socket.getaddrinfo, repr=False, compare=False)


def _drain(answer: httpx.Response) -> None:
    """Read (and drop) what ``answer``'s body holds, if it is short and prompt: at most
    ``MAX_ANSWER_BYTES`` within ``ANSWER_BODY_TIMEOUT``. A body read to its end keeps the
    connection; one left unread or cut short closes it. The status is the answer: a body
    that fails to arrive changes nothing of it."""
    read = 0
    try:
        with deadline(ANSWER_BODY_TIMEOUT):
            for chunk in answer.iter_raw():
                read += len(chunk)
                if read > MAX_ANSWER_BYTES:
                    return
    except httpx.HTTPError:
        return


def backoff(attempts: int, policy: DeliveryPolicy, rng: random.Random) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling from
    ``first_retry`` up to ``max_retry``, with jitter (between half and all of it)."""
    ceiling = min(policy.max_retry, policy.first_retry * 2.0 ** max(0, attempts - 1))
    return float(ceiling * rng.uniform(0.5, 1.0))


@dataclass
class Deliverer:
    """Delivers what the outbox holds."""

    store: Store
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._client = bounded_client(
            connect_timeout=self.policy.connect_timeout,
            read_timeout=self.policy.read_timeout,
            limits=httpx.Limits(
                max_connections=self.policy.concurrency,
                max_keepalive_connections=self.policy.concurrency,
            ),
        )
        self._pool = ThreadPoolExecutor(self.policy.concurrency, "webhook-endpoint")
        self._busy: set[int] = set()  # endpoints with a run in flight
        self._lock = threading.Lock()
        self._finished = threading.Event()  # a run ended: its endpoint may have more
        self._trouble = threading.Event()  # a run failed (the store away): pause a while

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def deliver_due(self, limit: int = 100) -> int:
        """One run for each endpoint whose oldest pending message is due (up to ``limit``
        endpoints); how many messages were delivered."""
        return sum(run.result() for run in self._start(limit))

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; a failure of the store is logged and retried."""
        while not stop.is_set():
            try:
                self._finished.clear()
                self._start(limit=1000)
                self._finished.wait(self.policy.poll_interval)
            except Exception as exc:  # the store away: try again shortly
                log.warning("webhook delivery failed (%s); retrying", exc)
                self._trouble.set()
            if self._trouble.is_set():
                self._trouble.clear()
                stop.wait(max(1.0, self.policy.poll_interval))
        self.close()

    def _start(self, limit: int) -> list[Future[int]]:
        """A run for each endpoint with a due message and no run in flight."""
        now = self._now()
        with self.store.read() as conn:
            heads = self.store.webhooks.heads(conn, now=now, limit=limit)
            endpoints = {e.id: e for e in self.store.webhooks.endpoints(conn)}
        started = []
        for head in heads:
            endpoint = endpoints.get(head.endpoint_id)
            with self._lock:
                if endpoint is None or endpoint.id in self._busy:
                    continue
                self._busy.add(endpoint.id)
            started.append(self._pool.submit(self._serve, endpoint))
        return started

    def _serve(self, endpoint: EndpointRecord) -> int:
        """One run for ``endpoint``: its due messages in order until one fails; how many
        were delivered. A failure of the store is logged: the run's messages stay pending
        and are sent again (at least once)."""
        try:
            with self.store.read() as conn:
                run = self.store.webhooks.run(
                    conn, endpoint.id, now=self._now(), limit=self.policy.batch
                )
            return self._send(endpoint, run)
        except Exception as exc:  # the store away: the run is retried after a pause
            log.warning("webhook delivery to endpoint %d failed (%s); retrying", endpoint.id, exc)
            self._trouble.set()
            return 0
        finally:
            with self._lock:
                self._busy.discard(endpoint.id)
            self._finished.set()

    def _send(self, endpoint: EndpointRecord, run: list[DeliveryRecord]) -> int:
        done: list[tuple[int, int, int]] = []
        failure: tuple[DeliveryRecord, int | None, str, int] | None = None
        pinned: tuple[str, dict[str, str], dict[str, Any]] | None = None
        try:
            screened = screen_webhook_url(
                endpoint.url,
                allow_loopback=self.policy.allow_loopback,
                resolver=self.policy.resolver,
            )
            # Sent to the address screened, the name as Host (and TLS server name): never
            # looked up again between the check and the request (DNS rebinding).
            pinned = pinned_request(screened, screened.addresses[0])
        except WebhookUrlError as exc:
            if run:
                failure = (run[0], None, f"{type(exc).__name__}: {exc}", self._now())
            run = []
        signers = [Webhook(secret) for secret in endpoint.secrets(self._now())]
        for delivery in run:
            assert pinned is not None
            url, host, extensions = pinned
            outcome = self._attempt(url, signers, delivery, host, extensions)
            error = self._failure(outcome)
            status = outcome if isinstance(outcome, int) else None
            if error:
                failure = (delivery, status, error, self._now())
                break
            assert status is not None
            done.append((delivery.id, status, self._now()))
        with self.store.write() as conn:
            self.store.webhooks.delivered_many(conn, done)
            if failure is not None:
                delivery, status, error, now = failure
                pause = backoff(delivery.attempts + 1, self.policy, self.rng)
                retry_at: int | None = now + int(pause * 1000)
                if now + pause * 1000 - delivery.created_at > self.policy.give_up_after_ms:
                    retry_at = None  # a day of trying: the dead-letter list
                self.store.webhooks.failed(
                    conn, delivery.id, status=status, error=error, retry_at=retry_at
                )
        if failure is not None:
            log.info(
                "webhook %s to endpoint %d: %s", failure[0].message_id, endpoint.id, failure[2]
            )
        return len(done)

    def _attempt(
        self,
        url: str,
        signers: list[Webhook],
        delivery: DeliveryRecord,
        host: dict[str, str],
        extensions: dict[str, Any],
    ) -> int | httpx.HTTPError:
        """The status the receiver answered, or why there was none, within the attempt's
        deadline; at most ``MAX_ANSWER_BYTES`` of its body read (within
        ``ANSWER_BODY_TIMEOUT``), none of it kept."""
        try:
            with (
                deadline(self.policy.attempt_timeout),
                self._client.stream(
                    "POST",
                    url,
                    content=delivery.payload,
                    headers=self._headers(signers, delivery) | host,
                    extensions=extensions,
                ) as answer,
            ):
                _drain(answer)
                return answer.status_code
        except httpx.HTTPError as exc:
            return exc

    def _headers(self, signers: list[Webhook], delivery: DeliveryRecord) -> dict[str, str]:
        sent_at = datetime.fromtimestamp(self.clock(), tz=UTC)
        signatures = " ".join(
            signer.sign(delivery.message_id, sent_at, delivery.payload) for signer in signers
        )
        return {
            "content-type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signatures,
            "user-agent": "TraceNode-Webhooks/1",
        }

    def _now(self) -> int:
        return int(self.clock() * 1000)

    def _failure(self, outcome: int | httpx.HTTPError) -> str:
        """Why an attempt failed ("" if it did not), in the node's own words: the class of
        a transport error and the bound it met, never its text (which may quote the
        receiver)."""
        if isinstance(outcome, int):
            return "" if 200 <= outcome < 300 else f"the receiver answered {outcome}"
        kind = error_kind(outcome)
        if isinstance(outcome, httpx.TimeoutException):
            policy = self.policy
            return (
                f"{kind}: no answer within {policy.connect_timeout:g} s to connect, "
                f"{policy.read_timeout:g} s to read, {policy.attempt_timeout:g} s in all"
            )
        if isinstance(outcome, httpx.ConnectError):
            return f"{kind}: the receiver could not be reached"
        if isinstance(outcome, httpx.NetworkError):
            return f"{kind}: the connection broke before the receiver answered"
        if isinstance(outcome, httpx.ProtocolError):
            return f"{kind}: the receiver's answer is not HTTP the node reads"
        return f"{kind}: the request failed"
