"""Small supply chains for tests and benches, signed and ingested through a harness."""

from __future__ import annotations

from node.events.typed_data import Action
from node.testing.harness import TraceNodeHarness


def cheese_from_milk(h: TraceNodeHarness, milk: str, cheese: str) -> None:
    """The farm commissions ``milk`` and ships it to the processor, who receives it and
    makes ``cheese`` from it (the processor holds the cheese)."""
    h.submit("farm", Action.COMMISSION, milk, product="milk", quantity=500)
    h.submit("farm", Action.SHIP, milk, to="processor")
    h.submit("processor", Action.RECEIVE, milk)
    h.submit(
        "processor",
        Action.TRANSFORM,
        inputs=[milk],
        outputs=[cheese],
        product="cheese",
        quantity=50,
    )
