"""Bounded looks at the store and the chain, for ``/readyz`` and ``/metrics``.

A probe must answer even when what it probes does not: an external chain whose node
stopped or blackholes connections, a database that no longer answers. Each look runs on
a thread of its own and is waited for at most a deadline (:data:`PROBE_TIMEOUT`, 1 s,
for readiness and the chain; :data:`METRICS_STORE_TIMEOUT` for the metrics' store
queries, which count rows). Looks are single-flight: a request arriving while a look is
still out waits for that one, so a hung dependency holds one thread, never one per
request. The chain's look on an external node is also bounded at its source: a JSON-RPC
request of its own with a 1 s socket timeout and no retries.

On the embedded chain, the node's requests share one lock with the commit worker
(node.chain.embedded.serialize_requests), which holds it while py-evm executes a window
(serve's gateway reads a snapshot instead: no lock shared). A look that waits for the
lock past the deadline reports the chain as up with the last head seen: it is part of
this process and cannot be unreachable, only busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from node.chain.embedded import is_embedded
from node.context import Node
from node.exceptions import ChainError
from node.store.availability import summary

#: Seconds /readyz and /metrics wait for the chain, and /readyz for the store.
PROBE_TIMEOUT: Final = 1.0
#: Seconds /metrics waits for its store queries (they count rows of large tables).
METRICS_STORE_TIMEOUT: Final = 5.0

T = TypeVar("T")


class BoundedCall(Generic[T]):
    """``call`` run on a daemon thread, one run at a time, waited for with a deadline."""

    def __init__(self, name: str, call: Callable[[], T]) -> None:
        self.name = name
        self.call = call
        self._lock = threading.Lock()
        self._inflight: Future[T] | None = None

    def start(self) -> Future[T]:
        """The run in flight, or a new one when none is."""
        with self._lock:
            if self._inflight is None or self._inflight.done():
                future: Future[T] = Future()
                future.set_running_or_notify_cancel()
                self._inflight = future
                threading.Thread(
                    target=self._run, args=(future,), name=self.name, daemon=True
                ).start()
            return self._inflight

    def _run(self, future: Future[T]) -> None:
        try:
            future.set_result(self.call())
        except BaseException as exc:  # handed to the waiter, never lost on this thread
            future.set_exception(exc)

    def __call__(self, timeout: float) -> T:
        """The result of a run, waiting at most ``timeout`` seconds; the run's exception,
        or :class:`concurrent.futures.TimeoutError` when it has not finished by then."""
        return self.start().result(timeout=max(0.0, timeout))


@dataclass(frozen=True, slots=True)
class Look:
    """What a probe saw: ``up``, and why not (``detail``); the chain's ``head``."""

    up: bool
    detail: str = ""
    head: int | None = None


class Health:
    """The bounded looks at a node's store and chain."""

    def __init__(self, node: Node, timeout: float = PROBE_TIMEOUT) -> None:
        self.timeout = timeout
        self.embedded = is_embedded(node.w3)
        self._head = BoundedCall("chain-probe", _head_reader(node.w3, timeout))
        self._ping = BoundedCall("store-probe", node.store.ping)
        self._last_head: int | None = None

    def look(self) -> tuple[Look, Look]:
        """The store and the chain, looked at together: at most ``timeout`` in all."""
        deadline = time.monotonic() + self.timeout
        self._ping.start()
        self._head.start()
        return self.store(deadline), self.chain(deadline)

    def store(self, deadline: float | None = None) -> Look:
        """Whether the store answers a round trip (by ``deadline``, a monotonic time)."""
        try:
            self._ping(self._left(deadline))
        except FutureTimeout:
            return Look(False, f"store: no answer within {self.timeout:g} s")
        except Exception as exc:
            return Look(False, f"store: {type(exc).__name__}: {summary(exc, 120)}")
        return Look(True)

    def chain(self, deadline: float | None = None) -> Look:
        """The chain's head block (by ``deadline``, a monotonic time)."""
        try:
            head = self._head(self._left(deadline))
        except FutureTimeout:
            if self.embedded:
                return Look(True, "chain: busy", self._last_head)
            return Look(False, f"chain: no answer within {self.timeout:g} s")
        except Exception as exc:
            return Look(False, f"chain: {type(exc).__name__}: {summary(exc, 120)}")
        self._last_head = head
        return Look(True, head=head)

    def _left(self, deadline: float | None) -> float:
        if deadline is None:
            return self.timeout
        return deadline - time.monotonic()


def _head_reader(w3: Web3, timeout: float) -> Callable[[], int]:
    """A function reading the chain's head block; on an HTTP node, through a JSON-RPC
    request of its own that gives up after ``timeout`` seconds per socket operation and
    is never retried (the node's own provider waits 30 s and retries)."""
    provider = w3.provider
    if not isinstance(provider, HTTPProvider) or provider.endpoint_uri is None:
        return lambda: int(w3.eth.block_number)
    probe = HTTPProvider(
        provider.endpoint_uri,
        request_kwargs={"timeout": timeout},
        exception_retry_configuration=None,
    )

    def head() -> int:
        answer = probe.make_request(RPCEndpoint("eth_blockNumber"), [])
        result = answer.get("result")
        if not isinstance(result, str):
            raise ChainError(f"eth_blockNumber answered {answer.get('error')!r}")
        return int(result, 16)

    return head
