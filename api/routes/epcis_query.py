"""The EPCIS 2.0 query interface (REST bindings) over what this node captured
(docs/epcis.md, "Queries"):

- ``GET /v1/epcis/events``: a SimpleEventQuery in the URL's parameters
  (:data:`node.epcis.query.PARAMETERS`), answered with an EPCIS 2.0 query document; pages of
  ``perPage`` events, the next one linked by ``Link: <…nextPageToken=…>; rel="next"``;
- ``GET /v1/epcis/eventTypes`` and ``GET /v1/epcis/eventTypes/{eventType}/events``;
- ``GET /v1/epcis/events/{eventID}``: one event by its eventID or CBV 2.0 hash ID.

Answers carry ``GS1-EPCIS-Version`` and ``GS1-CBV-Version`` (2.0.0); a request asking for
another EPCIS version (its ``GS1-EPCIS-Version`` header) is refused 406. Reads are public
when the node's reads are (``TRACENODE_API_PUBLIC_READS``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Gateway, GatewayDep, ReaderDep
from api.problems import problem_responses
from node.epcis.document import EVENT_TYPES
from node.epcis.hashid import as_hash_id
from node.epcis.query import (
    MASTER_DATA_PARAMETERS,
    MAX_TERM,
    PARAMETERS,
    EventQuery,
    Match,
    Term,
    parse_query,
)
from node.epcis.results import query_document, run_query
from node.exceptions import EpcisEventNotFoundError, NotAcceptableError

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])

VERSION: Final = "2.0.0"
HEADERS: Final = {"GS1-EPCIS-Version": VERSION, "GS1-CBV-Version": VERSION}

#: The query parameters, for the OpenAPI document (the route reads them itself, so that
#: repeated names and unknown ones are handled as docs/epcis.md says).
_PARAMETERS: Final[list[dict[str, Any]]] = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": 4 * MAX_TERM},
        "description": "EPCIS 2.0 SimpleEventQuery parameter (docs/epcis.md); alternatives "
        "separated by '|' (EQATTR_readPoint_{attribute} and EQATTR_bizLocation_{attribute} "
        "are answered too)",
    }
    for name in sorted(PARAMETERS) + list(MASTER_DATA_PARAMETERS)
]
_VERSION_HEADER: Final = {
    "name": "GS1-EPCIS-Version",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 32},
    "description": "The EPCIS version the client speaks; only 2.0.0 is answered.",
}
_QUERY_DOC: Final = {
    "200": {
        "description": "An EPCIS 2.0 query document (SimpleEventQuery results).",
        "content": {"application/json": {"schema": {"type": "object", "required": ["type"]}}},
    }
}

EventType = Annotated[str, Path(max_length=64, description="An EPCIS 2.0 event type.")]


@router.get(
    "/events",
    summary="Query captured EPCIS events (EPCIS 2.0 REST bindings, SimpleEventQuery)",
    openapi_extra={"parameters": [*_PARAMETERS, _VERSION_HEADER], "responses": _QUERY_DOC},
    responses=problem_responses(400, 401, 406, 429),
)
async def events(request: Request, gateway: GatewayDep, _reader: ReaderDep) -> JSONResponse:
    return await _answer(request, gateway, None)


@router.get(
    "/eventTypes",
    summary="The EPCIS event types this node captures",
    responses=problem_responses(401, 406, 429),
)
def event_types(request: Request, _reader: ReaderDep) -> JSONResponse:
    check_version(request)
    return JSONResponse(sorted(EVENT_TYPES), headers=HEADERS)


@router.get(
    "/eventTypes/{event_type}/events",
    summary="Query captured EPCIS events of one type",
    openapi_extra={"parameters": [*_PARAMETERS, _VERSION_HEADER], "responses": _QUERY_DOC},
    responses=problem_responses(400, 401, 406, 429),
)
async def events_of_type(
    request: Request, gateway: GatewayDep, _reader: ReaderDep, event_type: EventType
) -> JSONResponse:
    return await _answer(request, gateway, event_type)


@router.get(
    "/events/{event_id:path}",
    summary="One captured EPCIS event, by its eventID or CBV 2.0 hash ID",
    responses=problem_responses(401, 404, 406, 429),
)
async def event(
    request: Request,
    gateway: GatewayDep,
    _reader: ReaderDep,
    event_id: Annotated[str, Path(min_length=1, max_length=MAX_TERM)],
) -> JSONResponse:
    check_version(request)
    wanted = as_hash_id(event_id) or event_id
    query = EventQuery(
        matches=(Match(frozenset({Term.EVENT_ID.value}), frozenset({wanted})),), per_page=1
    )
    page = await run_in_threadpool(run_query, gateway.node.store, query)
    if not page.events:
        raise EpcisEventNotFoundError(f"this node captured no EPCIS event {event_id}")
    return JSONResponse(page.events[0], headers=HEADERS)


async def _answer(request: Request, gateway: GatewayDep, event_type: str | None) -> JSONResponse:
    check_version(request)
    query = parse_query(
        request.query_params.multi_items(),
        max_per_page=gateway.settings.max_page_size,
        event_type=event_type,
    )
    return await answer(request, gateway, query)


async def answer(
    request: Request, gateway: Gateway, query: EventQuery, query_name: str = "SimpleEventQuery"
) -> JSONResponse:
    """A page of ``query``'s events as a query document, the next page linked (the URL's
    parameters kept but ``nextPageToken``)."""
    page = await run_in_threadpool(run_query, gateway.node.store, query)
    headers = dict(HEADERS)
    if page.next is not None:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
        link = request.url.path + "?" + urlencode([*kept, ("nextPageToken", page.next.token())])
        headers["Link"] = f'<{quote(link, safe="/?=&%:|")}>; rel="next"'
    document = query_document(
        page.events, created_ms=int(time.time() * 1000), query_name=query_name
    )
    return JSONResponse(document, headers=headers)


def check_version(request: Request) -> None:
    asked = request.headers.get("GS1-EPCIS-Version")
    if asked is not None and asked.strip() not in (VERSION, "2.0"):
        raise NotAcceptableError(f"this node answers EPCIS {VERSION}, not {asked.strip()!r}")
