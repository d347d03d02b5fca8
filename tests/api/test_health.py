"""The bounded looks behind /readyz and /metrics (api/health.py): a look is waited for at
most its deadline, one runs at a time however many requests ask, and the embedded chain
busy with a long call is reported up, not down."""

from __future__ import annotations

import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from eth_typing import HexStr

from api.health import BoundedCall
from tests.api.conftest import Rig

#: A generous bound for what the code bounds at 1 s.
BOUND = 2.0
#: Creation code looping until it runs out of gas (JUMPDEST PUSH1 0 JUMP): a call that
#: keeps py-evm, and the embedded chain's lock, busy for seconds.
LOOP = HexStr("0x5b600056")


def test_a_bounded_call_gives_up_at_its_deadline_and_runs_once_at_a_time() -> None:
    gate = threading.Event()
    runs: list[int] = []

    def slow() -> int:
        runs.append(1)
        if not gate.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        return 7

    call = BoundedCall("test-probe", slow)
    began = time.monotonic()
    with pytest.raises(FutureTimeout):
        call(0.2)
    with pytest.raises(FutureTimeout):
        call(0.2)  # the first run is still out: waited for, not started again
    waited = time.monotonic() - began
    gate.set()
    result = call(5)

    assert waited < BOUND
    assert result == 7
    assert len(runs) == 1


def test_a_bounded_call_hands_over_the_runs_exception() -> None:
    def failing() -> int:
        raise ConnectionRefusedError("nobody home")

    call = BoundedCall("test-probe", failing)

    with pytest.raises(ConnectionRefusedError):
        call(5)
    with pytest.raises(ConnectionRefusedError):
        call(5)  # a finished run is not reused: each request looks again


def test_readyz_and_metrics_answer_while_the_embedded_chain_is_busy(rig: Rig) -> None:
    assert rig.client.get("/readyz").status_code == 200
    funded = rig.node.w3.eth.accounts[0]

    ended: list[BaseException] = []
    stop = threading.Event()

    def busy() -> None:
        # call after call until the probes are done: one call's length depends on the
        # interpreter (node/chain/interpreter.py runs it in ~2 s, py-evm's own loop ~4 s)
        while not stop.is_set():
            try:
                rig.node.w3.eth.call({"from": funded, "data": LOOP, "gas": 25_000_000})
            except Exception as exc:  # it runs out of gas, as it is meant to
                ended.append(exc)

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    time.sleep(0.5)
    assert worker.is_alive()
    began = time.monotonic()
    ready = rig.client.get("/readyz")
    ready_took = time.monotonic() - began
    began = time.monotonic()
    metrics = rig.client.get("/metrics")
    metrics_took = time.monotonic() - began
    still_busy = worker.is_alive()
    stop.set()
    worker.join(timeout=60)

    assert still_busy, "the calls ended before the probes: nothing was shown"
    assert not worker.is_alive()
    assert ended
    assert all("Out of gas" in str(e) for e in ended)
    assert ready.status_code == 200, ready.text
    assert ready.json()["chain"] is True
    assert ready_took < BOUND
    assert metrics.status_code == 200
    assert "tracenode_chain_up 1.0" in metrics.text.splitlines()
    assert metrics_took < BOUND
