"""``POST /v1/epcis/capture``: a signed EPCIS 2.0 capture request (docs/epcis.md).

The body is ``{"document": <EPCISDocument | EPCISQueryDocument | bare event>,
"traceEvents": [{"event": ..., "signature": ...}, ...]}``, made by `tracenode epcis sign`
(or any client following docs/epcis.md). The node maps the document itself and refuses
TraceEvents that differ from its mapping; every TraceEvent must be signed by the API
key's participant. All or nothing: 202 with a result per EPCIS event (its CBV 2.0 event
hash ID and TraceEvent hashes), or a problem naming the event and field.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.body import read_json
from api.deps import GatewayDep, ParticipantKeyDep
from api.problems import problem_responses
from node.epcis.capture import capture

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])

_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}


@router.post(
    "/capture",
    status_code=202,
    summary="Capture a signed EPCIS 2.0 document (all five event types)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _OBJECT},
                "application/ld+json": {"schema": _OBJECT},
            },
        }
    },
    responses={
        202: {
            "description": "A result per EPCIS event",
            "content": {"application/json": {"schema": _OBJECT}},
        },
        **problem_responses(400, 401, 403, 409, 413, 415, 422, 429),
    },
)
async def capture_document(
    request: Request, gateway: GatewayDep, key: ParticipantKeyDep
) -> JSONResponse:
    document = await read_json(request)
    results = await run_in_threadpool(
        lambda: capture(
            ingest=gateway.node.ingest, request=document, as_participant=key.participant_id
        )
    )
    return JSONResponse(
        {
            "accepted": sum(r.outcome == "accepted" for r in results),
            "duplicate": sum(r.outcome == "duplicate" for r in results),
            "results": [r.as_json() for r in results],
        },
        status_code=202,
    )
