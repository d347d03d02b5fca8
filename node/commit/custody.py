"""A node's custody mode, chosen at ``tracenode init --custody`` (docs/operations.md,
"Choosing the custody mode").

``enforced``: BatchRegistry executes every lifecycle event of a window on-chain, one by
one, and the chain refuses what breaks a rule. ``anchor-only``: the node applies the
same rules at ingest and anchors each window with one ``AnchorRegistry.anchorWindow``
carrying its event, state and transition roots (node.proofs.transitions); verifiers
replay the rules from the bundle, and anyone may prove an invalid transition to
CustodyChallenge, which marks the window fraudulent.
"""

from __future__ import annotations

from enum import StrEnum

from node.exceptions import ConfigurationError


class CustodyMode(StrEnum):
    ENFORCED = "enforced"
    ANCHOR_ONLY = "anchor-only"

    @classmethod
    def parse(cls, text: str) -> CustodyMode:
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ConfigurationError(
                f"unknown custody mode {text[:40]!r} (one of: {choices})"
            ) from None
