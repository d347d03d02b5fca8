"""Lots first seen mid-chain (docs/epcis.md): an EPCIS stream that starts in the middle of
a lot's life, on the embedded chain. The brand owner's first event of a lot never held
here adopts it (a RECEIVE naming no previous event, the contract's adoption), and custody
is enforced on-chain from there; another brand's lot is anchored-only, with why, and
nothing is attributed to it; a forged adoption is refused by the rules; a lot adopted
between signing and capture refuses that event alone, never adopting it twice."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import select

from node.chain.reader import ChainReader, Contracts
from node.cli.common import console
from node.cli.provenance import print_report
from node.epcis.adoption import FIRST_SEEN, adopting, anchored_only, lots_extended
from node.epcis.capture import Outcome, capture, map_request_document
from node.epcis.document import parse_document
from node.epcis.mapping import chain_trace_events
from node.events.identifiers import parse_identifier
from node.events.signatures import sign_digest
from node.events.typed_data import Action, BatchStatus
from node.exceptions import EpcisAdoptionChangedError, EpcisEventRejectedError
from node.proofs.verify import Check, report_json, verify_bundle
from node.proofs.verify import Outcome as VerifyOutcome
from node.provenance.service import ProvenanceService
from node.store.tables import EVENTS
from tests.node.epcis.conftest import (
    Rig,
    commissioning,
    document,
    event,
    new_lot,
    receiving,
    shipping,
)


def lot_id(lot: str) -> bytes:
    return bytes(parse_identifier(lot).batch_id)


def inspecting(lot: str) -> dict[str, Any]:
    return event(action="OBSERVE", bizStep="inspecting", quantityList=[{"epcClass": lot}])


def on_chain(rig: Rig, lot: str) -> tuple[int, int, int, BatchStatus]:
    producer, custodian, receiver, status, _head = rig.chain.batches.functions.batch(
        lot_id(lot)
    ).call()
    return producer, custodian, receiver, BatchStatus(status)


def stored(rig: Rig) -> list[tuple[Action, bytes, bytes]]:
    with rig.store.read() as conn:
        return [
            (Action(a), bytes(b), bytes(s))
            for a, b, s in conn.execute(
                select(EVENTS.c.action, EVENTS.c.batch_id, EVENTS.c.signer).order_by(EVENTS.c.id)
            )
        ]


def signed_as(rig: Rig, who: str, doc: dict[str, Any], *, adopt: bool) -> dict[str, Any]:
    """A request for ``doc``'s one event signed by ``who`` in the form it chooses: adopting
    the lots the event extends, or anchored-only (what a hostile or stale client sends)."""
    mapped, _known = map_request_document(rig.store, parse_document(doc))
    base = mapped.trace_events[0]
    items = (
        adopting(base, lots_extended(base)) if adopt else anchored_only(base, mapped.hash_ids[0])
    )
    key = rig.chain.keys[who]
    with rig.store.read() as conn:
        nonce = rig.store.events.next_nonce(conn, bytes.fromhex(key.address[2:]))
    events, _ = chain_trace_events(items, heads={}, nonce=nonce, domain=rig.chain.domain)
    return {
        "document": doc,
        "traceEvents": [
            {"event": e.message(), "signature": "0x" + sign_digest(d, bytes(key.key)).hex()}
            for e, d in events
        ],
    }


def address(rig: Rig, who: str) -> bytes:
    return bytes.fromhex(rig.chain.keys[who].address[2:])


def test_a_brand_owner_ships_items_it_never_commissioned_here_and_custody_follows(
    rig: Rig,
) -> None:
    lot = new_lot()  # the farm's prefix: the farm names it first, shipping it
    (shipped,) = rig.capture("farm", document(shipping(lot)))
    rig.commit()

    assert shipped.outcome is Outcome.CAPTURED
    assert FIRST_SEEN in (shipped.note or "")
    farm = address(rig, "farm")
    assert stored(rig) == [(Action.RECEIVE, lot_id(lot), farm), (Action.SHIP, lot_id(lot), farm)]
    # On-chain: adopted (producer unknown, 0), then shipped to the processor (participant 2).
    assert on_chain(rig, lot) == (0, 1, 2, BatchStatus.IN_TRANSIT)

    # The verifier says so: an adoption of a lot first seen mid-chain, never a production.
    d = rig.chain.deployment
    reader = ChainReader(
        rig.chain.w3, Contracts(d.participant_registry, d.batch_registry, d.anchor_registry)
    )
    bundle = ProvenanceService(rig.store, rig.chain.w3, d).export(lot_id(lot))
    report = verify_bundle(bundle, reader)
    assert report.outcome is VerifyOutcome.PASS, report.failures()
    (batch,) = report.batches
    assert (batch.adopted_at, batch.first_seen_mid_chain) == (0, True)
    (licence,) = [c for c in batch.checks if c.check is Check.LICENCE]
    assert "first seen mid-chain" not in licence.detail  # its brand owner holds the prefix
    (shown,) = cast(list[dict[str, object]], report_json(report)["batches"])
    assert shown["firstSeenMidChain"] is True
    with console.capture() as printed:  # tracenode verify / provenance
        print_report(report, title="bundle")
    assert "event #0, first seen mid-chain: history before this event was not captured" in (
        printed.get()
    )

    (received,) = rig.capture("processor", document(receiving(lot)))
    rig.commit()
    assert (received.outcome, received.note) == (Outcome.CAPTURED, None)
    assert on_chain(rig, lot) == (0, 2, 0, BatchStatus.ACTIVE)

    # The farm is no longer its custodian: no second adoption, the rule refuses the SHIP.
    later = shipping(lot) | {"eventTime": "2024-05-07T09:00:00+02:00"}
    (again,) = rig.capture("farm", document(later))
    assert again.outcome is Outcome.REFUSED
    assert isinstance(again.refusal, EpcisEventRejectedError)
    assert again.refusal.cause.code == "not-custodian"
    assert len(stored(rig)) == 3


def test_another_brands_lot_is_anchored_only_and_nothing_is_attributed_to_it(rig: Rig) -> None:
    lot = new_lot("0614142")  # the processor's prefix, which the farm does not hold
    doc = document(shipping(lot, to="urn:epc:id:pgln:0614141.00000"))

    (result,) = rig.capture("farm", doc)
    rig.commit()

    assert result.outcome is Outcome.ANCHORED_ONLY
    assert "anchored-only" in (result.note or "")
    assert "licensed to participant 2" in (result.note or "")
    ((action, batch, signer),) = stored(rig)
    assert (action, signer) == (Action.OBSERVE, address(rig, "farm"))
    assert batch != lot_id(lot)  # a record of the event's hash ID, not of the lot
    with rig.store.read() as conn:
        assert rig.store.batches.load(conn, [lot_id(lot)]) == {}
    assert on_chain(rig, lot)[3] is BatchStatus.NONE

    # A farm-signed adoption of it is refused by the contract's rule; nothing is written.
    other = new_lot("0614142")
    (forged,) = capture(
        ingest=rig.ingest, request=signed_as(rig, "farm", document(shipping(other)), adopt=True)
    )
    assert forged.outcome is Outcome.REFUSED
    assert isinstance(forged.refusal, EpcisEventRejectedError)
    assert forged.refusal.cause.code == "licensed-elsewhere"
    # And an own lot signed anchored-only by the party that may adopt it is refused too.
    mine = document(shipping(new_lot()))
    (dodged,) = capture(ingest=rig.ingest, request=signed_as(rig, "farm", mine, adopt=False))
    assert isinstance(dodged.refusal, EpcisAdoptionChangedError)
    assert len(stored(rig)) == 1


def test_a_lot_adopted_between_signing_and_capture_refuses_that_event_alone(rig: Rig) -> None:
    lot, made = new_lot(), new_lot()
    stale = rig.sign("farm", document(shipping(lot), commissioning(made)))
    elsewhere = new_lot("0614142")
    stale_record = rig.sign("farm", document(shipping(elsewhere)))  # anchored-only form
    # Meanwhile the lots' brand owners name them first: each is adopted.
    assert [r.outcome for r in rig.capture("farm", document(inspecting(lot)))] == [Outcome.CAPTURED]
    assert [r.outcome for r in rig.capture("processor", document(inspecting(elsewhere)))] == [
        Outcome.CAPTURED
    ]

    results = capture(ingest=rig.ingest, request=stale)
    (late,) = capture(ingest=rig.ingest, request=stale_record)
    rig.commit()

    assert [r.outcome for r in results] == [Outcome.REFUSED, Outcome.CAPTURED]
    assert isinstance(results[0].refusal, EpcisAdoptionChangedError)
    assert "sign it again" in str(results[0].refusal)
    assert isinstance(late.refusal, EpcisAdoptionChangedError)
    adoptions = [b for a, b, _s in stored(rig) if a is Action.RECEIVE]
    assert adoptions == [lot_id(lot), lot_id(elsewhere)]  # each adopted once
    assert on_chain(rig, lot) == (0, 1, 0, BatchStatus.ACTIVE)
    assert on_chain(rig, made)[3] is BatchStatus.ACTIVE
