"""`tracenode provenance | trace | export | verify` on a real data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from node.cli import app, common
from node.events.typed_data import Action
from node.testing.harness import TEST_PASSWORD
from tests.node.provenance.conftest import Story

ENV = {"TRACENODE_PASSWORD": TEST_PASSWORD}


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.output


def test_the_commands_on_a_recalled_supply_chain(story: Story, tmp_path: Path) -> None:
    story.harness.submit("regulator", Action.RECALL, story.milk[1], payload={"reason": "residue"})
    story.harness.commit()
    data = str(story.harness.node.data_dir)
    story.harness.close()

    code, out = _run("provenance", story.slices, "--data-dir", data)
    assert code == 0, out
    assert "VERIFIED" in out
    assert "RECALLED an ancestor" in out.replace("⚠ ", "").replace(":", "")

    code, out = _run("provenance", story.slices, "--data-dir", data, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["outcome"] == "pass"
    assert len(report["batches"]) == 4

    code, out = _run("trace", story.milk[1], "--downstream", "--data-dir", data, "--json")
    assert code == 0
    trace = json.loads(out)
    assert [b["identifier"] for b in trace["batches"]] == [
        story.milk[1],
        story.cheese,
        story.slices,
    ]
    assert trace["batches"][0]["status"] == "RECALLED"
    assert trace["batches"][2]["custodian"]["name"] == "shop"

    code, out = _run("trace", story.slices, "--upstream", "--data-dir", data, "--json")
    assert code == 0
    assert len(json.loads(out)["ancestors"]) == 4

    bundle = tmp_path / "bundle.json"
    code, out = _run("export", story.slices, "--data-dir", data, "-o", str(bundle))
    assert code == 0, out
    code, out = _run("verify", str(bundle), "--data-dir", data)
    assert code == 0, out
    assert "VERIFIED" in out
    assert "complete: 4 of 4 batches hold every event their anchored state counts" in out
    assert "brand owner" in out
    assert "farm (9506000)" in out  # the milk's licence holder, when it was made
    deprecated = CliRunner().invoke(app, ["verify", str(bundle), "--data", data], env=ENV)
    assert deprecated.exit_code == 0, deprecated.output
    assert "--data is deprecated: use --data-dir" in deprecated.stderr
    assert "VERIFIED" in deprecated.stdout
    help_text = _run("verify", "--help")[1]
    assert "--data-dir" in help_text
    assert "--data " not in help_text


def test_pending_events_exit_2_and_unknown_batches_exit_1(story: Story) -> None:
    lot = "https://id.gs1.org/01/09506000134352/10/NOT-YET"
    story.harness.submit("farm", Action.COMMISSION, lot, product="milk", quantity=1)
    data = str(story.harness.node.data_dir)
    story.harness.close()

    code, out = _run("provenance", lot, "--data-dir", data)
    assert code == 2
    assert "NOT YET ANCHORED" in out

    code, out = _run(
        "provenance", "https://id.gs1.org/01/09506000134352/10/NEVER", "--data-dir", data
    )
    assert code == 1
    assert "batch-not-found" in out

    code, out = _run("provenance", "not an identifier", "--data-dir", data)
    assert code == 1
    assert "invalid-identifier" in out


def test_a_recalled_lot_destroyed_since_stays_recalled(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The custodian destroys the recalled milk (DESTROY is allowed on a recalled lot):
    `provenance` and `trace` still say it was recalled, though the chain's status of it
    reads DESTROYED."""
    monkeypatch.setattr(common.console, "width", 240)  # table cells whole
    story.harness.submit("regulator", Action.RECALL, story.milk[1], payload={"reason": "residue"})
    story.harness.submit("processor", Action.DESTROY, story.milk[1])
    story.harness.commit()
    data = str(story.harness.node.data_dir)
    story.harness.close()

    code, out = _run("provenance", story.slices, "--data-dir", data)
    assert code == 0, out
    assert "RECALLED an ancestor" in out.replace("⚠ ", "").replace(":", "")
    assert "DESTROYED (recalled)" in out

    code, out = _run("provenance", story.milk[1], "--data-dir", data)
    assert code == 0, out
    assert "RECALLED this batch" in out.replace("⚠ ", "").replace(":", "")

    code, out = _run("trace", story.milk[1], "--downstream", "--data-dir", data)
    assert code == 0, out
    assert "DESTROYED (recalled)" in out
