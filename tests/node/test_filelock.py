"""The file lock the leader, the migrations and the embedded chain share: one holder at a
time, a waiter let in on release, and a holder that dies releases it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from node.filelock import FileLock

# A process that takes the lock, says so, and holds it until it is killed.
HOLDER = """
import sys, time
from pathlib import Path
from node.filelock import FileLock

assert FileLock(Path(sys.argv[1])).try_acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_one_holder_at_a_time_and_it_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    first, second = FileLock(path), FileLock(path)

    assert first.try_acquire()
    assert first.try_acquire()  # already held: still True, still one descriptor
    assert first.held
    assert not second.try_acquire()
    assert not second.held
    assert second.holder() == str(os.getpid())
    first.release()
    first.release()  # harmless twice
    assert not first.held
    assert second.try_acquire()
    second.release()


def test_a_waiter_gets_the_lock_when_its_holder_releases_it(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = FileLock(path)
    assert holder.try_acquire()
    entered = threading.Event()
    leave = threading.Event()

    def wait_for_it() -> None:
        with FileLock(path):
            entered.set()
            leave.wait(10)

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    try:
        assert not entered.wait(0.3)  # the holder keeps it out
        holder.release()
        assert entered.wait(10)
        assert not FileLock(path).try_acquire()  # now the waiter holds it
    finally:
        holder.release()
        leave.set()
        waiter.join(10)
    assert not waiter.is_alive()
    assert FileLock(path).try_acquire()  # released when the block ended


def test_a_holder_killed_with_sigkill_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "held\n"
        lock = FileLock(path)
        assert not lock.try_acquire()
        assert lock.holder() == str(child.pid)

        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL

        assert lock.try_acquire()
        assert lock.holder() == str(os.getpid())
        lock.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()
