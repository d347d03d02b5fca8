"""Webhook delivery against a real local HTTP receiver: signed per Standard Webhooks
(checked with the standardwebhooks package), in order per endpoint, retried with backoff,
dead after a day, two valid secrets during a rotation, and never to a private address."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from api.cli import app
from node.exceptions import WebhookUrlError
from node.store.models import AlertSeverity, DeliveryStatus
from node.store.records import DeliveryRecord, EndpointRecord, Subscription
from node.store.store import Store
from node.testing.plugin import HarnessFactory
from node.webhooks.addresses import check_url
from node.webhooks.delivery import DAY_MS, Deliverer, DeliveryPolicy, backoff
from node.webhooks.messages import new_secret
from tests.wait import wait_until
from tests.webhook_receiver import QUOTED, Answer, Receiver, verify

POLICY = DeliveryPolicy(allow_loopback=True, read_timeout=1.0, connect_timeout=1.0)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def endpoint(store: Store, url: str) -> EndpointRecord:
    with store.write() as conn:
        return store.webhooks.add_endpoint(
            conn,
            url=url,
            subscription=Subscription(("alert.raised",), AlertSeverity.LOW),
            label="test",
            secret=new_secret(),
            now=int(time.time() * 1000),
        )


def enqueue(store: Store, target: EndpointRecord, n: int, clock: Clock, first: int = 0) -> None:
    with store.write() as conn:
        for i in range(first, first + n):
            store.webhooks.enqueue(
                conn,
                endpoint_id=target.id,
                message_id=f"msg_{target.id}_{i}",
                event_type="alert.raised",
                payload=b'{"type":"alert.raised","n":%d}' % i,
                now=int(clock() * 1000),
            )


def log(store: Store) -> list[DeliveryRecord]:
    with store.read() as conn:
        return sorted(store.webhooks.log(conn, limit=10_000), key=lambda d: d.id)


def test_messages_arrive_signed_in_order(store: Store) -> None:
    receiver = Receiver()
    clock = Clock()
    with receiver.serving() as url:
        target = endpoint(store, url)
        enqueue(store, target, 3, clock)
        deliverer = Deliverer(store, POLICY, clock=clock)
        delivered = sum(deliverer.deliver_due() for _ in range(3))
        deliverer.close()

    assert delivered == 3
    assert [r.body["n"] for r in receiver.got] == [0, 1, 2]
    assert all(verify(r, target.secret) for r in receiver.got)
    assert not any(verify(r, new_secret()) for r in receiver.got)
    assert [r.message_id for r in receiver.got] == [f"msg_{target.id}_{i}" for i in range(3)]
    assert {d.status for d in log(store)} == {DeliveryStatus.DELIVERED}


def test_deliveries_go_to_the_address_screened_never_looked_up_again(store: Store) -> None:
    """DNS rebinding: the name is looked up once, screened, and the request goes to that
    address with the name as its Host. A name no real resolver knows (``.invalid``) only
    reaches the receiver this way; a lookup between the check and the send would fail."""
    receiver = Receiver()
    clock = Clock()
    lookups: list[str] = []

    def resolver(host: str, port: object, *args: object, **kwargs: object) -> list[Any]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    with receiver.serving() as url:
        port = url.rsplit(":", 1)[1].split("/", 1)[0]
        target = endpoint(store, f"http://hooks.receiver.invalid:{port}/")
        enqueue(store, target, 2, clock)
        policy = DeliveryPolicy(
            allow_loopback=True, read_timeout=1.0, connect_timeout=1.0, resolver=resolver
        )
        deliverer = Deliverer(store, policy, clock=clock)
        delivered = deliverer.deliver_due()
        deliverer.close()

    assert delivered == 2
    assert lookups == ["hooks.receiver.invalid"]  # one lookup for the run, screened
    assert [r.headers["host"] for r in receiver.got] == [f"hooks.receiver.invalid:{port}"] * 2
    assert [r.body["n"] for r in receiver.got] == [0, 1]


def test_a_receiver_down_gets_everything_afterwards_in_order(store: Store) -> None:
    receiver = Receiver(status=500)
    clock = Clock()
    with receiver.serving() as url:
        target = endpoint(store, url)
        enqueue(store, target, 3, clock)
        deliverer = Deliverer(store, POLICY, clock=clock, rng=random.Random(7))
        first = deliverer.deliver_due()
        waiting = deliverer.deliver_due()  # the failed one waits for its backoff
        after_failure = log(store)
        receiver.status = 204
        clock.now += 3600  # an hour later
        delivered = sum(deliverer.deliver_due() for _ in range(3))
        deliverer.close()

    assert (first, waiting, delivered) == (0, 0, 3)
    assert [d.attempts for d in after_failure] == [1, 0, 0]
    assert after_failure[0].last_status == 500
    retry_in = after_failure[0].next_attempt_at - after_failure[0].created_at
    assert POLICY.first_retry * 500 <= retry_in <= POLICY.first_retry * 1000
    assert [r.body["n"] for r in receiver.got] == [0, 1, 2]


def test_a_receiver_down_for_an_hour_gets_every_message_afterwards_in_order(
    store: Store,
) -> None:
    # An hour on a fake clock, a minute at a time: messages keep coming for two
    # subscriptions, one of whose receivers answers 503 throughout.
    down, up = Receiver(status=503), Receiver()
    clock = Clock()
    with down.serving() as down_url, up.serving() as up_url:
        first, second = endpoint(store, down_url), endpoint(store, up_url)
        deliverer = Deliverer(store, POLICY, clock=clock, rng=random.Random(3))
        for minute in range(60):
            enqueue(store, first, 2, clock, first=2 * minute)
            enqueue(store, second, 2, clock, first=2 * minute)
            deliverer.deliver_due()
            clock.now += 60
        during = {d.message_id: d for d in log(store)}
        delivered_during = len(up.got)
        down.status = 204
        for _ in range(120):  # at most an hour more: the longest pause between attempts
            clock.now += 60
            deliverer.deliver_due()
            if len(down.got) == 120:
                break
        deliverer.close()

    head = during[f"msg_{first.id}_0"]
    assert delivered_during == 120  # the other subscription was never held up
    assert [r.body["n"] for r in up.got] == list(range(120))
    assert [r.body["n"] for r in down.got] == list(range(120))  # every one, in order
    assert 5 <= head.attempts <= 12  # it backed off instead of hammering the receiver
    assert all(during[f"msg_{first.id}_{n}"].attempts == 0 for n in range(1, 120))
    assert {d.status for d in log(store)} == {DeliveryStatus.DELIVERED}


def test_a_receiver_that_never_answers_holds_up_only_itself(store: Store) -> None:
    slow, fast = Receiver(delay=3.0), Receiver()
    policy = DeliveryPolicy(allow_loopback=True, read_timeout=2.0, poll_interval=0.05)
    with slow.serving() as slow_url, fast.serving() as fast_url:
        stuck, quick = endpoint(store, slow_url), endpoint(store, fast_url)
        clock = Clock()
        enqueue(store, stuck, 3, clock)
        enqueue(store, quick, 50, clock)
        deliverer = Deliverer(store, policy)
        stop = threading.Event()
        worker = threading.Thread(target=deliverer.run, args=(stop,))
        worker.start()
        try:
            wait_until(lambda: len(fast.got) == 50, timeout=30)
            meanwhile = {d.message_id: d.attempts for d in log(store)}
        finally:
            stop.set()
            worker.join(timeout=30)

    assert not worker.is_alive()
    assert meanwhile[f"msg_{stuck.id}_0"] == 0  # its first attempt still waiting for an answer
    assert [r.body["n"] for r in fast.got] == list(range(50))


def test_delivery_waits_out_a_store_that_went_away_and_resumes(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver()
    with receiver.serving() as url:
        target = endpoint(store, url)
        deliverer = Deliverer(store, DeliveryPolicy(allow_loopback=True, poll_interval=0.05))
        stop = threading.Event()
        worker = threading.Thread(target=deliverer.run, args=(stop,))
        worker.start()
        try:
            with store.write() as conn:  # the outbox gone from under the deliverer
                conn.execute(text("ALTER TABLE webhook_deliveries RENAME TO deliveries_away"))
            wait_until(lambda: "webhook delivery failed" in caplog.text, timeout=15)
            with store.write() as conn:
                conn.execute(text("ALTER TABLE deliveries_away RENAME TO webhook_deliveries"))
            enqueue(store, target, 3, Clock())
            wait_until(lambda: len(receiver.got) == 3, timeout=15)
        finally:
            stop.set()
            worker.join(timeout=15)

    assert not worker.is_alive()
    assert [r.body["n"] for r in receiver.got] == [0, 1, 2]


def test_a_message_undelivered_for_a_day_is_a_dead_letter(store: Store) -> None:
    receiver = Receiver(status=503)
    clock = Clock()
    with receiver.serving() as url:
        target = endpoint(store, url)
        enqueue(store, target, 2, clock)
        deliverer = Deliverer(store, POLICY, clock=clock)
        deliverer.deliver_due()
        clock.now += DAY_MS / 1000  # a day later
        deliverer.deliver_due()  # the last try: dead
        deliverer.deliver_due()  # the next message takes its turn
        deliverer.close()

    statuses = [d.status for d in log(store)]
    assert statuses[0] is DeliveryStatus.DEAD
    assert log(store)[1].attempts == 1


def test_a_receiver_that_never_answers_costs_a_bounded_wait(store: Store) -> None:
    receiver = Receiver(delay=3.0)
    clock = Clock()
    with receiver.serving() as url:
        target = endpoint(store, url)
        enqueue(store, target, 1, clock)
        deliverer = Deliverer(store, POLICY, clock=clock)
        began = time.monotonic()
        deliverer.deliver_due()
        took = time.monotonic() - began
        deliverer.close()

    assert took < 2.5
    assert "Timeout" in log(store)[0].last_error


#: One attempt in all within 2 s, each read within 1 s.
HASTY = DeliveryPolicy(
    allow_loopback=True, read_timeout=1.0, connect_timeout=1.0, attempt_timeout=2.0
)


def deliver_to(store: Store, answer: Answer) -> tuple[int, float, Receiver]:
    """One message to a receiver answering ``answer``: how many were delivered, in how
    many seconds, and the receiver."""
    receiver = Receiver(answer=answer)
    clock = Clock()
    with receiver.serving() as url:
        enqueue(store, endpoint(store, url), 1, clock)
        deliverer = Deliverer(store, HASTY, clock=clock)
        began = time.monotonic()
        delivered = deliverer.deliver_due()
        took = time.monotonic() - began
        deliverer.close()
    return delivered, took, receiver


def test_a_receiver_dripping_its_headers_costs_the_attempts_bound(store: Store) -> None:
    """A status line, then a header one byte every 0.2 s: each read is well within its
    timeout, and the attempt still ends at its whole bound (it dripped for 20 s)."""
    delivered, took, _ = deliver_to(store, "drip-headers")

    assert delivered == 0
    assert took < 6
    (failed,) = log(store)
    assert failed.status is DeliveryStatus.PENDING
    assert failed.attempts == 1
    assert "Timeout" in failed.last_error
    assert "2 s in all" in failed.last_error


def test_a_receiver_dripping_its_body_is_judged_by_its_status(store: Store) -> None:
    """200, then 100 000 bytes promised one every 0.2 s: delivered on the status, the
    body never waited for past the attempt's bound."""
    delivered, took, _ = deliver_to(store, "drip-body")

    assert delivered == 1
    assert took < 6
    assert [d.status for d in log(store)] == [DeliveryStatus.DELIVERED]


def test_a_receivers_endless_answer_is_not_read(store: Store) -> None:
    """200 and a chunked body without end, as fast as the socket takes it: a few KiB of
    it are read, and the connection closed (it was read into memory, gigabytes of it)."""
    delivered, took, receiver = deliver_to(store, "endless")

    assert delivered == 1
    assert took < 6
    assert receiver.sent < 64 * 1024 * 1024  # what the socket's buffers held, no more


def test_a_failure_is_recorded_in_the_nodes_words_not_the_receivers(store: Store) -> None:
    delivered, _, _ = deliver_to(store, "malformed")

    assert delivered == 0
    (failed,) = log(store)
    assert failed.last_error.startswith("RemoteProtocolError: ")
    assert QUOTED not in failed.last_error


def test_during_a_rotation_both_secrets_sign(store: Store) -> None:
    receiver = Receiver()
    clock = Clock()
    with receiver.serving() as url:
        target = endpoint(store, url)
        with store.write() as conn:
            rotated = store.webhooks.rotate(
                conn, target.id, secret=new_secret(), overlap_until=int(clock() * 1000) + 60_000
            )
        assert rotated is not None
        enqueue(store, target, 1, clock)
        deliverer = Deliverer(store, POLICY, clock=clock)
        deliverer.deliver_due()
        clock.now += 120  # the overlap is over
        enqueue(store, target, 1, clock, first=1)
        deliverer.deliver_due()
        deliverer.close()

    during, after = receiver.got
    assert verify(during, target.secret)
    assert verify(during, rotated.secret)
    assert verify(after, rotated.secret)
    assert not verify(after, target.secret)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.1/",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "ftp://example.com/",
        "http://user:pw@example.com/",
        "not a url",
        "http:///nohost",
    ],
)
def test_private_and_malformed_addresses_are_refused(url: str) -> None:
    with pytest.raises(WebhookUrlError):
        check_url(url)


def test_loopback_needs_the_explicit_setting() -> None:
    assert check_url("http://127.0.0.1:9/hook", allow_loopback=True)
    with pytest.raises(WebhookUrlError):
        check_url("http://10.1.2.3/hook", allow_loopback=True)


def test_backoff_doubles_with_jitter_up_to_its_ceiling() -> None:
    rng = random.Random(1)
    pauses = [backoff(n, POLICY, rng) for n in range(1, 20)]

    assert POLICY.first_retry / 2 <= pauses[0] <= POLICY.first_retry
    assert all(p <= POLICY.max_retry for p in pauses)
    assert pauses[-1] >= POLICY.max_retry / 2


def test_the_cli_adds_lists_rotates_and_redelivers(tracenode_factory: HarnessFactory) -> None:
    h = tracenode_factory()
    data_dir = str(h.node.data_dir)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, [*args, "--data-dir", data_dir])

    refused = run("webhook", "add", "http://10.0.0.1/hook")
    added = run("webhook", "add", "http://127.0.0.1:9/hook", "--allow-loopback", "--label", "ops")
    secret = added.stdout.strip().splitlines()[-1]
    rotated = run("webhook", "rotate", "1", "--overlap", "60")
    listed = run("webhook", "list", "--json")
    with h.node.store.write() as conn:
        h.node.store.webhooks.enqueue(
            conn,
            endpoint_id=1,
            message_id="msg_cli",
            event_type="alert.raised",
            payload=b"{}",
            now=0,
        )
    again = run("webhook", "redeliver", "1")
    logged = run("webhook", "log", "1")
    missing = run("webhook", "rotate", "99")

    assert refused.exit_code == 1
    assert "private" in refused.output
    assert added.exit_code == 0, added.output
    assert secret.startswith("whsec_")
    new = rotated.stdout.strip()
    assert new.startswith("whsec_")
    assert new != secret
    assert [(w["url"], w["label"], w["events"]) for w in json.loads(listed.output)] == [
        ("http://127.0.0.1:9/hook", "ops", ["alert.raised", "alert.updated"])  # by default
    ]
    assert again.exit_code == 0, again.output
    assert "msg_cli-r1" in logged.output
    assert missing.exit_code == 1
