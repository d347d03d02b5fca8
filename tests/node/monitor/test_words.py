"""Alerts in plain words (node.monitor.words): every rule says a sentence of its own, from
its evidence, that names no one; the page gets only open high and critical alerts, and of
them only the rule, severity, status, time and sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.monitor.alertlog import KIND as ALERT_LOG_KIND
from node.monitor.words import PLAIN_WORDS, page_alerts, plain_words
from node.store.models import AlertSeverity, AlertStatus
from node.store.records import AlertRecord

MONITOR = Path(__file__).resolve().parents[3] / "node" / "monitor"


def rule_kinds() -> set[str]:
    """Every rule name a Finding is made with in node/monitor."""
    found = {ALERT_LOG_KIND}
    for path in MONITOR.glob("*.py"):
        found |= set(re.findall(r'\bkind="([a-z0-9-]+)"', path.read_text()))
    return found


def test_every_rule_has_its_sentence() -> None:
    assert rule_kinds() - set(PLAIN_WORDS) == set()


@pytest.mark.parametrize("kind", sorted(PLAIN_WORDS))
@pytest.mark.parametrize(
    "evidence",
    [{}, {"after": "junk", "actions": 7, "policyHours": "x", "batch": None}],
    ids=["empty", "junk"],
)
def test_a_sentence_never_fails_and_names_no_one(kind: str, evidence: dict[str, object]) -> None:
    said = plain_words(kind, evidence)

    assert said.endswith(".")
    assert "0x" not in said


def test_a_recall_breach_says_what_was_done_after_the_recall() -> None:
    made_from = {"recalled": "0xaa", "batch": "0xbb", "actions": ["RECEIVE", "SHIP"]}
    itself = {"recalled": "0xaa", "batch": "0xaa", "actions": ["OBSERVE"]}

    assert plain_words("recall-breach", made_from) == (
        "This lot is made from a recalled lot, and was received and shipped after that recall."
    )
    assert plain_words("recall-breach", itself) == "This lot was inspected after it was recalled."


def test_a_rule_without_a_sentence_gets_a_general_one() -> None:
    assert plain_words("no-such-rule", {"secret": "0xdead"}) == (
        "The node's monitor found a problem with the records of this lot."
    )


def alert(n: int, severity: AlertSeverity, status: AlertStatus) -> AlertRecord:
    return AlertRecord(
        id=n,
        kind="recall-breach",
        severity=severity,
        score=88,
        incident=f"i{n}",
        status=status,
        batch_id=bytes(32),
        event_hash=bytes(32),
        participant_id=4,
        detail="Lot X was handled by participant 0x1234 …",
        evidence={"recalled": "0x01", "batch": "0x02", "actions": ["SHIP"]},
        detected_at=1_000 * n,
        updated_at=1_000 * n,
        occurrences=1,
        block_number=9,
        handled_by="ops",
        note="private note",
    )


def test_the_page_gets_open_high_and_critical_alerts_in_plain_words_only() -> None:
    alerts = [
        alert(1, AlertSeverity.CRITICAL, AlertStatus.OPEN),
        alert(2, AlertSeverity.HIGH, AlertStatus.ACKNOWLEDGED),
        alert(3, AlertSeverity.MEDIUM, AlertStatus.OPEN),
        alert(4, AlertSeverity.CRITICAL, AlertStatus.RESOLVED),
        alert(5, AlertSeverity.CRITICAL, AlertStatus.FALSE_POSITIVE),
    ]

    shown = page_alerts(alerts)

    assert [(a["severity"], a["status"], a["since"]) for a in shown] == [
        ("critical", "open", 1_000),
        ("high", "acknowledged", 2_000),
    ]
    assert all(set(a) == {"rule", "severity", "status", "since", "says"} for a in shown)
    assert "0x" not in repr(shown)
    assert "private note" not in repr(shown)


def test_the_goods_rules_say_what_went_wrong_in_numbers() -> None:
    made = {"made": {"quantity": 14.0, "unit": "KGM", "product": "cheese"}, "yield": 10.0}
    cold = {"safeRange": {"min": 0, "max": 6, "unit": "CEL"}, "minutes": 180, "peak": 9.0}

    assert plain_words("mass-balance", made) == (
        "More cheese was recorded as made (14 kg) than its inputs can yield (about 10 kg, "
        "40 % more)."
    )
    assert plain_words("cold-chain", cold) == (
        "This lot was recorded outside its safe temperature range (0 to 6 °C) for about 3 "
        "hours, reaching 9.0 °C."
    )
    assert plain_words("impossible-travel", {"km": 800.0, "hours": 0.5}) == (
        "This lot is recorded at two places 800.0 km apart within 30 minutes, faster than it "
        "can travel."
    )
