"""``tracenode serve``'s commit process: the commit worker (and the relay it runs) in an
interpreter of its own, beside the gateway's, supervised by it.

Why: in the gateway's process the worker's py-evm execution and the gateway's request
handling share one GIL, and the worker took a quarter and more of what the gateway
accepted (docs/benchmarks.md). Here each has a process, and the machine's cores.

**The child** (:func:`main`, ``python -m node.commit.process``) opens the node's store and
chain itself (``Node``), holds the commit lock for the node key (node.commit.leader) and,
on the embedded chain, the chain's write lock, and runs what serve's commit thread ran
(``committing``, the alert log's sealing on its idle turns), and serve's integrity monitor
(node.monitor.service), which in the gateway's process took two fifths of the HTTP
ingest rate (docs/benchmarks.md). It reads its settings (the
keystore password among them: never on a command line or in the environment) as the
first line of its stdin, then, on the embedded chain, the gateway's raw transactions (its
registrar's: participants, licences, nodes) as further lines, and sends them on the chain
it owns. When its stdin ends (serve stopped it, or died: SIGKILL included, the kernel
closes the pipe) or on SIGTERM, it stops the worker (at most :data:`STOP_S` seconds) and
exits: no orphan outlives serve. It ignores SIGINT (serve stops it).

**The supervisor** (:class:`CommitProcess`, in serve) starts it, waits for it to be ready
(its start-up errors are serve's), passes raw transactions to it (``send_raw``, the
gateway's ``FollowedChain`` hands them over), follows its leadership (/metrics), and
restarts it, after a backoff that doubles from :data:`BACKOFF_S` up to
:data:`MAX_BACKOFF_S`, when it dies; its death never takes the gateway down: events are
accepted meanwhile and committed once it is back. ``stop()``: its stdin closed and
SIGTERM, then SIGKILL after :data:`STOP_S` seconds.

Messages are JSON lines: to the child ``{"id": n, "raw": "0x..."}``; from it ``{"ready":
true}`` or ``{"failed": {"code", "message"}}`` at start-up, ``{"leader": bool}``,
``{"watched": {"through": n, "lag_s": x}}`` (how far its monitor has read:
node.monitor.service.WatchMark), and ``{"id": n, "hash": "0x..."}`` or ``{"id": n,
"error": {"code", "message"}}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any, Final

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from node.chain.embedded import serialize_requests
from node.commit.leader import committing
from node.commit.worker import CommitPolicy
from node.context import Node
from node.exceptions import ChainError, ChainUnavailableError, ConfigurationError, TraceNodeError
from node.monitor.alertlog import AlertLogSealer
from node.monitor.service import WATCH_INTERVAL, Monitor, WatchMark
from node.runtime import Precedence

log = logging.getLogger(__name__)

#: Seconds the child may take to start (import py-evm and web3, open the chain and the
#: store, decrypt the node key) before serve gives up on it.
START_S: Final = 120.0
#: Seconds a stopping child has to finish the transaction under way before it is killed.
STOP_S: Final = 15.0
#: The first restart's delay; each quick death doubles it, up to :data:`MAX_BACKOFF_S`.
BACKOFF_S: Final = 0.5
MAX_BACKOFF_S: Final = 30.0
#: A child that ran this long before dying is restarted after :data:`BACKOFF_S` again.
STEADY_S: Final = 60.0
#: Seconds a raw transaction may wait for the child's answer (it waits behind a window).
SEND_S: Final = 120.0


@dataclass(frozen=True)
class CommitSettings:
    """What the child runs with: serve's options for committing, and where the node is."""

    data_dir: str
    chain_url: str | None
    database_url: str | None
    commit: bool = True  # False: own the embedded chain (send transactions) only
    policy: CommitPolicy = field(default_factory=CommitPolicy)
    leader_poll: float = 1.0
    log_level: str = "info"
    #: The integrity monitor's cycle and watch intervals (node.monitor.service); a cycle
    #: interval of 0: no monitor in this process.
    monitor_interval: float = 0.0
    monitor_watch_interval: float = WATCH_INTERVAL

    def line(self, password: str) -> bytes:
        """The child's first line of stdin."""
        return json.dumps(asdict(self) | {"password": password}).encode() + b"\n"

    @classmethod
    def read(cls, line: bytes) -> tuple[CommitSettings, str]:
        data = json.loads(line)
        password = str(data.pop("password"))
        data["policy"] = CommitPolicy(**data["policy"])
        return cls(**data), password


# -- the child -------------------------------------------------------------------------


class _Out:
    """The child's stdout, for messages only (anything printed goes to stderr)."""

    def __init__(self) -> None:
        self._out = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        self._lock = threading.Lock()

    def say(self, message: dict[str, Any]) -> None:
        """Tell serve ``message``; nothing when serve is gone (this process is stopping)."""
        with self._lock, contextlib.suppress(BrokenPipeError, ValueError):
            self._out.write(json.dumps(message).encode() + b"\n")
            self._out.flush()


def node_committing(
    node: Node,
    node_key: LocalAccount,
    *,
    policy: CommitPolicy,
    stop: threading.Event,
    poll: float,
    on_change: Callable[[bool], None],
    precedence: Precedence | None = None,
) -> Callable[[], None]:
    """What serve's committer runs for ``node`` (this process's, or the gateway's own
    thread when it owns the chain): :func:`committing` with the node's chain client in its
    custody mode, sealing the alert log on idle turns. One definition for both, so the
    two cannot differ (they once did in the custody mode)."""
    return committing(
        store=node.store,
        client=node.commit_client(),
        node_key=node_key,
        policy=policy,
        stop=stop,
        poll=poll,
        on_change=on_change,
        idle=AlertLogSealer(
            store=node.store, w3=node.w3, deployment=node.deployment, node=node_key
        ).tick,
        precedence=precedence,
    )


def main() -> None:
    """The child: ``python -m node.commit.process`` (its settings on stdin)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # serve stops us, not Ctrl-C
    out = _Out()
    settings, password = CommitSettings.read(sys.stdin.buffer.readline())
    level = logging.getLevelName(settings.log_level.upper())  # uvicorn's "trace": INFO
    logging.basicConfig(
        level=level if isinstance(level, int) else logging.INFO,
        format="%(levelname)s:     commit process: %(message)s",
        stream=sys.stderr,
    )
    stop = threading.Event()
    try:
        node = Node(
            Path(settings.data_dir),
            chain_url=settings.chain_url,
            database_url=settings.database_url,
            workers=1,
        )
    except Exception as exc:
        out.say({"failed": _error(exc)})
        sys.exit(1)
    try:
        _run(node, settings, password, out, stop)
    finally:
        node.close()


def _run(
    node: Node, settings: CommitSettings, password: str, out: _Out, stop: threading.Event
) -> None:
    try:
        node_key = node.node_key(password)
        # A bad product table fails here, at start-up: serve's start-up error.
        monitor = Monitor.of(node) if settings.monitor_interval > 0 else None
    except Exception as exc:
        out.say({"failed": _error(exc)})
        sys.exit(1)
    serialize_requests(node.w3)  # the worker and the gateway's transactions share it
    # Until here SIGTERM ends the process at once (nothing is under way); from here it
    # lets the worker finish the transaction under way.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    threads = []
    # The monitor's passes wait for the worker's windows (node.runtime.Precedence): they
    # share this process's GIL, and a window is what the gateway's writers and the
    # events' proofs wait for.
    precedence = Precedence()
    if monitor is not None:
        monitor.precedence = precedence
        monitor.on_watch = _Marks(out).say
    if settings.commit:
        run = node_committing(
            node,
            node_key,
            policy=settings.policy,
            stop=stop,
            poll=settings.leader_poll,
            on_change=lambda held: out.say({"leader": held}),
            precedence=precedence,
        )
        threads.append(threading.Thread(target=run, name="commit-leader", daemon=True))
    if monitor is not None:
        watched = partial(
            monitor.run,
            stop,
            interval=settings.monitor_interval,
            watch_interval=settings.monitor_watch_interval,
        )
        threads.append(threading.Thread(target=watched, name="integrity-monitor", daemon=True))
    for thread in threads:
        thread.start()
    reader = threading.Thread(
        target=_requests, args=(node, out, stop), name="commit-requests", daemon=True
    )
    reader.start()
    out.say({"ready": True})
    stop.wait()
    log.info("stopping")
    deadline = time.monotonic() + STOP_S
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("%s did not stop within %s s; exiting anyway", thread.name, STOP_S)
            os._exit(0)  # a window interrupted is resumed by the next leader (worker.py)


class _Marks:
    """Tells serve how far the monitor has read (its ``/metrics``), when that changed."""

    def __init__(self, out: _Out) -> None:
        self._out = out
        self._last: WatchMark | None = None

    def say(self, mark: WatchMark) -> None:
        if mark != self._last:
            self._last = mark
            self._out.say({"watched": {"through": mark.through, "lag_s": mark.lag}})


def _requests(node: Node, out: _Out, stop: threading.Event) -> None:
    """Raw transactions from the gateway, each sent in a thread of its own (it may wait
    behind a window), until stdin ends: then the process stops."""
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            ident, raw = int(request["id"]), HexBytes(str(request["raw"]))
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed request on stdin was ignored")
            continue
        threading.Thread(
            target=_send, args=(node, out, ident, raw), name="commit-send", daemon=True
        ).start()
    stop.set()


def _send(node: Node, out: _Out, ident: int, raw: bytes) -> None:
    try:
        tx_hash = node.w3.eth.send_raw_transaction(raw)
    except Exception as exc:
        out.say({"id": ident, "error": _error(exc)})
    else:
        out.say({"id": ident, "hash": "0x" + bytes(tx_hash).hex()})


def _mark(data: Any) -> WatchMark | None:
    """The monitor's mark from the child's message (None when malformed)."""
    try:
        through, lag = int(data["through"]), float(data["lag_s"])
    except (KeyError, TypeError, ValueError):
        return None
    return WatchMark(through, lag) if through >= 0 and lag >= 0 else None


def _error(exc: BaseException) -> dict[str, str]:
    code = exc.code if isinstance(exc, TraceNodeError) else type(exc).__name__
    return {"code": code, "message": str(exc)[:500]}


# -- the supervisor --------------------------------------------------------------------


class CommitProcess:
    """Serve's commit process: started by :meth:`start`, restarted when it dies, stopped
    by :meth:`stop`. ``on_watch`` is told how far its monitor has read (None when it
    died). ``on_leader`` is told when the child takes or loses the commit lock
    (and False when it dies)."""

    def __init__(
        self,
        settings: CommitSettings,
        password: str,
        *,
        on_leader: Callable[[bool], None] = lambda held: None,
        on_watch: Callable[[WatchMark | None], None] = lambda mark: None,
        start_timeout: float = START_S,
    ) -> None:
        self.settings = settings
        self._password = password
        self._on_leader = on_leader
        self._on_watch = on_watch
        self._start_timeout = start_timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, Future[str]] = {}
        self._next_id = 0
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._ready: Future[str | None] = Future()
        #: How many times the child was started (restarts included).
        self.starts = 0

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None or process.poll() is not None else process.pid

    def start(self) -> None:
        """Start the child (:meth:`wait_ready` waits for it)."""
        self._ready = self._spawn()

    def wait_ready(self) -> None:
        """Wait until the child is ready; its start-up failure is raised
        (``ConfigurationError``: the chain held by another process, a bad store ...)."""
        why = self._ready.result()
        if why is not None:
            raise ConfigurationError(f"the commit process could not start: {why}")
        self._supervisor = threading.Thread(
            target=self._supervise, name="commit-process", daemon=True
        )
        self._supervisor.start()

    def send_raw(self, raw: str) -> str:
        """Send a raw transaction (0x hex) on the chain the child owns; its hash."""
        future: Future[str] = Future()
        with self._lock:
            process = self._process
            if process is None or process.poll() is not None or process.stdin is None:
                raise ChainUnavailableError("the commit process, which owns the chain, is down")
            self._next_id += 1
            ident = self._next_id
            self._pending[ident] = future
            try:
                process.stdin.write(json.dumps({"id": ident, "raw": raw}).encode() + b"\n")
                process.stdin.flush()
            except (OSError, ValueError):  # its stdin closed: it is stopping or gone
                self._pending.pop(ident, None)
                raise ChainUnavailableError(
                    "the commit process, which owns the chain, is down"
                ) from None
        try:
            return future.result(timeout=SEND_S)
        except FutureTimeout:
            raise ChainUnavailableError(
                f"the commit process did not send the transaction within {SEND_S:g} s"
            ) from None
        finally:
            with self._lock:
                self._pending.pop(ident, None)

    def stop(self) -> None:
        """Stop the child: stdin closed and SIGTERM, SIGKILL after :data:`STOP_S` s."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None:
            _end(process)
        if self._supervisor is not None:
            self._supervisor.join(timeout=STOP_S + 5)

    # -- inside --

    def _spawn(self) -> Future[str | None]:
        """Start a child; the future says None once it is ready, or why it is not."""
        process = subprocess.Popen(
            [sys.executable, "-m", "node.commit.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=os.getcwd(),
        )
        assert process.stdin is not None
        self.starts += 1
        ready: Future[str | None] = Future()
        try:
            process.stdin.write(self.settings.line(self._password))
            process.stdin.flush()
        except OSError:
            pass  # it died at once: its reader says so
        with self._lock:
            self._process = process
        threading.Thread(
            target=self._read, args=(process, ready), name="commit-process-out", daemon=True
        ).start()
        timer = threading.Timer(self._start_timeout, self._late, args=(process, ready))
        timer.daemon = True
        timer.start()
        ready.add_done_callback(lambda _: timer.cancel())
        return ready

    def _late(self, process: subprocess.Popen[bytes], ready: Future[str | None]) -> None:
        if _settle(ready, f"not ready within {self._start_timeout:g} s"):
            _end(process)

    def _read(self, process: subprocess.Popen[bytes], ready: Future[str | None]) -> None:
        stdout: IO[bytes] | None = process.stdout
        assert stdout is not None
        for line in stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "ready" in message:
                _settle(ready, None)
            elif "failed" in message:
                failed = message["failed"]
                _settle(ready, f"[{failed.get('code')}] {failed.get('message')}")
            elif "leader" in message:
                self._on_leader(bool(message["leader"]))
            elif "watched" in message:
                mark = _mark(message["watched"])
                if mark is not None:
                    self._on_watch(mark)
            elif "id" in message:
                with self._lock:
                    future = self._pending.get(message["id"])
                if future is None or future.done():
                    continue
                if "hash" in message:
                    future.set_result(str(message["hash"]))
                else:
                    error = message.get("error", {})
                    future.set_exception(
                        ChainError(f"[{error.get('code')}] {error.get('message')}")
                    )
        stdout.close()  # the child is gone: its pipe is not kept open (one per restart)
        process.wait()
        _settle(ready, f"it exited with status {process.returncode}")
        self._on_leader(False)
        self._on_watch(None)  # its monitor is gone with it
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(
                    ChainUnavailableError("the commit process ended before it answered")
                )

    def _supervise(self) -> None:
        backoff = BACKOFF_S
        while not self._stopping.is_set():
            with self._lock:
                process = self._process
            began = time.monotonic()
            assert process is not None
            process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - began >= STEADY_S:
                backoff = BACKOFF_S
            log.error(
                "the commit process (pid %s) ended with status %s; restarting it in %g s",
                process.pid,
                process.returncode,
                backoff,
            )
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            try:
                why = self._spawn().result()
            except OSError as exc:  # no process could be made (limits): try again later
                why = f"{type(exc).__name__}: {exc}"
            if why is not None:
                log.error("the commit process could not start again: %s", why)


def _settle(ready: Future[str | None], outcome: str | None) -> bool:
    """Give ``ready`` its outcome unless it has one (True if this one is it)."""
    try:
        ready.set_result(outcome)
    except InvalidStateError:
        return False
    return True


def _end(process: subprocess.Popen[bytes]) -> None:
    """Ask ``process`` to stop (stdin closed, SIGTERM); SIGKILL after :data:`STOP_S`."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        log.warning("the commit process (pid %s) did not stop; killing it", process.pid)
        process.kill()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
