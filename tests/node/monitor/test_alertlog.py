"""The alert log against a real node: every revision signed by the node key and anchored
on AnchorRegistry; an alert deleted, edited or rolled back by hand in the database, or the
log cut short, is a critical finding within one cycle; honest handling raises nothing; and
anyone can check an alert's signature and anchoring from its JSON and the chain alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import delete, update

from node.events.hashing import keccak
from node.events.payload import canonical_json
from node.events.typed_data import AlertRevision, alert_revision_typed_data
from node.monitor.alertlog import AlertLogSealer, alert_log_domain, anchored_log
from node.monitor.service import Monitor
from node.store.alerts import alert_document
from node.store.models import AlertSeverity, AlertStatus
from node.store.records import Finding
from node.store.tables import ALERT_LOG, ALERTS
from node.testing.harness import TraceNodeHarness
from node.testing.plugin import HarnessFactory


def two_alerts(h: TraceNodeHarness) -> TraceNodeHarness:
    """``h`` with two alerts, their revisions signed and anchored."""
    with h.node.store.write() as conn:
        for n in (1, 2):
            h.node.store.alerts.record(
                conn,
                Finding(
                    kind="in-transit-too-long",
                    severity=AlertSeverity.MEDIUM,
                    score=50,
                    incident=f"test:{n}",
                    detail=f"shipment {n} not received",
                    evidence={"shipment": "0x" + f"{n:02x}" * 32},
                    block_number=7,
                ),
                now=1_000 * n,
            )
    seal(h)
    return h


@pytest.fixture
def both(tracenode_factory: HarnessFactory, store_url: str) -> TraceNodeHarness:
    """On SQLite and on PostgreSQL (where appending locks the log's state row)."""
    return two_alerts(tracenode_factory(database_url=store_url))


@pytest.fixture
def node(tracenode_factory: HarnessFactory) -> TraceNodeHarness:
    """On SQLite only: what does not depend on the database (the default suite's time)."""
    return two_alerts(tracenode_factory())


def sealer_of(h: TraceNodeHarness) -> AlertLogSealer:
    return AlertLogSealer(
        store=h.node.store,
        w3=h.node.w3,
        deployment=h.node.deployment,
        node=h.node.node_key(h.password),
    )


def seal(h: TraceNodeHarness) -> None:
    sealer = sealer_of(h)
    sealer.seal()
    sealer.anchor()


def findings(h: TraceNodeHarness) -> list[Finding]:
    report = Monitor.of(h.node).cycle()
    return [f for f in report.findings if f.kind == "alert-log-mismatch"]


def edit(h: TraceNodeHarness, change: Callable[..., object]) -> None:
    """Change the database behind the node's back, as someone with its file would."""
    with h.node.store.engine.begin() as conn:
        change(conn)


def alert_ids(h: TraceNodeHarness) -> list[int]:
    with h.node.store.read() as conn:
        return [a.id for a in h.node.store.alerts.all_logged(conn)]


def first_alert(h: TraceNodeHarness) -> int:
    return min(alert_ids(h))


def test_revisions_are_signed_anchored_and_honest_handling_raises_nothing(
    both: TraceNodeHarness,
) -> None:
    node = both
    d = node.node.deployment
    address = bytes.fromhex(node.node.config.node_address[2:])
    anchored = anchored_log(node.node.w3, d.anchor_registry, address)
    # A registry deployed before alert logs (here: a contract without the function).
    unsupported = anchored_log(node.node.w3, d.participant_registry, address)
    with node.node.store.read() as conn:
        sealed = node.node.store.alert_log.entries(conn, after=0, limit=100)
    alert_id = first_alert(node)
    store = node.node.store
    with store.write() as conn:
        store.alerts.set_status(
            conn, alert_id, AlertStatus.ACKNOWLEDGED, by="ops", note="on it", now=5_000
        )
    with store.write() as conn:  # seen again, unchanged: no revision
        store.alerts.record(
            conn,
            Finding(
                kind="in-transit-too-long",
                severity=AlertSeverity.MEDIUM,
                score=50,
                incident="test:1",
                detail="shipment 1 not received",
                evidence={"shipment": "0x" + "01" * 32},
                block_number=7,
            ),
            now=6_000,
        )
    with store.read() as conn:
        alert = store.alerts.get(conn, alert_id)
        count_now = store.alert_log.count(conn)

    assert anchored == (sealed[-1].hash, 2)
    assert unsupported is None
    assert [e.signature is not None for e in sealed] == [True, True]
    assert alert is not None
    assert (alert.revision, alert.occurrences, count_now) == (2, 2, 3)
    assert findings(node) == []  # before sealing
    seal(node)
    assert findings(node) == []  # and after


def test_an_alert_edited_and_one_deleted_in_the_database_are_critical(
    both: TraceNodeHarness,
) -> None:
    edited, deleted = sorted(alert_ids(both))
    resolve = update(ALERTS).where(ALERTS.c.id == edited).values(status=int(AlertStatus.RESOLVED))
    edit(both, lambda c: c.execute(resolve))
    edit(both, lambda c: c.execute(delete(ALERTS).where(ALERTS.c.id == deleted)))

    found = {f.incident: f for f in findings(both)}

    assert set(found) == {
        f"alert-log-mismatch:alert:{edited}",
        f"alert-log-mismatch:alert:{deleted}",
    }
    assert {f.severity for f in found.values()} == {AlertSeverity.CRITICAL}
    assert found[f"alert-log-mismatch:alert:{edited}"].detail == (
        f"alert {edited} was edited after revision 1 was logged"
    )
    assert found[f"alert-log-mismatch:alert:{deleted}"].detail == (
        f"alert {deleted} was deleted (the log holds its revision 1)"
    )


def test_an_alert_rolled_back_to_an_earlier_revision_is_critical(
    node: TraceNodeHarness,
) -> None:
    alert_id = first_alert(node)
    store = node.node.store
    with store.read() as conn:
        before = conn.execute(ALERTS.select().where(ALERTS.c.id == alert_id)).one()._asdict()
    with store.write() as conn:
        store.alerts.set_status(
            conn, alert_id, AlertStatus.ACKNOWLEDGED, by="ops", note="on it", now=5_000
        )
    seal(node)
    edit(node, lambda c: c.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(before)))

    (found,) = findings(node)

    assert "shows revision 1" in found.detail


def test_a_log_cut_short_disagrees_with_its_anchored_head(node: TraceNodeHarness) -> None:
    alert_id = first_alert(node)
    edit(node, lambda c: c.execute(delete(ALERTS).where(ALERTS.c.id != alert_id)))
    edit(node, lambda c: c.execute(delete(ALERT_LOG).where(ALERT_LOG.c.alert_id != alert_id)))

    details = {f.detail for f in findings(node)}

    assert any("the chain anchored 2 alert-log entries; the store holds 1" in d for d in details)


def test_anyone_checks_an_alert_from_its_json_and_the_chain(node: TraceNodeHarness) -> None:
    with node.node.store.read() as conn:
        document = alert_document(node.node.store.alerts.get(conn, first_alert(node)))  # type: ignore[arg-type]
    log = document["log"]
    d = node.node.deployment

    # The content: the RFC 8785 JSON of every field but the sightings and the log itself.
    signed = {k: v for k, v in document.items() if k not in ("occurrences", "updatedAt", "log")}
    content = keccak(canonical_json(signed))
    entry = AlertRevision(
        seq=int(log["seq"]),
        prev=bytes.fromhex(log["prev"][2:]),
        alert_id=document["id"],
        revision=document["revision"],
        content=content,
    )
    # The signature, with any EIP-712 library (eth-account here), in the log's domain.
    message = encode_typed_data(
        full_message=alert_revision_typed_data(
            entry, alert_log_domain(d.chain_id, d.anchor_registry)
        )
    )
    signer = Account.recover_message(message, signature=bytes.fromhex(log["signature"][2:]))
    # The anchor: AnchorRegistry holds the head the JSON names, at the block it names.
    registry = node.node.w3.eth.contract(
        address=d.anchor_registry,
        abi=[
            {
                "type": "function",
                "name": "alertLogAnchorOf",
                "stateMutability": "view",
                "inputs": [
                    {"name": "node", "type": "address"},
                    {"name": "head", "type": "bytes32"},
                ],
                "outputs": [
                    {
                        "name": "",
                        "type": "tuple",
                        "components": [
                            {"name": "count", "type": "uint64"},
                            {"name": "blockNumber", "type": "uint48"},
                            {"name": "timestamp", "type": "uint40"},
                        ],
                    }
                ],
            }
        ],
    )
    count, block, _ = registry.functions.alertLogAnchorOf(
        signer, bytes.fromhex(log["anchor"]["head"][2:])
    ).call()

    assert "0x" + entry.struct_hash().hex() == log["hash"]
    assert "0x" + content.hex() == log["content"]
    assert signer == node.node.config.node_address
    assert (str(count), str(block)) == (log["anchor"]["count"], log["anchor"]["blockNumber"])
    assert int(log["seq"]) <= count
    assert isinstance(document["blockNumber"], str)


def test_an_entry_rewritten_before_it_was_signed_is_not_signed(node: TraceNodeHarness) -> None:
    store = node.node.store
    with store.write() as conn:
        store.alerts.set_status(
            conn, first_alert(node), AlertStatus.RESOLVED, by="ops", note="fixed", now=5_000
        )
    rewrite = update(ALERT_LOG).where(ALERT_LOG.c.seq == 3).values(content=b"\1" * 32)
    edit(node, lambda c: c.execute(rewrite))

    signed = sealer_of(node).seal()
    details = [f.detail for f in findings(node)]

    assert signed == 0
    assert "the alert log was rewritten: entry 3's fields no longer hash to its hash" in details
