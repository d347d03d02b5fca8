"""``tracenode serve`` runs the integrity monitor: a database edited by hand while the node
serves is a critical alert on /v1/alerts within one monitor cycle."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from api.cli import app as cli
from node.context import Node, init_node
from node.events.typed_data import Role
from tests.api.server import Server
from tests.api.test_server import full_document, message_from_info, wait_anchored
from tests.wait import wait_until

PASSWORD = "monitor test"
LOT = "https://id.gs1.org/01/09506000134352/10/MONITORED-1"


def test_a_hand_edited_database_is_a_critical_alert_while_serving(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init_node(data_dir, PASSWORD)
    farm: LocalAccount = Account.create()
    with Node(data_dir) as node:
        node.registry.register(
            node.admin(PASSWORD), key=farm.address, name="farm", roles=Role.PRODUCER, prefix=""
        )
        node.sync_participants()
    created = CliRunner().invoke(
        cli, ["apikey", "create", "--participant", farm.address, "--data-dir", str(data_dir)]
    )
    assert created.exit_code == 0, created.output
    auth = {"Authorization": f"Bearer {created.output.strip().splitlines()[-1]}"}
    server = Server(data_dir, PASSWORD, "--commit-interval", "0.2", "--monitor-interval", "1")
    try:
        server.wait_ready()
        url = server.url
        info = httpx.get(f"{url}/v1/info").json()
        message = message_from_info(
            info,
            action=info["actions"]["COMMISSION"],
            batchId="0x" + keccak(text=LOT).hex(),
            quantity=5,
            nonce=1,
            eventTime=1_732_000_000_000,
        )
        signed = Account.sign_typed_data(farm.key, full_message=full_document(info, message))
        answer = httpx.post(
            f"{url}/v1/events",
            json={"event": message, "signature": "0x" + signed.signature.hex()},
            headers=auth,
        )
        assert answer.status_code == 202, answer.text
        event_hash = answer.json()["eventHash"]
        assert wait_anchored(url, event_hash)["status"] == "anchored"
        quiet = httpx.get(f"{url}/v1/alerts").json()["items"]

        with sqlite3.connect(data_dir / "tracenode.sqlite3") as db:  # behind the node's back
            db.execute("UPDATE events SET quantity = '5000'")

        def critical() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = httpx.get(f"{url}/v1/alerts?severity=critical").json()[
                "items"
            ]
            return items or None

        alerts = wait_until(critical, timeout=30, interval=0.5)
    finally:
        code = server.stop()
    assert code == 0, server.output()

    assert quiet == []
    assert [(a["kind"], a["eventHash"]) for a in alerts] == [("event-altered", event_hash)]
