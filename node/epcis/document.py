"""EPCIS 2.0 JSON / JSON-LD documents: bounded parsing, GS1 schema validation, the events.

Three shapes are taken, as GS1 and real systems publish them:

- an ``EPCISDocument``, events at ``/epcisBody/eventList/{i}``;
- an ``EPCISQueryDocument``, events at ``/epcisBody/queryResults/resultsBody/eventList/{i}``;
- a bare event (``"type": "ObjectEvent"`` ... with its own ``@context``), event 0 at ``""``.

Every document is checked against GS1's EPCIS 2.0 JSON Schema (vendored) with format
checks on (``date-time`` through rfc3339-validator, ``uri`` through rfc3986-validator),
after bounds on size, nesting and count that hold before any recursion happens. A
failure raises an :class:`~node.exceptions.EpcisError` naming the event (its index in the
event list) and the JSON pointer of the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

from node.epcis.vocabulary import schema_text, vocabulary, web_vocabulary
from node.epcis.xmldoc import looks_like_xml, parse_xml
from node.events.jsonsafe import nesting_depth
from node.exceptions import EpcisDocumentError, EpcisError, EpcisLimitError

MAX_DOCUMENT_BYTES: Final = 4 * 1024 * 1024
MAX_DEPTH: Final = 40
MAX_VALUES: Final = 250_000
MAX_STRING: Final = 16_384
MAX_EVENTS: Final = 1_000
EVENT_TYPES: Final = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent"}
    | {"AssociationEvent"}
)
_EVENT_LISTS: Final = {
    "EPCISDocument": ("epcisBody", "eventList"),
    "EPCISQueryDocument": ("epcisBody", "queryResults", "resultsBody", "eventList"),
}


@dataclass(frozen=True, slots=True)
class EpcisEvent:
    """One event of a document: where it is, its JSON as given, and its ``@context``."""

    index: int
    pointer: str  # JSON pointer of the event in the document
    data: dict[str, Any]
    context: Any  # the document's @context, then the event's own (a list when both)

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))


@dataclass(frozen=True, slots=True)
class EpcisDocument:
    kind: str  # "EPCISDocument", "EPCISQueryDocument" or "event"
    data: dict[str, Any]
    events: tuple[EpcisEvent, ...]


def pointer(path: Sequence[str | int]) -> str:
    """An RFC 6901 JSON pointer for a path of keys and indexes."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def load_json(data: bytes | str, *, what: str = "document") -> Any:
    """Parse JSON of at most MAX_DOCUMENT_BYTES, refusing what cannot be parsed safely."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_DOCUMENT_BYTES:
        raise EpcisLimitError(f"the {what} is {size} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    raw = data.encode() if isinstance(data, str) else data
    if nesting_depth(raw) > MAX_DEPTH:
        raise EpcisLimitError(f"the {what} is nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise EpcisLimitError(f"the {what} is nested too deeply to parse") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EpcisDocumentError(f"the {what} is not JSON: {exc}") from None
    except ValueError as exc:
        raise EpcisDocumentError(f"the {what} is not JSON: {exc}") from None


def load_document(data: bytes, *, what: str = "document") -> Any:
    """A document file's content: the text of an XML document (which travels as a string,
    see :func:`parse_document`), else parsed JSON."""
    if not looks_like_xml(data):
        return load_json(data, what=what)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise EpcisLimitError(f"the {what} is {len(data)} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise EpcisDocumentError(f"the XML {what} is not UTF-8 (the encoding taken)") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_bounds(value: Any, *, base: str = "") -> None:
    """Depth, size and string bounds, checked iteratively before anything recurses."""
    pending: list[tuple[Any, int, str]] = [(value, 0, base)]
    count = 0
    while pending:
        item, depth, where = pending.pop()
        count += 1
        if count > MAX_VALUES:
            raise EpcisLimitError(f"the document holds more than {MAX_VALUES} JSON values")
        if depth > MAX_DEPTH:
            raise EpcisLimitError(
                f"the document is nested deeper than {MAX_DEPTH} levels", pointer=where
            )
        if isinstance(item, str) and len(item) > MAX_STRING:
            raise EpcisLimitError(
                f"a string of {len(item)} characters (at most {MAX_STRING})", pointer=where
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if len(key) > MAX_STRING:
                    raise EpcisLimitError("a member name is too long", pointer=where)
                pending.append((child, depth + 1, f"{where}/{_escape(key)}"))
        elif isinstance(item, list):
            pending.extend((child, depth + 1, f"{where}/{i}") for i, child in enumerate(item))


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


@cache
def gs1_schema() -> Draft7Validator:
    """GS1's EPCIS 2.0 JSON Schema, format checks on: what capture validates with."""
    schema = json.loads(schema_text("EPCIS-JSON-Schema.json"))
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def parse_document(document: Any) -> EpcisDocument:
    """Validate an EPCIS 2.0 document (already parsed JSON, or an EPCIS 2.0 / 1.2 XML
    document as a string: node.epcis.xmldoc) and list its events."""
    if isinstance(document, str):
        return _parse_xml(document)
    if not isinstance(document, dict):
        raise EpcisDocumentError("an EPCIS document must be a JSON object")
    check_bounds(document)
    kind = document.get("type")
    if isinstance(kind, str) and kind in _EVENT_LISTS:
        path = _EVENT_LISTS[str(kind)]
        found: Any = document
        for key in path:
            found = found.get(key) if isinstance(found, dict) else None
        if not isinstance(found, list):
            raise EpcisDocumentError(
                f"an {kind} needs an event list at {pointer(path)}", pointer=pointer(path)
            )
        if len(found) > MAX_EVENTS:
            raise EpcisLimitError(
                f"the document holds {len(found)} events; the limit is {MAX_EVENTS}",
                pointer=pointer(path),
            )
        _validate(document, list(path))
        base = document.get("@context")
        events = tuple(
            EpcisEvent(i, pointer([*path, i]), event, _context(base, event))
            for i, event in enumerate(found)
        )
        return EpcisDocument(str(kind), document, events)
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        # Neither a document nor a bare event: GS1's schema constrains no other type, so
        # it would pass validation and be misread as an event missing its fields.
        legacy = (
            " (a master-data document, which EPCIS 2.0's JSON binding does not have: JSON "
            "carries master data in an EPCISDocument's epcisHeader.epcisMasterData; an XML "
            "EPCISMasterDataDocument is read so)"
            if kind == "EPCISMasterDataDocument"
            else ""
        )
        raise EpcisDocumentError(
            "not an EPCIS document: 'type' must be EPCISDocument, EPCISQueryDocument or an "
            f"event type{legacy}",
            pointer="/type",
        )
    _validate(document, None)
    return EpcisDocument("event", document, (EpcisEvent(0, "", document, document["@context"]),))


def _parse_xml(text: str) -> EpcisDocument:
    """An XML document, read as its EPCIS 2.0 JSON form and parsed as JSON documents are;
    an error found in the JSON form names the event's line in the XML too."""
    if not looks_like_xml(text):
        raise EpcisDocumentError(
            "a document given as a string must be an EPCIS XML document (EPCISDocument, "
            "EPCISQueryDocument or EPCISMasterDataDocument); send a JSON document as an object"
        )
    xml = parse_xml(text, max_bytes=MAX_DOCUMENT_BYTES)
    try:
        return parse_document(xml.data)
    except EpcisError as exc:
        if exc.event_index is not None and 0 <= exc.event_index < len(xml.lines):
            exc.args = (f"{exc} (the event at XML line {xml.lines[exc.event_index]})",)
        raise


def _context(base: Any, event: dict[str, Any]) -> Any:
    own = event.get("@context")
    if own is None:
        return base
    return [*_as_list(base), *_as_list(own)]


def _as_list(context: Any) -> list[Any]:
    if context is None:
        return []
    return list(context) if isinstance(context, list) else [context]


#: Where an event carries CBV vocabulary: (member, item key or None, vocabulary path).
_VOCABULARY_FIELDS: Final = (
    ("bizStep", None, ("bizStep",)),
    ("disposition", None, ("disposition",)),
    ("bizTransactionList", "type", ("bizTransactionList", "type")),
    ("sourceList", "type", ("sourceList", "type")),
    ("destinationList", "type", ("destinationList", "type")),
)


def _bare_word(value: Any, path: tuple[str, ...]) -> Any:
    """A CBV 1.x URN as the bare word GS1's JSON schema expects, when it is one."""
    if not isinstance(value, str) or not value.startswith("urn:epcglobal:cbv:"):
        return value
    web = web_vocabulary(value)
    return next((word for word, iri in vocabulary(path).items() if iri == web), value)


def schema_view(event: Any) -> Any:
    """The event as validated: CBV 1.x vocabulary URNs (``urn:epcglobal:cbv:bizstep:...``),
    which EPCIS 1.2 systems still send and GS1's 2.0 JSON schema excludes, read as the
    bare words they stand for. The stored event is never changed."""
    if not isinstance(event, dict):
        return event
    view = dict(event)
    for member, item, path in _VOCABULARY_FIELDS:
        if member not in view:
            continue
        if item is None:
            view[member] = _bare_word(view[member], path)
        elif isinstance(view[member], list):
            view[member] = [
                {**e, item: _bare_word(e[item], path)} if isinstance(e, dict) and item in e else e
                for e in view[member]
            ]
    declaration = view.get("errorDeclaration")
    if isinstance(declaration, dict) and "reason" in declaration:
        reason = _bare_word(declaration["reason"], ("errorDeclaration", "reason"))
        view["errorDeclaration"] = {**declaration, "reason": reason}
    sets = view.get("persistentDisposition")
    if isinstance(sets, dict):
        view["persistentDisposition"] = {
            k: [_bare_word(v, ("disposition",)) for v in vs] if isinstance(vs, list) else vs
            for k, vs in sets.items()
        }
    return view


def _view(document: dict[str, Any], events_path: list[str] | None) -> dict[str, Any]:
    if events_path is None:
        view: dict[str, Any] = schema_view(document)
        return view
    root = dict(document)
    parent = root
    for key in events_path[:-1]:
        parent[key] = dict(parent[key])
        parent = parent[key]
    last = events_path[-1]
    parent[last] = [schema_view(event) for event in parent[last]]
    return root


def _validate(document: dict[str, Any], events_path: list[str] | None) -> None:
    errors = list(_limited(gs1_schema().iter_errors(_view(document, events_path))))
    if not errors:
        return
    error = _most_specific(errors)
    path = list(error.absolute_path)
    index: int | None = None
    if events_path is None:
        index = 0
    elif path[: len(events_path)] == events_path and len(path) > len(events_path):
        candidate = path[len(events_path)]
        index = candidate if isinstance(candidate, int) else None
    missing = _missing(error)
    where = pointer([*path, missing] if missing is not None else path)
    subject = f"event {index}" if index is not None else "the document"
    field = where or "/"
    raise EpcisDocumentError(
        f"{subject} is not valid EPCIS 2.0 at {field}: {_message(error)}",
        event_index=index,
        pointer=where,
    )


def _limited(errors: Iterator[ValidationError], limit: int = 200) -> Iterator[ValidationError]:
    for count, error in enumerate(errors):
        if count >= limit:
            return
        yield error


def _most_specific(errors: list[ValidationError]) -> ValidationError:
    """The error deepest in the document: for anyOf / if-then failures, the branch error
    that names the actual field rather than the event as a whole."""
    best = best_match(errors)
    candidates = [best, *_leaves(best)]
    return max(candidates, key=lambda e: (len(e.absolute_path), e is best))


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    pending = list(error.context or ())
    while pending:
        item = pending.pop()
        yield item
        pending.extend(item.context or ())


def _message(error: ValidationError) -> str:
    text = str(error.message)
    return text if len(text) <= 300 else text[:297] + "..."


def _missing(error: ValidationError) -> str | None:
    """For a missing required member, its name (so the pointer names the field)."""
    if error.validator != "required" or not isinstance(error.instance, dict):
        return None
    return next((name for name in error.validator_value if name not in error.instance), None)
