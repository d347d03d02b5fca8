"""An exclusive ``flock`` on a file: the one way the node's processes keep each other out.

The lock lives as long as the open descriptor: :meth:`FileLock.release` closes it, and the
kernel releases it when the process dies (SIGKILL included), so a crashed holder never
leaves it taken. The holder writes its process id into the file, for whoever finds it
locked. The commit leadership (node.commit.leader), the SQLite migrations
(node.store.engine) and the embedded chain's data directory (node.chain.embedded) use it;
it imports nothing of the node, so every layer may.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing), taken at most once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free (True), without waiting; True if already held."""
        return self._take(wait=False)

    def acquire(self) -> None:
        """Take the lock, waiting for its holder to release it."""
        self._take(wait=True)

    def holder(self) -> str:
        """The process id its holder wrote, or "unknown"."""
        try:
            return self.path.read_bytes()[:64].decode(errors="replace").strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # releases the flock

    def _take(self, *, wait: bool) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
