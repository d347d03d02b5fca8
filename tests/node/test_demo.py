"""The README's run command: the demo runs end to end, twice on the same node, and a wrong
password leaves nothing behind."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from node.cli import app
from node.context import Node
from node.demo import run_demo
from node.monitor.service import Monitor
from node.store.models import EventStatus

PASSWORD = "demo password"


def test_demo_anchors_every_event_with_a_proof_the_chain_accepts(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    init = CliRunner().invoke(
        app, ["init", "--data-dir", str(data_dir)], env={"TRACENODE_PASSWORD": PASSWORD}
    )
    assert init.exit_code == 0, init.output
    wrong = CliRunner().invoke(
        app, ["demo", "--data-dir", str(data_dir)], env={"TRACENODE_PASSWORD": "not it"}
    )
    assert wrong.exit_code == 1
    assert "[keystore-error]" in wrong.output
    assert not (data_dir / "keystore" / "participants").exists()  # no key file to trip on
    first = CliRunner().invoke(
        app,
        ["demo", "--data-dir", str(data_dir)],
        env={"TRACENODE_PASSWORD": PASSWORD, "COLUMNS": "80"},  # a log's width
    )
    assert first.exit_code == 0, first.output
    assert "16 events anchored and 0 rejected" in first.output
    assert "FAILED" not in first.output
    assert "verified). Check it yourself" in first.output
    progress = first.stderr.splitlines()  # a log hears of every step, never 50 s of silence
    assert any(line.endswith("  creating Green Valley Farm's key (encrypted)") for line in progress)
    assert any(
        line.endswith("  committing on-chain: the events relayed and their Merkle root, per window")
        for line in progress
    )
    assert all(re.fullmatch(r" *\d+\.\d s  .+", line) for line in progress), progress
    bundles = list((data_dir / "bundles").glob("CHEESE-*.json"))
    assert len(bundles) == 1
    # The commands it prints run as printed: whole lines, however long.
    printed = [
        shlex.split(line) for line in first.stdout.splitlines() if line.startswith("  tracenode ")
    ]
    assert [command[1] for command in printed] == ["verify", "provenance", "trace"]
    for command in printed:
        assert command[-2:] == ["--data-dir", str(data_dir)], command
        ran = CliRunner().invoke(app, command[1:])
        assert ran.exit_code == 0, (command, ran.output)
    assert str(bundles[0]) in printed[0]

    with Node(data_dir) as node:
        report = run_demo(node, PASSWORD)  # a second run reuses the participants
        with node.store.read() as conn:
            statuses = {
                getattr(node.store.events.get(conn, e.event_hash), "status", None)
                for e in report.events
            }
            participants = node.store.participants.all(conn)
            recalled = node.store.batches.by_identifier(conn, report.lots["milk-2"])
        # The demo is an honest chain by the built-in product table too: its milk counted
        # in litres makes a plausible weight of cheese, kept within 0-5 °C.
        findings = Monitor.of(node).cycle().findings

    assert report.anchored == 16
    assert statuses == {EventStatus.ANCHORED}
    assert len(participants) == 5
    assert recalled is not None
    assert recalled.status.name == "RECALLED"
    assert findings == []
