"""A small supply chain on a test node: two milk lots → cheese (a transformation) → a
pallet → the shop, with a certificate and a temperature reading, all committed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from node.events.typed_data import Action
from node.testing.harness import TraceNodeHarness

MILK = [f"https://id.gs1.org/01/09506000134352/10/MILK-{i}" for i in (1, 2)]
CHEESE = "https://id.gs1.org/01/00614142000011/10/CHEESE-1"
SLICES = "https://id.gs1.org/01/00614142000028/10/SLICES-1"
PALLET = "88.100.7/PALLET-1"


@dataclass
class Story:
    harness: TraceNodeHarness
    milk: list[str]
    cheese: str
    slices: str


def run_story(harness: TraceNodeHarness) -> Story:
    h = harness
    for lot in MILK:
        h.submit("farm", Action.COMMISSION, lot, product="milk", quantity=1000)
    h.submit("farm", Action.OBSERVE, MILK[0], payload={"certificate": "organic", "id": 7})
    for lot in MILK:
        h.submit("farm", Action.SHIP, lot, to="processor")
        h.submit("processor", Action.RECEIVE, lot)
    h.submit(
        "processor",
        Action.TRANSFORM,
        inputs=MILK,
        outputs=[CHEESE],
        product="cheese",
        quantity=200,
        payload={"bizStep": "transforming"},
    )
    h.submit(
        "processor",
        Action.TRANSFORM,
        inputs=[CHEESE],
        outputs=[SLICES],
        product="slices",
        quantity=50,
    )
    h.submit("processor", Action.SHIP, SLICES, to="carrier")
    h.submit("carrier", Action.RECEIVE, SLICES)
    h.submit(
        "carrier",
        Action.OBSERVE,
        SLICES,
        payload={"sensorReport": [{"type": "gs1:Temperature", "value": 3.5, "uom": "CEL"}]},
    )
    h.submit("carrier", Action.SHIP, SLICES, to="shop")
    h.submit("shop", Action.RECEIVE, SLICES)
    h.commit()
    return Story(h, MILK, CHEESE, SLICES)


@pytest.fixture
def story(tracenode: TraceNodeHarness) -> Story:
    return run_story(tracenode)
