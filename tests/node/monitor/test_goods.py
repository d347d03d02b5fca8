"""The goods rules on their own (pure functions of a batch's events and the product table):
mass balance, cold chain, impossible travel, each beside its near-miss; and the payload
readers, which take hostile JSON and never fail. The same rules on a real node: the
scenario library (test_scenarios.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection

from node.events.batch import BatchState
from node.events.hashing import keccak
from node.events.payload import canonical_json
from node.events.typed_data import ZERO32, Action, BatchStatus, TraceEvent
from node.monitor.cold_chain import check_cold_chain
from node.monitor.goods import check_goods, creation, sources
from node.monitor.mass_balance import check_shipments, check_transform
from node.monitor.payloads import batch_amount, parse_geo, place, temperatures
from node.monitor.products import Coordinates, ProductTable
from node.monitor.travel import check_travel, distance_km
from node.store.models import AlertSeverity, EventStatus
from node.store.records import BatchEvent, EventBatchRow, EventRecord, EventRow
from node.store.store import Store

TABLE = ProductTable.parse(
    """
version = 1
[products.milk]
ids = ["https://id.gs1.org/01/09506000134352"]
unit = "KGM"
density = 1.03
temperature = { min = 0.0, max = 6.0 }
[products.cheese]
ids = ["https://id.gs1.org/01/09506000134369"]
unit = "KGM"
temperature = { min = 32.0, max = 41.0, unit = "FAH" }
made_from.milk = { ratio = 10.0, tolerance = 0.15 }
[locations]
"urn:epc:id:sgln:0614141.00001.0" = { lat = 47.2692, lon = 11.4041 }
"urn:epc:id:sgln:0614142.00077.0" = { lat = 51.9244, lon = 4.4777 }
"""
)
MILK = keccak(b"https://id.gs1.org/01/09506000134352")
CHEESE = keccak(b"https://id.gs1.org/01/09506000134369")
LOT_A, LOT_B, OUT = b"\xa1" * 32, b"\xa2" * 32, b"\xc1" * 32
T0 = 1_780_000_000_000
HOUR = 3_600_000


def record(
    n: int,
    action: Action,
    *,
    payload: Any = None,
    status: EventStatus = EventStatus.ANCHORED,
    **fields: Any,
) -> EventRecord:
    """Stored event number ``n`` (its hash made from ``n``)."""
    fields.setdefault("event_time", T0 + n * 60_000)
    return EventRecord(
        id=n,
        event_hash=n.to_bytes(32, "big"),
        event=TraceEvent(action, **fields),
        signer=b"\x01" * 20,
        participant_id=1,
        signature=b"",
        payload=None if payload is None else json.dumps(payload).encode(),
        status=status,
        received_at=T0,
        window_id=None,
        anchor_seq=None,
        tree_index=None,
        proof=(),
        reason=None,
    )


def state(batch_id: bytes) -> BatchState:
    return BatchState(batch_id, 1, 1, 0, BatchStatus.ACTIVE, ZERO32, ZERO32, "LOT")


def milk(n: int, batch_id: bytes, litres: float) -> EventRecord:
    return record(
        n,
        Action.COMMISSION,
        batch_id=batch_id,
        product=MILK,
        quantity=math.ceil(litres),
        payload={"quantity": {"value": litres, "uom": "LTR"}},
    )


def cheese(
    n: int, amount: float, uom: str = "KGM", inputs: tuple[bytes, ...] = (LOT_A,), **fields: Any
) -> EventRecord:
    return record(
        n,
        Action.TRANSFORM,
        inputs=inputs,
        outputs=(OUT,),
        product=CHEESE,
        quantity=math.ceil(amount),
        payload={"outputQuantity": {"value": amount, "uom": uom}},
        **fields,
    )


# ----- mass balance -----


@pytest.mark.parametrize(
    ("made", "uom", "alerts"),
    [
        (200, "KGM", 0),  # 2,000 L of milk: 2,060 kg, about 206 kg of cheese
        (236, "KGM", 0),  # within the 15 % tolerance (236.9 kg)
        (238, "KGM", 1),
        (400, "KGM", 1),
        (236_000, "GRM", 0),  # units matter: a big number, the same cheese
        (300_000, "GRM", 1),
        (600, "LBR", 1),  # 272 kg
    ],
)
def test_cheese_beyond_what_its_milk_yields_is_high(made: float, uom: str, alerts: int) -> None:
    transform = cheese(2, made, uom)

    found = check_transform(transform, {LOT_A: milk(1, LOT_A, 2000)}, TABLE)

    assert len(found) == alerts
    if found:
        assert (found[0].kind, found[0].severity) == ("mass-balance", AlertSeverity.HIGH)
        assert found[0].incident == "mass-balance:0x" + transform.event_hash.hex()
        assert found[0].evidence["inputs"][0]["quantity"] == 2060.0
        assert "more than the inputs allow" in found[0].detail


def test_mass_balance_sums_every_counted_input_and_names_them() -> None:
    transform = cheese(3, 300, inputs=(LOT_A, LOT_B))
    made = {LOT_A: milk(1, LOT_A, 1000), LOT_B: milk(2, LOT_B, 1000)}

    (found,) = check_transform(transform, made, TABLE)

    assert found.evidence["yield"] == 206.0
    assert "300 kg of cheese were made from 2,060 kg of milk" in found.detail


def test_mass_balance_is_silent_on_what_it_cannot_weigh() -> None:
    unknown_unit = record(
        1,
        Action.COMMISSION,
        batch_id=LOT_A,
        product=MILK,
        quantity=5,
        payload={"quantity": {"value": 5, "uom": "H87"}},
    )  # pieces of milk?
    unlisted = record(1, Action.COMMISSION, batch_id=LOT_A, product=keccak(b"wine"), quantity=9)

    assert check_transform(cheese(2, 400), {LOT_A: unknown_unit}, TABLE) == []
    assert check_transform(cheese(2, 400), {}, TABLE) == []  # its input not found
    assert check_transform(cheese(2, 400), {LOT_A: unlisted}, TABLE) == []  # not a recipe
    rejected = cheese(2, 400, status=EventStatus.REJECTED)
    assert check_transform(rejected, {LOT_A: milk(1, LOT_A, 2000)}, TABLE) == []


def test_shipping_more_than_the_lot_holds_is_high_and_each_leg_counts_alone() -> None:
    made = milk(1, LOT_A, 1000)

    def ship(n: int, litres: float) -> EventRecord:
        payload = {"quantity": {"value": litres, "uom": "LTR"}}
        return record(n, Action.SHIP, batch_id=LOT_A, payload=payload)

    received = record(3, Action.RECEIVE, batch_id=LOT_A)
    honest = [made, ship(2, 1010), received, ship(4, 1000)]
    inflated = [made, ship(2, 1000), received, ship(4, 2000)]

    assert check_shipments(state(LOT_A), honest, made, TABLE) == []
    (found,) = check_shipments(state(LOT_A), inflated, made, TABLE)
    assert (found.kind, found.severity) == ("shipped-exceeds-held", AlertSeverity.HIGH)
    assert found.event_hash == inflated[-1].event_hash
    assert found.evidence["shipments"] == ["0x" + inflated[-1].event_hash.hex()]


# ----- cold chain -----


def readings(start: int, celsius: list[float], every_minutes: int = 60) -> list[EventRecord]:
    return [
        record(
            start + i,
            Action.OBSERVE,
            batch_id=LOT_A,
            event_time=T0 + i * every_minutes * 60_000,
            payload={
                "sensorElementList": [
                    {"sensorReport": [{"type": "gs1:Temperature", "value": c, "uom": "CEL"}]}
                ]
            },
        )
        for i, c in enumerate(celsius)
    ]


@pytest.mark.parametrize(
    ("celsius", "graded"),
    [
        ([4.0, 4.4, 3.9], []),
        ([4.0, 6.4, 6.2, 4.0], []),  # within the half-degree tolerance of 6 °C
        ([4.0, 15.0, 4.0], [AlertSeverity.MEDIUM]),  # a single spike, however far
        ([4.0, 9.0, 9.2, 9.1, 9.0, 4.5], [AlertSeverity.HIGH]),  # three hours at 9 °C
        ([4.0, 7.0, 7.0, 4.0], [AlertSeverity.MEDIUM]),  # an hour, one degree: 1 °C·h
        ([-2.0, 4.0, 10.0, 10.0], [AlertSeverity.MEDIUM, AlertSeverity.HIGH]),
    ],
)
def test_cold_chain_excursions_are_graded_by_how_far_and_how_long(
    celsius: list[float], graded: list[AlertSeverity]
) -> None:
    found = check_cold_chain(
        state(LOT_A), readings(1, celsius), TABLE.products["milk"], TABLE.cold_chain
    )

    assert [f.severity for f in found] == graded
    assert all(f.kind == "cold-chain" for f in found)


def test_an_excursion_that_goes_on_is_the_same_incident_escalated() -> None:
    early = readings(1, [4.0, 9.0])  # a reading at 9 °C: so far, a spike
    later = readings(1, [4.0, 9.0, 9.0, 9.0])  # still there two hours on
    milk_product = TABLE.products["milk"]

    (first,) = check_cold_chain(state(LOT_A), early, milk_product, TABLE.cold_chain)
    (second,) = check_cold_chain(state(LOT_A), later, milk_product, TABLE.cold_chain)

    assert first.incident == second.incident
    assert (first.severity, second.severity) == (AlertSeverity.MEDIUM, AlertSeverity.HIGH)


def test_readings_in_fahrenheit_from_a_logger_upload_are_converted() -> None:
    upload = record(
        1,
        Action.OBSERVE,
        batch_id=OUT,
        payload={
            "sensorElementList": [
                {
                    "sensorMetadata": {"time": "2026-06-01T10:00:00Z"},
                    "sensorReport": [
                        {"type": "https://gs1.org/voc/Temperature", "value": 39, "uom": "FAH"},
                        {
                            "type": "gs1:Temperature",
                            "minValue": 40,
                            "maxValue": 48,
                            "uom": "FAH",
                            "time": "2026-06-01T11:00:00.000+00:00",
                        },
                        {
                            "type": "gs1:Temperature",
                            "value": 48,
                            "uom": "FAH",
                            "time": "2026-06-01T13:00:00Z",
                        },
                        {"type": "gs1:Humidity", "value": 99, "uom": "P1"},
                    ],
                }
            ]
        },
    )

    (found,) = check_cold_chain(state(OUT), [upload], TABLE.products["cheese"], TABLE.cold_chain)

    assert found.severity is AlertSeverity.HIGH  # two hours near 9 °C
    assert found.evidence["minutes"] == 120
    assert [r["max"] for r in found.evidence["readings"]] == pytest.approx([8.89, 8.89], abs=0.01)


# ----- impossible travel -----


def at(n: int, where: str, minutes: int, action: Action = Action.OBSERVE) -> EventRecord:
    return record(
        n,
        action,
        batch_id=LOT_A,
        event_time=T0 + minutes * 60_000,
        location=keccak(where.encode()),
        payload={"bizLocation": {"id": where}} if where.startswith("geo:") else None,
    )


@pytest.mark.parametrize(
    ("route", "alerts"),
    [
        # Innsbruck -> Rotterdam (719 km): 20 minutes is impossible, 7 hours is not
        ([("urn:epc:id:sgln:0614141.00001.0", 0), ("urn:epc:id:sgln:0614142.00077.0", 20)], 1),
        ([("urn:epc:id:sgln:0614141.00001.0", 0), ("urn:epc:id:sgln:0614142.00077.0", 420)], 0),
        # an unknown site between them hides nothing: the known ones are compared
        (
            [
                ("urn:epc:id:sgln:0614141.00001.0", 0),
                ("urn:epc:id:sgln:0614141.00999.0", 10),
                ("urn:epc:id:sgln:0614142.00077.0", 20),
            ],
            1,
        ),
        # geo: URIs; the same place at the same moment, or a few metres off
        ([("geo:47.2692,11.4041", 0), ("geo:50.1109,8.6821;u=20", 60)], 1),
        ([("geo:47.2692,11.4041", 0), ("geo:47.2693,11.4042", 0)], 0),
        ([("urn:epc:id:sgln:0614141.00001.0", 0), ("https://id.gs1.org/414/0614141000012", 0)], 0),
    ],
)
def test_consecutive_places_too_far_apart_for_the_time_between(
    route: list[tuple[str, int]], alerts: int
) -> None:
    events = [at(i + 1, where, minutes) for i, (where, minutes) in enumerate(route)]

    found = check_travel(state(LOT_A), events, TABLE.products["milk"], TABLE)

    assert len(found) == alerts
    assert all((f.kind, f.severity) == ("impossible-travel", AlertSeverity.MEDIUM) for f in found)


def test_travel_follows_claimed_times_not_the_order_of_acceptance() -> None:
    late_entry = at(2, "urn:epc:id:sgln:0614142.00077.0", 600)  # entered first, happened later
    events = [at(1, "urn:epc:id:sgln:0614141.00001.0", 0), late_entry]

    assert check_travel(state(LOT_A), list(reversed(events)), None, TABLE) == []
    assert distance_km(Coordinates(47.2692, 11.4041), Coordinates(51.9244, 4.4777)) == (
        pytest.approx(718.5, abs=0.5)
    )


def test_check_goods_judges_a_transformation_once_from_its_first_output() -> None:
    transform = record(
        2,
        Action.TRANSFORM,
        inputs=(LOT_A,),
        outputs=(OUT, LOT_B),
        product=CHEESE,
        quantity=500,
    )
    made_from = {LOT_A: milk(1, LOT_A, 2000)}

    first = check_goods(state(OUT), [transform], made_from, TABLE)
    second = check_goods(state(LOT_B), [transform], made_from, TABLE)

    assert [f.kind for f in first] == ["mass-balance"]
    assert second == []
    assert creation(OUT, [transform]) is transform


def _stored(store: Store, records: list[EventRecord]) -> list[EventRecord]:
    """``records`` stored as accepted (a transformation linked to its inputs and
    outputs), read back as the store gives them."""
    rows = [
        EventRow(
            event_hash=r.event_hash,
            action=int(r.action),
            batch_id=r.event.batch_id,
            prev_event_hash=r.event.prev_event_hash,
            inputs=b"".join(r.event.inputs),
            input_prev_hashes=b"".join(r.event.input_prev_hashes),
            outputs=b"".join(r.event.outputs),
            counterparty=r.event.counterparty,
            product=r.event.product,
            quantity=str(r.event.quantity),
            event_time=r.event.event_time,
            location=r.event.location,
            payload_hash=r.event.payload_hash,
            nonce=r.id.to_bytes(32, "big"),
            signer=r.signer,
            participant_id=r.participant_id,
            signature=r.signature,
            payload=r.payload,
            status=int(r.status),
            received_at=r.received_at,
        )
        for r in records
    ]
    links = [
        EventBatchRow(batch_id=b, event_hash=r.event_hash)
        for r in records
        for b in r.event.batch_ids() - {r.event.batch_id}
    ]
    with store.write() as conn:
        store.events.store_accepted(conn, rows, links=links)
    with store.read() as conn:
        return store.events.after(conn, after=0, limit=len(records))


def test_sources_reads_the_inputs_it_was_not_given_whole(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    commission, transform = _stored(store, [milk(1, LOT_A, 2000), cheese(2, 200.0)])
    read: list[list[bytes]] = []
    of_batches = store.events.of_batches

    def reading(conn: Connection, ids: Sequence[bytes], **kw: Any) -> list[BatchEvent]:
        read.append(list(ids))
        return of_batches(conn, ids, **kw)

    monkeypatch.setattr(store.events, "of_batches", reading)
    with store.read() as conn:
        # The monitor read OUT's events: the transformation names LOT_A too, but LOT_A's
        # other events (its commission) were not read.
        partial = sources(conn, store, {OUT: [transform], LOT_A: [transform]}, complete={OUT})
        assert read == [[LOT_A]]
        # Both batches read whole: nothing more is read.
        whole = sources(
            conn,
            store,
            {OUT: [transform], LOT_A: [commission, transform]},
            complete={OUT, LOT_A},
        )
        assert read == [[LOT_A]]
        # Nothing said to be whole: every input is read, as before.
        unsaid = sources(conn, store, {OUT: [transform], LOT_A: [commission, transform]})
        assert read == [[LOT_A], [LOT_A]]

    assert partial == whole == unsaid == {LOT_A: commission}
    assert check_transform(transform, partial, TABLE) == []


# ----- hostile payloads -----

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "quantity",
        "outputQuantity",
        "quantityList",
        "sensorElementList",
        "sensorReport",
        "readPoint",
        "bizLocation",
        "value",
        "uom",
        "type",
        "time",
        "epcClass",
        "id",
    ]
)
SHAPED = st.recursive(
    JSON,
    lambda inner: st.dictionaries(KEYS, inner, max_size=4) | st.lists(inner, max_size=3),
    max_leaves=30,
)


@given(SHAPED)
def test_the_payload_readers_take_any_json_and_never_fail(payload: Any) -> None:
    event = record(1, Action.OBSERVE, batch_id=LOT_A, payload=payload, quantity=3)

    amount = batch_amount(event, LOT_A)
    found = temperatures(event)
    where = place(event, TABLE)

    assert amount is None or (amount.value >= 0 and math.isfinite(amount.value))
    assert all(math.isfinite(r.low) and r.low <= r.high for r in found)
    assert where is None or -90 <= where.coordinates.lat <= 90


@given(st.text(max_size=60))
def test_geo_uris_parse_or_read_as_nothing(text: str) -> None:
    found = parse_geo(text)

    assert found is None or (-90 <= found.lat <= 90 and -180 <= found.lon <= 180)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("geo:47.2692,11.4041", (47.2692, 11.4041)),
        ("GEO:-33.9,151.2,40;u=10", (-33.9, 151.2)),
        ("geo:47.2,11.4;crs=wgs84", (47.2, 11.4)),
        ("geo:47.2,11.4;crs=epsg:3857", None),  # another datum: not ours to read
        ("geo:91,11", None),
        ("geo:47.2", None),
        ("urn:epc:id:sgln:0614141.00001.0", None),
    ],
)
def test_geo_uris(uri: str, expected: tuple[float, float] | None) -> None:
    found = parse_geo(uri)

    assert (None if found is None else (found.lat, found.lon)) == expected


@pytest.mark.parametrize(
    "value",
    [10**400, 1e308, -(10**400), "12", True, None, [], {"value": 1}],
)
def test_numbers_no_real_lot_or_reading_could_have_raise_nothing_and_never_fail(
    value: Any,
) -> None:
    """A signer may put an integer beyond any float, or a float that overflows once
    converted, where a quantity or a reading goes: the rules ignore it (a failing rule
    would stop the whole cycle, and every other rule with it)."""
    made = record(
        1,
        Action.COMMISSION,
        batch_id=LOT_A,
        product=MILK,
        quantity=2**256 - 1,
        payload={"quantity": {"value": value, "uom": "MTQ"}},
    )
    transform = record(
        2,
        Action.TRANSFORM,
        inputs=(LOT_A,),
        outputs=(OUT,),
        product=CHEESE,
        quantity=1,
        payload={"outputQuantity": {"value": value, "uom": "TNE"}},
    )
    reading = record(
        3,
        Action.OBSERVE,
        batch_id=LOT_A,
        payload={
            "sensorElementList": [{"sensorReport": [{"type": "gs1:Temperature", "value": value}]}]
        },
    )
    ship = record(4, Action.SHIP, batch_id=LOT_A, payload={"quantity": {"value": value}})

    for events, batch in (([made, reading, ship], LOT_A), ([transform], OUT)):
        check_goods(state(batch), events, {LOT_A: made}, TABLE)  # no exception

    spikes = check_cold_chain(state(LOT_A), [reading], TABLE.products["milk"], TABLE.cold_chain)

    assert check_transform(transform, {LOT_A: made}, TABLE) == []
    assert len(spikes) == (1 if value == 1e308 else 0)  # a finite reading is a reading
    assert all(canonical_json(dict(f.evidence)) for f in spikes)  # the store can keep it


def test_a_stored_payload_no_reader_can_parse_reads_as_nothing() -> None:
    deep = record(1, Action.OBSERVE, batch_id=LOT_A)
    nested = b"[" * 100_000 + b"]" * 100_000  # only an edited store could hold it

    assert temperatures(replace(deep, payload=nested)) == []
    assert temperatures(replace(deep, payload=b"NaN")) == []
    assert batch_amount(replace(deep, payload=b"{not json"), LOT_A) is None
