"""Query subscriptions over WebSocket (EPCIS 2.0 REST bindings, docs/epcis.md
"Subscriptions over WebSocket"), with a real WebSocket client (``websockets``) against the
gateway served by uvicorn: events captured after subscribing arrive as EPCIS query
documents, only those the owner's query matches; bad input closes the socket with the
problem and ``4000 + status``."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api import create_app
from node.epcis import stream
from node.epcis.capture import sign_document
from node.epcis.document import parse_document
from node.epcis.hashid import event_hash_id
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS
from tests.api.server import free_port
from tests.node.epcis.conftest import commissioning, document, new_lot, receiving, shipping

#: A refused socket has its problem at once, before any poll: open after this long.
REFUSED_WITHIN = 0.3


@dataclass
class Served:
    harness: TraceNodeHarness
    http: httpx.Client
    ws: str  # ws://host:port
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    harness = TraceNodeHarness.create(tmp_path_factory.mktemp("epcis-ws") / "node")
    app = create_app(harness.node, settings=TEST_SETTINGS)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws_max_size=65536
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.02)
    keys = ApiKeys(harness.node.store)
    tokens = {
        who: keys.create(participant_id=harness.participant_id(who)).token
        for who in ("farm", "processor")
    }
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        for who, bizstep in (("farm", "commissioning"), ("processor", "receiving")):
            # The same name for both owners: each has its own.
            answer = http.post(
                "/v1/epcis/queries",
                json={"name": "mine", "query": {"EQ_bizStep": bizstep}},
                headers=auth(tokens[who]),
            )
            assert answer.status_code == 201, answer.text
        yield Served(harness, http, f"ws://127.0.0.1:{port}", tokens)
    finally:
        http.close()
        server.should_exit = True
        thread.join(timeout=30)
        harness.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def subscribe(
    served: Served, who: str | None, path: str = "mine/events?stream=true"
) -> ClientConnection:
    headers = auth(served.tokens[who]) if who is not None else {}
    return connect(
        f"{served.ws}/v1/epcis/queries/{path}",
        additional_headers=headers,
        open_timeout=10,
        close_timeout=5,
    )


def capture(served: Served, who: str, *events: dict[str, Any]) -> list[str]:
    harness = served.harness
    request = sign_document(
        store=harness.node.store,
        domain=harness.node.domain,
        private_key=bytes(harness.keys[who].key),
        document=document(*events),
    )
    answer = served.http.post("/v1/epcis/capture", json=request, headers=auth(served.tokens[who]))
    assert answer.status_code == 202, answer.text
    return [r["eventHashId"] for r in answer.json()["results"]]


def received(socket: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(socket.recv(timeout=timeout))
    return body


def closed(socket: ClientConnection) -> tuple[int, dict[str, Any]]:
    """The problem the server sent last, and the close code."""
    problem = received(socket)
    with pytest.raises(ConnectionClosed) as info:
        socket.recv(timeout=10)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, problem


def test_events_captured_after_subscribing_arrive_only_to_the_query_they_match(
    served: Served,
) -> None:
    before = new_lot()
    capture(served, "farm", commissioning(before))  # before subscribing: never sent
    lot = new_lot()
    with subscribe(served, "farm") as farm, subscribe(served, "processor") as processor:
        assert farm.response is not None
        assert farm.response.headers["GS1-EPCIS-Version"] == "2.0.0"
        commissioned, shipped = capture(served, "farm", commissioning(lot), shipping(lot))
        body = received(farm)
        parsed = parse_document(body)  # GS1's JSON Schema, as capture checks it
        assert parsed.kind == "EPCISQueryDocument"
        assert body["epcisBody"]["queryResults"]["queryName"] == "mine"
        events = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        # The commissioning only (the query's bizStep), re-derivable from itself alone.
        assert [event_hash_id(e, e["@context"]) for e in events] == [commissioned]
        assert shipped != commissioned

        (received_hash,) = capture(served, "processor", receiving(lot))
        body = received(processor)
        events = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert [event_hash_id(e, e["@context"]) for e in events] == [received_hash]
        # Nothing else reached either: the farm's socket never sees the processor's
        # query's events, nor the processor's the farm's.
        for socket, wait in ((farm, 2 * stream.POLL_SECONDS), (processor, 0.05)):
            with pytest.raises(TimeoutError):
                socket.recv(timeout=wait)


def test_another_owners_query_is_not_found(served: Served) -> None:
    served.http.post(
        "/v1/epcis/queries",
        json={"name": "farm-only", "query": {"EQ_bizStep": "shipping"}},
        headers=auth(served.tokens["farm"]),
    ).raise_for_status()
    with subscribe(served, "processor", "farm-only/events?stream=true") as socket:
        code, problem = closed(socket)
    assert (code, problem["code"]) == (4404, "epcis-query-not-found")


@pytest.mark.parametrize(
    ("who", "path", "code", "problem"),
    [
        (None, "mine/events?stream=true", 4401, "unauthenticated"),
        ("farm", "mine/events", 4422, "epcis-subscription-invalid"),
        ("farm", "mine/events?stream=false", 4422, "epcis-subscription-invalid"),
        ("farm", "mine/events?stream=true&minute=5", 4422, "epcis-subscription-invalid"),
        ("farm", "mine/events?minute=60", 4422, "epcis-subscription-invalid"),
        ("farm", "mine/events?hour=[5-3]", 4422, "epcis-subscription-invalid"),
        ("farm", "mine/events?stream=true&reportIfEmpty=true", 4422, "epcis-subscription-invalid"),
        (
            "farm",
            "mine/events?stream=true&initialRecordTime=today",
            4422,
            "epcis-subscription-invalid",
        ),
        ("farm", "mine/events?stream=true&EQ_bizStep=shipping", 4400, "epcis-query-invalid"),
    ],
)
def test_bad_input_closes_with_the_problem(
    served: Served, who: str | None, path: str, code: int, problem: str
) -> None:
    with subscribe(served, who, path) as socket:
        got_code, got = closed(socket)
    assert (got_code, got["code"]) == (code, problem)
    assert got["status"] == code - 4000


def test_a_bad_key_is_refused(served: Served) -> None:
    served.tokens["stranger"] = "tn_not-a-key"
    with subscribe(served, "stranger") as socket:
        code, problem = closed(socket)
    assert (code, problem["code"]) == (4401, "unauthenticated")


def test_connections_per_owner_are_bounded(served: Served) -> None:
    with contextlib.ExitStack() as open_ones:
        for _ in range(stream.MAX_PER_OWNER):
            open_ones.enter_context(subscribe(served, "farm"))
        with subscribe(served, "farm") as extra:
            code, problem = closed(extra)
        assert (code, problem["code"]) == (4429, "rate-limited")
        # Another owner is not held back.
        with subscribe(served, "processor") as other, pytest.raises(TimeoutError):
            other.recv(timeout=REFUSED_WITHIN)
    # Closed ones are counted out: a new one opens (and stays open).
    deadline = time.monotonic() + 10
    while True:
        with subscribe(served, "farm") as again:
            try:
                again.recv(timeout=REFUSED_WITHIN)
            except TimeoutError:
                break
            except ConnectionClosed:
                assert time.monotonic() < deadline, "closed streams were not counted out"


def test_a_client_message_or_a_deleted_query_ends_the_stream(served: Served) -> None:
    with subscribe(served, "farm") as socket:
        socket.send("hello")
        code, problem = closed(socket)
    assert (code, problem["code"]) == (4422, "epcis-subscription-invalid")

    served.http.post(
        "/v1/epcis/queries",
        json={"name": "short-lived", "query": {"EQ_bizStep": "shipping"}},
        headers=auth(served.tokens["farm"]),
    ).raise_for_status()
    with subscribe(served, "farm", "short-lived/events?stream=true") as socket:
        answer = served.http.delete(
            "/v1/epcis/queries/short-lived", headers=auth(served.tokens["farm"])
        )
        assert answer.status_code == 204
        with pytest.raises(ConnectionClosed) as info:
            socket.recv(timeout=10)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1000


def test_a_schedule_sends_at_its_query_times_and_reports_if_empty(served: Served) -> None:
    every_second = "mine/events?second=[0-59]&reportIfEmpty=true"
    with subscribe(served, "farm", quote(every_second, safe="/?=&")) as socket:
        empty = received(socket)  # nothing captured: reported all the same
        assert empty["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
        (made,) = capture(served, "farm", commissioning(new_lot()))
        deadline = time.monotonic() + 10
        while True:  # the next query time's document holds it
            events = received(socket)["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            if events:
                break
            assert time.monotonic() < deadline
    assert [event_hash_id(e, e["@context"]) for e in events] == [made]


def test_initial_record_time_sends_what_was_recorded_since_first(served: Served) -> None:
    now = time.time()  # this machine's clock is the node's: events before now are left out
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    (made,) = capture(served, "farm", commissioning(new_lot()))
    path = f"mine/events?stream=true&initialRecordTime={quote(since)}"
    with subscribe(served, "farm", path) as socket:
        events = received(socket)["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [event_hash_id(e, e["@context"]) for e in events] == [made]
