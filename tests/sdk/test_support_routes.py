"""The gateway's reads for remote signers (api/routes/sdk_support.py), over real HTTP."""

from __future__ import annotations

import httpx

from node.epcis.capture import capture, sign_document
from node.events.typed_data import Action
from tests.node.epcis.conftest import commissioning, document, new_lot
from tests.sdk.conftest import Gateway


def test_the_next_nonce_is_one_past_the_largest_the_key_used(gateway: Gateway) -> None:
    harness = gateway.harness
    farm = harness.keys["farm"].address
    before = httpx.get(f"{gateway.url}/v1/participants/{farm}/nonce").json()
    harness.submit("farm", Action.COMMISSION, "88.456/NONCE-1", product="x", quantity=1)
    harness.submit("farm", Action.OBSERVE, "88.456/NONCE-1")
    after = httpx.get(f"{gateway.url}/v1/participants/{farm.lower()}/nonce").json()
    stranger = harness.new_key().address
    unknown = httpx.get(f"{gateway.url}/v1/participants/{stranger}/nonce").json()

    assert before == {
        "address": farm,
        "nextNonce": "0",
        "participantId": harness.participant_id("farm"),
        "active": True,
    }
    assert after["nextNonce"] == "2"
    assert after["address"] == farm
    assert unknown == {
        "address": stranger,
        "nextNonce": "0",
        "participantId": None,
        "active": False,
    }


def test_a_suspended_or_rotated_key_is_told_so(gateway: Gateway) -> None:
    harness = gateway.harness
    carrier = harness.keys["carrier"].address
    shop = harness.keys["shop"].address
    harness.suspend("carrier")
    harness.rotate("shop")

    suspended = httpx.get(f"{gateway.url}/v1/participants/{carrier}/nonce").json()
    rotated = httpx.get(f"{gateway.url}/v1/participants/{shop}/nonce").json()

    assert suspended["participantId"] == harness.participant_id("carrier")
    assert suspended["active"] is False
    assert rotated["participantId"] is None


def test_a_malformed_address_is_a_validation_problem(gateway: Gateway) -> None:
    answer = httpx.get(f"{gateway.url}/v1/participants/0x1234/nonce")

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "validation-error"


def test_the_epcis_lookup_tells_known_events_and_parties(gateway: Gateway) -> None:
    harness = gateway.harness
    lot = new_lot()
    url = f"{gateway.url}/v1/epcis/lookup"
    request = sign_document(
        store=harness.node.store,
        domain=harness.node.domain,
        private_key=bytes(harness.keys["farm"].key),
        document=document(commissioning(lot)),
    )
    (captured,) = capture(ingest=harness.node.ingest, request=request)
    answer = httpx.post(
        url,
        json={
            "hashIds": [captured.hash_id, "ni:///sha-256;00?ver=CBV2.0"],
            "parties": [
                "urn:epc:id:pgln:0614142.00000",
                "https://id.gs1.org/417/0614141000005",
                "urn:epc:id:pgln:9999999.00000",
            ],
        },
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "known": {captured.hash_id: ["0x" + h.hex() for h in captured.trace_events]},
        "parties": {
            "urn:epc:id:pgln:0614142.00000": harness.keys["processor"].address,
            "https://id.gs1.org/417/0614141000005": harness.keys["farm"].address,
            "urn:epc:id:pgln:9999999.00000": None,
        },
    }


def test_the_epcis_lookup_refuses_what_it_does_not_bound(gateway: Gateway) -> None:
    url = f"{gateway.url}/v1/epcis/lookup"

    too_many = httpx.post(url, json={"hashIds": ["x"] * 1001, "parties": []})
    too_long = httpx.post(url, json={"hashIds": [], "parties": ["x" * 2049]})
    not_text = httpx.post(url, json={"hashIds": [], "parties": [7]})
    control = httpx.post(url, json={"hashIds": [], "parties": ["a\u0000b"]})
    extra = httpx.post(url, json={"hashIds": [], "parties": [], "more": 1})
    missing = httpx.post(url, json={"hashIds": []})
    not_json = httpx.post(url, content=b"{", headers={"Content-Type": "application/json"})

    for answer in (too_many, too_long, not_text, control, extra, missing):
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "validation-error"
    assert not_json.status_code == 400
    assert not_json.json()["code"] == "malformed-json"
