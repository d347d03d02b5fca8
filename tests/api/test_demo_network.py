"""The two-node demo as a user runs it (``tracenode demo --network DIR``, README "Two
nodes on anvil"): a real anvil, node 1 with the farm and the dairy and node 2 with the
retailer, both served; the cheese made on node 1 is on node 2's shelf, node 2 resolves
the milk from node 1 verified by its own verifier; Ctrl-C (SIGINT) stops both servers and
anvil. Slow (three scrypt keystores per node, two servers): bash scripts/test_network.sh."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.anvil import AnvilUnavailableError, anvil_binary
from tests.environment import unavailable

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _output(path: Path, until: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    """The demo's output once it printed ``until`` (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        if until in text:
            return text
        assert process.poll() is None, text
        time.sleep(0.2)
    raise TimeoutError(f"no {until!r} after {timeout} s: {path.read_text(errors='replace')}")


def test_the_two_node_demo_runs_across_two_nodes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    try:
        anvil_binary()
    except AnvilUnavailableError as exc:
        unavailable(str(exc))
    out = tmp_path / "demo.out"
    command = [sys.executable, "-m", "node.cli", "demo", "--network", str(tmp_path / "net")]
    environment = os.environ | {"TRACENODE_PASSWORD": "demo network test", "COLUMNS": "300"}
    with out.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        text = _output(out, "Ctrl-C stops both nodes and anvil.", process, 180)
        node_1 = re.search(r"node 1 \(farm, dairy\): (http://\S+)", text)
        node_2 = re.search(r"node 2 \(retailer\): +(http://\S+)", text)
        chain = re.search(r"by two nodes on anvil \((http://\S+)\)", text)
        cheese = re.search(r"cheese +(https://id\.gs1\.org/\S+)", text)
        milk = re.search(r"milk +(https://id\.gs1\.org/\S+)", text)
        assert "Ctrl-C stops" in text, text
        assert node_1
        assert node_2
        assert chain
        assert cheese
        assert milk
        assert "6 events anchored and 0 rejected" in text

        shelf = httpx.get(f"{node_2[1]}/v1/batches/{quote(cheese[1], safe='')}", timeout=10).json()
        assert (shelf["status"], shelf["custodian"]["name"]) == ("ACTIVE", "Corner Grocer")
        left = httpx.get(f"{node_1[1]}/v1/batches/{quote(cheese[1], safe='')}", timeout=10).json()
        # Node 1 took the cheese up to its SHIP, node 2 its RECEIVE: both agree with
        # the chain on where it is now.
        assert (left["batchId"], left["head"]) == (shelf["batchId"], shelf["head"])
        found = httpx.get(f"{node_2[1]}/v1/resolve/{quote(milk[1], safe='')}", timeout=30).json()
        assert (found["verified"], found["node"]["url"]) == (True, node_1[1])
        nodes = httpx.get(f"{node_1[1]}/v1/nodes", timeout=10).json()
        assert [(n["url"], n["thisNode"]) for n in nodes] == [(node_1[1], True), (node_2[1], False)]
        page = httpx.get(f"{node_2[1]}/?id={quote(cheese[1], safe='')}", timeout=10)
        assert page.status_code == 200

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        for url in (node_1[1], node_2[1], chain[1]):
            with pytest.raises(httpx.TransportError):
                httpx.get(url, timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)

    again = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 1
    assert "is not empty: the two-node demo starts a new chain each run" in again.stderr
