"""EPCIS 2.0 and 1.2 XML documents, read as the EPCIS 2.0 JSON-LD the JSON path handles.

An XML ``EPCISDocument`` (namespace ``urn:epcglobal:epcis:xsd:2`` or ``...:xsd:1``) or
``EPCISQueryDocument`` (``urn:epcglobal:epcis-query:xsd:2`` or ``...:xsd:1``) or
``EPCISMasterDataDocument`` (``urn:epcglobal:epcis-masterdata:xsd:2`` or ``...:xsd:1``: a
vocabulary list, read as an EPCISDocument with that header master data and no event) is parsed
by a parser that fetches nothing and expands no entity, refused when it carries a DTD
(an external entity, a billion laughs), bounded in bytes, depth and size, validated
against the XML schema of its version (``node/epcis/schema/xml/``), then converted
element by element to the JSON form GS1's EPCIS 2.0 JSON/JSON-LD binding gives the same
event (:func:`xml_to_json`). Everything after that — the JSON Schema, the mapping, the
hash ID, signing, storage — is the JSON path (:func:`node.epcis.document.parse_document`),
so an event's XML and JSON forms are one event with one hash ID.

The correspondence (EPCIS 2.0 §9 / the JSON binding), as implemented:

- the event type is the element's name; ``epcList``/``childEPCs``/... are lists of their
  ``epc`` texts; quantity lists are lists of ``{epcClass, quantity, uom}`` with the
  quantity a JSON number;
- ``readPoint``/``bizLocation`` are ``{"id": ...}`` plus their extensions;
  ``bizTransactionList``/``sourceList``/``destinationList`` items are ``{"type": the type
  attribute, "bizTransaction"|"source"|"destination": the text}``;
- ``sensorElementList``: ``sensorMetadata`` and each ``sensorReport`` are objects of
  their attributes (numbers for the xsd:double ones, a boolean for ``booleanValue``);
- ``errorDeclaration``, ``persistentDisposition``, ``ilmd``, ``certificationInfo``
  (a string, a list when repeated), values as given: CBV 1.x URNs stay URNs and are
  read as the JSON path reads them;
- 1.2's ``<extension>`` and ``<baseExtension>`` wrappers are unwrapped (so is 1.2's
  ``TransformationEvent`` inside the event list's ``<extension>``);
- an element or attribute in another namespace is an extension member
  ``prefix:localName`` (its value the text, or an object of its children; repeated
  names become a list; attributes of an extension element become members, its text then
  ``#text``), the prefix declared in the document's ``@context`` — except namespaces
  GS1's context already names (``urn:epcglobal:cbv:mda`` is ``cbvmda:``), which keep
  GS1's prefix so that the JSON form's keys expand alike;
- an element of no namespace inside an ``<extension>`` (which EPCIS reserves for fields of
  its future versions, e.g. GS1's ``<futureExtension>``) is the member ``epcis:localName``
  (GS1's EPCIS vocabulary, where the JSON-LD binding puts every standard field); the hash
  ID writes it by its bare name (:mod:`node.epcis.hashid`), as the XML has it. Outside an
  ``<extension>`` such an element is no EPCIS field and is refused.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, Final

from lxml import etree

from node.epcis.hashid import FUTURE_FIELD_PREFIX
from node.epcis.vocabulary import gs1_prefixes
from node.exceptions import EpcisLimitError, EpcisXmlError

GS1_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
MAX_XML_DEPTH: Final = 40
MAX_XML_ELEMENTS: Final = 250_000
_EPCIS: Final = {"urn:epcglobal:epcis:xsd:2": "2.0", "urn:epcglobal:epcis:xsd:1": "1.2"}
_QUERY: Final = {
    "urn:epcglobal:epcis-query:xsd:2": "urn:epcglobal:epcis:xsd:2",
    "urn:epcglobal:epcis-query:xsd:1": "urn:epcglobal:epcis:xsd:1",
}
#: Master-data documents (a vocabulary list, no event), by EPCIS version.
_MASTER_DATA: Final = {
    "urn:epcglobal:epcis-masterdata:xsd:2": "urn:epcglobal:epcis:xsd:2",
    "urn:epcglobal:epcis-masterdata:xsd:1": "urn:epcglobal:epcis:xsd:1",
}
_SCHEMAS: Final = {
    "urn:epcglobal:epcis:xsd:2": "epcis-2_0.xsd",
    "urn:epcglobal:epcis:xsd:1": "epcis-1_2.xsd",
    "urn:epcglobal:epcis-query:xsd:2": "epcis-query-2_0.xsd",
    "urn:epcglobal:epcis-query:xsd:1": "epcis-query-1_2.xsd",
    "urn:epcglobal:epcis-masterdata:xsd:2": "epcis-masterdata-2_0.xsd",
    "urn:epcglobal:epcis-masterdata:xsd:1": "epcis-masterdata-1_2.xsd",
}
#: The document element each namespace's schema declares.
_ROOTS: Final = {
    **dict.fromkeys(_EPCIS, "EPCISDocument"),
    **dict.fromkeys(_QUERY, "EPCISQueryDocument"),
    **dict.fromkeys(_MASTER_DATA, "EPCISMasterDataDocument"),
}
EVENT_TYPES: Final = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
#: Elements whose content is a list of ``epc``.
_EPC_LISTS: Final = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
_QUANTITY_LISTS: Final = frozenset(
    {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
)
#: Typed lists: the list, its item element, the member the item's text becomes.
_TYPED_LISTS: Final = {
    "bizTransactionList": "bizTransaction",
    "sourceList": "source",
    "destinationList": "destination",
}
_TEXT_FIELDS: Final = frozenset(
    {
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "parentID",
        "action",
        "bizStep",
        "disposition",
        "transformationID",
    }
)
_WRAPPERS: Final = frozenset({"extension", "baseExtension"})
#: The JSON prefix of a field reserved for future EPCIS versions (an element of no namespace
#: inside ``<extension>``): GS1's EPCIS vocabulary, ``https://ref.gs1.org/epcis/``.
FUTURE_PREFIX: Final = FUTURE_FIELD_PREFIX + ":"
_DOUBLE_ATTRIBUTES: Final = frozenset(
    {"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"}
)
_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
_SURROGATES: Final = re.compile(r"[\ud800-\udfff]")
_VALIDATING: Final = threading.Lock()


@dataclass(frozen=True, slots=True)
class XmlDocument:
    """An XML document as its EPCIS 2.0 JSON-LD form, and the source line of each event."""

    version: str  # "2.0" or "1.2"
    data: dict[str, Any]
    lines: tuple[int, ...]


def looks_like_xml(data: bytes | str) -> bool:
    """Whether ``data`` starts (after a byte-order mark and blanks) like an XML document."""
    if isinstance(data, bytes):
        return data[:64].removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")
    return data[:64].lstrip("\ufeff").lstrip().startswith("<")


def _parser(encoding: str | None) -> etree.XMLParser:
    # No DTD loaded, no entity substituted, nothing fetched, no comments or PIs kept,
    # libxml2's own limits on (huge_tree off). Text given as a string is read as the
    # UTF-8 it is encoded to here, whatever its declaration says.
    return etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


class _NoResolver(etree.Resolver):  # type: ignore[misc]
    """Refuses every external resource a schema or document names (nothing is fetched)."""

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        raise EpcisXmlError(f"the XML names an external resource {system_url!r}; none is read")


@cache
def _schema(namespace: str) -> etree.XMLSchema:
    folder = resources.files("node.epcis") / "schema" / "xml"
    with resources.as_file(folder / _SCHEMAS[namespace]) as path:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        return etree.XMLSchema(etree.parse(str(path), parser))


def parse_xml(data: bytes | str, *, max_bytes: int) -> XmlDocument:
    """Parse, bound, validate and convert an EPCIS XML document (see the module doc)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise EpcisLimitError(f"the XML document is {len(raw)} bytes; the limit is {max_bytes}")
    if isinstance(data, str) and _SURROGATES.search(data):
        raise EpcisXmlError("the XML document holds text that is not valid Unicode")
    parser = _parser("utf-8" if isinstance(data, str) else None)
    parser.resolvers.add(_NoResolver())
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        raise EpcisXmlError(f"the document is not well-formed XML: {exc.msg}", line=line) from None
    except ValueError as exc:
        raise EpcisXmlError(f"the document is not well-formed XML: {exc}") from None
    tree = root.getroottree()
    _refuse_dtd(tree)
    _check_size(root)
    namespace = etree.QName(root).namespace or ""
    kind = etree.QName(root).localname
    if _ROOTS.get(namespace) != kind:
        raise EpcisXmlError(
            f"the root element {{{namespace}}}{kind} is not an EPCISDocument of EPCIS 2.0 "
            "(urn:epcglobal:epcis:xsd:2) or 1.2 (urn:epcglobal:epcis:xsd:1), nor an "
            "EPCISQueryDocument (urn:epcglobal:epcis-query:xsd:2 or :1), nor an "
            "EPCISMasterDataDocument (urn:epcglobal:epcis-masterdata:xsd:2 or :1)",
            line=root.sourceline,
            path=tree.getpath(root),
        )
    _validate(tree, namespace, root)
    return _Converter(_EPCIS[_epcis_namespace(namespace)]).document(root, kind, tree)


def _epcis_namespace(namespace: str) -> str:
    """The EPCIS namespace (version) of a document's namespace."""
    return _QUERY.get(namespace) or _MASTER_DATA.get(namespace, namespace)


def _refuse_dtd(tree: Any) -> None:
    info = tree.docinfo
    if info.internalDTD is not None or info.system_url or info.public_id:
        raise EpcisXmlError(
            "the XML document carries a document type declaration (<!DOCTYPE>: a DTD, "
            "entities, external subsets): refused, as EPCIS documents need none"
        )
    for element in tree.iter():
        if isinstance(element, etree._Entity):  # an unexpanded entity reference
            raise EpcisXmlError("the XML document uses an entity", line=element.sourceline)


def _check_size(root: Any) -> None:
    count = 0
    pending: list[tuple[Any, int]] = [(root, 1)]
    while pending:
        element, depth = pending.pop()
        count += 1
        if count > MAX_XML_ELEMENTS:
            raise EpcisLimitError(f"the XML document holds more than {MAX_XML_ELEMENTS} elements")
        if depth > MAX_XML_DEPTH:
            raise EpcisLimitError(
                f"the XML document is nested deeper than {MAX_XML_DEPTH} elements "
                f"(line {element.sourceline})"
            )
        pending.extend((child, depth + 1) for child in element)


def _validate(tree: Any, namespace: str, root: Any) -> None:
    schema = _schema(namespace)
    with _VALIDATING:  # a schema's error log is its own, not the call's: one at a time
        if schema.validate(tree):
            return
        entry = schema.error_log[0]
    path = entry.path or None
    index = _event_index(root, tree, path)
    where = f"line {entry.line}" + (f", {path}" if path else "")
    raise EpcisXmlError(
        f"the document is not valid EPCIS {_EPCIS[_epcis_namespace(namespace)]} XML at "
        f"{where}: {entry.message}",
        line=entry.line,
        path=path,
        event_index=index,
    )


def _event_index(root: Any, tree: Any, path: str | None) -> int | None:
    """The position in the event list of the event an XPath points into, if any."""
    if not path:
        return None
    for index, (element, _type) in enumerate(_events(root)):
        prefix = tree.getpath(element)
        if path == prefix or path.startswith(prefix + "/"):
            return index
    return None


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _namespace(element: Any) -> str | None:
    namespace = etree.QName(element).namespace
    return str(namespace) if namespace else None


def _children(element: Any) -> Iterator[Any]:
    """Element children, 1.2's ``<extension>`` wrappers unwrapped (recursively)."""
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if _namespace(child) is None and _local(child) in _WRAPPERS:
            yield from _children(child)
        else:
            yield child


def _in_extension(element: Any) -> bool:
    """Whether ``element`` sits in an ``<extension>`` / ``<baseExtension>`` wrapper."""
    parent = element.getparent()
    return parent is not None and _namespace(parent) is None and _local(parent) in _WRAPPERS


def _event_list(root: Any) -> Any:
    kind = _local(root)
    body = _child(root, "EPCISBody")
    if body is None:
        return None
    if kind == "EPCISQueryDocument":
        results = next((c for c in body if _local(c) == "QueryResults"), None)
        body = None if results is None else _child(results, "resultsBody")
        if body is None:
            return None
    return _child(body, "EventList")


def _events(root: Any) -> Iterator[tuple[Any, str]]:
    events = _event_list(root)
    if events is None:
        return
    for element in _children(events):
        yield element, _local(element)


def _child(element: Any, name: str) -> Any:
    return next(
        (c for c in element if isinstance(c.tag, str) and _local(c) == name and not _namespace(c)),
        None,
    )


def _text(element: Any) -> str:
    return "".join(element.itertext()).strip()


#: The longest number the XML may write: past a double's 309 digits there is no finite
#: JSON form anyway, and Python refuses to print an integer of over 4,300 digits (once a
#: 500, when the schema check put a 5,000-digit quantity in its message).
MAX_NUMBER_CHARS: Final = 400


def _number(text: str) -> int | float:
    if len(text.strip()) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text.strip())} characters (at most {MAX_NUMBER_CHARS})")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    if value == value.to_integral_value() and "." not in text and "e" not in text.lower():
        return int(value)
    return float(value)


class _Converter:
    """One document's conversion, collecting the namespaces its extensions use."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.gs1 = {iri.rstrip(":/#"): prefix for prefix, iri in gs1_prefixes().items()}
        self.gs1.update({iri: prefix for prefix, iri in gs1_prefixes().items()})
        self.prefixes: dict[str, str] = {}  # namespace -> prefix declared in @context
        self.taken: set[str] = set(gs1_prefixes())
        # (id of a JSON object, key) whose value is a list made of repeated elements; the
        # objects live as long as the conversion, so their ids stay unique.
        self.repeated: set[tuple[int, str]] = set()

    def document(self, root: Any, kind: str, tree: Any) -> XmlDocument:
        events: list[dict[str, Any]] = []
        lines: list[int] = []
        for index, (element, name) in enumerate(_events(root)):
            if name not in EVENT_TYPES:
                why = (
                    " (deprecated in EPCIS 1.1 and removed in 2.0)"
                    if name == "QuantityEvent"
                    else ""
                )
                raise EpcisXmlError(
                    f"event {index}: {name} is not an EPCIS event type{why}; the node reads "
                    + ", ".join(EVENT_TYPES),
                    line=element.sourceline,
                    path=tree.getpath(element),
                    event_index=index,
                )
            try:
                events.append(self.event(element, name))
            except ValueError as exc:
                raise EpcisXmlError(
                    f"event {index} ({name}): {exc}",
                    line=element.sourceline,
                    path=tree.getpath(element),
                    event_index=index,
                ) from None
            lines.append(int(element.sourceline or 0))
        context: list[Any] = [GS1_CONTEXT]
        if self.prefixes:
            context.append({prefix: ns for ns, prefix in sorted(self.prefixes.items())})
        data: dict[str, Any] = {
            "@context": context,
            # A master-data document is, in the JSON binding (which has no such type), an
            # EPCISDocument whose header carries its vocabulary list and whose body no event.
            "type": "EPCISDocument" if kind == "EPCISMasterDataDocument" else kind,
            "schemaVersion": "2.0",
            "creationDate": str(root.get("creationDate", "")),
        }
        master = self.master_data(root)
        if kind == "EPCISMasterDataDocument":
            # Its body's vocabulary list, after any its header carries (nothing dropped).
            body = self.vocabulary_list(_child(_child(root, "EPCISBody"), "VocabularyList"))
            if body is not None:
                earlier = master["vocabularyList"] if master is not None else []
                master = {"vocabularyList": [*earlier, *body["vocabularyList"]]}
        if master is not None:
            data["epcisHeader"] = {"epcisMasterData": master}
        if kind == "EPCISQueryDocument":
            results = next(c for c in _child(root, "EPCISBody") if _local(c) == "QueryResults")
            name = _child(results, "queryName")
            query: dict[str, Any] = {"queryName": _text(name) if name is not None else ""}
            subscription = _child(results, "subscriptionID")
            if subscription is not None:
                query["subscriptionID"] = _text(subscription)
            query["resultsBody"] = {"eventList": events}
            data["epcisBody"] = {"queryResults": query}
        else:
            data["epcisBody"] = {"eventList": events}
        return XmlDocument(self.version, data, tuple(lines))

    def master_data(self, root: Any) -> dict[str, Any] | None:
        """The header's ``EPCISMasterData`` (in 1.2's ``<extension>`` or not) in its EPCIS
        2.0 JSON form, for node.epcis.masterdata: vocabularies, their elements' ids,
        attributes (text, or an object for structured content) and children."""
        header = _child(root, "EPCISHeader")
        master = None
        if header is not None:
            master = next((c for c in _children(header) if _local(c) == "EPCISMasterData"), None)
        listed = _child(master, "VocabularyList") if master is not None else None
        return self.vocabulary_list(listed)

    def vocabulary_list(self, vocabularies: Any) -> dict[str, Any] | None:
        """A ``VocabularyList`` (a header's ``EPCISMasterData``'s, or a master-data
        document's body) as ``epcisMasterData``: vocabularies, their elements' ids,
        attributes (text, or an object for structured content) and children."""
        if vocabularies is None:
            return None
        found: list[dict[str, Any]] = []
        for vocabulary in _children(vocabularies):
            elements: list[dict[str, Any]] = []
            listed = _child(vocabulary, "VocabularyElementList")
            for element in _children(listed) if listed is not None else ():
                item: dict[str, Any] = {"id": str(element.get("id", ""))}
                attributes = [
                    {"id": str(a.get("id", "")), "attribute": self.attribute_value(a)}
                    for a in _children(element)
                    if _local(a) == "attribute"
                ]
                if attributes:
                    item["attributes"] = attributes
                children = _child(element, "children")
                if children is not None:
                    item["children"] = [_text(c) for c in _children(children)]
                elements.append(item)
            found.append(
                {"type": str(vocabulary.get("type", "")), "vocabularyElementList": elements}
            )
        return {"vocabularyList": found}

    def attribute_value(self, element: Any) -> Any:
        """A master-data attribute's value: its text, or its structure as JSON members (its
        ``id`` names the attribute, beside the value: not a member of it)."""
        if not any(isinstance(c.tag, str) for c in element):
            return _text(element)
        return self.members(element, skip=frozenset({"id"}))

    # ----- events -----

    def event(self, element: Any, name: str) -> dict[str, Any]:
        event: dict[str, Any] = {"type": name}
        for child in _children(element):
            namespace, local = _namespace(child), _local(child)
            if namespace is not None:
                self.extension(event, child)
            elif local in _TEXT_FIELDS:
                event[local] = _text(child)
            elif local == "certificationInfo":
                self.add(event, local, _text(child))
            elif local in _EPC_LISTS:
                event[local] = [_text(epc) for epc in _children(child)]
            elif local in _QUANTITY_LISTS:
                event[local] = [self.quantity(q) for q in _children(child)]
            elif local in ("readPoint", "bizLocation"):
                event[local] = self.place(child)
            elif local in _TYPED_LISTS:
                event[local] = [self.typed(item, _TYPED_LISTS[local]) for item in _children(child)]
            elif local == "sensorElementList":
                event[local] = [self.sensor_element(e) for e in _children(child)]
            elif local == "persistentDisposition":
                event[local] = self.persistent_disposition(child)
            elif local == "errorDeclaration":
                event[local] = self.error_declaration(child)
            elif local == "ilmd":
                event[local] = self.members(child, standard=True)
            elif _in_extension(child):
                self.future(event, child)
            else:
                raise ValueError(f"<{local}> (line {child.sourceline}) is not an EPCIS field")
        self.attributes(event, element)
        return event

    def quantity(self, element: Any) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for child in _children(element):
            local = _local(child)
            if local == "quantity":
                if child.get(f"{{{_XSI}}}nil") in ("true", "1"):
                    continue
                item[local] = _number(_text(child))
            else:
                item[local] = _text(child)
        return item

    def place(self, element: Any) -> dict[str, Any]:
        place: dict[str, Any] = {}
        for child in _children(element):
            if _namespace(child) is not None:
                self.extension(place, child)
            elif _in_extension(child):
                self.future(place, child)
            else:
                place[_local(child)] = _text(child)
        return place

    def typed(self, element: Any, member: str) -> dict[str, Any]:
        item: dict[str, Any] = {}
        if element.get("type") is not None:
            item["type"] = str(element.get("type")).strip()
        item[member] = _text(element)
        return item

    def sensor_element(self, element: Any) -> dict[str, Any]:
        sensor: dict[str, Any] = {}
        for child in _children(element):
            local = _local(child)
            if _namespace(child) is not None:
                self.extension(sensor, child)
            elif local == "sensorMetadata":
                sensor[local] = self.sensor_attributes(child)
            elif local == "sensorReport":
                sensor.setdefault(local, []).append(self.sensor_attributes(child))
            elif _in_extension(child):
                self.future(sensor, child)
            else:
                raise ValueError(f"<{local}> (line {child.sourceline}) is not a sensor field")
        return sensor

    def sensor_attributes(self, element: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, raw in element.attrib.items():
            qname = etree.QName(name)
            if qname.namespace:
                values[self.key(str(qname.namespace), str(qname.localname), element)] = raw
            elif qname.localname in _DOUBLE_ATTRIBUTES:
                values[qname.localname] = _number(raw)
            elif qname.localname == "booleanValue":
                values[qname.localname] = raw.strip() in ("true", "1")
            else:
                values[qname.localname] = raw.strip()
        return values

    def persistent_disposition(self, element: Any) -> dict[str, list[str]]:
        sets: dict[str, list[str]] = {}
        for child in _children(element):
            sets.setdefault(_local(child), []).append(_text(child))
        return sets

    def error_declaration(self, element: Any) -> dict[str, Any]:
        declaration: dict[str, Any] = {}
        for child in _children(element):
            local = _local(child)
            if _namespace(child) is not None:
                self.extension(declaration, child)
            elif local == "correctiveEventIDs":
                declaration[local] = [_text(c) for c in _children(child)]
            elif _in_extension(child):
                self.future(declaration, child)
            else:
                declaration[local] = _text(child)
        return declaration

    # ----- extensions -----

    def key(self, namespace: str, local: str, element: Any) -> str:
        """``prefix:local`` for a namespace: GS1's prefix for GS1's namespaces, else the
        document's own prefix (another one when two namespaces share it), declared."""
        if namespace in self.gs1:
            return f"{self.gs1[namespace]}:{local}"
        if namespace not in self.prefixes:
            wanted = next((p for p, ns in element.nsmap.items() if ns == namespace and p), None)
            prefix = wanted or "ns"
            candidate, n = prefix, 1
            while candidate in self.taken:
                n += 1
                candidate = f"{prefix}{n}"
            self.prefixes[namespace] = candidate
            self.taken.add(candidate)
        return f"{self.prefixes[namespace]}:{local}"

    def extension(self, target: dict[str, Any], element: Any) -> None:
        key = self.key(str(_namespace(element)), _local(element), element)
        self.add(target, key, self.value(element))

    def future(self, target: dict[str, Any], element: Any) -> None:
        """An element of no namespace inside an ``<extension>`` (which EPCIS reserves for
        fields of its future versions, e.g. GS1's ``<futureExtension>``): the member
        ``epcis:localName``, in GS1's EPCIS vocabulary, where the JSON-LD binding puts every
        standard field; its value as any extension's (its children keep their names)."""
        self.add(target, FUTURE_PREFIX + _local(element), self.value(element))

    def value(self, element: Any) -> Any:
        children = [c for c in element if isinstance(c.tag, str)]
        attributes = {
            name: raw for name, raw in element.attrib.items() if etree.QName(name).namespace != _XSI
        }
        if not children and not attributes:
            return _text(element)
        value = self.members(element)
        text = (element.text or "").strip()
        if text:
            value["#text"] = text
        return value

    def members(
        self, element: Any, *, standard: bool = False, skip: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """An extension element's (or ilmd's) children and attributes as JSON members.
        ``standard``: ``element`` is EPCIS's own (ilmd), whose ``<extension>`` holds future
        EPCIS fields; inside a user's extension element, names are the user's. ``skip``:
        attributes of no namespace that are not members (a master-data attribute's id)."""
        value: dict[str, Any] = {}
        for name, raw in element.attrib.items():
            qname = etree.QName(name)
            if qname.namespace == _XSI or name in skip:
                continue
            if qname.namespace:
                value[self.key(str(qname.namespace), str(qname.localname), element)] = raw
            else:
                value[str(qname.localname)] = raw
        for child in _children(element):
            if _namespace(child) is not None:
                self.extension(value, child)
            elif standard and _in_extension(child):
                self.future(value, child)
            else:
                self.add(value, _local(child), self.value(child))
        return value

    def attributes(self, target: dict[str, Any], element: Any) -> None:
        """An event's attributes in other namespaces are extension members too."""
        for name, raw in element.attrib.items():
            qname = etree.QName(name)
            if qname.namespace and qname.namespace != _XSI:
                self.add(target, self.key(str(qname.namespace), str(qname.localname), element), raw)

    def add(self, target: dict[str, Any], key: str, value: Any) -> None:
        """Set ``key``; a repeated element makes a list of its values, in document order."""
        if key not in target:
            target[key] = value
        elif (id(target), key) in self.repeated:
            target[key].append(value)
        else:
            target[key] = [target[key], value]
            self.repeated.add((id(target), key))
