"""Limits applied before any route runs: body size and JSON nesting (ASGI middleware), and
a token-bucket rate per API key (per client address without a key).

JSON nesting is bounded *before* the body is parsed: py-evm raises Python's recursion
limit far above what the C stack survives, so a deeply nested body must never reach a
JSON parser.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from api.settings import ApiSettings
from node.events.jsonsafe import nesting_depth
from node.exceptions import JsonTooDeepError, RateLimitedError, RequestTooLargeError


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether ``body`` nests arrays and objects more than ``limit`` deep (measured without
    parsing, by :func:`node.events.jsonsafe.nesting_depth`)."""
    return nesting_depth(body) > limit


class BodyLimits:
    """Refuse bodies over ``max_body_bytes`` (413) or nested over ``max_json_depth`` (400),
    and hand the route the body it already read."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
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
        while more:
            message = await receive()
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


async def _refuse(scope: Scope, receive: Receive, send: Send, error: Exception, path: str) -> None:
    assert isinstance(error, RequestTooLargeError | JsonTooDeepError)
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
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, caller: str) -> None:
        """Take a token from ``caller``'s bucket; :class:`RateLimitedError` if it is empty."""
        cost = 1.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[caller] = (tokens, now)
                wait = (cost - tokens) / self.rate
                raise RateLimitedError(
                    f"rate limit of {self.rate:g} requests/s exceeded; retry in {wait:.1f} s",
                    retry_after=wait,
                )
            self._buckets[caller] = (tokens - cost, now)
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
