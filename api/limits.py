"""Limits applied before any route runs: body size, the time a body may take to arrive and
JSON nesting (ASGI middleware), and a token-bucket rate per API key (per client address
without a key).

JSON nesting is bounded *before* the body is parsed: py-evm raises Python's recursion
limit far above what the C stack survives, so a deeply nested body must never reach a
JSON parser.

A body is read here, whole, before any route, within two deadlines (``ApiSettings``):
``body_idle_timeout`` between two pieces and ``body_timeout`` for all of it. uvicorn has
no read timeout of its own once a request's headers are in, so a client sending 5 bytes
of a 100-byte body and then nothing would otherwise hold its connection, and a task,
forever: past either deadline it is answered 408 ``request-timeout`` and disconnected.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from api.settings import ApiSettings
from node.events.jsonsafe import nesting_depth
from node.exceptions import (
    JsonTooDeepError,
    RateLimitedError,
    RequestTimeoutError,
    RequestTooLargeError,
)


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether ``body`` nests arrays and objects more than ``limit`` deep (measured without
    parsing, by :func:`node.events.jsonsafe.nesting_depth`)."""
    return nesting_depth(body) > limit


class BodyLimits:
    """Refuse bodies over ``max_body_bytes`` (413), slower than the body deadlines (408) or
    nested over ``max_json_depth`` (400), and hand the route the body it already read.

    Every request that carries a body is read here, whatever its method; a GET, HEAD or
    OPTIONS without one (no Content-Length, or 0, and no Transfer-Encoding) goes straight
    on."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["method"] in ("GET", "HEAD", "OPTIONS") and not _has_body(scope)
        ):
            await self.app(scope, receive, send)
            return
        limit = self.settings.max_body_bytes
        path = scope.get("path", "")
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, RequestTooLargeError(_too_large(limit)), path)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        idle = self.settings.body_idle_timeout
        deadline = anyio.current_time() + self.settings.body_timeout
        while more:
            wait = min(idle, deadline - anyio.current_time())
            message: Message | None = None
            with anyio.move_on_after(wait):
                message = await receive()
            if message is None:
                late = RequestTimeoutError(
                    f"the request body did not arrive within {self.settings.body_timeout:g} s"
                    if wait < idle
                    else f"the request body paused for more than {idle:g} s"
                )
                await _refuse(scope, receive, send, late, path)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(scope, receive, send, RequestTooLargeError(_too_large(limit)), path)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        depth = self.settings.max_json_depth
        if body and json_too_deep(body, depth):
            error = JsonTooDeepError(f"JSON nested deeper than {depth} levels (or unbalanced)")
            await _refuse(scope, receive, send, error, path)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> str:
    return f"the request body exceeds {limit} bytes"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _has_body(scope: Scope) -> bool:
    """Whether the request's headers announce a body (RFC 9112 §6.3)."""
    for name, _ in scope.get("headers", []):
        if name == b"transfer-encoding":
            return True
    return bool(_content_length(scope))


async def _refuse(scope: Scope, receive: Receive, send: Send, error: Exception, path: str) -> None:
    assert isinstance(error, RequestTooLargeError | JsonTooDeepError | RequestTimeoutError)
    response = problem_response(error, path)
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


class RateLimiter:
    """Token buckets, one per caller: ``rate`` per second, at most ``burst`` at once.

    In memory, per process (several gateway processes each allow the rate). At most
    ``max_callers`` buckets are kept; the least recently seen are dropped first.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_callers: int = 100_000,
        unit: str = "requests",
    ) -> None:
        self.rate = rate
        self.unit = unit
        self.burst = float(burst)
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, caller: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens (at most a full bucket) from ``caller``'s bucket;
        :class:`RateLimitedError` if it holds fewer."""
        cost = min(cost, self.burst)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[caller] = (tokens, now)
                wait = (cost - tokens) / self.rate
                raise RateLimitedError(
                    f"rate limit of {self.rate:g} {self.unit}/s exceeded; retry in {wait:.1f} s",
                    retry_after=wait,
                )
            self._buckets[caller] = (tokens - cost, now)
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
