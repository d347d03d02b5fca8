"""HTTP exchanges of the node's own — a fetch from another node of the network
(node/network/resolution.py), a webhook delivery (node/webhooks/delivery.py) — bounded as a
whole, not only read by read.

httpx bounds each socket operation (connect, each read, each write), never the exchange:
a peer that answers one byte within every read timeout — of its status line, its headers
or its body — holds an exchange for as long as it likes. Inside :func:`deadline`, every
socket operation of a client made by :func:`bounded_client` (the TCP connect, the TLS
handshake, each read and each write) waits at most until the deadline, and one begun after
it fails at once: the whole exchange, headers and body, ends by then with an
``httpx.TimeoutException``. (CPython bounds a TLS handshake and each TLS read as a whole by
the socket's timeout, so a handshake dripped byte by byte ends by the deadline too.)

The clients of :func:`bounded_client` take no proxy from the environment and follow no
redirect.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

import httpcore
import httpx

#: The monotonic time the current thread's exchange must end by (None: no deadline).
_DEADLINE: ContextVar[float | None] = ContextVar("tracenode_exchange_deadline", default=None)
#: The most bytes handed to one socket write, so that a peer reading slowly meets the
#: deadline between writes too (httpcore writes in a loop, each with the same timeout).
_WRITE_SLICE: Final = 16 * 1024


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every exchange of a :func:`bounded_client` in this block (in this thread) ends
    within ``seconds`` from now, or by the enclosing block's deadline if that is sooner;
    yields the deadline (``time.monotonic()``'s clock). An exchange still going on then
    fails with an ``httpx.TimeoutException``."""
    at = time.monotonic() + seconds
    enclosing = _DEADLINE.get()
    if enclosing is not None:
        at = min(at, enclosing)
    token = _DEADLINE.set(at)
    try:
        yield at
    finally:
        _DEADLINE.reset(token)


def bounded_client(
    *, connect_timeout: float, read_timeout: float, limits: httpx.Limits | None = None
) -> httpx.Client:
    """An httpx client whose exchanges honour :func:`deadline`: ``connect_timeout`` to
    open a connection, ``read_timeout`` for each read (and write), no redirects followed,
    no proxy or certificate settings taken from the environment."""
    return httpx.Client(
        transport=_BoundedTransport(limits or httpx.Limits()),
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        follow_redirects=False,
        trust_env=False,
    )


def error_kind(exc: httpx.HTTPError) -> str:
    """The class of a transport error, never its text: that may hold the URL's secrets or
    words the peer chose (a malformed header line quoted back)."""
    return type(exc).__name__


def _within(timeout: float | None, late: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` for one socket operation, cut to what is left of the deadline."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise late("the exchange's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose every operation ends by the current deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        for start in range(0, len(view), _WRITE_SLICE):
            piece = bytes(view[start : start + _WRITE_SLICE])
            self._inner.write(piece, _within(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        within = _within(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, within))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own sockets, each wrapped in a :class:`_Stream`."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        within = _within(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, within, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol("the node sends over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


#: httpcore's errors as httpx's, the most specific first (httpx's own transport maps them
#: the same way; its mapping is private).
_ERRORS: Final[tuple[tuple[type[Exception], type[httpx.HTTPError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes], response: httpcore.Response) -> None:
        self._inner = inner
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        with _mapped():
            yield from self._inner

    def close(self) -> None:
        with _mapped():
            self._response.close()


class _BoundedTransport(httpx.BaseTransport):
    """httpx's HTTP/1.1 transport over httpcore, with :class:`_Backend`'s sockets."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped():
            answer = self._pool.handle_request(core)
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream, answer),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()
