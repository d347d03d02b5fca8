"""The alerts API: filters, one alert with its evidence, and the workflow (admin key)."""

from __future__ import annotations

import json
from urllib.parse import quote

from api.schemas import AlertOut
from node.events.identifiers import parse_identifier
from node.events.signatures import recover_signer
from node.events.typed_data import AlertRevision, Domain
from node.monitor.alertlog import AlertLogSealer
from node.store.alerts import alert_document
from node.store.models import AlertSeverity
from node.store.records import Finding, Subscription
from node.webhooks.messages import ALERT_RAISED, enqueue_alert, new_secret
from tests.api.conftest import GTIN, Rig

LOT = f"https://id.gs1.org/01/{GTIN}/10/ALERTED"


def raise_alerts(rig: Rig) -> tuple[int, int]:
    """A critical alert about LOT and participant 2, and a medium one about nothing."""
    store = rig.node.store
    with store.write() as conn:
        critical, _ = store.alerts.record(
            conn,
            Finding(
                kind="event-altered",
                severity=AlertSeverity.CRITICAL,
                score=88,
                incident="test:critical",
                detail="a stored event was edited",
                evidence={"eventHash": "0x" + "ab" * 32},
                batch_id=bytes(parse_identifier(LOT).batch_id),
                participant_id=2,
                block_number=7,
            ),
            now=1_000,
        )
        medium, _ = store.alerts.record(
            conn,
            Finding(
                kind="in-transit-too-long",
                severity=AlertSeverity.MEDIUM,
                score=40,
                incident="test:medium",
                detail="shipped and not received",
            ),
            now=2_000,
        )
    return critical, medium


def test_alerts_filter_by_severity_status_batch_participant_and_time(rig: Rig) -> None:
    critical, medium = raise_alerts(rig)

    def ids(query: str) -> list[int]:
        answer = rig.client.get(f"/v1/alerts?{query}")
        assert answer.status_code == 200, answer.text
        return [a["id"] for a in answer.json()["items"] if a["id"] in (critical, medium)]

    assert ids("") == [medium, critical]
    assert ids("severity=high") == [critical]
    assert ids(f"batch={quote(LOT, safe='')}") == [critical]
    assert ids("participant=2") == [critical]
    assert ids("since=1500") == [medium]
    assert ids("status=open") == [medium, critical]
    assert ids("status=resolved") == []
    assert rig.client.get("/v1/alerts?status=gone").status_code == 422
    assert rig.client.get("/v1/alerts?batch=not%20an%20identifier").status_code in (400, 422)


def test_one_alert_carries_its_evidence_and_the_workflow_keeps_who_and_why(rig: Rig) -> None:
    critical, _ = raise_alerts(rig)

    shown = rig.client.get(f"/v1/alerts/{critical}").json()
    by_participant = rig.client.post(
        f"/v1/alerts/{critical}/ack", json={"why": "mine"}, headers=rig.auth("farm")
    )
    acked = rig.client.post(
        f"/v1/alerts/{critical}/ack", json={"why": "looking"}, headers=rig.auth("admin")
    )
    dismissed = rig.client.post(
        f"/v1/alerts/{critical}/dismiss", json={"why": "test data"}, headers=rig.auth("admin")
    )
    missing = rig.client.post("/v1/alerts/999999/resolve", json={}, headers=rig.auth("admin"))

    assert (shown["severity"], shown["score"], shown["status"]) == ("critical", 88, "open")
    assert shown["evidence"] == {"eventHash": "0x" + "ab" * 32}
    assert shown["blockNumber"] == "7"
    assert by_participant.status_code == 403
    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["note"]) == ("acknowledged", "looking")
    assert acked.json()["handledBy"].startswith("api-key:")
    assert (dismissed.json()["status"], dismissed.json()["note"]) == ("false_positive", "test data")
    assert missing.status_code == 404
    assert missing.json()["code"] == "alert-not-found"


def test_the_api_the_cli_and_webhooks_say_one_alert_json(rig: Rig) -> None:
    """One definition (node.store.alerts.alert_document): the API's AlertOut mirrors it
    field for field, webhooks send it, and every block number is a decimal string."""
    critical, _ = raise_alerts(rig)
    store = rig.node.store
    with store.write() as conn:
        target = store.webhooks.add_endpoint(
            conn,
            url="https://receiver.example/hook",
            subscription=Subscription(types=(ALERT_RAISED,), min_severity=AlertSeverity.LOW),
            label="json",
            secret=new_secret(),
            now=3_000,
        )
        alert = store.alerts.get(conn, critical)
        assert alert is not None
        enqueue_alert(conn, store.webhooks, alert, new=True, now=3_000, endpoints=[target])
        (message,) = store.webhooks.log(conn, endpoint_id=target.id)

    document = alert_document(alert)
    served = rig.client.get(f"/v1/alerts/{critical}").json()
    sent = json.loads(message.payload)["data"]

    assert served == document == sent
    assert set(AlertOut.model_json_schema(by_alias=True)["properties"]) == set(document)
    assert AlertOut.model_validate(document).model_dump(mode="json") == document
    assert document["blockNumber"] == "7"
    assert document["log"]["seq"] == str(alert.log.seq if alert.log else 0)
    assert document["revision"] >= 1  # the module's rig has handled it before


def test_the_alert_log_links_an_alert_to_its_anchored_head(rig: Rig) -> None:
    """From /v1/alerts/{id} and /v1/alert-log alone, a reader rebuilds every entry from the
    alert's to the anchored head and recovers the node key's address from each signature."""
    critical, _ = raise_alerts(rig)
    sealer = AlertLogSealer(
        store=rig.node.store, w3=rig.node.w3, deployment=rig.node.deployment, node=rig.node_key
    )
    sealer.seal()
    sealer.anchor()

    alert = rig.client.get(f"/v1/alerts/{critical}").json()
    seq, head = int(alert["log"]["seq"]), alert["log"]["anchor"]
    page = rig.client.get(f"/v1/alert-log?after={seq - 1}&limit=1000").json()
    d = page["domain"]
    domain = Domain(int(d["chainId"]), bytes.fromhex(d["verifyingContract"][2:]))
    prev = bytes.fromhex(alert["log"]["prev"][2:])
    for e in page["entries"][: int(head["count"]) - seq + 1]:
        entry = AlertRevision(
            seq=int(e["seq"]),
            prev=prev,
            alert_id=e["alertId"],
            revision=e["revision"],
            content=bytes.fromhex(e["content"][2:]),
        )
        signer = recover_signer(entry.digest(domain), bytes.fromhex(e["signature"][2:]))
        assert "0x" + signer.hex() == page["node"].lower()
        assert "0x" + entry.struct_hash().hex() == e["hash"]
        prev = entry.struct_hash()

    assert "0x" + prev.hex() == head["head"] == page["anchor"]["head"]
    assert page["entries"][0]["hash"] == alert["log"]["hash"]
    assert rig.client.get("/v1/alert-log?after=-1").status_code == 422


def test_metrics_count_alerts_per_rule_and_severity(rig: Rig) -> None:
    def samples() -> dict[str, float]:
        text = rig.client.get("/metrics").text
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("tracenode_alert")
        }

    before = samples()
    critical, _ = raise_alerts(rig)  # seen again if an earlier test raised them
    store = rig.node.store
    with store.write() as conn:
        store.alerts.record(
            conn,
            Finding(
                kind="metrics-test",
                severity=AlertSeverity.HIGH,
                score=70,
                incident=f"metrics:{critical}",
                detail="a rule of its own, for this test",
            ),
            now=4_000,
        )
    after_raise = samples()
    with store.write() as conn:
        store.alerts.record(  # escalated: an update, still one incident
            conn,
            Finding(
                kind="metrics-test",
                severity=AlertSeverity.CRITICAL,
                score=90,
                incident=f"metrics:{critical}",
                detail="a rule of its own, escalated",
            ),
            now=5_000,
        )
    after_update = samples()

    def delta(name: str, since: dict[str, float], now: dict[str, float]) -> float:
        return now.get(name, 0.0) - since.get(name, 0.0)

    raised = 'tracenode_alerts_raised_total{rule="metrics-test"}'
    updated = 'tracenode_alerts_updated_total{rule="metrics-test"}'
    high = 'tracenode_alerts_open{rule="metrics-test",severity="high"}'
    top = 'tracenode_alerts_open{rule="metrics-test",severity="critical"}'
    assert delta(raised, before, after_raise) == 1
    assert delta(updated, after_raise, after_update) == 1
    assert delta(raised, after_raise, after_update) == 0
    assert (after_raise[high], after_raise[top]) == (1 + before.get(high, 0), before.get(top, 0))
    assert after_update[high] == before.get(high, 0)
    assert after_update[top] == before.get(top, 0) + 1
    assert 'tracenode_alert_sightings_total{rule="event-altered"}' in after_update


def test_an_action_needs_no_body(rig: Rig) -> None:
    """docs/api.md: the body ``{"why": …}`` is optional (an empty body, or JSON null)."""
    critical, _ = raise_alerts(rig)

    acked = rig.client.post(f"/v1/alerts/{critical}/ack", headers=rig.auth("admin"))
    resolved = rig.client.post(
        f"/v1/alerts/{critical}/resolve",
        content=b"null",
        headers=rig.auth("admin") | {"Content-Type": "application/json"},
    )
    missing = rig.client.post("/v1/alerts/999999/dismiss", headers=rig.auth("admin"))

    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["note"]) == ("acknowledged", "")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert missing.status_code == 404, missing.text
    assert missing.json()["code"] == "alert-not-found"
