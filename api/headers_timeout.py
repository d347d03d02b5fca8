"""A deadline for a request's headers, which uvicorn does not have.

uvicorn's h11 protocol times out nothing before a request's headers are complete: a client
that connects and sends nothing, or sends ``GET / HTTP/1.1\\r\\nHost: x\\r\\n`` a byte at a
time, holds its connection (a file descriptor and a slot of the event loop) for as long as
it likes; its keep-alive timer is re-armed by any byte and is off until a first response.
Enough such clients exhaust the process's descriptors (slowloris).

:func:`headers_timeout_protocol` makes uvicorn's protocol with one more timer: armed when
the connection opens and each time it waits for a next request, cancelled once h11 has a
whole request line and headers (its peer state leaves ``IDLE``). When it fires, a client
that sent part of a request is answered 408 ``request-timeout`` as a problem document and
disconnected; a connection that sent nothing is closed silently, as an idle keep-alive
connection is. The body's own deadlines are :class:`api.limits.BodyLimits`'.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.problems import PROBLEM_JSON, problem_body
from node.exceptions import RequestTimeoutError


def headers_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request headers take longer than
    ``seconds`` to arrive (pass it as ``uvicorn.Config(http=…)``)."""

    class HeadersTimeoutProtocol(H11Protocol):
        headers_timeout = seconds

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._headers_deadline: asyncio.TimerHandle | None = None
            self._partial = False  # bytes of a request that is not whole yet

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._headers_arrived()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            waiting = self.conn.their_state is h11.IDLE
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._headers_arrived()
            elif waiting and data:
                self._partial = True

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._await_headers()

        def _await_headers(self) -> None:
            self._headers_arrived()
            self._partial = False
            self._headers_deadline = self.loop.call_later(self.headers_timeout, self._headers_late)

        def _headers_arrived(self) -> None:
            if self._headers_deadline is not None:
                self._headers_deadline.cancel()
                self._headers_deadline = None

        def _headers_late(self) -> None:
            self._headers_deadline = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self._partial:
                late = RequestTimeoutError(
                    f"the request's headers did not arrive within {self.headers_timeout:g} s"
                )
                body = json.dumps(problem_body(late)).encode()
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\n"
                    + f"content-type: {PROBLEM_JSON}\r\n".encode()
                    + f"content-length: {len(body)}\r\n".encode()
                    + b"connection: close\r\n\r\n"
                    + body
                )
            self.transport.close()

    return HeadersTimeoutProtocol
