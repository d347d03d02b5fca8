"""``POST /v1/epcis/capture``: a signed EPCIS 2.0 capture request (docs/epcis.md).

The body is ``{"document": <EPCISDocument | EPCISQueryDocument | bare event, or the text
of an EPCIS 2.0 / 1.2 XML document>,
"traceEvents": [{"event": ..., "signature": ...}, ...]}``, made by `tracenode epcis sign`
(or any client following docs/epcis.md). The node maps the document itself and refuses
TraceEvents that differ from its mapping; every TraceEvent must be signed by the API
key's participant. All or nothing: 202 with a result per EPCIS event (its CBV 2.0 event
hash ID and TraceEvent hashes), or a problem naming the event and field.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.body import read_json, submission_schema
from api.deps import GatewayDep, ParticipantKeyDep
from api.problems import problem_responses
from api.schemas import CaptureResult
from node.epcis.capture import capture
from node.epcis.mapping import MAX_TRACE_EVENTS

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])

_SIGNED = submission_schema()
#: The capture request: the document as published (validated against GS1's EPCIS 2.0
#: JSON Schema by the node, which names the event and field of any error) and the
#: signed TraceEvents it maps to.
CAPTURE_REQUEST: Final[dict[str, Any]] = {
    "title": "CaptureRequest",
    "type": "object",
    "additionalProperties": False,
    "required": ["document"],
    "properties": {
        "document": {
            "anyOf": [
                {
                    "type": "object",
                    "description": "An EPCISDocument, an EPCISQueryDocument or a bare EPCIS "
                    "event (EPCIS 2.0 JSON / JSON-LD).",
                },
                {
                    "type": "string",
                    "description": "An EPCIS 2.0 or 1.2 XML EPCISDocument or "
                    "EPCISQueryDocument, as text (docs/epcis.md, XML).",
                },
            ]
        },
        "traceEvents": {
            "type": "array",
            "maxItems": MAX_TRACE_EVENTS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["event", "signature"],
                "properties": {
                    "event": _SIGNED["properties"]["event"],
                    "signature": _SIGNED["properties"]["signature"],
                },
            },
        },
    },
}


@router.post(
    "/capture",
    status_code=202,
    summary="Capture a signed EPCIS 2.0 document (all five event types)",
    response_model=CaptureResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": CAPTURE_REQUEST},
                "application/ld+json": {"schema": CAPTURE_REQUEST},
            },
        }
    },
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
)
async def capture_document(
    request: Request, gateway: GatewayDep, key: ParticipantKeyDep
) -> CaptureResult:
    await run_in_threadpool(gateway.backlog.admit, gateway.settings.max_proof_delay)
    document = await read_json(request)
    results = await run_in_threadpool(
        lambda: capture(
            ingest=gateway.node.ingest, request=document, as_participant=key.participant_id
        )
    )
    return CaptureResult.model_validate(
        {
            "accepted": sum(r.outcome == "accepted" for r in results),
            "duplicate": sum(r.outcome == "duplicate" for r in results),
            "results": [r.as_json() for r in results],
        }
    )
