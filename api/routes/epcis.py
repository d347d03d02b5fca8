"""``POST /v1/epcis/capture``: a signed EPCIS 2.0 capture request (docs/epcis.md).

The body is ``{"document": <EPCISDocument | EPCISQueryDocument | bare event, or the text
of an EPCIS 2.0 / 1.2 XML document>,
"traceEvents": [{"event": ..., "signature": ...}, ...]}``, made by `tracenode epcis sign`
(or any client following docs/epcis.md). The node maps the document itself and refuses
TraceEvents that differ from its mapping; every TraceEvent must be signed by the API
key's participant. An outcome per EPCIS event (docs/epcis.md, "Outcomes"): 202 with each
event's outcome (captured, anchored-only, duplicate, or refused with its problem) when
the node holds any of the document afterwards; when it holds none (every event refused,
or ``GS1-Capture-Error-Behaviour: rollback`` and one refused), the first refused event's
problem, with every event's outcome in ``events``. Either way the capture is recorded as
a capture job (``Location: /v1/epcis/capture/{captureID}``, api/routes/epcis_jobs.py).

With ``Prefer: respond-async`` (RFC 7240) the request is checked whole at once (what would
refuse it whole is still its problem) and answered 202 with the job, running, and
``Preference-Applied: respond-async``; the events are captured in the background
(node/epcis/jobs.py), the job's progress read at its ``Location``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.body import read_json, submission_schema
from api.deps import Gateway, GatewayDep, ParticipantKeyDep
from api.problems import PROBLEM_JSON, problem_body, problem_responses
from api.routes.epcis_jobs import job_json
from api.schemas import CaptureResult
from node.epcis.capture import (
    AssertionOutcome,
    AssertionResult,
    CaptureErrorBehaviour,
    EpcisResult,
    Outcome,
    capture,
    plan_capture,
)
from node.epcis.jobs import job_path, record_job
from node.epcis.mapping import MAX_TRACE_EVENTS
from node.exceptions import EpcisError, InvalidParametersError
from node.store.apikeys import ApiKeyRecord
from node.store.records import CaptureJobRecord

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
                    "description": "An EPCIS 2.0 or 1.2 XML EPCISDocument, "
                    "EPCISQueryDocument or EPCISMasterDataDocument, as text (docs/epcis.md, "
                    "XML).",
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
        "masterData": {
            "type": "array",
            "maxItems": MAX_TRACE_EVENTS,
            "description": "The submitter's signed assertions of the elements of the "
            "document's epcisHeader.epcisMasterData (docs/epcis.md, Master data).",
            "items": {"$ref": "#/properties/traceEvents/items"},
        },
    },
}


#: The EPCIS 2.0 REST bindings' header choosing what a refused event does to the others.
BEHAVIOUR_HEADER: Final = "GS1-Capture-Error-Behaviour"
#: RFC 7240's preference asking for the job at once, the capture in the background.
RESPOND_ASYNC: Final = "respond-async"


@router.post(
    "/capture",
    status_code=202,
    summary="Capture a signed EPCIS 2.0 document (all five event types), an outcome per event",
    response_model=CaptureResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": CAPTURE_REQUEST},
                "application/ld+json": {"schema": CAPTURE_REQUEST},
            },
        },
        "parameters": [
            {
                "name": BEHAVIOUR_HEADER,
                "in": "header",
                "required": False,
                "schema": {"type": "string", "enum": ["proceed", "rollback"]},
                "description": "proceed (default): a refused event is reported and the others "
                "are captured; rollback: all or nothing.",
            },
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "example": RESPOND_ASYNC},
                "description": "respond-async (RFC 7240): the request is checked whole at once "
                "(its problem if refused whole), then answered 202 with the capture job, "
                "running, and Preference-Applied: respond-async; the events are captured in "
                "the background and the job at Location shows progress (eventsTotal, "
                "eventsDone) and outcomes so far. 503 epcis-capture-queue-full with "
                "Retry-After while the node's asynchronous jobs are at their bound. Without "
                "it the capture is synchronous (docs/epcis.md, Capture jobs).",
            },
        ],
    },
    responses=problem_responses(400, 401, 403, 409, 413, 415, 422, 424, 429, 503),
)
async def capture_document(
    request: Request, gateway: GatewayDep, key: ParticipantKeyDep
) -> JSONResponse:
    behaviour = _behaviour(request.headers.get(BEHAVIOUR_HEADER))
    headers = {BEHAVIOUR_HEADER: str(behaviour), "Vary": "Prefer"}
    await run_in_threadpool(gateway.backlog.admit, gateway.settings.max_proof_delay)
    asynchronous = respond_async(request.headers.getlist("prefer"))
    if asynchronous:
        await run_in_threadpool(gateway.capture_jobs.admit)
    document = await read_json(request)
    if asynchronous:
        return await _capture_async(gateway, key, behaviour, document, headers)
    started = _now()
    asserted: list[AssertionResult] = []
    try:
        results = await run_in_threadpool(
            lambda: capture(
                ingest=gateway.node.ingest,
                request=document,
                # A participant relays a document whose events others signed (docs/epcis.md,
                # "Multi-party documents"): each event is its signer's, never the relayer's.
                as_participant=None,
                behaviour=behaviour,
                # The header's master data is the submitter's own (docs/epcis.md).
                submitter=key.participant_id,
                master_data=asserted,
            )
        )
    except EpcisError as error:
        if not error.outcomes:
            raise
        outcomes = [r for r in error.outcomes if isinstance(r, EpcisResult)]
        elements = [r for r in error.outcomes if isinstance(r, AssertionResult)]
        job = await _record(gateway, key, behaviour, outcomes, started, elements)
        return _nothing_captured(error, error.outcomes, request, headers | _located(job))
    job = await _record(gateway, key, behaviour, results, started, asserted)
    headers |= _located(job)
    held = any(
        a.outcome in (AssertionOutcome.ASSERTED, AssertionOutcome.DUPLICATE) for a in asserted
    )
    if results and not any(r.stored for r in results) and not held:
        first = next(r.refusal for r in results if r.refusal is not None)
        return _nothing_captured(first, tuple(results), request, headers)
    body = CaptureResult.model_validate(
        {
            "captureID": job.capture_id,
            "success": not any(r.outcome is Outcome.REFUSED for r in results)
            and not any(a.outcome is AssertionOutcome.REFUSED for a in asserted),
            "captureErrorBehaviour": str(behaviour),
            "captured": _count(results, Outcome.CAPTURED),
            "anchoredOnly": _count(results, Outcome.ANCHORED_ONLY),
            "duplicate": _count(results, Outcome.DUPLICATE),
            "refused": _count(results, Outcome.REFUSED),
            "results": [_result(r) for r in results],
            "masterData": [_assertion(a) for a in asserted],
        }
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)


async def _capture_async(
    gateway: Gateway,
    key: ApiKeyRecord,
    behaviour: CaptureErrorBehaviour,
    document: Any,
    headers: dict[str, str],
) -> JSONResponse:
    """Check the request whole, as the synchronous capture would (its problem if refused
    whole), accept it as a running job and answer at once; the job runs in the background."""
    jobs = gateway.capture_jobs

    def accept() -> CaptureJobRecord:
        planned = plan_capture(
            ingest=gateway.node.ingest,
            request=document,
            as_participant=None,
            behaviour=behaviour,
            submitter=key.participant_id,
        )
        return jobs.submit(
            request=document,
            planned=planned,
            submitter=key.participant_id,
            behaviour=behaviour,
        )

    job = await run_in_threadpool(accept)
    jobs.start()
    headers |= _located(job) | {"Preference-Applied": RESPOND_ASYNC}
    return JSONResponse(job_json(job), status_code=202, headers=headers)


def respond_async(values: Sequence[str]) -> bool:
    """Whether ``Prefer`` header values (RFC 7240: comma-separated preferences, each a
    token, an optional value and parameters) ask for ``respond-async``."""
    for value in values:
        for preference in value.split(","):
            name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
            if name == RESPOND_ASYNC:
                return True
    return False


async def _record(
    gateway: Gateway,
    key: ApiKeyRecord,
    behaviour: CaptureErrorBehaviour,
    results: Sequence[EpcisResult],
    started: int,
    assertions: Sequence[AssertionResult],
) -> CaptureJobRecord:
    """The capture as a job (docs/epcis.md, "Capture jobs"): complete when recorded."""
    return await run_in_threadpool(
        lambda: record_job(
            gateway.node.store,
            submitter=key.participant_id,
            behaviour=behaviour,
            results=results,
            created_at=started,
            finished_at=_now(),
            assertions=assertions,
        )
    )


def _located(job: CaptureJobRecord) -> dict[str, str]:
    return {"Location": job_path(job.capture_id)}


def _now() -> int:
    return int(time.time() * 1000)


def _behaviour(value: str | None) -> CaptureErrorBehaviour:
    if value is None:
        return CaptureErrorBehaviour.PROCEED
    try:
        return CaptureErrorBehaviour(value.strip().lower())
    except ValueError:
        raise InvalidParametersError(
            f"{BEHAVIOUR_HEADER} is proceed or rollback, not {value[:40]!r}",
            [{"field": f"header.{BEHAVIOUR_HEADER}", "message": "expected proceed or rollback"}],
        ) from None


def _count(results: Sequence[EpcisResult], outcome: Outcome) -> int:
    return sum(1 for r in results if r.outcome is outcome)


def _result(result: EpcisResult) -> dict[str, Any]:
    found = result.as_json()
    found.pop("refusal", None)
    if result.refusal is not None:
        found["problem"] = problem_body(result.refusal)
    return found


def _assertion(result: AssertionResult) -> dict[str, Any]:
    found = result.as_json()
    found.pop("refusal", None)
    found["problem"] = None if result.refusal is None else problem_body(result.refusal)
    return found


def _nothing_captured(
    error: EpcisError, outcomes: Sequence[Any], request: Request, headers: dict[str, str]
) -> JSONResponse:
    """Nothing of the document is held: the first refused event's problem, with every
    event's outcome beside it (``events``)."""
    body = problem_body(error) | {"instance": request.url.path}
    if "Location" in headers:
        body["captureID"] = headers["Location"].rsplit("/", 1)[-1]
    body["events"] = [_result(r) for r in outcomes if isinstance(r, EpcisResult)]
    body["masterData"] = [_assertion(r) for r in outcomes if isinstance(r, AssertionResult)]
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)
