"""What tests and benchmarks of a real ``tracenode serve`` start from: a data directory
with one producer and its API key, and a free port to serve it on."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.commit.custody import CustodyMode
from node.context import Node, init_node
from node.events.typed_data import Role
from node.store.apikeys import ApiKeys


def serve_command(data_dir: Path, port: int | str, *args: str) -> list[str]:
    """The command line of a ``tracenode serve`` child process (tests, the bench)."""
    return [
        sys.executable,
        "-m",
        "api.cli",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *args,
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def producer_node(
    data_dir: Path,
    password: str,
    *,
    database_url: str | None = None,
    chain_url: str | None = None,
    pbkdf2_iterations: int | None = None,
    custody: CustodyMode = CustodyMode.ENFORCED,
) -> tuple[LocalAccount, str]:
    """A new node in ``data_dir`` with one producer ("farm", holding handle prefix
    ``88.123.45`` and GS1 company prefix ``9506000``): its key and its API key.
    ``pbkdf2_iterations``: cheap key files (``init_node``), for tests; ``custody``: the
    node's custody mode (``tracenode init --custody``)."""
    init_node(
        data_dir,
        password,
        chain_url=chain_url,
        database_url=database_url,
        pbkdf2_iterations=pbkdf2_iterations,
        custody=custody,
    )
    farm: LocalAccount = Account.create()
    with Node(data_dir) as node:
        node.registry.register(
            node.admin(password),
            key=farm.address,
            name="farm",
            roles=Role.PRODUCER,
            prefix="88.123.45",
            licences=("9506000",),
        )
        node.sync_participants()
        with node.store.read() as conn:
            (pid,) = [p.id for p in node.store.participants.all(conn)]
        token = ApiKeys(node.store).create(participant_id=pid).token
    return farm, token


def wait_served(url: str, process: subprocess.Popen[bytes], timeout: float) -> str | None:
    """Poll ``url``/readyz until it answers 200 (None), ``process`` exits or ``timeout``
    seconds pass (then why, in a few words)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited {process.returncode}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return None
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return f"not ready after {timeout:.0f} s"
