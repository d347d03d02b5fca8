"""A local anvil (Foundry's development chain; npm's ``@foundry-rs/anvil`` in
package.json): the chain of the two-node demo (``tracenode demo --network``) and of the
tests. Looked for in the project's node_modules/.bin first, then on PATH; started on a
free loopback port with a fixed chain id and EIP-7825's per-transaction gas cap, like a
post-Osaka public chain; stopped (killed at worst) within a bound."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from web3 import Web3

from node.exceptions import ConfigurationError

ANVIL_CHAIN_ID: Final = 31337
_ROOT = Path(__file__).resolve().parents[2]


class AnvilUnavailableError(ConfigurationError):
    """No anvil binary here."""


def anvil_binary() -> str:
    local = _ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found is None:
        raise AnvilUnavailableError("anvil not found (run scripts/setup.sh: npm ci)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_anvil(
    extra: Sequence[str] = (), *, attempts: int = 3, timeout: float = 15
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start anvil on a free loopback port and wait (``timeout`` s at most per attempt)
    until it answers JSON-RPC with its chain id: its URL and process."""
    binary = anvil_binary()
    last_error = ""
    for _ in range(attempts):
        port = _free_port()
        process = subprocess.Popen(  # noqa: S603 - the anvil binary, no shell
            [
                binary,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chain-id",
                str(ANVIL_CHAIN_ID),
                "--enable-tx-gas-limit",
                "--silent",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        probe = Web3(
            Web3.HTTPProvider(
                url, request_kwargs={"timeout": 2}, exception_retry_configuration=None
            )
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if probe.eth.chain_id == ANVIL_CHAIN_ID:
                    return url, process
            except OSError:
                pass
            time.sleep(0.02)
        # The port was taken meanwhile, or anvil did not come up: try another port.
        stop_anvil(process)
        assert process.stderr is not None
        last_error = process.stderr.read().decode(errors="replace")[-2000:]
    raise RuntimeError(f"anvil did not start: {last_error}")


def stop_anvil(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    if process.stderr is not None:
        process.stderr.close()
