"""The proof bundle: self-contained, schema-valid, checked in a process that never opens
the node's database, and failing — naming what failed, and only that — when something
that matters changes (test_tampering.py changes every field in turn)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from node.events.typed_data import Action
from node.exceptions import InvalidBundleError
from node.proofs.bundle import loads, parse_bundle, schema
from node.proofs.verify import Outcome, Report, report_json
from tests.node.provenance.conftest import Story

Doc = dict[str, Any]


def _first(doc: Doc, action: Action, *, with_payload: bool = False) -> Doc:
    for event in doc["events"]:
        if event["event"]["action"] == int(action) and (not with_payload or "payload" in event):
            found: Doc = event
            return found
    raise AssertionError(f"no {action.name} in the bundle")


def _flip(hex_text: str, position: int = -1) -> str:
    digits = list(hex_text)
    digits[position] = "1" if digits[position] == "0" else "0"
    return "".join(digits)


def _set_quantity(d: Doc) -> None:
    _first(d, Action.COMMISSION)["event"]["quantity"] = "1000000"


def _set_signature(d: Doc) -> None:
    event = _first(d, Action.SHIP)
    # In s (r || s || v): any s below n/2 recovers, to a key nobody registered.
    event["signature"] = _flip(event["signature"], 2 + 64 + 60)


def _set_payload(d: Doc) -> None:
    _first(d, Action.OBSERVE, with_payload=True)["payload"]["tampered"] = True


def _set_proof(d: Doc) -> None:
    event = _first(d, Action.RECEIVE)
    event["anchor"]["proof"][0] = _flip(event["anchor"]["proof"][0])


def _set_root(d: Doc) -> None:
    event = _first(d, Action.RECEIVE)
    event["anchor"]["root"] = _flip(event["anchor"]["root"])


def _set_tx(d: Doc) -> None:
    event = _first(d, Action.TRANSFORM)
    event["anchor"]["txHash"] = _flip(event["anchor"]["txHash"])


def _set_block(d: Doc) -> None:
    anchor = _first(d, Action.SHIP)["anchor"]
    anchor["blockNumber"] = str(int(anchor["blockNumber"]) - 1)


def _drop_middle(d: Doc) -> None:
    index = next(i for i, e in enumerate(d["events"]) if e["event"]["action"] == Action.RECEIVE)
    del d["events"][index]


def _drop_last(d: Doc) -> None:
    del d["events"][-1]  # the shop's RECEIVE: the chain knows the batch moved on


def _drop_observation(d: Doc) -> None:
    d["events"].remove(_first(d, Action.OBSERVE))


def _repeat_observation(d: Doc) -> None:
    """An anchored event of the batch the state does not count: a second copy of one."""
    observation = _first(d, Action.OBSERVE)
    d["events"].insert(d["events"].index(observation) + 1, copy.deepcopy(observation))


def _drop_state(d: Doc) -> None:
    del d["batches"][0]["state"]


def _drop_ancestor(d: Doc) -> None:
    d["batches"] = d["batches"][:-1]


def _set_registry(d: Doc) -> None:
    d["chain"]["batchRegistry"] = d["chain"]["participantRegistry"]


def _swap_registries(d: Doc) -> None:
    chain = d["chain"]
    chain["participantRegistry"], chain["anchorRegistry"] = (
        chain["anchorRegistry"],
        chain["participantRegistry"],
    )


def _set_subject(d: Doc) -> None:
    d["subject"] = d["batches"][1]["batchId"]  # an ancestor: the bundle proves more


def _set_event_hash(d: Doc) -> None:
    event = _first(d, Action.SHIP)
    event["eventHash"] = _flip(event["eventHash"])


#: What is changed, and the checks that fail: those and no others.
TAMPERING: dict[str, tuple[Callable[[Doc], None], set[str]]] = {
    "an event field": (_set_quantity, {"event-hash"}),
    "a signature": (_set_signature, {"signer"}),
    "a payload": (_set_payload, {"payload"}),
    "a proof": (_set_proof, {"merkle-proof"}),
    "a root": (_set_root, {"merkle-proof", "root-on-chain"}),
    "a transaction": (_set_tx, {"root-on-chain"}),
    "a block number": (_set_block, {"root-on-chain"}),
    "an event removed": (_drop_middle, {"hash-chain", "complete"}),
    "the last event removed": (_drop_last, {"custody", "complete"}),
    # Only the anchored state shows these (observations do not move a batch's head).
    "an observation removed": (_drop_observation, {"complete"}),
    # A copy of an event: the bundle holds each event once, and a copy counts once.
    "an observation repeated": (_repeat_observation, {"hash-chain", "complete"}),
    "a batch's state removed": (_drop_state, {"complete"}),
    # Its events, left in, belong to no batch of the bundle.
    "an ancestor removed": (_drop_ancestor, {"lineage", "hash-chain"}),
    "the subject": (_set_subject, {"lineage"}),
    "the contract": (_set_registry, {"chain"}),
    "the registries swapped": (_swap_registries, {"chain"}),
    "an event hash": (_set_event_hash, {"event-hash"}),
}


def _failed(report: Report) -> set[str]:
    return {line.split(": ")[1] for line in report.failures()}


@pytest.fixture
def document(story: Story) -> Doc:
    doc: Doc = story.harness.export(story.slices).as_json()
    return doc


def test_the_bundle_follows_its_schema_and_round_trips(story: Story, document: Doc) -> None:
    Draft202012Validator(schema()).validate(document)
    again = parse_bundle(json.loads(json.dumps(document)))
    assert again.as_json() == document
    assert story.harness.verify(again).outcome is Outcome.PASS


@pytest.mark.parametrize("what", list(TAMPERING))
def test_altering_what_matters_fails_naming_it(story: Story, document: Doc, what: str) -> None:
    tamper, check = TAMPERING[what]
    altered = copy.deepcopy(document)
    tamper(altered)
    report = story.harness.verify(parse_bundle(altered))
    assert report.outcome is Outcome.FAIL
    assert _failed(report) == check, report.failures()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="tracenode-bundle/3"),
        lambda d: d.update(exportedAt="2026-11-24T22:30:00+00:00"),
        lambda d: d["events"][0]["anchor"].update(seq=17),
        lambda d: d["events"][0].update(signature="0x1234"),
        lambda d: d["events"][0]["event"].update(extra=1),
        lambda d: d["batches"][0].update(identifier="https://id.gs1.org/01/09506000134352/10/X"),
        lambda d: d["events"][0]["event"].update(action=42),
        lambda d: d["chain"].update(chainId="0x1"),
        lambda d: d["chain"].update(chainId=1.0),
    ],
)
def test_malformed_bundles_are_refused_with_the_field(document: Doc, mutate: Any) -> None:
    altered = copy.deepcopy(document)
    mutate(altered)
    with pytest.raises(InvalidBundleError):
        parse_bundle(altered)


def test_a_retired_format_is_refused_with_the_reason(document: Doc) -> None:
    old = copy.deepcopy(document) | {"format": "tracenode-bundle/1"}
    with pytest.raises(InvalidBundleError, match="export the bundle again"):
        parse_bundle(old)


def test_hostile_json_is_refused_cleanly() -> None:
    with pytest.raises(InvalidBundleError):
        loads("[" * 100_000)
    with pytest.raises(InvalidBundleError):
        loads("not json")


def _tracenode(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACENODE_")}
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_tracenode_verify_checks_a_bundle_without_the_database(
    story: Story, document: Doc, tmp_path: Path
) -> None:
    data_dir = story.harness.node.data_dir
    story.harness.close()  # the embedded chain is one process's at a time
    database = data_dir / "tracenode.sqlite3"
    database.rename(tmp_path / "hidden.sqlite3")  # the verifier must not need it
    good = tmp_path / "bundle.json"
    good.write_text(json.dumps(document))

    ok = _tracenode("verify", str(good), "--data-dir", str(data_dir), "--json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert json.loads(ok.stdout)["outcome"] == "pass"
    assert not database.exists()

    altered = copy.deepcopy(document)
    _set_proof(altered)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(altered))
    failed = _tracenode("verify", str(bad), "--data-dir", str(data_dir), cwd=tmp_path)
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout
    assert "merkle-proof" in failed.stdout


def test_report_json_names_every_check(story: Story) -> None:
    report = story.harness.provenance(story.slices).report
    document = report_json(report)
    assert document["outcome"] == "pass"
    assert {c["check"] for e in document["events"] for c in e["checks"]} >= {  # type: ignore[attr-defined]
        "event-hash",
        "signature",
        "payload",
        "signer",
        "hash-chain",
        "merkle-proof",
        "root-on-chain",
        "accepted-on-chain",
    }
