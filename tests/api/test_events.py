"""POST /v1/events and GET /v1/events/{hash}[/proof] against a real node."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select

from node.events.merkle import verify_proof
from node.events.signatures import sign_digest
from node.events.submission import SignedEvent, submission_document
from node.events.typed_data import Action, Role, TraceEvent
from node.store.apikeys import ApiKeys
from node.store.tables import EVENTS
from tests.api.conftest import Rig

PROBLEM = "urn:tracenode:problem:"


def stored_events(rig: Rig) -> int:
    with rig.node.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(EVENTS)).scalar_one())


def test_one_event_is_accepted_then_a_duplicate_and_anchored_with_a_proof_the_chain_accepts(
    rig: Rig,
) -> None:
    _, document = rig.commission()

    first = rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
    again = rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
    event_hash = first.json()["eventHash"]
    pending = rig.client.get(f"/v1/events/{event_hash}").json()
    early_proof = rig.client.get(f"/v1/events/{event_hash}/proof")
    rig.commit()
    anchored = rig.client.get(f"/v1/events/{event_hash}").json()
    proof = rig.client.get(f"/v1/events/{event_hash}/proof").json()

    assert first.status_code == 202
    assert first.json()["outcome"] == "accepted"
    assert first.headers["location"] == f"/v1/events/{event_hash}"
    assert again.status_code == 202
    assert again.json() == first.json() | {"outcome": "duplicate"}
    assert pending["status"] == "accepted"
    assert pending["proof"] is None
    assert early_proof.status_code == 409
    assert early_proof.json()["type"] == PROBLEM + "not-anchored"
    assert anchored["status"] == "anchored"
    assert anchored["proof"] == proof
    assert anchored["event"] == document["event"]
    root = bytes.fromhex(proof["root"][2:])
    siblings = [bytes.fromhex(p[2:]) for p in proof["proof"]]
    assert verify_proof(root, bytes.fromhex(event_hash[2:]), siblings)
    anchors = rig.node.w3.eth.contract(
        address=rig.node.deployment.anchor_registry,
        abi=[
            {
                "type": "function",
                "name": "verifyEvent",
                "stateMutability": "view",
                "inputs": [
                    {"name": "root", "type": "bytes32"},
                    {"name": "proof", "type": "bytes32[]"},
                    {"name": "eventHash", "type": "bytes32"},
                ],
                "outputs": [{"name": "", "type": "bool"}],
            }
        ],
    )
    assert anchors.functions.verifyEvent(root, siblings, bytes.fromhex(event_hash[2:])).call()


def test_a_key_for_one_participant_never_submits_an_event_signed_by_another(rig: Rig) -> None:
    _, document = rig.commission("farm")
    before = stored_events(rig)

    single = rig.client.post("/v1/events", json=document, headers=rig.auth("processor"))
    bulk = rig.client.post("/v1/events", json=[document], headers=rig.auth("processor"))

    assert single.status_code == 403
    assert single.headers["content-type"] == "application/problem+json"
    assert single.json()["type"] == PROBLEM + "signer-mismatch"
    assert bulk.status_code == 202
    assert bulk.json()["rejected"] == 1
    assert bulk.json()["results"][0]["problem"]["code"] == "signer-mismatch"
    assert stored_events(rig) == before
    accepted = rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
    assert accepted.json()["outcome"] == "accepted"


def test_writes_need_a_valid_participant_key(rig: Rig) -> None:
    _, document = rig.commission()

    anonymous = rig.client.post("/v1/events", json=document)
    garbage = rig.client.post(
        "/v1/events", json=document, headers={"Authorization": "Bearer tn_nothing"}
    )
    wrong_secret = rig.client.post(
        "/v1/events",
        json=document,
        headers={"Authorization": "Bearer " + rig.tokens["farm"][:-4] + "AAAA"},
    )
    admin = rig.client.post("/v1/events", json=document, headers=rig.auth("admin"))

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert garbage.status_code == 401
    assert wrong_secret.status_code == 401
    assert admin.status_code == 403
    assert {r.json()["type"] for r in (anonymous, garbage, wrong_secret)} == {
        PROBLEM + "unauthenticated"
    }


def test_a_bulk_gets_a_result_per_event_and_stores_only_the_good_ones(rig: Rig) -> None:
    lots = [rig.commission() for _ in range(3)]
    good = [document for _, document in lots]
    unsigned = dict(good[1], signature="0x" + "00" * 65)
    malformed = {"event": {"action": 1}, "signature": "0x00"}
    before = stored_events(rig)

    answer = rig.client.post(
        "/v1/events",
        json=[good[0], unsigned, malformed, good[2], good[0]],
        headers=rig.auth("farm"),
    )
    body = answer.json()

    assert answer.status_code == 202
    assert [r["outcome"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "rejected",
        "accepted",
        "duplicate",
    ]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3, 4]
    assert body["results"][1]["problem"]["type"] == PROBLEM + "invalid-signature"
    assert body["results"][2]["problem"]["type"] == PROBLEM + "invalid-event"
    assert body["results"][2]["eventHash"] is None
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 1, 2)
    assert stored_events(rig) == before + 2


def test_a_rule_breaking_event_is_a_conflict_naming_the_rule(rig: Rig) -> None:
    _, document = rig.commission()
    rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
    batch_id = bytes.fromhex(document["event"]["batchId"][2:])
    stale = rig.sign(
        "farm",
        Action.SHIP,
        batch_id=batch_id,
        prev_event_hash=b"\x01" * 32,
        counterparty=bytes.fromhex(rig.accounts["carrier"].address[2:]),
    )

    answer = rig.client.post(
        "/v1/events", json=submission_document(stale), headers=rig.auth("farm")
    )

    assert answer.status_code == 409
    problem = answer.json()
    assert problem["type"] == PROBLEM + "head-mismatch"
    assert problem["contractError"] == "BatchRegistryHeadMismatch"
    assert problem["status"] == 409
    assert problem["instance"] == "/v1/events"


def test_an_event_signed_again_is_a_duplicate_for_its_participant_and_a_conflict_for_others(
    rig: Rig,
) -> None:
    _, document = rig.commission()
    commission = rig.client.post("/v1/events", json=document, headers=rig.auth("farm"))
    first_key: LocalAccount = Account.create()
    pid = rig.node.registry.register(
        rig.registrar, key=first_key.address, name="inspector", roles=Role.AUDITOR, prefix=""
    )
    rig.node.sync_participants()
    token = ApiKeys(rig.node.store).create(participant_id=pid).token
    inspector = {"Authorization": f"Bearer {token}"}
    event = TraceEvent(
        Action.OBSERVE,
        batch_id=bytes.fromhex(document["event"]["batchId"][2:]),
        prev_event_hash=bytes.fromhex(commission.json()["eventHash"][2:]),
        event_time=1_732_000_000_000,
        nonce=7,
    )

    def signed_by(key: bytes) -> dict[str, Any]:
        return submission_document(
            SignedEvent(event, sign_digest(event.digest(rig.node.domain), key))
        )

    first = rig.client.post("/v1/events", json=signed_by(bytes(first_key.key)), headers=inspector)
    second_key: LocalAccount = Account.create()
    rig.node.registry.rotate_key(rig.registrar, pid, second_key.address)
    rig.node.sync_participants()
    before = stored_events(rig)
    rotated = signed_by(bytes(second_key.key))
    by_regulator = signed_by(bytes(rig.accounts["regulator"].key))

    again = rig.client.post("/v1/events", json=rotated, headers=inspector)
    again_in_a_list = rig.client.post("/v1/events", json=[rotated], headers=inspector)
    other = rig.client.post("/v1/events", json=by_regulator, headers=rig.auth("regulator"))
    other_in_a_list = rig.client.post(
        "/v1/events", json=[by_regulator], headers=rig.auth("regulator")
    )

    event_hash = first.json()["eventHash"]
    assert first.status_code == 202
    assert first.json()["outcome"] == "accepted"
    assert again.status_code == 202
    assert again.json() == first.json() | {"outcome": "duplicate"}
    assert again.headers["location"] == f"/v1/events/{event_hash}"
    assert again_in_a_list.status_code == 202
    assert again_in_a_list.json()["duplicate"] == 1
    assert again_in_a_list.json()["results"][0]["eventHash"] == event_hash
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    problem = other.json()
    assert problem["type"] == PROBLEM + "event-exists"
    assert (problem["code"], problem["status"], problem["eventHash"]) == (
        "event-exists",
        409,
        event_hash,
    )
    assert problem["signer"] == rig.accounts["regulator"].address.lower()
    assert "contractError" not in problem
    assert other_in_a_list.status_code == 202
    assert other_in_a_list.json()["rejected"] == 1
    (result,) = other_in_a_list.json()["results"]
    assert (result["outcome"], result["eventHash"]) == ("rejected", event_hash)
    assert result["problem"] == problem | {"instance": None}
    assert stored_events(rig) == before
    assert rig.client.get(f"/v1/events/{event_hash}").json()["participantId"] == pid


def test_unknown_and_malformed_event_hashes(rig: Rig) -> None:
    unknown = rig.client.get("/v1/events/0x" + "ab" * 32)
    malformed = rig.client.get("/v1/events/0xnothex")
    proof = rig.client.get("/v1/events/0x" + "ab" * 32 + "/proof")

    assert unknown.status_code == 404
    assert unknown.json()["type"] == PROBLEM + "event-not-found"
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "path.hash"
    assert proof.status_code == 404


def test_a_list_over_the_limit_is_refused_whole(rig: Rig) -> None:
    _, document = rig.commission()
    before = stored_events(rig)

    answer = rig.client.post(
        "/v1/events",
        json=[document] * (rig.app.state.gateway.settings.max_events_per_request + 1),
        headers=rig.auth("farm"),
    )

    assert answer.status_code == 413
    assert answer.json()["type"] == PROBLEM + "too-many-items"
    assert stored_events(rig) == before
