"""The ingest rules on open identifiers (node/events/rules.py), without a chain: the
policy as the ingest read it, and the record rule."""

from __future__ import annotations

import pytest

from node.events.identifiers import Licence, PrefixKind, identifier_split, parse_identifier
from node.events.rules import check_adoptable, check_licence, check_not_records
from node.events.submission import SignedEvent
from node.events.typed_data import Action
from node.exceptions import (
    IdentifierIsRecordError,
    LicensedElsewhereError,
    OpenIdentifierRefusedError,
)
from node.ingest.service import IngestService, Outcome
from node.store.store import Store
from tests.node.ingest.test_service import DOMAIN, World

OPEN = parse_identifier("urn:acme:lot:7")
GS1 = parse_identifier("https://id.gs1.org/01/09506000134352/10/LOT-7")


def test_an_open_identifier_needs_its_nodes_policy() -> None:
    split = identifier_split(OPEN)
    with pytest.raises(OpenIdentifierRefusedError, match="participant 3's node does not allow"):
        check_licence(split, OPEN.batch_id, 3, {}, 10, open_allowed=False)
    with pytest.raises(OpenIdentifierRefusedError):
        check_adoptable(split, OPEN.batch_id, 3, {}, open_allowed=False)
    check_licence(split, OPEN.batch_id, 3, {}, 10, open_allowed=True)
    check_adoptable(split, OPEN.batch_id, 3, {}, open_allowed=True)


def test_a_key_that_holds_records_names_no_new_batch() -> None:
    split = identifier_split(OPEN)
    with pytest.raises(IdentifierIsRecordError, match="already keys anchored-only records"):
        check_not_records(split, OPEN.batch_id, has_records=True)
    check_not_records(split, OPEN.batch_id, has_records=False)
    # GS1 and handle identifiers are never record keys: the rule does not apply
    check_not_records(identifier_split(GS1), GS1.batch_id, has_records=True)


def test_records_then_a_batch_in_one_call_and_the_other_order(store: Store) -> None:
    """The one rule inside a single ingest call, both orders: a record OBSERVE of a key
    and then a COMMISSION under it (refused: the key names the record), and a COMMISSION
    and then an OBSERVE naming it at its head (the batch's observation). The node's
    policy is read through ``open_policy`` once per call and participant (here: open)."""
    world = World(store)
    asked: list[int] = []

    def policy(participant: int) -> bool:
        asked.append(participant)
        return True

    world.ingest = IngestService(store=store, domain=DOMAIN, open_policy=policy)
    farm = world["farm"]
    crate, lot = parse_identifier("urn:acme:crate:1"), parse_identifier("urn:acme:lot:1")

    record = world.sign(world.event(Action.OBSERVE, farm, crate.batch_id), farm)
    taken = world.event(Action.COMMISSION, farm, crate.batch_id)
    made = world.event(Action.COMMISSION, farm, lot.batch_id)
    seen = world.event(Action.OBSERVE, farm, lot.batch_id, prev_event_hash=made.digest(DOMAIN))
    results = world.ingest.submit_many(
        [
            SignedEvent(record.event, record.signature, identifiers=(crate.canonical,)),
            world.sign(taken, farm, identifiers=(crate.canonical,)),
            world.sign(made, farm, identifiers=(lot.canonical,)),
            world.sign(seen, farm, identifiers=(lot.canonical,)),
        ]
    )

    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
    ]
    assert isinstance(results[1].error, IdentifierIsRecordError)
    assert asked == [farm.participant_id]  # once for the call
    assert world.batch(crate.batch_id) is None  # records make no batch
    assert world.batch(lot.batch_id).head == made.digest(DOMAIN)  # type: ignore[attr-defined]


def test_an_adoption_is_refused_under_any_held_prefix_of_the_identifier() -> None:
    """As BatchRegistry judges it: whichever split a proof names, a lot under a prefix held
    by another participant (even expired) is not adoptable, though a longer candidate's
    licence is revoked (its holder was the first the proof's choice fell on)."""
    split = identifier_split(GS1)
    licences = {
        (PrefixKind.GS1, "95060001"): Licence(holder=4, valid_from=1, valid_until=5, held=False),
        (PrefixKind.GS1, "9506000"): Licence(holder=2, valid_from=6, valid_until=9, held=True),
    }
    with pytest.raises(
        LicensedElsewhereError, match="under prefix 9506000, licensed to participant 2"
    ):
        check_adoptable(split, GS1.batch_id, 3, licences)
    check_adoptable(split, GS1.batch_id, 2, licences)
    handle = parse_identifier("88.123.45/x-1")
    held = {
        (PrefixKind.HANDLE, "88.123.45"): Licence(holder=5, valid_from=1, valid_until=0, held=True)
    }
    with pytest.raises(LicensedElsewhereError):
        check_adoptable(identifier_split(handle), handle.batch_id, 3, held)
