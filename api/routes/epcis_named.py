"""Named EPCIS queries and their subscriptions (EPCIS 2.0 REST bindings; docs/epcis.md,
"Named queries" and "Subscriptions"), each API key's own (its participant's, or the
admin's):

- ``POST /v1/epcis/queries`` ``{"name", "query": {parameters}}``, ``GET /v1/epcis/queries``,
  ``GET`` / ``DELETE /v1/epcis/queries/{queryName}``;
- ``GET /v1/epcis/queries/{queryName}/events``: the query run, paged as ``/events``;
- ``POST /v1/epcis/queries/{queryName}/subscriptions`` ``{"dest", "signatureToken"?,
  "stream": true}``, listed, read and deleted under it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.deps import CallerDep, Gateway, GatewayDep
from api.problems import problem_responses
from api.routes.epcis_query import HEADERS, answer, check_version
from api.schemas import StrictSchema
from node.epcis import named
from node.epcis.results import timestamp
from node.exceptions import (
    AuthenticationError,
    EpcisNamedQueryNotFoundError,
    EpcisSubscriptionError,
    EpcisSubscriptionNotFoundError,
)
from node.store.apikeys import ApiKeyRecord
from node.store.records import NamedQueryRecord, QuerySubscriptionRecord

router = APIRouter(prefix="/v1/epcis/queries", tags=["epcis"])

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

    name: str = Field(min_length=1, max_length=128)
    query: dict[str, Any] = Field(
        description='Parameter -> value(s): {"EQ_bizStep": ["shipping"], '
        '"GE_eventTime": "2024-05-06T00:00:00Z"}; the parameters of GET /events, '
        "without perPage and nextPageToken."
    )


class SubscriptionIn(StrictSchema):
    """A subscription (EPCIS 2.0 REST bindings): where to, and how it is signed."""

    dest: str = Field(min_length=8, max_length=2048, description="http(s); public addresses only")
    signature_token: str | None = Field(
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
