"""Mass balance: more goods out than went in. Pure functions of a batch's events and the
product table (:mod:`node.monitor.products`); :mod:`node.monitor.goods` gathers them.

- ``mass-balance`` (high): a TRANSFORM's outputs exceed what its inputs yield by more than
  the output product's conversion tolerance (10 kg of milk make about 1 kg of cheese;
  quantities in other units are converted, litres of milk to kilograms by its density);
- ``shipped-exceeds-held`` (high): what a custodian shipped of a batch, in total before it
  was received again, is more than the batch holds.

Quantities a rule cannot judge (a product not in the table, a unit that does not convert,
an input it cannot weigh) raise nothing: the rules speak only about what they can prove
from the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from node.events.batch import BatchState
from node.events.typed_data import Action
from node.monitor.grading import Confidence, Impact, grade
from node.monitor.payloads import batch_amount, batch_name, hexed, live, output_total
from node.monitor.products import Product, ProductTable, symbol
from node.store.records import EventRecord, Finding

#: Goods from nowhere: money (fraud, diluted or substituted goods), a record that lies
#: about provenance, and food of unknown origin. Yields vary: likely, not proven.
MASS_BALANCE = grade(Impact(money=3, integrity=2, safety=1), Confidence.LIKELY)
SHIPPED = grade(Impact(money=3, integrity=1), Confidence.LIKELY)


def _show(value: float) -> str:
    return f"{value:,.1f}".rstrip("0").rstrip(".")


def held(
    batch_id: bytes, creation: EventRecord, table: ProductTable
) -> tuple[Product, float] | None:
    """The product a batch is and how much of it its creation made, in the product's unit;
    None when the table cannot say."""
    product = table.product(creation.event.product)
    amount = batch_amount(creation, batch_id)
    if product is None or amount is None:
        return None
    value = product.amount(amount.value, amount.uom)
    return None if value is None else (product, value)


def _excess(made: float, nominal: float) -> str:
    ratio = made / nominal - 1 if nominal > 0 else math.inf
    if not math.isfinite(ratio * 100):
        return "more than the inputs allow"
    return f"{round(ratio * 100)} % more than the inputs allow"


def _made(transform: EventRecord, product: Product) -> float | None:
    """What a TRANSFORM made, in the product's unit: the sum of its outputs when each is
    stated, else the total it states."""
    each = [batch_amount(transform, output) for output in transform.event.outputs]
    amounts = each if all(a is not None for a in each) else [output_total(transform)]
    values = [None if a is None else product.amount(a.value, a.uom) for a in amounts]
    if any(v is None for v in values):
        return None
    total = math.fsum(v for v in values if v is not None)
    return total if math.isfinite(total) else None


def check_transform(
    transform: EventRecord, sources: Mapping[bytes, EventRecord], table: ProductTable
) -> list[Finding]:
    """A TRANSFORM whose outputs exceed what its inputs (``sources``: the event that made
    each input batch) yield under the output product's conversions."""
    made_as = table.product(transform.event.product)
    if made_as is None or not made_as.made_from or not live(transform):
        return []
    made = _made(transform, made_as)
    if made is None:
        return []
    nominal = allowed = 0.0
    inputs: list[dict[str, Any]] = []
    for batch_id in transform.event.inputs:
        source = sources.get(batch_id)
        found = None if source is None else held(batch_id, source, table)
        if found is None:
            return []  # an input it cannot weigh: no judgement
        product, quantity = found
        conversion = made_as.made_from.get(product.name)
        inputs.append(
            {
                "batch": hexed(batch_id),
                "product": product.name,
                "quantity": round(quantity, 3),
                "unit": product.unit,
                "counted": conversion is not None,
            }
        )
        if conversion is not None:
            nominal += quantity / conversion.ratio
            allowed += quantity / conversion.ratio * (1 + conversion.tolerance)
    if not math.isfinite(allowed):
        return []  # quantities beyond any real lot: nothing to weigh them against
    counted: dict[str, float] = {}
    for item in inputs:
        if item["counted"]:
            counted[item["product"]] = counted.get(item["product"], 0.0) + item["quantity"]
    if not counted or made <= allowed * (1 + 1e-9):
        return []
    severity, points = MASS_BALANCE
    units = {i["product"]: i["unit"] for i in inputs}
    used = " and ".join(
        f"{_show(q)} {symbol(units[name])} of {name}" for name, q in sorted(counted.items())
    )
    return [
        Finding(
            kind="mass-balance",
            severity=severity,
            score=points,
            incident=f"mass-balance:{hexed(transform.event_hash)}",
            detail=(
                f"{_show(made)} {symbol(made_as.unit)} of {made_as.name} were made from "
                f"{used}, which yield about {_show(nominal)} {symbol(made_as.unit)}: "
                + _excess(made, nominal)
            ),
            evidence={
                "transform": hexed(transform.event_hash),
                "made": {"quantity": round(made, 3), "unit": made_as.unit, "product": made_as.name},
                "inputs": inputs,
                "yield": round(nominal, 3),
                "allowed": round(allowed, 3),
                "conversions": {
                    name: {"ratio": c.ratio, "tolerance": c.tolerance}
                    for name, c in made_as.made_from.items()
                },
            },
            batch_id=transform.event.outputs[0],
            event_hash=transform.event_hash,
            participant_id=transform.participant_id,
        )
    ]


def check_shipments(
    state: BatchState, events: Sequence[EventRecord], creation: EventRecord, table: ProductTable
) -> list[Finding]:
    """Shipments of a batch (``events``, in the order accepted) declaring more, in total
    between two receptions, than its creation made."""
    found = held(state.batch_id, creation, table)
    if found is None:
        return []
    product, holds = found
    limit = holds * (1 + table.quantity_tolerance)
    shipped = 0.0
    leg: list[EventRecord] = []
    for record in events:
        if not live(record) or record.event.batch_id != state.batch_id:
            continue
        if record.action is Action.RECEIVE:
            shipped, leg = 0.0, []
            continue
        if record.action is not Action.SHIP:
            continue
        amount = batch_amount(record, state.batch_id)
        value = None if amount is None else product.amount(amount.value, amount.uom)
        if value is None:
            continue
        if not math.isfinite(shipped + value):
            continue
        shipped += value
        leg.append(record)
        if shipped > limit * (1 + 1e-9):
            severity, points = SHIPPED
            return [
                Finding(
                    kind="shipped-exceeds-held",
                    severity=severity,
                    score=points,
                    incident=f"shipped-exceeds-held:{hexed(leg[0].event_hash)}",
                    detail=(
                        f"{_show(shipped)} {symbol(product.unit)} of {batch_name(state)} were "
                        f"shipped; the batch holds {_show(holds)} {symbol(product.unit)}"
                    ),
                    evidence={
                        "batch": hexed(state.batch_id),
                        "created": hexed(creation.event_hash),
                        "holds": round(holds, 3),
                        "shipped": round(shipped, 3),
                        "unit": product.unit,
                        "shipments": [hexed(r.event_hash) for r in leg],
                        "tolerance": table.quantity_tolerance,
                    },
                    batch_id=state.batch_id,
                    event_hash=record.event_hash,
                    participant_id=record.participant_id,
                )
            ]
    return []


def say_mass_balance(evidence: Mapping[str, Any]) -> str:
    """``mass-balance`` in plain words, for the buyer's page."""
    made = evidence["made"]
    quantity, expected = float(made["quantity"]), float(evidence["yield"])
    unit = symbol(str(made["unit"]))
    more = f", {round((quantity / expected - 1) * 100)} % more" if expected > 0 else ""
    return (
        f"More {made['product']} was recorded as made ({_show(quantity)} {unit}) than its "
        f"inputs can yield (about {_show(expected)} {unit}{more})."
    )


def say_shipped_exceeds_held(evidence: Mapping[str, Any]) -> str:
    """``shipped-exceeds-held`` in plain words, for the buyer's page."""
    unit = symbol(str(evidence["unit"]))
    return (
        f"More of this lot was recorded as shipped ({_show(float(evidence['shipped']))} "
        f"{unit}) than it held ({_show(float(evidence['holds']))} {unit})."
    )
