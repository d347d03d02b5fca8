"""The gateway records what it refuses, and the monitor turns it into alerts: forged
signatures, a nonce signed twice, a move of a recalled lot, a key flooding the rate limit
and a client abusing /rpc, sent through the real app and found on /v1/alerts."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from api import create_app
from api.settings import ApiSettings
from node.events.identifiers import parse_identifier
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent, submission_document
from node.events.typed_data import Action
from node.monitor.access import AccessPolicy
from node.monitor.service import Monitor
from tests.api.conftest import AppClient, Rig


def forged(rig: Rig, lot: str) -> dict[str, Any]:
    """The farm's commission of ``lot`` (named, as a new batch must be), signed by a key
    that is nobody's."""
    signed = rig.sign("farm", Action.COMMISSION, batch_id=bytes(parse_identifier(lot).batch_id))
    stranger = Account.create()
    signature = sign_digest(signed.event.digest(rig.node.domain), bytes(stranger.key))
    return submission_document(SignedEvent(signed.event, signature, identifiers=(lot,)))


def alerts(rig: Rig, query: str) -> dict[str, dict[str, Any]]:
    answer = rig.client.get(f"/v1/alerts?{query}&limit=100")
    assert answer.status_code == 200, answer.text
    return {a["kind"]: a for a in answer.json()["items"]}


def test_forged_signatures_a_reused_nonce_and_a_recalled_lot_move_raise_alerts(
    rig: Rig,
) -> None:
    farm = rig.auth("farm")
    post = rig.client.post
    # forged signatures: ten, one by one and in a list
    lots = [f"https://id.gs1.org/01/09506000134352/10/FORGED-{i}" for i in range(1, 11)]
    singles = [post("/v1/events", json=forged(rig, b), headers=farm) for b in lots[:5]]
    bulk = post("/v1/events", json=[forged(rig, b) for b in lots[5:]], headers=farm)
    # a replay is a duplicate (no refusal); a nonce signed again for other content is not
    lot, commission = rig.commission()
    replays = [post("/v1/events", json=commission, headers=farm) for _ in range(2)]
    again = rig.sign(
        "farm",
        Action.COMMISSION,
        batch_id=bytes(parse_identifier(lot + "X").batch_id),
        nonce=int(commission["event"]["nonce"]),
    )
    reuse = submission_document(SignedEvent(again.event, again.signature, identifiers=(lot + "X",)))
    reused = post("/v1/events", json=reuse, headers=farm)
    # a recalled lot shipped
    batch_id = bytes(parse_identifier(lot).batch_id)
    recall = rig.sign("farm", Action.RECALL, batch_id=batch_id, prev_event_hash=_head(rig, lot))
    recalled = post("/v1/events", json=submission_document(recall), headers=farm)
    ship = rig.sign(
        "farm",
        Action.SHIP,
        batch_id=batch_id,
        prev_event_hash=_head(rig, lot),
        counterparty=bytes.fromhex(rig.accounts["shop"].address[2:]),
    )
    moved = post("/v1/events", json=submission_document(ship), headers=farm)

    Monitor.of(rig.node).cycle()
    found = alerts(rig, f"participant={rig.pids['farm']}")

    assert [a.status_code for a in singles] == [403] * 5
    assert bulk.json()["rejected"] == 5
    assert [r.json()["outcome"] for r in replays] == ["accepted", "duplicate"]
    assert (reused.status_code, recalled.status_code) == (409, 202)
    assert moved.json()["code"] == "batch-recalled"
    assert {"refused-signatures", "nonce-reuse", "recall-breach-refused"} <= set(found)
    assert found["refused-signatures"]["severity"] == "medium"
    assert found["refused-signatures"]["evidence"]["refusals"] == 10
    assert found["recall-breach-refused"]["severity"] == "critical"
    assert (
        found["recall-breach-refused"]["eventHash"]
        == "0x" + ship.event.digest(rig.node.domain).hex()
    )
    assert found["nonce-reuse"]["evidence"]["nonces"] == [commission["event"]["nonce"]]


def test_a_key_flooding_the_rate_limit_and_a_client_abusing_rpc_raise_alerts(rig: Rig) -> None:
    app = create_app(rig.node, settings=ApiSettings(rate_per_second=0.1, rate_burst=1))
    client = AppClient(app, client=("198.51.100.20", 50000))
    writes = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x00"]}
        for i in range(30)
    ]
    try:
        limited = [client.get("/v1/info", headers=rig.auth("shop")) for _ in range(30)]
        rpc = client.post("/rpc", json=writes)
    finally:
        client.close()
    monitor = Monitor.of(rig.node)
    monitor.access = AccessPolicy(rate_limited=20, rpc_calls=20)

    monitor.cycle()
    found = alerts(rig, "severity=medium")

    assert [r.status_code for r in limited].count(429) == 29
    assert rpc.status_code == 200
    assert all(a["error"]["code"] == -32601 for a in rpc.json())
    assert found["rate-limited"]["participantId"] == rig.pids["shop"]
    assert found["rate-limited"]["evidence"]["refusals"] >= 20
    assert found["rpc-abuse"]["evidence"]["methods"] == ["eth_sendRawTransaction"]
    assert found["rpc-abuse"]["evidence"]["clients"] == ["198.51.100.20"]


def _head(rig: Rig, lot: str) -> bytes:
    answer = rig.client.get(f"/v1/batches/0x{bytes(parse_identifier(lot).batch_id).hex()}")
    assert answer.status_code == 200, answer.text
    return bytes.fromhex(answer.json()["head"][2:])
