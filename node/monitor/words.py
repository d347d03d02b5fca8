"""Alerts in plain words, for the buyer's page (docs/monitor.md, "On the buyer's page").

Each rule says its own sentence from its alert's evidence, next to the rule itself; this
table names them. A sentence speaks of "this lot" and of what happened, never of who:
no participant, address, key or other partner's batch appears in it, so the page can
show it to anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from node.monitor import (
    access,
    alertlog,
    cold_chain,
    custody,
    equivocation,
    integrity,
    mass_balance,
    travel,
)
from node.store.models import AlertSeverity, AlertStatus
from node.store.records import AlertRecord

#: A rule's sentence from its alert's evidence.
Sayer = Callable[[Mapping[str, Any]], str]

#: Every rule's sentence, by the rule's name (``Finding.kind``).
PLAIN_WORDS: Final[Mapping[str, Sayer]] = {
    "window-root-mismatch": integrity.say_window_root,
    "root-not-on-chain": integrity.say_root_not_on_chain,
    "anchored-event-missing": integrity.say_event_missing,
    "state-root-mismatch": integrity.say_state_root,
    "window-fraudulent": integrity.say_window_fraudulent,
    "event-altered": integrity.say_event_altered,
    "custody-mismatch": integrity.say_custody,
    "recall-breach": custody.say_recall_breach,
    "in-transit-too-long": custody.say_in_transit,
    "event-time-skew": custody.say_time_skew,
    "event-time-order": custody.say_time_order,
    alertlog.KIND: alertlog.say_alert_log,
    "mass-balance": mass_balance.say_mass_balance,
    "shipped-exceeds-held": mass_balance.say_shipped_exceeds_held,
    "cold-chain": cold_chain.say_cold_chain,
    "impossible-travel": travel.say_travel,
    "equivocation": equivocation.say_equivocation,
    "recall-breach-refused": custody.say_refused_recall,
    **{kind: access.say_access(kind) for kind in access.GRADES},
}

#: What the page shows: open or acknowledged alerts, high and critical.
PAGE_SEVERITY: Final = AlertSeverity.HIGH
_LIVE: Final = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


def plain_words(kind: str, evidence: Mapping[str, Any]) -> str:
    """The sentence of rule ``kind`` for this evidence (a rule without one, or evidence it
    cannot read, gets a general sentence: the page never fails over an alert)."""
    sayer = PLAIN_WORDS.get(kind)
    if sayer is not None:
        try:
            return sayer(evidence)
        except (TypeError, ValueError, KeyError):
            pass
    return "The node's monitor found a problem with the records of this lot."


def page_alerts(alerts: Sequence[AlertRecord]) -> list[dict[str, Any]]:
    """What the buyer's page says of a lot's alerts: for each open (or acknowledged) high
    or critical one, the rule, its severity, whether someone is on it, since when, and its
    sentence. Nothing else leaves: no evidence, participant, key or detail."""
    return [
        {
            "rule": a.kind,
            "severity": a.severity.name.lower(),
            "status": a.status.name.lower(),
            "since": a.detected_at,
            "says": plain_words(a.kind, a.evidence),
        }
        for a in alerts
        if a.severity >= PAGE_SEVERITY and a.status in _LIVE
    ]
