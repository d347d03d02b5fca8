"""EPCIS capture jobs (EPCIS 2.0 REST bindings; docs/epcis.md, "Capture jobs"):

- ``GET /v1/epcis/capture``: the caller's jobs, newest first, ``perPage`` at a time, the
  next page linked (``Link: <…nextPageToken=…>; rel="next"``);
- ``GET /v1/epcis/capture/{captureID}``: one job in the bindings' shape (``captureID``,
  ``createdAt``, ``finishedAt``, ``running``, ``success``, ``captureErrorBehaviour``,
  ``errors``) with its progress (``eventsTotal``, ``eventsDone``: the bindings name none)
  and TraceNode's per-event outcomes so far beside it.

A participant's key reads its participant's jobs only; the admin key reads every job.
Another participant's job is not found, exactly as a job that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CallerDep, GatewayDep
from api.problems import problem_responses, stored_problem
from node.epcis.capture import Outcome
from node.epcis.jobs import MASTER_DATA
from node.epcis.query import page_token, page_token_values
from node.epcis.results import timestamp
from node.exceptions import (
    AuthenticationError,
    EpcisCaptureJobNotFoundError,
    EpcisQueryError,
    PermissionDeniedError,
)
from node.store.apikeys import ApiKeyRecord
from node.store.records import CaptureJobRecord

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])

CaptureId = Annotated[
    str, Path(alias="captureID", min_length=1, max_length=64, description="The job's captureID.")
]
_JOB: Final = {
    "200": {
        "description": "A capture job (EPCIS 2.0 REST bindings) and each event's outcome.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def reader_of_jobs(caller: ApiKeyRecord | None) -> ApiKeyRecord:
    """A participant's key (its own jobs) or the admin key (every job)."""
    if caller is None:
        raise AuthenticationError("capture jobs are read with a participant's or the admin key")
    if caller.participant_id is None and not caller.admin:
        raise PermissionDeniedError("capture jobs are read with a participant's or the admin key")
    return caller


def job_json(job: CaptureJobRecord) -> dict[str, Any]:
    """The bindings' capture job, and TraceNode's outcome of each event and of each
    master-data element of the document's header (as the capture answered them)."""
    outcomes = [o for o in job.outcomes if not o.get(MASTER_DATA)]
    results = [_answered(o, o.get("index")) for o in outcomes]
    elements = [
        _answered({k: v for k, v in o.items() if k != MASTER_DATA}, None)
        for o in job.outcomes
        if o.get(MASTER_DATA)
    ]

    def count(outcome: Outcome) -> int:
        return sum(1 for r in outcomes if r.get("outcome") == str(outcome))

    whole = [] if job.error is None else [stored_problem(job.error, None)]
    return {
        "captureID": job.capture_id,
        "createdAt": timestamp(job.created_at),
        "finishedAt": None if job.finished_at is None else timestamp(job.finished_at),
        "running": job.finished_at is None,
        "success": job.status == "succeeded",
        "captureErrorBehaviour": job.behaviour,
        "eventsTotal": len(outcomes) if job.events_total is None else job.events_total,
        "eventsDone": len(outcomes) if job.events_done is None else job.events_done,
        "errors": whole + [r["problem"] for r in results + elements if r["problem"] is not None],
        "captured": count(Outcome.CAPTURED),
        "anchoredOnly": count(Outcome.ANCHORED_ONLY),
        "duplicate": count(Outcome.DUPLICATE),
        "refused": count(Outcome.REFUSED),
        "results": results,
        "masterData": elements,
    }


def _answered(outcome: dict[str, Any], event_index: int | None) -> dict[str, Any]:
    """A stored outcome as the capture answered it: its refusal as a problem."""
    found = {k: v for k, v in outcome.items() if k != "refusal"}
    refusal = outcome.get("refusal")
    found["problem"] = stored_problem(refusal, event_index) if isinstance(refusal, dict) else None
    return found


@router.get(
    "/capture",
    summary="Your capture jobs, newest first (the admin key: every job)",
    responses=problem_responses(400, 401, 403, 429),
)
def jobs(
    request: Request,
    gateway: GatewayDep,
    caller: CallerDep,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=500)] = 30,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken", max_length=64)] = None,
) -> JSONResponse:
    key = reader_of_jobs(caller)
    if per_page > gateway.settings.max_page_size:  # refused as /events refuses it
        raise EpcisQueryError(
            f"perPage is at most {gateway.settings.max_page_size} on this node", "perPage"
        )
    before = _cursor(next_page_token) if next_page_token is not None else None
    store = gateway.node.store
    with store.read() as conn:
        found = store.epcis_jobs.page(
            conn, submitter=key.participant_id, every=key.admin, before=before, limit=per_page + 1
        )
    headers = {}
    if len(found) > per_page:
        found = found[:per_page]
        token = page_token(found[-1].id)
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "nextPageToken"]
        link = request.url.path + "?" + urlencode([*kept, ("nextPageToken", token)])
        headers["Link"] = f'<{quote(link, safe="/?=&%")}>; rel="next"'
    return JSONResponse([job_json(j) for j in found], headers=headers)


@router.get(
    "/capture/{captureID}",
    summary="A capture job: its progress and each event's outcome",
    openapi_extra={"responses": _JOB},
    responses=problem_responses(401, 403, 404, 429),
)
async def job(gateway: GatewayDep, caller: CallerDep, capture_id: CaptureId) -> JSONResponse:
    key = reader_of_jobs(caller)
    store = gateway.node.store

    def read() -> CaptureJobRecord | None:
        with store.read() as conn:
            return store.epcis_jobs.get(conn, capture_id)

    found = await run_in_threadpool(read)
    if found is None or not (key.admin or found.submitter == key.participant_id):
        raise EpcisCaptureJobNotFoundError(f"no capture job {capture_id[:64]} of yours")
    return JSONResponse(job_json(found))


def _cursor(token: str) -> int:
    (value,) = page_token_values(token, 1)
    if value < 0:
        raise EpcisQueryError("nextPageToken is not one this node gave", "nextPageToken")
    return value
