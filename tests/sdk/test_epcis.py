"""EPCIS 2.0 capture through the SDK: the node's mapping, the gateway's state."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from node.epcis.adoption import FIRST_SEEN
from node.exceptions import EpcisDocumentError, EpcisEventRejectedError, GatewayError
from tests.node.epcis.conftest import (
    commissioning,
    commissioning_xml,
    document,
    named,
    new_lot,
    receiving,
    shipping,
    with_master_data,
)
from tests.sdk.conftest import Gateway, Proxy
from tests.sdk.test_client import client_for


def test_a_document_is_signed_from_the_gateways_state_and_captured_once(
    gateway: Gateway, tmp_path: Path
) -> None:
    lot = new_lot()  # a lot of the farm's company prefix, shipped to the processor's
    shipped = document(commissioning(lot), shipping(lot))
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        delivery = farm.capture_epcis(shipped)
        again = farm.capture_epcis(shipped)
        in_transit = farm.batch(lot)
    with client_for(gateway, "processor", tmp_path / "processor") as processor:
        received = processor.capture_epcis(document(receiving(lot)))
        proof = processor.wait_for_proof(received.event_hash)
        state = processor.batch(lot)

    assert delivery.outcome == "accepted"
    assert [r["outcome"] for r in delivery.results] == ["captured", "captured"]
    assert len(delivery.event_hashes) == 2
    assert again.outcome == "duplicate"
    assert again.event_hashes == ()
    assert [r["eventHashId"] for r in again.results] == [r["eventHashId"] for r in delivery.results]
    assert in_transit["status"] == "IN_TRANSIT"
    assert in_transit["receiver"]["address"] == gateway.harness.keys["processor"].address
    assert in_transit["head"] == delivery.event_hashes[1]  # the SHIP extends the COMMISSION
    assert proof.event_hash == received.event_hash
    assert state["custodian"]["address"] == gateway.harness.keys["processor"].address
    assert gateway.event_rows() == 3


def test_a_document_extending_waiting_events_chains_onto_them(
    gateway: Gateway, tmp_path: Path
) -> None:
    lot = new_lot()
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        made = farm.capture_epcis(document(commissioning(lot)), send=False)
        shipped = farm.capture_epcis(document(shipping(lot)), send=False)
        report = farm.flush()
        state = farm.batch(lot)

    assert [made.outcome, shipped.outcome] == ["queued", "queued"]
    assert [d.outcome for d in report.deliveries] == ["accepted", "accepted"]
    assert state["head"] == shipped.event_hash


def test_an_invalid_document_is_refused_before_anything_is_signed(
    gateway: Gateway, tmp_path: Path
) -> None:
    broken = document(commissioning(new_lot()))
    broken["epcisBody"]["eventList"][0]["quantityList"][0]["uom"] = "litres"
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        with pytest.raises(EpcisDocumentError) as refused:
            farm.capture_epcis(broken)
        assert farm.outbox.count() == 0
        assert farm.outbox.rejected() == []

    assert refused.value.pointer.endswith("/quantityList/0/uom")


def test_a_document_the_gateway_refuses_is_kept_aside_whole(
    gateway: Gateway, tmp_path: Path
) -> None:
    lot = new_lot()
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        farm.capture_epcis(document(commissioning(lot)))
        with pytest.raises(EpcisEventRejectedError) as refused:  # the farm cannot receive it
            farm.capture_epcis(document(receiving(lot)))
        (kept,) = farm.outbox.rejected()

    assert refused.value.cause.code == "invalid-status"
    assert kept.kind == "epcis"
    assert kept.problem is not None
    assert kept.problem["code"] == "epcis-event-rejected"
    assert gateway.event_rows() == 1


def test_a_document_queued_twice_is_captured_once(gateway: Gateway, tmp_path: Path) -> None:
    made = document(commissioning(new_lot()))
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        first = farm.capture_epcis(made, send=False)
        second = farm.capture_epcis(made, send=False)  # its events already wait: none signed
        report = farm.flush()

    assert len(first.event_hashes) == 1
    assert second.event_hashes == ()
    assert [d.outcome for d in report.deliveries] == ["accepted", "duplicate"]
    assert gateway.event_rows() == 1


def test_an_xml_document_is_captured_through_the_sdk(gateway: Gateway, tmp_path: Path) -> None:
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        delivery = farm.capture_epcis(commissioning_xml(new_lot(), version="1"))

    assert delivery.outcome == "accepted"
    assert [r["outcome"] for r in delivery.results] == ["captured"]


def test_a_headers_master_data_is_asserted_by_the_submitter_through_the_sdk(
    gateway: Gateway, tmp_path: Path
) -> None:
    plant, dock = "urn:epc:id:sgln:0614141.00042.0", "urn:epc:id:sgln:0614141.00077.0"
    made = with_master_data(
        document(commissioning(new_lot())),
        named(plant, name="Alpine Dairy, Plant 2", city="Thun"),
        named(dock, name="Dock 7"),
    )
    auth = {"Authorization": f"Bearer {gateway.tokens['farm']}"}
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        delivery = farm.capture_epcis(made)
        again = farm.capture_epcis(made)  # the same assertions: duplicates, nothing twice
        (assertion,) = farm.master_data(plant)["assertions"]
        farm.wait_for_proof(assertion["eventHash"])
        about = farm.master_data(plant)

    assert delivery.outcome == "accepted"
    assert again.outcome == "duplicate"
    outcomes = []
    for captured in (delivery, again):
        assert captured.location is not None
        job = httpx.get(gateway.url + captured.location, headers=auth, timeout=30).json()
        assert job["success"] is True
        outcomes.append([(m["code"], m["outcome"]) for m in job["masterData"]])
    assert outcomes == [
        [(plant, "asserted"), (dock, "asserted")],
        [(plant, "duplicate"), (dock, "duplicate")],
    ]
    shown = about["shown"]
    assert (shown["name"], shown["address"]) == ("Alpine Dairy, Plant 2", "Thun")
    assert shown["saidBy"]["participant"] == "farm"
    assert shown["saidBy"]["brandOwner"] is True
    assert gateway.event_rows() == 3  # the commissioning and the two assertions


def test_lots_first_seen_mid_chain_take_the_gateways_form(gateway: Gateway, tmp_path: Path) -> None:
    """The farm's own lot, never commissioned here, is adopted before its shipping; the
    processor's lot is anchored-only with why: the SDK learns both forms from the gateway
    (POST /v1/epcis/performers, firstSeen) and the gateway re-derives them at capture."""
    lot, theirs = new_lot(), new_lot("0614142")
    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        delivery = farm.capture_epcis(document(shipping(lot), shipping(theirs)))
        state = farm.batch(lot)

    assert [r["outcome"] for r in delivery.results] == ["captured", "anchored-only"]
    assert FIRST_SEEN in delivery.results[0]["note"]
    assert "licensed to participant" in delivery.results[1]["note"]
    assert len(delivery.event_hashes) == 3  # the adoption, the SHIP, the record
    assert state["status"] == "IN_TRANSIT"
    assert state["head"] == delivery.event_hashes[1]


def test_a_gateway_naming_a_lot_the_event_does_not_extend_is_refused(
    gateway: Gateway, tmp_path: Path
) -> None:
    """A hostile (or confused) gateway's firstSeen naming a lot to adopt that the event
    does not name: the client signs nothing and queues nothing."""
    proxy = Proxy(gateway.url)
    elsewhere = "https://id.gs1.org/01/00614141123452/10/ELSEWHERE"
    proxy.rewrite["/v1/epcis/performers"] = lambda answer: {
        **answer,
        "firstSeen": [{"index": 0, "adopts": [elsewhere], "anchoredOnly": None}],
    }
    try:
        with client_for(gateway, "farm", tmp_path / "farm", url=proxy.url) as farm:
            with pytest.raises(GatewayError):
                farm.capture_epcis(document(shipping(new_lot())))
            queued = farm.outbox.count()
    finally:
        proxy.close()

    assert queued == 0
    assert gateway.event_rows() == 0
