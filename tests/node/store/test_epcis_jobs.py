"""Capture jobs, named queries and subscriptions in the store, on SQLite and PostgreSQL:
jobs paged per submitter, names unique per owner, a query's deletion taking its
subscriptions with it."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from node.store.models import AlertSeverity
from node.store.records import Subscription
from node.store.store import Store


def test_jobs_are_paged_newest_first_per_submitter(store: Store) -> None:
    with store.write() as conn:
        for n, submitter in enumerate([7, 8, 7, None, 7]):
            store.epcis_jobs.add(
                conn,
                capture_id=f"cap_{n}",
                submitter=submitter,
                created_at=n,
                finished_at=n + 1,
                behaviour="proceed",
                status="succeeded",
                outcomes=[{"index": 0, "outcome": "captured"}],
            )

    with store.read() as conn:
        first = store.epcis_jobs.page(conn, submitter=7, every=False, before=None, limit=2)
        rest = store.epcis_jobs.page(conn, submitter=7, every=False, before=first[-1].id, limit=2)
        operator = store.epcis_jobs.page(conn, submitter=None, every=False, before=None, limit=9)
        every = store.epcis_jobs.page(conn, submitter=None, every=True, before=None, limit=9)
        one = store.epcis_jobs.get(conn, "cap_1")

    assert [j.capture_id for j in first + rest] == ["cap_4", "cap_2", "cap_0"]
    assert [j.capture_id for j in operator] == ["cap_3"]
    assert len(every) == 5
    assert one is not None
    assert (one.submitter, one.outcomes) == (8, ({"index": 0, "outcome": "captured"},))


def test_names_are_unique_per_owner_and_a_query_takes_its_subscriptions(store: Store) -> None:
    with store.write() as conn:
        mine = store.epcis_queries.add(
            conn, owner="participant:1", name="q", definition={"EQ_action": ["ADD"]}, now=1
        )
        store.epcis_queries.add(conn, owner="admin", name="q", definition={}, now=1)
        endpoint = store.webhooks.add_endpoint(
            conn,
            url="https://example.com/h",
            subscription=Subscription(types=("epcis.query",), min_severity=AlertSeverity.LOW),
            label="",
            secret="whsec_AAAA",
            now=1,
        )
        store.epcis_queries.subscribe(
            conn, subscription_id="sub_1", query_id=mine.id, endpoint_id=endpoint.id, now=2
        )
    with pytest.raises(IntegrityError), store.write() as conn:
        store.epcis_queries.add(conn, owner="participant:1", name="q", definition={}, now=3)

    with store.read() as conn:
        (active,) = store.epcis_queries.active(conn)
        counted = store.epcis_queries.subscription_count(conn, "participant:1")
    with store.write() as conn:
        endpoints = store.epcis_queries.delete(conn, mine.id)
    with store.read() as conn:
        left = store.epcis_queries.of_owner(conn, "participant:1")
        theirs = store.epcis_queries.of_owner(conn, "admin")

    assert active[1].definition == {"EQ_action": ["ADD"]}
    assert (active[0].subscription_id, counted) == ("sub_1", 1)
    assert endpoints == [endpoint.id]
    assert (left, [q.name for q in theirs]) == ([], ["q"])


def test_an_async_job_keeps_its_request_and_progress_until_it_finishes(store: Store) -> None:
    with store.write() as conn:
        store.epcis_jobs.add(
            conn,
            capture_id="cap_async",
            submitter=7,
            created_at=1,
            finished_at=None,
            behaviour="proceed",
            status="running",
            outcomes=[],
            events_total=3,
            events_done=0,
            request=b'{"document":{}}',
        )
        store.epcis_jobs.progress(
            conn, "cap_async", events_done=2, outcomes=[{"index": 0}, {"index": 1}]
        )
    with store.read() as conn:
        running = store.epcis_jobs.get(conn, "cap_async")
        waiting = (store.epcis_jobs.unfinished(conn), store.epcis_jobs.count_unfinished(conn))
        request = store.epcis_jobs.request(conn, "cap_async")
    with store.write() as conn:
        store.epcis_jobs.finish(
            conn,
            "cap_async",
            finished_at=5,
            status="failed",
            events_done=2,
            outcomes=[{"index": 0}, {"index": 1}],
            error={"code": "epcis-signature-mismatch", "detail": "signed again"},
        )
    with store.read() as conn:
        done = store.epcis_jobs.get(conn, "cap_async")
        after = (store.epcis_jobs.unfinished(conn), store.epcis_jobs.request(conn, "cap_async"))

    assert running is not None
    assert (running.finished_at, running.events_total, running.events_done) == (None, 3, 2)
    assert len(running.outcomes) == 2
    assert waiting == (["cap_async"], 1)
    assert request == b'{"document":{}}'
    assert done is not None
    assert (done.finished_at, done.status, done.events_done) == (5, "failed", 2)
    assert done.error == {"code": "epcis-signature-mismatch", "detail": "signed again"}
    assert after == ([], None)  # the request is dropped: nothing left to resume


def test_a_jobs_outcomes_are_not_bounded_as_an_event_payload_is(store: Store) -> None:
    # 1,000 refused events' outcomes pass 256 KiB, an event payload's bound: the job of a
    # large document was lost after its capture ran (an error answered instead).
    outcomes = [{"index": i, "refusal": {"detail": "x" * 300}} for i in range(1000)]
    with store.write() as conn:
        store.epcis_jobs.add(
            conn,
            capture_id="cap_large",
            submitter=None,
            created_at=1,
            finished_at=2,
            behaviour="proceed",
            status="failed",
            outcomes=outcomes,
        )
    with store.read() as conn:
        found = store.epcis_jobs.get(conn, "cap_large")

    assert found is not None
    assert list(found.outcomes) == outcomes
