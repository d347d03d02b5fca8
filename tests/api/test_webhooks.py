"""``/v1/webhooks`` subscriptions (admin key): created and changed with message types, a
least severity, batches and identifier prefixes; a bad filter is a 422 problem that
stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from node.events.identifiers import parse_identifier
from tests.api.conftest import GTIN, Rig

LOT = f"https://id.gs1.org/01/{GTIN}/10/HOOKED"
HOOK = "http://127.0.0.1:9/hook"


def hooks(rig: Rig) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = rig.client.get("/v1/webhooks", headers=rig.auth("admin")).json()
    return listed


def test_a_subscription_is_created_and_changed_with_its_filters(rig: Rig) -> None:
    admin = rig.auth("admin")
    created = rig.client.post(
        "/v1/webhooks",
        json={
            "url": HOOK,
            "events": ["event.anchored", "alert.raised"],
            "minSeverity": "high",
            "batches": [LOT],
            "prefixes": ["hdl:88.123"],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    changed = rig.client.request(
        "PATCH",
        f"/v1/webhooks/{hook['id']}",
        json={"events": ["batch.recalled"], "prefixes": [f"https://id.gs1.org/01/{GTIN}"]},
        headers=admin,
    )
    by_farm = rig.client.request(
        "PATCH", f"/v1/webhooks/{hook['id']}", json={"minSeverity": "low"}, headers=rig.auth("farm")
    )

    assert (hook["events"], hook["minSeverity"]) == (["alert.raised", "event.anchored"], "high")
    assert hook["batches"] == ["0x" + parse_identifier(LOT).batch_id.hex()]
    assert hook["prefixes"] == ["88.123"]
    assert hook["secret"].startswith("whsec_")
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["events"] == ["batch.recalled"]
    assert after["minSeverity"] == "high"  # not given: kept
    assert after["batches"] == hook["batches"]
    assert after["prefixes"] == [f"https://id.gs1.org/01/{GTIN}"]
    assert "secret" not in after
    assert by_farm.status_code == 403


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"events": ["alert.exploded"]}, "validation-error"),
        ({"events": ["alert.raised"], "prefixes": ["123"]}, "webhook-subscription-invalid"),
        ({"events": ["alert.raised"], "prefixes": [LOT]}, "webhook-subscription-invalid"),
        ({"events": ["alert.raised"], "batches": ["not a lot"]}, "webhook-subscription-invalid"),
        ({"events": ["alert.raised"], "batches": [LOT] * 101}, "validation-error"),
        ({"events": ["alert.raised"], "minSeverity": "urgent"}, "validation-error"),
    ],
)
def test_a_bad_filter_is_a_problem_and_stores_nothing(
    rig: Rig, body: dict[str, Any], code: str
) -> None:
    before = hooks(rig)
    refused = rig.client.post("/v1/webhooks", json={"url": HOOK} | body, headers=rig.auth("admin"))

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == code
    assert hooks(rig) == before


def test_a_bad_change_is_a_problem_and_changes_nothing(rig: Rig) -> None:
    admin = rig.auth("admin")
    hook = rig.client.post(
        "/v1/webhooks", json={"url": HOOK, "events": ["event.anchored"]}, headers=admin
    ).json()
    before = hooks(rig)

    refused = rig.client.request(
        "PATCH", f"/v1/webhooks/{hook['id']}", json={"prefixes": ["1"]}, headers=admin
    )
    private = rig.client.request(
        "PATCH", f"/v1/webhooks/{hook['id']}", json={"url": "http://10.0.0.1/x"}, headers=admin
    )
    missing = rig.client.request("PATCH", "/v1/webhooks/999999", json={"label": "x"}, headers=admin)
    controlled = rig.client.request(
        "PATCH", f"/v1/webhooks/{hook['id']}", json={"url": HOOK + "\u0000"}, headers=admin
    )
    created = rig.client.post(
        "/v1/webhooks", json={"url": HOOK + "\u0000", "events": ["event.anchored"]}, headers=admin
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "webhook-subscription-invalid"
    assert private.status_code == 422
    assert private.json()["code"] == "webhook-url-refused"
    assert missing.status_code == 404
    # A NUL once stored (and on PostgreSQL, a 500 whose log held the new secret).
    assert (controlled.status_code, controlled.json()["code"]) == (422, "validation-error")
    assert (created.status_code, created.json()["code"]) == (422, "validation-error")
    assert hooks(rig) == before
