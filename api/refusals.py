"""What the gateway refuses, handed to the refusal log (node.monitor.refusals) where the
refusal becomes its problem: the exception handler (api/problems.py) for a refusal
raised, the bulk submission's per-event problems for the rest, and /rpc's JSON-RPC errors.

Who asked is the request's: its API key's public id and participant (set by
``api.deps.get_caller``) and its client address; never the key's secret or the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from fastapi import Request

from node.events.submission import SignedEvent
from node.exceptions import (
    AuthenticationError,
    EpcisError,
    EventRejectedError,
    PermissionDeniedError,
    RateLimitedError,
    TraceNodeError,
)
from node.ingest.service import IngestResult
from node.monitor.refusals import Attempt, RefusalLog, attempt

if TYPE_CHECKING:
    from api.deps import Gateway

#: The errors that are refusals of a caller (recorded); the rest (a page not found, a
#: malformed query, the store down) are not the monitor's business.
REFUSALS: Final = (
    EventRejectedError,
    AuthenticationError,
    PermissionDeniedError,
    RateLimitedError,
    EpcisError,
)
#: Where a route leaves the submission a raised refusal is about (request.state).
SUBMISSION: Final = "refused_submission"


def origin(request: Request) -> Attempt:
    """Who is asking: the caller as the rate limiter keys it, without a code yet."""
    key_id: str | None = getattr(request.state, "api_key_id", None)
    client = request.client.host if request.client else "unknown"
    return Attempt(
        code="",
        caller=f"key:{key_id}" if key_id else f"addr:{client}",
        client=client,
        key_id=key_id,
        claimed_participant=getattr(request.state, "api_participant", None),
    )


def refusal_log(request: Request) -> RefusalLog | None:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    return None if gateway is None else gateway.refusals


def raised(request: Request, error: TraceNodeError) -> Attempt | None:
    """The attempt a raised ``error`` refused, if it is a refusal."""
    if not isinstance(error, REFUSALS):
        return None
    submitted: tuple[SignedEvent, IngestResult] | None = getattr(request.state, SUBMISSION, None)
    signed, result = submitted if submitted is not None else (None, None)
    return attempt(origin(request), error.code, signed=signed, result=result)
