"""Identifier prefixes over HTTP: the registrar (admin key) licenses and revokes, anyone
reads who holds a prefix; the gateway refuses an unlicensed lot before the chain would,
stores nothing of it and records the refusal; bad requests are problems, never a 500."""

from __future__ import annotations

import secrets
from typing import Any

from node.events.identifiers import gtin_check_digit, parse_identifier
from node.events.submission import submission_document
from node.events.typed_data import Action
from tests.api.conftest import Rig


def lot_of(prefix: str, lot: str) -> str:
    """A lot identifier of a GTIN under GS1 company prefix ``prefix``."""
    body = ("0" + prefix).ljust(13, "1")
    return f"https://id.gs1.org/01/{body}{gtin_check_digit(body)}/10/{lot}"


def commission(rig: Rig, who: str, identifier: str) -> dict[str, Any]:
    signed = rig.sign(who, Action.COMMISSION, batch_id=bytes(parse_identifier(identifier).batch_id))
    document = submission_document(signed)
    document["identifiers"] = [identifier]
    return document


def refusals_since(rig: Rig, after: int) -> list[str]:
    with rig.node.store.read() as conn:
        return [r.code for r in rig.node.store.refusals.after(conn, after, limit=100)]


def last_refusal(rig: Rig) -> int:
    with rig.node.store.read() as conn:
        found = rig.node.store.refusals.after(conn, 0, limit=10_000)
    return found[-1].id if found else 0


def test_license_read_refuse_and_revoke_over_http(rig: Rig) -> None:
    admin, client = rig.auth("admin"), rig.client
    processor = rig.pids["processor"]
    mark = last_refusal(rig)

    licensed = client.post(
        f"/v1/participants/{processor}/licences", json={"prefix": "4012345"}, headers=admin
    )
    assert licensed.status_code == 201, licensed.text
    assert licensed.headers["location"] == "/v1/prefixes/4012345"
    body = licensed.json()
    assert (body["holder"], body["holderName"], body["kind"]) == (processor, "processor", "gs1")
    assert (body["held"], body["valid"], body["validUntil"]) == (True, True, None)
    assert isinstance(body["validFrom"], str)  # block numbers are decimal strings

    # The farm's lot under the processor's prefix is refused at once (the chain would
    # refuse it at commit), stored nowhere, recorded.
    stolen_lot = lot_of("4012345", "F1")
    stolen = client.post(
        "/v1/events", json=commission(rig, "farm", stolen_lot), headers=rig.auth("farm")
    )
    assert stolen.status_code == 403
    assert stolen.headers["content-type"] == "application/problem+json"
    assert stolen.json()["code"] == "unlicensed-identifier"
    assert stolen.json()["contractError"] == "BatchRegistryUnlicensedIdentifier"
    assert client.get(f"/v1/batches/{stolen_lot}").status_code == 404

    held = client.get("/v1/prefixes/4012345")
    mine = client.get(f"/v1/participants/{processor}/licences")
    participant = client.get(f"/v1/participants/{processor}")
    assert held.status_code == 200, held.text
    assert held.json()["current"]["holder"] == processor
    assert [lic["prefix"] for lic in mine.json()] == ["0614142", "4012345"]
    assert participant.json()["licences"] == mine.json()

    # Licensed, accepted; revoked, then refused: the licence is no longer valid (what the
    # chain answers).
    farm = rig.pids["farm"]
    granted = client.post(
        f"/v1/participants/{farm}/licences", json={"prefix": "4012346"}, headers=admin
    )
    assert granted.status_code == 201, granted.text
    accepted = client.post(
        "/v1/events",
        json=commission(rig, "farm", lot_of("4012346", "F2")),
        headers=rig.auth("farm"),
    )
    assert accepted.status_code == 202, accepted.text
    revoked = client.delete("/v1/prefixes/4012346", headers=admin)
    assert revoked.status_code == 200, revoked.text
    after = revoked.json()
    assert after["current"] is None
    assert [(lic["held"], lic["revokedBlock"] is not None) for lic in after["licences"]] == [
        (False, True)
    ]
    late = client.post(
        "/v1/events",
        json=commission(rig, "farm", lot_of("4012346", "F3")),
        headers=rig.auth("farm"),
    )
    assert late.status_code == 403
    assert late.json()["code"] == "licence-not-valid"
    assert refusals_since(rig, mark) == ["unlicensed-identifier", "licence-not-valid"]

    # Licensed again, to someone else: the history keeps both, oldest first.
    again = client.post(
        f"/v1/participants/{rig.pids['shop']}/licences",
        json={"prefix": "4012346", "validUntil": "100000"},
        headers=admin,
    )
    assert again.status_code == 201, again.text
    history = client.get("/v1/prefixes/4012346").json()
    assert [lic["holder"] for lic in history["licences"]] == [farm, rig.pids["shop"]]
    assert history["current"]["validUntil"] == "100000"


def test_bad_licence_requests_are_problems_and_change_nothing(rig: Rig) -> None:
    admin, client = rig.auth("admin"), rig.client
    farm = rig.pids["farm"]

    def license_(ref: object, body: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        answer = client.post(
            f"/v1/participants/{ref}/licences", json=body, headers=kwargs.get("headers", admin)
        )
        assert answer.headers["content-type"] == "application/problem+json", answer.text
        return answer.status_code, answer.json()["code"]

    assert license_(farm, {"prefix": "0614141"}) == (409, "contract-error")  # held already
    assert license_(farm, {"prefix": "061414"}) == (409, "contract-error")  # contains it
    assert license_(farm, {"prefix": "12"}) == (422, "validation-error")  # too short
    assert license_(farm, {"prefix": "12a45"}) == (422, "validation-error")
    assert license_(farm, {"prefix": "5012345", "validFrom": "9", "validUntil": "5"}) == (
        422,
        "validation-error",
    )
    assert license_(farm, {"prefix": "5012345", "validFrom": -1}) == (422, "validation-error")
    # The contract keeps blocks in a uint48: 2**48 once reached web3 and answered 500.
    assert license_(farm, {"prefix": "5012345", "validFrom": str(2**48)}) == (
        422,
        "validation-error",
    )
    assert license_(farm, {"prefix": "5012345", "validUntil": str(2**48)}) == (
        422,
        "validation-error",
    )
    assert license_(999, {"prefix": "5012345"}) == (404, "participant-not-found")
    assert license_(farm, {"prefix": "5012345"}, headers=rig.auth("farm")) == (
        403,
        "forbidden",
    )
    overlap = client.post(
        f"/v1/participants/{farm}/licences", json={"prefix": "06141419"}, headers=admin
    ).json()
    assert overlap["contractError"] == "ParticipantRegistryPrefixOverlap"

    never = client.get("/v1/prefixes/7777777")
    revoke_never = client.delete("/v1/prefixes/7777777", headers=admin)
    bad = client.get("/v1/prefixes/not-a-prefix")
    assert (never.status_code, never.json()["code"]) == (404, "prefix-not-found")
    assert (revoke_never.status_code, revoke_never.json()["contractError"]) == (
        404,
        "ParticipantRegistryNotLicensed",
    )
    assert bad.status_code == 422
    assert client.delete("/v1/prefixes/0614141", headers=rig.auth("farm")).status_code == 403
    # Nothing changed: the farm still holds what it held.
    held = client.get(f"/v1/participants/{farm}/licences").json()
    assert ("0614141", True) in [(lic["prefix"], lic["held"]) for lic in held]
    assert "5012345" not in [lic["prefix"] for lic in held]


def test_epcis_parties_are_found_by_any_gs1_licence_their_participant_holds(rig: Rig) -> None:
    admin, client = rig.auth("admin"), rig.client
    processor = rig.pids["processor"]
    parties = [
        "urn:epc:id:pgln:0614142.00000",  # the processor's registration prefix
        "urn:epc:id:pgln:4012347.00000",  # its second licence
        "urn:epc:id:sgln:4012347.00001.0",  # a location under it
        "urn:epc:id:pgln:7012345.00000",  # nobody's
    ]

    def lookup() -> list[str | None]:
        answer = client.post("/v1/epcis/lookup", json={"hashIds": [], "parties": parties})
        assert answer.status_code == 200, answer.text
        return [answer.json()["parties"][party] for party in parties]

    before = lookup()
    granted = client.post(
        f"/v1/participants/{processor}/licences", json={"prefix": "4012347"}, headers=admin
    )
    assert granted.status_code == 201, granted.text
    licensed = lookup()
    assert client.delete("/v1/prefixes/4012347", headers=admin).status_code == 200
    revoked = lookup()

    address = rig.accounts["processor"].address
    assert before == [address, None, None, None]
    assert licensed == [address, address, address, None]
    assert revoked == before


def _put_open(rig: Rig, allowed: bool, who: str = "admin") -> Any:
    return rig.client.request(
        "PUT", "/v1/open-identifiers", json={"allowed": allowed}, headers=rig.auth(who)
    )


def _submit(rig: Rig, who: str, action: Action, identifier: str, **fields: Any) -> Any:
    signed = rig.sign(who, action, batch_id=bytes(parse_identifier(identifier).batch_id), **fields)
    document = submission_document(signed)
    document["identifiers"] = [identifier]
    return rig.client.post("/v1/events", json=document, headers=rig.auth(who))


def test_open_identifiers_follow_the_roots_policy_and_are_labelled(rig: Rig) -> None:
    """A COMMISSION of urn:acme:lot:… is refused while the node's policy is closed,
    accepted once the root opens it (read from the chain), and its batch is labelled as
    node-local by the verifier; records and batches never share a key, in either order."""
    client, tag = rig.client, secrets.token_hex(3)
    lot, crate = f"urn:acme:lot:{tag}", f"urn:acme:crate:{tag}"

    refused = client.post("/v1/events", json=commission(rig, "farm", lot), headers=rig.auth("farm"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "open-identifier-refused"
    assert refused.json()["contractError"] == "BatchRegistryOpenIdentifierRefused"
    assert client.get(f"/v1/batches/{lot}").status_code == 404
    assert _put_open(rig, True, who="farm").status_code == 403  # not an admin key

    # A record under one open key (nothing holds a batch of it): anchored-only.
    observed = _submit(rig, "farm", Action.OBSERVE, crate)
    assert observed.status_code == 202, observed.text
    try:
        opened = _put_open(rig, True)
        assert opened.status_code == 200, opened.text
        assert opened.json() == {"registrar": rig.node.config.admin_address, "allowed": True}

        accepted = client.post(
            "/v1/events", json=commission(rig, "farm", lot), headers=rig.auth("farm")
        )
        assert accepted.status_code == 202, accepted.text
        # Records first, then a COMMISSION under their key: refused, the key stays theirs.
        taken = client.post(
            "/v1/events", json=commission(rig, "farm", crate), headers=rig.auth("farm")
        )
        assert taken.status_code == 409, taken.text
        assert taken.json()["code"] == "identifier-is-record"
        # The batch first, then an OBSERVE naming it: the batch's own observation.
        head = client.get(f"/v1/batches/{lot}").json()["head"]
        seen = _submit(rig, "farm", Action.OBSERVE, lot, prev_event_hash=bytes.fromhex(head[2:]))
        assert seen.status_code == 202, seen.text
        assert rig.commit() >= 1
    finally:
        assert _put_open(rig, False).status_code == 200

    batch = client.get(f"/v1/batches/{lot}").json()
    assert batch["identifier"] == lot
    assert batch["identifierKind"] == "other"  # an open identifier: no prefix kind
    assert batch["head"] == head  # an OBSERVE attaches to the head, never advances it
    bundle = client.get(f"/v1/batches/{lot}/bundle").json()
    report = client.post("/v1/verify", json=bundle).json()
    (subject,) = [b for b in report["batches"] if b["identifier"] == lot]
    (licence,) = [c for c in subject["checks"] if c["check"] == "licence"]
    assert licence["outcome"] == "skipped"
    assert licence["detail"] == (
        f"{lot}: node-local identifier: no prefix, no brand owner; allowed by the "
        "open-identifier policy of farm's node (a policy, not a licence)"
    )
    assert report["outcome"] == "pass", report
    observed_hashes = [report["events"][i]["eventHash"] for i in subject["events"]]
    assert seen.json()["eventHash"] in observed_hashes  # the batch's, not a record's
    # Closed again: a new open lot is refused; the batches made meanwhile stay.
    again = client.post(
        "/v1/events", json=commission(rig, "farm", lot + "-2"), headers=rig.auth("farm")
    )
    assert again.status_code == 403
