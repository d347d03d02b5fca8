"""What the node says a code is called, and who says it: master-data assertions read back
(node.epcis.masterdata), the one the choice rule shows, for the API, provenance and the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import Connection

from node.epcis.masterdata import (
    Assertion,
    MasterDataElement,
    choose,
    company_prefixes,
    element_key,
    parse_element,
    sign_assertion,
)
from node.events.identifiers import GS1_KEY_PREFIX, Identifier, PrefixKind, parse_identifier
from node.events.payload import load_canonical
from node.events.signatures import address_of
from node.events.submission import SignedEvent
from node.events.typed_data import Domain
from node.exceptions import InvalidIdentifierError, InvalidMasterDataError
from node.participants.sync import CURSOR as PARTICIPANTS_CURSOR
from node.proofs.bundle import Bundle
from node.store.models import EventStatus
from node.store.records import MasterDataRecord
from node.store.store import Store


def sign_on_node(
    store: Store, domain: Domain, private_key: bytes, element: MasterDataElement
) -> SignedEvent:
    """``element``'s assertion signed with ``private_key`` now, at the signer's next nonce
    on this node (what ``tracenode masterdata set`` submits locally)."""
    with store.read() as conn:
        nonce = store.events.next_nonce(conn, address_of(private_key))
    return sign_assertion(
        element,
        domain=domain,
        private_key=private_key,
        nonce=nonce,
        event_time=int(time.time() * 1000),
    )


#: At most this many codes are looked up for one page or report.
MAX_CODES: Final = 500


@dataclass(frozen=True, slots=True)
class About:
    """Every assertion the node holds about one code, and the one shown."""

    code: str  # as asked for
    key: Identifier
    assertions: tuple[Assertion, ...]
    #: The licence holder of the code's GS1 company prefix, and that prefix.
    holder: tuple[int, str] | None
    shown: tuple[Assertion, bool] | None
    names: Mapping[int, str]


def master_data_link(code: str) -> str:
    """Where a code's assertions are listed (``GET /v1/masterdata/{code}``)."""
    return "/v1/masterdata/" + quote(code, safe="")


def about(store: Store, codes: Iterable[str]) -> dict[str, About]:
    """What the node holds about each of ``codes`` that is a master-data key (codes that
    name a batch, or no URI, are left out), by the code as given."""
    keys: dict[str, Identifier] = {}
    for code in codes:
        if len(keys) >= MAX_CODES:
            break
        try:
            keys[code] = element_key(code)
        except InvalidIdentifierError:
            continue
    if not keys:
        return {}
    with store.read() as conn:
        records = store.master_data.of_keys(conn, [bytes(k.batch_id) for k in keys.values()])
        by_key = _by_key(records)
        holders = {
            bytes(key.batch_id): _holder(store, conn, key)
            for key in keys.values()
            if bytes(key.batch_id) in by_key
        }
        wanted = {a.participant_id for found in by_key.values() for a in found}
        names = {
            pid: participant.name
            for pid in sorted(wanted)
            if (participant := store.participants.get(conn, pid)) is not None
        }
    found: dict[str, About] = {}
    for code, key in keys.items():
        assertions = tuple(by_key.get(bytes(key.batch_id), ()))
        holder = holders.get(bytes(key.batch_id))
        shown = choose(assertions, holder[0] if holder else None)
        found[code] = About(code, key, assertions, holder, shown, names)
    return found


#: A query's master-data filter reads at most this many assertions (node.epcis.results).
MAX_FILTERED: Final = 20_000


def shown_elements(store: Store, conn: Connection) -> list[MasterDataElement] | None:
    """The element shown for every code the node holds an anchored assertion about (the
    choice rule, as :func:`about` and the page apply it: the licence holder's first); None
    when the node holds more than :data:`MAX_FILTERED` assertions."""
    records = store.master_data.every(conn, limit=MAX_FILTERED + 1)
    if len(records) > MAX_FILTERED:
        return None
    shown: list[MasterDataElement] = []
    for assertions in _by_key(records).values():
        holder = _holder(store, conn, assertions[0].element.key)
        chosen = choose(assertions, holder[0] if holder else None)
        if chosen is not None:
            shown.append(chosen[0].element)
    return shown


def _by_key(records: Sequence[MasterDataRecord]) -> dict[bytes, list[Assertion]]:
    by_key: dict[bytes, list[Assertion]] = {}
    for record in records:
        assertion = _assertion(record)
        if assertion is not None:
            by_key.setdefault(record.key, []).append(assertion)
    return by_key


def _assertion(record: MasterDataRecord) -> Assertion | None:
    try:
        element = parse_element(load_canonical(record.element))
    except (InvalidMasterDataError, ValueError):
        return None  # written by ingest's own parser: never expected
    return Assertion(
        event_hash=record.event_hash,
        participant_id=record.participant_id,
        element=element,
        anchored=record.status is EventStatus.ANCHORED,
        rejected=record.status is EventStatus.REJECTED,
        received_at=record.received_at,
    )


def _holder(store: Store, conn: Connection, key: Identifier) -> tuple[int, str] | None:
    """Who holds, at the licence mirror's head, the licence of the code's company prefix."""
    candidates = company_prefixes(key)
    if not candidates:
        return None
    head = store.participants.cursor(conn, PARTICIPANTS_CURSOR) or 0
    licences = store.licences.current(conn, [(PrefixKind.GS1, c) for c in candidates])
    for candidate in candidates:
        licence = licences.get((PrefixKind.GS1, candidate))
        if licence is not None and licence.held and licence.valid_at(head):
            return licence.holder, candidate
    return None


def _element_json(element: MasterDataElement) -> dict[str, Any]:
    return {
        "vocabularyType": element.vocabulary,
        "name": element.name,
        "address": element.address,
        "attributes": [{"id": name, "attribute": value} for name, value in element.attributes],
        "children": list(element.children),
    }


def _said_by(found: About, assertion: Assertion) -> dict[str, Any]:
    holder = found.holder
    brand = holder is not None and holder[0] == assertion.participant_id
    return {
        "participantId": str(assertion.participant_id),
        "participant": found.names.get(assertion.participant_id),
        "brandOwner": brand,
        "holderOf": holder[1] if brand and holder is not None else None,
    }


def _status(assertion: Assertion) -> str:
    if assertion.rejected:
        return "rejected"
    return "anchored" if assertion.anchored else "accepted"


def shown_json(found: About) -> dict[str, Any] | None:
    """The assertion a reader is shown (the choice rule), attributed; None while the node
    holds no anchored assertion about the code."""
    if found.shown is None:
        return None
    assertion, _brand = found.shown
    return {
        "code": found.code,
        "canonical": found.key.canonical,
        **_element_json(assertion.element),
        "saidBy": _said_by(found, assertion),
        "eventHash": "0x" + assertion.event_hash.hex(),
        "others": len(found.assertions) - 1,
        "link": master_data_link(found.code),
    }


def about_json(found: About) -> dict[str, Any]:
    """Every assertion about a code, each attributed, with its status and proof link."""
    return {
        "code": found.code,
        "canonical": found.key.canonical,
        "key": found.key.batch_id_hex,
        "brandOwner": None
        if found.holder is None
        else {
            "participantId": str(found.holder[0]),
            "participant": found.names.get(found.holder[0]),
            "prefix": found.holder[1],
        },
        "shown": shown_json(found),
        "assertions": [
            {
                **_element_json(a.element),
                "saidBy": _said_by(found, a),
                "eventHash": "0x" + a.event_hash.hex(),
                "status": _status(a),
                "receivedAt": str(a.received_at),
                "event": f"/v1/events/0x{a.event_hash.hex()}",
                "proof": f"/v1/events/0x{a.event_hash.hex()}/proof",
            }
            for a in found.assertions
        ],
    }


#: Members of an EPCIS event's payload that name a location, a party or a product class.
_PLACES: Final = ("readPoint", "bizLocation")
_LISTS: Final = (("sourceList", "source"), ("destinationList", "destination"))
_CLASSES: Final = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


def codes_of(payloads: Sequence[Any]) -> list[str]:
    """The location, party and product-class codes the payloads name, in order, once."""
    found: dict[str, None] = {}
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        for name in _PLACES:
            value = payload.get(name)
            code = value.get("id") if isinstance(value, dict) else value
            if isinstance(code, str):
                found.setdefault(code)
        for name in ("source", "destination"):
            if isinstance(payload.get(name), str):
                found.setdefault(payload[name])
        for name, member in _LISTS:
            for entry in payload.get(name) or []:
                if isinstance(entry, dict) and isinstance(entry.get(member), str):
                    found.setdefault(entry[member])
        for name in _CLASSES:
            for entry in payload.get(name) or []:
                if isinstance(entry, dict) and isinstance(entry.get("epcClass"), str):
                    found.setdefault(entry["epcClass"])
    return list(found)


def bundle_codes(bundle: Bundle) -> list[str]:
    """The codes a bundle's events name (:func:`codes_of`), then its lots' products."""
    payloads = [load_canonical(e.payload) for e in bundle.events if e.payload is not None]
    products: list[str] = []
    for batch in bundle.batches:
        try:
            gtin = parse_identifier(batch.identifier).gtin if batch.identifier else None
        except InvalidIdentifierError:
            gtin = None
        if gtin is not None:
            products.append(GS1_KEY_PREFIX + gtin)
    return list(dict.fromkeys([*codes_of(payloads), *products]))


def names_json(store: Store, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """For each code that has an anchored assertion, what the reader is shown (by the
    code as written)."""
    return {
        code: shown
        for code, found in about(store, codes).items()
        if (shown := shown_json(found)) is not None
    }
