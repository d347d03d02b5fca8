"""The deliverer: sends each endpoint's messages in order, signed per Standard Webhooks
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, HMAC-SHA256, by the
maintained ``standardwebhooks`` package), at least once, from the store's outbox.

An attempt that fails (no answer within the timeout, a non-2xx status, a refused
address) is retried with exponential backoff and jitter; a message still undelivered a
day after it was written goes to the dead-letter list. A receiver that was down gets
everything afterwards, in order: later messages wait behind the endpoint's oldest one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from node.exceptions import WebhookUrlError
from node.store.records import DeliveryRecord, EndpointRecord
from node.store.store import Store
from node.webhooks.addresses import check_url

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Timeouts, backoff and the dead-letter age."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    first_retry: float = 5.0  # seconds before the second attempt
    max_retry: float = 3600.0  # the longest pause between attempts
    give_up_after_ms: int = DAY_MS
    poll_interval: float = 0.2  # seconds between looks at the outbox when idle
    allow_loopback: bool = False  # tests' local receivers; never in production


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
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.policy.read_timeout, connect=self.policy.connect_timeout),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def deliver_due(self, limit: int = 100) -> int:
        """One attempt at each endpoint's oldest pending message that is due; how many
        were delivered."""
        now = self._now()
        with self.store.read() as conn:
            heads = self.store.webhooks.heads(conn, now=now, limit=limit)
            endpoints = {e.id: e for e in self.store.webhooks.endpoints(conn)}
        delivered = 0
        for delivery in heads:
            endpoint = endpoints.get(delivery.endpoint_id)
            if endpoint is not None and self._attempt(endpoint, delivery):
                delivered += 1
        return delivered

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; a failure of the store is logged and retried."""
        while not stop.is_set():
            try:
                if self.deliver_due() == 0:
                    stop.wait(self.policy.poll_interval)
            except Exception as exc:  # the store away: try again shortly
                log.warning("webhook delivery failed (%s); retrying", exc)
                stop.wait(max(1.0, self.policy.poll_interval))
        self.close()

    def _attempt(self, endpoint: EndpointRecord, delivery: DeliveryRecord) -> bool:
        now = self._now()
        status: int | None = None
        try:
            check_url(endpoint.url, allow_loopback=self.policy.allow_loopback)
            answer = self._client.post(
                endpoint.url, content=delivery.payload, headers=self._headers(endpoint, delivery)
            )
            status = answer.status_code
            error = "" if 200 <= status < 300 else f"the receiver answered {status}"
        except (httpx.HTTPError, WebhookUrlError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self.store.write() as conn:
            if not error and status is not None:
                self.store.webhooks.delivered(conn, delivery.id, status=status, now=now)
                return True
            pause = backoff(delivery.attempts + 1, self.policy, self.rng)
            retry_at: int | None = now + int(pause * 1000)
            if now + pause * 1000 - delivery.created_at > self.policy.give_up_after_ms:
                retry_at = None  # a day of trying: the dead-letter list
            self.store.webhooks.failed(
                conn, delivery.id, status=status, error=error, retry_at=retry_at
            )
        log.info("webhook %s to endpoint %d: %s", delivery.message_id, endpoint.id, error)
        return False

    def _headers(self, endpoint: EndpointRecord, delivery: DeliveryRecord) -> dict[str, str]:
        sent_at = datetime.fromtimestamp(self.clock(), tz=UTC)
        signatures = " ".join(
            Webhook(secret).sign(delivery.message_id, sent_at, delivery.payload)
            for secret in endpoint.secrets(self._now())
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
