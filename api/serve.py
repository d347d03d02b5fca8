"""``tracenode serve``: the gateway under uvicorn, with the participant mirror's sync and
webhook delivery (docs/monitor.md) in the same process, and the commit worker and the
integrity monitor in a process of their own (node.commit.process), which serve
supervises (the monitor runs here when there is no such process: an external chain
served with ``--no-commit``, or a chain this process owns).

On the embedded chain the commit process owns the chain (its write lock) and the gateway
only reads it (``Node(follow_chain=True)``: snapshots of the chain's file), handing its
registrar's transactions to the commit process. A node whose embedded chain is open in
this process (``Node`` without ``follow_chain``) commits in a thread of this process, as
every serve did before.

The commit worker runs only while its process holds the commit lock for the node key
(node.commit.leader): several serve processes may share one PostgreSQL store, one of
them commits, and another takes over when it dies.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

import uvicorn
from eth_account.signers.local import LocalAccount

from api.deps import CommitStatus
from api.headers_timeout import headers_timeout_protocol
from api.main import create_app
from api.problems import dependency_unavailable
from api.settings import ApiSettings
from node.commit.process import CommitProcess, CommitSettings, node_committing
from node.commit.worker import CommitPolicy
from node.context import Node
from node.exceptions import ConfigurationError
from node.monitor.service import WATCH_INTERVAL, Monitor
from node.runtime import settle_heap
from node.webhooks.delivery import Deliverer, DeliveryPolicy

log = logging.getLogger(__name__)


#: Where ``tracenode serve`` listens unless told otherwise (scripts/run.sh uses it too).
DEFAULT_PORT = 8000


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    commit: bool = True  # compete for the commit lock and run the worker when held
    policy: CommitPolicy = field(default_factory=CommitPolicy)
    sync_interval: float = 2.0  # seconds between participant-mirror syncs
    leader_poll: float = 1.0  # seconds between tries for the commit lock
    monitor_interval: float = 300.0  # seconds between integrity-monitor cycles (0: off)
    monitor_watch_interval: float = WATCH_INTERVAL  # seconds between looks at what is new
    log_level: str = "info"
    settings: ApiSettings | None = None


def serve(
    node: Node,
    password: str,
    options: ServeOptions,
    *,
    listening: Callable[[str], None] = lambda url: None,
) -> None:
    """Serve ``node`` until interrupted (SIGINT / SIGTERM); background threads stop with it.

    Everything that can fail at start-up fails before ``listening`` is called with the
    server's URL: the password opens both keys, the port is bound and listened on, and the
    commit process (when there is one) has started: it owns the chain, holds the commit
    lock when it can, and is restarted if it dies from then on.
    """
    status = CommitStatus(policy=options.policy, runs_worker=options.commit)
    child = _commit_process(node, password, options, status)
    sock = None
    try:
        sock = listen(options.host, options.port)  # a port taken fails before anything starts
        if child is not None:
            child.start()  # it starts while this process opens the keys
        registrar = node.admin(password)
        node_key = node.node_key(password)
        # The monitor runs in the commit process when there is one (its start-up checks
        # the product table there), else here.
        here = child is None and options.monitor_interval > 0
        monitor = Monitor.of(node) if here else None  # a bad product table fails here
        if monitor is not None:
            monitor.on_watch = lambda mark: setattr(status, "watched", mark)
        node.verifier.warm()  # signature recovery on every core from the first request
        if child is not None:
            child.wait_ready()  # its start-up errors are serve's (the chain held elsewhere)
        host, port = sock.getsockname()[:2]
        listening(f"http://{f'[{host}]' if ':' in host else host}:{port}")
        _serve(node, registrar, node_key if child is None else None, options, sock, monitor, status)
    finally:
        if sock is not None:
            sock.close()
        if child is not None:
            child.stop()
            followed = node.followed_chain
            if followed is not None:
                followed.send_raw = None


def _commit_process(
    node: Node, password: str, options: ServeOptions, status: CommitStatus
) -> CommitProcess | None:
    """Serve's commit process, unless it commits in process (or not at all, on an
    external chain: then nothing else needs the process)."""
    followed = node.followed_chain
    owns_chain = node.chain_path is not None and followed is None
    if owns_chain or (followed is None and not options.commit):
        return None
    child = CommitProcess(
        CommitSettings(
            data_dir=str(node.data_dir),
            chain_url=node.chain_url,
            database_url=node.database_url,
            commit=options.commit,
            policy=options.policy,
            leader_poll=options.leader_poll,
            log_level=options.log_level,
            monitor_interval=options.monitor_interval,
            monitor_watch_interval=options.monitor_watch_interval,
        ),
        password,
        on_leader=lambda held: setattr(status, "leader", held),
        on_watch=lambda mark: setattr(status, "watched", mark),
    )
    if followed is not None:
        followed.send_raw = child.send_raw  # the registrar's transactions
    return child


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (as uvicorn would make it), or a
    ``ConfigurationError`` that says why not (the port is taken, the address is not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            + (" (another server? choose one with --port)" if exc.errno == errno.EADDRINUSE else "")
        ) from None
    sock.set_inheritable(True)
    return sock


def _serve(
    node: Node,
    registrar: LocalAccount,
    node_key: LocalAccount | None,
    options: ServeOptions,
    sock: socket.socket,
    monitor: Monitor | None,
    status: CommitStatus,
) -> None:
    """Serve until stopped; with ``node_key``, commit in a thread of this process."""
    app = create_app(node, settings=options.settings, registrar=registrar, commit=status)
    rpc = app.state.gateway.rpc
    rpc.warm()  # the /rpc readers start in the background
    stop = threading.Event()
    threads = [_thread("participant-sync", _sync_loop(node, stop, options.sync_interval))]
    if options.commit and node_key is not None:
        commit = node_committing(
            node,
            node_key,
            policy=options.policy,
            stop=stop,
            poll=options.leader_poll,
            on_change=lambda held: setattr(status, "leader", held),
        )
        threads.append(_thread("commit-leader", commit))
    settings = options.settings or ApiSettings()
    deliverer = Deliverer(
        store=node.store,
        policy=DeliveryPolicy(allow_loopback=settings.webhooks_allow_loopback),
    )
    threads.append(_thread("webhook-delivery", lambda: deliverer.run(stop)))
    if monitor is not None:
        threads.append(
            _thread(
                "integrity-monitor",
                lambda: monitor.run(
                    stop,
                    interval=options.monitor_interval,
                    watch_interval=options.monitor_watch_interval,
                ),
            )
        )
    for thread in threads:
        thread.start()
    # Asynchronous capture jobs: those a stopped node left running are resumed now.
    app.state.gateway.capture_jobs.start(stop)
    settle_heap()  # the start-up heap is long-lived: keep the collector off it
    config = uvicorn.Config(
        app,
        host=options.host,
        port=sock.getsockname()[1],
        log_level=options.log_level,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=10,
        http=headers_timeout_protocol(settings.headers_timeout),
        # WebSocket subscriptions take no messages (api/routes/epcis_named.py): a small bound.
        ws_max_size=65536,
    )
    try:
        with _quiet_exit_signals():
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        stop.set()
        rpc.close()
        app.state.gateway.capture_jobs.close()
        for thread in threads:
            thread.join(timeout=30)


@contextmanager
def _quiet_exit_signals() -> Iterator[None]:
    """uvicorn handles SIGINT / SIGTERM, shuts down gracefully, and then raises the signal
    again for the previous handler: make that handler a no-op, so that the background
    threads are stopped and the node closed before the process exits (status 0)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    log.info("signal %s: shutting down", signum)


def _thread(name: str, target: Callable[[], None]) -> threading.Thread:
    return threading.Thread(target=target, name=name, daemon=True)


def _sync_loop(node: Node, stop: threading.Event, interval: float) -> Callable[[], None]:
    def run() -> None:
        while not stop.is_set():
            try:
                node.sync_participants()
            except Exception as exc:
                down = dependency_unavailable(exc)  # the store or chain away: one line
                log.warning("participant sync failed; retrying: %s", down, exc_info=down is None)
            stop.wait(interval)

    return run
