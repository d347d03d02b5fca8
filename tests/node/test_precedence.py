"""node.runtime.Precedence: deferring work waits while work that goes first runs, and
never longer than its bound."""

from __future__ import annotations

import threading
import time

from node.runtime import Precedence


def test_nothing_running_first_defers_nothing() -> None:
    precedence = Precedence()
    began = time.monotonic()
    assert precedence.defer(5.0) is True
    assert time.monotonic() - began < 0.5


def test_a_deferring_step_waits_until_the_work_that_goes_first_is_done() -> None:
    precedence = Precedence()
    entered, release = threading.Event(), threading.Event()

    def window() -> None:
        with precedence.first():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=window, daemon=True)
    thread.start()
    assert entered.wait(5)
    waited: list[bool] = []
    step = threading.Thread(target=lambda: waited.append(precedence.defer(10.0)), daemon=True)
    step.start()
    step.join(0.3)
    assert step.is_alive()  # still waiting: the window runs
    release.set()
    step.join(5)
    thread.join(5)
    assert waited == [True]


def _from_another_thread(precedence: Precedence, bound: float) -> tuple[bool, float]:
    found: list[tuple[bool, float]] = []

    def step() -> None:
        began = time.monotonic()
        done = precedence.defer(bound)
        found.append((done, time.monotonic() - began))

    thread = threading.Thread(target=step, daemon=True)
    thread.start()
    thread.join(bound + 5)
    return found[0]


def test_a_deferring_step_waits_no_longer_than_its_bound() -> None:
    precedence = Precedence()
    with precedence.first():
        done, waited = _from_another_thread(precedence, 0.2)
        assert done is False
        assert 0.15 <= waited < 2.0
    assert _from_another_thread(precedence, 0.0)[0] is True  # done: clear again


def test_overlapping_work_keeps_it_busy_until_the_last_is_done() -> None:
    precedence = Precedence()
    with precedence.first():
        with precedence.first():
            assert _from_another_thread(precedence, 0.0)[0] is False
        assert _from_another_thread(precedence, 0.0)[0] is False  # one still runs
    assert _from_another_thread(precedence, 0.0)[0] is True
