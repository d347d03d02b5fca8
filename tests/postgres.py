"""A throwaway PostgreSQL server of a test's own: its own data directory (initdb under
/tmp) and a free loopback port, so that a test may stop it and start it again without
touching the shared server other tests use (TRACENODE_TEST_POSTGRES_URL).

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` system
user (Debian's packages create it), as anyone else as that user.
"""

from __future__ import annotations

import getpass
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.environment import unavailable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresUnavailableError(Exception):
    """No PostgreSQL server binaries here."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresUnavailableError("no initdb (install PostgreSQL: scripts/services.sh)")
    return Path(initdb).parent


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


class ThrowawayPostgres:
    """``initdb`` in a fresh directory; :meth:`start`, :meth:`stop` (fast shutdown: every
    session is ended) and :meth:`start` again on the same port and data."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="tracenode-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = getpass.getuser()
        self.url = f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"
        self.process: subprocess.Popen[bytes] | None = None
        self._runas: str | None = None
        if os.geteuid() == 0:
            self._runas = "postgres"
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.root.chmod(0o700)
        subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            user=self._runas,
            timeout=120,
        )

    def start(self, timeout: float = 60) -> None:
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.root}",
                "-c",
                "fsync=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._runas,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                dsn = f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
                psycopg.connect(dsn, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start: {self.log()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are ended, the port closes."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def started_postgres() -> Iterator[ThrowawayPostgres]:
    """A started throwaway server for a fixture to yield, closed after it; one that cannot
    be made is :func:`tests.environment.unavailable` (skipped locally, failed in CI)."""
    try:
        server = ThrowawayPostgres()
    except PostgresUnavailableError as exc:
        unavailable(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.close()
