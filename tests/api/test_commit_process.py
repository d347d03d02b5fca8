"""``tracenode serve``'s commit process (node/commit/process.py), as a real serve runs it on
the embedded chain: the gateway's own transactions go through it, it comes back and
anchors when it is killed, and it does not outlive a serve killed with SIGKILL.

One serve for the module, of an anchor-only node (``tracenode init --custody
anchor-only``: the commit process must anchor in the node's own mode; enforced serves run
in every other serve test); the last test kills it."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlalchemy import select

from node.commit.custody import CustodyMode
from node.context import Node
from node.store.apikeys import ApiKeys
from node.store.models import EventStatus
from node.store.tables import EVENTS
from node.testing.serving import producer_node
from tests.anvil import process_tree
from tests.api.server import SERVE_PASSWORD, Server, commission, read_metrics
from tests.api.test_server import wait_anchored
from tests.wait import wait_until


def commit_children(server: Server) -> list[int]:
    """The pids of ``server``'s commit processes alive now."""
    found = []
    for pid in process_tree(server.process.pid)[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"node.commit.process" in command:
            found.append(pid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("commit-process") / "data"
    farm, token = producer_node(
        data_dir, SERVE_PASSWORD, pbkdf2_iterations=1000, custody=CustodyMode.ANCHOR_ONLY
    )
    with Node(data_dir) as node:
        admin = ApiKeys(node.store).create(admin=True).token
    server = Server(data_dir, SERVE_PASSWORD, "--commit-interval", "0.2")
    try:
        server.wait_ready()
        yield {"server": server, "farm": farm, "token": token, "admin": admin, "dir": data_dir}
    finally:
        if server.process.poll() is None:
            assert server.stop() == 0, server.output()


def submit(served: dict[str, Any], lot: str, nonce: int) -> str:
    server: Server = served["server"]
    answer = httpx.post(
        f"{server.url}/v1/events",
        json=commission(server.url, served["farm"], lot, nonce),
        headers={"Authorization": f"Bearer {served['token']}"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    event_hash: str = answer.json()["eventHash"]
    served.setdefault("submitted", []).append(event_hash)
    return event_hash


def test_the_gateway_commits_nothing_itself_and_its_registrar_sends_through_the_commit_process(
    served: dict[str, Any],
) -> None:
    server: Server = served["server"]
    auth = {"Authorization": f"Bearer {served['admin']}"}
    body = {"name": "dairy", "address": Account.create().address, "roles": ["processor"]}

    registered = httpx.post(f"{server.url}/v1/participants", json=body, headers=auth, timeout=60)
    again = httpx.post(f"{server.url}/v1/participants", json=body, headers=auth, timeout=60)

    assert len(commit_children(server)) == 1
    assert registered.status_code == 201, registered.text
    assert registered.json()["name"] == "dairy"
    # Refused by the contract as before, decoded from the gateway's own snapshot.
    assert again.status_code == 409, again.text
    assert wait_anchored(server.url, submit(served, "88.123.45/cp-1", 1))["status"] == "anchored"
    assert read_metrics(server.url)["tracenode_commit_leader"] == 1


def test_the_commit_process_anchors_in_the_nodes_custody_mode(served: dict[str, Any]) -> None:
    """The anchor-only node's window is one anchorWindow with its transitions, not a relay
    (the commit process once built its chain client in the enforced mode whatever the
    node's)."""
    server: Server = served["server"]
    assert wait_anchored(server.url, submit(served, "88.123.45/cp-m", 9))["status"] == "anchored"
    info = httpx.get(f"{server.url}/v1/info", timeout=30).json()
    bundle = httpx.get(f"{server.url}/v1/batches/88.123.45/cp-m/bundle", timeout=60)

    assert info["custodyMode"] == "anchor-only"
    # Its CustodyChallenge, whose fraud marks verifiers (the /verify page) read.
    assert info["contracts"]["custodyChallenge"].startswith("0x")
    assert bundle.status_code == 200, bundle.text
    (event,) = bundle.json()["events"]
    assert event["transitions"], event


def test_a_killed_commit_process_comes_back_and_anchors(served: dict[str, Any]) -> None:
    server: Server = served["server"]
    (first,) = commit_children(server)

    os.kill(first, signal.SIGKILL)
    accepted = submit(served, "88.123.45/cp-2", 2)  # the gateway accepts meanwhile
    (second,) = wait_until(
        lambda: [pid for pid in commit_children(server) if pid != first] or None, 30
    )

    assert second != first
    assert wait_anchored(server.url, accepted)["status"] == "anchored"
    assert wait_until(lambda: read_metrics(server.url)["tracenode_commit_leader"] == 1, 30)
    assert "the commit process (pid" in server.output()


def test_metrics_say_how_far_the_commit_process_s_monitor_has_read(
    served: dict[str, Any],
) -> None:
    server: Server = served["server"]
    accepted = submit(served, "88.123.45/cp-watched", 11)
    assert wait_anchored(server.url, accepted)["status"] == "anchored"

    def caught_up() -> dict[str, float] | None:
        samples = read_metrics(server.url)
        return samples if samples.get("tracenode_monitor_events_behind") == 0 else None

    samples = wait_until(caught_up, 30)
    assert 0 <= samples["tracenode_monitor_watch_lag_seconds"] < 30


def test_sigkill_of_serve_leaves_no_commit_process_behind(served: dict[str, Any]) -> None:
    server: Server = served["server"]
    children = commit_children(server)
    # With them, signature recovery's fork server and its worker, and the /rpc readers.
    others = [pid for pid in process_tree(server.process.pid)[1:] if pid not in children]
    assert len(children) == 1
    assert others

    server.kill()

    # The commit process's stdin (a pipe from serve) ends: it stops within the worker's
    # bound (15 s); the recovery worker sees serve gone within a second, and its fork
    # server follows; the readers' stdin ends too.
    assert wait_until(lambda: not any(alive(pid) for pid in children + others) or None, 30)
    # Through the commit process's death and serve's, every event was anchored once.
    with Node(served["dir"]) as node, node.store.read() as conn:
        rows = conn.execute(select(EVENTS.c.event_hash, EVENTS.c.status, EVENTS.c.anchor_seq)).all()
    assert sorted("0x" + bytes(h).hex() for h, _, _ in rows) == sorted(served.get("submitted", []))
    assert {status for _, status, _ in rows} == {EventStatus.ANCHORED}
    assert sorted(seq for _, _, seq in rows) == list(range(1, len(rows) + 1))
