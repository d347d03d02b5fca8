"""A real HTTP server that plays a node of the network answering badly, for the tests of
cross-node resolution: garbage, an HTTP error, a redirect, a bundle it was given (a
tampered one), an answer too large, a slow answer, one dripped byte by byte (its body, or
its status line and headers), or a compressed body that inflates a thousandfold. Runs in
a thread on a free loopback port; every sleep it does is bounded."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal[
    "garbage",
    "status",
    "missing",
    "redirect",
    "bundle",
    "huge",
    "slow",
    "drip",
    "header-drip",
    "gzip-bomb",
]

#: The longest a slow or dripping answer keeps its thread (the client gives up sooner).
MAX_STALL = 10.0


@functools.cache
def gzip_bomb() -> bytes:
    """256 MiB of spaces, gzipped to about 250 KiB: well under any size limit as sent."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    spaces = b" " * (1024 * 1024)
    return b"".join(packer.compress(spaces) for _ in range(256)) + packer.flush()


@dataclass
class HostileNode:
    url: str = ""
    mode: Mode = "garbage"
    body: bytes = b""  # what "bundle" answers
    requests: int = 0
    host: str = ""  # the Host header of the last request

    def handler(self) -> type[BaseHTTPRequestHandler]:
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                node.requests += 1
                node.host = self.headers.get("Host", "")
                # The client giving up (as it should) breaks the pipe.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    node.answer(self)

        return Handler

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if mode == "status":
            self._send(request, 500, b'{"oops": true}')
        elif mode == "missing":
            self._send(request, 404, b'{"code": "batch-not-found"}')
        elif mode == "redirect":
            request.send_response(302)
            request.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            request.send_header("Content-Length", "0")
            request.end_headers()
        elif mode == "bundle":
            self._send(request, 200, self.body)
        elif mode == "huge":
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.end_headers()  # no length: the client must count
            chunk = b" " * 65536
            for _ in range(int(16 * 1024 * 1024 / len(chunk))):
                request.wfile.write(chunk)
        elif mode == "slow":
            time.sleep(MAX_STALL)
            self._send(request, 200, b"{}")
        elif mode == "drip":
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.end_headers()
            deadline = time.monotonic() + MAX_STALL
            while time.monotonic() < deadline:
                request.wfile.write(b" ")
                request.wfile.flush()
                time.sleep(0.1)
        elif mode == "header-drip":
            # A status line, then a header one byte at a time: no header ever ends.
            request.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            request.wfile.flush()
            deadline = time.monotonic() + MAX_STALL
            while time.monotonic() < deadline:
                request.wfile.write(b"a")
                request.wfile.flush()
                time.sleep(0.1)
            request.close_connection = True
        elif mode == "gzip-bomb":
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Encoding", "gzip")
            request.send_header("Content-Length", str(len(gzip_bomb())))
            request.end_headers()
            request.wfile.write(gzip_bomb())
        else:
            self._send(request, 200, b"<html>this is not a bundle")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


@contextmanager
def hostile_node() -> Iterator[HostileNode]:
    node = HostileNode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), node.handler())
    server.daemon_threads = True
    node.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield node
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
