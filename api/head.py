"""HEAD wherever GET is (RFC 9110 §9.3.2: a server MUST support HEAD): the request runs as
a GET, and its answer — status and every header, ``Content-Length`` included — goes out
without a body. FastAPI's routes answer their declared methods only (GET, not HEAD), so
this is done once for the app, for every route and every error alike.

The app inside sees a GET; :func:`request_method` tells the method the client sent (a
405's detail names it, and ``Allow`` lists HEAD wherever GET is: api/problems.py).
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Set in the scope of a HEAD request run as a GET.
_HEAD: Final = "tracenode.head"


def request_method(scope: Scope) -> str:
    """The method the client sent (HEAD for a HEAD run as a GET)."""
    return "HEAD" if scope.get(_HEAD) else str(scope["method"])


class HeadAsGet:
    """Run HEAD as GET and drop the answer's body (ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        # A copy: the server reads the method from its own scope (no body for a HEAD).
        inner = dict(scope, method="GET", **{_HEAD: True})

        async def without_body(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                await send(message)
            elif kind == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif kind == "http.response.pathsend":  # a file, sent by the server
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send(message)

        try:
            await self.app(inner, receive, without_body)
        finally:
            if "route" in inner:  # the route matched, for the request metrics
                scope["route"] = inner["route"]
