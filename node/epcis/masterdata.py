"""EPCIS master data: who says what a location, a party or a product code is called.

A **master-data assertion** is an ordinary signed, anchored event of whoever asserts it:
an OBSERVE of the anchored-only record keyed by the element's id (:func:`element_key`,
the record rule of :func:`~node.events.identifiers.parse_record` with GS1 keys as their
canonical Digital Link, so an SGLN, a PGLN or a GTIN class in any spelling is one key),
whose payload is the CBV vocabulary element in canonical JSON::

    {"type": "VocabularyElement",
     "vocabularyType": "urn:epcglobal:epcis:vtype:BusinessLocation",
     "id": "urn:epc:id:sgln:0614141.00042.0",
     "attributes": [{"id": "urn:epcglobal:cbv:mda#name", "attribute": "Alpine Dairy, Plant 2"}],
     "children": []}

so it is signed (``payloadHash``), anchored (a Merkle root on-chain) and provable like any
event; its signer is who says it. :func:`parse_element` is the one parser of that payload
(ingest, capture and the gateway call it); :func:`header_elements` reads the elements of
an EPCIS document's ``epcisHeader.epcisMasterData.vocabularyList``; :func:`choose` is the
rule of which assertion a reader is shown (docs/epcis.md, "Master data").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from node.epcis.digital_link import RESOLVER, normalise_gs1_uri
from node.events.digits import is_decimal
from node.events.hashing import keccak
from node.events.identifiers import GS1_MAX_PREFIX, GS1_MIN_PREFIX, Identifier, parse_record
from node.events.payload import canonical_json
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent
from node.events.typed_data import Action, Domain, TraceEvent
from node.exceptions import InvalidIdentifierError, InvalidMasterDataError

#: The payload's ``type``: what tells a master-data assertion from any other payload.
ELEMENT_TYPE: Final = "VocabularyElement"
MAX_ATTRIBUTES: Final = 64
MAX_CHILDREN: Final = 256
MAX_URI: Final = 512
#: An attribute's value, as canonical JSON, and how deep an object value may nest.
MAX_ATTRIBUTE_BYTES: Final = 4096
MAX_ATTRIBUTE_DEPTH: Final = 4
MAX_ELEMENT_BYTES: Final = 32 * 1024
#: Elements one EPCIS document's header may carry.
MAX_HEADER_ELEMENTS: Final = 1000
_MEMBERS: Final = frozenset({"type", "vocabularyType", "id", "attributes", "children"})
_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+")
#: How CBV's master-data attribute names are spelled: the URN of EPCIS 1.x XML
#: (``urn:epcglobal:cbv:mda#name``), the 2.0 context's ``cbvmda:`` prefix and its IRI.
_MDA_PREFIXES: Final = (
    "urn:epcglobal:cbv:mda#",
    "urn:epcglobal:cbv:mda:",
    "cbvmda:",
    "https://ns.gs1.org/cbv/mda/",
)
#: CBV 2.0 attributes that make up an address, in the order they are written.
ADDRESS_ATTRIBUTES: Final = (
    "streetAddressOne",
    "streetAddressTwo",
    "streetAddressThree",
    "city",
    "state",
    "postalCode",
    "countryCode",
)
#: GS1 keys (canonical Digital Link AI) whose digits start with the GS1 company prefix,
#: and how many digits come before it (a GTIN's indicator, an SSCC's extension).
_PREFIXED_KEYS: Final = {"414": 0, "417": 0, "01": 1, "00": 1, "8004": 0}


@dataclass(frozen=True, slots=True)
class MasterDataElement:
    """One vocabulary element as asserted: its vocabulary type, its id as written, its
    record key, its attributes (``id``, value) in order and its children's ids."""

    vocabulary: str
    code: str
    key: Identifier
    attributes: tuple[tuple[str, Any], ...]
    children: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        """The payload an assertion of this element signs (see the module docstring)."""
        return {
            "type": ELEMENT_TYPE,
            "vocabularyType": self.vocabulary,
            "id": self.code,
            "attributes": [{"id": name, "attribute": value} for name, value in self.attributes],
            "children": list(self.children),
        }

    def canonical(self) -> bytes:
        """The payload's RFC 8785 form (what ``payloadHash`` commits to)."""
        return canonical_json(self.payload())

    def cbv(self, name: str) -> Any:
        """The value of CBV master-data attribute ``name`` (``name``, ``city``, ...), the
        first given in any of its spellings; None when absent."""
        for attribute, value in self.attributes:
            if cbv_name(attribute) == name:
                return value
        return None

    @property
    def name(self) -> str | None:
        value = self.cbv("name")
        return value if isinstance(value, str) else None

    @property
    def address(self) -> str | None:
        """The address attributes, joined with commas in CBV's order."""
        parts = [self.cbv(name) for name in ADDRESS_ATTRIBUTES]
        text = ", ".join(str(p) for p in parts if isinstance(p, str | int) and str(p).strip())
        return text or None


def cbv_name(attribute: str) -> str | None:
    """The local name of a CBV master-data attribute (``name`` for
    ``urn:epcglobal:cbv:mda#name``), None for an attribute of another vocabulary."""
    for prefix in _MDA_PREFIXES:
        if attribute.startswith(prefix):
            return attribute[len(prefix) :]
    return None


def element_key(code: str) -> Identifier:
    """The record key of a code that names no batch (an SGLN, a PGLN, a GTIN class, an
    SSCC, any other URI), GS1 keys as their canonical Digital Link (CBV 2.0's hash-ID
    rules): one key for every spelling. A lot, an item or a handle is refused
    (:class:`~node.exceptions.InvalidIdentifierError`): a lot's master data is its ILMD."""
    return parse_record(normalise_gs1_uri(code.strip()))


def company_prefixes(key: Identifier) -> tuple[str, ...]:
    """Where the GS1 company prefix of a record key's GS1 key can sit, longest first
    (GLNs, GTINs, SSCCs, GIAIs); empty for codes of no GS1 company prefix."""
    head = RESOLVER + "/"
    if not key.canonical.startswith(head):
        return ()
    ai, _, rest = key.canonical[len(head) :].partition("/")
    skip = _PREFIXED_KEYS.get(ai)
    digits = rest.split("/", 1)[0]
    if skip is None or not is_decimal(digits[skip:]):
        return ()
    body = digits[skip:]
    return tuple(
        body[:length] for length in range(min(GS1_MAX_PREFIX, len(body)), GS1_MIN_PREFIX - 1, -1)
    )


def parse_element(value: Any, *, vocabulary: str | None = None) -> MasterDataElement:
    """A vocabulary element, from an assertion's payload (``vocabulary`` None) or from an
    element of an EPCIS header's vocabulary of type ``vocabulary`` (no ``type`` member
    then). Raises :class:`~node.exceptions.InvalidMasterDataError` naming the member."""
    if not isinstance(value, dict):
        raise InvalidMasterDataError("a vocabulary element must be a JSON object", field="")
    allowed = _MEMBERS if vocabulary is None else _MEMBERS - {"type", "vocabularyType"}
    extra = sorted(map(str, value.keys() - allowed))
    if extra:
        raise InvalidMasterDataError(
            f"a vocabulary element has unknown members {', '.join(extra)[:200]}", field=extra[0]
        )
    if vocabulary is None:
        if value.get("type") != ELEMENT_TYPE:
            raise InvalidMasterDataError(f"the payload's type must be {ELEMENT_TYPE}", field="type")
        vocabulary = value.get("vocabularyType")
    vocabulary = _uri(vocabulary, "vocabularyType")
    code = value.get("id")
    if not isinstance(code, str):
        raise InvalidMasterDataError("a vocabulary element needs its id (a URI)", field="id")
    try:
        key = element_key(code)
    except InvalidIdentifierError as exc:
        raise InvalidMasterDataError(f"id: {exc}", field="id") from None
    attributes = _attributes(value.get("attributes", []))
    children = value.get("children", [])
    if not isinstance(children, list) or len(children) > MAX_CHILDREN:
        raise InvalidMasterDataError(
            f"children must be a list of at most {MAX_CHILDREN} URIs", field="children"
        )
    element = MasterDataElement(
        vocabulary,
        code,
        key,
        attributes,
        tuple(_uri(child, f"children/{i}") for i, child in enumerate(children)),
    )
    if len(element.canonical()) > MAX_ELEMENT_BYTES:
        raise InvalidMasterDataError(
            f"the element is over {MAX_ELEMENT_BYTES} bytes as canonical JSON", field=""
        )
    return element


def _uri(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_URI or not _URI.fullmatch(value):
        raise InvalidMasterDataError(
            f"{field} must be an absolute URI of at most {MAX_URI} characters", field=field
        )
    return value


def _attributes(raw: Any) -> tuple[tuple[str, Any], ...]:
    if not isinstance(raw, list) or len(raw) > MAX_ATTRIBUTES:
        raise InvalidMasterDataError(
            f"attributes must be a list of at most {MAX_ATTRIBUTES}", field="attributes"
        )
    found: list[tuple[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"attributes/{i}"
        if not isinstance(item, dict) or not item.keys() <= {"id", "attribute"}:
            raise InvalidMasterDataError(
                "each attribute is an object of 'id' and 'attribute'", field=where
            )
        name = _uri(item.get("id"), f"{where}/id")
        value = item.get("attribute")
        if isinstance(value, bool) or not isinstance(value, str | int | float | dict):
            raise InvalidMasterDataError(
                "an attribute's value is a string, a number or an object",
                field=f"{where}/attribute",
            )
        if isinstance(value, dict) and _depth(value) > MAX_ATTRIBUTE_DEPTH:
            raise InvalidMasterDataError(
                f"an attribute's value nests deeper than {MAX_ATTRIBUTE_DEPTH} levels",
                field=f"{where}/attribute",
            )
        try:
            size = len(canonical_json(value))
        except InvalidMasterDataError:
            raise
        except ValueError as exc:
            raise InvalidMasterDataError(str(exc), field=f"{where}/attribute") from None
        if size > MAX_ATTRIBUTE_BYTES:
            raise InvalidMasterDataError(
                f"an attribute's value is {size} bytes; the limit is {MAX_ATTRIBUTE_BYTES}",
                field=f"{where}/attribute",
            )
        found.append((name, value))
    return tuple(found)


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (the value is bounded by the payload's limits already)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_ATTRIBUTE_DEPTH:
            return depth
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


@dataclass(frozen=True, slots=True)
class HeaderElement:
    """An element of a document's header, or why it is refused, with its JSON pointer."""

    index: int
    pointer: str
    element: MasterDataElement | None
    error: InvalidMasterDataError | None = None


def header_elements(document: Mapping[str, Any]) -> list[HeaderElement]:
    """The elements of ``epcisHeader.epcisMasterData.vocabularyList`` (GS1's schema has
    validated its shape), in order, each parsed or refused on its own."""
    header = document.get("epcisHeader")
    master = header.get("epcisMasterData") if isinstance(header, dict) else None
    vocabularies = master.get("vocabularyList") if isinstance(master, dict) else None
    if not isinstance(vocabularies, list):
        return []
    found: list[HeaderElement] = []
    for v, vocabulary in enumerate(vocabularies):
        if not isinstance(vocabulary, dict):
            continue
        elements = vocabulary.get("vocabularyElementList") or []
        for e, raw in enumerate(elements if isinstance(elements, list) else []):
            where = f"/epcisHeader/epcisMasterData/vocabularyList/{v}/vocabularyElementList/{e}"
            index = len(found)
            if index >= MAX_HEADER_ELEMENTS:
                error = InvalidMasterDataError(
                    f"more than {MAX_HEADER_ELEMENTS} master-data elements", field=""
                )
                found.append(HeaderElement(index, where, None, error))
                return found
            try:
                element = parse_element(raw, vocabulary=vocabulary.get("type"))
            except InvalidMasterDataError as exc:
                field = exc.details.get("field", "")
                found.append(
                    HeaderElement(index, where + (f"/{field}" if field else ""), None, exc)
                )
                continue
            found.append(HeaderElement(index, where, element))
    return found


# ----- asserting -----

#: CBV 2.0 vocabulary types, and the one a code's GS1 key implies.
VTYPE: Final = "urn:epcglobal:epcis:vtype:"
_DEFAULT_TYPES: Final = {"414": "BusinessLocation", "417": "Party", "01": "EPCClass"}


def default_vocabulary(key: Identifier) -> str:
    """The vocabulary type a code's GS1 key implies: a GLN a BusinessLocation, a PGLN a
    Party, a GTIN an EPCClass; any other code must say its type."""
    head = RESOLVER + "/"
    ai = key.canonical[len(head) :].split("/", 1)[0] if key.canonical.startswith(head) else ""
    kind = _DEFAULT_TYPES.get(ai)
    if kind is None:
        raise InvalidMasterDataError(
            f"say the vocabulary type of {key.canonical[:80]} (a URI such as {VTYPE}ReadPoint)",
            field="vocabularyType",
        )
    return VTYPE + kind


def build_element(
    code: str, *, vocabulary: str | None = None, attributes: Sequence[tuple[str, Any]] = ()
) -> MasterDataElement:
    """An element to assert, checked by the one parser (:func:`parse_element`);
    ``attributes`` are (attribute URI, value), CBV ones as ``cbv_attribute(name)``."""
    try:
        key = element_key(code)
    except InvalidIdentifierError as exc:
        raise InvalidMasterDataError(f"id: {exc}", field="id") from None
    return parse_element(
        {
            "type": ELEMENT_TYPE,
            "vocabularyType": vocabulary or default_vocabulary(key),
            "id": code,
            "attributes": [{"id": name, "attribute": value} for name, value in attributes],
            "children": [],
        }
    )


def cbv_attribute(name: str) -> str:
    """The URI of CBV master-data attribute ``name`` (``urn:epcglobal:cbv:mda#name``)."""
    return _MDA_PREFIXES[0] + name


def assertion_event(element: MasterDataElement, *, nonce: int, event_time: int) -> TraceEvent:
    """The TraceEvent asserting ``element``: an OBSERVE of its record key, committing to
    its payload, naming nothing else."""
    return TraceEvent(
        Action.OBSERVE,
        batch_id=bytes(element.key.batch_id),
        payload_hash=keccak(element.canonical()),
        event_time=event_time,
        nonce=nonce,
    )


def sign_assertion(
    element: MasterDataElement, *, domain: Domain, private_key: bytes, nonce: int, event_time: int
) -> SignedEvent:
    """``element``'s assertion signed with ``private_key``: the submission of
    ``POST /v1/masterdata`` (payload and record key beside the event)."""
    event = assertion_event(element, nonce=nonce, event_time=event_time)
    signature = sign_digest(event.digest(domain), private_key)
    return SignedEvent(event, signature, element.canonical(), (element.key.canonical,))


def is_assertion_of(event: TraceEvent, element: MasterDataElement) -> bool:
    """Whether ``event`` is an assertion of ``element`` (as :func:`assertion_event` makes
    it, whatever its time and nonce)."""
    expected = assertion_event(element, nonce=event.nonce, event_time=event.event_time)
    return event == expected


# ----- which assertion a reader is shown -----


@dataclass(frozen=True, slots=True)
class Assertion:
    """One participant's assertion about a code, as the node holds it."""

    event_hash: bytes
    participant_id: int
    element: MasterDataElement
    anchored: bool
    rejected: bool
    received_at: int


def choose(assertions: Sequence[Assertion], holder: int | None) -> tuple[Assertion, bool] | None:
    """The assertion a reader is shown, and whether it is the brand owner's: the latest
    anchored assertion by ``holder`` (the licence holder of the code's GS1 company
    prefix), else the latest anchored one by anyone; None while nothing is anchored. An
    unanchored or refused assertion is never shown as verified (docs/epcis.md)."""
    anchored = [a for a in assertions if a.anchored and not a.rejected]
    if holder is not None:
        own = [a for a in anchored if a.participant_id == holder]
        if own:
            return max(own, key=lambda a: a.received_at), True
    if anchored:
        return max(anchored, key=lambda a: a.received_at), False
    return None
