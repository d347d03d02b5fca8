"""Several ``tracenode serve`` processes on one PostgreSQL store and one chain (anvil):
exactly one commits; SIGKILL it and another takes over; every event is anchored once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from node.context import Node
from node.events.identifiers import parse_identifier
from node.store.models import EventStatus
from node.store.tables import EVENTS
from node.testing.serving import producer_node
from tests.anvil import Anvil
from tests.api.server import Server, full_document, message_from_info
from tests.api.test_server import wait_anchored
from tests.environment import postgres_database
from tests.wait import wait_until

PASSWORD = "takeover test"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def is_leader(server: Server) -> bool:
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(r"^tracenode_commit_leader (\S+)$", metrics, re.MULTILINE)
    return found is not None and float(found[1]) == 1.0


def wait_for_one_leader(servers: list[Server], timeout: float = 30) -> Server:
    def the_leader() -> Server | None:
        leaders = [s for s in servers if is_leader(s)]
        assert len(leaders) <= 1
        return leaders[0] if leaders else None

    return wait_until(the_leader, timeout, interval=0.2)


def submit(server: Server, token: str, farm: LocalAccount, lot: str, nonce: int) -> str:
    info: dict[str, Any] = httpx.get(f"{server.url}/v1/info").json()
    message = message_from_info(
        info,
        action=info["actions"]["COMMISSION"],
        batchId=parse_identifier(lot).batch_id_hex,
        quantity=1,
        nonce=nonce,
        eventTime=1_732_000_000_000 + nonce,
    )
    signed = Account.sign_typed_data(farm.key, full_message=full_document(info, message))
    answer = httpx.post(
        f"{server.url}/v1/events",
        json={"event": message, "signature": "0x" + signed.signature.hex(), "identifiers": [lot]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    event_hash: str = answer.json()["eventHash"]
    return event_hash


def test_another_process_takes_over_committing_when_the_leader_dies(
    tmp_path: Path, postgres_url: str, anvil: Anvil
) -> None:
    data_dir = tmp_path / "data"
    farm, token = producer_node(data_dir, PASSWORD, chain_url=anvil.url, database_url=postgres_url)
    servers = [Server(data_dir, PASSWORD, "--commit-interval", "0.2") for _ in range(3)]
    try:
        for server in servers:
            server.wait_ready()
        leader = wait_for_one_leader(servers)
        follower = next(s for s in servers if s is not leader)
        first = submit(follower, token, farm, "88.123.45/takeover-1", 1)
        assert wait_anchored(follower.url, first)["status"] == "anchored"

        leader.kill()
        survivors = [s for s in servers if s is not leader]
        successor = wait_for_one_leader(survivors)
        second = submit(successor, token, farm, "88.123.45/takeover-2", 2)
        third = submit(
            next(s for s in survivors if s is not successor), token, farm, "88.123.45/takeover-3", 3
        )

        assert wait_anchored(successor.url, second)["status"] == "anchored"
        assert wait_anchored(successor.url, third)["status"] == "anchored"
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.stop()
    with Node(data_dir) as node, node.store.read() as conn:
        rows = conn.execute(select(EVENTS.c.status, EVENTS.c.anchor_seq)).all()
    assert {status for status, _ in rows} == {EventStatus.ANCHORED}
    assert sorted(seq for _, seq in rows) == [1, 2, 3]
