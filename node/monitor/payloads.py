"""What an event says about the goods, read from its payload (the EPCIS event it was mapped
from, or the details its signer attached): how much of a batch and in what unit, the
temperatures its sensors read, where it happened.

The payload is signed, but it is the signer's word and hostile input all the same: every
reader here is total, and anything malformed reads as nothing (no finding is better than a
cycle that fails). Shapes read, first that applies:

- quantity of a batch: an EPCIS ``quantityList`` (``inputQuantityList``,
  ``outputQuantityList``, ``childQuantityList``) element whose ``epcClass`` is the batch,
  ``{"quantity": 1200, "uom": "LTR"}``; else, for an event about that batch alone,
  ``{"quantity": {"value": 1200, "uom": "LTR"}}`` (a TRANSFORM's output:
  ``outputQuantity``), as the demo and the buyer page write it; else the signed whole
  ``quantity`` in the product's own unit;
- temperatures: EPCIS ``sensorElementList[].sensorReport[]`` of type ``gs1:Temperature``
  (any spelling of it), ``value`` or ``minValue``/``maxValue``/``meanValue`` in ``uom``
  CEL, FAH or KEL (CEL when no unit is given), at the report's ``time``, else its
  element's ``sensorMetadata.time``, else the event's time;
- place: an RFC 5870 ``geo:`` URI as the ``readPoint`` or ``bizLocation`` id, else a
  location of the product table, by that id or by the signed ``location`` hash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from node.epcis.hashid import epoch_millis
from node.epcis.vocabulary import expand_curie, gs1_prefixes
from node.events.batch import BatchState
from node.events.identifiers import parse_identifier
from node.events.payload import MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH
from node.events.typed_data import Action
from node.exceptions import InvalidIdentifierError
from node.monitor.products import Coordinates, ProductTable, convert_temperature
from node.store.models import EventStatus
from node.store.records import EventRecord

QUANTITY_LISTS: Final = (
    "quantityList",
    "inputQuantityList",
    "outputQuantityList",
    "childQuantityList",
)
_GEO: Final = re.compile(
    r"geo:([-+]?[0-9]{1,3}(?:\.[0-9]+)?),([-+]?[0-9]{1,3}(?:\.[0-9]+)?)(?:,[-+]?[0-9]+(?:\.[0-9]+)?)?(?:;.*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Amount:
    """A quantity as stated: ``uom`` None means the product's own unit."""

    value: float
    uom: str | None


@dataclass(frozen=True, slots=True)
class Reading:
    """A temperature reading (its lowest and highest value, Celsius) at ``at`` (ms)."""

    at: int
    low: float
    high: float
    event_hash: bytes
    participant_id: int  # who reported it


@dataclass(frozen=True, slots=True)
class Place:
    """Where an event happened, and what said so (a geo URI, a location of the table)."""

    coordinates: Coordinates
    source: str


def hexed(data: bytes) -> str:
    """Bytes as evidence and incident keys show them: ``0x``-prefixed hex."""
    return "0x" + data.hex()


def batch_name(state: BatchState) -> str:
    """A batch as an alert names it: its identifier, else its id."""
    return state.identifier or hexed(state.batch_id)


def payload_of(record: EventRecord) -> dict[str, Any]:
    """The event's payload as an object; {} when it has none or it is not an object."""
    raw = record.payload
    if raw is None or len(raw) > MAX_PAYLOAD_BYTES or _nested_deeper(raw, MAX_PAYLOAD_DEPTH):
        return {}  # ingest never stores these: an edited store may hold anything
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _nested_deeper(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests arrays and objects deeper than ``limit`` (the parser
    recurses: a deep enough nesting overflows the C stack before Python can stop it)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def live(record: EventRecord) -> bool:
    """Whether the event counts: accepted by the node and not rejected by the chain."""
    return record.status is not EventStatus.REJECTED


def creates(record: EventRecord, batch_id: bytes) -> bool:
    """Whether the event made ``batch_id`` (commissioned it, or transformed into it)."""
    event = record.event
    if event.action is Action.COMMISSION:
        return event.batch_id == batch_id
    return event.action is Action.TRANSFORM and batch_id in event.outputs


def _finite(raw: Any) -> float | None:
    """A JSON number as a finite float; None for anything else (an integer beyond a
    float's range, a string, a bool)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _number(raw: Any) -> float | None:
    value = _finite(raw)
    return value if value is not None and value >= 0 else None


def _unit(raw: Any) -> str | None:
    return raw.strip().upper() if isinstance(raw, str) and raw.strip() else None


def _names(text: Any, batch_id: bytes) -> bool:
    if not isinstance(text, str):
        return False
    try:
        return bytes(parse_identifier(text).batch_id) == batch_id
    except InvalidIdentifierError:
        return False


def batch_amount(record: EventRecord, batch_id: bytes) -> Amount | None:
    """How much of ``batch_id`` the event states (see the module docstring); None when it
    states nothing."""
    payload = payload_of(record)
    for key in QUANTITY_LISTS:
        elements = payload.get(key)
        if not isinstance(elements, list):
            continue
        for element in elements:
            if isinstance(element, dict) and _names(element.get("epcClass"), batch_id):
                value = _number(element.get("quantity"))
                if value is not None:
                    return Amount(value, _unit(element.get("uom")))
    event = record.event
    alone = (
        event.outputs == (batch_id,)
        if event.action is Action.TRANSFORM
        else event.batch_id == batch_id and not event.inputs and not event.outputs
    )
    if not alone:
        return None
    stated = payload.get("outputQuantity" if event.action is Action.TRANSFORM else "quantity")
    if isinstance(stated, dict):
        value = _number(stated.get("value"))
        if value is not None:
            return Amount(value, _unit(stated.get("uom")))
    return Amount(float(event.quantity), None) if event.quantity else None


def output_total(record: EventRecord) -> Amount | None:
    """How much a TRANSFORM made of all its outputs together: its payload's
    ``outputQuantity``, else its signed quantity."""
    stated = payload_of(record).get("outputQuantity")
    if isinstance(stated, dict):
        value = _number(stated.get("value"))
        if value is not None:
            return Amount(value, _unit(stated.get("uom")))
    quantity = record.event.quantity
    return Amount(float(quantity), None) if quantity else None


def temperatures(record: EventRecord) -> list[Reading]:
    """The temperature readings the event's payload carries."""
    found: list[Reading] = []
    for element, report in _reports(payload_of(record)):
        kind = report.get("type")
        if not isinstance(kind, str) or not _is_temperature(kind):
            continue
        unit = _unit(report.get("uom")) or "CEL"
        values = [
            _finite(report.get(key)) for key in ("value", "minValue", "maxValue", "meanValue")
        ]
        celsius = [
            c for v in values if v is not None and (c := convert_temperature(v, unit)) is not None
        ]
        celsius = [c for c in celsius if math.isfinite(c)]
        if not celsius:
            continue
        metadata = element.get("sensorMetadata")
        at = _time(report.get("time"))
        if at is None and isinstance(metadata, dict):
            at = _time(metadata.get("time"))
        found.append(
            Reading(
                at=record.event.event_time if at is None else at,
                low=min(celsius),
                high=max(celsius),
                event_hash=record.event_hash,
                participant_id=record.participant_id,
            )
        )
    return found


def _reports(payload: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    elements = payload.get("sensorElementList")
    if not isinstance(elements, list):
        return
    for element in elements:
        if not isinstance(element, dict) or not isinstance(element.get("sensorReport"), list):
            continue
        for report in element["sensorReport"]:
            if isinstance(report, dict):
                yield element, report


def _is_temperature(kind: str) -> bool:
    prefixes = gs1_prefixes()
    return expand_curie(kind.strip(), prefixes) in (
        prefixes["gs1"] + "Temperature",
        prefixes["gs1"].replace("https://", "http://") + "Temperature",
    )


def _time(raw: Any) -> int | None:
    if not isinstance(raw, str):
        return None
    try:
        return epoch_millis(raw)
    except ValueError:
        return None


def place(record: EventRecord, table: ProductTable) -> Place | None:
    """Where the event happened, when its coordinates are known (module docstring)."""
    payload = payload_of(record)
    ids: list[str] = []
    for key in ("readPoint", "bizLocation"):
        value = payload.get(key)
        text = value.get("id") if isinstance(value, dict) else value
        if isinstance(text, str) and text.strip():
            ids.append(text.strip())
    for text in ids:
        geo = parse_geo(text)
        if geo is not None:
            return Place(geo, text)
    for text in ids:
        known = table.place(text)
        if known is not None:
            return Place(known, text)
    signed = table.places.get(record.event.location)
    return Place(signed, "0x" + record.event.location.hex()) if signed is not None else None


def parse_geo(text: str) -> Coordinates | None:
    """The latitude and longitude of an RFC 5870 ``geo:`` URI (WGS-84); None for anything
    else, or for coordinates off the globe."""
    match = _GEO.fullmatch(text.strip())
    if match is None or re.search(r";crs=(?!wgs84(;|$))", text, re.IGNORECASE):
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return Coordinates(lat, lon)
