"""A real HTTP webhook receiver for tests: it records every message exactly as it arrived
(body bytes and headers), and :func:`verify` checks one with the ``standardwebhooks``
package (the maintained reference, not our own code). Run in a thread (``Receiver``) or
as a process (``python -m tests.webhook_receiver --port N --out FILE``).

A ``Receiver`` may also answer as a hostile one does (``answer``): its headers or its
body dripped a byte at a time, an endless body, or a malformed header quoting words of
its own; each for at most ``MAX_STALL`` seconds."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

ROOT = Path(__file__).resolve().parent.parent
#: The longest a hostile answer keeps its thread (the deliverer gives up far sooner).
MAX_STALL = 20.0
#: What a hostile receiver puts in a malformed header line: never in the node's records.
QUOTED = "receiver-chosen-words"

Answer = Literal["status", "drip-headers", "drip-body", "endless", "malformed"]


@dataclass
class Received:
    message_id: str
    raw: str  # the body as it arrived (UTF-8)
    headers: dict[str, str]
    at: float = 0.0  # when it arrived (time.time())

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


def verify(item: Received, secret: str) -> bool:
    """Whether ``secret`` signed ``item``, as standardwebhooks checks it."""
    try:
        Webhook(secret).verify(item.raw.encode(), item.headers)
    except WebhookVerificationError:
        return False
    return True


@dataclass
class Receiver:
    """A receiver on a free loopback port; ``status`` is what it answers (500 to fail)."""

    status: int = 204
    delay: float = 0.0
    got: list[Received] = field(default_factory=list)
    out: Path | None = None
    answer: Answer = "status"
    sent: int = 0  # bytes of hostile answers written

    def hostile(self, request: BaseHTTPRequestHandler) -> None:
        """A hostile answer (``answer``), for at most ``MAX_STALL`` seconds."""
        request.close_connection = True
        until = time.monotonic() + MAX_STALL
        first, each, pause = {
            "drip-headers": (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a", 0.2),
            "drip-body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x", 0.2),
            "endless": (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20)),
                0.0,
            ),
            "malformed": (f"HTTP/1.1 200 OK\r\nX-{QUOTED}\r\n\r\n".encode(), b"", 0.0),
        }[self.answer]
        try:
            request.wfile.write(first)
            request.wfile.flush()
            while each and time.monotonic() < until:
                request.wfile.write(each)
                request.wfile.flush()
                self.sent += len(each)
                time.sleep(pause)
        except OSError:
            pass  # the deliverer gave up, as it should

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps the connection, as real receivers do

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                if receiver.answer != "status":
                    receiver.hostile(self)
                    return
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.status < 300:
                    item = Received(
                        headers.get("webhook-id", ""), raw.decode(), headers, time.time()
                    )
                    receiver.got.append(item)
                    if receiver.out is not None:
                        with receiver.out.open("a") as f:
                            f.write(json.dumps(item.__dict__) + "\n")
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def serving(self, port: int = 0) -> Iterator[str]:
        server = ThreadingHTTPServer(("127.0.0.1", port), self.handler())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hook"
        finally:
            server.shutdown()
            server.server_close()


@contextmanager
def receiver_process(port: int, out: Path) -> Iterator[None]:
    """This module as a process of its own on ``port``, recording to ``out``; killed after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.webhook_receiver", "--port", str(port), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the webhook receiver process did not start")
        yield
    finally:
        process.kill()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def received(out: Path) -> list[Received]:
    """What a receiver process recorded in ``out`` so far (a line being written is left)."""
    if not out.exists():
        return []
    found = []
    for line in out.read_text().splitlines():
        try:
            found.append(Received(**json.loads(line)))
        except json.JSONDecodeError:
            break
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    receiver = Receiver(out=args.out)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), receiver.handler())
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
