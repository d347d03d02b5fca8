"""A real gateway for the SDK's tests: uvicorn serving ``create_app`` over a node made by
the ``tracenode`` harness, its commit worker running (proofs arrive), API keys for every
participant; and a small real HTTP proxy in front of it that can fail on purpose."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from api.deps import CommitStatus
from api.main import create_app
from api.settings import ApiSettings
from node.commit.worker import CommitPolicy
from node.store.apikeys import ApiKeys
from node.testing.harness import TraceNodeHarness
from tests.api.server import free_port

#: High enough that nothing is rate-limited unless a test asks for it.
FAST = ApiSettings(rate_per_second=10_000, rate_burst=100_000)


class Gateway:
    """The gateway of a harness node, served by uvicorn in a thread on a fixed port; it
    can be stopped (connections refused) and started again on the same port."""

    def __init__(
        self, harness: TraceNodeHarness, settings: ApiSettings, *, commit: bool = True
    ) -> None:
        self.harness = harness
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        node = harness.node
        policy = CommitPolicy(interval=0.2)
        self.app = create_app(
            node,
            settings=settings,
            registrar=node.admin(harness.password),
            commit=CommitStatus(policy=policy, runs_worker=True, leader=True),
        )
        keys = ApiKeys(node.store)
        self.tokens = {
            name: keys.create(participant_id=harness.participant_id(name), label=name).token
            for name in harness.keys
        }
        self.admin_token = keys.create(admin=True, label="admin").token
        self.commit = commit  # whether the commit worker runs (else harness.commit())
        self._stop_worker = threading.Event()
        self._worker = threading.Thread(
            target=harness.worker(policy).run, args=(self._stop_worker,), daemon=True
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        if self.commit and not self._worker.is_alive():
            self._worker.start()

    def stop(self) -> None:
        """Stop serving: new connections are refused until :meth:`start`."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
            self._server = None

    def close(self) -> None:
        self.stop()
        self.app.state.gateway.capture_jobs.close()  # asynchronous captures' runner, if any
        self._stop_worker.set()
        if self._worker.is_alive():
            self._worker.join(timeout=30)

    def event_rows(self) -> int:
        store = self.harness.node.store
        with store.read() as conn:
            return store.events.count(conn)


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def make_gateway(tracenode: TraceNodeHarness) -> Iterator[GatewayFactory]:
    made: list[Gateway] = []

    def make(settings: ApiSettings = FAST, *, commit: bool = True) -> Gateway:
        gateway = Gateway(tracenode, settings, commit=commit)
        gateway.start()
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.close()


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> Gateway:
    return make_gateway()


# ----- a proxy that fails on purpose -----

_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding"})


@dataclass
class Seen:
    method: str
    path: str
    status: int | None  # None: the connection was dropped
    body_bytes: int
    items: int | None  # entries of a JSON list body


@dataclass
class Proxy:
    """A real HTTP proxy (its own thread and socket) forwarding to ``upstream``.

    ``faults`` is consumed, one per matching request (``method path``): ``"drop"`` forwards
    the request, then closes the connection without answering (the gateway did the work,
    the client never hears of it); ``"503"`` answers 503 without forwarding; ``"reset"``
    closes the connection before forwarding. ``rewrite`` may change a forwarded JSON
    answer (e.g. /v1/info).
    """

    upstream: str
    faults: dict[str, list[str]] = field(default_factory=dict)
    rewrite: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        proxy = self
        client = httpx.Client(base_url=self.upstream, timeout=60)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                items = body.count(b'"signature"') if body.startswith(b"[") else None
                key = f"{self.command} {self.path}"
                pending = proxy.faults.get(key) or proxy.faults.get(self.command) or []
                fault = pending.pop(0) if pending else None
                if fault == "reset":
                    proxy.seen.append(Seen(self.command, self.path, None, len(body), items))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault == "503":
                    proxy.seen.append(Seen(self.command, self.path, 503, len(body), items))
                    payload = b'{"code": "not-ready", "status": 503, "detail": "injected"}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                answer = client.request(self.command, self.path, content=body, headers=headers)
                if fault == "drop":
                    proxy.seen.append(Seen(self.command, self.path, None, len(body), items))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                content = answer.content
                change = proxy.rewrite.get(self.path)
                if change is not None:
                    content = json.dumps(change(answer.json())).encode()
                proxy.seen.append(
                    Seen(self.command, self.path, answer.status_code, len(body), items)
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = _handle  # noqa: N815
            do_POST = _handle  # noqa: N815

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._client = client
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def posts(self, path: str = "/v1/events") -> list[Seen]:
        return [s for s in self.seen if s.method == "POST" and s.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


@pytest.fixture
def proxy(gateway: Gateway) -> Iterator[Proxy]:
    made = Proxy(gateway.url)
    yield made
    made.close()
