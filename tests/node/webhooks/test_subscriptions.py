"""Subscriptions: read and checked in one place (node/webhooks/subscriptions.py) for the
CLI and the API; a bad filter is a typed error naming it and stores nothing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from api.cli import app
from node.events.identifiers import parse_identifier
from node.exceptions import WebhookSubscriptionError
from node.store.models import AlertSeverity
from node.testing.plugin import HarnessFactory
from node.webhooks.subscriptions import MAX_PREFIXES, subscription

LOT = "https://id.gs1.org/01/09506000134352/10/SUB-1"


def test_filters_read_to_canonical_values_once_each() -> None:
    wanted = subscription(
        types=["event.anchored", "alert.raised", "event.anchored"],
        min_severity="HIGH",
        batches=[LOT, "urn:epc:class:lgtin:9506000.013435.SUB-1"],
        prefixes=["hdl:88.123", "88.123", "(01)09506000134352"],
    )

    assert wanted.types == ("alert.raised", "event.anchored")
    assert wanted.min_severity is AlertSeverity.HIGH
    assert wanted.batch_ids == (bytes(parse_identifier(LOT).batch_id),)
    assert wanted.prefixes == ("88.123", "https://id.gs1.org/01/09506000134352")


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"types": ["alert.exploded"]}, "alert.exploded"),
        ({"types": []}, "no message type"),
        ({"min_severity": "urgent"}, "urgent"),
        ({"batches": ["LOT-1"]}, "batch 'LOT-1'"),
        ({"batches": ["https://id.gs1.org/01/09506000134353/10/X"]}, "check digit"),
        ({"prefixes": ["12345"]}, "6 to 12 digits"),
        ({"prefixes": [LOT]}, "names one batch"),
        ({"prefixes": ["9506000"] * (MAX_PREFIXES + 1)}, "at most"),
    ],
)
def test_a_bad_filter_is_a_typed_error_naming_it(filters: dict[str, object], named: str) -> None:
    arguments: dict[str, object] = {"types": ["alert.raised"], "min_severity": "low"} | filters

    with pytest.raises(WebhookSubscriptionError, match=named.replace("(", r"\(")):
        subscription(**arguments)  # type: ignore[arg-type]


def test_the_cli_subscribes_by_type_batch_prefix_and_severity(
    tracenode_factory: HarnessFactory,
) -> None:
    h = tracenode_factory()
    data_dir = str(h.node.data_dir)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, [*args, "--data-dir", data_dir])

    bad_prefix = run("webhook", "add", "http://127.0.0.1:9/h", "--allow-loopback", "--prefix", "12")
    bad_type = run("webhook", "add", "http://127.0.0.1:9/h", "--allow-loopback", "--type", "x.y")
    added = run(
        "webhook",
        "add",
        "http://127.0.0.1:9/hook",
        "--allow-loopback",
        "--type",
        "event.anchored",
        "--type",
        "alert.raised",
        "--batch",
        LOT,
        "--prefix",
        "88.123",
        "--min-severity",
        "high",
    )
    bad_update = run("webhook", "update", "1", "--batch", "nonsense")
    updated = run("webhook", "update", "1", "--prefix", "9506000", "--type", "batch.recalled")
    listed = run("webhook", "list", "--json")
    widened = run("webhook", "update", "1", "--every-batch")
    after = run("webhook", "list", "--json")
    missing = run("webhook", "update", "7", "--type", "alert.raised")

    assert bad_prefix.exit_code == 1
    assert "6 to 12 digits" in bad_prefix.output
    assert bad_type.exit_code == 1
    assert "x.y" in bad_type.output
    assert added.exit_code == 0, added.output
    assert bad_update.exit_code == 1
    assert "nonsense" in bad_update.output
    assert updated.exit_code == 0, updated.output
    (hook,) = json.loads(listed.output)  # the refused ones stored nothing
    assert hook["events"] == ["batch.recalled"]
    assert hook["minSeverity"] == "high"
    assert hook["batches"] == ["0x" + parse_identifier(LOT).batch_id.hex()]
    assert hook["prefixes"] == ["9506000"]
    assert widened.exit_code == 0, widened.output
    assert [(w["batches"], w["prefixes"]) for w in json.loads(after.output)] == [([], [])]
    assert missing.exit_code == 1
