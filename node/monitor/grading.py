"""The rubric that grades a finding (docs/monitor.md): impact on safety, integrity and
money, each 0-3, and the confidence of the evidence, give a score of 0-100 and a severity.

It borrows CVSS's shape (separate impact dimensions, a confidence factor, bands of a
score) without claiming to be CVSS: the dimensions are a traceability node's, and the
weights are ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from node.store.models import AlertSeverity


class Confidence(IntEnum):
    """How sure the evidence is."""

    SUSPECTED = 1  # a pattern that often has an innocent explanation
    LIKELY = 2  # a pattern with few innocent explanations
    PROVEN = 3  # cryptographic or on-chain proof: no innocent explanation


@dataclass(frozen=True, slots=True)
class Impact:
    """What the incident puts at stake, each 0 (none) to 3 (severe)."""

    safety: int = 0  # people: food safety, a recalled lot reaching a shelf
    integrity: int = 0  # the record: provenance that would mislead a buyer or auditor
    money: int = 0  # goods or fees lost, diverted or double-counted

    def __post_init__(self) -> None:
        if not all(0 <= v <= 3 for v in (self.safety, self.integrity, self.money)):
            raise ValueError("impacts are 0 to 3")


#: Score bands, from the top: a score at or above a band's floor takes its severity.
BANDS: Final = (
    (85, AlertSeverity.CRITICAL),
    (60, AlertSeverity.HIGH),
    (35, AlertSeverity.MEDIUM),
    (0, AlertSeverity.LOW),
)


#: What the worst impact alone is worth, by its level (0-3).
WORST: Final = (0, 30, 60, 85)


def score(impact: Impact, confidence: Confidence) -> int:
    """0-100: the worst impact counts most (0, 30, 60 or 85), each point of the other two
    adds 2.5, and confidence scales the whole (x1 proven, x0.8 likely, x0.55 suspected).

    So a proven severe impact is critical, a likely one high, a suspected one medium.
    """
    values = sorted((impact.safety, impact.integrity, impact.money), reverse=True)
    raw = WORST[values[0]] + (values[1] + values[2]) * 2.5
    factor = {Confidence.PROVEN: 1.0, Confidence.LIKELY: 0.8, Confidence.SUSPECTED: 0.55}
    return round(min(100.0, raw * factor[confidence]))


def severity(points: int) -> AlertSeverity:
    """The severity of a score."""
    return next(level for floor, level in BANDS if points >= floor)


def grade(impact: Impact, confidence: Confidence) -> tuple[AlertSeverity, int]:
    """Severity and score of a finding."""
    points = score(impact, confidence)
    return severity(points), points
