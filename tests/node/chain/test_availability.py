"""Which chain-client errors mean "the chain's node cannot be reached now":
node/chain/availability.py, against real sockets and a real HTTP server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from web3 import HTTPProvider, Web3

from node.chain.availability import chain_unavailable
from node.exceptions import ChainError, ChainUnavailableError


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def failure(url: str) -> BaseException:
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 5}, exception_retry_configuration=None))
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the client's own class is the point
        w3.eth.block_number  # noqa: B018
    return caught.value


@pytest.fixture
def answering() -> Iterator[tuple[str, list[int]]]:
    """An HTTP server answering every POST with the next status in its list."""
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(statuses.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", statuses
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_refused_connection_is_unavailable() -> None:
    found = chain_unavailable(failure(f"http://127.0.0.1:{closed_port()}"))

    assert isinstance(found, ChainUnavailableError)
    assert isinstance(found, ChainError)  # what the commit worker already retries


def test_a_gateway_error_in_front_of_the_node_is_unavailable_a_client_error_is_not(
    answering: tuple[str, list[int]],
) -> None:
    url, statuses = answering
    statuses.extend([502, 401])

    assert isinstance(chain_unavailable(failure(url)), ChainUnavailableError)
    assert chain_unavailable(failure(url)) is None
