"""eventTime is bounded at ingest (node/ingest/event_time.py): over HTTP, one event or a
list, and through an EPCIS capture, a time outside the window is a problem naming the
field; times inside it, the fixed times tests and backfills use included, are accepted."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from api import create_app
from node.epcis.capture import sign_document
from node.events.identifiers import parse_identifier
from node.events.submission import submission_document
from node.events.typed_data import Action
from node.ingest.event_time import DEFAULT_EARLIEST_MS, DEFAULT_MAX_AHEAD_MINUTES
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import GTIN, TEST_SETTINGS, AppClient, Rig
from tests.node.epcis.conftest import commissioning, document, new_lot

PROBLEM_JSON = "application/problem+json"
HOUR_MS = 3_600_000
YEAR_9999_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def now_ms() -> int:
    return int(time.time() * 1000)


def commission_at(rig: Rig, event_time: int) -> dict[str, Any]:
    lot = f"https://id.gs1.org/01/{GTIN}/10/T{secrets.token_hex(4).upper()}"
    signed = rig.sign(
        "farm",
        Action.COMMISSION,
        batch_id=bytes(parse_identifier(lot).batch_id),
        event_time=event_time,
    )
    return submission_document(signed) | {"identifiers": [lot]}


@pytest.mark.parametrize(
    "event_time",
    [
        pytest.param(0, id="zero"),
        pytest.param(1_732_000_000, id="seconds instead of milliseconds"),
        pytest.param(DEFAULT_EARLIEST_MS - 1, id="just before 2000"),
        pytest.param(YEAR_9999_MS, id="year 9999"),
        pytest.param(2**63 - 1, id="largest eventTime"),
    ],
)
def test_an_event_time_outside_the_window_is_422_naming_the_field(
    rig: Rig, event_time: int
) -> None:
    submission = commission_at(rig, event_time)

    answer = rig.client.post("/v1/events", json=submission, headers=rig.auth("farm"))

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["code"] == "event-time-out-of-range"
    assert problem["type"] == "urn:tracenode:problem:event-time-out-of-range"
    assert problem["field"] == "eventTime"
    assert problem["earliest"] == DEFAULT_EARLIEST_MS
    assert problem["latest"] > now_ms()
    assert "eventTime" in problem["detail"]


def test_two_hours_ahead_of_the_nodes_clock_is_refused(rig: Rig) -> None:
    submission = commission_at(rig, now_ms() + 2 * HOUR_MS)

    answer = rig.client.post("/v1/events", json=submission, headers=rig.auth("farm"))

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "event-time-out-of-range"
    assert f"more than {DEFAULT_MAX_AHEAD_MINUTES} minutes ahead" in answer.json()["detail"]


@pytest.mark.parametrize(
    "event_time",
    [
        pytest.param(DEFAULT_EARLIEST_MS, id="2000-01-01 exactly"),
        pytest.param(1_732_000_000_000, id="the fixed time tests use (2024-11-19)"),
        pytest.param(None, id="half an hour ahead (clock drift)"),
    ],
)
def test_times_inside_the_window_are_accepted(rig: Rig, event_time: int | None) -> None:
    submission = commission_at(rig, now_ms() + HOUR_MS // 2 if event_time is None else event_time)

    answer = rig.client.post("/v1/events", json=submission, headers=rig.auth("farm"))

    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "accepted"


def test_in_a_list_only_the_event_out_of_the_window_is_rejected(rig: Rig) -> None:
    bad = commission_at(rig, 0)
    good = commission_at(rig, now_ms())

    answer = rig.client.post("/v1/events", json=[bad, good], headers=rig.auth("farm"))

    assert answer.status_code == 202, answer.text
    first, second = answer.json()["results"]
    assert first["outcome"] == "rejected"
    assert first["problem"]["code"] == "event-time-out-of-range"
    assert first["problem"]["field"] == "eventTime"
    assert second["outcome"] == "accepted"
    refused = rig.client.get(f"/v1/events/{first['eventHash']}")
    assert refused.status_code == 404  # nothing of the refused event was written


@pytest.fixture
def harness_client(tracenode: TraceNodeHarness) -> Iterator[AppClient]:
    client = AppClient(create_app(tracenode.node, settings=TEST_SETTINGS))
    try:
        yield client
    finally:
        client.close()


def test_an_epcis_capture_with_an_event_time_before_2000_is_refused_whole(
    tracenode: TraceNodeHarness, harness_client: AppClient
) -> None:
    token = ApiKeys(tracenode.node.store).create(participant_id=tracenode.participant_id("farm"))
    made = commissioning(new_lot())
    made["eventTime"] = "1999-12-31T23:59:59Z"
    made["eventTimeZoneOffset"] = "+00:00"
    request = sign_document(
        store=tracenode.node.store,
        domain=tracenode.node.domain,
        private_key=bytes(tracenode.keys["farm"].key),
        document=document(made),
    )

    answer = harness_client.post(
        "/v1/epcis/capture", json=request, headers={"Authorization": f"Bearer {token.token}"}
    )

    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    problem = answer.json()
    assert problem["code"] == "epcis-event-rejected"
    assert problem["cause"]["code"] == "event-time-out-of-range"
    assert problem["pointer"] == "/document/epcisBody/eventList/0/eventTime"
    assert problem["eventIndex"] == 0
