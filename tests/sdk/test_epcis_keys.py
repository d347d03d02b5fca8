"""A document of several parties captured by the SDK with a key set: the gateway names the
address that performs each event (``POST /v1/epcis/performers``), each event is signed
with its performer's key on the client, and the gateway attributes each to its signer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from node.epcis.mapping import MAX_SIGNERS
from node.events.identifiers import parse_identifier
from node.exceptions import GatewayMismatchError, KeySetError, UnknownSignerError
from tests.node.epcis.conftest import commissioning, document, new_lot, receiving, shipping
from tests.sdk.conftest import Gateway, Proxy
from tests.sdk.test_client import client_for


def _signers(client: Any, results: Any) -> list[str]:
    return [client.event(h)["signer"] for r in results for h in r["traceEvents"]]


def test_a_document_of_two_parties_is_signed_by_each_key_of_the_set(
    gateway: Gateway, tmp_path: Path
) -> None:
    """The farm's commissioning and shipping and the processor's receiving: with both keys
    each is captured and attributed to its performer; with the farm's alone the receiving
    is refused with its rule (the farm was not shipped to), as ``tracenode epcis sign``
    does; two documents queued with the set number the other key's events on."""
    keys = gateway.harness.keys
    farm_address, processor_address = keys["farm"].address, keys["processor"].address
    milk, other, queued_a, queued_b = new_lot(), new_lot(), new_lot(), new_lot()

    def whole(lot: str) -> dict[str, Any]:
        return document(commissioning(lot), shipping(lot), receiving(lot))

    with client_for(gateway, "farm", tmp_path / "farm") as farm:
        both = farm.capture_epcis(whole(milk), keys=[keys["processor"]])
        alone = farm.capture_epcis(whole(other))
        first = farm.capture_epcis(whole(queued_a), keys=[bytes(keys["processor"].key)], send=False)
        second = farm.capture_epcis(whole(queued_b), keys=[keys["processor"].key.hex()], send=False)
        report = farm.flush()
        signed_by = _signers(farm, both.results)
        queued_by = [_signers(farm, d.results) for d in report.deliveries]
        state = farm.batch(milk)

    assert both.outcome == "accepted"
    assert [r["outcome"] for r in both.results] == ["captured"] * 3
    assert signed_by == [farm_address, farm_address, processor_address]
    assert state["status"] == "ACTIVE"
    assert state["custodian"]["address"] == processor_address

    assert [r["outcome"] for r in alone.results] == ["captured", "captured", "refused"]
    refused = alone.results[2]
    assert refused["traceEvents"] == []
    assert refused["problem"]["code"] == "epcis-event-rejected"
    assert refused["problem"]["cause"]["code"] == "not-receiver"

    assert [first.outcome, second.outcome] == ["queued", "queued"]
    assert [d.outcome for d in report.deliveries] == ["accepted", "accepted"]
    for delivery in report.deliveries:
        assert [r["outcome"] for r in delivery.results] == ["captured"] * 3
    assert queued_by == [[farm_address, farm_address, processor_address]] * 2
    assert gateway.event_rows() == 3 + 2 + 3 + 3


def test_a_key_set_the_client_cannot_use_sends_nothing(gateway: Gateway, tmp_path: Path) -> None:
    keys = gateway.harness.keys
    lot = new_lot()
    shipped = document(commissioning(lot), shipping(lot), receiving(lot))
    stranger = Account.create()
    proxy = Proxy(gateway.url)
    # A gateway naming a signer the client does not hold (hostile or confused).
    proxy.rewrite["/v1/epcis/performers"] = lambda answer: {
        **answer,
        "performers": [stranger.address] * len(answer["performers"]),
    }
    try:
        with client_for(gateway, "farm", tmp_path / "farm") as farm:
            with pytest.raises(KeySetError):
                farm.capture_epcis(shipped, keys=[keys["processor"], keys["processor"]])
            with pytest.raises(KeySetError):
                farm.capture_epcis(shipped, keys=[keys["farm"]])  # the client's own, again
            with pytest.raises(KeySetError):
                farm.capture_epcis(shipped, keys=[Account.create() for _ in range(MAX_SIGNERS)])
            with pytest.raises(KeySetError):
                farm.capture_epcis(shipped, keys=keys["processor"])  # type: ignore[arg-type]
            with pytest.raises(UnknownSignerError):
                farm.capture_epcis(shipped, keys=[keys["processor"], stranger])
            queued = farm.outbox.count()
        with client_for(gateway, "farm", tmp_path / "relayed", url=proxy.url) as relayed:
            with pytest.raises(GatewayMismatchError):
                relayed.capture_epcis(shipped, keys=[keys["processor"]])
            queued += relayed.outbox.count()
    finally:
        proxy.close()

    assert queued == 0
    assert gateway.event_rows() == 0


def test_the_performers_endpoint_refuses_bad_input_with_a_problem(gateway: Gateway) -> None:
    keys = gateway.harness.keys
    lot = new_lot()
    shipped = document(commissioning(lot), shipping(lot), receiving(lot))
    farm, processor = keys["farm"].address, keys["processor"].address
    headers = {"Authorization": f"Bearer {gateway.tokens['farm']}"}

    def ask(body: Any) -> httpx.Response:
        return httpx.post(
            f"{gateway.url}/v1/epcis/performers", json=body, headers=headers, timeout=30
        )

    good = ask({"document": shipped, "events": [0, 1, 2], "signers": [farm, processor]})
    # A lot first seen mid-chain: its form is answered (firstSeen), unless the client's own
    # waiting events bring it in (held).
    mid = document(shipping(new_lot()))
    first_seen = ask({"document": mid, "events": [0], "signers": [farm]})
    lot_id = (
        "0x"
        + parse_identifier(
            mid["epcisBody"]["eventList"][0]["quantityList"][0]["epcClass"]
        ).batch_id.hex()
    )
    held = ask({"document": mid, "events": [0], "signers": [farm], "held": [lot_id]})
    refusals = [
        ask({"document": mid, "events": [0], "signers": [farm], "held": ["0x12"]}),
        ask({"document": mid, "events": [0], "signers": [farm], "held": [lot_id] * 1001}),
        ask({"document": shipped, "events": [0], "signers": [farm, farm.lower()]}),
        ask({"document": shipped, "events": [0], "signers": [farm] * (MAX_SIGNERS + 1)}),
        ask({"document": shipped, "events": [0], "signers": []}),
        ask({"document": shipped, "events": [0], "signers": ["0x1234"]}),
        ask({"document": shipped, "events": [3], "signers": [farm]}),
        ask({"document": shipped, "events": [1, 0], "signers": [farm]}),
        ask({"document": {"type": "EPCISDocument"}, "events": [0], "signers": [farm]}),
        ask({"document": shipped, "signers": [farm]}),
    ]

    assert good.status_code == 200
    answer = good.json()
    assert answer["performers"] == [farm, farm, processor]
    assert [s["address"] for s in answer["signers"]] == [farm, processor]
    assert all(s["participantId"] is not None for s in answer["signers"])
    assert answer["firstSeen"] == []
    assert first_seen.status_code == 200, first_seen.text
    (form,) = first_seen.json()["firstSeen"]
    assert (form["index"], len(form["adopts"]), form["anchoredOnly"]) == (0, 1, None)
    assert first_seen.json()["performers"] == [farm, farm]  # the adoption, the SHIP
    assert held.status_code == 200, held.text
    assert (held.json()["firstSeen"], held.json()["performers"]) == ([], [farm])
    for response in refusals:
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    codes = [r.json()["code"] for r in refusals]
    assert codes[:8] == ["validation-error"] * 8
    assert codes[8] == "epcis-invalid-document"
    assert codes[9] == "validation-error"
