"""Where ``/rpc`` calls run, so that no call, however costly, can stall anchoring.

On the embedded chain the calls run in **reader processes** (:class:`ReaderPool`), never on
the chain the commit worker writes: each reader opens the chain's file read-only
(``node.chain.embedded.ChainSnapshot``) and answers a request's calls on the last block
committed when the request arrived, with its own py-evm. So a call never takes the
chain's lock (node.chain.embedded.serialize_requests), never holds the GIL of the
gateway's process, and runs at a lower CPU priority (``nice`` +10) than the gateway and
its commit worker.

On an external chain the calls are forwarded to its node (:class:`Forwarder`) over a
connection of their own, whose every request times out.

What bounds a request (``ApiSettings``; docs/api.md lists them):

- every eth_call gets at most ``rpc_call_gas`` gas (node/chain/jsonrpc.py);
- a request — one call or a whole batch — has ``rpc_timeout`` seconds. In a reader a
  timer interrupts py-evm at that deadline (a thread could not be interrupted; a process
  can), and the calls not answered by then are answered with error -32005. A reader that
  does not answer ``GRACE`` seconds after the deadline is killed and replaced;
- at most ``rpc_readers`` requests run at once; ``rpc_queue`` more may wait for a reader,
  each at most ``rpc_queue_wait`` seconds; beyond, error -32005 ("busy, retry");
- per client (API key, or address without one): ``rpc_client_concurrency`` requests at
  once, and ``rpc_rate_per_second`` calls per second (a batch counts its calls), else 429
  ``rate-limited`` with ``Retry-After`` (api/routes/rpc.py).
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import anyio
from web3 import Web3

from api.settings import ApiSettings
from node.chain.jsonrpc import LIMIT_EXCEEDED, RpcLimits, answer, error, raw_requests
from node.exceptions import ChainUnavailableError, RateLimitedError

log = logging.getLogger(__name__)

#: Seconds a reader may overrun a request's deadline before it is killed and replaced.
GRACE: Final = 1.0
#: Seconds a new reader may take to start (import py-evm, open the chain).
START_TIMEOUT: Final = 60.0


@dataclass(frozen=True, slots=True)
class RpcBounds:
    """What ``/rpc`` allows (from ``ApiSettings``)."""

    limits: RpcLimits
    timeout: float = 5.0
    readers: int = 2
    queue: int = 8
    queue_wait: float = 2.0
    client_concurrency: int = 2


class Executor(Protocol):
    def run(self, calls: list[Any], timeout: float) -> list[dict[str, Any]]:
        """The answers to ``calls``, in order, within ``timeout`` (+ ``GRACE``) seconds."""

    def warm(self) -> None:
        """Get ready to answer (start what starting takes) without being asked."""

    def close(self) -> None: ...


def timed_out(call: Any, timeout: float) -> dict[str, Any]:
    """The answer to a call that its request's deadline cut off (or never let start)."""
    return error(
        call_id(call),
        LIMIT_EXCEEDED,
        f"the request ran past its {timeout:g} s limit (TRACENODE_API_RPC_TIMEOUT); this "
        "call was cut off",
    )


def call_id(call: Any) -> Any:
    """A call's id if it has a valid one, else None (as JSON-RPC answers it)."""
    if not isinstance(call, dict):
        return None
    value = call.get("id")
    valid = value is None or (isinstance(value, str | int) and not isinstance(value, bool))
    return value if valid else None


class RpcExecutor:
    """The front of ``/rpc``: the concurrency bounds, then the calls run by ``executor``
    on a worker thread (which only waits: the work is in a reader or behind the socket)."""

    def __init__(self, executor: Executor, bounds: RpcBounds) -> None:
        self.executor = executor
        self.bounds = bounds
        self._slots = anyio.Semaphore(bounds.readers)
        self._waiting = 0
        self._clients: Counter[str] = Counter()

    @asynccontextmanager
    async def client_slot(self, client: str) -> AsyncIterator[None]:
        """One of ``client``'s concurrent requests; 429 when it has too many running."""
        if self._clients[client] >= self.bounds.client_concurrency:
            raise RateLimitedError(
                f"at most {self.bounds.client_concurrency} /rpc requests at once per client",
                retry_after=1.0,
            )
        self._clients[client] += 1
        try:
            yield
        finally:
            self._clients[client] -= 1
            if not self._clients[client]:
                del self._clients[client]

    async def answer(self, calls: list[Any]) -> list[dict[str, Any]]:
        """The answers to ``calls``; every call answered -32005 when the node is too busy."""
        bounds = self.bounds
        acquired = False
        try:
            self._slots.acquire_nowait()
            acquired = True
        except anyio.WouldBlock:
            if self._waiting >= bounds.queue:
                return [busy(call, bounds) for call in calls]
            self._waiting += 1
            try:
                with anyio.move_on_after(bounds.queue_wait):
                    await self._slots.acquire()
                    acquired = True  # no await in between: a late cancel cannot interleave
            finally:
                self._waiting -= 1
        if not acquired:
            return [busy(call, bounds) for call in calls]
        try:
            return await anyio.to_thread.run_sync(self.executor.run, calls, bounds.timeout)
        finally:
            self._slots.release()

    def warm(self) -> None:
        self.executor.warm()

    def close(self) -> None:
        self.executor.close()


def busy(call: Any, bounds: RpcBounds) -> dict[str, Any]:
    return error(
        call_id(call),
        LIMIT_EXCEEDED,
        f"the node is busy with other /rpc calls ({bounds.readers} at once); retry in a second",
    )


class Forwarder:
    """An external chain's node, asked over a connection of its own whose every request
    times out after ``timeout`` seconds (a request past its deadline stops asking)."""

    def __init__(self, endpoint: str, limits: RpcLimits, timeout: float) -> None:
        provider = Web3.HTTPProvider(
            endpoint, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
        self.w3 = Web3(provider)
        self.send = raw_requests(self.w3)
        self.limits = limits

    def run(self, calls: list[Any], timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        answers = []
        for call in calls:
            if time.monotonic() >= deadline:
                answers.append(timed_out(call, timeout))
            else:
                answers.append(answer(self.w3, self.send, call, self.limits))
        return answers

    def warm(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Reader:
    """A reader process, spoken to in JSON lines over its stdin and stdout."""

    def __init__(self, chain_path: Path, limits: RpcLimits) -> None:
        command = [
            sys.executable,
            "-c",
            "import sys; from node.chain.rpc_reader import main; main(sys.argv[1:])",
            str(chain_path),
            str(limits.call_gas),
            str(limits.max_log_range),
        ]
        # Our own interpreter and module, with our own arguments; stderr is the gateway's.
        self.process = subprocess.Popen(  # noqa: S603
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
        )
        self._buffer = b""

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def receive(self, timeout: float) -> Any:
        """The next message, or None if none came within ``timeout`` seconds (or the
        process ended)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def stop(self) -> None:
        with suppress(OSError):
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with suppress(OSError):
                    stream.close()


def _stop_all(readers: list[_Reader]) -> None:
    while readers:
        readers.pop().stop()


class ReaderPool:
    """Reader processes over the embedded chain stored at ``chain_path``, one request at a
    time each. They are started in the background, as needed: a request waits for one at
    most its own deadline."""

    def __init__(self, chain_path: Path, limits: RpcLimits, size: int) -> None:
        self.chain_path = chain_path
        self.limits = limits
        self.size = size
        self._idle: list[_Reader] = []
        self._live = 0  # readers idle, busy or starting
        self._filling = False
        self._failure: str | None = None  # why the last reader could not start
        self._ready = threading.Condition()
        self._closed = False
        self.killed = 0  # readers killed for overrunning their deadline
        # A pool dropped without close() (an app a test made) still stops its readers.
        self._finalizer = weakref.finalize(self, _stop_all, self._idle)

    def run(self, calls: list[Any], timeout: float) -> list[dict[str, Any]]:
        reader = self._take(timeout)
        if reader is None:
            if self._failure is not None:
                raise ChainUnavailableError(
                    f"the chain reader failed: {self._failure}", retry_after=1
                )
            return [timed_out(call, timeout) for call in calls]
        try:
            reader.send({"calls": calls, "timeout": timeout})
            outcome = reader.receive(timeout + GRACE)
        except OSError:
            outcome = None
        if outcome is None:
            self.killed += 1
            log.warning("an /rpc reader overran its %g s deadline; replacing it", timeout)
            self._drop(reader)
            return [timed_out(call, timeout) for call in calls]
        self._give(reader)
        if "failed" in outcome:
            raise ChainUnavailableError(
                f"the chain reader failed: {outcome['failed']}", retry_after=1
            )
        answers: list[dict[str, Any]] = outcome["answers"]
        return answers + [timed_out(call, timeout) for call in calls[len(answers) :]]

    def warm(self) -> None:
        """Start the readers in the background (serve calls it as it starts)."""
        with self._ready:
            self._fill_locked()

    def wait_ready(self, timeout: float) -> bool:
        """Whether all the readers have started, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._ready:
            self._fill_locked()
            while len(self._idle) < self.size and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._ready.wait(remaining)
            return not self._closed

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._finalizer()

    def _take(self, timeout: float) -> _Reader | None:
        """An idle reader, waiting at most ``timeout`` seconds for one to be free or start."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while not self._closed:
                while self._idle:
                    reader = self._idle.pop()
                    if reader.alive:
                        return reader
                    self._live -= 1
                    reader.stop()
                self._fill_locked()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._ready.wait(remaining)
        return None

    def _give(self, reader: _Reader) -> None:
        with self._ready:
            if not self._closed:
                self._idle.append(reader)
                self._ready.notify_all()
                return
        reader.stop()

    def _drop(self, reader: _Reader) -> None:
        reader.stop()
        with self._ready:
            self._live -= 1
            self._fill_locked()

    def _fill_locked(self) -> None:
        if not self._filling and not self._closed and self._live < self.size:
            self._filling = True
            threading.Thread(target=self._fill, name="rpc-readers", daemon=True).start()

    def _fill(self) -> None:
        while True:
            with self._ready:
                if self._closed or self._live >= self.size:
                    self._filling = False
                    return
                self._live += 1
            try:
                reader = self._start()
            except ChainUnavailableError as exc:
                with self._ready:
                    self._live -= 1
                    self._failure = str(exc)
                    self._filling = False
                    self._ready.notify_all()
                log.warning("%s", exc)
                return
            self._failure = None
            self._give(reader)

    def _start(self) -> _Reader:
        reader = _Reader(self.chain_path, self.limits)
        ready = reader.receive(START_TIMEOUT)
        if ready != {"ready": True}:
            reader.stop()
            why = "did not start in time" if ready is None else ready.get("failed")
            raise ChainUnavailableError(f"the chain reader failed: {why}", retry_after=1)
        return reader


def executor_for(w3: Web3, chain_path: Path | None, bounds: RpcBounds) -> RpcExecutor:
    """Readers over the embedded chain at ``chain_path``, or a forwarder to ``w3``'s node."""
    if chain_path is not None:
        return RpcExecutor(ReaderPool(chain_path, bounds.limits, bounds.readers), bounds)
    endpoint = str(getattr(w3.provider, "endpoint_uri", ""))
    return RpcExecutor(Forwarder(endpoint, bounds.limits, bounds.timeout), bounds)


def rpc_bounds(settings: ApiSettings) -> RpcBounds:
    return RpcBounds(
        limits=RpcLimits(call_gas=settings.rpc_call_gas, max_log_range=settings.max_log_range),
        timeout=settings.rpc_timeout,
        readers=settings.rpc_readers,
        queue=settings.rpc_queue,
        queue_wait=settings.rpc_queue_wait,
        client_concurrency=settings.rpc_client_concurrency,
    )
