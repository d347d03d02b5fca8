"""Requests that stall or trickle, over raw sockets against a real ``tracenode serve``: past
the body's idle deadline (1 s here) or its whole deadline (3 s here), or the headers'
deadline (2 s here), the server answers 408 ``request-timeout`` as a problem and closes the
connection; a connection that sends nothing is closed; a request that keeps within the
deadlines is read as usual."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from node.context import init_node
from tests.api.server import SERVE_PASSWORD, Server

IDLE = 1.0  # TRACENODE_API_BODY_IDLE_TIMEOUT
WHOLE = 3.0  # TRACENODE_API_BODY_TIMEOUT
HEADERS = 2.0  # TRACENODE_API_HEADERS_TIMEOUT
#: How much later than its deadline an answer may come, on a loaded machine.
SLACK = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("slow-body") / "data"
    init_node(data_dir, SERVE_PASSWORD, pbkdf2_iterations=1000)
    served = Server(
        data_dir,
        SERVE_PASSWORD,
        env={
            "TRACENODE_API_BODY_IDLE_TIMEOUT": str(IDLE),
            "TRACENODE_API_BODY_TIMEOUT": str(WHOLE),
            "TRACENODE_API_HEADERS_TIMEOUT": str(HEADERS),
        },
    )
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    after: float  # seconds from the last byte sent to the first byte of the answer
    closed: bool  # the server closed the connection after answering


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def head(method: str, path: str, length: int) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def read_answer(sock: socket.socket, sent: float, within: float = 15) -> Answer:
    """Everything the server sends until it closes the connection (or ``within`` seconds
    pass, which the test reports as not closed)."""
    deadline = time.monotonic() + within
    data = b""
    first: float | None = None
    closed = False
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if first is None:
            first = time.monotonic() - sent
        if not chunk:
            closed = True
            break
        data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0] else 0
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:])
    }
    return Answer(status, headers, body, first if first is not None else float("inf"), closed)


def check_timed_out(answer: Answer) -> None:
    assert answer.status == 408, answer
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["connection"] == "close"
    problem = json.loads(answer.body)
    assert problem["code"] == "request-timeout"
    assert problem["type"] == "urn:tracenode:problem:request-timeout"
    assert answer.closed


@pytest.mark.parametrize(
    ("method", "path", "sent_body"),
    [
        pytest.param("POST", "/v1/events", b'{"eve', id="5 of 100 bytes, then silence"),
        pytest.param("POST", "/v1/events", b"", id="headers, then silence"),
        pytest.param("POST", "/rpc", b'{"jsonrpc"', id="another route"),
        pytest.param("GET", "/healthz", b"abcde", id="a GET announcing a body"),
    ],
)
def test_a_body_that_stops_is_answered_408_after_the_idle_deadline(
    server: Server, method: str, path: str, sent_body: bytes
) -> None:
    with connect(server) as sock:
        sock.sendall(head(method, path, 100) + sent_body)
        answer = read_answer(sock, time.monotonic())

    check_timed_out(answer)
    assert "paused for more than 1 s" in json.loads(answer.body)["detail"]
    assert IDLE - 0.2 < answer.after < IDLE + SLACK


def test_a_body_trickling_a_byte_at_a_time_is_cut_at_the_whole_deadline(server: Server) -> None:
    stop = threading.Event()
    with connect(server) as sock:
        sock.sendall(head("POST", "/v1/events", 1000))
        began = time.monotonic()

        def drip() -> None:  # a byte every 0.3 s: never idle for the 1 s deadline
            while not stop.wait(0.3):
                try:
                    sock.sendall(b" ")
                except OSError:
                    return

        dripping = threading.Thread(target=drip, daemon=True)
        dripping.start()
        try:
            answer = read_answer(sock, began)
        finally:
            stop.set()
            dripping.join(timeout=10)

    check_timed_out(answer)
    assert f"did not arrive within {WHOLE:g} s" in json.loads(answer.body)["detail"]
    assert WHOLE - 0.2 < answer.after < WHOLE + SLACK


def test_a_body_sent_in_pieces_within_the_deadlines_is_read_as_usual(server: Server) -> None:
    body = json.dumps({"event": {}, "signature": "0x"}).encode()
    with connect(server) as sock:
        sock.sendall(head("POST", "/v1/events", len(body)))
        for start in range(0, len(body), 10):
            time.sleep(0.2)
            sock.sendall(body[start : start + 10])
        answer = read_answer(sock, time.monotonic(), within=5)

    # The whole body arrived (slowly, within both deadlines): the route ran, and refused
    # the request for what it is, a submission without an API key.
    assert answer.status == 401, answer
    assert json.loads(answer.body)["code"] == "unauthenticated"


def drip(sock: socket.socket, data: bytes, every: float, stop: threading.Event) -> threading.Thread:
    """Send ``data`` a byte every ``every`` seconds, in a thread, until done or stopped."""

    def run() -> None:
        for byte in data:
            if stop.wait(every):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", id="half the headers"),
        pytest.param(b"POST /v1/ev", id="half a request line"),
    ],
)
def test_headers_that_stop_are_answered_408_after_the_headers_deadline(
    server: Server, sent: bytes
) -> None:
    with connect(server) as sock:
        sock.sendall(sent)
        answer = read_answer(sock, time.monotonic())

    check_timed_out(answer)
    assert "headers did not arrive within 2 s" in json.loads(answer.body)["detail"]
    assert HEADERS - 0.2 < answer.after < HEADERS + SLACK


def test_headers_trickling_a_byte_at_a_time_are_cut_at_the_headers_deadline(
    server: Server,
) -> None:
    stop = threading.Event()
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: " + b"a" * 200
    with connect(server) as sock:
        began = time.monotonic()
        dripping = drip(sock, request, 0.3, stop)  # never idle long, never finished
        try:
            answer = read_answer(sock, began)
        finally:
            stop.set()
            dripping.join(timeout=10)

    check_timed_out(answer)
    assert HEADERS - 0.2 < answer.after < HEADERS + SLACK


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with connect(server) as sock:
        answer = read_answer(sock, time.monotonic())

    assert answer.closed, answer
    assert answer.body == b"", answer
    assert answer.status == 0, answer
    assert HEADERS - 0.2 < answer.after < HEADERS + SLACK


def test_a_kept_alive_connection_gets_a_fresh_deadline_for_each_request(server: Server) -> None:
    """Requests 0.8 s apart on one connection, for longer than one deadline, are all
    answered; a half request after them is cut at its own deadline."""
    ask = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connect(server) as sock:
        sock.settimeout(10)
        for _ in range(4):  # 3.2 s in all, over the 2 s deadline
            sock.sendall(ask)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                assert chunk, "the connection closed between requests"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer
            time.sleep(0.8)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        late = read_answer(sock, time.monotonic())

    check_timed_out(late)
    assert HEADERS - 0.2 - 0.8 < late.after < HEADERS + SLACK
