"""The EPCIS 2.0 query interface's semantics (EPCIS 2.0 §8.2.7, SimpleEventQuery, as the
REST bindings pass it in a URL): which parameters the node answers, what each matches,
and the terms a captured event is found by.

A captured event is indexed under *terms*, ``(kind, value)`` pairs, written as the hash ID
writes values (:func:`node.epcis.hashid.canonical_value`): ``bizStep`` ``shipping``, its
CBV 1.x URN and its web URI are one term; an SGTIN URN and its Digital Link are one term.
A query's values are written the same way, so every spelling finds every spelling.

Parameters: several values of one parameter are alternatives, separated by ``|`` (or
given as repeated parameters); different parameters must all hold. Anything the node
does not answer is refused with :class:`~node.exceptions.EpcisQueryError` naming it,
never ignored: an ignored filter would return events the client did not ask for.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from node.epcis.document import EVENT_TYPES
from node.epcis.hashid import as_hash_id, canonical_value, epoch_millis
from node.events.digits import is_decimal
from node.exceptions import EpcisQueryError

#: The longest value indexed or asked for (longer values are neither).
MAX_TERM: Final = 512
#: Events per page when the client does not say (``perPage``).
DEFAULT_PER_PAGE: Final = 30


class Term(StrEnum):
    """What an indexed value is."""

    ACTION = "action"
    BIZ_STEP = "bizStep"
    DISPOSITION = "disposition"
    READ_POINT = "readPoint"
    BIZ_LOCATION = "bizLocation"
    TRANSFORMATION_ID = "transformationID"
    EVENT_ID = "eventID"  # the eventID as given, and the CBV 2.0 hash ID
    EPC = "epc"  # epcList, childEPCs
    PARENT_ID = "parentID"
    INPUT_EPC = "inputEPC"
    OUTPUT_EPC = "outputEPC"
    EPC_CLASS = "epcClass"  # quantityList, childQuantityList
    INPUT_EPC_CLASS = "inputEPCClass"
    OUTPUT_EPC_CLASS = "outputEPCClass"
    ERROR_DECLARATION = "errorDeclaration"  # present (value "")


#: Lists of EPCs and quantity lists, by the term their members are indexed under.
_EPC_LISTS: Final = (
    ("epcList", Term.EPC),
    ("childEPCs", Term.EPC),
    ("inputEPCList", Term.INPUT_EPC),
    ("outputEPCList", Term.OUTPUT_EPC),
)
_QUANTITY_LISTS: Final = (
    ("quantityList", Term.EPC_CLASS),
    ("childQuantityList", Term.EPC_CLASS),
    ("inputQuantityList", Term.INPUT_EPC_CLASS),
    ("outputQuantityList", Term.OUTPUT_EPC_CLASS),
)
#: The path under which each term's values are canonicalised (its vocabulary, if any).
_PATHS: Final[Mapping[Term, tuple[str, ...]]] = {
    Term.ACTION: ("action",),
    Term.BIZ_STEP: ("bizStep",),
    Term.DISPOSITION: ("disposition",),
    Term.READ_POINT: ("readPoint", "id"),
    Term.BIZ_LOCATION: ("bizLocation", "id"),
    Term.TRANSFORMATION_ID: ("transformationID",),
    Term.PARENT_ID: ("parentID",),
    Term.EPC: ("epc",),
    Term.INPUT_EPC: ("epc",),
    Term.OUTPUT_EPC: ("epc",),
    Term.EPC_CLASS: ("quantityList", "epcClass"),
    Term.INPUT_EPC_CLASS: ("quantityList", "epcClass"),
    Term.OUTPUT_EPC_CLASS: ("quantityList", "epcClass"),
}


def index_terms(event: Mapping[str, Any], context: Any, hash_id: str) -> list[tuple[str, str]]:
    """The terms a captured event is found by (each once), read under its ``context``."""
    found: dict[tuple[str, str], None] = {}

    def add(term: Term, raw: Any) -> None:
        if raw is None or isinstance(raw, dict | list):
            return
        value = canonical_value(raw, _PATHS[term], context)
        if value and len(value) <= MAX_TERM:
            found[(term.value, value)] = None

    for name in ("action", "bizStep", "disposition", "transformationID", "parentID"):
        add(Term(name), event.get(name))
    for name in ("readPoint", "bizLocation"):
        place = event.get(name)
        if isinstance(place, dict):
            add(Term(name), place.get("id"))
    for name, term in _EPC_LISTS:
        for epc in _list(event.get(name)):
            add(term, epc)
    for name, term in _QUANTITY_LISTS:
        for element in _list(event.get(name)):
            if isinstance(element, dict):
                add(term, element.get("epcClass"))
    event_id = event.get("eventID")
    for raw in (event_id, hash_id):
        if isinstance(raw, str) and raw.strip() and len(raw.strip()) <= MAX_TERM:
            found[(Term.EVENT_ID.value, raw.strip())] = None
    if event.get("errorDeclaration") is not None:
        found[(Term.ERROR_DECLARATION.value, "")] = None
    return list(found)


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


class Order(StrEnum):
    """What results are ordered by (``orderBy``)."""

    RECORD_TIME = "recordTime"
    EVENT_TIME = "eventTime"


@dataclass(frozen=True, slots=True)
class Match:
    """One condition: the event has a term of one of ``kinds`` with one of ``values``."""

    kinds: frozenset[str]
    values: frozenset[str]


class MasterDataTest(StrEnum):
    """How a master-data filter tests the element of an event's read point or business
    location (EPCIS 2.0 §8.2.7.1)."""

    EQUALS = "EQATTR"  # has attribute ``attribute`` with one of ``values``
    HAS = "HASATTR"  # has one of the attributes ``values``
    WITH_DESCENDANTS = "WD"  # is one of ``values`` or a descendant (the elements' children)


@dataclass(frozen=True, slots=True)
class MasterDataFilter:
    """A filter over the master data of ``field`` (``readPoint`` or ``bizLocation``):
    resolved against the shown assertions into a :class:`Match` before the store runs the
    query (node.epcis.results)."""

    test: MasterDataTest
    field: Term  # Term.READ_POINT or Term.BIZ_LOCATION
    values: frozenset[str]
    attribute: str = ""  # EQATTR_'s attribute name


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A SimpleEventQuery, parsed and checked."""

    event_types: frozenset[str] = frozenset()
    event_time: tuple[int | None, int | None] = (None, None)  # GE_, LT_ (ms)
    record_time: tuple[int | None, int | None] = (None, None)
    matches: tuple[Match, ...] = ()
    master_data: tuple[MasterDataFilter, ...] = ()
    order: Order = Order.RECORD_TIME
    descending: bool = False
    #: At most this many events in all (``eventCountLimit``), across pages.
    count_limit: int | None = None
    per_page: int = DEFAULT_PER_PAGE
    page: Cursor | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: its last event's sort key and id, and how many events the pages
    so far held (for ``eventCountLimit``)."""

    key: int
    id: int
    served: int = 0

    def token(self) -> str:
        """``nextPageToken``: opaque to the client."""
        return page_token(self.key, self.id, self.served)

    @classmethod
    def parse(cls, token: str) -> Cursor:
        key, id_, served = page_token_values(token, 3)
        if id_ < 0 or served < 0:
            raise _not_ours()
        return cls(key, id_, served)


#: A number of a page token: a signed 64-bit integer, in ASCII digits.
_TOKEN_NUMBER: Final = re.compile(r"-?[0-9]{1,19}")
_INT64: Final = range(-(2**63), 2**63)


def page_token(*values: int) -> str:
    """A ``nextPageToken`` carrying ``values`` (64-bit integers): opaque to the client."""
    text = ".".join(str(v) for v in values)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def page_token_values(token: str, count: int) -> tuple[int, ...]:
    """The ``count`` integers of a :func:`page_token`; :class:`EpcisQueryError` for a
    token this node did not give (a forged one may hold anything: numbers beyond what the
    store's integers hold once answered 500)."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (ValueError, binascii.Error):
        raise _not_ours() from None
    parts = text.split(".")
    if len(parts) != count or not all(_TOKEN_NUMBER.fullmatch(p) for p in parts):
        raise _not_ours()
    values = tuple(int(p) for p in parts)
    if not all(v in _INT64 for v in values):
        raise _not_ours()
    return values


def _not_ours() -> EpcisQueryError:
    return EpcisQueryError("nextPageToken is not one this node gave", parameter="nextPageToken")


#: ``EQ_`` parameters and the terms they compare.
_EQUALS: Final[Mapping[str, tuple[Term, ...]]] = {
    "EQ_action": (Term.ACTION,),
    "EQ_bizStep": (Term.BIZ_STEP,),
    "EQ_disposition": (Term.DISPOSITION,),
    "EQ_readPoint": (Term.READ_POINT,),
    "EQ_bizLocation": (Term.BIZ_LOCATION,),
    "EQ_transformationID": (Term.TRANSFORMATION_ID,),
    "EQ_eventID": (Term.EVENT_ID,),
}
#: ``MATCH_`` parameters and the terms they compare (EPCIS 2.0 §8.2.7.1).
_MATCHES: Final[Mapping[str, tuple[Term, ...]]] = {
    "MATCH_epc": (Term.EPC,),
    "MATCH_parentID": (Term.PARENT_ID,),
    "MATCH_inputEPC": (Term.INPUT_EPC,),
    "MATCH_outputEPC": (Term.OUTPUT_EPC,),
    "MATCH_anyEPC": (Term.EPC, Term.PARENT_ID, Term.INPUT_EPC, Term.OUTPUT_EPC),
    "MATCH_epcClass": (Term.EPC_CLASS,),
    "MATCH_inputEPCClass": (Term.INPUT_EPC_CLASS,),
    "MATCH_outputEPCClass": (Term.OUTPUT_EPC_CLASS,),
    "MATCH_anyEPCClass": (Term.EPC_CLASS, Term.INPUT_EPC_CLASS, Term.OUTPUT_EPC_CLASS),
}
_TIMES: Final = ("GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime")
_OTHERS: Final = frozenset(
    {"eventType", "EXISTS_errorDeclaration", "orderBy", "orderDirection"}
    | {"eventCountLimit", "perPage", "nextPageToken"}
)
#: Every parameter this node answers.
PARAMETERS: Final = frozenset(_EQUALS) | frozenset(_MATCHES) | frozenset(_TIMES) | _OTHERS


def parse_query(
    params: Iterable[tuple[str, str]], *, max_per_page: int, event_type: str | None = None
) -> EventQuery:
    """A query from URL parameters (repeated names allowed), or a typed error naming the
    parameter. ``event_type`` is the REST path's ``/events/{eventType}``."""
    given: dict[str, list[str]] = {}
    for name, raw in params:
        if name not in PARAMETERS and _master_data_parameter(name) is None:
            raise EpcisQueryError(_unknown(name), parameter=name)
        values = [v.strip() for v in raw.split("|")]
        if any(not v for v in values) and not name.startswith("EXISTS_"):  # those take none
            raise EpcisQueryError(f"{name} has an empty value", parameter=name)
        if any(len(v) > MAX_TERM for v in values):
            raise EpcisQueryError(
                f"{name} has a value longer than {MAX_TERM} characters", parameter=name
            )
        given.setdefault(name, []).extend(values)

    types = frozenset(given.pop("eventType", []))
    if unknown := sorted(types - EVENT_TYPES):
        raise EpcisQueryError(f"eventType {unknown[0]!r} is no EPCIS 2.0 event type", "eventType")
    if event_type is not None:
        if event_type not in EVENT_TYPES:
            raise EpcisQueryError(f"{event_type!r} is no EPCIS 2.0 event type", "eventType")
        if types and event_type not in types:
            raise EpcisQueryError(
                f"the path asks for {event_type} events and eventType for others", "eventType"
            )
        types = frozenset({event_type})

    matches: list[Match] = []
    for name, terms in (*_EQUALS.items(), *_MATCHES.items()):
        if name in given:
            matches.append(_match(name, terms, given.pop(name)))
    master_data: list[MasterDataFilter] = []
    for name in [n for n in given if n not in PARAMETERS]:
        test, place, attribute = _master_data_parameter(name) or (MasterDataTest.HAS, "", "")
        values = given.pop(name)
        if test is MasterDataTest.WITH_DESCENDANTS:
            values = [canonical_value(v, _PATHS[Term(place)]) for v in values]
        master_data.append(MasterDataFilter(test, Term(place), frozenset(values), attribute))
    if "EXISTS_errorDeclaration" in given:
        flag = _single(given, "EXISTS_errorDeclaration")
        if flag not in ("", "true"):
            raise EpcisQueryError(
                "EXISTS_errorDeclaration takes no value (or true)", "EXISTS_errorDeclaration"
            )
        matches.append(Match(frozenset({Term.ERROR_DECLARATION.value}), frozenset({""})))

    order = Order.RECORD_TIME
    if "orderBy" in given:
        value = _single(given, "orderBy")
        try:
            order = Order(value)
        except ValueError:
            raise EpcisQueryError(
                f"orderBy is eventTime or recordTime, not {value!r}", "orderBy"
            ) from None
    descending = False
    if "orderDirection" in given:
        value = _single(given, "orderDirection")
        if value not in ("ASC", "DESC"):
            raise EpcisQueryError(f"orderDirection is ASC or DESC, not {value!r}", "orderDirection")
        descending = value == "DESC"

    per_page = _count(given, "perPage", DEFAULT_PER_PAGE, 1, max_per_page)
    limit = _count(given, "eventCountLimit", None, 1, None)
    page = Cursor.parse(_single(given, "nextPageToken")) if "nextPageToken" in given else None
    times = {name: _time(name, _single(given, name)) for name in _TIMES if name in given}
    return EventQuery(
        event_types=types,
        event_time=(times.get("GE_eventTime"), times.get("LT_eventTime")),
        record_time=(times.get("GE_recordTime"), times.get("LT_recordTime")),
        matches=tuple(matches),
        master_data=tuple(master_data),
        order=order,
        descending=descending,
        count_limit=limit,
        per_page=per_page,
        page=page,
    )


#: The fields whose master data a query filters by (EQATTR_, HASATTR_, WD_).
_MASTER_DATA_FIELDS: Final = ("readPoint", "bizLocation")


#: The master-data parameters that are single names (``EQATTR_{field}_{attribute}`` is a
#: family of names), for the OpenAPI document.
MASTER_DATA_PARAMETERS: Final = tuple(
    f"{family}_{place}" for family in ("HASATTR", "WD") for place in _MASTER_DATA_FIELDS
)


def _master_data_parameter(name: str) -> tuple[MasterDataTest, str, str] | None:
    """``(test, field, attribute)`` of a master-data parameter (``EQATTR_bizLocation_…``,
    ``HASATTR_readPoint``, ``WD_bizLocation``), None for any other name."""
    family, _, rest = name.partition("_")
    if family == "EQATTR":
        place, _, attribute = rest.partition("_")
        if place in _MASTER_DATA_FIELDS and attribute.strip():
            return MasterDataTest.EQUALS, place, attribute
    elif family in ("HASATTR", "WD") and rest in _MASTER_DATA_FIELDS:
        return MasterDataTest(family), rest, ""
    return None


def _unknown(name: str) -> str:
    if name.startswith(
        ("EQ_", "GT_", "GE_", "LT_", "LE_", "MATCH_", "EXISTS_", "HASATTR_", "EQATTR_", "WD_")
    ):
        return (
            f"this node does not answer {name} (docs/epcis.md lists the query parameters "
            "it answers); it refuses rather than ignore a filter"
        )
    return f"{name} is no EPCIS query parameter"


def _match(name: str, terms: Sequence[Term], values: list[str]) -> Match:
    if name == "EQ_action" and (
        bad := [v for v in values if v not in ("ADD", "OBSERVE", "DELETE")]
    ):
        raise EpcisQueryError(f"EQ_action is ADD, OBSERVE or DELETE, not {bad[0]!r}", name)
    if any(v.startswith("urn:epc:idpat:") for v in values):
        raise EpcisQueryError(
            f"{name}: EPC patterns (urn:epc:idpat:…) are not answered; give the EPCs", name
        )
    if terms == (Term.EVENT_ID,):
        ids = {as_hash_id(v) or v for v in values}
        return Match(frozenset({Term.EVENT_ID.value}), frozenset(ids))
    canonical = {canonical_value(v, _PATHS[terms[0]]) for v in values}
    return Match(frozenset(t.value for t in terms), frozenset(canonical))


def _single(given: dict[str, list[str]], name: str) -> str:
    values = given.pop(name)
    if len(values) != 1:
        raise EpcisQueryError(f"{name} takes one value", name)
    return values[0]


def _count(
    given: dict[str, list[str]], name: str, default: int | None, low: int, high: int | None
) -> Any:
    if name not in given:
        return default
    value = _single(given, name)
    if not is_decimal(value) or int(value) < low or (high is not None and int(value) > high):
        bound = f"{low} to {high}" if high is not None else f"at least {low}"
        raise EpcisQueryError(f"{name} is a whole number, {bound}, not {value!r}", name)
    return int(value)


def _time(name: str, value: str) -> int:
    try:
        return epoch_millis(value)
    except ValueError:
        raise EpcisQueryError(
            f"{name} is a date and time with its zone (2024-05-06T08:00:00Z), not {value!r}",
            name,
        ) from None


@dataclass(frozen=True, slots=True)
class QueryPage:
    """One page of results: each event as stored (with its record time and hash ID), and
    the cursor of the next page, if any."""

    events: list[dict[str, Any]] = field(default_factory=list)
    next: Cursor | None = None
