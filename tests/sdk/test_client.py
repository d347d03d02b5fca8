"""The SDK against a real gateway (uvicorn over a harness node, commit worker running)."""

from __future__ import annotations

from pathlib import Path

from node.events.typed_data import Action
from node.proofs.verify import Outcome
from node.sdk import Client
from tests.sdk.conftest import Gateway

GTIN = "09506000134352"


def lot(name: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/10/{name}"


def test_from_nothing_to_a_verified_proof(gateway: Gateway, tmp_path: Path) -> None:
    farm = gateway.harness.keys["farm"]
    with Client(
        gateway.url, api_key=gateway.tokens["farm"], key=farm, outbox=tmp_path / "outbox"
    ) as client:
        delivery = client.submit(Action.COMMISSION, lot("SDK-1"), product="milk", quantity=500)
        proof = client.wait_for_proof(delivery.event_hash, timeout=60)
        bundle = client.bundle(lot("SDK-1"))
        report = client.verify(bundle)

    assert delivery.outcome == "accepted"
    assert proof.event_hash == delivery.event_hash
    assert report.outcome is Outcome.PASS, report.failures()
