"""Capture per event, on SQLite and PostgreSQL: a document mixing a lot's lifecycle, a
pallet's shipping, an asset's observation, an unknown lot and an event depending on it
gets an outcome for each, and stores exactly what it says; rollback stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from node.chain.reader import Contracts
from node.chain.registry import ParticipantRegistryClient
from node.epcis.capture import CaptureErrorBehaviour, Outcome, capture, sign_capture
from node.epcis.query import parse_query
from node.epcis.results import run_query
from node.events.hashing import keccak
from node.events.typed_data import Action
from node.exceptions import (
    EpcisDependencyError,
    EpcisEventRejectedError,
    EpcisRolledBackError,
    IdentifierIsRecordError,
)
from node.ingest.chain_view import ChainView
from node.ingest.compose import compose_event
from node.ingest.service import IngestService
from node.store.models import EventStatus
from node.store.store import Store
from node.store.tables import EPCIS_EVENTS, EVENTS
from tests.conftest import Chain
from tests.node.epcis.conftest import (
    Rig,
    commissioning,
    document,
    event,
    new_lot,
    receiving,
    shipping,
)

SSCC = "urn:epc:id:sscc:0614141.1234567890"
SSCC_LINK = "https://id.gs1.org/00/106141412345678908"
GRAI = "urn:epc:id:grai:0614141.12345.400"
GRAI_LINK = "https://id.gs1.org/8003/00614141123452400"


@pytest.fixture
def rig(chain: Chain, store_url: str) -> Iterator[Rig]:
    store = Store.open(store_url)
    node = chain.commit_key(store)
    yield Rig(chain, store, IngestService(store=store, domain=chain.domain), node)
    store.close()


def mixed(lot: str, unknown: str) -> dict[str, Any]:
    """0 COMMISSION lot, 1 a pallet shipped (SSCC only), 2 a crate seen (GRAI), 3 an
    unknown lot received from outside (refused when another participant holds its
    prefix's licence: ``unknown`` is the dairy's, 0614142), 4 that lot inspected after it
    (depends on 3), 5 the lot shipped (depends on 0, captured)."""
    return document(
        commissioning(lot),
        event(action="OBSERVE", bizStep="shipping", epcList=[SSCC]),
        event(action="OBSERVE", bizStep="inspecting", epcList=[GRAI]),
        receiving(unknown),
        event(
            when="2024-05-06T09:30:00+02:00",
            action="OBSERVE",
            bizStep="inspecting",
            quantityList=[{"epcClass": unknown}],
        ),
        shipping(lot),
    )


def rows(rig: Rig) -> tuple[set[str], list[tuple[Action, bytes, EventStatus]]]:
    with rig.store.read() as conn:
        hash_ids = {str(h) for (h,) in conn.execute(select(EPCIS_EVENTS.c.hash_id))}
        events = [
            (Action(a), bytes(b), EventStatus(s))
            for a, b, s in conn.execute(
                select(EVENTS.c.action, EVENTS.c.batch_id, EVENTS.c.status).order_by(EVENTS.c.id)
            )
        ]
    return hash_ids, events


def test_each_event_gets_its_outcome_and_only_what_is_captured_is_stored(rig: Rig) -> None:
    lot, unknown = new_lot(), new_lot("0614142")

    results = rig.capture("farm", mixed(lot, unknown))
    rig.commit()

    assert [r.outcome for r in results] == [
        Outcome.CAPTURED,
        Outcome.ANCHORED_ONLY,
        Outcome.ANCHORED_ONLY,
        Outcome.REFUSED,
        Outcome.REFUSED,
        Outcome.CAPTURED,
    ]
    refused = results[3].refusal
    assert isinstance(refused, EpcisEventRejectedError)
    assert refused.cause.code == "licensed-elsewhere"
    assert refused.pointer == "/document/epcisBody/eventList/3"
    dependent = results[4].refusal
    assert isinstance(dependent, EpcisDependencyError)
    assert dependent.depends_on == 3
    assert dependent.event_index == 4
    assert "depends on event 3" in str(dependent)
    hash_ids, events = rows(rig)
    assert hash_ids == {results[i].hash_id for i in (0, 1, 2, 5)}
    lot_id = keccak(("https://id.gs1.org/01/00614141123452/10/" + lot.rsplit(".", 1)[1]).encode())
    assert events == [
        (Action.COMMISSION, lot_id, EventStatus.ANCHORED),
        (Action.OBSERVE, keccak(SSCC_LINK.encode()), EventStatus.ANCHORED),
        (Action.OBSERVE, keccak(GRAI_LINK.encode()), EventStatus.ANCHORED),
        (Action.SHIP, lot_id, EventStatus.ANCHORED),
    ]
    # The records are found by their identifier, in any spelling.
    for spelling in (SSCC, SSCC_LINK):
        page = run_query(rig.store, parse_query([("MATCH_epc", spelling)], max_per_page=10))
        assert [e["bizStep"] for e in page.events] == ["shipping"]
    page = run_query(rig.store, parse_query([("MATCH_anyEPC", GRAI)], max_per_page=10))
    assert [e["epcList"] for e in page.events] == [[GRAI]]


def test_the_same_request_again_captures_nothing_twice(rig: Rig) -> None:
    request = rig.sign("farm", mixed(new_lot(), new_lot("0614142")))
    first = capture(ingest=rig.ingest, request=request)
    before = rows(rig)

    again = capture(ingest=rig.ingest, request=request)

    assert [r.outcome for r in again] == [
        Outcome.DUPLICATE if r.stored else Outcome.REFUSED for r in first
    ]
    assert rows(rig) == before


def test_rollback_refuses_the_whole_document_and_stores_nothing(rig: Rig) -> None:
    signed = sign_capture(
        store=rig.store,
        domain=rig.chain.domain,
        private_key=bytes(rig.chain.keys["farm"].key),
        document=mixed(new_lot(), new_lot("0614142")),
    )

    with pytest.raises(EpcisEventRejectedError) as caught:
        capture(ingest=rig.ingest, request=signed.request, behaviour=CaptureErrorBehaviour.ROLLBACK)

    assert signed.refused == ()  # the mapping refuses none: the rules do
    assert caught.value.event_index == 3
    assert caught.value.cause.code == "licensed-elsewhere"
    outcomes = caught.value.outcomes
    assert [r.outcome for r in outcomes] == [Outcome.REFUSED] * 6
    assert [type(r.refusal) for r in outcomes] == [
        EpcisRolledBackError,
        EpcisRolledBackError,
        EpcisRolledBackError,
        EpcisEventRejectedError,
        EpcisDependencyError,
        EpcisRolledBackError,
    ]
    assert rows(rig) == (set(), [])


def test_open_identifiers_are_records_in_epcis_and_a_key_is_never_both(
    chain: Chain, store_url: str
) -> None:
    """docs/epcis.md, "Open identifiers", both orders: EPCIS records under urn:acme:crate:…
    keep the key from a native COMMISSION (identifier-is-record), and an EPCIS event
    naming urn:acme:lot:…, which a native COMMISSION made a batch, is that batch's, so its
    record OBSERVE is refused (head-mismatch) instead of anchored as a record."""
    store = Store.open(store_url)
    d = chain.deployment
    view = ChainView(
        chain.w3, Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
    )
    rig = Rig(
        chain,
        store,
        IngestService(
            store=store, domain=chain.domain, chain=view, open_policy=view.open_identifiers
        ),
        chain.commit_key(store),
    )
    registry = ParticipantRegistryClient(chain.w3, chain.deployment)
    tag = new_lot().rsplit(".", 1)[1]
    crate, lot = f"urn:acme:crate:{tag}", f"urn:acme:lot:{tag}"
    farm = bytes(chain.keys["farm"].key)

    def native(identifier: str, action: Action, **fields: Any) -> Any:
        signed = compose_event(
            store=store, domain=chain.domain, private_key=farm, action=action, batch=identifier,
            **fields,
        )  # fmt: skip
        return rig.ingest.submit_many([signed])[0]

    registry.set_open_identifiers(chain.admin, registrar=chain.admin, allowed=True)
    try:
        (recorded,) = rig.capture("farm", document(event(action="OBSERVE", epcList=[crate])))
        assert recorded.outcome is Outcome.ANCHORED_ONLY
        taken = native(crate, Action.COMMISSION, product="crate", quantity=1)
        assert isinstance(taken.error, IdentifierIsRecordError)

        made = native(lot, Action.COMMISSION, product="lot", quantity=1)
        assert made.error is None
        (seen,) = rig.capture("farm", document(event(action="OBSERVE", epcList=[lot])))
        assert seen.outcome is Outcome.REFUSED
        assert isinstance(seen.refusal, EpcisEventRejectedError)
        assert seen.refusal.cause.code == "head-mismatch"
    finally:
        registry.set_open_identifiers(chain.admin, registrar=chain.admin, allowed=False)
        store.close()
