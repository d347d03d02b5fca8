"""Named EPCIS queries and their subscriptions (EPCIS 2.0 REST bindings; docs/epcis.md,
"Named queries" and "Subscriptions"), each API key's own (its participant's, or the
admin's):

- ``POST /v1/epcis/queries`` ``{"name", "query": {parameters}}``, ``GET /v1/epcis/queries``,
  ``GET`` / ``DELETE /v1/epcis/queries/{queryName}``;
- ``GET /v1/epcis/queries/{queryName}/events``: the query run, paged as ``/events``;
- ``POST /v1/epcis/queries/{queryName}/subscriptions`` ``{"dest", "signatureToken"?,
  "stream": true}``, listed, read and deleted under it;
- ``GET /v1/epcis/queries/{queryName}/events?stream=true`` with ``Upgrade: websocket``: a
  subscription over WebSocket (node.epcis.stream), each message an EPCIS query document;
  bad input closes it with ``4000 + the problem's HTTP status`` after the problem itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.body import JsonBodyRoute
from api.deps import CallerDep, Gateway, GatewayDep
from api.problems import dependency_unavailable, problem_body, problem_responses
from api.routes.epcis_query import HEADERS, VERSION, answer, check_version
from api.schemas import StrictSchema, Text
from node.epcis import named, stream
from node.epcis.hashid import epoch_millis
from node.epcis.results import timestamp
from node.epcis.schedule import FIELDS as SCHEDULE_FIELDS
from node.epcis.schedule import parse_schedule
from node.exceptions import (
    AuthenticationError,
    EpcisNamedQueryNotFoundError,
    EpcisQueryError,
    EpcisSubscriptionError,
    EpcisSubscriptionNotFoundError,
    NotAcceptableError,
    RateLimitedError,
    TraceNodeError,
)
from node.store.apikeys import ApiKeyRecord
from node.store.records import NamedQueryRecord, QuerySubscriptionRecord

router = APIRouter(prefix="/v1/epcis/queries", tags=["epcis"], route_class=JsonBodyRoute)

QueryName = Annotated[
    str, Path(alias="queryName", min_length=1, max_length=128, description="The query's name.")
]
SubscriptionId = Annotated[
    str, Path(alias="subscriptionID", min_length=1, max_length=64, description="Its id.")
]
_QUERY_DOC: Final = {
    "200": {
        "description": "An EPCIS 2.0 query document (the named query's results).",
        "content": {"application/json": {"schema": {"type": "object", "required": ["type"]}}},
    }
}


class NamedQueryIn(StrictSchema):
    """A named query: its name and its SimpleEventQuery parameters (docs/epcis.md)."""

    name: Text = Field(min_length=1, max_length=128)
    query: dict[str, Any] = Field(
        description='Parameter -> value(s): {"EQ_bizStep": ["shipping"], '
        '"GE_eventTime": "2024-05-06T00:00:00Z"}; the parameters of GET /events, '
        "without perPage and nextPageToken."
    )


class SubscriptionIn(StrictSchema):
    """A subscription (EPCIS 2.0 REST bindings): where to, and how it is signed."""

    dest: Text = Field(min_length=8, max_length=2048, description="http(s); public addresses only")
    signature_token: Text | None = Field(
        default=None,
        max_length=256,
        description="The key of the deliveries' HMAC (Standard Webhooks: whsec_ + base64 of "
        "its UTF-8 bytes); the node makes one when none is given.",
    )
    stream: bool | None = Field(default=None, description="true: each capture's new events.")
    schedule: dict[str, Any] | None = Field(default=None, description="Not run by this node.")
    report_if_empty: bool = Field(default=False, description="Schedules only: not run here.")
    initial_record_time: str | None = Field(default=None, max_length=64)


def owner(caller: ApiKeyRecord | None) -> str:
    if caller is None:
        raise AuthenticationError("named queries are kept per API key: send yours")
    return named.owner_of(
        participant_id=caller.participant_id, admin=caller.admin, key_id=caller.key_id
    )


def query_json(query: NamedQueryRecord) -> dict[str, Any]:
    return {"name": query.name, "query": query.definition, "createdAt": timestamp(query.created_at)}


def subscription_json(query: NamedQueryRecord, found: QuerySubscriptionRecord) -> dict[str, Any]:
    return {
        "subscriptionID": found.subscription_id,
        "queryName": query.name,
        "stream": True,
        "createdAt": timestamp(found.created_at),
    }


def _now() -> int:
    return int(time.time() * 1000)


def _find(gateway: Gateway, who: str, name: str) -> NamedQueryRecord:
    store = gateway.node.store
    with store.read() as conn:
        found = store.epcis_queries.get(conn, who, name)
    if found is None:
        raise EpcisNamedQueryNotFoundError(f"you have no query named {name[:128]}")
    return found


def _subscription(
    gateway: Gateway, query: NamedQueryRecord, subscription_id: str
) -> QuerySubscriptionRecord:
    store = gateway.node.store
    with store.read() as conn:
        found = store.epcis_queries.subscription(conn, subscription_id)
    if found is None or found.query_id != query.id:
        raise EpcisSubscriptionNotFoundError(
            f"query {query.name} has no subscription {subscription_id[:64]}"
        )
    return found


@router.post(
    "",
    status_code=201,
    summary="Keep a SimpleEventQuery under a name",
    responses=problem_responses(400, 401, 409, 422, 429),
)
async def create(body: NamedQueryIn, gateway: GatewayDep, caller: CallerDep) -> JSONResponse:
    who = owner(caller)
    found = await run_in_threadpool(
        lambda: named.create(
            gateway.node.store, owner=who, name=body.name, query=body.query, now=_now()
        )
    )
    return JSONResponse(
        query_json(found), status_code=201, headers={"Location": f"/v1/epcis/queries/{found.name}"}
    )


@router.get("", summary="Your named queries", responses=problem_responses(401, 429))
def listing(gateway: GatewayDep, caller: CallerDep) -> JSONResponse:
    who = owner(caller)
    store = gateway.node.store
    with store.read() as conn:
        found = store.epcis_queries.of_owner(conn, who)
    return JSONResponse([query_json(q) for q in found])


@router.get("/{queryName}", summary="A named query", responses=problem_responses(401, 404, 429))
def get(gateway: GatewayDep, caller: CallerDep, name: QueryName) -> JSONResponse:
    return JSONResponse(query_json(_find(gateway, owner(caller), name)))


@router.delete(
    "/{queryName}",
    status_code=204,
    summary="Delete a named query and its subscriptions",
    responses=problem_responses(401, 404, 429),
)
def remove(gateway: GatewayDep, caller: CallerDep, name: QueryName) -> Response:
    found = _find(gateway, owner(caller), name)
    named.delete(gateway.node.store, found, now=_now())
    return Response(status_code=204)


@router.get(
    "/{queryName}/events",
    summary="Run a named query: an EPCIS query document, paged as /events",
    openapi_extra={"responses": _QUERY_DOC},
    responses=problem_responses(400, 401, 404, 406, 429),
)
async def events(
    request: Request, gateway: GatewayDep, caller: CallerDep, name: QueryName
) -> JSONResponse:
    check_version(request)
    found = _find(gateway, owner(caller), name)
    query = named.run_query(
        found, request.query_params.multi_items(), max_per_page=gateway.settings.max_page_size
    )
    return await answer(request, gateway, query, found.name)


@router.post(
    "/{queryName}/subscriptions",
    status_code=201,
    summary="Subscribe a receiver to a named query's newly captured events",
    responses=problem_responses(401, 404, 422, 429),
)
async def subscribe(
    body: SubscriptionIn, gateway: GatewayDep, caller: CallerDep, name: QueryName
) -> JSONResponse:
    who = owner(caller)
    found = _find(gateway, who, name)
    if body.schedule is not None or body.stream is False:
        raise EpcisSubscriptionError(
            "this node runs stream subscriptions only (each capture's new matching events): "
            'send "stream": true and no schedule'
        )
    if body.report_if_empty or body.initial_record_time is not None:
        raise EpcisSubscriptionError(
            "reportIfEmpty and initialRecordTime belong to scheduled subscriptions, which "
            "this node does not run"
        )
    secret = named.signing_secret(body.signature_token)
    allow = gateway.settings.webhooks_allow_loopback
    made, secret = await run_in_threadpool(
        lambda: named.subscribe(
            gateway.node.store,
            owner=who,
            query=found,
            dest=body.dest,
            secret=secret,
            allow_loopback=allow,
            now=_now(),
        )
    )
    shown = subscription_json(found, made) | {"dest": body.dest, "secret": secret}
    location = f"/v1/epcis/queries/{found.name}/subscriptions/{made.subscription_id}"
    return JSONResponse(shown, status_code=201, headers={"Location": location, **HEADERS})


@router.get(
    "/{queryName}/subscriptions",
    summary="A named query's subscriptions",
    responses=problem_responses(401, 404, 429),
)
def subscriptions(gateway: GatewayDep, caller: CallerDep, name: QueryName) -> JSONResponse:
    found = _find(gateway, owner(caller), name)
    store = gateway.node.store
    with store.read() as conn:
        made = store.epcis_queries.subscriptions(conn, found.id)
    return JSONResponse([subscription_json(found, s) for s in made])


@router.get(
    "/{queryName}/subscriptions/{subscriptionID}",
    summary="One subscription of a named query",
    responses=problem_responses(401, 404, 429),
)
def subscription(
    gateway: GatewayDep, caller: CallerDep, name: QueryName, subscription_id: SubscriptionId
) -> JSONResponse:
    found = _find(gateway, owner(caller), name)
    return JSONResponse(subscription_json(found, _subscription(gateway, found, subscription_id)))


@router.delete(
    "/{queryName}/subscriptions/{subscriptionID}",
    status_code=204,
    summary="Stop a subscription",
    responses=problem_responses(401, 404, 429),
)
def unsubscribe(
    gateway: GatewayDep, caller: CallerDep, name: QueryName, subscription_id: SubscriptionId
) -> Response:
    found = _find(gateway, owner(caller), name)
    named.unsubscribe(
        gateway.node.store, _subscription(gateway, found, subscription_id), now=_now()
    )
    return Response(status_code=204)


#: What a WebSocket subscription is given: the bindings' ``stream``, or a schedule, and
#: ``reportIfEmpty`` / ``initialRecordTime``.
_PARAMETERS: Final = frozenset({"stream", "reportIfEmpty", "initialRecordTime", *SCHEDULE_FIELDS})
#: Close codes besides ``4000 + status`` (RFC 6455 §7.4.1).
_NORMAL, _GOING_AWAY = 1000, 1001
_OPEN: Final = "epcis_streams"  # app.state: owner -> open streams of this process


@router.websocket("/{queryName}/events")
async def subscribe_websocket(websocket: WebSocket, name: QueryName) -> None:
    """A subscription over WebSocket: after ``stream=true`` (or a schedule) and the owner's
    API key (``Authorization: Bearer``), each message is an EPCIS query document of newly
    captured events matching the query (docs/epcis.md, "Subscriptions over WebSocket")."""
    gateway: Gateway = websocket.app.state.gateway
    await websocket.accept(headers=[(k.lower().encode(), v.encode()) for k, v in HEADERS.items()])
    try:
        who, opened = await run_in_threadpool(_open_stream, websocket, gateway, name)
    except TraceNodeError as error:
        await _refuse(websocket, error)
        return
    with _counted(websocket, who) as admitted:
        if not admitted:
            await _refuse(
                websocket,
                RateLimitedError(
                    f"at most {stream.MAX_PER_OWNER} WebSocket subscriptions per owner and "
                    f"{stream.MAX_STREAMS} per node process are open: close one first",
                    retry_after=stream.POLL_SECONDS,
                ),
            )
            return
        await _serve(websocket, gateway, opened)


def _open_stream(websocket: WebSocket, gateway: Gateway, name: str) -> tuple[str, stream.Stream]:
    """Who opens a stream of which query, checked as the query's other routes check it."""
    header = websocket.headers.get("authorization")
    if header is None:
        host = websocket.client.host if websocket.client else "unknown"
        gateway.limiter.check(f"addr:{host}")  # as every caller without a key (api/deps.py)
        raise AuthenticationError("a WebSocket subscription needs its owner's API key")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("use 'Authorization: Bearer <API key>'")
    caller = gateway.keys.authenticate(token.strip())
    gateway.limiter.check(f"key:{caller.key_id}")
    asked = websocket.headers.get("GS1-EPCIS-Version")
    if asked is not None and asked.strip() not in (VERSION, "2.0"):
        raise NotAcceptableError(f"this node answers EPCIS {VERSION}, not {asked.strip()!r}")
    given: dict[str, str] = {}
    for key, value in websocket.query_params.multi_items():
        if key not in _PARAMETERS:
            raise EpcisQueryError(
                f"{key[:64]}: a subscribed query is run as defined; only stream, a schedule, "
                "reportIfEmpty and initialRecordTime are given with it",
                parameter=key[:64],
            )
        if key in given:
            raise EpcisSubscriptionError(f"{key} is given once")
        given[key] = value
    schedule = parse_schedule(given)
    streaming = given.get("stream")
    if streaming not in (None, "true") or (streaming is None) == (schedule is None):
        raise EpcisSubscriptionError(
            "a WebSocket subscription says stream=true or gives a schedule (second, minute, "
            "hour, dayOfMonth, month, dayOfWeek), not both"
        )
    report_if_empty = given.get("reportIfEmpty", "false")
    if report_if_empty not in ("true", "false") or (report_if_empty == "true" and not schedule):
        raise EpcisSubscriptionError("reportIfEmpty is true or false, with a schedule only")
    initial = None
    if "initialRecordTime" in given:
        try:
            initial = epoch_millis(given["initialRecordTime"])
        except ValueError:
            raise EpcisSubscriptionError(
                "initialRecordTime is a date and time with its zone (2024-05-06T08:00:00Z)"
            ) from None
    who = owner(caller)
    found = _find(gateway, who, name)
    return who, stream.Stream.open(
        gateway.node.store,
        found,
        schedule=schedule,
        report_if_empty=report_if_empty == "true",
        initial_record_ms=initial,
        now_ms=_now(),
    )


@contextlib.contextmanager
def _counted(websocket: WebSocket, who: str) -> Iterator[bool]:
    """Count an open stream of ``who``; False (and nothing counted) over the bounds."""
    state = websocket.app.state
    if not hasattr(state, _OPEN):
        setattr(state, _OPEN, {})
    counts: dict[str, int] = getattr(state, _OPEN)
    if counts.get(who, 0) >= stream.MAX_PER_OWNER or sum(counts.values()) >= stream.MAX_STREAMS:
        yield False
        return
    counts[who] = counts.get(who, 0) + 1
    try:
        yield True
    finally:
        counts[who] -= 1
        if not counts[who]:
            del counts[who]


async def _serve(websocket: WebSocket, gateway: Gateway, opened: stream.Stream) -> None:
    """Send each poll's documents until the client leaves, sends anything, does not take a
    message in time, or the query is deleted."""
    client = asyncio.create_task(websocket.receive())
    try:
        while True:
            try:
                messages = await run_in_threadpool(opened.poll, gateway.node.store, now_ms=_now())
            except TraceNodeError as error:  # more waiting than a schedule may keep
                await _refuse(websocket, error)
                return
            except Exception as exc:
                unavailable = dependency_unavailable(exc)
                if unavailable is None:
                    raise
                await _refuse(websocket, unavailable)  # the store is down: 4503, come back
                return
            if messages is None:
                await _close(websocket, _NORMAL, "the query was deleted")
                return
            for text in messages:
                try:
                    await asyncio.wait_for(websocket.send_text(text), stream.SEND_SECONDS)
                except TimeoutError:
                    await _close(websocket, 4408, "a message was not taken in time")
                    return
                except (WebSocketDisconnect, RuntimeError, OSError):
                    return  # the client left while a message was on its way
            done, _ = await asyncio.wait({client}, timeout=stream.POLL_SECONDS)
            if done:
                if client.result().get("type") == "websocket.disconnect":
                    return
                await _refuse(
                    websocket,
                    EpcisSubscriptionError("a subscription takes no messages from its client"),
                )
                return
    finally:
        client.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await client


async def _refuse(websocket: WebSocket, error: TraceNodeError) -> None:
    """The problem document as the last message, then close with 4000 + its status."""
    body = problem_body(error)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.send_json(body), stream.SEND_SECONDS)
    await _close(websocket, 4000 + int(body["status"]), str(body["code"]))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason[:120]), stream.SEND_SECONDS)
