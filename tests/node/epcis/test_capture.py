"""Signed capture end to end: sign, capture through ingest, commit on the embedded chain."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from node.epcis.capture import CaptureErrorBehaviour, Outcome, capture, sign_capture
from node.epcis.hashid import event_hash_id
from node.events.identifiers import parse_identifier
from node.events.payload import payload_hash
from node.events.signatures import sign_digest
from node.events.submission import parse_event
from node.events.typed_data import BatchStatus
from node.exceptions import (
    EpcisDocumentError,
    EpcisEventIdConflictError,
    EpcisEventRejectedError,
    EpcisLimitError,
    EpcisSignatureMismatchError,
    NotReceiverError,
)
from node.store.models import EventStatus
from node.store.tables import EPCIS_EVENTS, EVENTS
from tests.node.epcis.conftest import (
    Rig,
    commissioning,
    document,
    event,
    new_lot,
    receiving,
    shipping,
)


def counts(rig: Rig) -> tuple[int, int]:
    with rig.store.read() as conn:
        events = conn.execute(select(func.count()).select_from(EVENTS)).scalar_one()
        epcis = conn.execute(select(func.count()).select_from(EPCIS_EVENTS)).scalar_one()
    return int(events), int(epcis)


def test_a_supply_chain_captured_from_epcis_ends_anchored_and_re_hashable(rig: Rig) -> None:
    milk = new_lot()
    cheese = new_lot("0614142", "000001")
    farm_doc = document(commissioning(milk), shipping(milk))
    dairy_doc = document(
        receiving(milk),
        event(
            "TransformationEvent",
            when="2024-05-07T07:00:00.1234567+02:00",
            inputQuantityList=[{"epcClass": milk, "quantity": 100, "uom": "LTR"}],
            outputQuantityList=[{"epcClass": cheese, "quantity": 9.5, "uom": "KGM"}],
            bizStep="commissioning",
        ),
        event(
            when="2024-05-07T08:00:00Z",
            action="OBSERVE",
            bizStep="sensor_reporting",
            quantityList=[{"epcClass": cheese}],
            sensorElementList=[
                {"sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL"}]}
            ],
        ),
    )

    farm = rig.capture("farm", farm_doc)
    rig.commit()
    dairy = rig.capture("processor", dairy_doc)
    rig.commit()

    results = farm + dairy
    assert [r.outcome for r in results] == [Outcome.CAPTURED] * 5
    originals = farm_doc["epcisBody"]["eventList"] + dairy_doc["epcisBody"]["eventList"]
    with rig.store.read() as conn:
        for result, original in zip(results, originals, strict=True):
            stored = rig.store.epcis.get(conn, result.hash_id)
            assert stored is not None
            context = json.loads(stored.context or b"null")
            assert event_hash_id(original, context) == result.hash_id
            for trace_hash in result.trace_events:
                row = rig.store.events.get(conn, trace_hash)
                assert row is not None
                assert row.status is EventStatus.ANCHORED
                payload = json.loads(row.payload or b"null")
                assert payload == {"@context": context} | original
                assert payload_hash(payload) == row.event.payload_hash
                # The payload stands alone: its hash ID from it and nothing else.
                assert event_hash_id(payload, payload["@context"]) == result.hash_id
        milk_state = rig.store.batches.by_identifier(
            conn, "https://id.gs1.org/01/00614141123452/10/" + milk.rsplit(".", 1)[1]
        )
    assert milk_state is not None
    assert milk_state.status is BatchStatus.CONSUMED
    on_chain = rig.chain.batches.functions.batch(milk_state.batch_id).call()
    assert BatchStatus(on_chain[3]) is BatchStatus.CONSUMED


def test_lots_leave_the_network_and_arrive_from_outside_as_their_events_say(rig: Rig) -> None:
    """A shipping to a party no participant is (a GLN nobody holds) exports the lot; the
    processor receives it back; a receiving of a lot the network never held (a prefix
    nobody holds) adopts it: all captured, relayed and agreed on by the chain."""
    milk = new_lot()
    imported = new_lot("4012345", "000001")
    rig.capture("farm", document(commissioning(milk)))
    out = rig.capture("farm", document(shipping(milk, to="urn:epc:id:pgln:4000001.00000")))
    back = rig.capture("processor", document(receiving(milk), receiving(imported)))
    rig.commit()

    assert [r.outcome for r in out + back] == [Outcome.CAPTURED] * 3
    with rig.store.read() as conn:
        returned = rig.store.batches.load(conn, [parse_identifier(milk).batch_id])
        adopted = rig.store.batches.load(conn, [parse_identifier(imported).batch_id])
    (milk_state,) = returned.values()
    (import_state,) = adopted.values()
    processor = int(rig.chain.participants.functions.authorize(
        rig.chain.keys["processor"].address).call()[0])  # fmt: skip
    for state, producer in ((milk_state, milk_state.producer_id), (import_state, 0)):
        assert (state.status, state.custodian_id, state.producer_id) == (
            BatchStatus.ACTIVE,
            processor,
            producer,
        )
        on_chain = rig.chain.batches.functions.batch(state.batch_id).call()
        assert (on_chain[0], on_chain[1], BatchStatus(on_chain[3])) == (
            producer,
            processor,
            BatchStatus.ACTIVE,
        )
    assert milk_state.producer_id != 0  # the farm's lot came back, still the farm's


def test_a_transformation_reported_in_two_parts_is_captured_as_each_part_says(rig: Rig) -> None:
    """Inputs in one TransformationEvent, outputs in another (one transformationID): the
    milk is observed (it stays ACTIVE: the chain consumes a lot only into named outputs),
    the cheese created under the farm's licence; both anchored and agreed on-chain. A
    creation from nothing named needs the PRODUCER role, as any COMMISSION does."""
    milk, cheese = new_lot(), new_lot()
    rig.capture("farm", document(commissioning(milk)))
    rig.commit()
    parts = {"transformationID": "urn:uuid:0b5c2f3e-6a8d-4d5f-8a43-5d0f3e8b1a77"}
    inputs = event(
        "TransformationEvent",
        inputQuantityList=[{"epcClass": milk, "quantity": 100, "uom": "LTR"}],
        **parts,
    )
    outputs = event(
        "TransformationEvent",
        outputQuantityList=[{"epcClass": cheese, "quantity": 9.5, "uom": "KGM"}],
        bizStep="commissioning",
        **parts,
    )
    results = rig.capture("farm", document(inputs, outputs))
    rig.commit()

    assert [r.outcome for r in results] == [Outcome.CAPTURED] * 2
    with rig.store.read() as conn:
        states = rig.store.batches.load(
            conn, [parse_identifier(milk).batch_id, parse_identifier(cheese).batch_id]
        )
        rows = [rig.store.events.get(conn, h) for r in results for h in r.trace_events]
    assert [row.status for row in rows if row is not None] == [EventStatus.ANCHORED] * 2
    for state in states.values():
        assert state.status is BatchStatus.ACTIVE
        on_chain = rig.chain.batches.functions.batch(state.batch_id).call()
        assert (BatchStatus(on_chain[3]), bytes(on_chain[4])) == (state.status, state.head)

    # A processor naming outputs alone creates from nothing: COMMISSION's role rule.
    other = copy.deepcopy(outputs)
    other["outputQuantityList"][0]["epcClass"] = new_lot("0614142", "000001")
    (refused,) = rig.capture("processor", document(other))
    assert refused.outcome is Outcome.REFUSED
    assert "missing-role" in str(refused.refusal)


def test_a_document_of_two_parties_is_signed_by_each_and_attributed_to_each(rig: Rig) -> None:
    """The farm's commissioning and shipping and the processor's receiving, in one
    document: with both keys each event is signed by the party that performed it; with the
    farm's alone, the receiving is refused (the farm did not receive it) and nothing of it
    is stored or attributed to the farm."""
    farm, processor = (bytes(rig.chain.keys[k].key) for k in ("farm", "processor"))
    milk, other = new_lot(), new_lot()
    both = sign_capture(
        store=rig.store,
        domain=rig.chain.domain,
        private_key=farm,
        document=document(commissioning(milk), shipping(milk), receiving(milk)),
        others=[processor],
    )
    results = capture(ingest=rig.ingest, request=both.request)
    alone = sign_capture(
        store=rig.store,
        domain=rig.chain.domain,
        private_key=farm,
        document=document(commissioning(other), shipping(other), receiving(other)),
    )
    refused = capture(ingest=rig.ingest, request=alone.request)

    assert [r.outcome for r in results] == [Outcome.CAPTURED] * 3
    with rig.store.read() as conn:
        signers = [rig.store.events.get(conn, r.trace_events[0]).signer for r in results]  # type: ignore[union-attr]
        lot = rig.store.batches.load(conn, [parse_identifier(milk).batch_id])
    farm_address, processor_address = (
        bytes.fromhex(rig.chain.keys[k].address[2:]) for k in ("farm", "processor")
    )
    assert signers == [farm_address, farm_address, processor_address]
    (state,) = lot.values()
    assert state.status is BatchStatus.ACTIVE
    assert [r.outcome for r in refused] == [Outcome.CAPTURED, Outcome.CAPTURED, Outcome.REFUSED]
    assert refused[2].refusal is not None
    assert isinstance(refused[2].refusal, EpcisEventRejectedError)
    assert isinstance(refused[2].refusal.cause, NotReceiverError)
    assert refused[2].trace_events == ()


def test_a_query_document_is_captured_like_a_document(rig: Rig) -> None:
    lot = new_lot()
    rig.capture("farm", document(commissioning(lot)))
    query = {
        "@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-08T10:00:00Z",
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {
                    "eventList": [
                        event(
                            action="OBSERVE", bizStep="inspecting", quantityList=[{"epcClass": lot}]
                        ),
                        event(
                            action="OBSERVE",
                            bizStep="holding",
                            disposition="recalled",
                            quantityList=[{"epcClass": lot}],
                        ),
                    ]
                },
            }
        },
    }

    results = rig.capture("farm", query)

    assert [r.outcome for r in results] == [Outcome.CAPTURED, Outcome.CAPTURED]


def test_capturing_again_is_idempotent_and_known_events_are_skipped(rig: Rig) -> None:
    lot = new_lot()
    doc = document(commissioning(lot))
    request = rig.sign("farm", doc)

    first = capture(ingest=rig.ingest, request=request)
    again = capture(ingest=rig.ingest, request=request)
    before = counts(rig)
    resigned = rig.sign("farm", document(commissioning(lot), shipping(lot)))
    both = capture(ingest=rig.ingest, request=resigned)

    assert [r.outcome for r in first] == [Outcome.CAPTURED]
    assert [r.outcome for r in again] == [Outcome.DUPLICATE]
    assert again[0].hash_id == first[0].hash_id
    assert before == (1, 1)
    assert len(resigned["traceEvents"]) == 1  # the commissioning was captured already
    assert [r.outcome for r in both] == [Outcome.DUPLICATE, Outcome.CAPTURED]


def test_an_event_id_naming_two_events_in_one_document_refuses_the_later_one(rig: Rig) -> None:
    first, second = new_lot(), new_lot()
    doc = document(
        commissioning(first) | {"eventID": "urn:uuid:6d2b4f2e-1111-4c1a-9d55-0a1b2c3d4e5f"},
        commissioning(second) | {"eventID": "urn:uuid:6d2b4f2e-1111-4c1a-9d55-0a1b2c3d4e5f"},
    )

    signed = sign_capture(
        store=rig.store,
        domain=rig.chain.domain,
        private_key=bytes(rig.chain.keys["farm"].key),
        document=doc,
    )
    results = capture(ingest=rig.ingest, request=signed.request)

    # The signer's side leaves it unsigned, as the node refuses it.
    assert len(signed.request["traceEvents"]) == 1
    assert [type(e) for e in signed.refused] == [EpcisEventIdConflictError]
    assert [r.outcome for r in results] == [Outcome.CAPTURED, Outcome.REFUSED]
    refusal = results[1].refusal
    assert isinstance(refusal, EpcisEventIdConflictError)
    assert refusal.event_index == 1
    assert refusal.pointer == "/document/epcisBody/eventList/1/eventID"
    assert "events 0 and 1 share eventID" in str(refusal)
    assert counts(rig) == (1, 1)


def test_the_same_event_twice_under_one_event_id_is_a_duplicate_not_a_conflict(
    rig: Rig,
) -> None:
    lot = new_lot()
    once = commissioning(lot) | {"eventID": "urn:uuid:0e7c1a55-2222-4b2b-8c44-1a2b3c4d5e6f"}

    results = rig.capture("farm", document(once, once))
    again = rig.capture("farm", document(once))

    assert [r.outcome for r in results] == [Outcome.CAPTURED, Outcome.DUPLICATE]
    assert [r.outcome for r in again] == [Outcome.DUPLICATE]


def test_an_event_id_captured_before_for_another_event_is_refused(rig: Rig) -> None:
    event_id = "urn:uuid:3f9d8e7c-3333-4d3d-9e33-2b3c4d5e6f70"
    first = document(commissioning(new_lot()) | {"eventID": event_id})
    other = document(commissioning(new_lot()) | {"eventID": event_id})
    # Both signed while the node holds neither, so only the node can catch the reuse.
    requests = [rig.sign("farm", first), rig.sign("farm", other)]

    (captured,) = capture(ingest=rig.ingest, request=requests[0])
    before = counts(rig)
    (refused,) = capture(ingest=rig.ingest, request=requests[1])

    assert counts(rig) == before
    assert refused.outcome is Outcome.REFUSED
    assert isinstance(refused.refusal, EpcisEventIdConflictError)
    assert refused.refusal.event_index == 0
    assert refused.refusal.pointer == "/document/epcisBody/eventList/0/eventID"
    assert captured.hash_id in str(refused.refusal)
    assert rig.sign("farm", other)["traceEvents"] == []  # the signer skips it now


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action", 2),
        ("batchId", "0x" + "ab" * 32),
        ("quantity", 1),
        ("eventTime", 1),
        ("location", "0x" + "00" * 32),
        ("payloadHash", "0x" + "cd" * 32),
    ],
)
def test_a_signature_over_another_event_is_refused(rig: Rig, field: str, value: Any) -> None:
    lot = new_lot()
    request = rig.sign("farm", document(commissioning(lot)))
    smuggled = copy.deepcopy(request)
    smuggled["traceEvents"][0]["event"][field] = value
    # Re-sign the altered event properly: the signature is valid, the event is not the document's.
    altered = parse_event(smuggled["traceEvents"][0]["event"])
    key = bytes(rig.chain.keys["farm"].key)
    smuggled["traceEvents"][0]["signature"] = (
        "0x" + sign_digest(altered.digest(rig.chain.domain), key).hex()
    )

    with pytest.raises(EpcisSignatureMismatchError) as caught:
        capture(ingest=rig.ingest, request=smuggled)

    assert caught.value.pointer == f"/traceEvents/0/event/{field}"
    assert caught.value.event_index == 0
    assert counts(rig) == (0, 0)


def test_missing_or_extra_signatures_are_refused(rig: Rig) -> None:
    lot = new_lot()
    request = rig.sign("farm", document(commissioning(lot), shipping(lot)))
    short = {**request, "traceEvents": request["traceEvents"][:1]}
    doubled = {**request, "traceEvents": request["traceEvents"] * 2}

    for bad in (short, doubled):
        with pytest.raises(EpcisSignatureMismatchError):
            capture(ingest=rig.ingest, request=bad)
    assert counts(rig) == (0, 0)


def test_a_rule_refusing_one_event_refuses_it_alone_unless_rollback_is_asked(rig: Rig) -> None:
    lot = new_lot()
    # The processor did not commission the lot, so it cannot ship it.
    rig.capture("farm", document(commissioning(lot)))
    before = counts(rig)
    doc = document(
        event(action="OBSERVE", bizStep="inspecting", quantityList=[{"epcClass": lot}]),
        shipping(lot, to="urn:epc:id:pgln:0614141.00000"),
    )
    request = rig.sign("processor", doc)

    with pytest.raises(EpcisEventRejectedError) as caught:
        capture(ingest=rig.ingest, request=request, behaviour=CaptureErrorBehaviour.ROLLBACK)
    rolled_back = counts(rig)
    results = capture(ingest=rig.ingest, request=request)

    assert caught.value.event_index == 1
    assert caught.value.cause.code == "not-custodian"
    assert caught.value.pointer == "/document/epcisBody/eventList/1"
    assert [r.outcome for r in caught.value.outcomes] == [Outcome.REFUSED, Outcome.REFUSED]
    assert caught.value.outcomes[0].refusal.code == "epcis-capture-rolled-back"
    assert rolled_back == before
    assert [r.outcome for r in results] == [Outcome.CAPTURED, Outcome.REFUSED]
    assert isinstance(results[1].refusal, EpcisEventRejectedError)
    assert results[1].refusal.cause.code == "not-custodian"
    assert counts(rig) == (before[0] + 1, before[1] + 1)


def test_a_bad_signature_is_refused_and_nothing_written(rig: Rig) -> None:
    request = rig.sign("farm", document(commissioning(new_lot())))
    request["traceEvents"][0]["signature"] = "0x" + "00" * 65

    (result,) = capture(ingest=rig.ingest, request=request)

    assert result.outcome is Outcome.REFUSED
    assert isinstance(result.refusal, EpcisEventRejectedError)
    assert result.refusal.cause.code == "invalid-signature"
    assert counts(rig) == (0, 0)


@pytest.mark.parametrize(
    ("request_", "pointer"),
    [
        ([], ""),
        ({"document": {}, "extra": 1}, ""),
        ({"traceEvents": []}, "/document"),
        ({"document": {"type": "EPCISDocument"}}, "/document/epcisBody/eventList"),
        ({"document": document(commissioning(new_lot())), "traceEvents": {}}, "/traceEvents"),
        (
            {"document": document(commissioning(new_lot())), "traceEvents": [{"event": {}}]},
            "/traceEvents/0",
        ),
        (
            {
                "document": document(commissioning(new_lot())),
                "traceEvents": [{"event": {"action": 1}, "signature": "0x00"}],
            },
            "/traceEvents/0/event/event",
        ),
    ],
)
def test_malformed_requests_get_a_typed_error(rig: Rig, request_: Any, pointer: str) -> None:
    with pytest.raises(EpcisDocumentError) as caught:
        capture(ingest=rig.ingest, request=request_)

    assert caught.value.pointer == pointer
    assert counts(rig) == (0, 0)


def test_huge_lists_are_bounded_with_a_typed_error_and_nothing_written(rig: Rig) -> None:
    lots = [new_lot() for _ in range(1_001)]
    doc = document(
        event(
            action="ADD", bizStep="commissioning", quantityList=[{"epcClass": lot} for lot in lots]
        )
    )

    with pytest.raises(EpcisLimitError) as caught:
        rig.capture("farm", doc)

    assert caught.value.pointer.startswith("/document/epcisBody/eventList/0")
    assert counts(rig) == (0, 0)


def declared(original: dict[str, Any], *corrective: str) -> dict[str, Any]:
    """``original`` declared in error (CBV: incorrect_data), naming its corrective events."""
    return original | {
        "errorDeclaration": {
            "declarationTime": "2024-05-07T08:00:00Z",
            "reason": "incorrect_data",
            "correctiveEventIDs": list(corrective),
        }
    }


def test_a_declaration_of_error_is_its_own_event_linked_to_the_original(rig: Rig) -> None:
    """The shipping captured, then declared in error with its corrective event: the
    declaration is captured (never a duplicate) as an anchored event of its own, the
    original stays, and each of its TraceEvents names the declaration."""
    milk = new_lot()
    shipped = shipping(milk) | {"eventID": "urn:uuid:7a1f0c2e-0000-4000-8000-000000000001"}
    fix_id = "urn:uuid:7a1f0c2e-0000-4000-8000-000000000002"
    corrective = event(
        when="2024-05-07T08:00:00Z",
        action="OBSERVE",
        bizStep="inspecting",
        quantityList=[{"epcClass": milk}],
        eventID=fix_id,
    )
    first = rig.capture("farm", document(commissioning(milk), shipped))
    fixed = rig.capture("farm", document(declared(shipped, fix_id), corrective))
    again = rig.capture("farm", document(declared(shipped, fix_id), corrective))
    rig.commit()

    assert [r.outcome for r in first + fixed] == [Outcome.CAPTURED] * 4
    assert [r.outcome for r in again] == [Outcome.DUPLICATE] * 2
    assert fixed[0].hash_id == first[1].hash_id  # the hash ID ignores the declaration
    (declaration,) = fixed[0].trace_events
    with rig.store.read() as conn:
        original = rig.store.events.get(conn, first[1].trace_events[0])
        row = rig.store.events.get(conn, declaration)
        corrections = rig.store.epcis.corrections(conn, list(first[1].trace_events))
    assert original is not None
    assert original.event.action.name == "SHIP"  # kept as it was
    assert row is not None
    assert row.status is EventStatus.ANCHORED
    assert (
        row.event.action.name,
        json.loads(row.payload or b"{}")["errorDeclaration"]["reason"],
    ) == (
        "OBSERVE",
        "incorrect_data",
    )
    (record,) = corrections.values()
    assert (record.hash_id, record.reason, record.corrective_event_ids) == (
        first[1].hash_id,
        "incorrect_data",
        (fix_id,),
    )
    assert record.trace_events == (declaration,)


def test_a_declaration_before_its_event_records_both(rig: Rig) -> None:
    """Declared in error before the node ever saw the event (a query result often carries
    the declared event only): it is recorded, and declared, at once."""
    milk = new_lot()
    rig.capture("farm", document(commissioning(milk)))
    (result,) = rig.capture("farm", document(declared(shipping(milk))))
    plain = rig.capture("farm", document(shipping(milk)))

    assert result.outcome is Outcome.CAPTURED
    assert [r.outcome for r in plain] == [Outcome.DUPLICATE]  # the event is held
    with rig.store.read() as conn:
        corrections = rig.store.epcis.corrections(conn, list(result.trace_events))
    assert [c.hash_id for c in corrections.values()] == [result.hash_id]
