"""The alerts API: filters, one alert with its evidence, and the workflow (admin key)."""

from __future__ import annotations

from urllib.parse import quote

from node.events.identifiers import parse_identifier
from node.store.models import AlertSeverity
from node.store.records import Finding
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
