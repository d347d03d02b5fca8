"""A real ``tracenode serve`` process on a free loopback port, for tests that need one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.events.identifiers import parse_identifier
from node.testing.serving import free_port as free_port  # imported from here by tests
from node.testing.serving import producer_node, serve_command, wait_served

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """``tracenode serve`` as a child process; ``stop()`` ends it with SIGTERM."""

    def __init__(
        self,
        data_dir: Path,
        password: str,
        *args: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = serve_command(data_dir, self.port, *args)
        environment = os.environ | {"TRACENODE_PASSWORD": password} | (env or {})
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=self._log_file, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float = 60) -> None:
        why = wait_served(self.url, self.process, timeout)
        if why is not None:
            error = RuntimeError if self.process.poll() is not None else TimeoutError
            raise error(f"serve {why}: {self.output()}")

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash."""
        self.process.kill()
        self.process.wait(timeout=30)
        self._log_file.close()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode


def message_from_info(info: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An EIP-712 TraceEvent message built from nothing but /v1/info's type list."""
    zero32 = "0x" + "00" * 32
    defaults = {"bytes32": zero32, "bytes32[]": [], "address": "0x" + "00" * 20}
    message = {f["name"]: defaults.get(f["type"], 0) for f in info["eip712"]["types"]["TraceEvent"]}
    return message | fields


def full_document(info: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    eip712 = info["eip712"]
    return {
        "types": eip712["types"],
        "primaryType": eip712["primaryType"],
        "domain": eip712["domain"],
        "message": message,
    }


def read_metrics(url: str, timeout: float = 10) -> dict[str, float]:
    """The unlabelled samples of ``url``/metrics, by name (labelled ones under
    ``name{labels}``)."""
    answer = httpx.get(f"{url}/metrics", timeout=timeout)
    answer.raise_for_status()
    samples: dict[str, float] = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


#: The password of the data directories :func:`prepare` makes.
SERVE_PASSWORD = "serve test"


def prepare(
    data_dir: Path, database_url: str | None = None, chain_url: str | None = None
) -> tuple[LocalAccount, str]:
    """A node with one producer and its API key."""
    return producer_node(data_dir, SERVE_PASSWORD, database_url=database_url, chain_url=chain_url)


def signed_event(
    url: str,
    signer: LocalAccount,
    action: str,
    *,
    nonce: int,
    identifiers: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The body of ``POST /v1/events``: ``action`` with ``fields`` (TraceEvent's names),
    signed by ``signer``, built from ``url``'s /v1/info (which needs no store)."""
    info: dict[str, Any] = httpx.get(f"{url}/v1/info", timeout=10).json()
    message = message_from_info(
        info,
        action=info["actions"][action],
        nonce=nonce,
        eventTime=int(time.time() * 1000),
        **fields,
    )
    signed = Account.sign_typed_data(signer.key, full_message=full_document(info, message))
    return {
        "event": message,
        "signature": "0x" + signed.signature.hex(),
        "identifiers": identifiers or [],
    }


def commission(url: str, farm: LocalAccount, lot: str, nonce: int) -> dict[str, Any]:
    """A signed COMMISSION of ``lot``, built from /v1/info (which needs no store)."""
    return signed_event(
        url,
        farm,
        "COMMISSION",
        nonce=nonce,
        batchId=parse_identifier(lot).batch_id_hex,
        quantity=1,
        identifiers=[lot],
    )


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    """The answer of ``call`` and the seconds it took."""
    began = time.monotonic()
    answer = call()
    return answer, time.monotonic() - began
