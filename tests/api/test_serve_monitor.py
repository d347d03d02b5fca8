"""``tracenode serve`` runs the integrity monitor and webhook delivery: a database edited by
hand while the node serves is a critical alert on /v1/alerts within one monitor cycle, and
reaches a partner's receiver process, signed (checked with standardwebhooks), even across
a kill -9 of the node while the receiver was down."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from api.cli import app as cli
from node.testing.serving import producer_node
from tests.api.server import Server, free_port, full_document, message_from_info
from tests.api.test_server import wait_anchored
from tests.wait import wait_until
from tests.webhook_receiver import received, receiver_process, verify

PASSWORD = "monitor test"
LOT = "https://id.gs1.org/01/09506000134352/10/MONITORED-1"


def api_key(data_dir: Path, *args: str) -> dict[str, str]:
    created = CliRunner().invoke(cli, ["apikey", "create", *args, "--data-dir", str(data_dir)])
    assert created.exit_code == 0, created.output
    return {"Authorization": f"Bearer {created.output.strip().splitlines()[-1]}"}


def a_node(tmp_path: Path) -> tuple[Path, LocalAccount]:
    data_dir = tmp_path / "data"
    farm, _ = producer_node(data_dir, PASSWORD)
    return data_dir, farm


def commission(url: str, farm: LocalAccount, auth: dict[str, str]) -> str:
    """A lot commissioned through the API and anchored; its event hash."""
    info = httpx.get(f"{url}/v1/info").json()
    message = message_from_info(
        info,
        action=info["actions"]["COMMISSION"],
        batchId="0x" + keccak(text=LOT).hex(),
        quantity=5,
        nonce=1,
        eventTime=int(time.time() * 1000),
    )
    signed = Account.sign_typed_data(farm.key, full_message=full_document(info, message))
    answer = httpx.post(
        f"{url}/v1/events",
        json={"event": message, "signature": "0x" + signed.signature.hex(), "identifiers": [LOT]},
        headers=auth,
    )
    assert answer.status_code == 202, answer.text
    event_hash: str = answer.json()["eventHash"]
    assert wait_anchored(url, event_hash)["status"] == "anchored"
    return event_hash


def tamper(data_dir: Path) -> None:
    with sqlite3.connect(data_dir / "tracenode.sqlite3") as db:  # behind the node's back
        db.execute("UPDATE events SET quantity = '5000'")


def test_an_alert_reaches_the_receiver_signed_across_a_kill_of_the_node(
    tmp_path: Path,
) -> None:
    data_dir, farm = a_node(tmp_path)
    auth, admin = api_key(data_dir, "--participant", farm.address), api_key(data_dir, "--admin")
    port, out = free_port(), tmp_path / "received.jsonl"
    env = {"TRACENODE_API_WEBHOOKS_ALLOW_LOOPBACK": "true"}
    args = ("--commit-interval", "0.2", "--monitor-interval", "1")
    server = Server(data_dir, PASSWORD, *args, env=env)
    server.wait_ready()
    subscribed = httpx.post(
        f"{server.url}/v1/webhooks",
        json={"url": f"http://127.0.0.1:{port}/hook", "events": ["alert.raised"]},
        headers=admin,
    )
    assert subscribed.status_code == 201, subscribed.text
    hook = subscribed.json()
    event_hash = commission(server.url, farm, auth)

    tamper(data_dir)  # the receiver is not running: the delivery fails and waits

    def failed_once() -> list[Any] | None:
        log: list[Any] = httpx.get(
            f"{server.url}/v1/webhooks/{hook['id']}/deliveries", headers=admin
        ).json()
        return log if log and log[0]["attempts"] >= 1 else None

    (waiting,) = wait_until(failed_once, timeout=30, interval=0.5)
    server.kill()  # kill -9 while the message waits in the outbox
    restarted = Server(data_dir, PASSWORD, *args, env=env)
    try:
        with receiver_process(port, out):
            restarted.wait_ready()
            (item,) = wait_until(lambda: received(out), timeout=60, interval=0.5)
    finally:
        code = restarted.stop()
    assert code == 0, restarted.output()

    assert waiting["status"] == "pending"
    assert item.message_id == waiting["messageId"]
    assert verify(item, hook["secret"])
    assert (item.body["type"], item.body["data"]["kind"]) == ("alert.raised", "event-altered")
    assert item.body["data"]["eventHash"] == event_hash
    assert item.body["data"]["severity"] == "critical"


def test_a_hand_edited_database_is_a_critical_alert_while_serving(tmp_path: Path) -> None:
    data_dir, farm = a_node(tmp_path)
    auth = api_key(data_dir, "--participant", farm.address)
    server = Server(data_dir, PASSWORD, "--commit-interval", "0.2", "--monitor-interval", "1")
    try:
        server.wait_ready()
        event_hash = commission(server.url, farm, auth)
        quiet = httpx.get(f"{server.url}/v1/alerts").json()["items"]

        tamper(data_dir)

        def critical() -> list[dict[str, Any]] | None:
            answer = httpx.get(f"{server.url}/v1/alerts?severity=critical")
            items: list[dict[str, Any]] = answer.json()["items"]
            return items or None

        alerts = wait_until(critical, timeout=30, interval=0.5)

        def sealed() -> dict[str, Any] | None:  # serve signs the alert and anchors it
            alert: dict[str, Any] = httpx.get(f"{server.url}/v1/alerts/{alerts[0]['id']}").json()
            return alert if alert["log"]["signature"] and alert["log"]["anchor"] else None

        anchored = wait_until(sealed, timeout=30, interval=0.5)
        with sqlite3.connect(data_dir / "tracenode.sqlite3") as db:  # hide the alert
            db.execute("DELETE FROM alerts WHERE id = ?", (alerts[0]["id"],))

        def deletion() -> list[dict[str, Any]] | None:
            answer = httpx.get(f"{server.url}/v1/alerts?severity=critical")
            items = [a for a in answer.json()["items"] if a["kind"] == "alert-log-mismatch"]
            return items or None

        caught = wait_until(deletion, timeout=30, interval=0.5)
    finally:
        code = server.stop()
    assert code == 0, server.output()

    assert quiet == []
    assert [(a["kind"], a["eventHash"]) for a in alerts] == [("event-altered", event_hash)]
    assert int(anchored["log"]["anchor"]["count"]) >= int(anchored["log"]["seq"])
    assert [a["detail"] for a in caught] == [
        f"alert {alerts[0]['id']} was deleted (the log holds its revision 1)"
    ]
