"""EPCIS capture jobs, named queries and query subscriptions over HTTP (EPCIS 2.0 REST
bindings; docs/epcis.md): each capture is a job its submitter (and the admin) reads back,
nobody else; a named query is checked by the query parser, kept per owner and run paged;
a subscription delivers the newly captured matching events as an EPCIS query document
that GS1's schema accepts, signed per Standard Webhooks, to a real local receiver."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import node.epcis.names as names
from api import create_app
from node.epcis.capture import sign_document
from node.epcis.document import parse_document
from node.epcis.hashid import event_hash_id
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from node.webhooks.delivery import Deliverer, DeliveryPolicy
from tests.api.conftest import TEST_SETTINGS, AppClient
from tests.node.epcis.conftest import (
    commissioning,
    document,
    named,
    new_lot,
    receiving,
    shipping,
    with_master_data,
)
from tests.webhook_receiver import Receiver, verify

POLICY = DeliveryPolicy(allow_loopback=True, read_timeout=2.0, connect_timeout=2.0)
PROBLEM = "application/problem+json"


@dataclass
class Rig:
    client: AppClient
    harness: TraceNodeHarness
    tokens: dict[str, str]  # farm, processor, admin

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def capture(self, who: str, doc: dict[str, Any], **headers: str) -> Any:
        request = sign_document(
            store=self.harness.node.store,
            domain=self.harness.node.domain,
            private_key=bytes(self.harness.keys[who].key),
            document=doc,
        )
        return self.client.post("/v1/epcis/capture", json=request, headers=self.auth(who) | headers)

    def rows(self, table: str) -> int:
        from sqlalchemy import text

        with self.harness.node.store.read() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    harness = TraceNodeHarness.create(tmp_path_factory.mktemp("epcis-jobs") / "node")
    client = AppClient(create_app(harness.node, settings=TEST_SETTINGS))
    keys = ApiKeys(harness.node.store)
    tokens = {
        who: keys.create(participant_id=harness.participant_id(who)).token
        for who in ("farm", "processor")
    }
    tokens["admin"] = keys.create(admin=True).token
    try:
        yield Rig(client, harness, tokens)
    finally:
        client.close()
        harness.close()


def problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


def events_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return found


# ----- capture jobs -----


def test_a_capture_is_a_job_its_submitter_reads_back(rig: Rig) -> None:
    lot = new_lot()
    answer = rig.capture("farm", document(commissioning(lot), receiving(new_lot("0614142"))))

    assert answer.status_code == 202, answer.text
    body = answer.json()
    # What clients relied on before is still there, the job beside it.
    assert (body["captured"], body["refused"], body["success"]) == (1, 1, False)
    location = answer.headers["Location"]
    assert location == f"/v1/epcis/capture/{body['captureID']}"
    job = rig.client.get(location, headers=rig.auth("farm"))
    assert job.status_code == 200, job.text
    shown = job.json()
    assert shown["captureID"] == body["captureID"]
    assert (shown["running"], shown["success"]) == (False, False)
    assert shown["captureErrorBehaviour"] == "proceed"
    assert shown["createdAt"] <= shown["finishedAt"]
    assert [r["outcome"] for r in shown["results"]] == ["captured", "refused"]
    assert shown["results"] == body["results"]  # the outcomes the capture answered
    (error,) = shown["errors"]
    assert error == body["results"][1]["problem"]
    assert (error["status"], error["cause"]["code"]) == (409, "licensed-elsewhere")
    # The admin reads it too; another participant does not even learn it exists.
    assert rig.client.get(location, headers=rig.auth("admin")).status_code == 200
    problem(
        rig.client.get(location, headers=rig.auth("processor")),
        404,
        "epcis-capture-job-not-found",
    )
    problem(rig.client.get(location), 401, "unauthenticated")


def test_a_capture_that_holds_nothing_is_a_failed_job(rig: Rig) -> None:
    answer = rig.capture("farm", document(receiving(new_lot("0614142"))))

    body = problem(answer, 409, "epcis-event-rejected")
    job = rig.client.get(answer.headers["Location"], headers=rig.auth("farm")).json()
    assert job["captureID"] == body["captureID"]
    assert (job["success"], job["refused"]) == (False, 1)
    assert job["errors"][0]["cause"]["code"] == "licensed-elsewhere"


def test_a_request_refused_whole_leaves_no_job(rig: Rig) -> None:
    before = rig.rows("epcis_capture_jobs")

    answer = rig.client.post(
        "/v1/epcis/capture", json={"document": {"type": "nothing"}}, headers=rig.auth("farm")
    )

    assert answer.status_code == 422, answer.text
    assert "Location" not in answer.headers
    assert rig.rows("epcis_capture_jobs") == before


def test_the_job_list_is_each_submitters_own_paged_newest_first(rig: Rig) -> None:
    mine = [rig.capture("processor", document(commissioning(new_lot("0614142")))) for _ in "ab"]
    ids = [a.json()["captureID"] for a in mine]

    first = rig.client.get("/v1/epcis/capture?perPage=1", headers=rig.auth("processor"))
    assert first.status_code == 200, first.text
    assert [j["captureID"] for j in first.json()] == [ids[1]]
    link = first.headers["Link"]
    assert link.endswith('>; rel="next"')
    second = rig.client.get(link[1 : link.index(">")], headers=rig.auth("processor"))
    assert [j["captureID"] for j in second.json()] == [ids[0]]
    every = rig.client.get("/v1/epcis/capture?perPage=500", headers=rig.auth("admin")).json()
    assert set(ids) < {j["captureID"] for j in every}
    farm = rig.client.get("/v1/epcis/capture?perPage=500", headers=rig.auth("farm")).json()
    assert not set(ids) & {j["captureID"] for j in farm}


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/v1/epcis/capture/cap_0000", 404, "epcis-capture-job-not-found"),
        ("/v1/epcis/capture/" + "x" * 65, 422, "validation-error"),
        ("/v1/epcis/capture?nextPageToken=%21%21", 400, "epcis-query-invalid"),
        # Forged: 9999999999999999999, beyond the store's 64-bit integers (it answered 500).
        ("/v1/epcis/capture?nextPageToken=OTk5OTk5OTk5OTk5OTk5OTk5OQ", 400, "epcis-query-invalid"),
        ("/v1/epcis/capture?nextPageToken=IDEy", 400, "epcis-query-invalid"),  # " 12"
        ("/v1/epcis/capture?perPage=0", 422, "validation-error"),
    ],
)
def test_bad_job_requests_are_problems(rig: Rig, url: str, status: int, code: str) -> None:
    problem(rig.client.get(url, headers=rig.auth("farm")), status, code)


# ----- named queries -----


def test_a_named_query_is_kept_per_owner_and_run_paged(rig: Rig) -> None:
    lot = new_lot()
    query = {
        "eventType": ["ObjectEvent"],
        "EQ_bizStep": ["commissioning", "shipping"],
        "MATCH_epcClass": lot,
    }
    made = rig.client.post(
        "/v1/epcis/queries", json={"name": "my-lot", "query": query}, headers=rig.auth("farm")
    )
    assert made.status_code == 201, made.text
    assert made.headers["Location"] == "/v1/epcis/queries/my-lot"
    # Another owner may use the name; the farm's query stays the farm's.
    other = rig.client.post(
        "/v1/epcis/queries",
        json={"name": "my-lot", "query": {"EQ_bizStep": "shipping"}},
        headers=rig.auth("processor"),
    )
    assert other.status_code == 201, other.text
    made = rig.capture("farm", document(commissioning(lot), commissioning(lot)))
    assert made.status_code == 202, made.text  # the second event is a duplicate
    shipped = rig.capture("farm", document(shipping(lot), commissioning(new_lot())))
    assert shipped.json()["captured"] == 2, shipped.text

    run = rig.client.get("/v1/epcis/queries/my-lot/events?perPage=1", headers=rig.auth("farm"))
    assert run.status_code == 200, run.text
    assert run.headers["GS1-EPCIS-Version"] == "2.0.0"
    parsed = parse_document(run.json())  # GS1's JSON Schema
    assert parsed.kind == "EPCISQueryDocument"
    assert run.json()["epcisBody"]["queryResults"]["queryName"] == "my-lot"
    link = run.headers["Link"]
    rest = rig.client.get(link[1 : link.index(">")], headers=rig.auth("farm"))
    found = events_of(run.json()) + events_of(rest.json())
    assert [(e["bizStep"], e["quantityList"][0]["epcClass"]) for e in found] == [
        ("commissioning", lot),
        ("shipping", lot),
    ]
    assert "Link" not in rest.headers
    listed = rig.client.get("/v1/epcis/queries", headers=rig.auth("farm")).json()
    assert [q["name"] for q in listed if q["name"] == "my-lot"] == ["my-lot"]
    mine = rig.client.get("/v1/epcis/queries/my-lot", headers=rig.auth("farm")).json()
    assert mine["query"] == {
        "eventType": ["ObjectEvent"],
        "EQ_bizStep": ["commissioning", "shipping"],
        "MATCH_epcClass": [lot],
    }
    theirs = rig.client.get("/v1/epcis/queries/my-lot", headers=rig.auth("processor")).json()
    assert theirs["query"] == {"EQ_bizStep": ["shipping"]}

    gone = rig.client.delete("/v1/epcis/queries/my-lot", headers=rig.auth("processor"))
    assert gone.status_code == 204, gone.text
    problem(
        rig.client.get("/v1/epcis/queries/my-lot/events", headers=rig.auth("processor")),
        404,
        "epcis-query-not-found",
    )
    assert rig.client.get("/v1/epcis/queries/my-lot", headers=rig.auth("farm")).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code", "parameter"),
    [
        (
            {"name": "q", "query": {"EQ_ex:colour": "red"}},
            400,
            "epcis-query-invalid",
            "EQ_ex:colour",
        ),
        ({"name": "q", "query": {"nonsense": "1"}}, 400, "epcis-query-invalid", "nonsense"),
        (
            {"name": "q", "query": {"GE_eventTime": "yesterday"}},
            400,
            "epcis-query-invalid",
            "GE_eventTime",
        ),
        ({"name": "q", "query": {"perPage": 5}}, 400, "epcis-query-invalid", "perPage"),
        (
            {"name": "q", "query": {"EQ_bizStep": [{"x": 1}]}},
            400,
            "epcis-query-invalid",
            "EQ_bizStep",
        ),
        ({"name": "q", "query": {"EQ_bizStep": []}}, 400, "epcis-query-invalid", "EQ_bizStep"),
        ({"name": "a/b", "query": {}}, 400, "epcis-query-invalid", "name"),
        ({"name": "q", "query": ["EQ_bizStep"]}, 422, "validation-error", None),
        ({"name": "q"}, 422, "validation-error", None),
        ({"name": "q", "query": {}, "extra": 1}, 422, "validation-error", None),
    ],
)
def test_a_bad_query_definition_is_a_problem_and_stores_nothing(
    rig: Rig, body: dict[str, Any], status: int, code: str, parameter: str | None
) -> None:
    before = rig.rows("epcis_named_queries")

    answer = rig.client.post("/v1/epcis/queries", json=body, headers=rig.auth("farm"))

    found = problem(answer, status, code)
    if parameter is not None:
        assert found["parameter"] == parameter
    assert rig.rows("epcis_named_queries") == before


def test_a_duplicate_name_and_a_foreign_run_parameter_are_refused(rig: Rig) -> None:
    body = {"name": "dup", "query": {"EQ_bizStep": "shipping"}}
    assert (
        rig.client.post("/v1/epcis/queries", json=body, headers=rig.auth("farm")).status_code == 201
    )
    before = rig.rows("epcis_named_queries")

    again = rig.client.post(
        "/v1/epcis/queries",
        json={"name": "dup", "query": {"EQ_bizStep": "receiving"}},
        headers=rig.auth("farm"),
    )

    problem(again, 409, "epcis-query-exists")
    assert rig.rows("epcis_named_queries") == before
    kept = rig.client.get("/v1/epcis/queries/dup", headers=rig.auth("farm")).json()
    assert kept["query"] == {"EQ_bizStep": ["shipping"]}
    run = rig.client.get("/v1/epcis/queries/dup/events?EQ_bizStep=x", headers=rig.auth("farm"))
    assert problem(run, 400, "epcis-query-invalid")["parameter"] == "EQ_bizStep"
    problem(rig.client.get("/v1/epcis/queries/dup"), 401, "unauthenticated")


# ----- subscriptions -----


def test_a_subscription_delivers_new_matching_events_as_a_signed_query_document(
    rig: Rig,
) -> None:
    lot, other, undone = new_lot(), new_lot(), new_lot()
    made = rig.client.post(
        "/v1/epcis/queries",
        json={"name": "watch", "query": {"MATCH_anyEPCClass": [lot, undone]}},
        headers=rig.auth("farm"),
    )
    assert made.status_code == 201, made.text
    token = "a-receivers-own-token-0123456789"
    receiver, tokened = Receiver(), Receiver()
    with receiver.serving() as url, tokened.serving() as url2:
        sub = rig.client.post(
            "/v1/epcis/queries/watch/subscriptions",
            json={"dest": url, "stream": True},
            headers=rig.auth("farm"),
        )
        assert sub.status_code == 201, sub.text
        sub2 = rig.client.post(
            "/v1/epcis/queries/watch/subscriptions",
            json={"dest": url2, "signatureToken": token},
            headers=rig.auth("farm"),
        )
        assert sub2.status_code == 201, sub2.text
        created = sub.json()
        assert sub.headers["Location"] == (
            f"/v1/epcis/queries/watch/subscriptions/{created['subscriptionID']}"
        )
        answer = rig.capture(
            "farm", document(commissioning(lot), commissioning(other), shipping(lot))
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["captured"] == 3
        rig.capture("farm", document(commissioning(new_lot())))  # matches nothing: no message
        # Rolled back: nothing written, so nothing sent (the outbox is in its transaction).
        rolled = rig.capture(
            "farm",
            document(commissioning(undone), receiving(new_lot("0614142"))),
            **{"GS1-Capture-Error-Behaviour": "rollback"},
        )
        assert rolled.status_code == 409, rolled.text
        deliverer = Deliverer(rig.harness.node.store, POLICY)
        try:
            while deliverer.deliver_due():
                pass
        finally:
            deliverer.close()

    (message,) = receiver.got
    assert verify(message, created["secret"])
    (message2,) = tokened.got
    assert verify(message2, "whsec_" + base64.b64encode(token.encode()).decode())
    assert events_of(message2.body) == events_of(message.body)
    body = message.body
    parsed = parse_document(body)  # GS1's JSON Schema
    assert parsed.kind == "EPCISQueryDocument"
    results = body["epcisBody"]["queryResults"]
    assert (results["queryName"], results["subscriptionID"]) == ("watch", created["subscriptionID"])
    hash_ids = [r["eventHashId"] for r in answer.json()["results"]]
    sent = events_of(body)
    assert [event_hash_id(e, e["@context"]) for e in sent] == [hash_ids[0], hash_ids[2]]
    assert [e["bizStep"] for e in sent] == ["commissioning", "shipping"]

    listed = rig.client.get("/v1/epcis/queries/watch/subscriptions", headers=rig.auth("farm"))
    assert len(listed.json()) == 2
    assert "secret" not in listed.json()[0]
    problem(
        rig.client.get(sub.headers["Location"], headers=rig.auth("processor")),
        404,
        "epcis-query-not-found",
    )
    gone = rig.client.delete(sub.headers["Location"], headers=rig.auth("farm"))
    assert gone.status_code == 204, gone.text
    problem(
        rig.client.get(sub.headers["Location"], headers=rig.auth("farm")),
        404,
        "epcis-subscription-not-found",
    )


def test_a_subscription_its_query_cannot_answer_leaves_others_captures_alone(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A master-data filter is refused once the node holds more than MAX_FILTERED assertions
    # (0 here, for 20,000). A subscriber's query runs in every capture's transaction: its
    # refusal once refused the capture, naming the subscriber's parameter.
    plant = "urn:epc:id:sgln:0614141.00042.0"
    located = document(commissioning(new_lot()) | {"bizLocation": {"id": plant}})
    assert (
        rig.capture("farm", with_master_data(located, named(plant, city="Thun"))).status_code == 202
    )
    made = rig.client.post(
        "/v1/epcis/queries",
        json={"name": "in-thun", "query": {"EQATTR_bizLocation_city": "Thun"}},
        headers=rig.auth("processor"),
    )
    assert made.status_code == 201, made.text
    sub = rig.client.post(
        "/v1/epcis/queries/in-thun/subscriptions",
        json={"dest": "http://127.0.0.1:9/inbox", "stream": True},
        headers=rig.auth("processor"),
    )
    assert sub.status_code == 201, sub.text
    monkeypatch.setattr(names, "MAX_FILTERED", 0)
    try:
        answer = rig.capture("farm", document(commissioning(new_lot())))

        assert answer.status_code == 202, answer.text
        assert answer.json()["captured"] == 1
    finally:
        rig.client.delete(sub.headers["Location"], headers=rig.auth("processor"))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"dest": "http://10.0.0.7/hook", "stream": True}, "webhook-url-refused"),
        ({"dest": "http://169.254.169.254/latest", "stream": True}, "webhook-url-refused"),
        ({"dest": "ftp://example.com/x", "stream": True}, "webhook-url-refused"),
        ({"dest": "http://127.0.0.1:9/h", "schedule": {"hour": "1"}}, "epcis-subscription-invalid"),
        ({"dest": "http://127.0.0.1:9/h", "stream": False}, "epcis-subscription-invalid"),
        ({"dest": "http://127.0.0.1:9/h", "reportIfEmpty": True}, "epcis-subscription-invalid"),
        ({"dest": "http://127.0.0.1:9/h", "signatureToken": "short"}, "epcis-subscription-invalid"),
        ({"dest": "http://127.0.0.1:9/h", "stream": "yes"}, "validation-error"),
    ],
)
def test_a_bad_subscription_is_a_problem_and_stores_nothing(
    rig: Rig, body: dict[str, Any], code: str
) -> None:
    name = "sub-bad"
    if rig.client.get(f"/v1/epcis/queries/{name}", headers=rig.auth("farm")).status_code == 404:
        rig.client.post(
            "/v1/epcis/queries", json={"name": name, "query": {}}, headers=rig.auth("farm")
        )
    before = (rig.rows("epcis_subscriptions"), rig.rows("webhook_endpoints"))

    answer = rig.client.post(
        f"/v1/epcis/queries/{name}/subscriptions", json=body, headers=rig.auth("farm")
    )

    problem(answer, 422, code)
    assert (rig.rows("epcis_subscriptions"), rig.rows("webhook_endpoints")) == before
    problem(
        rig.client.post(
            "/v1/epcis/queries/nope/subscriptions",
            json={"dest": "http://127.0.0.1:9/h"},
            headers=rig.auth("farm"),
        ),
        404,
        "epcis-query-not-found",
    )
