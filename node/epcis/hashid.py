"""The CBV 2.0 EPCIS Event Hash ID: ``ni:///sha-256;{hex}?ver=CBV2.0``.

GS1's algorithm (CBV 2.0 §8.9; exemplary implementation: PyPI ``epcis-event-hash-generator``)
turns an event into a *pre-hash string* that is the same for every serialisation of the
same event, then hashes it with SHA-256 (RFC 6920 ``ni`` URI). The rules, as applied here:

- fields in the canonical property order (``ORDER`` below), each ``key=value``, concatenated
  with no separator; a list's name appears once, followed by its sorted items;
- values trimmed; CBV 1.x URNs and bare CBV words written as CBV web URIs
  (``https://ref.gs1.org/cbv/BizStep-shipping``), measurement types and the other
  ``gs1:`` words as ``https://gs1.org/voc/...``; CURIEs expanded with the document's
  prefixes; numbers without trailing zeros; EPC URIs and Digital Links as constrained
  canonical Digital Links (:mod:`node.epcis.digital_link`);
- timestamps in UTC with exactly three fractional digits (the third rounded up when the
  fourth is 5-9), ``Z`` for the zero offset;
- a typed list item (``bizTransaction``, ``source``, ``destination``) is its value then
  ``type=...``; items of a list and sub-elements of one level are sorted by their
  UTF-8 code values;
- extensions inside ``readPoint``, ``bizLocation``, ``sensorElement``, ``sensorMetadata``
  and ``sensorReport`` follow their parent's standard fields; ``ilmd``, event-level
  extensions and the typed lists come last, sorted together, keys written
  ``{namespace}localName`` for prefixes the document declares;
- ``eventID``, ``recordTime``, ``errorDeclaration`` and ``@context`` take no part;
- a field of a future EPCIS version, ``epcis:name`` in the JSON form (an element of no
  namespace inside an XML ``<extension>``), is written by its bare ``name``, as standard
  fields are and as the reference generator writes that XML element.

Where GS1's exemplary implementation and its published vectors differ from the prose
rules, the implementation is followed (typed lists sorted with the extensions, ``type``
first; certificationInfo after eventTimeZoneOffset; extension keys expanded only with
prefixes the document declares inline). Two deliberate differences, documented in
docs/epcis.md: booleans are written ``true`` / ``false`` (their XML form; the reference
JSON reader writes Python's ``True``), and a value CURIE with GS1's standard ``gs1:``,
``cbv:`` or ``epcis:`` prefix is expanded even when the document does not redeclare it
(rule 15); a timestamp whose rounding carries into the next second is carried (the
reference fails on it).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from node.epcis.digital_link import normalise_gs1_uri
from node.epcis.vocabulary import (
    expand_curie,
    gs1_prefixes,
    inline_prefixes,
    vocabulary,
    web_vocabulary,
)

HASH_ID_VERSION: Final = "CBV2.0"
#: The prefix of fields of future EPCIS versions in the JSON form (GS1's ``epcis:``).
FUTURE_FIELD_PREFIX: Final = "epcis"
IGNORED: Final = frozenset({"type", "eventID", "recordTime", "errorDeclaration", "@context"})
_COMMENTS: Final = frozenset({"comment", "rdfs:comment"})

_TIMESTAMP: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|z|[+-][0-9]{2}:[0-9]{2})"
)

_SENSOR_METADATA: Final = (
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
)
_SENSOR_REPORT: Final = (
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
)
_QUANTITY: Final = ("epcClass", "quantity", "uom")
#: Lists of typed items; GS1's reference implementation (and its published vectors) sorts
#: them with the extensions, each item written ``type=...`` then its value.
_TYPED_LISTS: Final = {
    "bizTransactionList": "bizTransaction",
    "sourceList": "source",
    "destinationList": "destination",
}


def normalise_timestamp(text: str) -> str | None:
    """An xsd:dateTimeStamp in UTC at millisecond precision (rounded half up), or None."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:  # RFC 3339's time-numoffset, as capture checks it
            return None
        offset = (1 if zone[0] == "+" else -1) * timedelta(hours=hours, minutes=minutes)
    digits = (fraction or "").ljust(4, "0")
    millis = int(digits[:3]) + (1 if digits[3] >= "5" else 0)
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        moment += timedelta(milliseconds=millis) - offset
    except (ValueError, OverflowError):  # no such date; or in UTC, before year 1 or after 9999
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_millis(text: str) -> int:
    """Milliseconds since the Unix epoch of a timestamp, rounded as the hash ID rounds."""
    normalised = normalise_timestamp(text)
    if normalised is None:
        raise ValueError(f"not an xsd:dateTimeStamp: {text!r}")
    moment = datetime.strptime(normalised, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


class _PreHash:
    """Builds one event's pre-hash string under a set of CURIE prefixes."""

    def __init__(self, prefixes: Mapping[str, str], inline: Mapping[str, str]) -> None:
        self.prefixes = prefixes
        self.inline = inline

    # ----- values -----

    def value(self, raw: Any, path: tuple[str, ...] = ()) -> str:
        if isinstance(raw, bool):
            return "true" if raw else "false"
        if isinstance(raw, int | float):
            return _number(float(raw)) if isinstance(raw, float) else str(raw)
        text = str(raw).strip()
        if not text:
            return ""
        words = vocabulary(path) if path else {}
        if text in words:
            return words[text]
        text = expand_curie(text, self.prefixes)
        text = web_vocabulary(text)
        text = _numeric_text(text)
        return normalise_gs1_uri(text)

    def key(self, name: str) -> str:
        """An extension's key as ``{namespace}localName`` (unchanged without a prefix); a
        field of a future EPCIS version (``epcis:name``, GS1's own vocabulary, not
        redeclared) as its bare name, as a standard field is written and as the XML has
        it: an element of no namespace inside ``<extension>`` (docs/epcis.md)."""
        prefix, sep, local = name.partition(":")
        if sep and prefix in self.inline:
            return "{" + self.inline[prefix] + "}" + local
        if sep and prefix == FUTURE_FIELD_PREFIX:
            return local
        return name

    def field(self, name: str, raw: Any, path: tuple[str, ...] = ()) -> str:
        if raw is None:
            return ""
        if "time" in name.lower() and "offset" not in name.lower() and isinstance(raw, str):
            stamp = normalise_timestamp(raw)
            if stamp is not None:
                return f"{name}={stamp}"
        text = self.value(raw, path or (name,))
        return f"{name}={text}" if text else ""

    # ----- structures -----

    def ordered(
        self,
        obj: Mapping[str, Any],
        order: tuple[str, ...],
        path: tuple[str, ...],
        *,
        extensions: bool,
    ) -> str:
        """``obj``'s standard fields in ``order``; its other members after them, sorted."""
        parts: list[str] = []
        for name in order:
            if name in obj:
                items = obj[name] if isinstance(obj[name], list) else [obj[name]]
                parts.append("".join(sorted(self.field(name, v, (*path, name)) for v in items)))
        if extensions:
            rest = {k: v for k, v in obj.items() if k not in order}
            parts.append(self.generic(rest))
        return "".join(parts)

    def generic(self, obj: Mapping[str, Any]) -> str:
        """Members not in the canonical order: ``{ns}local=value``, nested, sorted."""
        items: list[str] = []
        for name, raw in obj.items():
            if name in _COMMENTS or name.startswith("@"):
                continue
            key = self.key(name)
            for element in raw if isinstance(raw, list) else [raw]:
                if isinstance(element, dict):
                    text = self.value(element["#text"]) if "#text" in element else ""
                    rest = {k: v for k, v in element.items() if k != "#text"}
                    items.append(key + (f"={text}" if text else "") + self.generic(rest))
                elif element is not None:
                    text = self.value(element)
                    items.append(key + (f"={text}" if text else ""))
        return "".join(sorted(items))

    def epc_list(self, name: str, raw: Any) -> str:
        values = sorted(self.field("epc", v) for v in raw if v is not None)
        return name + "".join(values) if any(values) else ""

    def quantity_list(self, name: str, raw: Any) -> str:
        elements = sorted(
            "quantityElement" + self.ordered(q, _QUANTITY, (name,), extensions=False)
            for q in raw
            if isinstance(q, dict)
        )
        return name + "".join(elements) if elements else ""

    def typed_list(self, name: str, item: str, raw: Any) -> str:
        elements: list[str] = []
        for entry in raw if isinstance(raw, list) else []:
            if not isinstance(entry, dict):
                continue
            kind = self.value(entry["type"], (name, "type")) if "type" in entry else ""
            elements.append((f"type={kind}" if kind else "") + self.field(item, entry.get(item)))
        return name + "".join(sorted(elements)) if elements else ""

    def place(self, name: str, raw: Any) -> str:
        if not isinstance(raw, dict):
            return ""
        body = self.ordered(raw, ("id",), (name,), extensions=True)
        return name + body if body else ""

    def persistent_disposition(self, raw: Any) -> str:
        if not isinstance(raw, dict):
            return ""
        body = self.ordered(raw, ("set", "unset"), ("persistentDisposition",), extensions=False)
        return "persistentDisposition" + body if body else ""

    def sensor_elements(self, raw: Any) -> str:
        elements: list[str] = []
        for element in raw:
            if not isinstance(element, dict):
                continue
            parts = ["sensorElement"]
            meta = element.get("sensorMetadata")
            if isinstance(meta, dict):
                parts.append(
                    "sensorMetadata"
                    + self.ordered(meta, _SENSOR_METADATA, ("sensorMetadata",), extensions=True)
                )
            reports = element.get("sensorReport", [])
            path = ("sensorElementList", "sensorReport")
            parts.extend(
                sorted(
                    "sensorReport" + self.ordered(r, _SENSOR_REPORT, path, extensions=True)
                    for r in (reports if isinstance(reports, list) else [reports])
                    if isinstance(r, dict)
                )
            )
            rest = {k: v for k, v in element.items() if k not in ("sensorMetadata", "sensorReport")}
            parts.append(self.generic(rest))
            elements.append("".join(parts))
        return "sensorElementList" + "".join(sorted(elements)) if elements else ""

    def event(self, event: Mapping[str, Any]) -> str:
        parts = [f"eventType={event.get('type', '')}"]
        handled: set[str] = set(IGNORED) | set(_TYPED_LISTS)
        for name, render in _ORDER:
            handled.add(name)
            if name in event and event[name] is not None:
                parts.append(render(self, name, event[name]))
        rest = [self.generic({k: v}) for k, v in event.items() if k not in handled]
        rest += [
            self.typed_list(n, item, event[n]) for n, item in _TYPED_LISTS.items() if n in event
        ]
        parts.append("".join(sorted(rest)))
        return "".join(parts)


def _scalar(builder: _PreHash, name: str, raw: Any) -> str:
    items = raw if isinstance(raw, list) else [raw]
    return "".join(sorted(builder.field(name, v) for v in items))


_ORDER: Final[tuple[tuple[str, Callable[[_PreHash, str, Any], str]], ...]] = (
    ("eventTime", _scalar),
    ("eventTimeZoneOffset", _scalar),
    ("certificationInfo", _scalar),
    ("parentID", _scalar),
    ("epcList", _PreHash.epc_list),
    ("inputEPCList", _PreHash.epc_list),
    ("childEPCs", _PreHash.epc_list),
    ("quantityList", _PreHash.quantity_list),
    ("childQuantityList", _PreHash.quantity_list),
    ("inputQuantityList", _PreHash.quantity_list),
    ("outputEPCList", _PreHash.epc_list),
    ("outputQuantityList", _PreHash.quantity_list),
    ("action", _scalar),
    ("transformationID", _scalar),
    ("bizStep", _scalar),
    ("disposition", _scalar),
    ("persistentDisposition", lambda b, _n, raw: b.persistent_disposition(raw)),
    ("readPoint", _PreHash.place),
    ("bizLocation", _PreHash.place),
    ("sensorElementList", lambda b, _n, raw: b.sensor_elements(raw)),
)


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return str(int(value)) if value.is_integer() else repr(value)


#: A number written as text: ASCII digits, a point, an exponent (what ``float()`` reads
#: beyond this, ``"1_000"`` or other scripts' digits, stays text).
_NUMERIC: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _numeric_text(text: str) -> str:
    """Numbers written as text lose trailing zeros too (``"1.50"`` → ``1.5``)."""
    if not _NUMERIC.fullmatch(text):
        return text
    number = float(text)
    return _number(number) if math.isfinite(number) else text


_HASH_ID: Final = re.compile(r"ni:/{1,3}sha-256;([0-9a-fA-F]{64})(?:\?ver=CBV2\.0)?")


def as_hash_id(text: str) -> str | None:
    """``text`` as a CBV 2.0 hash ID in its one spelling, when it is one: a path may fold
    its ``///`` (as HTTP clients fold ``//``) or lose ``?ver=CBV2.0`` to an unencoded
    ``?``, and hex digits may be upper case. None when it is no hash ID."""
    match = _HASH_ID.fullmatch(text.strip())
    if match is None:
        return None
    return f"ni:///sha-256;{match.group(1).lower()}?ver={HASH_ID_VERSION}"


def canonical_value(raw: Any, path: tuple[str, ...], context: Any = None) -> str:
    """One value as the hash ID writes it, under ``context``: a bare CBV word at ``path``
    (``("bizStep",)``) or a CBV 1.x URN as its web URI, a CURIE expanded, an EPC URI as its
    constrained canonical Digital Link, a number without trailing zeros. Two spellings of
    one value give one string (the query interface compares these)."""
    inline = inline_prefixes(context)
    return _PreHash({**gs1_prefixes(), **inline}, inline).value(raw, path)


def pre_hash_string(event: Mapping[str, Any], context: Any = None) -> str:
    """The canonical pre-hash string of one EPCIS 2.0 JSON event under ``context`` (the
    ``@context`` in force: the document's, followed by the event's own)."""
    inline = inline_prefixes(context)
    return _PreHash({**gs1_prefixes(), **inline}, inline).event(event)


def event_hash_id(event: Mapping[str, Any], context: Any = None) -> str:
    """The CBV 2.0 event hash ID, ``ni:///sha-256;{hex}?ver=CBV2.0``."""
    digest = hashlib.sha256(pre_hash_string(event, context).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_ID_VERSION}"


#: What marks a capture key as an event's ``errorDeclaration`` rather than the event: the
#: hash ID ignores the declaration, so an event and its declaration share one hash ID, and
#: capture tells them apart by this key (docs/epcis.md, "Corrections").
DECLARED: Final = "#errorDeclaration"


def capture_key(hash_id: str, declared: bool) -> str:
    """What capture knows an event by: its hash ID, or, for an event carrying an
    ``errorDeclaration``, its hash ID marked as declared."""
    return hash_id + DECLARED if declared else hash_id


def split_capture_key(key: str) -> tuple[str, bool]:
    """The hash ID and whether it is a declaration, from a :func:`capture_key`."""
    if key.endswith(DECLARED):
        return key[: -len(DECLARED)], True
    return key, False
