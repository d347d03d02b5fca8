"""HTTP to a TraceNode gateway: bounded retries with backoff, problems as typed errors.

What is retried: network errors (refused, reset, dropped, timed out), 408, 429 and 5xx.
A retried ``POST /v1/events`` or ``POST /v1/epcis/capture`` is safe because the gateway
is idempotent by event hash: an event it already holds is answered ``duplicate``, never
written twice. 429 and 503 answers carrying ``Retry-After`` are waited out as asked (up
to :attr:`RetryPolicy.max_retry_after`); other pauses grow exponentially, with jitter, up
to :attr:`RetryPolicy.max_delay`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx

from node import __version__
from node.events.digits import is_decimal
from node.exceptions import (
    ContractError,
    EpcisError,
    EpcisEventRejectedError,
    EventRejectedError,
    GatewayError,
    GatewayUnavailableError,
    InvalidBundleError,
    InvalidParametersError,
    RateLimitedError,
    TraceNodeError,
)

#: Statuses worth asking again: the same request may succeed later.
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
#: Members of every problem document (the rest are the error's arguments).
_STANDARD: Final = frozenset({"type", "title", "status", "detail", "code", "instance"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before a request counts as failed (and events wait in the outbox)."""

    attempts: int = 6  # tries in all, the first included
    base_delay: float = 0.25  # seconds before the first retry; doubles each time
    max_delay: float = 8.0  # the longest backoff pause
    max_retry_after: float = 60.0  # the longest Retry-After honoured; beyond it, give up

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("attempts must be at least 1 and delays not negative")

    def backoff(self, retry: int) -> float:
        """The pause before retry number ``retry`` (0-based): exponential, with jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry)
        jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
        return ceiling * jitter


@dataclass(frozen=True, slots=True)
class Retry:
    """A retry about to happen, as ``Client(on_retry=...)`` is told of it."""

    method: str
    path: str
    attempt: int  # the try that failed (1 for the first)
    delay: float  # seconds until the next try
    reason: str  # e.g. "status 503" or "ConnectError: ..."
    status: int | None = None
    retry_after: float | None = None  # what the gateway asked for, when it did


class Http:
    """One gateway's HTTP client (httpx, with keep-alive) and its retry policy."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None,
        retry: RetryPolicy,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        on_retry: Callable[[Retry], None] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the gateway URL must be http(s)://, not {url!r}")
        self.url = url.rstrip("/")
        self.retry = retry
        self.on_retry = on_retry
        headers = {"User-Agent": f"tracenode-sdk/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.headers = headers
        self._client = httpx.Client(
            base_url=self.url,
            headers=headers,
            # An unreachable host should not hold a supplier up for the full read timeout.
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        attempts: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The first answer that is not worth retrying (any status), or
        :class:`GatewayUnavailableError` once ``attempts`` tries (default: the policy's)
        failed. ``headers``: the request's own, beside the content type."""
        tries = attempts if attempts is not None else self.retry.attempts
        headers = ({"Content-Type": "application/json"} if content is not None else {}) | dict(
            headers or {}
        )
        last = "no answer"
        for attempt in range(1, tries + 1):
            retry_after: float | None = None
            status: int | None = None
            try:
                response = self._client.request(method, path, content=content, headers=headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                status = response.status_code
                retry_after = _retry_after(response.headers.get("Retry-After"))
                last = f"status {status}"
                if retry_after is not None and retry_after > self.retry.max_retry_after:
                    raise GatewayUnavailableError(
                        f"{method} {path}: the gateway asks to wait {retry_after:.0f} s "
                        f"(more than {self.retry.max_retry_after:.0f} s)",
                        status=status,
                        problem=_problem_or_none(response),
                    )
            if attempt == tries:
                break
            delay = retry_after if retry_after is not None else self.retry.backoff(attempt - 1)
            if self.on_retry is not None:
                self.on_retry(Retry(method, path, attempt, delay, last, status, retry_after))
            time.sleep(delay)
        raise GatewayUnavailableError(
            f"{method} {self.url}{path}: no answer after {tries} tries ({last})"
        )

    def get_json(self, path: str, *, attempts: int | None = None) -> Any:
        """``GET path`` as JSON; a problem answer raises its typed error."""
        return expect_json(self.send("GET", path, attempts=attempts), 200)

    def post_json(self, path: str, body: Any, *, status: int = 200) -> Any:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return expect_json(self.send("POST", path, content=content), status)


def expect_json(response: httpx.Response, status: int) -> Any:
    """The JSON of ``response`` when it has ``status``; else the typed error its problem
    document names (or :class:`GatewayError`)."""
    if response.status_code == status:
        try:
            return response.json()
        except ValueError:
            raise GatewayError(
                f"{response.request.url}: the answer is not JSON", status=response.status_code
            ) from None
    raise problem_error(response)


def problem_error(response: httpx.Response) -> TraceNodeError:
    """The typed error of a problem answer (:class:`GatewayError` if it is none)."""
    problem = _problem_or_none(response)
    if problem is None:
        return GatewayError(
            f"{response.request.method} {response.request.url}: unexpected status "
            f"{response.status_code} without a problem document",
            status=response.status_code,
        )
    return error_from_problem(problem, status=response.status_code)


def _problem_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        document = response.json()
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("code"), str):
        return document
    return None


def error_classes() -> dict[str, type[TraceNodeError]]:
    """Every error class of node/exceptions.py, by its stable code."""
    found: dict[str, type[TraceNodeError]] = {}
    pending: list[type[TraceNodeError]] = [TraceNodeError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == TraceNodeError.__module__:
            found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_from_problem(problem: Mapping[str, Any], *, status: int | None = None) -> TraceNodeError:
    """The typed error a problem document stands for, built from its members: the class
    whose ``code`` it carries, the rule's arguments as ``details``; :class:`GatewayError`
    (holding the document) for a code this SDK does not know."""
    code = str(problem.get("code", ""))
    detail = str(problem.get("detail") or code)
    extras = {k: v for k, v in problem.items() if k not in _STANDARD}
    cls = error_classes().get(code)
    error: TraceNodeError
    try:
        if cls is None:
            raise TypeError(code)
        if issubclass(cls, EventRejectedError):
            error = cls(detail, **extras)
        elif issubclass(cls, EpcisEventRejectedError):
            cause = problem.get("cause")
            error = cls(
                detail,
                cause=_cause(cause) if isinstance(cause, Mapping) else EventRejectedError(detail),
                event_index=_int_or_none(problem.get("eventIndex")),
                pointer=str(problem.get("pointer") or ""),
            )
        elif issubclass(cls, EpcisError):
            error = cls(
                detail,
                event_index=_int_or_none(problem.get("eventIndex")),
                pointer=str(problem.get("pointer") or ""),
            )
        elif issubclass(cls, RateLimitedError):
            error = cls(detail, float(problem.get("retryAfter") or 1))
        elif issubclass(cls, InvalidParametersError):
            errors = problem.get("errors")
            error = cls(detail, errors if isinstance(errors, list) else [])
        elif issubclass(cls, InvalidBundleError):
            pointer = problem.get("pointer")
            error = cls(detail, field=pointer if isinstance(pointer, str) else None)
        elif issubclass(cls, ContractError | GatewayError):
            raise TypeError(code)  # built from the chain / by the SDK, never from a problem
        else:
            error = cls(detail)
    except (TypeError, ValueError):
        return GatewayError(f"[{code or 'no code'}] {detail}", status=status, problem=dict(problem))
    error.add_note(f"gateway problem {problem.get('type', code)} (HTTP {status})")
    return error


def _cause(cause: Mapping[str, Any]) -> EventRejectedError:
    cls = error_classes().get(str(cause.get("code", "")))
    detail = str(cause.get("detail", ""))
    if cls is not None and issubclass(cls, EventRejectedError):
        return cls(detail)
    return EventRejectedError(detail)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    text = value.strip()
    if is_decimal(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
