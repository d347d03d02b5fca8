"""The custody mode of a data directory: chosen at init, kept in node.json, served by
/v1/info, and what `tracenode challenge` works with (docs/operations.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api import create_app
from node.cli import app
from node.commit.custody import CustodyMode
from node.context import init_node
from node.events.typed_data import Action
from node.exceptions import ConfigurationError
from node.testing.harness import TraceNodeHarness
from tests.api.conftest import TEST_SETTINGS, AppClient


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceNodeHarness]:
    data_dir = tmp_path_factory.mktemp("anchor-only") / "node"
    with TraceNodeHarness.create(data_dir, custody=CustodyMode.ANCHOR_ONLY) as made:
        yield made


def test_the_mode_is_kept_in_node_json_and_served_by_info(harness: TraceNodeHarness) -> None:
    config = json.loads((harness.node.data_dir / "node.json").read_text())
    client = AppClient(create_app(harness.node, settings=TEST_SETTINGS))
    try:
        info = client.get("/v1/info").json()
    finally:
        client.close()

    assert config["custody"] == "anchor-only"
    assert harness.node.custody is CustodyMode.ANCHOR_ONLY
    assert harness.node.deployment.custody_challenge is not None
    assert info["custodyMode"] == "anchor-only"


def test_challenge_finds_no_claim_against_an_honest_node(harness: TraceNodeHarness) -> None:
    lot = "https://id.gs1.org/01/00614141123452/10/CLI-AO-1"
    harness.submit("farm", Action.COMMISSION, lot, quantity=3)
    harness.commit()
    harness.close()  # the embedded chain is one process's at a time (this test is last)

    result = CliRunner().invoke(
        app, ["challenge", lot, "--data-dir", str(harness.node.data_dir), "--json"]
    )

    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == {"claims": [], "marks": None, "txHash": None}


def test_joining_in_the_anchor_only_mode_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="one node's deployment"):
        init_node(
            tmp_path / "joining",
            "x",
            chain_url="http://127.0.0.1:9",
            join="0x" + "11" * 20,
            custody=CustodyMode.ANCHOR_ONLY,
        )
    assert not (tmp_path / "joining" / "node.json").exists()
