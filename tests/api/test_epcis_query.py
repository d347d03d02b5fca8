"""The EPCIS 2.0 query interface over HTTP: captured events come back in query documents
that GS1's schema accepts and whose hash IDs re-derive, found by every spelling of a
value, paged by nextPageToken; every parameter it does not answer is refused by name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from api import create_app
from node.epcis.capture import sign_document
from node.epcis.document import parse_document
from node.epcis.hashid import event_hash_id
from node.store.apikeys import ApiKeys
from node.store.store import Store
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient
from tests.node.epcis.conftest import (
    commissioning,
    document,
    new_lot,
    receiving,
    shipping,
)

EXTENSION = {"ex": "https://ns.example.com/epcis/"}
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", EXTENSION]


@dataclass
class Captured:
    client: AppClient
    store: Store
    lot: str  # commissioned, shipped, received
    other: str  # commissioned only
    hash_ids: dict[str, str]  # by name: commission, other, ship, receive


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    harness = TraceNodeHarness.create(tmp_path_factory.mktemp("epcis-query") / "node")
    client = AppClient(create_app(harness.node, settings=TEST_SETTINGS))
    try:
        lot, other = new_lot(), new_lot()
        farm_doc = document(
            commissioning(lot)
            | {"eventID": "urn:uuid:9a1e5d2c-4444-4e4e-8f88-3c4d5e6f7081", "ex:herd": "H-7"},
            commissioning(other) | {"eventTime": "2024-05-06T09:30:00+02:00"},
            shipping(lot) | {"eventTime": "2024-05-06T10:00:00+02:00"},
            context=CONTEXT,
        )
        processor_doc = document(
            receiving(lot) | {"eventTime": "2024-05-07T08:00:00+02:00"}, context=CONTEXT
        )
        names = iter(["commission", "other", "ship", "receive"])
        hash_ids: dict[str, str] = {}
        for who, doc in (("farm", farm_doc), ("processor", processor_doc)):
            key = ApiKeys(harness.node.store).create(participant_id=harness.participant_id(who))
            request = sign_document(
                store=harness.node.store,
                domain=harness.node.domain,
                private_key=bytes(harness.keys[who].key),
                document=doc,
            )
            answer = client.post(
                "/v1/epcis/capture",
                json=request,
                headers={"Authorization": f"Bearer {key.token}"},
            )
            assert answer.status_code == 202, answer.text
            for result in answer.json()["results"]:
                hash_ids[next(names)] = result["eventHashId"]
        yield Captured(client, harness.node.store, lot, other, hash_ids)
    finally:
        client.close()
        harness.close()


def ask(captured: Captured, query: str = "", path: str = "/v1/epcis/events") -> dict[str, Any]:
    answer = captured.client.get(path + ("?" + query if query else ""))
    assert answer.status_code == 200, answer.text
    assert answer.headers["GS1-EPCIS-Version"] == "2.0.0"
    assert answer.headers["GS1-CBV-Version"] == "2.0.0"
    body: dict[str, Any] = answer.json()
    return body


def found(captured: Captured, query: str = "", path: str = "/v1/epcis/events") -> list[str]:
    """The names of the events a query returns, in order."""
    names = {h: n for n, h in captured.hash_ids.items()}
    events = ask(captured, query, path)["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return [names[event_hash_id(e, e.get("@context"))] for e in events]


def test_every_captured_event_comes_back_in_a_valid_query_document(captured: Captured) -> None:
    body = ask(captured)

    parsed = parse_document(body)  # GS1's JSON Schema, as capture checks it
    assert parsed.kind == "EPCISQueryDocument"
    events = [e.data for e in parsed.events]
    assert len(events) == 4
    for event_ in events:
        # Each stands alone: its hash ID from it and nothing else.
        assert event_hash_id(event_, event_["@context"]) in captured.hash_ids.values()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event_["recordTime"])
    first = events[0]
    assert first["eventID"] == "urn:uuid:9a1e5d2c-4444-4e4e-8f88-3c4d5e6f7081"
    assert first["ex:herd"] == "H-7"
    assert first["@context"] == CONTEXT
    # An event captured without an eventID is given its hash ID (CBV 2.0 §8.9).
    assert events[1]["eventID"] == captured.hash_ids["other"]


@pytest.mark.parametrize(
    "spelling",
    [
        "shipping",
        "urn:epcglobal:cbv:bizstep:shipping",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "cbv:BizStep-shipping",
    ],
)
def test_a_vocabulary_value_is_found_by_every_spelling(captured: Captured, spelling: str) -> None:
    assert found(captured, f"EQ_bizStep={quote(spelling)}") == ["ship"]


def test_an_epc_class_is_found_as_urn_and_as_digital_link(captured: Captured) -> None:
    lot_code = captured.lot.rsplit(".", 1)[1]
    link = f"https://id.gs1.org/01/00614141123452/10/{lot_code}"

    by_urn = found(captured, f"MATCH_epcClass={quote(captured.lot)}")
    by_link = found(captured, f"MATCH_anyEPCClass={quote(link)}")

    assert by_urn == by_link == ["commission", "ship", "receive"]
    assert found(captured, f"MATCH_epcClass={quote(captured.lot)}|{quote(captured.other)}") == [
        "commission",
        "other",
        "ship",
        "receive",
    ]
    assert found(captured, f"MATCH_epc={quote(captured.lot)}") == []  # a class, not an item


def test_parameters_combine_and_times_bound(captured: Captured) -> None:
    assert found(captured, "EQ_action=ADD") == ["commission", "other"]
    assert found(captured, "EQ_action=ADD&EQ_bizStep=shipping") == []
    assert found(
        captured, "GE_eventTime=2024-05-06T07:00:00Z&LT_eventTime=2024-05-07T00:00:00Z"
    ) == [
        "other",
        "ship",
    ]
    assert found(captured, "eventType=TransformationEvent") == []
    assert found(captured, "eventType=ObjectEvent&EQ_bizStep=receiving") == ["receive"]
    assert found(captured, "GE_recordTime=2000-01-01T00:00:00Z") == [
        "commission",
        "other",
        "ship",
        "receive",
    ]
    assert found(captured, "LT_recordTime=2000-01-01T00:00:00Z") == []


def test_an_event_is_found_by_its_event_id_or_its_hash_id(captured: Captured) -> None:
    event_id = "urn:uuid:9a1e5d2c-4444-4e4e-8f88-3c4d5e6f7081"
    hash_id = captured.hash_ids["commission"]

    assert found(captured, f"EQ_eventID={quote(event_id)}") == ["commission"]
    assert found(captured, f"EQ_eventID={quote(hash_id, safe='')}") == ["commission"]
    for ref in (event_id, hash_id):
        one = captured.client.get(f"/v1/epcis/events/{quote(ref, safe='')}")
        assert one.status_code == 200, one.text
        assert event_hash_id(one.json(), one.json()["@context"]) == hash_id
    # A client folding the path's '///' and leaving '?ver=CBV2.0' unencoded still finds it.
    hex_digits = hash_id.split(";", 1)[1].split("?", 1)[0]
    folded = captured.client.get(f"/v1/epcis/events/ni:/sha-256;{hex_digits.upper()}?ver=CBV2.0")
    assert folded.status_code == 200, folded.text
    assert event_hash_id(folded.json(), folded.json()["@context"]) == hash_id
    missing = captured.client.get("/v1/epcis/events/urn:uuid:00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["code"] == "epcis-event-not-found"


def test_pages_follow_the_link_header_until_every_event_is_served(captured: Captured) -> None:
    whole = found(captured, "orderBy=eventTime&orderDirection=DESC")
    assert whole == ["receive", "ship", "other", "commission"]

    paged: list[str] = []
    names = {h: n for n, h in captured.hash_ids.items()}
    url: str | None = "/v1/epcis/events?orderBy=eventTime&orderDirection=DESC&perPage=1"
    while url is not None:
        answer = captured.client.get(url)
        assert answer.status_code == 200, answer.text
        events = answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        paged += [names[event_hash_id(e, e["@context"])] for e in events]
        link = answer.headers.get("Link")
        url = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None  # type: ignore[union-attr]
        assert len(paged) <= 4
    assert paged == whole

    limited = captured.client.get("/v1/epcis/events?perPage=1&eventCountLimit=2")
    second = captured.client.get(
        re.fullmatch(r'<([^>]+)>; rel="next"', limited.headers["Link"]).group(1)  # type: ignore[union-attr]
    )
    assert "Link" not in second.headers  # two events in all, though four match
    assert len(second.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 1


def test_event_types_and_the_typed_path(captured: Captured) -> None:
    types = captured.client.get("/v1/epcis/eventTypes")
    assert types.status_code == 200
    assert types.json() == [
        "AggregationEvent",
        "AssociationEvent",
        "ObjectEvent",
        "TransactionEvent",
        "TransformationEvent",
    ]
    assert found(captured, "EQ_bizStep=receiving", "/v1/epcis/eventTypes/ObjectEvent/events") == [
        "receive"
    ]
    assert found(captured, "", "/v1/epcis/eventTypes/AggregationEvent/events") == []


@pytest.mark.parametrize(
    ("query", "parameter", "words"),
    [
        ("EQ_ex:herd=H-7", "EQ_ex:herd", "does not answer EQ_ex:herd"),
        ("colour=red", "colour", "no EPCIS query parameter"),
        ("perPage=0", "perPage", "whole number"),
        ("perPage=100000", "perPage", "whole number"),
        ("GE_eventTime=yesterday", "GE_eventTime", "date and time"),
        ("nextPageToken=%21%21", "nextPageToken", "not one this node gave"),
        ("orderDirection=UP", "orderDirection", "ASC or DESC"),
        ("orderBy=bizStep", "orderBy", "eventTime or recordTime"),
        ("eventType=FooEvent", "eventType", "no EPCIS 2.0 event type"),
        ("EQ_action=MOVE", "EQ_action", "ADD, OBSERVE or DELETE"),
        ("MATCH_epc=urn:epc:idpat:sgtin:0614141.*.*", "MATCH_epc", "patterns"),
        ("EQ_bizStep=", "EQ_bizStep", "empty value"),
        ("perPage=1&perPage=2", "perPage", "takes one value"),
        # Digits of other scripts: "²" once reached int() and answered 500.
        ("perPage=%C2%B2", "perPage", "whole number"),
        ("eventCountLimit=%D9%A1%D9%A2", "eventCountLimit", "whole number"),
        # Forged tokens beyond the store's 64-bit integers once answered 500.
        ("nextPageToken=OTk5OTk5OTk5OTk5OTk5OTk5OS4xLjA", "nextPageToken", "not one"),
        ("nextPageToken=MS45OTk5OTk5OTk5OTk5OTk5OTk5LjA", "nextPageToken", "not one"),
        # Times out of the calendar's range in UTC, an impossible zone: once 500, and 200.
        ("GE_eventTime=9999-12-31T23:59:59.9999Z", "GE_eventTime", "date and time"),
        ("LT_recordTime=0001-01-01T00:00:00%2B01:00", "LT_recordTime", "date and time"),
        ("GE_eventTime=2024-05-06T00:00:00%2B99:99", "GE_eventTime", "date and time"),
    ],
)
def test_a_parameter_it_does_not_answer_is_refused_by_name(
    captured: Captured, query: str, parameter: str, words: str
) -> None:
    answer = captured.client.get(f"/v1/epcis/events?{query}")

    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["code"] == "epcis-query-invalid"
    assert problem["parameter"] == parameter
    assert words in problem["detail"]


def test_another_epcis_version_is_not_acceptable(captured: Captured) -> None:
    answer = captured.client.get("/v1/epcis/events", headers={"GS1-EPCIS-Version": "1.2"})
    assert answer.status_code == 406
    typed = captured.client.get(
        "/v1/epcis/eventTypes/ObjectEvent/events?eventType=AggregationEvent"
    )
    assert typed.status_code == 400
    assert typed.json()["parameter"] == "eventType"


def test_the_upgrade_indexes_events_captured_before_it(captured: Captured) -> None:
    """Migration 0014 indexes what was captured before it, with the code capture uses: a
    store taken back to the revision before it and up again answers every query as
    before."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from node.store.engine import MIGRATIONS

    before = {q: found(captured, q) for q in ("", "EQ_bizStep=shipping", "EQ_action=ADD")}
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with captured.store.engine.begin() as conn:
        config.attributes["connection"] = conn
        before_0014 = ScriptDirectory.from_config(config).get_revision("0014").down_revision
        command.downgrade(config, str(before_0014))
        command.upgrade(config, "head")

    assert {q: found(captured, q) for q in before} == before
