"""RFC 9457 problem details: every error the gateway returns, one place.

Each :class:`~node.exceptions.TraceNodeError` becomes a problem whose ``type`` is
``urn:tracenode:problem:{code}`` (the exception's stable ``code``) and whose HTTP status
is chosen by its class here; request validation, unknown routes and unexpected failures
get problem documents too. docs/api.md lists every type.

A dependency that cannot be reached is not a bug: the database driver's and the chain
client's connection errors are mapped here, once, to :class:`DependencyUnavailableError`
(``store-unavailable``, ``chain-unavailable``): 503 with ``Retry-After`` and one log line,
no traceback. Anything else unexpected is a 500 ``internal-error`` with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api import refusals
from api.head import request_method
from node.chain.availability import CHAIN_CONNECTION_ERRORS, chain_unavailable
from node.exceptions import (
    ApiKeyNotFoundError,
    AuthenticationError,
    BackloggedError,
    BatchExistsError,
    BatchInNetworkError,
    BatchRecalledError,
    ChainError,
    ContractError,
    DependencyUnavailableError,
    EpcisAdoptionChangedError,
    EpcisDependencyError,
    EpcisError,
    EpcisEventIdConflictError,
    EpcisEventRejectedError,
    EpcisLimitError,
    EpcisNamedQueryExistsError,
    EpcisQueryError,
    EpcisRolledBackError,
    EpcisSignatureMismatchError,
    EpcisSubscriptionError,
    EpcisXmlError,
    EventExistsError,
    EventRejectedError,
    EventTimeOutOfRangeError,
    HeadMismatchError,
    IdentifierIsRecordError,
    InvalidBundleError,
    InvalidEventError,
    InvalidIdentifierError,
    InvalidIdentifierProofError,
    InvalidParametersError,
    InvalidReceiverError,
    InvalidSignatureError,
    InvalidStatusError,
    JsonTooDeepError,
    LicenceNotValidError,
    LicensedElsewhereError,
    MalformedJsonError,
    MethodNotAllowedError,
    MissingRoleError,
    NonceUsedError,
    NotAcceptableError,
    NotAnchoredError,
    NotCustodianError,
    NotFoundError,
    NotReadyError,
    NotRecallerError,
    NotReceiverError,
    OpenIdentifierRefusedError,
    PalletIsBatchError,
    PermissionDeniedError,
    RateLimitedError,
    RegistrarUnavailableError,
    RequestError,
    RequestTimeoutError,
    RequestTooLargeError,
    SignerMismatchError,
    SignerSuspendedError,
    TooManyItemsError,
    TraceNodeError,
    UnknownBatchError,
    UnknownSignerError,
    UnlicensedIdentifierError,
    UnsupportedMediaTypeError,
    UrlRefusedError,
    WebhookSubscriptionError,
    WebhookUrlError,
)
from node.store.availability import DATABASE_ERRORS, store_unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:tracenode:problem:"
INTERNAL_ERROR: Final = "internal-error"

#: HTTP status per error class; a class not listed takes its nearest listed ancestor's.
STATUS: Final[dict[type[TraceNodeError], int]] = {
    TraceNodeError: 500,
    # the request itself
    RequestError: 400,
    MalformedJsonError: 400,
    JsonTooDeepError: 400,
    RequestTimeoutError: 408,
    RequestTooLargeError: 413,
    TooManyItemsError: 413,
    UnsupportedMediaTypeError: 415,
    InvalidParametersError: 422,
    RateLimitedError: 429,
    MethodNotAllowedError: 405,
    NotAcceptableError: 406,
    # who is asking
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    # what is asked for
    NotFoundError: 404,
    ApiKeyNotFoundError: 404,
    NotAnchoredError: 409,
    InvalidIdentifierError: 422,
    InvalidBundleError: 422,
    UrlRefusedError: 422,
    WebhookUrlError: 422,
    WebhookSubscriptionError: 422,
    # EPCIS capture
    EpcisError: 422,
    EpcisLimitError: 413,
    EpcisSignatureMismatchError: 422,
    EpcisEventRejectedError: 409,
    EpcisEventIdConflictError: 409,
    EpcisDependencyError: 424,
    EpcisAdoptionChangedError: 409,
    EpcisRolledBackError: 424,
    EpcisQueryError: 400,
    EpcisNamedQueryExistsError: 409,
    EpcisSubscriptionError: 422,
    # events refused
    EventRejectedError: 422,
    InvalidEventError: 422,
    EventTimeOutOfRangeError: 422,
    InvalidSignatureError: 422,
    UnknownSignerError: 403,
    SignerSuspendedError: 403,
    SignerMismatchError: 403,
    MissingRoleError: 403,
    NonceUsedError: 409,
    EventExistsError: 409,
    BatchExistsError: 409,
    UnknownBatchError: 409,
    HeadMismatchError: 409,
    BatchRecalledError: 409,
    InvalidStatusError: 409,
    NotCustodianError: 409,
    InvalidReceiverError: 409,
    NotReceiverError: 409,
    NotRecallerError: 409,
    BatchInNetworkError: 409,
    IdentifierIsRecordError: 409,
    PalletIsBatchError: 409,
    UnlicensedIdentifierError: 403,
    LicensedElsewhereError: 403,
    LicenceNotValidError: 403,
    OpenIdentifierRefusedError: 403,
    InvalidIdentifierProofError: 422,
    # the node's own parts
    ContractError: 409,
    ChainError: 503,
    RegistrarUnavailableError: 503,
    NotReadyError: 503,
    DependencyUnavailableError: 503,
}


#: ParticipantRegistry's refusals of the registrar's requests (a licence, a revocation),
#: by custom error: the request was wrong, not the node. Other contract errors are 409.
CONTRACT_ERROR_STATUS: Final[dict[str, int]] = {
    "ParticipantRegistryUnknownParticipant": 404,
    "ParticipantRegistryNotLicensed": 404,
    "ParticipantRegistryInvalidPrefix": 422,
    "ParticipantRegistryInvalidValidity": 422,
    "ParticipantRegistryOutsideRange": 403,
    "ParticipantRegistryForeignParticipant": 403,
    "ParticipantRegistryUnauthorizedRevocation": 403,
    "ParticipantRegistryPrefixOverlap": 409,
    "ParticipantRegistryRangeOverlap": 409,
    "ParticipantRegistryNotDelegated": 404,
    "ParticipantRegistryNodeExists": 409,
    "ParticipantRegistryUnknownNode": 404,
    "ParticipantRegistryInvalidUrl": 422,
    "ParticipantRegistryUnauthorizedNodeChange": 403,
    # a key without the role the call needs (setOpenIdentifiers: the root's)
    "AccessControlUnauthorizedAccount": 403,
}


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[f"{TYPE_PREFIX}head-mismatch"])
    title: str
    status: int
    detail: str
    code: str = Field(description="The error's stable code (the type URI's last part).")
    instance: str | None = None


def problem_type(code: str) -> str:
    return TYPE_PREFIX + code


def status_of(error: TraceNodeError) -> int:
    if isinstance(error, ContractError) and error.name in CONTRACT_ERROR_STATUS:
        return CONTRACT_ERROR_STATUS[error.name]
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def title_of(code: str) -> str:
    return code.replace("-", " ").capitalize()


def jsonable(value: Any) -> Any:
    """Problem extension values as JSON (bytes as 0x-hex)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


#: Each problem code's status (the first class of that code in STATUS).
_STATUS_BY_CODE: Final[dict[str, int]] = {}
for _cls, _status in STATUS.items():
    _STATUS_BY_CODE.setdefault(_cls.code, _status)


def stored_problem(refusal: Mapping[str, Any], event_index: int | None) -> dict[str, Any]:
    """The problem document of an event's refusal as the node stored it
    (node.epcis.capture.refusal_json: a capture job's outcomes), as :func:`problem_body`
    gave it when the capture answered."""
    code = str(refusal.get("code", "epcis-invalid"))
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title_of(code),
        "status": 500 if code == INTERNAL_ERROR else _STATUS_BY_CODE.get(code, 422),
        "detail": str(refusal.get("detail", "")),
        "code": code,
        "eventIndex": event_index,
        "pointer": str(refusal.get("pointer", "")),
    }
    for name in ("cause", "dependsOn"):
        if name in refusal:
            body[name] = refusal[name]
    return body


def problem_body(error: TraceNodeError) -> dict[str, Any]:
    """The problem document of ``error`` (without ``instance``)."""
    body: dict[str, Any] = {
        "type": problem_type(error.code),
        "title": title_of(error.code),
        "status": status_of(error),
        "detail": str(error),
        "code": error.code,
    }
    if isinstance(error, EventRejectedError):
        body.update({k: jsonable(v) for k, v in error.details.items() if k not in body})
        if error.contract_error is not None:
            body["contractError"] = error.contract_error
    if isinstance(error, ContractError):
        body["contractError"] = error.name
        body["arguments"] = jsonable(error.args_by_name)
    if isinstance(error, InvalidParametersError):
        body["errors"] = error.errors
    if isinstance(error, RateLimitedError):
        body["retryAfter"] = error.retry_after
    if isinstance(error, DependencyUnavailableError):
        body["dependency"] = error.dependency
        body["retryAfter"] = error.retry_after
    if isinstance(error, BackloggedError):
        body["predictedSeconds"] = round(error.predicted_seconds, 1)
    if isinstance(error, EpcisError):
        body["eventIndex"] = error.event_index
        body["pointer"] = error.pointer
        cause = getattr(error, "cause", None)
        if isinstance(cause, TraceNodeError):
            body["cause"] = {"code": cause.code, "detail": str(cause)}
        if isinstance(error, EpcisDependencyError):
            body["dependsOn"] = error.depends_on
    if isinstance(error, EpcisXmlError):
        body["line"], body["xpath"] = error.line, error.path
    if isinstance(error, EpcisQueryError):
        body["parameter"] = error.parameter
    if isinstance(error, InvalidBundleError) and error.field:
        body["pointer"] = error.field
    return body


def problem_response(
    error: TraceNodeError, instance: str | None = None, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = problem_body(error)
    if instance is not None:
        body["instance"] = instance
    extra = dict(headers or {})
    if isinstance(error, RateLimitedError):
        extra["Retry-After"] = str(max(1, round(error.retry_after + 0.5)))
    if isinstance(error, DependencyUnavailableError):
        extra["Retry-After"] = str(error.retry_after)
    if isinstance(error, AuthenticationError):
        extra["WWW-Authenticate"] = 'Bearer realm="tracenode"'
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=extra)


def validation_problem(errors: list[dict[str, Any]]) -> TraceNodeError:
    """FastAPI's validation errors as one typed error naming every field."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return MalformedJsonError("the request body is not valid JSON")
    fields = [
        {
            "field": ".".join(str(part) for part in e.get("loc", ())),
            "message": str(e.get("msg", "invalid")),
        }
        for e in errors[:20]
    ]
    shown = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:3])
    return InvalidParametersError(shown, fields)


def dependency_unavailable(error: BaseException) -> DependencyUnavailableError | None:
    """``error`` as the store or the chain being unreachable, or None for anything else
    (node/store/availability.py and node/chain/availability.py decide)."""
    if isinstance(error, DependencyUnavailableError):
        return error
    return store_unavailable(error) or chain_unavailable(error)


def unavailable_response(request: Request, error: DependencyUnavailableError) -> JSONResponse:
    """503 with ``Retry-After``, and one line in the log: a dependency down is the
    operator's news, not a bug's traceback."""
    log.warning("%s %s: 503 %s: %s", request.method, request.url.path, error.code, str(error)[:300])
    return problem_response(error, request.url.path)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem response."""

    async def on_node_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, TraceNodeError)
        if isinstance(error, DependencyUnavailableError):
            return unavailable_response(request, error)
        refused, log = refusals.raised(request, error), refusals.refusal_log(request)
        if refused is not None and log is not None:  # the monitor's record; never fails
            await run_in_threadpool(log.note, refused)
        return problem_response(error, request.url.path)

    async def on_dependency_error(request: Request, error: Exception) -> JSONResponse:
        # The driver's or client's own classes: the store or the chain unreachable, or
        # (a statement the database refused, an HTTP error of another kind) a bug.
        mapped = dependency_unavailable(error)
        if mapped is None:
            return internal_error(request)
        return unavailable_response(request, mapped)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return problem_response(validation_problem(list(error.errors())), request.url.path)

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        mapped: TraceNodeError
        headers = dict(error.headers or {})
        if error.status_code == 404:
            mapped = NotFoundError(f"nothing at {request.url.path}")
        elif error.status_code == 405:
            mapped = MethodNotAllowedError(f"{request_method(request.scope)} is not allowed here")
            # Starlette names the methods of the first route matching the path only.
            headers["Allow"] = ", ".join(sorted(allowed_methods(request)))
        else:
            mapped = RequestError(str(error.detail))
        response = problem_response(mapped, request.url.path, headers=headers)
        if error.status_code not in (404, 405):
            response.status_code = error.status_code
        return response

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        return internal_error(request)

    app.add_exception_handler(TraceNodeError, on_node_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for cls in DATABASE_ERRORS + CHAIN_CONNECTION_ERRORS:
        app.add_exception_handler(cls, on_dependency_error)
    app.add_exception_handler(Exception, on_unexpected)


def internal_error(request: Request) -> JSONResponse:
    """500 ``internal-error`` for the exception being handled, its traceback logged."""
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    body = {
        "type": problem_type(INTERNAL_ERROR),
        "title": title_of(INTERNAL_ERROR),
        "status": 500,
        "detail": "the node failed to handle this request; the operator's log has the cause",
        "code": INTERNAL_ERROR,
        "instance": request.url.path,
    }
    return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)


def allowed_methods(request: Request) -> set[str]:
    """The methods of every route whose path matches the request's, and HEAD wherever
    GET is (api/head.py)."""
    methods: set[str] = set()
    scope = dict(request.scope)
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods.update(route.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    return methods


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problems a route may return."""
    return {status: problem_response_doc(status) for status in statuses}


def problem_response_doc(status: int) -> dict[str, Any]:
    """The OpenAPI response object of a problem answered with ``status``: the Problem
    schema as ``application/problem+json``, and the headers that status always carries."""
    doc: dict[str, Any] = {
        "description": _DESCRIPTIONS.get(status, "Problem"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in _HEADERS:
        doc["headers"] = _HEADERS[status]
    return doc


_DESCRIPTIONS: Final = {
    400: "Malformed request (bad JSON, nesting too deep)",
    401: "No API key where one is needed, or an unknown, malformed or revoked one",
    403: "Not allowed (admin key needed, or the signer is not the key's participant)",
    404: "Not found",
    406: "None of the offered media types is acceptable",
    408: "The request's body did not arrive in time",
    409: "Conflicts with the current state",
    413: "Body or list too large",
    415: "Unsupported media type",
    422: "Invalid fields (each named) or an invalid event",
    424: "Not done because something it depends on was refused",
    429: "Rate limit exceeded (see Retry-After)",
    503: "The chain or the store cannot be reached (see Retry-After)",
}
_HEADERS: Final[dict[int, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "required": True,
            "description": "The scheme to use: Bearer (an API key).",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "required": True,
            "description": "Seconds to wait before the next request.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
    503: {
        "Retry-After": {
            "required": False,
            "description": "Seconds to wait before trying again, when the store or the "
            "chain cannot be reached (store-unavailable, chain-unavailable).",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}
